//! The `fence_agent` driver: a Pacemaker fence agent run through its stdin protocol. The agent
//! here is `fence_hb` itself (itself driving hb-hwtest's emulated LCUS board), so the whole
//! path is real; small shell agents stand in for failures (a refused login, a hang).

use hb_hwtest::relay::LcusBoard;
use hb_stonith_hw::{registry, Action, Code, Params};
use std::time::{Duration, Instant};

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

#[test]
fn a_fence_agent_fences_through_its_stdin_protocol() {
    let board = LcusBoard::start().unwrap();
    let p = Params::from_pairs([
        ("agent", env!("CARGO_BIN_EXE_fence_hb").to_string()),
        ("devtype", "lcus".to_string()),
        ("ttydev", board.path().display().to_string()),
        ("hostmap", "node1:1 node2:2".to_string()),
        ("reset_ms", "50".to_string()),
    ]);
    // Without hostlist, the agent's own list is asked once.
    let mut d = registry::open("fence_agent", &p).unwrap();
    assert!(d.info().forks);
    assert_eq!(d.hosts(), vec!["node1", "node2"]);
    d.status(soon()).unwrap();
    d.act(Action::Off, "node2", soon()).unwrap();
    d.act(Action::Reset, "node1", soon()).unwrap();
    assert_eq!(d.act(Action::Off, "node3", soon()).unwrap_err().code, Code::BadHost);
    let end = Instant::now() + Duration::from_secs(5);
    while board.log().commands.len() < 3 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    let got: Vec<(u8, bool)> = board.log().commands.iter().map(|c| (c.1, c.2)).collect();
    assert_eq!(got, vec![(2, false), (1, false), (1, true)]);
}

/// A shell script as a fence agent, in a fresh directory.
fn script(body: &str) -> (hb_hwtest::TempDir, String) {
    use std::os::unix::fs::PermissionsExt;
    let dir = hb_hwtest::TempDir::new("hb-fence-agent");
    let path = dir.path.join("fence_test");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = path.display().to_string();
    (dir, p)
}

#[test]
fn failures_map_to_cluster_glue_codes_and_a_hang_is_killed_at_the_deadline() {
    let (_d, denied) = script("cat >/dev/null; echo 'Failed: Unable to log in' >&2; exit 3");
    let mut d = registry::open("fence_agent", &Params::from_pairs([("agent", denied.as_str()), ("hostlist", "node1")])).unwrap();
    let e = d.act(Action::Off, "node1", soon()).unwrap_err();
    assert_eq!(e.code, Code::Access, "{e}");
    assert!(e.what.contains("exit 3: Failed: Unable to log in"), "{e}");

    let (_d, hangs) = script("sleep 30");
    let mut d = registry::open("fence_agent", &Params::from_pairs([("agent", hangs.as_str()), ("hostlist", "node1")])).unwrap();
    let t0 = Instant::now();
    let e = d.act(Action::Off, "node1", Instant::now() + Duration::from_millis(300)).unwrap_err();
    assert_eq!(e.code, Code::Timeout, "{e}");
    assert!(t0.elapsed() < Duration::from_secs(5), "killed at the deadline, not after the agent's 30 s");

    let e = registry::open("fence_agent", &Params::from_pairs([("agent", "fence_no_such_agent")])).err().unwrap();
    assert_eq!((e.code, e.what.as_str()), (Code::BadConfig, "no fence agent at /usr/sbin/fence_no_such_agent"));
    let e = registry::open("fence_agent", &Params::from_pairs([("agent", denied.as_str()), ("hostlist", "node1"), ("password", "a\nb")]))
        .err()
        .unwrap();
    assert_eq!(e.code, Code::BadConfig);
}
