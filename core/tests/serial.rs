//! `hbd` over a serial null-modem cable: the cable emulator of hb-hwtest at 115200 baud (or a
//! real looped cable named in `HB_HWTEST_SERIAL`).
//!
//! - Serial only, both backends: the nodes see each other; `kill -9` of one is detected.
//! - A port unplugged (a USB adapter pulled) is reported and reopened when it returns, with
//!   no restart; a port in use stops start-up, naming its holder.
//! - Two links (ucast over veth, and serial): cutting either gives a `link-dead` event while
//!   the node stays up; cutting both makes it dead; restoring brings it back, no restart.
//! - Noise: bit flips in 1 % of the bytes plus bursts of garbage: bad frames are counted,
//!   good ones still get through, nothing dies and nothing crashes.
//!
//! Deadlines are generous on purpose (behaviour, not speed: `hb-bench` measures speed).

// Tests keep time with std (core/clippy.toml forbids it in hbd itself).
#![allow(clippy::disallowed_methods)]

use hb_core::liveness::NodeState;
use hb_core::time::{self, Nanos};
use hb_core::wire::Reject;
use hb_hwtest::nullmodem::SerialCable;
use hb_hwtest::{require_root, wait_for, Pair, TempDir, A4, B4};
use std::path::Path;
use std::time::Duration;

mod common;
use common::{wait_dead_event, wait_event, Node};
use hb_core::ipc::proto::Event;

const BAUD: u32 = 115200;
const MARGIN: Duration = Duration::from_millis(1500);

fn serial_hacf(port: &Path, keepalive_ms: u64, deadtime_ms: u64, more: &str) -> String {
    format!(
        "keepalive {keepalive_ms}ms\nwarntime {}ms\ndeadtime {deadtime_ms}ms\ninitdead 10\nbaud {BAUD}\nserial {}\n{more}node a b\n",
        deadtime_ms / 2,
        port.display()
    )
}

fn serial_only(backend: &str) {
    let cable = SerialCable::new(BAUD);
    let dir = TempDir::new("hb-serial");
    let a = Node::start_on_host(&dir.path, "a", &serial_hacf(&cable.end_a(), 20, 200, ""), backend);
    let mut b = Node::start_on_host(&dir.path, "b", &serial_hacf(&cable.end_b(), 20, 200, ""), backend);
    a.wait_peer("b", NodeState::Up, Duration::from_secs(10));
    b.wait_peer("a", NodeState::Up, Duration::from_secs(10));
    let s = a.snapshot().unwrap();
    assert_eq!(s.links.len(), 1);
    assert_eq!(s.links[0].name, format!("serial {}", cable.end_a().display()));
    assert!(a.log_text().contains("at 115200 baud, 8N1, raw"), "{}", a.log_text());
    let rtt = wait_for(Duration::from_secs(5), || {
        let s = a.snapshot()?;
        (s.nodes[0].links[0].rtt.samples > 10 && s.nodes[0].links[0].rtt.p50.0 > 0).then(|| s.nodes[0].links[0].rtt)
    });
    // A round trip is at least two 9.2 ms frames on the line (the echo rides the reply).
    let rtt = rtt.unwrap_or_else(|| panic!("no RTT over serial: {:?}", a.snapshot().map(|s| s.nodes)));
    assert!(rtt.min.0 > 15_000_000, "RTT min {:?} is faster than the line", rtt.min);
    // The median and p99 come from hbd's histogram (2 significant digits: within 1 % of a sample).
    let (min, max, p50, p99) = (rtt.min.0, rtt.max.0, rtt.p50.0, rtt.p99.0);
    assert!(p50 * 100 >= min * 99 && p50 <= p99 && p99 * 100 <= max * 101, "rtt {rtt:?}");

    let mut events = a.subscribe();
    let killed = time::now();
    b.proc.kill9();
    let at = wait_dead_event(&mut events, "b", Duration::from_secs(10)).unwrap_or_else(|| panic!("no node-dead event\n{}", a.log_text()));
    let took = Nanos(at).sub(killed);
    assert!(took <= Nanos::from_millis(200).add(Nanos(MARGIN.as_nanos() as u64)), "detection took {took}");
    let s = a.snapshot().unwrap();
    assert_eq!(s.links[0].counters.rejected(), 0, "a clean line: {:?}", s.links[0]);
}

#[test]
fn serial_only_io_uring() {
    serial_only("io_uring");
}

#[test]
fn serial_only_epoll() {
    serial_only("epoll");
}

#[test]
fn a_port_in_use_is_refused_naming_its_holder() {
    let cable = SerialCable::new(BAUD);
    let dir = TempDir::new("hb-serial-busy");
    let a = Node::start_on_host(&dir.path, "a", &serial_hacf(&cable.end_a(), 20, 200, ""), "auto");
    if wait_for(Duration::from_secs(10), || a.snapshot()).is_none() {
        panic!("a did not publish its status page within 10 s\nlog:\n{}", a.log_text());
    }
    let mut second = Node::start_on_host(&dir.path, "b", &serial_hacf(&cable.end_a(), 20, 200, ""), "auto");
    let status = second.proc.wait_exit(Duration::from_secs(10)).expect("the second hbd exits");
    assert!(!status.success());
    let log = second.log_text();
    let pid = a.proc.pid();
    assert!(log.contains(&format!("is in use by pid {pid} (hbd)")), "{log}");
}

#[test]
fn an_unplugged_port_is_reopened_when_it_returns() {
    let cable = SerialCable::new(BAUD);
    let Some(emu) = cable.emulator() else {
        return eprintln!("skipping: unplugging needs the emulator (unset HB_HWTEST_SERIAL)");
    };
    let dir = TempDir::new("hb-serial-unplug");
    let a = Node::start_on_host(&dir.path, "a", &serial_hacf(&cable.end_a(), 20, 200, ""), "io_uring");
    let b = Node::start_on_host(&dir.path, "b", &serial_hacf(&cable.end_b(), 20, 200, ""), "epoll");
    a.wait_peer("b", NodeState::Up, Duration::from_secs(10));
    b.wait_peer("a", NodeState::Up, Duration::from_secs(10));
    let (pid_a, pid_b) = (a.snapshot().unwrap().pid, b.snapshot().unwrap().pid);
    let mut events = a.subscribe();

    // a's adapter is pulled out: a's port hangs up, and each node loses the other.
    emu.unplug(true);
    wait_dead_event(&mut events, "b", Duration::from_secs(5)).unwrap_or_else(|| panic!("no node-dead\n{}", a.log_text()));
    b.wait_peer("a", NodeState::Dead, Duration::from_secs(5));
    let gone = wait_for(Duration::from_secs(3), || a.log_text().contains("the port is gone").then_some(()));
    assert!(gone.is_some(), "{}", a.log_text());
    std::thread::sleep(Duration::from_millis(500)); // a few failed reopen attempts

    // Plugged back in: a reopens it by itself, and both nodes see each other again.
    emu.plug_in(true);
    a.wait_peer("b", NodeState::Up, Duration::from_secs(10));
    b.wait_peer("a", NodeState::Up, Duration::from_secs(10));
    assert_eq!((a.snapshot().unwrap().pid, b.snapshot().unwrap().pid), (pid_a, pid_b), "no restart");
    let log = a.log_text();
    assert!(log.contains("cannot reopen it yet") && log.contains("is back: reopened at 115200 baud"), "{log}");
    assert!(log.contains("the port is back; heartbeats resume"), "{log}");

    // The same on b, whose loop runs on epoll.
    emu.unplug(false);
    b.wait_peer("a", NodeState::Dead, Duration::from_secs(5));
    emu.plug_in(false);
    b.wait_peer("a", NodeState::Up, Duration::from_secs(10));
    a.wait_peer("b", NodeState::Up, Duration::from_secs(10));
    assert_eq!(b.snapshot().unwrap().pid, pid_b, "no restart");
    assert!(b.log_text().contains("the port is back; heartbeats resume"), "{}", b.log_text());
}

#[test]
fn ucast_and_serial_links_fail_over_and_back() {
    if !require_root("ucast_and_serial_links_fail_over_and_back") {
        return;
    }
    let cable = SerialCable::new(BAUD);
    let Some(emu) = cable.emulator() else {
        return eprintln!("skipping: cutting a real cable needs the emulator (unset HB_HWTEST_SERIAL)");
    };
    let pair = Pair::create();
    let dir = TempDir::new("hb-serial-ucast");
    let udp = |dev: &str| format!("udpport 6950\nrx_wakeup on\nucast {dev} {A4}\nucast {dev} {B4}\n");
    let a = Node::start(&pair.a, &dir.path, "a", &serial_hacf(&cable.end_a(), 20, 300, &udp(&pair.a_if)), "io_uring");
    let b = Node::start(&pair.b, &dir.path, "b", &serial_hacf(&cable.end_b(), 20, 300, &udp(&pair.b_if)), "epoll");
    let both_up = |n: &Node| {
        wait_for(Duration::from_secs(10), || {
            let s = n.snapshot()?;
            let p = &s.nodes[0];
            (p.state == NodeState::Up && p.links.iter().all(|l| l.state == hb_core::liveness::LinkState::Up)).then_some(())
        })
        .unwrap_or_else(|| panic!("{}: not every link up: {:?}\n{}", n.name, n.snapshot().map(|s| s.nodes), n.log_text()))
    };
    both_up(&a);
    both_up(&b);
    let pid_b = b.snapshot().unwrap().pid;
    let mut events = a.subscribe();
    let serial_name = format!("serial {}", cable.end_a().display());

    // The serial cable is cut: a link event, and b stays up on ucast.
    emu.cut();
    wait_event(&mut events, Duration::from_secs(5), |e| matches!(e, Event::LinkDead { link, .. } if *link == serial_name))
        .unwrap_or_else(|| panic!("no link-dead for the serial link\n{}", a.log_text()));
    assert_eq!(a.peer_state("b"), Some(NodeState::Up));
    emu.restore();
    wait_event(&mut events, Duration::from_secs(5), |e| matches!(e, Event::LinkUp { link, .. } if *link == serial_name))
        .unwrap_or_else(|| panic!("no link-up for the serial link\n{}", a.log_text()));

    // The Ethernet is cut: b stays up on serial alone.
    pair.cut();
    wait_event(&mut events, Duration::from_secs(5), |e| matches!(e, Event::LinkDead { link, .. } if link.starts_with("ucast")))
        .unwrap_or_else(|| panic!("no link-dead for the ucast link\n{}", a.log_text()));
    assert_eq!(a.peer_state("b"), Some(NodeState::Up));

    // Both cut: b is dead.
    emu.cut();
    wait_dead_event(&mut events, "b", Duration::from_secs(5)).unwrap_or_else(|| panic!("no node-dead\n{}", a.log_text()));

    // Both restored: b is back, the same process.
    emu.restore();
    pair.mend();
    both_up(&a);
    both_up(&b);
    assert_eq!(b.snapshot().unwrap().pid, pid_b, "no restart");
}

#[test]
fn noise_on_the_line_is_counted_and_harmless() {
    let cable = SerialCable::new(BAUD);
    let Some(emu) = cable.emulator() else {
        return eprintln!("skipping: injecting noise needs the emulator (unset HB_HWTEST_SERIAL)");
    };
    // 1 % of bytes hit loses about 66 % of 106-byte frames (0.99^106 = 0.34 get through).
    // deadtime is 40 heartbeats, so a false death would need 40 lost in a row: 0.66^40 ≈ 6e-8.
    // keepalive 20 ms, not 10: a framed heartbeat takes 9.4 ms of line time at 115200 baud,
    // so at 10 ms the line (plus the injected garbage) ran at about 98 % of its capacity, and
    // on a loaded machine the emulated line's queue grew until heartbeats arrived more than
    // deadtime late: their echoes were stale, and b was declared dead while frames still flowed.
    let dir = TempDir::new("hb-serial-noise");
    let mut a = Node::start_on_host(&dir.path, "a", &serial_hacf(&cable.end_a(), 20, 800, ""), "io_uring");
    let mut b = Node::start_on_host(&dir.path, "b", &serial_hacf(&cable.end_b(), 20, 800, ""), "epoll");
    a.wait_peer("b", NodeState::Up, Duration::from_secs(10));
    b.wait_peer("a", NodeState::Up, Duration::from_secs(10));
    let mut events = a.subscribe();
    emu.set_noise(0.01, 0.0);
    let garbage: Vec<u8> = (0..200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(250));
        emu.inject(true, &garbage[..37]);
        emu.inject(false, &garbage[100..]);
    }
    emu.set_noise(0.0, 0.0);
    assert!(
        wait_event(&mut events, Duration::from_millis(200), |e| matches!(e, Event::NodeDead { .. })).is_none(),
        "a false death\n{}\nlink counters: {:?}",
        a.log_text(),
        a.snapshot().map(|s| s.links[0].counters)
    );
    for n in [&a, &b] {
        let s = n.snapshot().unwrap();
        let c = &s.links[0].counters;
        assert_eq!(s.nodes[0].state, NodeState::Up, "{}", n.name);
        assert!(c.rejects[Reject::BadFrame as usize] > 50, "{}: bad frames counted: {c:?}", n.name);
        assert!(c.rx_ok > 50, "{}: good frames still get through: {c:?}", n.name);
        assert_eq!(c.rejects[Reject::BadMac as usize], 0, "the CRC catches noise before the MAC: {c:?}");
    }
    assert!(emu.stats().flipped[0].load(std::sync::atomic::Ordering::Relaxed) > 100);
    assert!(a.proc.alive() && b.proc.alive(), "no crash");
    assert!(a.log_text().contains("bad frames on this link so far"), "{}", a.log_text());
}
