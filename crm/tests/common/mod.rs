//! What the CRM's integration tests share: the cluster key, the resource script that records
//! which node runs each resource (and any start made while another node held it), writing a
//! node's configuration, and reading the outcome.

#![allow(dead_code)] // each test binary uses a different part

use hb_hwtest::wait_for;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The test clusters' `authkeys`.
pub const KEYS: &str = "auth 1\n1 sha256 crm-integration-test-secret\n";

/// The resource script: `svc NAME start|stop|status`. `HB_TEST_NODE` names the node and
/// `HB_TEST_DIR` the directory both nodes share: a claim file per resource, `NAME.policy` the
/// scheduling policy a start ran under (field 41 of stat: 0 normal, 1 SCHED_FIFO), and
/// `double.log` every start made while another node held the resource.
pub const SVC: &str = r#"#!/bin/sh
f="$HB_TEST_DIR/$1"
case "$2" in
start)
    if [ -e "$f" ] && [ "$(cat "$f")" != "$HB_TEST_NODE" ]; then
        echo "$HB_TEST_NODE started $1 while $(cat "$f") held it" >> "$HB_TEST_DIR/double.log"
    fi
    awk '{print $41}' /proc/$$/stat > "$f.policy"
    echo "$HB_TEST_NODE" > "$f";;
stop)
    if [ -e "$f" ] && [ "$(cat "$f")" = "$HB_TEST_NODE" ]; then rm -f "$f"; fi;;
status)
    if [ -e "$f" ] && [ "$(cat "$f")" = "$HB_TEST_NODE" ]; then echo running; else echo stopped; fi;;
esac
exit 0
"#;

/// A binary of the workspace (hbd, hb-crmd, hbctl), built beside this test's.
pub fn bin(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_hb-crmd")).with_file_name(name);
    assert!(p.exists(), "{} is not built (cargo build --bins)", p.display());
    p
}

/// Writes an executable file.
pub fn write_exec(p: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Writes a node's configuration in `cfg`: `hacf`, the key, `haresources` (`a svc::one`, `b
/// svc::two`) and the resource script.
pub fn write_node(cfg: &Path, hacf: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(cfg.join("resource.d")).unwrap();
    std::fs::write(cfg.join("ha.cf"), hacf).unwrap();
    std::fs::write(cfg.join("authkeys"), KEYS).unwrap();
    std::fs::set_permissions(cfg.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(cfg.join("haresources"), "a svc::one\nb svc::two\n").unwrap();
    write_exec(&cfg.join("resource.d/svc"), SVC);
}

/// The command that runs node `name`'s hbd inside `ns`, its configuration in `cfg` (run and
/// state directories there too, its log `cfg/hbd.log`), its environment telling the resource
/// script who it is and where `dir`'s shared directory is.
pub fn hbd_in(ns: &hb_hwtest::Netns, dir: &Path, cfg: &Path, name: &str) -> std::process::Command {
    let c = cfg.display().to_string();
    let mut cmd = ns.command(bin("hbd").to_str().unwrap());
    cmd.args(["-c", &c, "-n", name, "-r", &format!("{c}/run"), "-s", &format!("{c}/state")]);
    cmd.env("HB_TEST_NODE", name).env("HB_TEST_DIR", dir.join("shared"));
    cmd.stderr(std::fs::File::create(cfg.join("hbd.log")).unwrap());
    cmd
}

/// Which node runs resource `res` (its claim file in the shared directory).
pub fn owner(dir: &Path, res: &str) -> Option<String> {
    std::fs::read_to_string(dir.join("shared").join(res)).ok().map(|s| s.trim().to_string())
}

/// Every log of the test, for a failure message.
pub fn logs(dir: &Path) -> String {
    ["a/crmd.log", "b/crmd.log", "a/hbd.log", "b/hbd.log", "fenced", "shared/double.log"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(dir.join(f)).ok().map(|t| format!("--- {f}\n{t}")))
        .collect()
}

/// Waits (30 s at most) until `node` runs `res`.
pub fn wait_owner(dir: &Path, res: &str, node: &str, what: &str) {
    let ok = wait_for(Duration::from_secs(30), || (owner(dir, res).as_deref() == Some(node)).then_some(()));
    assert!(ok.is_some(), "{what}: {res} runs on {:?}, not {node}\n{}", owner(dir, res), logs(dir));
}

/// What `double.log` recorded: empty unless a resource ran on both nodes.
pub fn doubles(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("shared/double.log")).unwrap_or_default()
}
