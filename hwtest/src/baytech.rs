//! A Baytech RPC-5 remote power controller on a TCP port, speaking the telnet dialog that
//! cluster-glue's `baytech` plugin walks: a banner (`RPC-5 Telnet Host`, `Bay Technical
//! Associates`, `Unit ID: …`), `Enter username>`, `Enter password>` (a wrong pair gives
//! `Invalid password`), the `RPC-5 Menu:` main menu ending `Enter Selection>`; `1` is Outlet
//! Control (prompt `RPC-5>`), `6` logs out. In Outlet Control: `STATUS` prints the unit's
//! readings (`Internal Temperature: …`) and one line per outlet — the number in 7 columns, 7
//! blanks, the name in 18 columns, then `On` or `Off` — ended by a blank line; `ON N`, `OFF N`
//! and `REBOOT N` ask `(Y/N)>` and take `Y`; a reboot says `Rebooting selected outlet(s)`, keeps
//! the outlet off for 300 ms and then `Power applied to outlet N`; an outlet already in the
//! state asked for says `already on.` or `already off.`; `MENU` goes back. Commands are taken
//! in any case.
//!
//! Checked with the unmodified third-party client, cluster-glue's `stonith -t baytech` (port
//! 23 only). Four outlets `node1`, `node2`, `node2`, `spare`, all on; user `root`, password
//! `baytech`.

use crate::telnetd::{Bank, Keys, Server};
use std::net::SocketAddr;
use std::time::Duration;

/// The user the controller takes.
pub const USER: &str = "root";
/// Its password.
pub const PASSWORD: &str = "baytech";
const NAMES: [&str; 4] = ["node1", "node2", "node2", "spare"];

/// A running controller.
pub struct Baytech {
    server: Server,
    state: Bank,
}

impl Baytech {
    /// Listens on `addr` (port 0: a free one).
    pub fn start(addr: &str) -> std::io::Result<Baytech> {
        let state = Bank::new(NAMES.len());
        let s = state.clone();
        let server = Server::start(addr, "baytech", move |keys| {
            let _ = session(keys, &s);
        })?;
        Ok(Baytech { server, state })
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

const MENU: &str = "\r\n\r\nRPC-5 Menu:\r\n\r\n    1)...Outlet Control\r\n    2)...Manage Users\r\n    3)...Configuration\r\n    \
                    4)...Unit Status\r\n    5)...Reset Unit\r\n    6)...Logout\r\n\r\nEnter Selection>";
const PROMPT: &str = "\r\n\r\nRPC-5>";

fn status(on: &[bool]) -> String {
    let mut t = String::from(
        "\r\n\r\nAverage Power:    0 Watts        Apparent Power:    0 VA\r\nTrue RMS Voltage: 120.1 Volts\r\n\
         True RMS Current:   0.0 Amps    Maximum Detected:   0.1 Amps\r\nInternal Temperature:  25.5 C\r\n\
         Outlet Circuit Breaker: Good\r\n Outlet     Name               Status\r\n",
    );
    for (i, name) in NAMES.iter().enumerate() {
        t.push_str(&format!("{:>7}       {:<18} {}\r\n", i + 1, name, if on[i] { "On" } else { "Off" }));
    }
    t.push_str("\r\n");
    t
}

/// One telnet session, until the peer leaves (`None`) or logs out.
fn session(mut keys: Keys, state: &Bank) -> Option<()> {
    keys.say("\r\n\r\nRPC-5 Telnet Host\r\nRevision F 4.22, (C) 1999\r\nBay Technical Associates\r\nUnit ID: BT-RPC5-HB\r\n");
    loop {
        keys.say("\r\nEnter username>");
        let user = keys.line()?;
        keys.say("\r\nEnter password>");
        let password = keys.line()?;
        if user == USER && password == PASSWORD {
            break;
        }
        keys.say("\r\nInvalid password\r\n");
    }
    loop {
        keys.say(MENU);
        match keys.line_or_empty()?.as_str() {
            "1" => outlet_control(&mut keys, state)?,
            "6" => {
                keys.say("\r\nLogging out...\r\n");
                return Some(());
            }
            _ => {}
        }
    }
}

/// The Outlet Control prompt, until `MENU`.
fn outlet_control(keys: &mut Keys, state: &Bank) -> Option<()> {
    keys.say(PROMPT);
    loop {
        let line = keys.line_or_empty()?.to_ascii_uppercase();
        let (cmd, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let outlets: Option<Vec<usize>> = arg.split(',').map(|n| n.trim().parse().ok().filter(|n| (1..=NAMES.len()).contains(n))).collect();
        match (cmd, outlets) {
            ("MENU", _) => return Some(()),
            ("STATUS", _) => {
                let t = status(&state.all());
                keys.say(&t);
            }
            ("ON" | "OFF" | "REBOOT", Some(list)) => {
                let want_on = cmd == "ON";
                let already = list.iter().all(|n| state.on(*n) == want_on);
                if already && cmd != "REBOOT" {
                    keys.say(&format!("\r\nOutlet {arg} already {}.\r\n", cmd.to_ascii_lowercase()));
                } else if cmd == "REBOOT" && !state.on(list[0]) {
                    keys.say(&format!("\r\nOutlet {arg} is already off.\r\n"));
                } else {
                    let verb = match cmd {
                        "ON" => "Turn On",
                        "OFF" => "Turn Off",
                        _ => "Reboot",
                    };
                    keys.say(&format!("\r\n{verb} Outlet {arg} (Y/N)>"));
                    if keys.line_or_empty()?.eq_ignore_ascii_case("y") {
                        carry_out(keys, state, cmd, &list);
                    }
                }
            }
            ("", _) => {}
            _ => {
                keys.say("\r\nInput error\r\n");
            }
        }
        keys.say(PROMPT);
    }
}

fn carry_out(keys: &mut Keys, state: &Bank, cmd: &str, list: &[usize]) {
    for &n in list {
        state.command(cmd, n);
    }
    if cmd == "REBOOT" {
        keys.say("\r\nRebooting selected outlet(s)...\r\n");
        std::thread::sleep(Duration::from_millis(300));
        for &n in list {
            state.set(n, true);
        }
        let names = list.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",");
        keys.say(&format!("\r\nPower applied to outlet {names}\r\n"));
    }
}
