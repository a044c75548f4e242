//! `apcmaster`: APC MasterSwitch power switches through their telnet dialog, spoken natively
//! over TCP (no telnet client, no fork), in either dialog the switch may have:
//!
//! - the menus of the AP92xx/AP79xx firmware that cluster-glue's plugin walks: `1` Device
//!   Control lists the outlets (`N- NAME ON|OFF`), an outlet number, `1` Control Outlet, then
//!   `1` Immediate On or `2` Immediate Off, confirmed with `YES` and `<ENTER>`; ESC goes back
//!   up, `4` logs out;
//! - the command line of AOS v5 and later (`apc>`): `olStatus all`, `olOn LIST`, `olOff LIST`,
//!   answered `E000: Success`; `exit`.
//!
//! Which one is told by the prompt after the login (`User Name :`, `Password  :`; a second
//! `User Name :` is a wrong password). Both list each outlet's power, so every command is read
//! back in the same session: an off counts only once the outlets read off. A reset is an off,
//! read back as off, then an on: the host is known to have lost power, which the switch's own
//! reboot command cannot show.
//!
//! Parameters (cluster-glue's): `ipaddr`, `login`, `password`; and `port` (default 23:
//! cluster-glue's plugin can use no other), `hostmap` (`node1:1,node2:2,3`; without it the
//! outlet names are read from the switch at configuration, and a host is every outlet named
//! after it).

use crate::outlets::{act_read_back, power_of, Outlets};
use crate::telnet::{self, prompt_end, Session};
use crate::{Action, Code, Driver, Info, Params, Power, StonithError};
use std::net::SocketAddr;
use std::time::Instant;

/// This driver's description.
pub const INFO: Info = Info {
    name: "apcmaster",
    description: "APC MasterSwitch through its telnet menus or AOS command line, native (no telnet client)",
    params: &["ipaddr", "login", "password"],
    forks: false,
    confirms: true,
    operator: false,
};

const CONFIRM: &str = "Enter 'YES' to continue";
const CONTINUE: &str = "Press <ENTER> to continue";
const ESC: &[u8] = b"\x1b";

/// The switch's dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// The numbered menus (prompt `> `).
    Menus,
    /// The AOS command line (prompt `apc>`).
    Cli,
}

/// A prompt line: `>` (the menus) or `NAME>` (the command line).
fn is_prompt(line: &str) -> bool {
    line == ">"
        || line.strip_suffix('>').is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
}

/// An outlet as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outlet {
    n: u32,
    name: String,
    on: Option<bool>,
}

/// The outlet lines of a Device Control screen (`   N- NAME   ON|OFF`, after a `-----` line)
/// or of `olStatus` (` N: NAME: On|Off`).
fn parse_outlets(text: &str) -> Vec<Outlet> {
    let start = text.find("-----").unwrap_or(0);
    text[start..]
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let (n, rest) = l.split_once("- ").or_else(|| l.split_once(": "))?;
            let n: u32 = n.trim().parse().ok()?;
            let rest = rest.trim();
            let (name, on) = match rest.rsplit_once([' ', ':']) {
                Some((name, s)) if s.eq_ignore_ascii_case("on") => (name, Some(true)),
                Some((name, s)) if s.eq_ignore_ascii_case("off") => (name, Some(false)),
                _ => (rest, None),
            };
            Some(Outlet { n, name: name.trim().trim_end_matches(':').trim().to_string(), on })
        })
        .collect()
}

/// A configured switch.
pub struct ApcMaster {
    addr: SocketAddr,
    login: String,
    password: String,
    hosts: Outlets,
}

/// Sends `line` and waits for the next prompt; returns what came before it.
fn choose(s: &mut Session, line: &str, deadline: Instant) -> Result<String, StonithError> {
    s.send(line)?;
    s.expect_with("prompt", deadline, |t| prompt_end(t, is_prompt))
}

/// ESC, and the prompt of the menu above.
fn back(s: &mut Session, deadline: Instant) -> Result<String, StonithError> {
    s.send_raw(ESC)?;
    s.expect_with("prompt", deadline, |t| prompt_end(t, is_prompt))
}

/// Every outlet, from the top menu or the command line (the menus are left at Device Control).
fn listing(s: &mut Session, d: Dialect, deadline: Instant) -> Result<Vec<Outlet>, StonithError> {
    let text = match d {
        Dialect::Menus => choose(s, "1", deadline)?,
        Dialect::Cli => cli(s, "olStatus all", deadline)?,
    };
    Ok(parse_outlets(&text))
}

/// A command-line command that must answer `E000`.
fn cli(s: &mut Session, line: &str, deadline: Instant) -> Result<String, StonithError> {
    let text = choose(s, line, deadline)?;
    if text.contains("E000") {
        return Ok(text);
    }
    let why = text.lines().find(|l| l.trim_start().starts_with('E')).unwrap_or("no E000: Success").trim().to_string();
    Err(StonithError::new(Code::Oops, format!("{}: {line:?}: {why}", s.what)))
}

/// From Device Control: turns outlet `n` on or off through its Control Outlet menu and comes
/// back to Device Control (whose screen is returned).
fn menu_power(s: &mut Session, n: u32, on: bool, deadline: Instant) -> Result<String, StonithError> {
    choose(s, &n.to_string(), deadline)?;
    choose(s, "1", deadline)?;
    s.send(if on { "1" } else { "2" })?;
    let asked = s.expect_with("confirmation", deadline, |t| {
        [CONFIRM, CONTINUE].iter().filter_map(|k| t.find(k).map(|i| i + k.len())).min().or_else(|| prompt_end(t, is_prompt))
    })?;
    if asked.ends_with(CONFIRM) {
        s.send("YES")?;
        s.expect(&[CONTINUE], deadline)?;
    } else if !asked.ends_with(CONTINUE) {
        return Err(StonithError::new(Code::Oops, format!("{}: outlet {n} took no power command", s.what)));
    }
    s.send("")?;
    s.expect_with("prompt", deadline, |t| prompt_end(t, is_prompt))?;
    back(s, deadline)?;
    back(s, deadline)
}

impl ApcMaster {
    /// Configures it: address resolved; the outlet names read from the switch unless
    /// `hostmap` is given.
    pub fn open(p: &Params) -> Result<ApcMaster, StonithError> {
        let (login, password) = (p.get("login")?.to_string(), p.get("password")?.to_string());
        let (addr, hosts) = telnet::configure(INFO.name, "switch", p, INFO.params, |addr, deadline| {
            let d = ApcMaster { addr, login: login.clone(), password: password.clone(), hosts: Outlets::default() };
            let table = d.session(deadline, |s, dialect| listing(s, dialect, deadline))?;
            Ok(table.into_iter().map(|o| (o.n, o.name)).collect())
        })?;
        Ok(ApcMaster { addr, login, password, hosts })
    }

    /// Logs in, runs `f` from the top menu (or the command line), logs out (best effort).
    fn session<T>(&self, deadline: Instant, f: impl FnOnce(&mut Session, Dialect) -> Result<T, StonithError>) -> Result<T, StonithError> {
        let mut s = Session::connect(self.addr, format!("APC switch at {}", self.addr), deadline)?;
        s.expect(&["User Name :"], deadline)?;
        s.send(&self.login)?;
        s.expect(&["Password"], deadline)?;
        s.send(&self.password)?;
        let banner = s.expect_with("prompt", deadline, |t| t.find("User Name :").map(|i| i + 11).or_else(|| prompt_end(t, is_prompt)))?;
        if banner.ends_with("User Name :") {
            return Err(StonithError::new(Code::Access, format!("{}: login or password refused", s.what)));
        }
        let last = banner.rsplit(['\r', '\n']).next().unwrap_or("").trim();
        let dialect = if last == ">" { Dialect::Menus } else { Dialect::Cli };
        let r = f(&mut s, dialect);
        let _ = match dialect {
            Dialect::Menus => s.send_raw(b"\x1b\x1b\x1b\x1b4\r"),
            Dialect::Cli => s.send("exit"),
        };
        r
    }

    fn outlets(&self, host: &str) -> Result<Vec<u32>, StonithError> {
        self.hosts.of(host, &format!("outlet of the switch at {}", self.addr))
    }

    /// Turns `outlets` on or off and returns the listing read afterwards.
    fn power_outlets(s: &mut Session, d: Dialect, outlets: &[u32], on: bool, deadline: Instant) -> Result<Vec<Outlet>, StonithError> {
        match d {
            Dialect::Menus => {
                listing(s, d, deadline)?;
                let mut screen = String::new();
                for &n in outlets {
                    screen = menu_power(s, n, on, deadline)?;
                }
                back(s, deadline)?;
                Ok(parse_outlets(&screen))
            }
            Dialect::Cli => {
                let list = outlets.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
                cli(s, &format!("{} {list}", if on { "olOn" } else { "olOff" }), deadline)?;
                listing(s, d, deadline)
            }
        }
    }
}

/// Each outlet's number and power, as the shared read-back takes them.
fn powers(table: &[Outlet]) -> Vec<(u32, Option<bool>)> {
    table.iter().map(|o| (o.n, o.on)).collect()
}

impl Driver for ApcMaster {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn hosts(&self) -> Vec<String> {
        self.hosts.hosts()
    }

    fn status(&mut self, deadline: Instant) -> Result<(), StonithError> {
        self.session(deadline, |s, d| {
            listing(s, d, deadline)?;
            if d == Dialect::Menus {
                back(s, deadline)?;
            }
            Ok(())
        })
    }

    fn act(&mut self, action: Action, host: &str, deadline: Instant) -> Result<(), StonithError> {
        let outlets = self.outlets(host)?;
        self.session(deadline, |s, d| {
            let what = s.what.clone();
            act_read_back(&what, action, &outlets, |on| Ok(powers(&ApcMaster::power_outlets(s, d, &outlets, on, deadline)?)))
        })
    }

    fn power(&mut self, host: &str, deadline: Instant) -> Result<Power, StonithError> {
        let outlets = self.outlets(host)?;
        let table = self.session(deadline, |s, d| listing(s, d, deadline))?;
        power_of(&format!("APC switch at {}", self.addr), host, &outlets, &powers(&table))
    }

    /// An off is read back in its own session: once it succeeded, the host reads off.
    fn off_confirmed(&mut self, host: &str, deadline: Instant) -> Result<(), StonithError> {
        self.act(Action::Off, host, deadline)
    }
}

/// The decoders of a switch's text, for the fuzz target.
pub(crate) fn fuzz(text: &str) -> usize {
    parse_outlets(text).len() + usize::from(crate::telnet::prompt_end(text, is_prompt).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_listings_parse_and_garbage_gives_nothing() {
        let menus = "\r\n------- Device Control ----\r\n\r\n     1- node1                   ON\r\n     2- my host                 OFF\r\n     3- x\r\n\r\n     <ESC>- Back\r\n\r\n> ";
        assert_eq!(
            parse_outlets(menus),
            vec![
                Outlet { n: 1, name: "node1".into(), on: Some(true) },
                Outlet { n: 2, name: "my host".into(), on: Some(false) },
                Outlet { n: 3, name: "x".into(), on: None },
            ]
        );
        let cli = "olStatus all\r\nE000: Success\r\n 1: node1: On\r\n 2: Outlet 2: Off\r\n\r\napc>";
        assert_eq!(
            parse_outlets(cli),
            vec![Outlet { n: 1, name: "node1".into(), on: Some(true) }, Outlet { n: 2, name: "Outlet 2".into(), on: Some(false) }]
        );
        assert!(parse_outlets("garbage - : \u{0}\r\n-----\r\n- x\r\n99999999999- y ON").is_empty());
    }

    #[test]
    fn prompts_are_told_apart() {
        assert!(is_prompt(">") && is_prompt("apc>") && is_prompt("my-pdu>"));
        assert!(!is_prompt("<ESC>") && !is_prompt("") && !is_prompt("a b>") && !is_prompt("Enter 'YES' to continue"));
    }
}
