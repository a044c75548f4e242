//! A WTI Network Power Switch (NPS) on a TCP port, speaking the telnet-menu dialog its users
//! know: `Enter Password: `, then a `Network Power Switch` banner and the `NPS> ` prompt;
//! `/s` (or `/S`) prints the plug table, `/on`, `/off` and `/boot` take a plug list and `,y`,
//! answer `Processing - please wait` and come back to the prompt (a boot keeps the plug off
//! for 300 ms); `/h` prints help; `/x` logs out. Case does not matter; telnet option
//! negotiation bytes are ignored. Checked with the unmodified third-party clients: cluster-glue's
//! `stonith -t wti_nps` (which only ever connects to port 23) and `fence_wti` (through the
//! `telnet` client). Four plugs, `node1`, `node2`, `node2`, `spare`, all on; password `nps`.
//! Stops on drop.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The password the switch takes.
pub const PASSWORD: &str = "nps";
const NAMES: [&str; 4] = ["node1", "node2", "node2", "spare"];

/// A running switch.
pub struct WtiNps {
    addr: SocketAddr,
    on: Arc<Mutex<Vec<bool>>>,
    commands: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WtiNps {
    /// Listens on `addr` (port 0: a free one).
    pub fn start(addr: &str) -> std::io::Result<WtiNps> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let on = Arc::new(Mutex::new(vec![true; NAMES.len()]));
        let commands = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (o, c, s) = (on.clone(), commands.clone(), stop.clone());
        let thread = std::thread::Builder::new().name("wti-nps".into()).spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (o, c, s) = (o.clone(), c.clone(), s.clone());
                        std::thread::spawn(move || session(conn, &o, &c, &s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })?;
        Ok(WtiNps { addr, on, commands, stop, thread: Some(thread) })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
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

impl Drop for WtiNps {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one line (CR or LF ends it), without telnet negotiation bytes or NULs. `None`: the
/// peer closed, or the switch is stopping.
fn read_line(conn: &mut TcpStream, stop: &AtomicBool) -> Option<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    let mut iac = 0;
    loop {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        match conn.read(&mut b) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
            Err(_) => return None,
        }
        let c = b[0];
        if iac > 0 {
            iac -= 1;
            continue;
        }
        match c {
            255 => iac = 2,
            b'\r' | b'\n' if line.is_empty() => {}
            b'\r' | b'\n' => return Some(String::from_utf8_lossy(&line).trim().to_string()),
            0 => {}
            c => line.push(c),
        }
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
fn session(mut conn: TcpStream, on: &Mutex<Vec<bool>>, commands: &Mutex<Vec<String>>, stop: &AtomicBool) {
    let _ = conn.set_read_timeout(Some(Duration::from_millis(100)));
    let prompt = "\r\nNPS> ";
    let say = |c: &mut TcpStream, s: &str| c.write_all(s.as_bytes()).is_ok();
    loop {
        if !say(&mut conn, "\r\nEnter Password: ") {
            return;
        }
        let Some(pw) = read_line(&mut conn, stop) else { return };
        if pw == PASSWORD {
            break;
        }
        say(&mut conn, "\r\nInvalid password\r\n");
    }
    say(&mut conn, "\r\n\r\nNetwork Power Switch v3.12 (hb-hwtest)\r\n");
    say(&mut conn, prompt);
    while let Some(line) = read_line(&mut conn, stop) {
        let l = line.to_ascii_lowercase();
        let (cmd, rest) = l.split_once(' ').unwrap_or((l.as_str(), ""));
        match cmd {
            "/s" => {
                let t = table(&on.lock().unwrap());
                say(&mut conn, &t);
            }
            "/h" => {
                say(&mut conn, "\r\n/S  status   /On <plug>[,y]  /Off <plug>[,y]  /Boot <plug>[,y]  /X logout\r\n");
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
                    say(&mut conn, "\r\nInvalid plug\r\n");
                } else {
                    commands.lock().unwrap().push(format!(
                        "{} {}",
                        &cmd[1..],
                        plugs.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" ")
                    ));
                    say(&mut conn, "\r\n Processing - please wait ...\r\n");
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
                say(&mut conn, "\r\nInvalid command\r\n");
            }
        }
        if !say(&mut conn, prompt) {
            return;
        }
    }
}
