//! Serial power switches on pseudo-terminals, speaking their devices' ASCII protocols, for the
//! `rps10` and `nw_rpc100s` drivers and for cluster-glue's plugins of the same names:
//! - [`Rps10`]: a WTI RPS-10M chain of ten units (`^B^X^X^B^X^X` + unit + command + CR;
//!   answers `Plug <n> On|Off` lines and `Complete`);
//! - [`Rpc100s`]: a Night/Ware RPC-100S (`//0,WAIT,TIME;` + CR; answers `OK` or `Invalid
//!   Entry`);
//! - [`SmartUps`]: an APC Smart-UPS in the Smart protocol (single-character commands at 2400
//!   baud; see its own documentation).
//!
//! The RPS-10 says `RPS-10 Ready` every 500 ms while idle: the real unit says it after a DTR
//! toggle, which cluster-glue's plugin makes and waits for, and a pty has no DTR.
//!
//! Each records every command it carried out and keeps its outlets' state; garbage is skipped
//! (and counted). Time-based switching is scaled down: the RPC-100S's TIME seconds last TIME ×
//! 100 ms, the RPS-10's toggle 300 ms.

use crate::TempDir;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a switch has seen and holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwitchLog {
    /// Every command carried out, as text (`0T`, `//0,0,*;`).
    pub commands: Vec<String>,
    /// Outlets (units) powered, by number.
    pub on: Vec<bool>,
    /// Bytes that were not part of a command.
    pub garbage: u64,
}

/// A switch on a pty; stops on drop.
pub struct Switch {
    dir: TempDir,
    log: Arc<Mutex<SwitchLog>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A protocol: takes the bytes received so far, carries out whole commands, returns replies
/// (a closure, so that a device can keep state of its own).
type Protocol = Box<dyn FnMut(&mut Vec<u8>, &Mutex<SwitchLog>, &mut dyn FnMut(&[u8])) + Send>;

impl Switch {
    /// `idle`: what the device says by itself every 500 ms while nobody talks to it.
    fn start(name: &str, outlets: usize, mut protocol: Protocol, idle: Option<&'static [u8]>) -> std::io::Result<Switch> {
        let dir = TempDir::new(name);
        let (mut master, slave, pts) = crate::sys::open_pty()?;
        std::os::unix::fs::symlink(&pts, dir.path.join("ttyS0"))?;
        let log = Arc::new(Mutex::new(SwitchLog { on: vec![true; outlets], ..SwitchLog::default() }));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (log.clone(), stop.clone());
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || {
            let _keep = slave;
            let mut pending = Vec::new();
            let mut buf = [0u8; 256];
            let mut out = master.try_clone().expect("a second handle on the pty master");
            let mut quiet: u32 = 0;
            while !s.load(Ordering::Relaxed) {
                use std::os::fd::AsFd;
                if !crate::sys::poll_readable(&[master.as_fd()], 50)[0] {
                    // Time-based changes (a UPS's shutdown-and-return) happen while idle too.
                    protocol(&mut pending, &l, &mut |reply| {
                        let _ = out.write_all(reply);
                    });
                    quiet += 1;
                    if let Some(text) = idle.filter(|_| quiet.is_multiple_of(10) && pending.is_empty()) {
                        let _ = out.write_all(text);
                    }
                    continue;
                }
                quiet = 0;
                match master.read(&mut buf) {
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                }
                protocol(&mut pending, &l, &mut |reply| {
                    let _ = out.write_all(reply);
                });
                if pending.len() > 4096 {
                    l.lock().unwrap().garbage += pending.len() as u64;
                    pending.clear();
                }
            }
        })?;
        Ok(Switch { dir, log, stop, thread: Some(thread) })
    }

    /// The tty the driver opens.
    pub fn path(&self) -> PathBuf {
        self.dir.path.join("ttyS0")
    }

    /// What the switch has seen so far.
    pub fn log(&self) -> SwitchLog {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A WTI RPS-10M chain of ten units, all on.
pub struct Rps10;

impl Rps10 {
    /// Plugs the chain in.
    pub fn start() -> std::io::Result<Switch> {
        // The real unit announces itself after the DTR toggle cluster-glue's plugin makes when
        // it connects; a pty has no DTR, so the emulator announces itself while idle.
        Switch::start("hb-rps10", 10, Box::new(rps10), Some(b"RPS-10 Ready\r\n"))
    }
}

const PASSWORD: [u8; 6] = [2, 24, 24, 2, 24, 24];

fn rps10(pending: &mut Vec<u8>, log: &Mutex<SwitchLog>, reply: &mut dyn FnMut(&[u8])) {
    loop {
        let Some(at) = pending.windows(6).position(|w| w == PASSWORD) else {
            let keep = pending.len().min(5);
            log.lock().unwrap().garbage += (pending.len() - keep) as u64;
            pending.drain(..pending.len() - keep);
            return;
        };
        if pending.len() < at + 9 {
            return;
        }
        log.lock().unwrap().garbage += at as u64;
        let (unit, cmd, cr) = (pending[at + 6], pending[at + 7], pending[at + 8]);
        pending.drain(..at + 9);
        let units: Vec<usize> = match unit {
            b'0'..=b'9' => vec![usize::from(unit - b'0')],
            b'*' => (0..10).collect(),
            _ => continue,
        };
        if cr != b'\r' || !matches!(cmd, b'0' | b'1' | b'T' | b'?') {
            continue;
        }
        log.lock().unwrap().commands.push(format!("{}{}", unit as char, cmd as char));
        let plug = |u: usize, on: bool| format!("Plug {u} {}\r\n", if on { "On" } else { "Off" });
        let mut text = String::from("\r\n");
        for &u in &units {
            match cmd {
                b'0' | b'1' => {
                    log.lock().unwrap().on[u] = cmd == b'1';
                    text.push_str(&plug(u, cmd == b'1'));
                }
                b'T' => {
                    log.lock().unwrap().on[u] = false;
                    reply(plug(u, false).as_bytes());
                    std::thread::sleep(Duration::from_millis(300));
                    log.lock().unwrap().on[u] = true;
                    text.push_str(&plug(u, true));
                }
                _ => text.push_str(&plug(u, log.lock().unwrap().on[u])),
            }
        }
        text.push_str("Complete\r\n");
        reply(text.as_bytes());
    }
}

/// A Night/Ware RPC-100S with its one outlet on.
pub struct Rpc100s;

impl Rpc100s {
    /// Plugs it in.
    pub fn start() -> std::io::Result<Switch> {
        Switch::start("hb-rpc100s", 1, Box::new(rpc100s), None)
    }
}

fn rpc100s(pending: &mut Vec<u8>, log: &Mutex<SwitchLog>, reply: &mut dyn FnMut(&[u8])) {
    while let Some(end) = pending.iter().position(|b| *b == b'\r' || *b == b'\n') {
        let line: Vec<u8> = pending.drain(..=end).collect();
        let text = String::from_utf8_lossy(&line[..line.len() - 1]).trim().to_string();
        if text.is_empty() {
            continue;
        }
        // //0,WAIT,TIME; with WAIT a number and TIME a number or *.
        let parsed =
            text.strip_prefix("//0,").and_then(|r| r.strip_suffix(';')).and_then(|r| r.split_once(',')).and_then(|(wait, time)| {
                let wait: u64 = wait.parse().ok()?;
                let time = if time == "*" { None } else { Some(time.parse::<u64>().ok()?) };
                Some((wait, time))
            });
        match parsed {
            None => reply(b"\r\nInvalid Entry\r\n"),
            Some((_, time)) => {
                log.lock().unwrap().commands.push(text.clone());
                match time {
                    None => log.lock().unwrap().on[0] = false,
                    Some(0) => log.lock().unwrap().on[0] = true,
                    Some(t) => {
                        log.lock().unwrap().on[0] = false;
                        reply(b"\r\nOK\r\n");
                        std::thread::sleep(Duration::from_millis(100 * t));
                        log.lock().unwrap().on[0] = true;
                        continue;
                    }
                }
                reply(b"\r\nOK\r\n");
            }
        }
    }
}

/// An APC Smart-UPS feeding one load (outlet 0), on line power, in the Smart protocol as
/// cluster-glue's `apcsmart` plugin and hb's driver speak it. Every command is one byte (but
/// `@nnn`), and nothing is answered before `Y` (`SM`) has put the UPS in smart mode:
/// - `Q` the status flags (`08`: on line); `~` register 1, whose bit `0x40` says the load is
///   off; `8` register 3, whose bit `0x08` says a shutdown-and-return is under way;
/// - `Z` twice, 1.5 to 10 s apart, turns the load off at once; Ctrl-N (`0x0E`) twice, the same
///   way, turns it on (neither is answered: the registers tell);
/// - `S` (shut down while on battery) answers `NA` on line power; `@000` answers `OK`, turns
///   the load off after the shutdown delay and back on 300 ms later;
/// - `p` and `r` read the shutdown delay (`020`, `180`, `300`, `600` s) and the wake-up delay
///   (`000`, `060`, `180`, `300` s); `-` moves the one last read to its next value (`OK`).
///
/// Replies end in CR LF. Times are scaled: a shutdown delay of N seconds lasts N × 10 ms.
/// Other bytes are counted as garbage, and unknown letters answered `NA`.
pub struct SmartUps;

impl SmartUps {
    /// Plugs it in, the load on.
    pub fn start() -> std::io::Result<Switch> {
        let mut ups = Ups::default();
        Switch::start(
            "hb-smartups",
            1,
            Box::new(move |p: &mut Vec<u8>, l: &Mutex<SwitchLog>, r: &mut dyn FnMut(&[u8])| ups.take(p, l, r)),
            None,
        )
    }
}

const SHUTDOWN_DELAYS: [&str; 4] = ["020", "180", "300", "600"];
const WAKEUP_DELAYS: [&str; 4] = ["000", "060", "180", "300"];

/// What a Smart-UPS holds between commands.
#[derive(Default)]
struct Ups {
    smart: bool,
    /// The first `Z` or Ctrl-N of a pair, and when.
    first: Option<(u8, std::time::Instant)>,
    /// Index into the delays; which one `-` moves (`p` or `r`).
    shutdown: usize,
    wakeup: usize,
    last_var: Option<u8>,
    /// A shutdown-and-return: when the load goes off, and when it comes back.
    reset: Option<(std::time::Instant, std::time::Instant)>,
}

impl Ups {
    /// Carries out a shutdown-and-return whose times have come.
    fn tick(&mut self, log: &Mutex<SwitchLog>) {
        let now = std::time::Instant::now();
        if let Some((off, on)) = self.reset {
            if now >= on {
                log.lock().unwrap().on[0] = true;
                self.reset = None;
            } else if now >= off {
                log.lock().unwrap().on[0] = false;
            }
        }
    }

    fn take(&mut self, pending: &mut Vec<u8>, log: &Mutex<SwitchLog>, reply: &mut dyn FnMut(&[u8])) {
        self.tick(log);
        while let Some(&c) = pending.first() {
            if c == b'@' {
                if pending.len() < 4 {
                    return;
                }
                let arg: Vec<u8> = pending.drain(..4).skip(1).collect();
                if self.smart && arg.iter().all(u8::is_ascii_digit) {
                    log.lock().unwrap().commands.push(format!("@{}", String::from_utf8_lossy(&arg)));
                    let now = std::time::Instant::now();
                    let off = now + Duration::from_millis(10 * SHUTDOWN_DELAYS[self.shutdown].parse::<u64>().unwrap_or(20));
                    self.reset = Some((off, off + Duration::from_millis(300)));
                    reply(b"OK\r\n");
                }
                continue;
            }
            pending.remove(0);
            let answer = self.command(c, log);
            if let Some(a) = answer {
                reply(format!("{a}\r\n").as_bytes());
            }
        }
    }

    /// One single-byte command; its answer, if any.
    fn command(&mut self, c: u8, log: &Mutex<SwitchLog>) -> Option<String> {
        if c == b'Y' {
            self.smart = true;
            return Some("SM".into());
        }
        if matches!(c, b'\r' | b'\n') {
            return None;
        }
        if !self.smart || !(c.is_ascii_graphic() || c == 0x0E) {
            log.lock().unwrap().garbage += 1;
            return None;
        }
        let off = !log.lock().unwrap().on[0];
        match c {
            b'Q' => Some("08".into()),
            b'~' => Some(if off { "40".into() } else { "00".into() }),
            b'8' => Some(if self.reset.is_some() { "08".into() } else { "00".into() }),
            b'S' => Some("NA".into()),
            b'p' | b'r' => {
                self.last_var = Some(c);
                Some(if c == b'p' { SHUTDOWN_DELAYS[self.shutdown] } else { WAKEUP_DELAYS[self.wakeup] }.into())
            }
            b'-' => {
                match self.last_var {
                    Some(b'p') => self.shutdown = (self.shutdown + 1) % SHUTDOWN_DELAYS.len(),
                    Some(_) => self.wakeup = (self.wakeup + 1) % WAKEUP_DELAYS.len(),
                    None => return Some("NA".into()),
                }
                Some("OK".into())
            }
            b'Z' | 0x0E => {
                let now = std::time::Instant::now();
                match self.first.take() {
                    Some((f, at)) if f == c && (Duration::from_millis(1500)..=Duration::from_secs(10)).contains(&(now - at)) => {
                        let on = c == 0x0E;
                        log.lock().unwrap().commands.push(if on { "on".into() } else { "off".into() });
                        log.lock().unwrap().on[0] = on;
                        self.reset = None;
                    }
                    _ => self.first = Some((c, now)),
                }
                None
            }
            _ => Some("NA".into()),
        }
    }
}
