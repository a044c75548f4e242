//! LCUS-style USB relay boards (a CH340 USB-serial chip and one to eight relays): each command
//! is a four-byte frame `A0 <channel> <state> <sum>` at 9600 baud 8N1, where `sum` is
//! `A0 + channel + state` modulo 256 and `state` is 1 (energised) or 0. The board never
//! answers, so this driver cannot read a host's power back: it reports success once the frame
//! has been written and has had time to cross the line ([`Info::confirms`] is false).
//!
//! Parameters:
//! - `ttydev`: the board's tty, e.g. `/dev/ttyUSB0` (opened at configuration, raw, locked);
//! - `hostmap`: which relay powers which host, `node1:1 node2:2` (commas also separate);
//! - `cut` (optional): the relay state that cuts the power: `off` (the default: the host is
//!   wired through the normally-open contact, powered while the relay is energised) or `on`
//!   (wired through the normally-closed contact);
//! - `reset_ms` (optional, default 2000): how long a reset keeps the power cut;
//! - `baud` (optional, default 9600).

use crate::{Action, Code, Driver, Info, Params, StonithError};
use hb_media::serial::{open_serial, SerialPort, SerialSpec};
use std::time::{Duration, Instant};

/// This driver's description.
pub const INFO: Info = Info {
    name: "lcus",
    description: "LCUS-style USB relay board (CH340; A0 ch state sum frames, no read-back)",
    params: &["ttydev", "hostmap"],
    forks: false,
    confirms: false,
    operator: false,
};

/// Optional parameters besides [`Info::params`].
const OPTIONAL: &[&str] = &["cut", "reset_ms", "baud"];

/// The frame that sets relay `channel` to `on`.
pub fn frame(channel: u8, on: bool) -> [u8; 4] {
    let state = u8::from(on);
    [0xA0, channel, state, 0xA0u8.wrapping_add(channel).wrapping_add(state)]
}

/// A configured board.
pub struct Lcus {
    port: SerialPort,
    hosts: Vec<(String, u8)>,
    /// The relay state that cuts the power.
    cut_state: bool,
    reset: Duration,
}

impl Lcus {
    /// Configures the board: parses the parameters and opens (and locks) its tty.
    pub fn open(p: &Params) -> Result<Lcus, StonithError> {
        let mut known = INFO.params.to_vec();
        known.extend_from_slice(OPTIONAL);
        if let Some(u) = p.unknown(&known).first() {
            return Err(StonithError::new(Code::BadConfig, format!("lcus has no parameter {u} (it takes {})", known.join(", "))));
        }
        let hosts = parse_hostmap(p.get("hostmap")?)?;
        let cut_state = match p.opt("cut").unwrap_or("off") {
            "off" => false,
            "on" => true,
            other => return Err(StonithError::new(Code::BadConfig, format!("cut {other:?} must be on or off"))),
        };
        let number = |name: &str, default: u64| -> Result<u64, StonithError> {
            p.opt(name)
                .map_or(Ok(default), |v| v.parse().map_err(|_| StonithError::new(Code::BadConfig, format!("{name} {v:?} is not a number"))))
        };
        let reset = Duration::from_millis(number("reset_ms", 2000)?);
        let baud = u32::try_from(number("baud", 9600)?).map_err(|_| StonithError::new(Code::BadConfig, "baud is too large"))?;
        let spec = SerialSpec { path: p.get("ttydev")?.into(), baud };
        let port = open_serial(&spec).map_err(|e| StonithError::new(Code::BadConfig, e.to_string()))?;
        Ok(Lcus { port, hosts, cut_state, reset })
    }

    fn channel(&self, host: &str) -> Result<u8, StonithError> {
        self.hosts
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(host))
            .map(|(_, c)| *c)
            .ok_or_else(|| StonithError::new(Code::BadHost, format!("no relay powers {host}")))
    }

    /// Writes the frame setting `channel` to `on` and waits for it to cross the line.
    fn set(&mut self, channel: u8, on: bool, deadline: Instant) -> Result<(), StonithError> {
        let f = frame(channel, on);
        crate::tty::write_all_by(&self.port, &f, deadline)?;
        // No read-back: the frame's own time on the line (10 bits a byte), then done.
        std::thread::sleep(Duration::from_nanos(self.port.spec.line_time_ns(f.len())));
        Ok(())
    }
}

/// Parses `node1:1 node2:2` (or comma-separated) into hosts and relay channels 1–255.
fn parse_hostmap(text: &str) -> Result<Vec<(String, u8)>, StonithError> {
    let mut out: Vec<(String, u8)> = Vec::new();
    for item in text.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()) {
        let bad = || StonithError::new(Code::BadConfig, format!("hostmap entry {item:?} is not host:channel (channel 1-255)"));
        let (h, c) = item.rsplit_once(':').ok_or_else(bad)?;
        let c: u8 = c.parse().ok().filter(|c| *c >= 1).ok_or_else(bad)?;
        if h.is_empty() {
            return Err(bad());
        }
        if out.iter().any(|(o, _)| o.eq_ignore_ascii_case(h)) {
            return Err(StonithError::new(Code::BadConfig, format!("hostmap names {h} twice")));
        }
        out.push((h.to_string(), c));
    }
    if out.is_empty() {
        return Err(StonithError::new(Code::BadConfig, "hostmap names no host"));
    }
    Ok(out)
}

impl Driver for Lcus {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn hosts(&self) -> Vec<String> {
        self.hosts.iter().map(|(h, _)| h.clone()).collect()
    }

    fn status(&mut self, _deadline: Instant) -> Result<(), StonithError> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let mut p = [PollFd::new(self.port.as_fd(), PollFlags::POLLOUT)];
        match poll(&mut p, PollTimeout::ZERO) {
            Ok(_) if p[0].revents().is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)) => {
                Err(StonithError::new(Code::Oops, format!("{}: the relay board is gone (hang-up)", self.port.spec.path.display())))
            }
            Ok(_) => Ok(()),
            Err(e) => Err(StonithError::new(Code::Oops, format!("{}: poll: {e}", self.port.spec.path.display()))),
        }
    }

    fn act(&mut self, action: Action, host: &str, deadline: Instant) -> Result<(), StonithError> {
        let ch = self.channel(host)?;
        let (cut, power) = (self.cut_state, !self.cut_state);
        match action {
            Action::Off => self.set(ch, cut, deadline),
            Action::On => self.set(ch, power, deadline),
            Action::Reset => {
                self.set(ch, cut, deadline)?;
                if Instant::now() + self.reset >= deadline {
                    return Err(StonithError::new(
                        Code::Timeout,
                        format!(
                            "{host} is off, but the deadline leaves no time for reset_ms {} before powering it on",
                            self.reset.as_millis()
                        ),
                    ));
                }
                std::thread::sleep(self.reset);
                self.set(ch, power, deadline)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_match_the_vendor_examples() {
        assert_eq!(frame(1, true), [0xA0, 0x01, 0x01, 0xA2]);
        assert_eq!(frame(1, false), [0xA0, 0x01, 0x00, 0xA1]);
        assert_eq!(frame(0xff, true), [0xA0, 0xff, 0x01, 0xA0]);
    }

    #[test]
    fn hostmaps_parse_and_bad_ones_are_named() {
        assert_eq!(parse_hostmap("a:1, b:2").unwrap(), vec![("a".to_string(), 1), ("b".to_string(), 2)]);
        for bad in ["", "a", "a:0", "a:256", ":1", "a:1 A:2"] {
            assert_eq!(parse_hostmap(bad).unwrap_err().code, Code::BadConfig, "{bad:?}");
        }
    }
}
