//! Two real `hbd` processes in two network namespaces joined by veth.
//!
//! For every UDP medium (ucast, bcast, mcast, ucast6), raw Ethernet (on interfaces with no IP
//! address at all) and both backends (io_uring, epoll):
//! the nodes see each other; a cut cable (`ip link set down`) makes each declare the other
//! dead and mending it brings them back without a restart; `kill -9` of one is detected by
//! the other within deadtime plus a generous margin (the deadline is loose on purpose: this
//! checks behaviour on a loaded 2-core machine; speed is measured by the bench, not here).
//! Plus: every kind of bad packet, sent from the peer's namespace, is dropped and counted
//! while the cluster stays healthy. bcast and ucast6 run with `rx_wakeup off` (packets
//! drained on the loop's ticks), ucast and mcast with `rx_wakeup on`.

// Tests keep time with std (core/clippy.toml forbids it in hbd itself).
#![allow(clippy::disallowed_methods)]

use hb_core::ipc::proto::Event;
use hb_core::liveness::NodeState;
use hb_core::status::WatchdogState;
use hb_core::time::{self, Nanos};
use hb_core::wire::Reject;
use hb_hwtest::flood::{send_frames, udp_frame};
use hb_hwtest::procstat::{threads_cpu, ThreadCpu};
use hb_hwtest::{require_root, wait_for, Pair, TempDir, A4, A6, B4, B6};
use std::path::Path;
use std::time::Duration;

mod common;
use common::{wait_dead_event, wait_event, Node, KEYS};

const DEADTIME_MS: u64 = 300;
/// Extra time allowed beyond deadtime for detection on a loaded machine.
const MARGIN: Duration = Duration::from_millis(1500);

fn timing() -> String {
    format!("keepalive 50ms\nwarntime 150ms\ndeadtime {DEADTIME_MS}ms\ninitdead 5\nudpport 6940\n")
}

#[derive(Clone, Copy)]
enum Medium {
    Ucast,
    Bcast,
    Mcast,
    Ucast6,
    /// hb's raw Ethernet, on interfaces stripped of every IP address.
    Raw,
}

fn hacf(m: Medium, pair: &Pair, me: &str) -> String {
    let dev = if me == "a" { &pair.a_if } else { &pair.b_if };
    let media = match m {
        // The same lines on both nodes: each ignores the one naming its own address.
        Medium::Ucast => format!("ucast {dev} {A4}\nucast {dev} {B4}\n"),
        Medium::Bcast => format!("bcast {dev}\n"),
        Medium::Mcast => format!("mcast {dev} 239.77.0.1 6941 1 0\n"),
        Medium::Ucast6 => format!("ucast6 {dev} {A6}\nucast6 {dev} {B6}\n"),
        Medium::Raw => format!("raw {dev}\n"),
    };
    // Both receive modes are covered: bcast and ucast6 drain on ticks, the others wake.
    let rx = match m {
        Medium::Bcast | Medium::Ucast6 => "rx_wakeup off\n",
        Medium::Ucast | Medium::Mcast | Medium::Raw => "rx_wakeup on\n",
    };
    format!("{}{rx}{media}node a b\n", timing())
}

/// The whole life of a two-node cluster on one medium and backend.
fn cluster_lifecycle(m: Medium, backend: &str) {
    if !require_root("cluster_lifecycle") {
        return;
    }
    let pair = Pair::create();
    if matches!(m, Medium::Raw) {
        // No IP at all: raw Ethernet needs none.
        for (ns, dev) in [(&pair.a, &pair.a_if), (&pair.b, &pair.b_if)] {
            ns.exec(&["sysctl", "-q", "-w", &format!("net.ipv6.conf.{dev}.disable_ipv6=1")]);
            ns.ip(&["addr", "flush", "dev", dev]);
            let out = std::process::Command::new("ip").args(["-n", &ns.name, "-o", "addr", "show", "dev", dev]).output().unwrap();
            assert!(out.stdout.is_empty(), "{dev} still has an address: {}", String::from_utf8_lossy(&out.stdout));
        }
    }
    let dir = TempDir::new("hb-cluster");
    let a = Node::start(&pair.a, &dir.path, "a", &hacf(m, &pair, "a"), backend);
    let mut b = Node::start(&pair.b, &dir.path, "b", &hacf(m, &pair, "b"), backend);
    a.wait_peer("b", NodeState::Up, Duration::from_secs(10));
    b.wait_peer("a", NodeState::Up, Duration::from_secs(10));
    let s = a.snapshot().unwrap();
    assert_eq!(s.backend.name(), if backend == "epoll" { "epoll" } else { "io_uring" });
    let (pid_a, pid_b) = (a.snapshot().unwrap().pid, b.snapshot().unwrap().pid);

    // A cut cable: both sides declare the other dead; mending it brings them back, same pids.
    pair.cut();
    a.wait_peer("b", NodeState::Dead, Duration::from_millis(DEADTIME_MS) + MARGIN);
    b.wait_peer("a", NodeState::Dead, Duration::from_millis(DEADTIME_MS) + MARGIN);
    // Heartbeats into a downed interface fail, and every backend reports the failures (the
    // io_uring backend posts completions only for failed sends).
    let failed = wait_for(Duration::from_secs(3), || (a.snapshot()?.links[0].counters.tx_err > 0).then_some(()));
    assert!(failed.is_some(), "no send errors counted on a downed link: {:?}", a.snapshot().map(|s| s.links[0].counters));
    pair.mend();
    a.wait_peer("b", NodeState::Up, Duration::from_secs(10));
    b.wait_peer("a", NodeState::Up, Duration::from_secs(10));
    assert_eq!((a.snapshot().unwrap().pid, b.snapshot().unwrap().pid), (pid_a, pid_b), "no restart");
    let logged = wait_for(Duration::from_secs(3), || a.log_text().contains("node b is back after a partition").then_some(()));
    assert!(logged.is_some(), "{}", a.log_text());

    // kill -9 of b: a declares it dead within deadtime plus the margin, timed on the event.
    let mut events = a.subscribe();
    let killed = time::now();
    b.proc.kill9();
    let at = wait_dead_event(&mut events, "b", Duration::from_secs(10)).unwrap_or_else(|| panic!("no node-dead event\n{}", a.log_text()));
    let took = Nanos(at).sub(killed);
    assert!(took <= Nanos::from_millis(DEADTIME_MS).add(Nanos(MARGIN.as_nanos() as u64)), "detection took {took}");
    assert_eq!(a.peer_state("b"), Some(NodeState::Dead));
    // Nothing crashed, nothing was rejected on a healthy medium — but for b's packets just
    // after the cut was mended, until a's own packets got through again (IPv6 may take a
    // while to send): their echoes of a were older than deadtime. They are counted as stale
    // and still taught a b's newest timestamp, so that a's next packet proved a fresh.
    let s = a.snapshot().unwrap();
    let stale = s.links[0].counters.rejects[Reject::Stale as usize];
    assert_eq!(s.links[0].counters.rejected(), stale, "{:?}", s.links[0]);
    assert!(wait_for(Duration::from_secs(3), || a.log_text().contains("node b is dead").then_some(())).is_some());
}

#[test]
fn ucast_io_uring() {
    cluster_lifecycle(Medium::Ucast, "io_uring");
}
#[test]
fn ucast_epoll() {
    cluster_lifecycle(Medium::Ucast, "epoll");
}
#[test]
fn bcast_io_uring() {
    cluster_lifecycle(Medium::Bcast, "io_uring");
}
#[test]
fn bcast_epoll() {
    cluster_lifecycle(Medium::Bcast, "epoll");
}
#[test]
fn mcast_io_uring() {
    cluster_lifecycle(Medium::Mcast, "io_uring");
}
#[test]
fn mcast_epoll() {
    cluster_lifecycle(Medium::Mcast, "epoll");
}
#[test]
fn ucast6_io_uring() {
    cluster_lifecycle(Medium::Ucast6, "io_uring");
}
#[test]
fn ucast6_epoll() {
    cluster_lifecycle(Medium::Ucast6, "epoll");
}
#[test]
fn raw_io_uring() {
    cluster_lifecycle(Medium::Raw, "io_uring");
}
#[test]
fn raw_epoll() {
    cluster_lifecycle(Medium::Raw, "epoll");
}

/// Every kind of bad packet, sent into a's port from b's namespace, is dropped and counted
/// by reason; a keeps seeing b and keeps running.
#[test]
fn bad_packets_are_counted_and_harmless() {
    use hb_core::auth::{parse_authkeys, Keyring};
    use hb_core::engine::{Engine, EngineConfig};
    use hb_core::liveness::Timing;
    use hb_core::wire::MAX_HEARTBEAT;

    if !require_root("bad_packets_are_counted_and_harmless") {
        return;
    }
    let pair = Pair::create();
    let dir = TempDir::new("hb-badpkt");
    let mut a = Node::start(&pair.a, &dir.path, "a", &hacf(Medium::Ucast, &pair, "a"), "io_uring");
    let _b = Node::start(&pair.b, &dir.path, "b", &hacf(Medium::Ucast, &pair, "b"), "io_uring");
    a.wait_peer("b", NodeState::Up, Duration::from_secs(10));
    let b_gen = a.snapshot().unwrap().node("b").unwrap().generation;

    let forge = |name: &str, cluster: &str, keys: &str, generation: u64, seq_skip: u64| -> Vec<u8> {
        let t = Timing {
            keepalive: Nanos::from_millis(50),
            warntime: Nanos::from_millis(150),
            deadtime: Nanos::from_millis(300),
            initdead: Nanos::from_millis(5000),
            stall_threshold: Nanos::from_millis(25),
        };
        let mut e = Engine::new(
            EngineConfig {
                cluster: cluster.into(),
                self_name: name.into(),
                peers: vec!["a".into()],
                links: 1,
                timing: t,
                keys: Keyring::new(&parse_authkeys(keys, Path::new("k")).unwrap()),
                generation,
            },
            time::now(),
        );
        let mut out = [0u8; MAX_HEARTBEAT];
        let mut n = 0;
        for _ in 0..=seq_skip {
            n = e.build_heartbeat(0, time::now(), &mut out);
        }
        out[..n].to_vec()
    };
    let valid_old_seq = forge("b", "linux-ha", KEYS, b_gen, 0); // seq 1 of b's live generation
    let mut bad_mac = forge("b", "linux-ha", KEYS, b_gen + 5, 0);
    let last = bad_mac.len() - 1;
    bad_mac[last] ^= 0xff;
    let mut v9 = valid_old_seq.clone();
    v9[2] = 9;
    // What the socket filter drops in the kernel: the wrong length, magic, version, cluster
    // or sender. (The engine's own refusals of these are covered by its unit tests and the
    // fuzz targets: nothing of them reaches it over a filtered socket.)
    let filtered: Vec<Vec<u8>> = vec![
        valid_old_seq[..20].to_vec(),
        vec![0x68; 1400],
        b"GET / HTTP/1.0\r\n\r\n".to_vec(),
        v9,
        forge("b", "other-cluster", KEYS, b_gen, 0),
        forge("mallory", "linux-ha", KEYS, 1, 0),
    ];
    // What looks like b's and only hbd can refuse.
    let cases: Vec<(Reject, Vec<u8>)> = vec![
        (Reject::BadMac, bad_mac),
        (Reject::UnknownKey, forge("b", "linux-ha", "auth 2\n2 sha256 x\n", b_gen, 0)),
        (Reject::Replay, valid_old_seq),
        (Reject::OldGeneration, forge("b", "linux-ha", KEYS, b_gen - 1, 0)),
    ];
    // Sent as b, from b's address and port (through a packet socket on b's side of the
    // segment): what comes from anywhere else is dropped by a's socket filter before hbd sees
    // it (checked at the end), and these cases are about what hbd itself refuses.
    let (a4, b4) = (A4.parse().unwrap(), B4.parse().unwrap());
    let a_mac = Pair::mac(&pair.a, &pair.a_if);
    let as_b = |pkt: &[u8]| udp_frame(a_mac, (b4, 6940), (a4, 6940), pkt);
    // Each kind, resent until counted: under load the kernel may drop an injected datagram
    // (that is the kernel's business, not hbd's), so one send is not enough of a test.
    for (reason, pkt) in &cases {
        let counted = wait_for(Duration::from_secs(10), || {
            let before = a.snapshot()?.links[0].counters.rejects[*reason as usize];
            if before >= 1 {
                return Some(());
            }
            send_frames(&pair.b, &pair.b_if, &[as_b(pkt)], Duration::ZERO).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            None
        });
        assert!(counted.is_some(), "{} never counted: {:?}\n{}", reason.name(), a.snapshot().map(|s| s.links[0].clone()), a.log_text());
    }
    // Then a flood of garbage: 2000 random-ish datagrams from b's address and port, which
    // the filter passes only when they look like this cluster's heartbeats (the first 400
    // do: garbage behind a copied header), and 2000 from another port, which it drops.
    let before = a.snapshot().unwrap().links[0].counters.rejected();
    let header = &cases[0].1[..12];
    let mut x: u32 = 12345;
    let mut frames = Vec::new();
    for i in 0..2000 {
        let len = 1 + (i % 300);
        let mut junk: Vec<u8> = (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        if i < 400 && junk.len() >= 44 {
            junk[..12].copy_from_slice(header);
        }
        frames.push(as_b(&junk));
    }
    send_frames(&pair.b, &pair.b_if, &frames, Duration::ZERO).unwrap();
    let flooded = wait_for(Duration::from_secs(10), || (a.snapshot()?.links[0].counters.rejected() >= before + 250).then_some(()));
    assert!(flooded.is_some(), "the flood was not counted: {:?}", a.snapshot().map(|s| s.links[0].clone()));
    // Each kind the filter drops, from b's address and port, then every case from another
    // port: counted by the kernel, and the count arrives with the next datagram hbd reads
    // (b's next heartbeat), and is logged.
    let k0 = a.snapshot().unwrap().links[0].counters.kernel_dropped;
    let frames: Vec<Vec<u8>> = filtered.iter().cycle().take(600).map(|p| as_b(p)).collect();
    send_frames(&pair.b, &pair.b_if, &frames, Duration::ZERO).unwrap();
    let sock = hb_hwtest::udp_socket_in(&pair.b, format!("{B4}:0").parse().unwrap()).unwrap();
    for pkt in cases.iter().map(|c| &c.1).cycle().take(400) {
        let _ = sock.send_to(pkt, format!("{A4}:6940"));
    }
    let dropped = wait_for(Duration::from_secs(10), || (a.snapshot()?.links[0].counters.kernel_dropped >= k0 + 900).then_some(()));
    assert!(dropped.is_some(), "the socket filter dropped too little: {:?}", a.snapshot().map(|s| s.links[0].clone()));
    let logged =
        wait_for(Duration::from_secs(3), || a.log_text().contains("the kernel dropped datagrams before hbd saw them").then_some(()));
    assert!(logged.is_some(), "{}", a.log_text());
    assert!(a.proc.alive(), "hbd died:\n{}", a.log_text());
    // Still healthy: b stays up for another deadtime and more.
    std::thread::sleep(Duration::from_millis(2 * DEADTIME_MS));
    assert_eq!(a.peer_state("b"), Some(NodeState::Up), "{}", a.log_text());
    assert!(
        wait_for(Duration::from_secs(3), || a.log_text().contains("dropped a packet").then_some(())).is_some(),
        "rejections are logged"
    );
    // Rate limit: 2000+ rejections do not become 2000 log lines.
    assert!(a.log_text().matches("dropped a packet").count() < 20);
}

/// SIGHUP, SIGUSR1 and SIGUSR2 do not stop hbd (heartbeat users send them to reload and to
/// change the debug level); a clean stop (SIGTERM) exits 0 and removes the socket and page.
#[test]
fn clean_stop_exits_zero_and_cleans_up() {
    if !require_root("clean_stop_exits_zero_and_cleans_up") {
        return;
    }
    let pair = Pair::create();
    let dir = TempDir::new("hb-stop");
    let mut a = Node::start(&pair.a, &dir.path, "a", &hacf(Medium::Ucast, &pair, "a"), "auto");
    wait_for(Duration::from_secs(10), || a.snapshot()).expect("status page");
    for sig in [libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2] {
        a.proc.signal(sig);
    }
    let logged = wait_for(Duration::from_secs(5), || {
        let l = a.log_text();
        (l.contains("configuration reload is not implemented")
            && l.contains("SIGUSR1: debug level 0 -> 1")
            && l.contains("SIGUSR2: debug level 1 -> 0"))
        .then_some(())
    });
    assert!(logged.is_some(), "{}", a.log_text());
    assert!(a.proc.alive() && a.snapshot().unwrap().writer_alive());
    // /tmp is a disk filesystem here: the page itself lives in /dev/shm behind a symlink.
    let backing = std::fs::read_link(a.run.join("status")).ok();
    let st = a.proc.terminate(Duration::from_secs(10)).expect("hbd exits on SIGTERM");
    assert!(st.success(), "{st:?}\n{}", a.log_text());
    assert!(!a.run.join("status").exists() && !a.run.join("hbd.sock").exists());
    if let Some(b) = backing {
        assert!(!b.exists(), "{} left behind", b.display());
    }
}

/// A pause of the whole machine (both nodes stopped at once, as when the hypervisor
/// deschedules the VM) is not a death: each node discounts its own stall. A pause of one
/// node alone is that node's silence — its peer rightly declares it dead — but the paused
/// node itself, on waking, first processes what its peer sent meanwhile and so does not
/// declare the peer dead.
#[test]
fn pauses_are_not_peer_deaths() {
    if !require_root("pauses_are_not_peer_deaths") {
        return;
    }
    let pair = Pair::create();
    let dir = TempDir::new("hb-pause");
    let a = Node::start(&pair.a, &dir.path, "a", &hacf(Medium::Ucast, &pair, "a"), "io_uring");
    let b = Node::start(&pair.b, &dir.path, "b", &hacf(Medium::Ucast, &pair, "b"), "epoll");
    a.wait_peer("b", NodeState::Up, Duration::from_secs(10));
    b.wait_peer("a", NodeState::Up, Duration::from_secs(10));

    // Both paused for 3 x deadtime, then resumed together.
    a.proc.signal(libc::SIGSTOP);
    b.proc.signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(3 * DEADTIME_MS));
    a.proc.signal(libc::SIGCONT);
    b.proc.signal(libc::SIGCONT);
    std::thread::sleep(Duration::from_millis(3 * DEADTIME_MS));
    for (n, peer) in [(&a, "b"), (&b, "a")] {
        let s = n.snapshot().unwrap();
        let p = s.node(peer).unwrap();
        assert_eq!(p.state, NodeState::Up, "{} declared {peer} dead after a shared pause\n{}", n.name, n.log_text());
        assert_eq!(p.links[0].downs, 0, "{}: link went down\n{}", n.name, n.log_text());
        assert!(s.stalls.count >= 1, "{} did not notice its own stall", n.name);
    }
    assert!(wait_for(Duration::from_secs(3), || a.log_text().contains("not scheduled for").then_some(())).is_some(), "{}", a.log_text());

    // a alone paused: b declares a dead (a really was silent); a, on waking, has b's queued
    // packets to process first and never declares b dead.
    a.proc.signal(libc::SIGSTOP);
    b.wait_peer("a", NodeState::Dead, Duration::from_millis(DEADTIME_MS) + MARGIN);
    std::thread::sleep(Duration::from_millis(DEADTIME_MS));
    a.proc.signal(libc::SIGCONT);
    b.wait_peer("a", NodeState::Up, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(DEADTIME_MS));
    let s = a.snapshot().unwrap();
    assert_eq!(s.node("b").unwrap().links[0].downs, 0, "a declared b dead after its own pause\n{}", a.log_text());
}

/// `hbd --check-config` validates without starting and says why with distinct exit codes.
#[test]
fn hbd_check_config_exit_codes() {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;
    let dir = TempDir::new("hb-check");
    let d = dir.path.to_str().unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_hbd")).args(["--check-config", "-c", d, "-n", "a"]).args(extra).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let (code, msg) = run(&[]);
    assert_eq!(code, Some(66), "{msg}");
    assert!(msg.contains("ha.cf"), "{msg}");
    std::fs::write(dir.path.join("ha.cf"), "keepalive 100ms\ndeadtime 200ms\nucast eth0 10.0.0.2\nnode a b\n").unwrap();
    let (code, msg) = run(&[]);
    assert_eq!(code, Some(78), "{msg}");
    assert!(msg.contains("ha.cf:2: deadtime 200ms must be more than 2 x keepalive 100ms"), "{msg}");
    std::fs::write(dir.path.join("ha.cf"), "keepalive 100ms\ndeadtime 1\nucast eth0 10.0.0.2\nnode a b\n").unwrap();
    let (code, msg) = run(&[]);
    assert_eq!(code, Some(66), "authkeys missing: {msg}");
    std::fs::write(dir.path.join("authkeys"), KEYS).unwrap();
    std::fs::set_permissions(dir.path.join("authkeys"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, msg) = run(&[]);
    assert_eq!(code, Some(78), "{msg}");
    assert!(msg.contains("mode 0644 lets others read the keys"), "{msg}");
    std::fs::set_permissions(dir.path.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, msg) = run(&[]);
    assert_eq!(code, Some(0), "{msg}");
    let (code, msg) = run(&["-n", "zz"]);
    assert_eq!(code, Some(78), "{msg}");
    assert!(msg.contains("this node \"zz\" is not listed"), "{msg}");
    let (code, _) = run(&["--frobnicate"]);
    assert_eq!(code, Some(64));
}

/// On a kernel without io_uring (here: io_uring_setup fails with ENOSYS under seccomp), the
/// default backend falls back to epoll and says why; a forced io_uring refuses to start with
/// exit status 71 and the reason.
#[test]
fn without_io_uring_auto_falls_back_to_epoll() {
    if !require_root("without_io_uring_auto_falls_back_to_epoll") {
        return;
    }
    let pair = Pair::create();
    let dir = TempDir::new("hb-nouring");
    let mut forced = Node::start_with(&pair.a, &dir.path, "a", &hacf(Medium::Ucast, &pair, "a"), "io_uring", hb_hwtest::deny_io_uring);
    let st = forced.proc.wait_exit(Duration::from_secs(10)).expect("forced io_uring exits");
    assert_eq!(st.code(), Some(71), "{}", forced.log_text());
    assert!(
        forced.log_text().contains("io_uring backend unavailable: io_uring_setup failed: Function not implemented"),
        "{}",
        forced.log_text()
    );

    let a = Node::start_with(&pair.a, &dir.path, "a", &hacf(Medium::Ucast, &pair, "a"), "auto", hb_hwtest::deny_io_uring);
    let b = Node::start(&pair.b, &dir.path, "b", &hacf(Medium::Ucast, &pair, "b"), "auto");
    a.wait_peer("b", NodeState::Up, Duration::from_secs(10));
    b.wait_peer("a", NodeState::Up, Duration::from_secs(10));
    assert_eq!(a.snapshot().unwrap().backend.name(), "epoll");
    assert_eq!(b.snapshot().unwrap().backend.name(), "io_uring");
    let logged = wait_for(Duration::from_secs(3), || a.log_text().contains("falling back to epoll").then_some(()));
    assert!(logged.is_some(), "{}", a.log_text());
}

fn watchdog_hacf(pair: &Pair, path: &Path) -> String {
    format!("{}watchdog {}\nwatchdog_timeout 1\nwatchdog_interval 200ms\n", hacf(Medium::Ucast, pair, "a"), path.display())
}

fn test_mode(cmd: &mut std::process::Command) {
    cmd.arg("--watchdog-test-mode");
}

/// hbd pets the watchdog every `watchdog_interval` from its RT loop; a clean stop disarms it
/// with the magic close and it never expires.
#[test]
fn watchdog_pets_on_schedule_and_a_clean_stop_disarms() {
    use hb_hwtest::watchdog::{Features, WatchdogEmulator};
    if !require_root("watchdog_pets_on_schedule_and_a_clean_stop_disarms") {
        return;
    }
    let emu = WatchdogEmulator::start(Features::default()).unwrap();
    let pair = Pair::create();
    let dir = TempDir::new("hb-wd-pets");
    let mut a = Node::start_with(&pair.a, &dir.path, "a", &watchdog_hacf(&pair, &emu.path()), "auto", test_mode);
    wait_for(Duration::from_secs(10), || a.snapshot()).expect("hbd running");
    std::thread::sleep(Duration::from_millis(2500));
    let s = a.snapshot().unwrap();
    assert_eq!((s.watchdog.state, s.watchdog.timeout_s), (WatchdogState::Petting, 1), "petting, timeout 1 s: {:?}", s.watchdog);
    let st = emu.state();
    assert!(st.armed && st.timeout_s == 1, "{st:?}");
    // Intervals between hbd's pets (the first two records are open and SETTIMEOUT).
    let gaps: Vec<f64> = st.pets[2..].windows(2).map(|w| (w[1] - w[0]) as f64 / 1e6).collect();
    assert!(gaps.len() >= 8, "only {} pets", gaps.len());
    let mut sorted = gaps.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let max = sorted[sorted.len() - 1];
    eprintln!("watchdog pet intervals (ms, target 200): min {:.3} median {median:.3} max {max:.3}", sorted[0]);
    assert!((150.0..=250.0).contains(&median), "{gaps:?}");
    assert!(max < 500.0, "a pet came {max} ms after the previous one: {gaps:?}");

    let exit = a.proc.terminate(Duration::from_secs(10)).expect("exits");
    assert!(exit.success(), "{}", a.log_text());
    let st = wait_for(Duration::from_secs(5), || Some(emu.state()).filter(|s| !s.open)).unwrap();
    assert!(!st.armed && st.disarmed_at.is_some(), "{st:?}\n{}", a.log_text());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(emu.state().expired_at, None);
    assert!(a.log_text().contains("disarmed (clean stop)"), "{}", a.log_text());
}

/// A hung hbd (SIGSTOP) stops petting and the watchdog expires within its timeout; a killed
/// hbd (kill -9) leaves it armed and it expires too.
#[test]
fn watchdog_expires_when_hbd_hangs_or_is_killed() {
    use hb_hwtest::watchdog::{Features, WatchdogEmulator};
    if !require_root("watchdog_expires_when_hbd_hangs_or_is_killed") {
        return;
    }
    let pair = Pair::create();
    for how in ["SIGSTOP", "kill -9"] {
        let emu = WatchdogEmulator::start(Features::default()).unwrap();
        let dir = TempDir::new("hb-wd-expire");
        let mut a = Node::start_with(&pair.a, &dir.path, "a", &watchdog_hacf(&pair, &emu.path()), "auto", test_mode);
        wait_for(Duration::from_secs(10), || a.snapshot().filter(|s| s.watchdog.pets >= 3)).expect("petting");
        let t0 = time::now();
        if how == "SIGSTOP" {
            a.proc.signal(libc::SIGSTOP);
        } else {
            a.proc.kill9();
        }
        let at = wait_for(Duration::from_secs(5), || emu.state().expired_at)
            .unwrap_or_else(|| panic!("{how}: never expired: {:?}", emu.state()));
        let after = Nanos(at).sub(t0);
        eprintln!("{how}: watchdog expired {after} after it (timeout 1 s, pet every 200 ms)");
        assert!(after <= Nanos::from_millis(1000), "{how}: expired {after} after, more than the timeout");
        let st = emu.state();
        if how == "kill -9" {
            assert!(st.closed_armed_at.is_some() && st.disarmed_at.is_none(), "{st:?}");
        }
        a.proc.signal(libc::SIGCONT);
        a.proc.kill9();
    }
}

/// Application heartbeats: a missed check-in and a recovery are events on the stream; a
/// process that goes away without unregistering is an `apphb-exited` event, and with
/// `apphb_watchdog on` hbd then stops petting the watchdog, which expires.
#[test]
fn application_heartbeats_become_events_and_can_reset_the_node() {
    use hb_core::ipc::AppHeartbeat;
    use hb_hwtest::watchdog::{Features, WatchdogEmulator};
    if !require_root("application_heartbeats_become_events_and_can_reset_the_node") {
        return;
    }
    let emu = WatchdogEmulator::start(Features::default()).unwrap();
    let pair = Pair::create();
    let dir = TempDir::new("hb-apphb");
    let conf = format!("{}apphb_watchdog on\n", watchdog_hacf(&pair, &emu.path()));
    let a = Node::start_with(&pair.a, &dir.path, "a", &conf, "auto", test_mode);
    let mut events = a.subscribe();
    let mut next = |what: &str, want: fn(&Event) -> bool| -> Event {
        wait_event(&mut events, Duration::from_secs(5), want).unwrap_or_else(|| panic!("no {what} event\n{}", a.log_text()))
    };
    let mut app = AppHeartbeat::register(&a.run, "db", Duration::from_millis(200)).unwrap();
    next("apphb-registered", |e| matches!(e, Event::ApphbRegistered { name, .. } if name == "db"));
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(100));
        app.checkin().unwrap();
    }
    // Silence: a miss, then a check-in: recovered. Meanwhile the watchdog was withheld.
    let missed = next("apphb-missed", |e| matches!(e, Event::ApphbMissed { name, .. } if name == "db"));
    assert!(matches!(missed, Event::ApphbMissed { silent_ns, .. } if silent_ns > Nanos::from_millis(200)), "{missed:?}");
    app.checkin().unwrap();
    next("apphb-recovered", |e| matches!(e, Event::ApphbRecovered { name, .. } if name == "db"));
    assert!(
        wait_for(Duration::from_secs(2), || a.snapshot().filter(|s| s.watchdog.state == WatchdogState::Petting)).is_some(),
        "petting again"
    );
    // The application dies without unregistering.
    let died = time::now();
    drop(app);
    next("apphb-exited", |e| matches!(e, Event::ApphbExited { name, .. } if name == "db"));
    assert!(
        wait_for(Duration::from_secs(2), || a.snapshot().filter(|s| s.watchdog.state == WatchdogState::Withholding)).is_some(),
        "watchdog withheld"
    );
    let at = wait_for(Duration::from_secs(5), || emu.state().expired_at).expect("the watchdog expires");
    eprintln!("application exit to watchdog expiry: {}", Nanos(at).sub(died));
    assert!(
        wait_for(Duration::from_secs(3), || a
            .log_text()
            .contains("no longer petting the watchdog: an application heartbeat failed")
            .then_some(()))
        .is_some(),
        "{}",
        a.log_text()
    );
}

/// Ping pseudo-members: b's namespace answers ICMP echo as a router would. They come up, die
/// when a's cable is cut, and come back when it is mended — on the event stream, the status
/// page and `hbctl nodes`. A `ping_group` lives while any member answers.
#[test]
fn ping_nodes_go_down_and_come_back() {
    if !require_root("ping_nodes_go_down_and_come_back") {
        return;
    }
    let pair = Pair::create();
    let dir = TempDir::new("hb-ping");
    let pings = format!("ping {B4}\nping6 {B6}\nping_group gateways 10.77.0.99 {B4}\ndeadping 300ms\n");
    let a = Node::start(&pair.a, &dir.path, "a", &format!("{}{pings}", hacf(Medium::Ucast, &pair, "a")), "io_uring");
    let _b = Node::start(&pair.b, &dir.path, "b", &hacf(Medium::Ucast, &pair, "b"), "epoll");
    let ping_state = |name: &str| a.snapshot().and_then(|s| s.node(name).map(|n| (n.is_ping(), n.state)));
    for name in [B4, B6, "gateways"] {
        let up = wait_for(Duration::from_secs(10), || (ping_state(name) == Some((true, NodeState::Up))).then_some(()));
        assert!(up.is_some(), "ping node {name}: {:?}\n{}", ping_state(name), a.log_text());
    }
    let n = a.snapshot().unwrap();
    let b4 = n.node(B4).unwrap();
    assert!(b4.ping_replies > 0 && b4.ping_rtt > Nanos::ZERO && b4.links.is_empty(), "{b4:?}");
    assert_eq!(n.node("b").map(|p| p.is_ping()), Some(false));
    let hbctl = Path::new(env!("CARGO_BIN_EXE_hbd")).with_file_name("hbctl");
    let nodes_text = || {
        let out = std::process::Command::new(&hbctl).args(["--run-dir", a.run.to_str().unwrap(), "nodes"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let check_hbctl = hbctl.exists();
    if !check_hbctl {
        assert!(std::env::var_os("CI").is_none(), "{} missing: CI builds the whole workspace", hbctl.display());
        eprintln!("{} not built: skipping the hbctl checks", hbctl.display());
    }
    if check_hbctl {
        let t = nodes_text();
        assert!(t.contains("PING NODE") && t.lines().any(|l| l.starts_with("gateways") && l.contains(" up ")), "{t}");
    }

    let mut events = a.subscribe();
    pair.cut();
    let mut dead: Vec<String> = Vec::new();
    while dead.len() < 3 {
        match wait_event(&mut events, Duration::from_secs(5), |e| matches!(e, Event::PingDead { .. })) {
            Some(Event::PingDead { node, .. }) => dead.push(node),
            _ => panic!("ping-dead events so far: {dead:?}\n{}", a.log_text()),
        }
    }
    dead.sort();
    assert_eq!(dead, vec![B4.to_string(), B6.to_string(), "gateways".to_string()]);
    assert_eq!(ping_state("gateways"), Some((true, NodeState::Dead)));
    if check_hbctl {
        let t = nodes_text();
        assert!(t.lines().any(|l| l.starts_with("gateways") && l.contains(" dead ")), "{t}");
    }
    pair.mend();
    let mut up: Vec<String> = Vec::new();
    while up.len() < 3 {
        match wait_event(&mut events, Duration::from_secs(10), |e| matches!(e, Event::PingUp { .. })) {
            Some(Event::PingUp { node, .. }) => up.push(node),
            _ => panic!("ping-up events so far: {up:?}\n{}", a.log_text()),
        }
    }
    up.sort();
    assert_eq!(up, vec![B4.to_string(), B6.to_string(), "gateways".to_string()]);
    assert!(a.log_text().contains("ping node gateways is dead (no answer for"), "{}", a.log_text());
}

/// A bad network on a's side: 10 % loss, 20 % duplicates, 2 % corrupted packets (and 5 ms of
/// delay where the kernel has `tc netem`; this project's VMs do not, so there the impairment is
/// nftables rules on the netdev egress hook), over ucast and raw Ethernet at once. b keeps a
/// alive (losing six heartbeats in a row at ~12 % takes millions of tries), counts the
/// duplicates as replays, and reports the loss.
#[test]
fn a_bad_network_is_survived_and_measured() {
    if !require_root("a_bad_network_is_survived_and_measured") {
        return;
    }
    let pair = Pair::create();
    let dir = TempDir::new("hb-impair");
    let both = |dev: &str| format!("{}rx_wakeup on\nucast {dev} {A4}\nucast {dev} {B4}\nraw {dev}\nnode a b\n", timing());
    let mut a = Node::start(&pair.a, &dir.path, "a", &both(&pair.a_if), "io_uring");
    let mut b = Node::start(&pair.b, &dir.path, "b", &both(&pair.b_if), "epoll");
    a.wait_peer("b", NodeState::Up, Duration::from_secs(10));
    b.wait_peer("a", NodeState::Up, Duration::from_secs(10));
    let mut events = b.subscribe();
    let delay = hb_hwtest::netem_available().then_some((Duration::from_millis(5), Duration::from_millis(1)));
    let how = pair
        .impair(&hb_hwtest::Impairment { loss_pct: 10.0, duplicate_pct: 20.0, corrupt_pct: 2.0, delay })
        .unwrap_or_else(|e| panic!("impairing the link: {e}"));
    eprintln!("impairment: {how}");
    std::thread::sleep(Duration::from_secs(6));
    assert!(
        wait_event(&mut events, Duration::from_millis(100), |e| matches!(e, Event::NodeDead { .. })).is_none(),
        "a false death\n{}",
        b.log_text()
    );
    let s = b.snapshot().unwrap();
    let from_a = s.node("a").unwrap();
    assert_eq!(from_a.state, NodeState::Up);
    for (l, link) in s.links.iter().enumerate() {
        let p = &from_a.links[l];
        let c = &link.counters;
        assert!(c.rejects[Reject::Replay as usize] > 5, "{}: duplicates are replays: {c:?}", link.name);
        // 10 % lost and the corrupted ones dropped, from a start that was clean.
        assert!(p.loss_ppm > 20_000 && p.loss_ppm < 300_000, "{}: loss {} ppm ({p:?})", link.name, p.loss_ppm);
    }
    if delay.is_some() {
        let rtt = a.snapshot().unwrap().node("b").unwrap().links[0].rtt;
        assert!(rtt.p99.0 >= 4_000_000, "a's RTT p99 {:?} includes the 5 ms delay", rtt.p99);
    }
    assert!(a.proc.alive() && b.proc.alive());
}

/// An idle node runs only its real-time thread: the log thread sleeps until a record is
/// pushed, the IPC thread until a client or an application heartbeat needs it, the main
/// thread until a signal, the serial-port keeper until a port goes away. Counted from the scheduler's own per-thread run counts (schedstat)
/// over four quiet seconds; a helper that polled, even once a second, would show.
#[test]
fn an_idle_node_wakes_only_its_rt_thread() {
    if !require_root("an_idle_node_wakes_only_its_rt_thread") {
        return;
    }
    let pair = Pair::create();
    let dir = TempDir::new("hb-idle");
    // Broadcast and a null-modem cable: the serial-port keeper thread must sleep too.
    let cable = hb_hwtest::nullmodem::SerialCable::new(115_200);
    let with_serial = |me: &str, port: &Path| {
        hacf(Medium::Bcast, &pair, me).replace("node a b\n", &format!("baud 115200\nserial {}\nnode a b\n", port.display()))
    };
    let a = Node::start(&pair.a, &dir.path, "a", &with_serial("a", &cable.end_a()), "auto");
    let b = Node::start(&pair.b, &dir.path, "b", &with_serial("b", &cable.end_b()), "auto");
    a.wait_peer("b", NodeState::Up, Duration::from_secs(10));
    b.wait_peer("a", NodeState::Up, Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(1)); // the start-up lines are written
    let pid = a.snapshot().unwrap().pid;
    let lines = || a.log_text().lines().count() as u64;
    let (lines0, t0) = (lines(), threads_cpu(pid).expect("schedstat"));
    std::thread::sleep(Duration::from_secs(4));
    let (lines1, t1) = (lines(), threads_cpu(pid).expect("schedstat"));
    let runs = |name: &str| {
        let of = |v: &[ThreadCpu]| v.iter().find(|t| t.name == name).map(|t| t.slices);
        of(&t1).unwrap_or_else(|| panic!("no thread {name}: {t1:?}")) - of(&t0).unwrap_or(0)
    };
    // keepalive 50 ms: about 80 ticks; the bound only shows the count is real.
    assert!(runs("hbd-rt") >= 20, "{t0:?} -> {t1:?}");
    // Every line written may take one wake-up of the log thread (a slow machine may log
    // a late heartbeat); none is owed otherwise.
    let written = lines1 - lines0;
    assert!(runs("hbd-log") <= written + 2, "the log thread ran {} times for {written} lines: {t0:?} -> {t1:?}", runs("hbd-log"));
    assert_eq!(a.snapshot().unwrap().links.len(), 2, "bcast and serial");
    for name in ["hbd-ipc", "hbd", "hbd-ports"] {
        assert!(runs(name) <= 2, "{name} ran {} times while idle: {t0:?} -> {t1:?}", runs(name));
    }
}
