//! The LCUS relay driver against hb-hwtest's emulated board (a pty speaking the board's
//! protocol): off, on and reset reach the right relay with the right wiring; bad parameters,
//! unknown hosts, a missing or busy tty and a pulled-out board give clean errors, never a hang.

use hb_hwtest::relay::LcusBoard;
use hb_stonith_hw::{registry, Action, Code, Params};
use std::time::{Duration, Instant};

fn params(board: &LcusBoard, more: &[(&str, &str)]) -> Params {
    let path = board.path().display().to_string();
    let mut v = vec![("ttydev".to_string(), path), ("hostmap".to_string(), "node1:1 node2:2".to_string())];
    v.extend(more.iter().map(|(k, val)| (k.to_string(), val.to_string())));
    Params::from_pairs(v)
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

/// Waits until the board has logged `n` commands.
fn commands(board: &LcusBoard, n: usize) -> Vec<(u8, bool)> {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let log = board.log();
        if log.commands.len() >= n || Instant::now() > end {
            return log.commands.iter().map(|c| (c.1, c.2)).collect();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn off_on_and_reset_drive_the_hosts_relay() {
    let board = LcusBoard::start().unwrap();
    let mut d = registry::open("lcus", &params(&board, &[("reset_ms", "100")])).unwrap();
    assert_eq!(d.hosts(), vec!["node1", "node2"]);
    assert!(!d.info().forks && !d.info().confirms);
    d.status(soon()).unwrap();
    // Normally-open wiring (the default): the host has power while its relay is energised.
    d.act(Action::On, "node2", soon()).unwrap();
    d.act(Action::Off, "node2", soon()).unwrap();
    let t0 = Instant::now();
    d.act(Action::Reset, "NODE1", soon()).unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(100), "reset keeps the power cut for reset_ms");
    assert_eq!(commands(&board, 4), vec![(2, true), (2, false), (1, false), (1, true)]);
    let log = board.log();
    let gap = log.commands[3].0 - log.commands[2].0;
    assert!(gap >= 100_000_000, "off for {} ms only", gap / 1_000_000);
    assert_eq!(log.garbage, 0);
}

#[test]
fn normally_closed_wiring_energises_the_relay_to_cut_power() {
    let board = LcusBoard::start().unwrap();
    let mut d = registry::open("lcus", &params(&board, &[("cut", "on")])).unwrap();
    d.act(Action::Off, "node1", soon()).unwrap();
    d.act(Action::On, "node1", soon()).unwrap();
    assert_eq!(commands(&board, 2), vec![(1, true), (1, false)]);
}

#[test]
fn bad_configurations_and_hosts_are_named() {
    let board = LcusBoard::start().unwrap();
    let bad = |more: &[(&str, &str)]| registry::open("lcus", &params(&board, more)).err().expect("refused");
    let e = bad(&[("cut", "sideways")]);
    assert_eq!((e.code, e.what.as_str()), (Code::BadConfig, "cut \"sideways\" must be on or off"));
    let e = bad(&[("pasword", "x")]);
    assert!(e.code == Code::BadConfig && e.what.contains("lcus has no parameter pasword"), "{e}");
    let e = bad(&[("baud", "12345")]);
    assert!(e.code == Code::BadConfig && e.what.contains("baud 12345"), "{e}");
    let missing = Params::from_pairs([("ttydev", "/dev/nonexistent-relay"), ("hostmap", "a:1")]);
    let e = registry::open("lcus", &missing).err().expect("no such tty");
    assert!(e.code == Code::BadConfig && e.what.contains("/dev/nonexistent-relay"), "{e}");
    let mut d = registry::open("lcus", &params(&board, &[])).unwrap();
    let e = d.act(Action::Off, "node3", soon()).unwrap_err();
    assert_eq!((e.code, e.what.as_str()), (Code::BadHost, "no relay powers node3"));
    // The port is locked: a second configuration of the same board is refused, naming us.
    let e = registry::open("lcus", &params(&board, &[])).err().expect("busy");
    assert!(e.code == Code::BadConfig && e.what.contains("in use by"), "{e}");
}

#[test]
fn a_reset_that_cannot_fit_its_deadline_says_so_and_a_pulled_board_is_an_error() {
    let board = LcusBoard::start().unwrap();
    let mut d = registry::open("lcus", &params(&board, &[("reset_ms", "5000")])).unwrap();
    let e = d.act(Action::Reset, "node1", Instant::now() + Duration::from_secs(1)).unwrap_err();
    assert_eq!(e.code, Code::Timeout, "{e}");
    assert!(e.what.contains("node1 is off"), "{e}");
    drop(board);
    let t0 = Instant::now();
    let r = d.status(soon()).and_then(|()| d.act(Action::Off, "node1", soon()));
    let e = r.expect_err("the board is gone");
    assert_eq!(e.code, Code::Oops, "{e}");
    assert!(t0.elapsed() < Duration::from_secs(2), "no hang");
}
