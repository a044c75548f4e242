//! `rcd_serial`: the pulse on the chosen line through a recording [`ModemLines`] (a pty has no
//! modem-control lines), and the real tty implementation's clean error on a pty.

use hb_hwtest::relay::LcusBoard;
use hb_stonith_hw::rcd_serial::{Line, ModemLines, RcdSerial};
use hb_stonith_hw::{registry, Action, Code, Driver, Params};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Lines that record every change with its time.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(Instant, Line, bool)>>>);

impl ModemLines for Recorder {
    fn set(&mut self, line: Line, on: bool) -> std::io::Result<()> {
        self.0.lock().unwrap().push((Instant::now(), line, on));
        Ok(())
    }
}

fn params(line: &str, ms: &str) -> Params {
    Params::from_pairs([("hostlist", "node2"), ("ttydev", "/dev/ttyS1"), ("dtr_rts", line), ("msduration", ms)])
}

#[test]
fn a_reset_pulses_the_chosen_line_for_msduration() {
    let rec = Recorder::default();
    let mut d = RcdSerial::with_lines(&params("rts", "150"), Box::new(rec.clone())).unwrap();
    d.act(Action::Reset, "NODE2", Instant::now() + Duration::from_secs(5)).unwrap();
    let log = rec.0.lock().unwrap().clone();
    let changes: Vec<(Line, bool)> = log.iter().map(|e| (e.1, e.2)).collect();
    // Opening clears both lines; the reset asserts RTS, then clears it.
    assert_eq!(changes, vec![(Line::Dtr, false), (Line::Rts, false), (Line::Rts, true), (Line::Rts, false)]);
    let pulse = log[3].0 - log[2].0;
    assert!(pulse >= Duration::from_millis(150), "{pulse:?}");
}

#[test]
fn only_reset_and_only_its_hosts() {
    let mut d = RcdSerial::with_lines(&params("dtr", "10"), Box::new(Recorder::default())).unwrap();
    let soon = Instant::now() + Duration::from_secs(5);
    assert_eq!(d.act(Action::Off, "node2", soon).unwrap_err().code, Code::Inval);
    assert_eq!(d.act(Action::Reset, "node1", soon).unwrap_err().code, Code::BadHost);
    let e = d.act(Action::Reset, "node2", Instant::now() + Duration::from_millis(5)).unwrap_err();
    assert_eq!(e.code, Code::Timeout);
    let e = RcdSerial::with_lines(&params("cts", "10"), Box::new(Recorder::default())).err().unwrap();
    assert_eq!((e.code, e.what.as_str()), (Code::BadConfig, "dtr_rts \"cts\" must be dtr or rts"));
}

#[test]
fn a_pty_has_no_control_lines_and_says_so() {
    let board = LcusBoard::start().unwrap();
    let p = Params::from_pairs([
        ("hostlist", "node2".to_string()),
        ("ttydev", board.path().display().to_string()),
        ("dtr_rts", "dtr".to_string()),
        ("msduration", "10".to_string()),
    ]);
    let e = registry::open("rcd_serial", &p).err().expect("ENOTTY on a pty");
    assert_eq!(e.code, Code::BadConfig);
    assert!(e.what.contains("it has no modem-control lines"), "{e}");
}
