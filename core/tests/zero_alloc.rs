//! The RT thread allocates nothing once its loop runs.
//!
//! A counting global allocator counts allocations made on threads that marked themselves —
//! and the daemon's RT thread marks itself through `Options::rt_hook`, called just before its
//! loop starts. Two daemons run in this process, joined by ucast on loopback (one io_uring
//! draining on ticks, one epoll woken by received packets) and by a serial cable (the null-modem
//! emulator at 460800 baud, with garbage injected once), at a 3 ms keepalive for thousands of
//! heartbeats: receive, framing, RTT echoes, bad frames, raw Ethernet frames on lo and ICMP
//! echoes to a ping node (both as root), status page publishing, event and log
//! ring pushes; then one is stopped so the other's loop also runs the warn/dead event paths.
//! The RT threads' allocation count must stay zero.

// Tests keep time with std (core/clippy.toml forbids it in hbd itself).
#![allow(clippy::disallowed_methods)]
// A global allocator can only be written with unsafe; it is confined to this test binary.
#![allow(unsafe_code)]

use hb_core::backend::Choice;
use hb_core::daemon::{Daemon, Options};
use hb_core::liveness::NodeState;
use hb_core::status::StatusReader;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Counting;

static RT_ALLOCS: AtomicU64 = AtomicU64::new(0);
static MARKED_THREADS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNT_ME: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards every call to the system allocator unchanged; the only addition is a
// counter increment, which does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNT_ME.try_with(Cell::get).unwrap_or(false) {
            RT_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNT_ME.try_with(Cell::get).unwrap_or(false) {
            RT_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn mark_rt_thread() {
    COUNT_ME.with(|c| c.set(true));
    MARKED_THREADS.fetch_add(1, Ordering::Relaxed);
}

fn node_dir(root: &Path, name: &str, me: &str, port: u16, rx_wakeup: &str, extra: &str) -> Options {
    let cfg = root.join(name);
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("ha.cf"),
        format!("keepalive 3ms\nwarntime 20ms\ndeadtime 50ms\ninitdead 5\nudpport {port}\nbind {me}\nucast lo 127.0.0.1 127.0.0.2\nnode a b\nrealtime off\nrx_wakeup {rx_wakeup}\n{extra}"),
    )
    .unwrap();
    std::fs::write(cfg.join("authkeys"), "auth 1\n1 sha256 zero-alloc\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(cfg.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    Options {
        config_dir: cfg.clone(),
        node_name: name.into(),
        run_dir: cfg.join("run"),
        state_dir: cfg.join("state"),
        backend: Choice::Uring,
        log_stderr: false,
        no_realtime: true,
        rt_hook: Some(mark_rt_thread),
        watchdog_test_mode: true,
    }
}

#[test]
fn the_rt_loop_allocates_nothing_over_thousands_of_heartbeats() {
    // The counter itself works.
    COUNT_ME.with(|c| c.set(true));
    let v: Vec<u8> = Vec::with_capacity(10);
    drop(v);
    COUNT_ME.with(|c| c.set(false));
    assert_eq!(RT_ALLOCS.swap(0, Ordering::Relaxed), 1, "the counting allocator counts");

    let root = std::env::temp_dir().join(format!("hb-zero-alloc-{}", std::process::id()));
    let port = hb_hwtest::free_udp_port();
    // a: io_uring, drains on ticks, and (as root, where FUSE can mount the emulator) pets a
    // watchdog every 5 ms; b: epoll, woken by received packets.
    let emu = hb_hwtest::is_root().then(|| hb_hwtest::watchdog::WatchdogEmulator::start(Default::default()).expect("watchdog emulator"));
    let wd =
        emu.as_ref().map_or(String::new(), |e| format!("watchdog {}\nwatchdog_timeout 2\nwatchdog_interval 5ms\n", e.path().display()));
    if std::env::var_os("CI").is_some() {
        assert!(emu.is_some(), "CI runs as root: the watchdog path must be covered");
    }
    // A serial link too (the cable emulator at 460800 baud: a framed heartbeat takes 2.3 ms),
    // so the framing, the tty reads and writes and the bad-frame path run on the RT thread.
    let cable = hb_hwtest::nullmodem::NullModem::new(460800);
    let serial = |end: &Path| format!("baud 460800\nserial {}\n", end.display());
    // As root, a ping node too (raw ICMP needs CAP_NET_RAW): echoes built, sent, parsed.
    // As root also raw Ethernet on lo (packet sockets need CAP_NET_RAW): frames built and
    // parsed with pnet on the RT thread.
    let (ping, raw) = if hb_hwtest::is_root() { ("ping 127.0.0.1\n", "raw lo\n") } else { ("", "") };
    let a_opts = node_dir(&root, "a", "127.0.0.1", port, "off", &format!("{wd}{ping}{raw}{}", serial(&cable.end_a())));
    let mut b_opts = node_dir(&root, "b", "127.0.0.2", port, "on", &format!("{raw}{}", serial(&cable.end_b())));
    // Links are UDP, then raw, then serial.
    let serial_link = if raw.is_empty() { 1 } else { 2 };
    b_opts.backend = Choice::Epoll;
    let a = Daemon::start(&a_opts).expect("start a");
    let b = Daemon::start(&b_opts).expect("start b");
    // The hook runs on each RT thread right after start() is told the thread is ready.
    let marked = Instant::now();
    while MARKED_THREADS.load(Ordering::Relaxed) < 2 {
        assert!(marked.elapsed() < Duration::from_secs(10), "the RT threads never entered their loops");
        std::thread::sleep(Duration::from_millis(1));
    }

    let ra = StatusReader::open(&a_opts.run_dir).unwrap();
    let start = Instant::now();
    // Thousands of heartbeats each way (3 ms keepalive): wait until a received 3000.
    let mut injected = false;
    loop {
        let s = ra.snapshot().unwrap();
        let rx = s.node("b").map_or(0, |n| n.links[0].rx);
        if rx >= 3000 {
            let b = s.node("b").unwrap();
            assert!(b.links[0].rtt.samples > 1000, "RTT echoes exercised");
            let sl = &b.links[serial_link];
            assert!(sl.link.starts_with("serial ") && sl.rx > 1000 && sl.rtt.samples > 500, "the serial link carried heartbeats: {sl:?}");
            if !raw.is_empty() {
                assert!(b.links[1].link == "raw lo" && b.links[1].rx > 1000, "the raw link carried heartbeats: {:?}", b.links[1]);
            }
            break;
        }
        if !injected && rx >= 1000 {
            injected = true;
            // Garbage on the line: the bad-frame path, counted and logged.
            cable.inject(true, &[0x41; 300]);
            cable.inject(false, &[0x42, 0x00, 0x43, 0x00]);
        }
        assert!(start.elapsed() < Duration::from_secs(60), "only {rx} heartbeats in 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Stop b: a's loop now runs the warn, link-dead and node-dead paths too.
    b.stop("test");
    let end = Instant::now() + Duration::from_secs(10);
    while ra.snapshot().unwrap().node("b").unwrap().state != NodeState::Dead {
        assert!(Instant::now() < end, "a did not declare b dead");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    let allocs = RT_ALLOCS.load(Ordering::Relaxed);
    if hb_hwtest::is_root() {
        let p = ra.snapshot().unwrap().node("127.0.0.1").cloned().expect("the ping node");
        assert!(p.is_ping() && p.ping_replies > 1000, "the ping node was pinged from the loop: {p:?}");
    }
    let bad_frames = ra.snapshot().unwrap().links[serial_link].counters.rejects[hb_core::wire::Reject::BadFrame as usize];
    assert!(bad_frames > 0, "the injected garbage was counted as bad frames");
    if let Some(e) = &emu {
        assert!(e.state().pets.len() > 300, "the watchdog was petted from the loop: {} pets", e.state().pets.len());
    }
    a.stop("test");
    let _ = std::fs::remove_dir_all(&root);
    assert_eq!(allocs, 0, "the RT threads allocated {allocs} times after start-up");
}
