//! Two nodes on loopback, each a real `hbd` and a real `hb-crmd`, running heartbeat-style
//! resource groups from one `haresources`: each group starts on its preferred node; when a
//! node dies (`kill -9` of its hbd and CRM, and its resources vanish with it, as a machine's
//! do) the survivor takes its group over (`--no-fencing r1`); when it comes back, the group
//! fails back (`auto_failback on`); and at no moment does a resource run on both nodes.
//!
//! The resource is a heartbeat `resource.d` script that records which node runs it in a file
//! shared by both nodes, and notes every start made while the other node held it.

use hb_hwtest::{wait_for, Proc, TempDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const KEYS: &str = "auth 1\n1 sha256 crm-failover-test-secret\n";

/// The resource script: `svc NAME start|stop|status`; `HB_TEST_NODE` names the node.
const SVC: &str = r#"#!/bin/sh
f="$HB_TEST_DIR/$1"
case "$2" in
start)
    if [ -e "$f" ] && [ "$(cat "$f")" != "$HB_TEST_NODE" ]; then
        echo "$HB_TEST_NODE started $1 while $(cat "$f") held it" >> "$HB_TEST_DIR/double.log"
    fi
    echo "$HB_TEST_NODE" > "$f";;
stop)
    if [ -e "$f" ] && [ "$(cat "$f")" = "$HB_TEST_NODE" ]; then rm -f "$f"; fi;;
status)
    if [ -e "$f" ] && [ "$(cat "$f")" = "$HB_TEST_NODE" ]; then echo running; else echo stopped; fi;;
esac
exit 0
"#;

/// A node: its hbd and CRM.
struct Node {
    hbd: Proc,
    crmd: Proc,
}

fn bin(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_hb-crmd")).with_file_name(name);
    assert!(p.exists(), "{} is not built (cargo build --bins)", p.display());
    p
}

fn start(dir: &Path, name: &str, port: u16) -> Node {
    let cfg = dir.join(name);
    let me = if name == "a" { "127.0.0.1" } else { "127.0.0.2" };
    std::fs::create_dir_all(cfg.join("resource.d")).unwrap();
    let hacf = format!(
        "keepalive 20ms\nwarntime 100ms\ndeadtime 300ms\ninitdead 3\nudpport {port}\nucast lo 127.0.0.1 127.0.0.2\nbind {me}\nnode a b\nauto_failback on\n"
    );
    std::fs::write(cfg.join("ha.cf"), hacf).unwrap();
    std::fs::write(cfg.join("authkeys"), KEYS).unwrap();
    std::fs::write(cfg.join("haresources"), "a svc::one\nb svc::two\n").unwrap();
    std::fs::write(cfg.join("resource.d/svc"), SVC).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(cfg.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(cfg.join("resource.d/svc"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (c, run) = (cfg.display().to_string(), cfg.join("run").display().to_string());
    let mut hbd = Command::new(bin("hbd"));
    hbd.args(["-c", &c, "-n", name, "-r", &run, "-s", &format!("{c}/state")]);
    hbd.stderr(std::fs::OpenOptions::new().create(true).append(true).open(cfg.join("hbd.log")).unwrap());
    let hbd = Proc::spawn(hbd);
    let mut crmd = Command::new(bin("hb-crmd"));
    crmd.args(["-c", &c, "-n", name, "-r", &run, "--no-fencing", "r1", "--monitor-interval", "500"]);
    crmd.env("HB_TEST_NODE", name).env("HB_TEST_DIR", dir.join("shared"));
    crmd.stderr(std::fs::OpenOptions::new().create(true).append(true).open(cfg.join("crmd.log")).unwrap());
    Node { hbd, crmd: Proc::spawn(crmd) }
}

fn owner(dir: &Path, res: &str) -> Option<String> {
    std::fs::read_to_string(dir.join("shared").join(res)).ok().map(|s| s.trim().to_string())
}

fn logs(dir: &Path) -> String {
    ["a/crmd.log", "b/crmd.log", "a/hbd.log", "b/hbd.log"]
        .iter()
        .map(|f| format!("--- {f}\n{}", std::fs::read_to_string(dir.join(f)).unwrap_or_default()))
        .collect()
}

fn wait_owner(dir: &Path, res: &str, node: &str, what: &str) {
    let ok = wait_for(Duration::from_secs(30), || (owner(dir, res).as_deref() == Some(node)).then_some(()));
    assert!(ok.is_some(), "{what}: {res} runs on {:?}, not {node}\n{}", owner(dir, res), logs(dir));
}

#[test]
fn groups_start_on_their_nodes_fail_over_and_fail_back_never_running_twice() {
    let dir = TempDir::new("hb-crm-failover");
    std::fs::create_dir_all(dir.path.join("shared")).unwrap();
    let port = hb_hwtest::free_udp_port();
    let mut a = start(&dir.path, "a", port);
    let _b = start(&dir.path, "b", port);
    wait_owner(&dir.path, "one", "a", "at start");
    wait_owner(&dir.path, "two", "b", "at start");
    // a dies as a machine does: its processes at once, and what it ran with them.
    a.crmd.kill9();
    a.hbd.kill9();
    std::fs::remove_file(dir.path.join("shared/one")).unwrap();
    wait_owner(&dir.path, "one", "b", "after a died");
    assert_eq!(owner(&dir.path, "two").as_deref(), Some("b"));
    // a comes back: its group returns to it, after b has stopped it.
    let _a2 = start(&dir.path, "a", port);
    wait_owner(&dir.path, "one", "a", "after a came back");
    let double = std::fs::read_to_string(dir.path.join("shared/double.log")).unwrap_or_default();
    assert!(double.is_empty(), "a resource ran on both nodes:\n{double}\n{}", logs(&dir.path));
    let crm_a = std::fs::read_to_string(dir.path.join("a/crmd.log")).unwrap();
    assert!(crm_a.contains("start svc::one: OCF_SUCCESS"), "{crm_a}");
}
