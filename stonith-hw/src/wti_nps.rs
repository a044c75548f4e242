//! `wti_nps`: WTI Network Power Switches (NPS, IPS, TPS, Boot Bar) through their telnet menu,
//! spoken natively over TCP (no telnet client, no fork): `Password:` → the password, the
//! `PS>` prompt (any of `NPS>`, `IPS>`, `BB>`), `/s` for the plug table (number | name |
//! status), `/On`, `/Off` and `/Boot` with a plug list and `,y`, `/x,y` to leave. The table
//! reads each plug's power back, so an off is confirmed. One session per operation (the
//! switch takes few at a time), every read under the operation's deadline.
//!
//! Parameters (cluster-glue's): `ipaddr`, `password`; and `port` (default 23: cluster-glue's
//! plugin can use no other), `hostmap` (`node1:1,node2:2,3`; without it the plug names are
//! read from the switch at configuration, and a host is every plug named after it).

use crate::outlets::Outlets;
use crate::telnet::{self, Session};
use crate::{Action, Code, Driver, Info, Params, Power, StonithError};
use std::net::SocketAddr;
use std::time::Instant;

/// This driver's description.
pub const INFO: Info = Info {
    name: "wti_nps",
    description: "WTI Network Power Switch through its telnet menu, native (no telnet client)",
    params: &["ipaddr", "password"],
    forks: false,
    confirms: true,
    operator: false,
};

/// The prompts of the family.
const PROMPTS: &[&str] = &["PS>", "IPS>", "BB>"];

/// A configured switch.
pub struct WtiNps {
    addr: SocketAddr,
    password: String,
    hosts: Outlets,
}

/// `/s`: every plug's number, name and power.
fn table(s: &mut Session, deadline: Instant) -> Result<Vec<(u32, String, bool)>, StonithError> {
    s.send("/s")?;
    let text = s.expect(PROMPTS, deadline)?;
    Ok(parse_table(&text))
}

/// The plug lines of a `/s` listing: after the `-----+` separator, `number | name | status |`.
fn parse_table(text: &str) -> Vec<(u32, String, bool)> {
    let Some(start) = text.find("-----+") else { return Vec::new() };
    text[start..]
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('|').map(str::trim).collect();
            let n = cols.first()?.parse().ok()?;
            let on = match cols.get(2)?.to_ascii_uppercase().as_str() {
                "ON" => true,
                "OFF" => false,
                _ => return None,
            };
            Some((n, cols.get(1)?.to_string(), on))
        })
        .collect()
}

impl WtiNps {
    /// Configures it: address resolved; the plug names read from the switch unless `hostmap`
    /// is given.
    pub fn open(p: &Params) -> Result<WtiNps, StonithError> {
        let password = p.get("password")?.to_string();
        let (addr, hosts) = telnet::configure(INFO.name, "switch", p, INFO.params, |addr, deadline| {
            let d = WtiNps { addr, password: password.clone(), hosts: Outlets::default() };
            let t = d.session(deadline, |s| table(s, deadline))?;
            Ok(t.into_iter().map(|(n, name, _)| (n, name)).collect())
        })?;
        Ok(WtiNps { addr, password, hosts })
    }

    /// Logs in, runs `f`, logs out (best effort).
    fn session<T>(&self, deadline: Instant, f: impl FnOnce(&mut Session) -> Result<T, StonithError>) -> Result<T, StonithError> {
        let mut s = Session::connect(self.addr, format!("WTI switch at {}", self.addr), deadline)?;
        s.expect(&["Password:"], deadline)?;
        s.send(&self.password)?;
        let mut login = vec!["Invalid password"];
        login.extend_from_slice(PROMPTS);
        if s.expect(&login, deadline)?.contains("Invalid password") {
            return Err(StonithError::new(Code::Access, format!("{}: invalid password", s.what)));
        }
        let r = f(&mut s);
        let _ = s.send("/x,y");
        r
    }

    fn outlets(&self, host: &str) -> Result<Vec<u32>, StonithError> {
        self.hosts.of(host, &format!("plug of the switch at {}", self.addr))
    }
}

impl Driver for WtiNps {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn hosts(&self) -> Vec<String> {
        self.hosts.hosts()
    }

    fn status(&mut self, deadline: Instant) -> Result<(), StonithError> {
        self.session(deadline, |s| table(s, deadline)).map(drop)
    }

    fn act(&mut self, action: Action, host: &str, deadline: Instant) -> Result<(), StonithError> {
        let outlets = self.outlets(host)?;
        let list = outlets.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let cmd = match action {
            Action::On => "/On",
            Action::Off => "/Off",
            Action::Reset => "/Boot",
        };
        self.session(deadline, |s| {
            s.send(&format!("{cmd} {list},y"))?;
            let mut answers = vec!["(Y/N):"];
            answers.extend_from_slice(PROMPTS);
            if s.expect(&answers, deadline)?.contains("(Y/N):") {
                s.send("Y")?;
                s.expect(PROMPTS, deadline)?;
            }
            // What the table says now must be what was asked (a reboot ends on).
            let want = action != Action::Off;
            let table = table(s, deadline)?;
            match outlets.iter().find(|n| !table.iter().any(|(t, _, on)| t == *n && *on == want)) {
                None => Ok(()),
                Some(n) => Err(StonithError::new(
                    Code::ResetFail,
                    format!("{}: plug {n} is not {} after {cmd}", s.what, if want { "on" } else { "off" }),
                )),
            }
        })
    }

    fn power(&mut self, host: &str, deadline: Instant) -> Result<Power, StonithError> {
        let outlets = self.outlets(host)?;
        let table = self.session(deadline, |s| table(s, deadline))?;
        Ok(if table.iter().any(|(n, _, on)| *on && outlets.contains(n)) { Power::On } else { Power::Off })
    }
}

/// The decoders of a switch's text, for the fuzz target.
pub(crate) fn fuzz(text: &str) -> usize {
    parse_table(text).len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plug_table_parses_and_garbage_gives_nothing() {
        let t = "\r\nPlug | Name | Status |\r\n-----+------+--------+\r\n 1   | node1            |  ON    |\r\n 2   |                  |  OFF   |\r\n\r\nNPS> ";
        assert_eq!(parse_table(t), vec![(1, "node1".to_string(), true), (2, String::new(), false)]);
        assert!(parse_table("no table here").is_empty());
        assert!(parse_table("-----+\r\n x | y | z\r\n|||\r\n").is_empty());
    }
}
