//! A WTI Network Power Switch (NPS) on a TCP port, speaking the telnet-menu dialog its users
//! know: `Enter Password: `, then a `Network Power Switch` banner and the `NPS> ` prompt;
//! `/s` (or `/S`) prints the plug table, `/on`, `/off` and `/boot` take a plug list and `,y`,
//! answer `Processing - please wait` and come back to the prompt (a boot keeps the plug off
//! for 300 ms); `/h` prints help; `/x` logs out. Case does not matter; telnet option
//! negotiation bytes are ignored. Checked with the unmodified third-party clients: cluster-glue's
//! `stonith -t wti_nps` (which only ever connects to port 23) and `fence_wti` (through the
//! `telnet` client). Four plugs, `node1`, `node2`, `node2`, `spare`, all on; password `nps`.
//! Stops on drop.

use crate::telnetd::{Keys, Server};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The password the switch takes.
pub const PASSWORD: &str = "nps";
const NAMES: [&str; 4] = ["node1", "node2", "node2", "spare"];

/// A running switch.
pub struct WtiNps {
    server: Server,
    on: Arc<Mutex<Vec<bool>>>,
    commands: Arc<Mutex<Vec<String>>>,
}

impl WtiNps {
    /// Listens on `addr` (port 0: a free one).
    pub fn start(addr: &str) -> std::io::Result<WtiNps> {
        let on = Arc::new(Mutex::new(vec![true; NAMES.len()]));
        let commands = Arc::new(Mutex::new(Vec::new()));
        let (o, c) = (on.clone(), commands.clone());
        let server = Server::start(addr, "wti-nps", move |keys| session(keys, &o, &c))?;
        Ok(WtiNps { server, on, commands })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Plug `n` (1-based) powered.
    pub fn on(&self, n: usize) -> bool {
        self.on.lock().unwrap()[n - 1]
    }

    /// Every power command carried out (`on 1`, `off 2 3`, `boot 1`).
    pub fn commands(&self) -> Vec<String> {
        self.commands.lock().unwrap().clone()
    }
}

fn table(on: &[bool]) -> String {
    let mut t = String::from(
        "\r\nPlug | Name             | Status | Boot Delay | Password         | Default |\r\n\
         -----+------------------+--------+------------+------------------+---------+\r\n",
    );
    for (i, name) in NAMES.iter().enumerate() {
        t.push_str(&format!(
            " {:<3} | {:<16} |  {:<4}  |   0.5 Secs | (undefined)      |   ON    |\r\n",
            i + 1,
            name,
            if on[i] { "ON" } else { "OFF" }
        ));
    }
    t.push_str("\r\n");
    t
}

/// One telnet session.
fn session(mut keys: Keys, on: &Mutex<Vec<bool>>, commands: &Mutex<Vec<String>>) {
    let prompt = "\r\nNPS> ";
    loop {
        if !keys.say("\r\nEnter Password: ") {
            return;
        }
        let Some(pw) = keys.line() else { return };
        if pw == PASSWORD {
            break;
        }
        keys.say("\r\nInvalid password\r\n");
    }
    keys.say("\r\n\r\nNetwork Power Switch v3.12 (hb-hwtest)\r\n");
    keys.say(prompt);
    while let Some(line) = keys.line() {
        let l = line.to_ascii_lowercase();
        let (cmd, rest) = l.split_once(' ').unwrap_or((l.as_str(), ""));
        match cmd {
            "/s" => {
                let t = table(&on.lock().unwrap());
                keys.say(&t);
            }
            "/h" => {
                keys.say("\r\n/S  status   /On <plug>[,y]  /Off <plug>[,y]  /Boot <plug>[,y]  /X logout\r\n");
            }
            "/x" | "/x,y" => return,
            "/on" | "/off" | "/boot" => {
                let list = rest.trim().trim_end_matches(",y").trim();
                let plugs: Vec<usize> = list
                    .split([' ', ','])
                    .filter_map(|p| p.trim().parse::<usize>().ok())
                    .filter(|p| (1..=NAMES.len()).contains(p))
                    .collect();
                if plugs.is_empty() {
                    keys.say("\r\nInvalid plug\r\n");
                } else {
                    commands.lock().unwrap().push(format!(
                        "{} {}",
                        &cmd[1..],
                        plugs.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" ")
                    ));
                    keys.say("\r\n Processing - please wait ...\r\n");
                    for &p in &plugs {
                        on.lock().unwrap()[p - 1] = cmd == "/on";
                    }
                    if cmd == "/boot" {
                        std::thread::sleep(Duration::from_millis(300));
                        for &p in &plugs {
                            on.lock().unwrap()[p - 1] = true;
                        }
                    }
                }
            }
            "" => {}
            _ => {
                keys.say("\r\nInvalid command\r\n");
            }
        }
        if !keys.say(prompt) {
            return;
        }
    }
}
