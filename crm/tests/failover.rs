//! Two nodes on loopback, each a real `hbd` and a real `hb-crmd`, running heartbeat-style
//! resource groups from one `haresources`: each group starts on its preferred node; when a
//! node dies (`kill -9` of its hbd and CRM, and its resources vanish with it, as a machine's
//! do) the survivor takes its group over (`--no-fencing r1`); when it comes back, the group
//! fails back (`auto_failback on`); and at no moment does a resource run on both nodes.
//!
//! The resource is a heartbeat `resource.d` script (`common::SVC`) that records which node runs
//! it in a file shared by both nodes, and notes every start made while the other node held it.

mod common;

use common::{bin, doubles, logs, owner, wait_owner, write_node};
use hb_hwtest::{wait_for, Proc, TempDir};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A node: its hbd and CRM.
struct Node {
    hbd: Proc,
    crmd: Proc,
}

/// Writes node `name`'s configuration (with `extra` appended to its ha.cf); returns its
/// directory and run directory.
fn configure(dir: &Path, name: &str, port: u16, extra: &str) -> (String, String) {
    let cfg = dir.join(name);
    let me = if name == "a" { "127.0.0.1" } else { "127.0.0.2" };
    write_node(
        &cfg,
        &format!(
            "keepalive 20ms\nwarntime 100ms\ndeadtime 300ms\ninitdead 3\nudpport {port}\nucast lo 127.0.0.1 127.0.0.2\nbind {me}\nnode a b\nauto_failback on\n{extra}"
        ),
    );
    // A native OCF group too: Debian's Dummy agent, its state in this node's directory.
    let state = cfg.join("dummy.state");
    std::fs::write(
        cfg.join("crm.cf"),
        format!(
            "resource dummy ocf:heartbeat:Dummy state={}\ngroup ocf-group a dummy\nmigration_threshold 2\nmonitor_interval 300ms\n",
            state.display()
        ),
    )
    .unwrap();
    (cfg.display().to_string(), cfg.join("run").display().to_string())
}

/// Starts node `name`'s hbd (its environment tells the resource script who it is).
fn hbd(dir: &Path, name: &str, c: &str, run: &str) -> Proc {
    let mut hbd = Command::new(bin("hbd"));
    hbd.args(["-c", c, "-n", name, "-r", run, "-s", &format!("{c}/state")]);
    hbd.env("HB_TEST_NODE", name).env("HB_TEST_DIR", dir.join("shared"));
    hbd.stderr(std::fs::OpenOptions::new().create(true).append(true).open(Path::new(c).join("hbd.log")).unwrap());
    Proc::spawn(hbd)
}

/// Starts node `name`: its hbd, and its CRM beside it.
fn start(dir: &Path, name: &str, port: u16) -> Node {
    let (c, run) = configure(dir, name, port, "");
    let cfg = Path::new(&c);
    let hbd = hbd(dir, name, &c, &run);
    let mut crmd = Command::new(bin("hb-crmd"));
    crmd.args(["-c", &c, "-n", name, "-r", &run, "--no-fencing", "r1", "--monitor-interval", "500"]);
    crmd.env("HB_TEST_NODE", name).env("HB_TEST_DIR", dir.join("shared"));
    crmd.stderr(std::fs::OpenOptions::new().create(true).append(true).open(cfg.join("crmd.log")).unwrap());
    Node { hbd, crmd: Proc::spawn(crmd) }
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
    let dummy = |n: &str| dir.path.join(n).join("dummy.state").exists();
    assert!(wait_for(Duration::from_secs(30), || dummy("a").then_some(())).is_some(), "the OCF group started on a\n{}", logs(&dir.path));
    assert!(!dummy("b"));
    // a dies as a machine does: its processes at once, and what it ran with them.
    a.crmd.kill9();
    a.hbd.kill9();
    std::fs::remove_file(dir.path.join("shared/one")).unwrap();
    std::fs::remove_file(dir.path.join("a/dummy.state")).unwrap();
    wait_owner(&dir.path, "one", "b", "after a died");
    assert!(wait_for(Duration::from_secs(30), || dummy("b").then_some(())).is_some(), "the OCF group moved to b\n{}", logs(&dir.path));
    assert_eq!(owner(&dir.path, "two").as_deref(), Some("b"));
    // a comes back: its group returns to it, after b has stopped it.
    let _a2 = start(&dir.path, "a", port);
    wait_owner(&dir.path, "one", "a", "after a came back");
    let back = wait_for(Duration::from_secs(30), || (dummy("a") && !dummy("b")).then_some(()));
    assert!(back.is_some(), "the OCF group went back to a\n{}", logs(&dir.path));
    let double = doubles(&dir.path);
    assert!(double.is_empty(), "a resource ran on both nodes:\n{double}\n{}", logs(&dir.path));
    let crm_a = std::fs::read_to_string(dir.path.join("a/crmd.log")).unwrap();
    assert!(crm_a.contains("start svc::one: OCF_SUCCESS"), "{crm_a}");
}

/// The CRMs hbd started, by pid: the children of any of hbd `pid`'s threads.
fn crm_children(pid: u32) -> Vec<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map(|d| d.flatten().collect::<Vec<_>>()).unwrap_or_default();
    tasks
        .iter()
        .flat_map(|t| {
            std::fs::read_to_string(t.path().join("children"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// With `crm respawn`, hbd starts the CRM and restarts it when it dies; the new one finds its
/// group running and leaves it running. A clean stop of hbd makes its CRM release the group
/// first, then its last heartbeat says it is leaving, and the peer takes the group over at
/// once, without fencing (no_fencing is refuse: only the clean leave allows it).
#[test]
fn hbd_runs_and_respawns_the_crm_and_a_clean_stop_hands_the_groups_over() {
    let dir = TempDir::new("hb-crm-respawn");
    std::fs::create_dir_all(dir.path.join("shared")).unwrap();
    let port = hb_hwtest::free_udp_port();
    let (ca, runa) = configure(&dir.path, "a", port, "crm respawn\n");
    let (cb, runb) = configure(&dir.path, "b", port, "crm respawn\n");
    let mut a = hbd(&dir.path, "a", &ca, &runa);
    let _b = hbd(&dir.path, "b", &cb, &runb);
    wait_owner(&dir.path, "one", "a", "at start");
    wait_owner(&dir.path, "two", "b", "at start");
    // hbctl shows the CRM's view, in text and in JSON.
    let hbctl = |args: &[&str]| {
        let out = Command::new(bin("hbctl")).args(["-r", &runa]).args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let said = wait_for(Duration::from_secs(10), || {
        let (rc, text) = hbctl(&["crm"]);
        (rc == Some(0) && text.contains("peer b: up, holds svc::two")).then_some(text)
    });
    let text = said.unwrap_or_else(|| hbctl(&["crm"]).1);
    assert!(text.contains("group svc::one (prefers a): runs here"), "{text}");
    assert!(text.contains("last start: OCF_SUCCESS"), "{text}");
    assert!(text.contains("group ocf-group (prefers a): runs here"), "{text}");
    let (rc, json) = hbctl(&["crm", "--json"]);
    assert_eq!(rc, Some(0), "{json}");
    assert!(json.contains("\"reply\":\"crm-status\"") && json.contains("\"owner\":\"a\""), "{json}");
    let status = hbctl(&["status"]).1;
    assert!(status.contains("Resources (CRM on a, no_fencing refuse):"), "{status}");
    // hbctl simulate: b dies (no fencing here: no_fencing refuse makes a wait for an operator).
    let (rc, sim) = hbctl(&["simulate", "--node-dead", "b"]);
    assert_eq!(rc, Some(0), "{sim}");
    assert!(sim.contains("a: svc::two waits: b is dead, cannot be fenced, and no_fencing is refuse"), "{sim}");
    let (_, sim) = hbctl(&["simulate", "--standby", "a"]);
    assert!(sim.contains("a: stop svc::one") && sim.contains("b: svc::one waits: a holds it and gives it up first"), "{sim}");
    assert_eq!(owner(&dir.path, "one").as_deref(), Some("a"), "a simulation does nothing");
    // hbctl standby local on a: its groups go to b; takeover local: they come back.
    let (rc, said) = hbctl(&["standby", "local"]);
    assert_eq!(rc, Some(0), "{said}");
    assert!(said.contains("gives up svc::one, ocf-group"), "{said}");
    wait_owner(&dir.path, "one", "b", "after hbctl standby local on a");
    let dummy = |n: &str| dir.path.join(n).join("dummy.state").exists();
    assert!(wait_for(Duration::from_secs(30), || (dummy("b") && !dummy("a")).then_some(())).is_some(), "{}", logs(&dir.path));
    let (rc, said) = hbctl(&["takeover", "local"]);
    assert_eq!(rc, Some(0), "{said}");
    wait_owner(&dir.path, "one", "a", "after hbctl takeover local on a");
    assert!(wait_for(Duration::from_secs(30), || (dummy("a") && !dummy("b")).then_some(())).is_some(), "{}", logs(&dir.path));
    assert_eq!(owner(&dir.path, "two").as_deref(), Some("b"), "b's own group never moved");
    // kill -9 of a's CRM: hbd starts another, which probes and keeps what runs.
    let first = crm_children(a.pid());
    assert_eq!(first.len(), 1, "one CRM under a's hbd: {first:?}");
    // As root, hbd runs the CRM at SCHED_FIFO (below itself); its agents run at the normal
    // policy (reset on fork).
    if hb_hwtest::is_root() {
        let policy = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .rsplit_once(')')
                .map(|(_, r)| r.split_whitespace().nth(38).unwrap_or("").to_string())
        };
        assert_eq!(policy(first[0]).as_deref(), Some("1"), "the CRM runs at SCHED_FIFO");
        let agent = std::fs::read_to_string(dir.path.join("shared/one.policy")).unwrap_or_default();
        assert_eq!(agent.trim(), "0", "agents run at the normal policy");
    }
    let _ = Command::new("kill").args(["-9", &first[0].to_string()]).status();
    let second = wait_for(Duration::from_secs(20), || crm_children(a.pid()).into_iter().find(|p| *p != first[0]));
    assert!(second.is_some(), "a's CRM was not restarted\n{}", logs(&dir.path));
    let log_a = || std::fs::read_to_string(dir.path.join("a/hbd.log")).unwrap_or_default();
    let probed = wait_for(Duration::from_secs(20), || (log_a().matches("monitor svc::one: OCF_SUCCESS").count() >= 1).then_some(()));
    assert!(probed.is_some(), "the new CRM found svc::one running\n{}", log_a());
    assert_eq!(owner(&dir.path, "one").as_deref(), Some("a"));
    assert_eq!(
        log_a().matches("start svc::one").count(),
        2,
        "started at the beginning and after the takeover, never by the new CRM:\n{}",
        log_a()
    );
    // A clean stop: a releases, leaves; b takes over at once.
    let st = a.terminate(Duration::from_secs(60)).expect("a's hbd stops on SIGTERM");
    assert!(st.success(), "{st:?}\n{}", log_a());
    assert!(log_a().contains("every resource group released"), "{}", log_a());
    wait_owner(&dir.path, "one", "b", "after a stopped cleanly");
    let log_b = std::fs::read_to_string(dir.path.join("b/hbd.log")).unwrap_or_default();
    assert!(log_b.contains("node a stopped cleanly"), "{log_b}");
    let double = doubles(&dir.path);
    assert!(double.is_empty(), "a resource ran on both nodes:\n{double}\n{}", logs(&dir.path));
}

/// A resource that keeps failing its monitor is restarted in place, and at the migration
/// threshold (2 here, in crm.cf) its group moves to the other node.
#[test]
fn a_failing_resource_is_restarted_then_moved() {
    let dir = TempDir::new("hb-crm-migrate");
    std::fs::create_dir_all(dir.path.join("shared")).unwrap();
    let port = hb_hwtest::free_udp_port();
    let _a = start(&dir.path, "a", port);
    let _b = start(&dir.path, "b", port);
    wait_owner(&dir.path, "one", "a", "at start");
    let log_a = || std::fs::read_to_string(dir.path.join("a/crmd.log")).unwrap_or_default();
    // The service dies under a: its monitor sees it, and a starts it again.
    std::fs::remove_file(dir.path.join("shared/one")).unwrap();
    let restarted = wait_for(Duration::from_secs(20), || (log_a().matches("start svc::one: OCF_SUCCESS").count() == 2).then_some(()));
    assert!(restarted.is_some(), "restarted in place\n{}", logs(&dir.path));
    wait_owner(&dir.path, "one", "a", "after the first failure");
    // It dies again: the second failure reaches the threshold, and the group moves to b.
    std::fs::remove_file(dir.path.join("shared/one")).unwrap();
    wait_owner(&dir.path, "one", "b", "after the second failure");
    assert!(log_a().matches("monitor svc::one: OCF_NOT_RUNNING").count() >= 2, "{}", log_a());
    let double = doubles(&dir.path);
    assert!(double.is_empty(), "a resource ran on both nodes:\n{double}\n{}", logs(&dir.path));
}

/// The recovery manager: a process resource whose application heartbeat stops (the program
/// hangs: SIGSTOP) is killed and started again by the CRM, on the same node.
#[test]
fn a_hung_program_is_killed_and_restarted() {
    let dir = TempDir::new("hb-crm-recovery");
    std::fs::create_dir_all(dir.path.join("shared")).unwrap();
    let port = hb_hwtest::free_udp_port();
    let (ca, runa) = configure(&dir.path, "a", port, "crm respawn\n");
    let (cb, runb) = configure(&dir.path, "b", port, "crm respawn\n");
    for (c, run) in [(&ca, &runa), (&cb, &runb)] {
        let app = Path::new(c).join("app.sh");
        let hbctl = bin("hbctl").display().to_string();
        let script = format!(
            "#!/bin/sh\n{hbctl} -r {run} apphb register app --interval 300ms >/dev/null 2>&1\nwhile :; do {hbctl} -r {run} apphb checkin app >/dev/null 2>&1; sleep 0.05; done\n"
        );
        std::fs::write(&app, script).unwrap();
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(Path::new(c).join("crm.cf")).unwrap();
        writeln!(f, "resource app process:/bin/sh apphb=app {}\ngroup apps a app", app.display()).unwrap();
    }
    let mut a = hbd(&dir.path, "a", &ca, &runa);
    let mut b = hbd(&dir.path, "b", &cb, &runb);
    let pidfile = Path::new(&runa).join("crm-app.pid");
    let pid = || std::fs::read_to_string(&pidfile).ok().and_then(|p| p.trim().parse::<i32>().ok());
    let log_a = || std::fs::read_to_string(dir.path.join("a/hbd.log")).unwrap_or_default();
    let first = wait_for(Duration::from_secs(30), pid).unwrap_or_else(|| panic!("the process never started\n{}", log_a()));
    // Let it check in, then hang it.
    assert!(
        wait_for(Duration::from_secs(10), || log_a().contains("application heartbeat \"app\" registered").then_some(())).is_some(),
        "{}",
        log_a()
    );
    let _ = Command::new("kill").args(["-STOP", &first.to_string()]).status();
    let second = wait_for(Duration::from_secs(30), || pid().filter(|p| *p != first));
    assert!(second.is_some(), "not restarted\n{}", log_a());
    assert!(log_a().contains("recovery: app stopped its application heartbeat \"app\": restarting it"), "{}", log_a());
    assert!(
        !Path::new(&format!("/proc/{first}/exe")).exists()
            || std::fs::read_to_string(format!("/proc/{first}/stat")).unwrap_or_default().contains(") Z"),
        "the hung instance was killed"
    );
    // A clean stop stops the program too: nothing is left behind.
    let last = second.unwrap();
    assert!(a.terminate(Duration::from_secs(60)).is_some_and(|s| s.success()), "{}", log_a());
    assert!(b.terminate(Duration::from_secs(60)).is_some());
    assert!(!Path::new(&format!("/proc/{last}/exe")).exists(), "the program outlived its node's clean stop\n{}", log_a());
}
