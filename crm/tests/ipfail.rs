//! ipfail: a node that loses its upstream gives its groups to a node that still has it. Two
//! nodes in network namespaces, each an `hbd` with `crm respawn` and one ping node (its own
//! loopback address); nftables in node a's namespace then drops a's echo requests, so a alone
//! loses its upstream. Its group moves to b; when a's pings answer again, the group comes
//! back (`auto_failback on`). Nothing runs twice. Root only (namespaces); CI runs it.

use hb_hwtest::{require_root, wait_for, Pair, Proc, TempDir, A4, B4};
use std::path::{Path, PathBuf};
use std::time::Duration;

const KEYS: &str = "auth 1\n1 sha256 crm-ipfail-test-secret\n";

const SVC: &str = r#"#!/bin/sh
f="$HB_TEST_DIR/$1"
case "$2" in
start)
    if [ -e "$f" ] && [ "$(cat "$f")" != "$HB_TEST_NODE" ]; then
        echo "$HB_TEST_NODE started $1 while $(cat "$f") held it" >> "$HB_TEST_DIR/double.log"
    fi
    echo "$HB_TEST_NODE" > "$f";;
stop) if [ -e "$f" ] && [ "$(cat "$f")" = "$HB_TEST_NODE" ]; then rm -f "$f"; fi;;
status) if [ -e "$f" ] && [ "$(cat "$f")" = "$HB_TEST_NODE" ]; then echo running; else echo stopped; fi;;
esac
exit 0
"#;

fn bin(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_hb-crmd")).with_file_name(name);
    assert!(p.exists(), "{} is not built (cargo build --bins)", p.display());
    p
}

fn start(pair: &Pair, dir: &Path, name: &str) -> Proc {
    use std::os::unix::fs::PermissionsExt;
    let (ns, dev) = if name == "a" { (&pair.a, &pair.a_if) } else { (&pair.b, &pair.b_if) };
    let cfg = dir.join(name);
    std::fs::create_dir_all(cfg.join("resource.d")).unwrap();
    let hacf = format!(
        "keepalive 20ms\nwarntime 100ms\ndeadtime 300ms\ndeadping 300ms\ninitdead 3\nudpport 6975\nucast {dev} {A4}\nucast {dev} {B4}\n\
         node a b\nping 127.0.0.1\nauto_failback on\ncrm respawn\n"
    );
    std::fs::write(cfg.join("ha.cf"), hacf).unwrap();
    std::fs::write(cfg.join("authkeys"), KEYS).unwrap();
    std::fs::set_permissions(cfg.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(cfg.join("haresources"), "a svc::one\nb svc::two\n").unwrap();
    std::fs::write(cfg.join("resource.d/svc"), SVC).unwrap();
    std::fs::set_permissions(cfg.join("resource.d/svc"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let c = cfg.display().to_string();
    let mut cmd = ns.command(bin("hbd").to_str().unwrap());
    cmd.args(["-c", &c, "-n", name, "-r", &format!("{c}/run"), "-s", &format!("{c}/state")]);
    cmd.env("HB_TEST_NODE", name).env("HB_TEST_DIR", dir.join("shared"));
    cmd.stderr(std::fs::File::create(cfg.join("hbd.log")).unwrap());
    Proc::spawn(cmd)
}

fn owner(dir: &Path, res: &str) -> Option<String> {
    std::fs::read_to_string(dir.join("shared").join(res)).ok().map(|s| s.trim().to_string())
}

fn logs(dir: &Path) -> String {
    ["a/hbd.log", "b/hbd.log", "shared/double.log"]
        .iter()
        .map(|f| format!("--- {f}\n{}", std::fs::read_to_string(dir.join(f)).unwrap_or_default()))
        .collect()
}

fn wait_owner(dir: &Path, res: &str, node: &str, what: &str) {
    let ok = wait_for(Duration::from_secs(30), || (owner(dir, res).as_deref() == Some(node)).then_some(()));
    assert!(ok.is_some(), "{what}: {res} runs on {:?}, not {node}\n{}", owner(dir, res), logs(dir));
}

#[test]
fn a_node_that_loses_its_upstream_gives_its_group_to_one_that_has_it() {
    if !require_root("a_node_that_loses_its_upstream_gives_its_group_to_one_that_has_it") {
        return;
    }
    let pair = Pair::create();
    let dir = TempDir::new("hb-crm-ipfail");
    std::fs::create_dir_all(dir.path.join("shared")).unwrap();
    let _a = start(&pair, &dir.path, "a");
    let _b = start(&pair, &dir.path, "b");
    wait_owner(&dir.path, "one", "a", "at start");
    wait_owner(&dir.path, "two", "b", "at start");
    // a's upstream goes: its echo requests are dropped on the way out.
    pair.a.exec(&["nft", "add", "table", "inet", "hbipfail"]);
    pair.a.exec(&["nft", "add", "chain", "inet", "hbipfail", "out", "{ type filter hook output priority 0 ; }"]);
    pair.a.exec(&["nft", "add", "rule", "inet", "hbipfail", "out", "icmp", "type", "echo-request", "drop"]);
    wait_owner(&dir.path, "one", "b", "after a lost its upstream");
    assert_eq!(owner(&dir.path, "two").as_deref(), Some("b"));
    // It comes back: the group returns to its preferred node.
    pair.a.exec(&["nft", "delete", "table", "inet", "hbipfail"]);
    wait_owner(&dir.path, "one", "a", "after a's upstream came back");
    let double = std::fs::read_to_string(dir.path.join("shared/double.log")).unwrap_or_default();
    assert!(double.is_empty(), "a resource ran on both nodes\n{}", logs(&dir.path));
    let log_a = std::fs::read_to_string(dir.path.join("a/hbd.log")).unwrap();
    assert!(log_a.contains("0 of 1 ping node(s) answer here"), "{log_a}");
}
