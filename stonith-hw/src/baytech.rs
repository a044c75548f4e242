//! `baytech`: Baytech RPC-3, RPC-3A and RPC-5 remote power controllers through their telnet
//! dialog, spoken natively over TCP (no telnet client, no fork), as cluster-glue's plugin
//! walks it: `username>`, `password>` (`Invalid password`, or a second `username>`, is a
//! refusal), the main menu's `Selection>`, `1` for Outlet Control (prompt `RPC-x>`), then
//! `STATUS` (the outlet lines: the number in the first 7 columns, the name from column 15,
//! then `On` or `Off`), `ON N` and `OFF N` (answering `Y` to `(Y/N)>`), and `MENU`, `6` to log
//! out. The status lists each outlet's power, so every command is read back in the same
//! session: an off counts only once the outlets read off, and a reset is an off read back as
//! off, then an on.
//!
//! Parameters (cluster-glue's): `ipaddr`, `login`, `password`; and `port` (default 23:
//! cluster-glue's plugin can use no other), `hostmap` (`node1:1,node2:2,3`; without it the
//! outlet names are read from the controller at configuration, and a host is every outlet
//! named after it, as cluster-glue's plugin does).

use crate::outlets::{act_read_back, power_of, Outlets};
use crate::telnet::{self, prompt_end, Session};
use crate::{Action, Code, Driver, Info, Params, Power, StonithError};
use std::net::SocketAddr;
use std::time::Instant;

/// This driver's description.
pub const INFO: Info = Info {
    name: "baytech",
    description: "Baytech RPC-3/RPC-5 remote power controller through its telnet menu, native (no telnet client)",
    params: &["ipaddr", "login", "password"],
    forks: false,
    confirms: true,
    operator: false,
};

/// Where an outlet line's name begins (cluster-glue's offset).
const NAME_COLUMN: usize = 14;

/// The Outlet Control prompt: `RPC-5>`, `RPC-3A>`.
fn is_prompt(line: &str) -> bool {
    line.starts_with("RPC") && line.ends_with('>') && !line.contains(' ')
}

/// One outlet line of `STATUS`: number (first 7 columns), name (from column 15) and power.
fn parse_line(line: &str) -> Option<(u32, String, Option<bool>)> {
    let n: u32 = line.get(..7.min(line.len()))?.trim().parse().ok()?;
    let rest = line.get(NAME_COLUMN..)?.trim_end();
    let (name, on) = match rest.rsplit_once(' ') {
        Some((name, s)) if s.eq_ignore_ascii_case("on") => (name, Some(true)),
        Some((name, s)) if s.eq_ignore_ascii_case("off") => (name, Some(false)),
        _ => (rest, None),
    };
    Some((n, name.trim().to_string(), on))
}

/// Every outlet line of a `STATUS` answer.
fn parse_status(text: &str) -> Vec<(u32, String, Option<bool>)> {
    text.lines().filter_map(|l| parse_line(l.trim_end_matches('\r'))).collect()
}

/// A configured controller.
pub struct Baytech {
    addr: SocketAddr,
    login: String,
    password: String,
    hosts: Outlets,
}

/// Sends `line` and waits for the Outlet Control prompt; returns what came before it.
fn command(s: &mut Session, line: &str, deadline: Instant) -> Result<String, StonithError> {
    s.send(line)?;
    s.expect_with("RPC prompt", deadline, |t| prompt_end(t, is_prompt))
}

/// `STATUS`: every outlet's number, name and power.
fn status(s: &mut Session, deadline: Instant) -> Result<Vec<(u32, String, Option<bool>)>, StonithError> {
    Ok(parse_status(&command(s, "STATUS", deadline)?))
}

/// Turns `outlets` on or off, one command each, and reads the status afterwards.
fn switch(s: &mut Session, outlets: &[u32], on: bool, deadline: Instant) -> Result<Vec<(u32, Option<bool>)>, StonithError> {
    for n in outlets {
        s.send(&format!("{} {n}", if on { "ON" } else { "OFF" }))?;
        let asked =
            s.expect_with("(Y/N)> or the RPC prompt", deadline, |t| t.find("(Y/N)>").map(|i| i + 6).or_else(|| prompt_end(t, is_prompt)))?;
        if asked.ends_with("(Y/N)>") {
            command(s, "Y", deadline)?;
        }
    }
    Ok(status(s, deadline)?.into_iter().map(|(n, _, on)| (n, on)).collect())
}

impl Baytech {
    /// Configures it: address resolved; the outlet names read from the controller unless
    /// `hostmap` is given.
    pub fn open(p: &Params) -> Result<Baytech, StonithError> {
        let (login, password) = (p.get("login")?.to_string(), p.get("password")?.to_string());
        let (addr, hosts) = telnet::configure(INFO.name, "controller", p, INFO.params, |addr, deadline| {
            let d = Baytech { addr, login: login.clone(), password: password.clone(), hosts: Outlets::default() };
            let table = d.session(deadline, |s| status(s, deadline))?;
            Ok(table.into_iter().map(|(n, name, _)| (n, name)).collect())
        })?;
        Ok(Baytech { addr, login, password, hosts })
    }

    /// Logs in, enters Outlet Control, runs `f`, logs out (best effort).
    fn session<T>(&self, deadline: Instant, f: impl FnOnce(&mut Session) -> Result<T, StonithError>) -> Result<T, StonithError> {
        let mut s = Session::connect(self.addr, format!("Baytech controller at {}", self.addr), deadline)?;
        s.expect(&["username>"], deadline)?;
        s.send(&self.login)?;
        let refused = || StonithError::new(Code::Access, format!("Baytech controller at {}: login or password refused", self.addr));
        if s.expect(&["password>", "username>"], deadline)?.ends_with("username>") {
            return Err(refused());
        }
        s.send(&self.password)?;
        if s.expect(&["Selection>", "Invalid password", "username>"], deadline)?.ends_with("Selection>") {
            command(&mut s, "1", deadline)?;
        } else {
            return Err(refused());
        }
        let r = f(&mut s);
        let _ = s.send_raw(b"MENU\r6\r");
        r
    }

    fn outlets(&self, host: &str) -> Result<Vec<u32>, StonithError> {
        self.hosts.of(host, &format!("outlet of the controller at {}", self.addr))
    }
}

impl Driver for Baytech {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn hosts(&self) -> Vec<String> {
        self.hosts.hosts()
    }

    fn status(&mut self, deadline: Instant) -> Result<(), StonithError> {
        self.session(deadline, |s| status(s, deadline)).map(drop)
    }

    fn act(&mut self, action: Action, host: &str, deadline: Instant) -> Result<(), StonithError> {
        let outlets = self.outlets(host)?;
        self.session(deadline, |s| {
            let what = s.what.clone();
            act_read_back(&what, action, &outlets, |on| switch(s, &outlets, on, deadline))
        })
    }

    fn power(&mut self, host: &str, deadline: Instant) -> Result<Power, StonithError> {
        let outlets = self.outlets(host)?;
        let table = self.session(deadline, |s| status(s, deadline))?;
        let read: Vec<(u32, Option<bool>)> = table.into_iter().map(|(n, _, on)| (n, on)).collect();
        power_of(&format!("Baytech controller at {}", self.addr), host, &outlets, &read)
    }

    /// An off is read back in its own session: once it succeeded, the host reads off.
    fn off_confirmed(&mut self, host: &str, deadline: Instant) -> Result<(), StonithError> {
        self.act(Action::Off, host, deadline)
    }
}

/// The decoders of a controller's text, for the fuzz target.
pub(crate) fn fuzz(text: &str) -> usize {
    parse_status(text).len() + usize::from(prompt_end(text, is_prompt).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse_and_garbage_gives_nothing() {
        let t = "Internal Temperature:  25.5 C\r\nOutlet Circuit Breaker: Good\r\n Outlet     Name               Status\r\n      \
                 1       node1              On\r\n     12       my host            Off\r\n      3       x\r\n\r\nRPC-5>";
        assert_eq!(parse_status(t), vec![(1, "node1".into(), Some(true)), (12, "my host".into(), Some(false)), (3, "x".into(), None)]);
        assert!(parse_status("1\r\n12345678901234567890\u{e9}\r\n\u{e9}\u{e9}\u{e9}\u{e9}\r\n   x   \r\n").iter().all(|(n, _, _)| *n != 0));
        assert!(is_prompt("RPC-5>") && is_prompt("RPC-3A>") && !is_prompt("Enter Selection>") && !is_prompt("RPC-5 Menu:"));
    }
}
