//! `apcsmart`: an APC Smart-UPS on a serial line (2400 8N1, the Smart protocol), which fences
//! by cutting the power of everything it feeds. Every exchange starts with `Y` (answered `SM`,
//! smart mode). `Z` sent twice, [`PRESS_GAP`] apart, turns the load off at once; Ctrl-N sent
//! twice the same way turns it on; register 1 (`~`, two hex digits) has bit `0x40` set while
//! the load is off, which is how every command is read back: an off counts only once the
//! register says so. A reset is that off, read back, then the on. The UPS's own
//! shutdown-and-return (`S`, `@000`) is not used: it waits for the shutdown delay (20 s at the
//! least on real units) and cannot be read back until it has happened.
//!
//! Parameters (cluster-glue's): `ttydev`, the serial port; `hostlist`, the hosts the UPS feeds
//! (separated by spaces or commas). All of them lose power together.

use crate::tty::{discard_input, read_until, write_all_by};
use crate::{Action, Code, Driver, Info, Params, Power, StonithError};
use hb_media::serial::{open_serial, SerialPort, SerialSpec};
use std::time::{Duration, Instant};

/// This driver's description.
pub const INFO: Info = Info {
    name: "apcsmart",
    description: "APC Smart-UPS on a serial line (Smart protocol): every host it feeds loses power",
    params: &["ttydev", "hostlist"],
    forks: false,
    confirms: true,
    operator: false,
};

/// The time between the two presses of `Z` or Ctrl-N (the UPS wants more than 1.5 s).
pub const PRESS_GAP: Duration = Duration::from_millis(1700);
/// How often the load's power is read while waiting for it to change.
const POLL: Duration = Duration::from_millis(100);
const CTRL_N: u8 = 0x0E;

/// A configured UPS.
pub struct ApcSmart {
    port: SerialPort,
    hosts: Vec<String>,
}

/// Register 1's "load off" bit from its answer (two hex digits).
fn load_off(answer: &str) -> Option<bool> {
    let a = answer.trim();
    (a.len() == 2).then(|| u8::from_str_radix(a, 16).ok()).flatten().map(|r| r & 0x40 != 0)
}

impl ApcSmart {
    /// Configures it: parses the host list, opens (and locks) the tty at 2400 8N1.
    pub fn open(p: &Params) -> Result<ApcSmart, StonithError> {
        let bad = |w: String| StonithError::new(Code::BadConfig, w);
        if let Some(u) = p.unknown(INFO.params).first() {
            return Err(bad(format!("apcsmart has no parameter {u} (it takes ttydev, hostlist)")));
        }
        let hosts: Vec<String> = p
            .get("hostlist")?
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|h| !h.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        if hosts.is_empty() {
            return Err(bad("hostlist names no host".into()));
        }
        let port = open_serial(&SerialSpec { path: p.get("ttydev")?.into(), baud: 2400 }).map_err(|e| bad(e.to_string()))?;
        Ok(ApcSmart { port, hosts })
    }

    /// Sends one command byte and reads its one-line answer.
    fn ask(&mut self, cmd: u8, deadline: Instant) -> Result<String, StonithError> {
        discard_input(&self.port);
        write_all_by(&self.port, &[cmd], deadline)?;
        Ok(read_until(&self.port, &["\n"], deadline)?.trim().to_string())
    }

    /// `Y`: smart mode, which every exchange starts with.
    fn smart(&mut self, deadline: Instant) -> Result<(), StonithError> {
        match self.ask(b'Y', deadline)?.as_str() {
            "SM" => Ok(()),
            other => Err(StonithError::new(Code::Oops, format!("{}: the UPS did not enter smart mode (answered {other:?})", self.tty()))),
        }
    }

    fn tty(&self) -> String {
        self.port.spec.path.display().to_string()
    }

    /// Whether the load is off (register 1).
    fn read_off(&mut self, deadline: Instant) -> Result<bool, StonithError> {
        self.smart(deadline)?;
        let answer = self.ask(b'~', deadline)?;
        load_off(&answer)
            .ok_or_else(|| StonithError::new(Code::Oops, format!("{}: register 1 read {answer:?}, not two hex digits", self.tty())))
    }

    /// Presses `cmd` twice, [`PRESS_GAP`] apart, then reads the load until it is `on` (or
    /// the deadline passes: `S_RESETFAIL`).
    fn switch(&mut self, cmd: u8, on: bool, deadline: Instant) -> Result<(), StonithError> {
        self.smart(deadline)?;
        write_all_by(&self.port, &[cmd], deadline)?;
        if Instant::now() + PRESS_GAP >= deadline {
            return Err(StonithError::new(Code::Timeout, format!("{}: no time left for the second press", self.tty())));
        }
        std::thread::sleep(PRESS_GAP);
        write_all_by(&self.port, &[cmd], deadline)?;
        loop {
            if self.read_off(deadline)? != on {
                return Ok(());
            }
            if Instant::now() + POLL >= deadline {
                let state = if on { "on" } else { "off" };
                return Err(StonithError::new(
                    Code::ResetFail,
                    format!("{}: the load does not read {state} after the command", self.tty()),
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    fn check_host(&self, host: &str) -> Result<(), StonithError> {
        if self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            Ok(())
        } else {
            Err(StonithError::new(Code::BadHost, format!("the UPS on {} does not feed {host}", self.tty())))
        }
    }
}

impl Driver for ApcSmart {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn hosts(&self) -> Vec<String> {
        self.hosts.clone()
    }

    fn status(&mut self, deadline: Instant) -> Result<(), StonithError> {
        self.smart(deadline)?;
        self.ask(b'Q', deadline).map(drop)
    }

    fn act(&mut self, action: Action, host: &str, deadline: Instant) -> Result<(), StonithError> {
        self.check_host(host)?;
        if action != Action::On {
            self.switch(b'Z', false, deadline)?;
        }
        if action != Action::Off {
            self.switch(CTRL_N, true, deadline)?;
        }
        Ok(())
    }

    fn power(&mut self, host: &str, deadline: Instant) -> Result<Power, StonithError> {
        self.check_host(host)?;
        Ok(if self.read_off(deadline)? { Power::Off } else { Power::On })
    }

    /// An off is read back before it succeeds.
    fn off_confirmed(&mut self, host: &str, deadline: Instant) -> Result<(), StonithError> {
        self.act(Action::Off, host, deadline)
    }
}

/// The decoder of a UPS's answer, for the fuzz target.
pub(crate) fn fuzz(text: &str) -> Option<bool> {
    load_off(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_one_says_whether_the_load_is_off() {
        assert_eq!(load_off("40\r\n"), Some(true));
        assert_eq!(load_off("08"), Some(false));
        assert_eq!(load_off("4"), None);
        assert_eq!(load_off("NA"), None);
        assert_eq!(load_off("\u{e9}1"), None);
    }
}
