//! `rps10`: WTI RPS-10M remote power switches on a serial line (9600 8N1): a command is the
//! fixed password `^B^X^X^B^X^X`, the unit (`0`–`9`, or `*` for all), the command (`0` off,
//! `1` on, `T` off-delay-on, `?` status) and `\r`; the switch answers `Plug <n> Off|On` lines
//! and then `Complete`. The status answer reads the plug back, so an off is confirmed.
//!
//! Parameter (cluster-glue's): `serial_to_targets`, `TTY NODE UNIT [NODE UNIT…]` — the tty,
//! then each host and the unit (`0`–`9`, `*`, or `A` for `*`) that powers it.

use crate::tty::{discard_input, read_until, write_all_by};
use crate::{Action, Code, Driver, Info, Params, Power, StonithError};
use hb_media::serial::{open_serial, SerialPort, SerialSpec};
use std::time::Instant;

/// This driver's description.
pub const INFO: Info = Info {
    name: "rps10",
    description: "WTI RPS-10M remote power switch on a serial line",
    params: &["serial_to_targets"],
    forks: false,
    confirms: true,
    operator: false,
};

/// The fixed password every command starts with.
const PASSWORD: [u8; 6] = [2, 24, 24, 2, 24, 24];

/// A command frame: password, unit, command, carriage return.
pub fn command(unit: u8, cmd: u8) -> [u8; 9] {
    [PASSWORD[0], PASSWORD[1], PASSWORD[2], PASSWORD[3], PASSWORD[4], PASSWORD[5], unit, cmd, b'\r']
}

/// A configured switch (chain).
pub struct Rps10 {
    port: SerialPort,
    hosts: Vec<(String, u8)>,
}

impl Rps10 {
    /// Configures it: parses the targets, opens (and locks) the tty at 9600 8N1.
    pub fn open(p: &Params) -> Result<Rps10, StonithError> {
        let bad = |w: String| StonithError::new(Code::BadConfig, w);
        if let Some(u) = p.unknown(INFO.params).first() {
            return Err(bad(format!("rps10 has no parameter {u} (it takes serial_to_targets)")));
        }
        let text = p.get("serial_to_targets")?;
        let mut words = text.split_whitespace();
        let tty = words.next().ok_or_else(|| bad("serial_to_targets names no tty".into()))?;
        let rest: Vec<&str> = words.collect();
        if rest.is_empty() || !rest.len().is_multiple_of(2) {
            return Err(bad(format!("serial_to_targets {text:?}: after the tty, NODE UNIT pairs")));
        }
        let mut hosts = Vec::new();
        for pair in rest.chunks(2) {
            let unit = match pair[1].as_bytes() {
                [u @ b'0'..=b'9'] => *u,
                [b'*'] | [b'A'] => b'*',
                _ => return Err(bad(format!("unit {:?} of {} must be 0-9, * or A", pair[1], pair[0]))),
            };
            hosts.push((pair[0].to_ascii_lowercase(), unit));
        }
        if hosts.len() > 10 {
            return Err(bad("a chain has at most 10 units".into()));
        }
        let port = open_serial(&SerialSpec { path: tty.into(), baud: 9600 }).map_err(|e| bad(e.to_string()))?;
        Ok(Rps10 { port, hosts })
    }

    fn unit(&self, host: &str) -> Result<u8, StonithError> {
        self.hosts
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(host))
            .map(|(_, u)| *u)
            .ok_or_else(|| StonithError::new(Code::BadHost, format!("no RPS-10 unit powers {host}")))
    }

    /// Sends `cmd` to `unit` and reads the answer up to `Complete`.
    fn send(&mut self, unit: u8, cmd: u8, deadline: Instant) -> Result<String, StonithError> {
        discard_input(&self.port);
        write_all_by(&self.port, &command(unit, cmd), deadline)?;
        read_until(&self.port, &["Complete"], deadline)
    }
}

/// The last `Plug <n> On|Off` in an answer.
fn plug_state(answer: &str) -> Option<Power> {
    answer.lines().rfind(|l| l.trim_start().starts_with("Plug")).and_then(|l| {
        if l.contains("On") {
            Some(Power::On)
        } else if l.contains("Off") {
            Some(Power::Off)
        } else {
            None
        }
    })
}

impl Driver for Rps10 {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn hosts(&self) -> Vec<String> {
        self.hosts.iter().map(|(h, _)| h.clone()).collect()
    }

    fn status(&mut self, deadline: Instant) -> Result<(), StonithError> {
        let unit = self.hosts.first().map_or(b'0', |h| h.1);
        self.send(unit, b'?', deadline).map(drop)
    }

    fn act(&mut self, action: Action, host: &str, deadline: Instant) -> Result<(), StonithError> {
        let unit = self.unit(host)?;
        let (cmd, want) = match action {
            Action::Off => (b'0', Power::Off),
            Action::On => (b'1', Power::On),
            Action::Reset => (b'T', Power::On),
        };
        let answer = self.send(unit, cmd, deadline)?;
        match plug_state(&answer) {
            Some(p) if p == want => Ok(()),
            _ => Err(StonithError::new(Code::ResetFail, format!("the RPS-10 answered {:?}", answer.trim()))),
        }
    }

    fn power(&mut self, host: &str, deadline: Instant) -> Result<Power, StonithError> {
        let unit = self.unit(host)?;
        let answer = self.send(unit, b'?', deadline)?;
        plug_state(&answer).ok_or_else(|| StonithError::new(Code::Oops, format!("the RPS-10 answered {:?}", answer.trim())))
    }
}

/// The decoder of a switch's answer, for the fuzz target.
pub(crate) fn fuzz(text: &str) -> Option<Power> {
    plug_state(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_answers_are_the_manuals() {
        assert_eq!(command(b'0', b'T'), [2, 24, 24, 2, 24, 24, b'0', b'T', b'\r']);
        assert_eq!(plug_state("\r\nPlug 0 Off\r\nPlug 0 On\r\nComplete\r\n"), Some(Power::On));
        assert_eq!(plug_state("Plug 3 Off\r\nComplete"), Some(Power::Off));
        assert_eq!(plug_state("Complete"), None);
    }
}
