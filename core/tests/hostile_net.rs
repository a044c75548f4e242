//! Attacks from another host on the segment (issue 14), made from a third address on the
//! veth pair between two real nodes in namespaces: forged and replayed packets must neither
//! make a dead peer look alive nor lock a live one out. Root only (namespaces); CI runs them.

// Tests keep time with std (core/clippy.toml forbids it in hbd itself).
#![allow(clippy::disallowed_methods)]

mod common;

use common::{wait_event, Node, KEYS};
use hb_core::auth::{parse_authkeys, Keyring};
use hb_core::engine::{Engine, EngineConfig};
use hb_core::ipc::proto::Event;
use hb_core::liveness::{NodeState, Timing};
use hb_core::time::{self, Nanos};
use hb_core::wire::{Reject, MAX_HEARTBEAT};
use hb_hwtest::flood::{send_frames, udp_frame};
use hb_hwtest::{require_root, udp_socket_in, wait_for, Pair, TempDir, A4, B4};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

const PORT: u16 = 6950;
/// The attacker's own address on the segment.
const EVIL: &str = "10.77.0.3";

fn hacf(dev: &str) -> String {
    format!("keepalive 20ms\nwarntime 100ms\ndeadtime 200ms\ninitdead 3\nudpport {PORT}\nucast {dev} {A4}\nucast {dev} {B4}\nnode a b\n")
}

/// A socket at a third address on b's side of the segment.
fn attacker(pair: &Pair) -> UdpSocket {
    pair.b.ip(&["addr", "add", &format!("{EVIL}/24"), "dev", &pair.b_if]);
    // The address needs its duplicate-address check on IPv6 only; IPv4 binds at once.
    udp_socket_in(&pair.b, format!("{EVIL}:0").parse().unwrap()).expect("attacker socket")
}

/// Sends `payload` to a as b: from b's address and port, through a packet socket on b's side
/// of the segment — a third host that a's socket filter cannot tell from b.
fn send_as_b(pair: &Pair, payload: &[u8]) {
    let a_mac = Pair::mac(&pair.a, &pair.a_if);
    let frame = udp_frame(a_mac, (B4.parse().unwrap(), PORT), (A4.parse().unwrap(), PORT), payload);
    send_frames(&pair.b, &pair.b_if, &[frame], Duration::ZERO).expect("a packet socket on b's side");
}

/// The kernel's count of datagrams dropped on a's first link (its socket filter).
fn kernel_dropped(n: &Node) -> u64 {
    n.snapshot().map_or(0, |s| s.links[0].counters.kernel_dropped)
}

/// A heartbeat claiming to come from `from` (to `to`), signed with `keys`, as its sender
/// would build it in generation `generation` — a forgery where the keys are weak, or a
/// packet captured from an earlier life of the sender.
fn packet(keys: &str, from: &str, to: &str, generation: u64) -> Vec<u8> {
    let timing = Timing {
        keepalive: Nanos::from_millis(20),
        warntime: Nanos::from_millis(100),
        deadtime: Nanos::from_millis(200),
        initdead: Nanos::from_millis(3000),
        stall_threshold: Nanos::from_millis(10),
    };
    let keys = Keyring::new(&parse_authkeys(keys, Path::new("authkeys")).unwrap());
    let cfg =
        EngineConfig { cluster: "linux-ha".into(), self_name: from.into(), peers: vec![to.into()], links: 1, timing, keys, generation };
    let mut e = Engine::new(cfg, time::now());
    let mut out = [0u8; MAX_HEARTBEAT];
    let n = e.build_heartbeat(0, time::now(), &mut out);
    out[..n].to_vec()
}

fn rejects(n: &Node, why: Reject) -> u64 {
    n.snapshot().map_or(0, |s| s.links.iter().map(|l| l.counters.rejects[why as usize]).sum())
}

#[test]
fn a_forged_crc_packet_with_a_huge_generation_neither_restarts_nor_locks_out_the_peer() {
    if !require_root("a_forged_crc_packet_with_a_huge_generation_neither_restarts_nor_locks_out_the_peer") {
        return;
    }
    let crc = "auth 1\n1 crc\n";
    let pair = Pair::create();
    let dir = TempDir::new("hb-crc-lockout");
    let a = Node::start_with_keys(&pair.a, &dir.path, "a", &hacf(&pair.a_if), crc);
    let b = Node::start_with_keys(&pair.b, &dir.path, "b", &hacf(&pair.b_if), crc);
    a.wait_peer("b", NodeState::Up, Duration::from_secs(10));
    let generation = a.snapshot().unwrap().node("b").unwrap().generation;
    // crc is called what it is: at start-up and on the status page.
    assert!(a.log_text().contains("is crc, a checksum and no authentication at all"), "{}", a.log_text());
    assert!(a.snapshot().unwrap().auth.crc);

    let mut events = a.subscribe();
    let forged = packet(crc, "b", "a", u64::MAX);
    // From the attacker's own address, the socket filter drops them in the kernel.
    let evil = attacker(&pair);
    let to: SocketAddr = format!("{A4}:{PORT}").parse().unwrap();
    for _ in 0..20 {
        evil.send_to(&forged, to).unwrap();
    }
    let filtered = wait_for(Duration::from_secs(5), || (kernel_dropped(&a) >= 20).then_some(()));
    assert!(filtered.is_some(), "{:?}", a.snapshot().map(|s| s.links));
    // Claiming b's address and port too, they reach hbd, which refuses them.
    for _ in 0..20 {
        send_as_b(&pair, &forged);
        std::thread::sleep(Duration::from_millis(10));
    }
    let counted = wait_for(Duration::from_secs(5), || (rejects(&a, Reject::FutureGeneration) >= 20).then_some(()));
    assert!(counted.is_some(), "forgeries not counted as future-generation: {:?}", a.snapshot().map(|s| s.links));
    // b stays up, in its own generation, and nothing restarted or died.
    std::thread::sleep(Duration::from_millis(500));
    let s = a.snapshot().unwrap();
    assert_eq!((s.node("b").unwrap().state, s.node("b").unwrap().generation), (NodeState::Up, generation));
    let bad = wait_event(&mut events, Duration::from_millis(200), |e| matches!(e, Event::NodeRestarted { .. } | Event::NodeDead { .. }));
    assert!(bad.is_none(), "{bad:?}\n{}", a.log_text());
    drop(b);
}

#[test]
fn an_older_generation_replayed_after_the_receiver_restarts_is_refused() {
    if !require_root("an_older_generation_replayed_after_the_receiver_restarts_is_refused") {
        return;
    }
    let pair = Pair::create();
    let dir = TempDir::new("hb-replay-restart");
    let a = Node::start(&pair.a, &dir.path, "a", &hacf(&pair.a_if), "auto");
    let mut b = Node::start(&pair.b, &dir.path, "b", &hacf(&pair.b_if), "auto");
    a.wait_peer("b", NodeState::Up, Duration::from_secs(10));
    let generation = a.snapshot().unwrap().node("b").unwrap().generation;
    // a remembers b's generation in its state directory.
    let peers = dir.path.join("a").join("state").join(hb_core::state::PEERS_FILE);
    let remembered =
        wait_for(Duration::from_secs(5), || std::fs::read_to_string(&peers).ok().filter(|t| t.contains(&format!("b {generation}"))));
    assert!(remembered.is_some(), "{:?}", std::fs::read_to_string(&peers));

    // b dies; a restarts; an attacker replays heartbeats b sent in an earlier life.
    b.proc.kill9();
    drop(a);
    let a = Node::start(&pair.a, &dir.path, "a", &hacf(&pair.a_if), "auto");
    wait_for(Duration::from_secs(10), || a.snapshot()).expect("a's page");
    let old = packet(KEYS, "b", "a", generation - 1);
    for _ in 0..50 {
        send_as_b(&pair, &old);
        std::thread::sleep(Duration::from_millis(20));
        assert_ne!(a.peer_state("b"), Some(NodeState::Up), "a replay from an older generation brought b up\n{}", a.log_text());
    }
    assert!(rejects(&a, Reject::OldGeneration) >= 40, "{:?}", a.snapshot().map(|s| s.links));
}

/// Finding 3 exactly as reproduced: forty sha256 heartbeats b really sent (captured on the
/// segment), replayed after b was killed and a restarted, from b's own address and port. They
/// are b's current generation and a's replay window is new, but they echo timestamps of a's
/// earlier life: stale, counted, and b never comes back.
#[test]
fn a_captured_replay_of_the_current_generation_after_the_receiver_restarts_proves_nothing() {
    use hb_hwtest::flood::{build_frame, capture_udp, send_frames, FloodPayload, FloodSpec};
    if !require_root("a_captured_replay_of_the_current_generation_after_the_receiver_restarts_proves_nothing") {
        return;
    }
    let pair = Pair::create();
    let dir = TempDir::new("hb-replay-fresh");
    let a = Node::start(&pair.a, &dir.path, "a", &hacf(&pair.a_if), "auto");
    let mut b = Node::start(&pair.b, &dir.path, "b", &hacf(&pair.b_if), "auto");
    a.wait_peer("b", NodeState::Up, Duration::from_secs(10));
    let (a4, b4) = (A4.parse().unwrap(), B4.parse().unwrap());
    let captured = capture_udp(&pair.a, &pair.a_if, b4, PORT, 40, Duration::from_secs(10)).expect("capture");
    assert_eq!(captured.len(), 40, "captured only {}", captured.len());

    // b dies; a restarts with the same state directory; the capture is replayed at b's pace.
    b.proc.kill9();
    a.wait_peer("b", NodeState::Dead, Duration::from_secs(5));
    drop(a);
    let a = Node::start(&pair.a, &dir.path, "a", &hacf(&pair.a_if), "auto");
    wait_for(Duration::from_secs(10), || a.snapshot()).expect("a's page");
    let dst_mac = Pair::mac(&pair.a, &pair.a_if);
    let frames: Vec<Vec<u8>> = captured
        .iter()
        .map(|p| {
            let what = FloodPayload::Udp { src: (b4, PORT), dst: (a4, PORT), data: p.clone() };
            build_frame(&FloodSpec { dev: pair.b_if.clone(), dst_mac, src_mac: [2, 0xee, 0x77, 0, 0, 3], what, rate: 0 })
        })
        .collect();
    std::thread::scope(|s| {
        let replay = s.spawn(|| send_frames(&pair.b, &pair.b_if, &frames, Duration::from_millis(20)));
        while !replay.is_finished() {
            assert_ne!(a.peer_state("b"), Some(NodeState::Up), "a replay brought b up\n{}", a.log_text());
            std::thread::sleep(Duration::from_millis(5));
        }
        replay.join().unwrap().expect("replay");
    });
    std::thread::sleep(Duration::from_millis(100));
    assert_ne!(a.peer_state("b"), Some(NodeState::Up));
    assert!(rejects(&a, Reject::Stale) >= 35, "{:?}", a.snapshot().map(|s| s.links));
    assert!(a.log_text().contains("(stale)"), "{}", a.log_text());
}

/// The Internet checksum (RFC 1071).
fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMPv4 echo reply with this identifier, sequence number and payload.
fn echo_reply(ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8, 0, 0, 0];
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    let c = checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// An attacker at the pinged address itself (whose kernel no longer answers) reads a's echo
/// requests and answers with replies a never asked for (sequence numbers not sent) and with
/// stale ones (requests older than deadping, answered late): the ping node dies anyway.
#[test]
fn spoofed_ping_replies_do_not_keep_a_dead_ping_node_up() {
    if !require_root("spoofed_ping_replies_do_not_keep_a_dead_ping_node_up") {
        return;
    }
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let pair = Pair::create();
    let dir = TempDir::new("hb-ping-spoof");
    let conf = format!("{}ping {B4}\ndeadping 300ms\n", hacf(&pair.a_if));
    // b's kernel stops answering pings: the router is dead.
    pair.b.exec(&["sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1"]);
    let a = Node::start(&pair.a, &dir.path, "a", &conf, "auto");
    let sock = hb_hwtest::in_netns(&pair.b, || Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))).unwrap().unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let to = SockAddr::from(format!("{A4}:0").parse::<SocketAddr>().unwrap());
    let mut seen: Vec<(std::time::Instant, u16, u16, Vec<u8>)> = Vec::new();
    let mut forged = 0;
    let start = std::time::Instant::now();
    let mut buf = [0u8; 1500];
    while start.elapsed() < Duration::from_secs(5) {
        if let Ok(n) = std::io::Read::read(&mut &sock, &mut buf) {
            let pkt = &buf[..n];
            let ihl = usize::from(pkt[0] & 0x0f) * 4;
            let icmp = &pkt[ihl..];
            if icmp.len() >= 8 && icmp[0] == 8 {
                let (ident, seq) = (u16::from_be_bytes([icmp[4], icmp[5]]), u16::from_be_bytes([icmp[6], icmp[7]]));
                // A reply to an echo never sent.
                sock.send_to(&echo_reply(ident, seq.wrapping_add(1000), &icmp[8..]), &to).unwrap();
                forged += 1;
                seen.push((std::time::Instant::now(), ident, seq, icmp[8..].to_vec()));
            }
        }
        // Late answers to requests older than deadping.
        while seen.first().is_some_and(|(t, ..)| t.elapsed() > Duration::from_millis(400)) {
            let (_, ident, seq, payload) = seen.remove(0);
            sock.send_to(&echo_reply(ident, seq, &payload), &to).unwrap();
            forged += 1;
        }
        assert_ne!(
            a.snapshot().and_then(|s| s.node(B4).map(|n| n.state)),
            Some(NodeState::Up),
            "spoofed replies brought the ping node up\n{}",
            a.log_text()
        );
    }
    let s = a.snapshot().unwrap();
    assert!(forged > 100, "the attacker saw a's echo requests: {forged}");
    assert_eq!(s.node(B4).map(|n| n.state), Some(NodeState::Dead), "{:?}", s.node(B4));
    assert!(s.ping_rejected > 50, "spoofed replies not counted: {}", s.ping_rejected);
}
