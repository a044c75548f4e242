//! The CRM fences before it takes over. Two nodes in network namespaces, each an `hbd` with
//! `crm respawn` and a fence agent whose power switch is the other node: it kills every
//! process of the node and takes away what the node ran, as a power cut does. A cut cable
//! gives exactly one fence (node a sorts first, b waits `stonith_delay`), and b's group moves
//! to a only once the fence is confirmed: at no moment does a resource run on both nodes.
//! Root only (namespaces); CI runs it.

mod common;

use common::{doubles, hbd_in, logs, owner, wait_owner, write_exec, write_node};
use hb_hwtest::{require_root, Pair, Proc, TempDir, A4, B4};
use std::path::Path;
use std::time::Duration;

const AGENT: &str = r#"#!/bin/sh
while IFS='=' read -r k v; do
  case "$k" in action) action=$v ;; plug|port) plug=$v ;; dir) dir=$v ;; me) me=$v ;; esac
done
case "$action" in
  list) echo a; echo b; exit 0 ;;
  monitor) exit 0 ;;
  status) pid=$(cat "$dir/pid.$plug"); if kill -0 "$pid" 2>/dev/null; then exit 0; else exit 2; fi ;;
  off|reboot)
    echo "$me $action $plug" >> "$dir/fenced"
    kill -9 "-$(cat "$dir/pid.$plug")" 2>/dev/null || { echo "cannot kill $plug" >&2; exit 1; }
    for f in "$dir"/shared/*; do [ "$(cat "$f" 2>/dev/null)" = "$plug" ] && rm -f "$f"; done
    exit 0 ;;
  on) exit 0 ;;
esac
exit 1
"#;

fn start(pair: &Pair, dir: &Path, name: &str) -> Proc {
    use std::os::unix::process::CommandExt;
    let (ns, dev) = if name == "a" { (&pair.a, &pair.a_if) } else { (&pair.b, &pair.b_if) };
    let cfg = dir.join(name);
    let (agent, d) = (dir.join("agent").display().to_string(), dir.display().to_string());
    let hacf = format!(
        "keepalive 20ms\nwarntime 100ms\ndeadtime 200ms\ninitdead 3\nudpport 6970\nucast {dev} {A4}\nucast {dev} {B4}\nnode a b\n\
         auto_failback on\ncrm respawn\nstonith_timeout 5s\nstonith_delay 2s\n\
         stonith_device power fence_agent agent={agent} hostlist=a,b dir={d} me={name}\nstonith_level a 1 power\nstonith_level b 1 power\n"
    );
    write_node(&cfg, &hacf);
    let mut cmd = hbd_in(ns, dir, &cfg, name);
    // The node's own process group: the fence agent kills all of it, CRM included.
    cmd.process_group(0);
    let p = Proc::spawn(cmd);
    std::fs::write(dir.join(format!("pid.{name}")), p.pid().to_string()).unwrap();
    p
}

#[test]
fn a_cut_cable_gives_one_fence_and_the_group_moves_only_after_it() {
    if !require_root("a_cut_cable_gives_one_fence_and_the_group_moves_only_after_it") {
        return;
    }
    let pair = Pair::create();
    let dir = TempDir::new("hb-crm-fencing");
    std::fs::create_dir_all(dir.path.join("shared")).unwrap();
    write_exec(&dir.path.join("agent"), AGENT);
    let _a = start(&pair, &dir.path, "a");
    let mut b = start(&pair, &dir.path, "b");
    wait_owner(&dir.path, "one", "a", "at start");
    wait_owner(&dir.path, "two", "b", "at start");
    pair.cut();
    // a fences b at once (it sorts first); b's group moves to a once the fence is confirmed.
    wait_owner(&dir.path, "two", "a", "after the cut");
    assert!(b.wait_exit(Duration::from_secs(10)).is_some(), "b was fenced\n{}", logs(&dir.path));
    // Longer than b's race delay: had b survived it, b would have fenced a by now.
    std::thread::sleep(Duration::from_secs(3));
    let fenced = std::fs::read_to_string(dir.path.join("fenced")).unwrap_or_default();
    assert_eq!(fenced.lines().collect::<Vec<_>>(), ["a reboot b"], "exactly one fence\n{}", logs(&dir.path));
    assert_eq!(owner(&dir.path, "one").as_deref(), Some("a"));
    let double = doubles(&dir.path);
    assert!(double.is_empty(), "a resource ran on both nodes\n{}", logs(&dir.path));
    let log_a = std::fs::read_to_string(dir.path.join("a/hbd.log")).unwrap();
    let fenced_at = log_a.find("b is fenced (confirmed off)").expect("the CRM saw the fence");
    let started_at = log_a.find("start svc::two").expect("a started b's group");
    assert!(fenced_at < started_at, "the group started before the fence was confirmed\n{log_a}");
}
