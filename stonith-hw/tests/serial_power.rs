//! The `rps10`, `nw_rpc100s` and `apcsmart` drivers against emulated switches on ptys
//! (`hb_hwtest::serialpower`): off, on, reset and read-back through the devices' own ASCII
//! protocols, garbage on the line, a switch that never answers. Each emulator is first checked
//! with cluster-glue's own plugin of the same name (`stonith -t rps10|nw_rpc100s|apcsmart`), so the
//! emulator speaks what the third-party client expects.

use hb_hwtest::serialpower::{Rpc100s, Rps10, SmartUps};
use hb_stonith_hw::{registry, Action, Code, Params, Power};
use std::process::Command;
use std::time::{Duration, Instant};

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

/// cluster-glue's `stonith` with `-p`, its exit status.
fn cluster_glue(kind: &str, p: &str, cmd: &[&str]) -> i32 {
    let out = Command::new("stonith").args(["-t", kind, "-p", p]).args(cmd).output().expect("cluster-glue's stonith");
    out.status.code().unwrap_or(-1)
}

#[test]
fn rps10_switches_units_and_reads_them_back_as_cluster_glue_does() {
    let sw = Rps10::start().unwrap();
    let p = format!("{} node1 0 node2 3", sw.path().display());
    // The emulator against the third-party client first.
    assert_eq!(cluster_glue("rps10", &p, &["-T", "off", "node2"]), 0);
    assert!(!sw.log().on[3], "cluster-glue's rps10 turned unit 3 off: {:?}", sw.log());
    assert_eq!(cluster_glue("rps10", &p, &["-T", "on", "node2"]), 0);
    assert!(sw.log().on[3]);
    assert_eq!(cluster_glue("rps10", &p, &["-S"]), 0);
    // Then ours, with the same parameter string.
    let mut d = registry::open("rps10", &Params::parse_positional(&p, &["serial_to_targets"]).unwrap()).unwrap();
    assert_eq!(d.hosts(), ["node1", "node2"]);
    d.status(soon()).unwrap();
    d.act(Action::Off, "node2", soon()).unwrap();
    assert!(!sw.log().on[3] && sw.log().on[0]);
    assert_eq!(d.power("node2", soon()).unwrap(), Power::Off);
    d.act(Action::On, "node2", soon()).unwrap();
    assert_eq!(d.power("node2", soon()).unwrap(), Power::On);
    d.act(Action::Reset, "node1", soon()).unwrap();
    assert!(sw.log().commands.contains(&"0T".to_string()), "{:?}", sw.log());
    assert_eq!(d.act(Action::Off, "node9", soon()).unwrap_err().code, Code::BadHost);
    let bad = Params::parse_positional(&format!("{} node1 Z", sw.path().display()), &["serial_to_targets"]).unwrap();
    assert_eq!(registry::open("rps10", &bad).err().map(|e| e.code), Some(Code::BadConfig));
}

#[test]
fn nw_rpc100s_switches_its_outlet_as_cluster_glue_does() {
    let sw = Rpc100s::start().unwrap();
    let p = format!("{} node1", sw.path().display());
    assert_eq!(cluster_glue("nw_rpc100s", &p, &["-S"]), 0, "cluster-glue's nw_rpc100s finds the emulator");
    assert_eq!(cluster_glue("nw_rpc100s", &p, &["-T", "off", "node1"]), 0);
    assert!(!sw.log().on[0]);
    assert_eq!(cluster_glue("nw_rpc100s", &p, &["-T", "on", "node1"]), 0);
    assert!(sw.log().on[0]);
    let mut d = registry::open("nw_rpc100s", &Params::parse_positional(&p, &["ttydev", "hostlist"]).unwrap()).unwrap();
    d.status(soon()).unwrap();
    d.act(Action::Off, "node1", soon()).unwrap();
    assert!(!sw.log().on[0]);
    d.act(Action::On, "node1", soon()).unwrap();
    assert!(sw.log().on[0]);
    d.act(Action::Reset, "node1", soon()).unwrap();
    assert_eq!(sw.log().commands.last().map(String::as_str), Some("//0,0,10;"));
    assert_eq!(d.act(Action::Off, "node2", soon()).unwrap_err().code, Code::BadHost);
}

#[test]
fn a_silent_or_babbling_line_is_a_clean_error_within_the_deadline() {
    for (kind, targets, names) in [
        ("rps10", "node1 0", &["serial_to_targets"][..]),
        ("nw_rpc100s", "node1", &["ttydev", "hostlist"][..]),
        ("apcsmart", "node1", &["ttydev", "hostlist"][..]),
    ] {
        // A null-modem cable with nobody at the other end, then someone sending garbage there.
        let cable = hb_hwtest::nullmodem::NullModem::new(9600);
        let p = format!("{} {targets}", cable.end_a().display());
        let mut d = registry::open(kind, &Params::parse_positional(&p, names).unwrap()).unwrap();
        let start = Instant::now();
        let e = d.act(Action::Off, "node1", Instant::now() + Duration::from_millis(500)).unwrap_err();
        assert_eq!(e.code, Code::Timeout, "{kind}: {e}");
        assert!(start.elapsed() < Duration::from_millis(1500), "{kind}");
        let mut other = std::fs::OpenOptions::new().read(true).write(true).open(cable.end_b()).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let t = std::thread::spawn(move || {
            use std::io::Write;
            let junk: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(151)).collect();
            while !s2.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = other.write_all(&junk);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let start = Instant::now();
        let e = d.act(Action::Off, "node1", Instant::now() + Duration::from_millis(500)).unwrap_err();
        assert!(matches!(e.code, Code::Timeout | Code::Oops), "{kind}: {e}");
        assert!(start.elapsed() < Duration::from_millis(1500), "{kind}");
        assert!(e.what.len() < 600, "{kind}: a bounded error: {e}");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        t.join().unwrap();
    }
}

#[test]
fn apcsmart_cuts_and_restores_the_load_as_cluster_glue_does() {
    let ups = SmartUps::start().unwrap();
    let p = format!("{} node1 node2", ups.path().display());
    // cluster-glue's plugin: status (which first finds and sets the smallest delays), off and
    // on (Z or Ctrl-N twice, read back), and its reset (S refused on line power, then @000).
    assert_eq!(cluster_glue("apcsmart", &p, &["-S"]), 0, "cluster-glue's apcsmart finds the emulator");
    assert_eq!(cluster_glue("apcsmart", &p, &["-T", "off", "node1"]), 0);
    assert!(!ups.log().on[0]);
    assert_eq!(cluster_glue("apcsmart", &p, &["-T", "on", "node2"]), 0);
    assert!(ups.log().on[0]);
    assert_eq!(cluster_glue("apcsmart", &p, &["-T", "reset", "node2"]), 0);
    assert!(ups.log().commands.contains(&"@000".to_string()), "{:?}", ups.log());
    hb_hwtest::wait_for(Duration::from_secs(5), || ups.log().on[0].then_some(()));
    // Ours, with the same parameter string.
    let mut d = registry::open("apcsmart", &Params::parse_positional(&p, &["ttydev", "hostlist"]).unwrap()).unwrap();
    assert_eq!(d.hosts(), ["node1", "node2"]);
    d.status(soon()).unwrap();
    assert_eq!(d.power("node2", soon()).unwrap(), Power::On);
    let start = Instant::now();
    d.act(Action::Off, "node2", soon()).unwrap();
    assert!(!ups.log().on[0]);
    assert!(start.elapsed() >= hb_stonith_hw::apcsmart::PRESS_GAP, "two presses, apart");
    assert_eq!(d.power("node1", soon()).unwrap(), Power::Off, "every host it feeds is off");
    assert_eq!(cluster_glue("apcsmart", &p, &["-T", "on", "node1"]), 0, "cluster-glue turns on what we turned off");
    assert_eq!(d.power("node1", soon()).unwrap(), Power::On, "we read what cluster-glue did");
    d.act(Action::Reset, "node1", soon()).unwrap();
    let log = ups.log();
    assert!(log.on[0] && log.commands.ends_with(&["off".to_string(), "on".to_string()]), "{log:?}");
    assert_eq!(d.act(Action::Off, "node9", soon()).unwrap_err().code, Code::BadHost);
    // Too little time for the second press: a clean timeout, the load untouched.
    let e = d.act(Action::Off, "node1", Instant::now() + Duration::from_millis(500)).unwrap_err();
    assert_eq!(e.code, Code::Timeout, "{e}");
    assert!(ups.log().on[0]);
}
