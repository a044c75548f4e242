//! An APC MasterSwitch on a TCP port, in either of the two dialogs its users meet:
//!
//! - [`Dialect::Menus`], the AP9211-era menus that cluster-glue's `apcmaster` plugin walks:
//!   `User Name :`, `Password  :` (a wrong one gives `User Name :` again), an `American Power
//!   Conversion` banner and the `> ` prompt; `1` Device Control lists the outlets after a
//!   `-----` line as `N- NAME(23 columns) ON|OFF`; an outlet number opens the outlet, `1`
//!   Control Outlet, then `1` Immediate On, `2` Immediate Off or `3` Immediate Reboot; the
//!   switch asks `Enter 'YES' to continue or <ENTER> to cancel :` and then `Press <ENTER> to
//!   continue...`. ESC (without a CR) goes up one menu; `4` at the top logs out. Since
//!   cluster-glue's plugin first waits for the line a `telnet` client prints (`Escape character
//!   is '^]'.`), the switch sends that line before `User Name :`.
//! - [`Dialect::Cli`], the command line of AOS v5 and later, which `fence_apc` uses when the
//!   banner says so: the `apc>` prompt, `olStatus all|LIST`, `olOn LIST`, `olOff LIST` and
//!   `olReboot LIST` (LIST: `2`, `2,3`, `2-3` or `all`), each answered `E000: Success` (status
//!   lines ` N: NAME: On|Off`), `E101: Command Not Found` otherwise, and `exit`, `quit` or `bye`.
//!
//! Both are checked with the unmodified third-party clients: `stonith -t apcmaster` (port 23
//! only) for the menus, `fence_apc` (through Debian's `telnet`) for the command line. A reboot
//! keeps the outlet off for 300 ms. Four outlets `node1`, `node2`, `node2`, `spare`, all on;
//! user `apc`, password `apc` (the devices' defaults). Real switches take one session at a
//! time; this one takes any number.

use crate::telnetd::{Bank, Key, Keys, Server};
use std::net::SocketAddr;
use std::time::Duration;

/// The user name the switch takes.
pub const USER: &str = "apc";
/// The password the switch takes.
pub const PASSWORD: &str = "apc";
const NAMES: [&str; 4] = ["node1", "node2", "node2", "spare"];
/// How long a reboot keeps an outlet off.
const REBOOT_OFF: Duration = Duration::from_millis(300);

/// Which dialog the switch speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The menus (AP9211, cluster-glue's `apcmaster`).
    Menus,
    /// The AOS v5+ command line (`fence_apc`).
    Cli,
}

/// Carries out `what` (`on`, `off`, `reboot`) on outlet `n` (1-based).
fn power(bank: &Bank, what: &str, n: usize) {
    bank.command(what, n);
    if what == "reboot" {
        std::thread::sleep(REBOOT_OFF);
        bank.set(n, true);
    }
}

/// A running switch.
pub struct ApcMaster {
    server: Server,
    state: Bank,
}

impl ApcMaster {
    /// Listens on `addr` (port 0: a free one), speaking `dialect`.
    pub fn start(addr: &str, dialect: Dialect) -> std::io::Result<ApcMaster> {
        let state = Bank::new(NAMES.len());
        let s = state.clone();
        let server = Server::start(addr, "apc-master", move |keys| {
            if let Some(keys) = login(keys, dialect) {
                match dialect {
                    Dialect::Menus => {
                        let _ = menus(keys, &s);
                    }
                    Dialect::Cli => cli(keys, &s),
                }
            }
        })?;
        Ok(ApcMaster { server, state })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Outlet `n` (1-based) powered.
    pub fn on(&self, n: usize) -> bool {
        self.state.on(n)
    }

    /// Every power command carried out (`on 1`, `off 2`, `reboot 3`).
    pub fn commands(&self) -> Vec<String> {
        self.state.commands()
    }
}

/// The greeting and the login; `None` when the peer leaves.
fn login(mut keys: Keys, dialect: Dialect) -> Option<Keys> {
    if dialect == Dialect::Menus {
        keys.say("Trying 127.0.0.1...\r\nConnected to switch.\r\nEscape character is '^]'.\r\n");
    }
    loop {
        keys.say("\r\nUser Name : ");
        let user = keys.line()?;
        keys.say("\r\nPassword  : ");
        let password = keys.line()?;
        if user == USER && password == PASSWORD {
            break;
        }
    }
    let version = match dialect {
        Dialect::Menus => "MasterSwitch AP9211                      v2.2.0",
        Dialect::Cli => "Network Management Card AOS              v6.8.2",
    };
    keys.say(&format!(
        "\r\n\r\nAmerican Power Conversion               {version}\r\n\
         (c)Copyright 2026 All Rights Reserved   hb-hwtest emulator\r\n\
         -------------------------------------------------------------------------------\r\n\
         Name      : hb-hwtest                               Date : 12/03/2026\r\n\
         Contact   : Unknown                                 Time : 12:00:00\r\n\
         Location  : Unknown                                 User : Administrator\r\n"
    ));
    Some(keys)
}

/// Where a menu session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Menu {
    Top,
    Devices,
    Outlet(usize),
    Control(usize),
}

/// The screen of `menu`, ending with the prompt.
fn screen(menu: Menu, on: &[bool]) -> String {
    let state = |n: usize| if on[n - 1] { "ON" } else { "OFF" };
    let mut t = String::from("\r\n");
    match menu {
        Menu::Top => t.push_str(
            "------- Control Console -------------------------------------------------------\r\n\r\n\
             \x20    1- Device Control\r\n     2- Network\r\n     3- System\r\n     4- Logout\r\n\r\n\
             \x20    <ESC>- Main Menu, <ENTER>- Refresh, <CTRL-L>- Event Log\r\n",
        ),
        Menu::Devices => {
            t.push_str("------- Device Control --------------------------------------------------------\r\n\r\n");
            for (i, name) in NAMES.iter().enumerate() {
                t.push_str(&format!("     {}- {:<23} {}\r\n", i + 1, name, state(i + 1)));
            }
            t.push_str("\r\n     <ESC>- Back, <ENTER>- Refresh, <CTRL-L>- Event Log\r\n");
        }
        Menu::Outlet(n) => t.push_str(&format!(
            "------- Outlet {n} ---------------------------------------------------------------\r\n\r\n\
             \x20       Name         : {}\r\n        State        : {}\r\n\r\n\
             \x20    1- Control Outlet\r\n     2- Configure Outlet\r\n\r\n     <ESC>- Back, <ENTER>- Refresh\r\n",
            NAMES[n - 1],
            state(n)
        )),
        Menu::Control(n) => t.push_str(&format!(
            "------- Control Outlet --------------------------------------------------------\r\n\r\n\
             \x20       Name         : {}\r\n        Outlet       : {n}\r\n        State        : {}\r\n\r\n\
             \x20    1- Immediate On\r\n     2- Immediate Off\r\n     3- Immediate Reboot\r\n     4- Cancel\r\n\r\n\
             \x20    <ESC>- Back, <ENTER>- Refresh\r\n",
            NAMES[n - 1],
            state(n)
        )),
    }
    t.push_str("\r\n> ");
    t
}

/// The menus, from the top, until the peer leaves (`None`).
fn menus(mut keys: Keys, state: &Bank) -> Option<()> {
    let mut menu = Menu::Top;
    loop {
        let shown = screen(menu, &state.all());
        if !keys.say(&shown) {
            return None;
        }
        let line = match keys.key() {
            None => return None,
            Some(Key::Esc) | Some(Key::CtrlC) => {
                menu = match menu {
                    Menu::Top | Menu::Devices => Menu::Top,
                    Menu::Outlet(_) => Menu::Devices,
                    Menu::Control(n) => Menu::Outlet(n),
                };
                continue;
            }
            Some(Key::Line(l)) => l,
        };
        let pick: Option<usize> = line.parse().ok();
        menu = match (menu, pick) {
            (Menu::Top, Some(1)) => Menu::Devices,
            (Menu::Top, Some(4)) => {
                keys.say("\r\nBye.\r\n");
                return None;
            }
            (Menu::Devices, Some(n)) if (1..=NAMES.len()).contains(&n) => Menu::Outlet(n),
            (Menu::Outlet(n), Some(1)) => Menu::Control(n),
            (Menu::Control(n), Some(what @ 1..=3)) => {
                let what = ["on", "off", "reboot"][what - 1];
                keys.say(&format!(
                    "\r\n-----------------------------------------------------------------------------\r\n\
                     \x20 Immediate {what}: this command will immediately turn {what} outlet {n} named '{}'.\r\n\r\n\
                     Enter 'YES' to continue or <ENTER> to cancel : ",
                    NAMES[n - 1]
                ));
                if keys.line_or_empty()? == "YES" {
                    power(state, what, n);
                    keys.say("\r\n\r\n  Command successfully issued.\r\n\r\nPress <ENTER> to continue...");
                    keys.line_or_empty()?;
                }
                menu
            }
            (m, None) if line.is_empty() => m,
            (m, _) => {
                keys.say("\r\n  Invalid selection\r\n");
                m
            }
        };
    }
}

/// Outlets named by a command-line list: `2`, `2,3`, `2-3`, `all`.
fn outlet_list(text: &str) -> Option<Vec<usize>> {
    let mut v = Vec::new();
    for part in text.split(',').map(str::trim) {
        if part.eq_ignore_ascii_case("all") {
            v.extend(1..=NAMES.len());
            continue;
        }
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        if a == 0 || b < a || b > NAMES.len() {
            return None;
        }
        v.extend(a..=b);
    }
    (!v.is_empty()).then_some(v)
}

/// The AOS command line.
fn cli(mut keys: Keys, state: &Bank) {
    keys.say("Type ? for command listing\r\n\r\napc>");
    while let Some(line) = keys.line() {
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("").to_ascii_lowercase();
        let list = outlet_list(&words.collect::<Vec<_>>().join(""));
        let reply = match (cmd.as_str(), list) {
            ("exit" | "quit" | "bye", _) => {
                keys.say("\r\nBye.\r\n");
                return;
            }
            ("olstatus", Some(list)) => {
                let on = state.all();
                let mut t = String::from("E000: Success\r\n");
                for n in list {
                    t.push_str(&format!(" {n}: {}: {}\r\n", NAMES[n - 1], if on[n - 1] { "On" } else { "Off" }));
                }
                t
            }
            ("olon" | "oloff" | "olreboot", Some(list)) => {
                for n in list {
                    power(state, &cmd[2..], n);
                }
                "E000: Success\r\n".to_string()
            }
            ("olstatus" | "olon" | "oloff" | "olreboot", None) => "E102: Parameter Error\r\n".to_string(),
            _ => "E101: Command Not Found\r\n".to_string(),
        };
        if !keys.say(&format!("\r\n{reply}\r\napc>")) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outlet_lists_parse() {
        assert_eq!(outlet_list("2"), Some(vec![2]));
        assert_eq!(outlet_list("2,3"), Some(vec![2, 3]));
        assert_eq!(outlet_list("1-3"), Some(vec![1, 2, 3]));
        assert_eq!(outlet_list("all"), Some(vec![1, 2, 3, 4]));
        assert_eq!(outlet_list("9"), None);
        assert_eq!(outlet_list(""), None);
    }
}
