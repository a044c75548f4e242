//! Fencing in hbd (issue 15): two real nodes in network namespaces, each running a fence
//! device. The device is a real fence agent (a shell script speaking the fence-agent protocol
//! on standard input) whose "power switch" is the other hbd's process: `off` and `reboot`
//! kill it and write one line to a shared record, `status` reads whether it still runs.
//! Root only (namespaces); CI runs them.

// Tests keep time with std (core/clippy.toml forbids it in hbd itself).
#![allow(clippy::disallowed_methods)]

mod common;

use common::{wait_event, Node};
use hb_core::ipc::proto::{ErrorCode, Event, FenceOp, FenceReason, Reply, Request};
use hb_core::ipc::{Client, ClientError};
use hb_core::liveness::NodeState;
use hb_hwtest::{require_root, Pair, TempDir, A4, B4};
use std::path::Path;
use std::time::Duration;

const PORT: u16 = 6960;

/// The agent: the fence-agent protocol on stdin; `dir` holds the nodes' pid files and the
/// record `fenced`; `mode=fail` always fails, `mode=liar` says `off` worked and leaves the
/// node running.
const AGENT: &str = r#"#!/bin/sh
while IFS='=' read -r k v; do
  case "$k" in
    action) action=$v ;; plug|port) plug=$v ;; dir) dir=$v ;; me) me=$v ;; mode) mode=$v ;;
  esac
done
running() {
  pid=$(cat "$dir/pid.$1" 2>/dev/null) || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
  [ -n "$state" ] && [ "$state" != Z ]
}
case "$action" in
  list) echo a; echo b; exit 0 ;;
  monitor) exit 0 ;;
  status) if running "$plug"; then exit 0; else exit 2; fi ;;
  off|reboot)
    echo "$me $mode $action $plug" >> "$dir/fenced"
    [ "$mode" = fail ] && { echo "the switch refused" >&2; exit 1; }
    [ "$mode" = liar ] && exit 0
    kill -9 "$(cat "$dir/pid.$plug")" 2>/dev/null
    exit 0 ;;
  on) echo "$me $mode on $plug" >> "$dir/fenced"; exit 0 ;;
esac
echo "unknown action $action" >&2
exit 1
"#;

fn hacf(me: &str, dir: &Path, dev_if: &str, stonith: &str) -> String {
    let agent = dir.join("agent").display().to_string();
    let d = dir.display();
    let dev =
        |name: &str, mode: &str| format!("stonith_device {name} fence_agent agent={agent} hostlist=a,b dir={d} me={me} mode={mode}\n");
    format!(
        "keepalive 20ms\nwarntime 100ms\ndeadtime 200ms\ninitdead 3\nudpport {PORT}\nucast {dev_if} {A4}\nucast {dev_if} {B4}\nnode a b\n\
         stonith_timeout 1500ms\n{}{}{}{stonith}",
        dev("good", "good"),
        dev("broken", "fail"),
        dev("liar", "liar")
    )
}

/// Two nodes up, each with the three devices and `stonith` lines of its own.
fn cluster(stonith: &str) -> (Pair, TempDir, Node, Node) {
    let pair = Pair::create();
    let dir = TempDir::new("hb-fencing");
    std::fs::write(dir.path.join("agent"), AGENT).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path.join("agent"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let a = Node::start(&pair.a, &dir.path, "a", &hacf("a", &dir.path, &pair.a_if, stonith), "auto");
    let b = Node::start(&pair.b, &dir.path, "b", &hacf("b", &dir.path, &pair.b_if, stonith), "auto");
    std::fs::write(dir.path.join("pid.a"), a.proc.pid().to_string()).unwrap();
    std::fs::write(dir.path.join("pid.b"), b.proc.pid().to_string()).unwrap();
    a.wait_peer("b", NodeState::Up, Duration::from_secs(20));
    b.wait_peer("a", NodeState::Up, Duration::from_secs(20));
    (pair, dir, a, b)
}

fn record(dir: &TempDir) -> Vec<String> {
    std::fs::read_to_string(dir.path.join("fenced")).unwrap_or_default().lines().map(str::to_string).collect()
}

fn result(c: &mut Client, within: Duration) -> Event {
    wait_event(c, within, |e| matches!(e, Event::FenceResult { .. })).expect("a fence-result event")
}

#[test]
fn a_split_of_two_nodes_gives_exactly_one_fence() {
    if !require_root("a_split_of_two_nodes_gives_exactly_one_fence") {
        return;
    }
    // Each node's only level is the good device; a sorts first, so b waits 2 s.
    let (pair, dir, mut a, mut b) = cluster("stonith_level a 1 good\nstonith_level b 1 good\nstonith_delay 2s\n");
    let mut ca = a.subscribe();
    pair.cut();
    match result(&mut ca, Duration::from_secs(20)) {
        Event::FenceResult { node, ok, level, action, .. } => {
            assert!(ok && node == "b" && level == 1 && action == FenceOp::Reboot, "{}", a.log_text())
        }
        _ => unreachable!(),
    }
    assert!(b.proc.wait_exit(Duration::from_secs(10)).is_some(), "b was not fenced");
    // Longer than b's race delay: had b survived it, b would have fenced a by now.
    std::thread::sleep(Duration::from_secs(4));
    assert!(a.proc.alive(), "a must survive: {:?}", record(&dir));
    assert_eq!(record(&dir), ["a good reboot b"], "exactly one fence, by the node that sorts first");
    let log = a.log_text();
    assert!(log.contains("STONITH: reboot b: done"), "{log}");
}

#[test]
fn a_failing_level_and_a_device_whose_target_stays_on_fall_through_to_the_next() {
    if !require_root("a_failing_level_and_a_device_whose_target_stays_on_fall_through_to_the_next") {
        return;
    }
    let (_pair, dir, a, mut b) =
        cluster("stonith_level b 1 broken\nstonith_level b 2 liar\nstonith_level b 3 good\nstonith_level a 1 good\n");
    let mut c = a.subscribe();
    let id = match c.call(&Request::Fence { node: "b".into(), action: FenceOp::Off }).unwrap() {
        Reply::FenceAccepted { id, node, action } => {
            assert_eq!((node.as_str(), action), ("b", FenceOp::Off));
            id
        }
        other => panic!("{other:?}"),
    };
    let started = wait_event(&mut c, Duration::from_secs(10), |e| matches!(e, Event::FenceStarted { .. })).unwrap();
    assert!(matches!(started, Event::FenceStarted { id: i, reason: FenceReason::Request, delay_ns, .. } if i == id && delay_ns.0 == 0));
    match result(&mut c, Duration::from_secs(30)) {
        Event::FenceResult { id: i, ok, level, devices, message, code, .. } => {
            assert_eq!(i, id);
            assert!(ok && level == 3 && devices == ["good"] && code == "S_OK", "{message}");
            assert!(message.contains("level 1 (broken): S_RESETFAIL") && message.contains("the switch refused"), "{message}");
            assert!(
                message.contains("level 2 (liar): S_RESETFAIL: liar: the device reported the off done, but the host still reads on"),
                "{message}"
            );
        }
        _ => unreachable!(),
    }
    assert!(b.proc.wait_exit(Duration::from_secs(5)).is_some());
    assert_eq!(record(&dir)[..3], ["a fail off b", "a liar off b", "a good off b"]);
    // b's death, which a's fencing caused, is not fenced a second time.
    let again = result(&mut c, Duration::from_secs(10));
    assert!(matches!(&again, Event::FenceResult { ok: true, level: 0, message, .. } if message.contains("already fenced")), "{again:?}");
    assert_eq!(record(&dir).len(), 3, "{:?}", record(&dir));
}

#[test]
fn meatware_waits_for_the_operator_and_requests_are_checked() {
    if !require_root("meatware_waits_for_the_operator_and_requests_are_checked") {
        return;
    }
    let (_pair, _dir, a, _b) = cluster("stonith_device hand meatware hostlist=b\nstonith_level b 1 hand\nstonith_level a 1 good\n");
    let mut c = a.subscribe();
    let refused = |r: Result<Reply, ClientError>| match r {
        Err(ClientError::Refused { code, .. }) => code,
        other => panic!("{other:?}"),
    };
    assert_eq!(refused(c.call(&Request::FenceConfirm { node: "b".into() })), ErrorCode::NothingWaiting);
    assert_eq!(refused(c.call(&Request::Fence { node: "a".into(), action: FenceOp::Off })), ErrorCode::NoSuchNode);
    assert_eq!(refused(c.call(&Request::Fence { node: "zz".into(), action: FenceOp::Off })), ErrorCode::NoSuchNode);
    match c.call(&Request::StonithStatus).unwrap() {
        Reply::StonithStatus { devices, targets, .. } => {
            let hand = devices.iter().find(|d| d.name == "hand").unwrap();
            assert!(hand.operator && !hand.forks);
            assert!(devices.iter().find(|d| d.name == "good").unwrap().forks);
            assert_eq!(targets.iter().find(|t| t.node == "b").unwrap().levels, [vec!["hand".to_string()]]);
        }
        other => panic!("{other:?}"),
    }
    c.call(&Request::Fence { node: "b".into(), action: FenceOp::Off }).unwrap();
    let asked = wait_event(&mut c, Duration::from_secs(10), |e| matches!(e, Event::FenceOperator { .. })).expect("fence-operator");
    assert!(matches!(asked, Event::FenceOperator { ref node, ref device, .. } if node == "b" && device == "hand"));
    // `hbctl stonith` shows what waits, and `hbctl fence-confirm` completes it.
    // (hbctl is hb-tools' binary, built beside hbd by the workspace's test build.)
    let hbctl = env!("CARGO_BIN_EXE_hbd").replace("/hbd", "/hbctl");
    let out = std::process::Command::new(&hbctl).args(["-r", &a.run.display().to_string(), "stonith"]).output().expect(&hbctl);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(text.contains("WAITING FOR AN OPERATOR: power b off"), "{text}");
    assert!(text.contains("device hand (meatware; reads power back, an operator acts): b"), "{text}");
    match c.call(&Request::FenceConfirm { node: "b".into() }).unwrap() {
        Reply::FenceConfirmed { node } => assert_eq!(node, "b"),
        other => panic!("{other:?}"),
    }
    match result(&mut c, Duration::from_secs(10)) {
        Event::FenceResult { ok, devices, .. } => assert!(ok && devices == ["hand"]),
        _ => unreachable!(),
    }
}

#[test]
fn a_peer_stopped_cleanly_has_left_and_is_not_fenced() {
    if !require_root("a_peer_stopped_cleanly_has_left_and_is_not_fenced") {
        return;
    }
    let (_pair, dir, a, mut b) = cluster("stonith_level a 1 good\nstonith_level b 1 good\n");
    let mut c = a.subscribe();
    assert!(b.proc.terminate(Duration::from_secs(10)).is_some(), "b did not stop on SIGTERM");
    let first = wait_event(&mut c, Duration::from_secs(5), |e| matches!(e, Event::NodeLeft { .. } | Event::NodeDead { .. }));
    assert!(matches!(&first, Some(Event::NodeLeft { node, .. }) if node == "b"), "{first:?}\n{}", a.log_text());
    // Well past deadtime: no death follows, and nobody is fenced.
    let later = wait_event(&mut c, Duration::from_secs(1), |e| matches!(e, Event::NodeDead { .. } | Event::FenceStarted { .. }));
    assert!(later.is_none(), "{later:?}");
    assert!(record(&dir).is_empty(), "{:?}", record(&dir));
    assert!(a.log_text().contains("node b stopped cleanly"), "{}", a.log_text());
}

#[test]
fn hbctl_fence_powers_a_bmc_off_and_resets_it_through_native_ipmi() {
    // ipmi_sim listens on this host's loopback, so both nodes run here, on loopback.
    let sim = hb_hwtest::ipmi::IpmiSim::start().expect("the IPMI simulator (openipmi; scripts/test.sh installs it)");
    let dir = TempDir::new("hb-fence-ipmi");
    let port = hb_hwtest::free_udp_port();
    let base = |bind: &str| {
        format!("keepalive 20ms\nwarntime 100ms\ndeadtime 200ms\ninitdead 3\nudpport {port}\nucast lo 127.0.0.1 127.0.0.2\nbind {bind}\nnode a b\n")
    };
    let device = format!(
        "stonith_device bmc ipmilan hostname=b ipaddr=127.0.0.1 port={} login=admin password=secret lanplus=1 cipher=3\nstonith_level b 1 bmc\n",
        sim.port()
    );
    let a = Node::start_on_host(&dir.path, "a", &(base("127.0.0.1") + &device), "auto");
    let b = Node::start_on_host(&dir.path, "b", &base("127.0.0.2"), "auto");
    a.wait_peer("b", NodeState::Up, Duration::from_secs(20));
    let hbctl = env!("CARGO_BIN_EXE_hbd").replace("/hbd", "/hbctl");
    let fence = |action: &str| {
        let out = std::process::Command::new(&hbctl)
            .args(["-r", &a.run.display().to_string(), "fence", "b", "--action", action, "--timeout", "30"])
            .output()
            .expect(&hbctl);
        (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code())
    };
    let (text, rc) = fence("off");
    assert_eq!(rc, Some(0), "{text}\n{}", a.log_text());
    assert!(text.contains("fence-result") && text.contains("off b: done (S_OK)"), "{text}");
    assert!(!sim.power(), "the chassis is off");
    assert!(sim.calls().iter().any(|c| c == "set power 0"), "{:?}", sim.calls());
    sim.set_power(true);
    let (text, rc) = fence("reboot");
    assert_eq!(rc, Some(0), "{text}");
    assert!(sim.calls().iter().any(|c| c == "set reset 1"), "{:?}", sim.calls());
    assert!(b.proc.pid() > 0);
}

/// `stonith_watchdog` with no power device at all (sbd's watchdog-only mode): in a split, the
/// node whose name sorts second stops petting its watchdog for good, and the first counts it
/// off once twice its advertised timeout has passed since it last heard it. Each node pets
/// hb-hwtest's watchdog emulator (a FUSE file with the real ioctls), which records when it
/// would have reset the board.
#[test]
fn watchdog_self_fencing_resets_the_loser_and_the_winner_counts_it_off_after_twice_its_timeout() {
    if !require_root("watchdog_self_fencing_resets_the_loser_and_the_winner_counts_it_off_after_twice_its_timeout") {
        return;
    }
    use hb_hwtest::watchdog::{Features, WatchdogEmulator};
    let pair = Pair::create();
    let dir = TempDir::new("hb-wd-fencing");
    let (wa, wb) = (WatchdogEmulator::start(Features::default()).unwrap(), WatchdogEmulator::start(Features::default()).unwrap());
    let cfg = |dev: &str, wd: &WatchdogEmulator| {
        format!(
            "keepalive 20ms\nwarntime 100ms\ndeadtime 200ms\ninitdead 3\nudpport {PORT}\nucast {dev} {A4}\nucast {dev} {B4}\nnode a b\n\
             watchdog {}\nwatchdog_timeout 1\nwatchdog_interval 100ms\nstonith_watchdog on\nstonith_delay 100ms\n",
            wd.path().display()
        )
    };
    let test_mode = |c: &mut std::process::Command| {
        c.arg("--watchdog-test-mode");
    };
    let a = Node::start_with(&pair.a, &dir.path, "a", &cfg(&pair.a_if, &wa), "auto", test_mode);
    let b = Node::start_with(&pair.b, &dir.path, "b", &cfg(&pair.b_if, &wb), "auto", test_mode);
    a.wait_peer("b", NodeState::Up, Duration::from_secs(20));
    b.wait_peer("a", NodeState::Up, Duration::from_secs(20));
    // Each advertises its 1 s watchdog to the other.
    let advertised = |n: &Node, peer: &str| n.snapshot().and_then(|s| s.node(peer).map(|p| p.watchdog_ms));
    assert!(hb_hwtest::wait_for(Duration::from_secs(5), || (advertised(&a, "b") == Some(1000)).then_some(())).is_some());
    assert_eq!(advertised(&b, "a"), Some(1000));
    let mut ca = a.subscribe();
    let cut = std::time::Instant::now();
    pair.cut();
    match result(&mut ca, Duration::from_secs(20)) {
        Event::FenceResult { node, ok, devices, message, duration_ns, .. } => {
            assert!(ok && node == "b" && devices == ["watchdog"], "{message}\n{}", a.log_text());
            assert!(message.contains("has run twice over since it was last heard"), "{message}");
            // Counted from b's death (deadtime after the cut) to twice b's timeout after it
            // was last heard: about 1.8 s.
            assert!(duration_ns.0 >= 1_500_000_000, "{duration_ns}");
        }
        _ => unreachable!(),
    }
    // b was last heard at most a keepalive or so before the cut.
    assert!(cut.elapsed() >= Duration::from_millis(1900), "not before twice b's timeout: {:?}", cut.elapsed());
    // b stopped petting: its board would have been reset, within its 1 s timeout of the last pet.
    let expired = hb_hwtest::wait_for(Duration::from_secs(5), || wb.state().expired_at);
    assert!(expired.is_some(), "b's watchdog never expired\n{}", b.log_text());
    assert!(b.log_text().contains("lost the cluster and fences itself"), "{}", b.log_text());
    // a, whose name sorts first, kept petting.
    assert_eq!(wa.state().expired_at, None, "{}", a.log_text());
    assert!(a.proc.pid() > 0 && b.proc.pid() > 0);
}
