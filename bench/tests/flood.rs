//! Issue 14's flood tests: a third host on the segment sends more than 200,000 forged
//! heartbeats a second for 30 s, claiming to be node b (b's id, generation, address and
//! port, signed with a key the cluster lacks), at each medium it can reach — ucast, bcast,
//! mcast and raw Ethernet — while a and b run at keepalive 10 ms, deadtime 50 ms and a pets a
//! watchdog (hb-hwtest's emulator) every 100 ms. Nothing may die, at most 1 % of the real
//! heartbeats may be lost (none on a quiet machine), no pet may be late; hbd's CPU is printed.
//!
//! Root only (namespaces, packet sockets, FUSE). They measure the shipped build under load, so
//! they run against release binaries named by `HB_BIN_DIR`, alone, after the rest of the
//! suite: `.config/nextest.toml` leaves them out of plain runs, and `scripts/test.sh` runs
//! them as
//!
//! ```text
//! cargo build --release --bins
//! HB_BIN_DIR=target/release cargo nextest run -p hb-bench --test flood --ignore-default-filter -j 1
//! ```

use hb_bench::flood::{trial, Source, Target};
use hb_bench::twonode::Settings;

/// Asked of the flooder; the test checks it sent at least [`FLOOR`].
const RATE: u64 = 210_000;
const FLOOR: f64 = 200_000.0;
const SECONDS: u64 = 30;

fn flood(target: Target) {
    if !hb_hwtest::require_root("flood") {
        return;
    }
    let dir = std::env::var("HB_BIN_DIR").unwrap_or_default();
    assert!(
        std::path::Path::new(&dir).join("hbd").exists(),
        "HB_BIN_DIR={dir:?} names no hbd: the flood tests measure the shipped (release) build; run them as scripts/test.sh does"
    );
    let s = Settings { keepalive_ms: 10, deadtime_ms: 50, ..Settings::default() };
    let t =
        trial(&s, target, Source::Peer, RATE, SECONDS, &|_| {}).unwrap_or_else(|e| panic!("the {} flood trial failed: {e}", target.name()));
    eprintln!("{}", t.line());
    assert!(t.flood.pps() >= FLOOR, "the flooder reached only {:.0} packets/s: {}", t.flood.pps(), t.line());
    assert_eq!((t.false_deaths, t.link_deaths), (0, 0), "{}", t.line());
    // Real heartbeats lost: none on a quiet machine (docs/bench/flood). But when the VM itself
    // is not scheduled (own stalls of 100+ ms at SCHED_FIFO, as a loaded CI host gave once:
    // 165 stalls, 9689 datagrams dropped by the kernel, 6 of 2916 heartbeats lost), a 4 MiB
    // receive buffer holds only about 20 ms of this flood. What hbd must guarantee is above:
    // no death. Losses beyond 1 % would mean the drain itself falls behind.
    assert!(t.real_lost * 100 <= t.real_sent, "more than 1 % of the real heartbeats were lost: {}", t.line());
    assert!(!t.watchdog_expired && t.max_pet_gap_ms < 250.0, "a watchdog pet was late: {}", t.line());
    // Nearly every forgery reaches hbd and is refused there (a few may be dropped by the
    // kernel if the receive buffer ever filled; then heartbeats would be lost too, above).
    assert!(t.rejected as f64 >= t.flood.sent as f64 * 0.99, "{}", t.line());
    // Bounded: the drain budget leaves the loop time to judge, send and pet; on these machines
    // a refused forgery costs about 1.3 µs of the RT thread, a quarter of a core at 200,000/s.
    assert!(t.hbd_cpu_pct < 80.0, "hbd used {:.0} % of a core: {}", t.hbd_cpu_pct, t.line());
}

#[test]
fn flood_ucast() {
    flood(Target::Ucast);
}

#[test]
fn flood_bcast() {
    flood(Target::Bcast);
}

#[test]
fn flood_mcast() {
    flood(Target::Mcast);
}

#[test]
fn flood_raw() {
    flood(Target::Raw);
}
