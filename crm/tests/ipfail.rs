//! ipfail: a node that loses its upstream gives its groups to a node that still has it. Two
//! nodes in network namespaces, each an `hbd` with `crm respawn` and one ping node (its own
//! loopback address); nftables in node a's namespace then drops a's echo requests, so a alone
//! loses its upstream. Its group moves to b; when a's pings answer again, the group comes
//! back (`auto_failback on`). Nothing runs twice. Root only (namespaces); CI runs it.

mod common;

use common::{doubles, hbd_in, logs, owner, wait_owner, write_node};
use hb_hwtest::{require_root, Pair, Proc, TempDir, A4, B4};
use std::path::Path;

fn start(pair: &Pair, dir: &Path, name: &str) -> Proc {
    let (ns, dev) = if name == "a" { (&pair.a, &pair.a_if) } else { (&pair.b, &pair.b_if) };
    let cfg = dir.join(name);
    let hacf = format!(
        "keepalive 20ms\nwarntime 100ms\ndeadtime 300ms\ndeadping 300ms\ninitdead 3\nudpport 6975\nucast {dev} {A4}\nucast {dev} {B4}\n\
         node a b\nping 127.0.0.1\nauto_failback on\ncrm respawn\n"
    );
    write_node(&cfg, &hacf);
    Proc::spawn(hbd_in(ns, dir, &cfg, name))
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
    let double = doubles(&dir.path);
    assert!(double.is_empty(), "a resource ran on both nodes\n{}", logs(&dir.path));
    let log_a = std::fs::read_to_string(dir.path.join("a/hbd.log")).unwrap();
    assert!(log_a.contains("0 of 1 ping node(s) answer here"), "{log_a}");
}
