//! Serial power switches on pseudo-terminals, speaking their devices' ASCII protocols, for the
//! `rps10` and `nw_rpc100s` drivers and for cluster-glue's plugins of the same names:
//! - [`Rps10`]: a WTI RPS-10M chain of ten units (`^B^X^X^B^X^X` + unit + command + CR;
//!   answers `Plug <n> On|Off` lines and `Complete`);
//! - [`Rpc100s`]: a Night/Ware RPC-100S (`//0,WAIT,TIME;` + CR; answers `OK` or `Invalid
//!   Entry`).
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

/// A protocol: takes the bytes received so far, carries out whole commands, returns replies.
type Protocol = fn(&mut Vec<u8>, &Mutex<SwitchLog>, &mut dyn FnMut(&[u8]));

impl Switch {
    /// `idle`: what the device says by itself every 500 ms while nobody talks to it.
    fn start(name: &str, outlets: usize, protocol: Protocol, idle: Option<&'static [u8]>) -> std::io::Result<Switch> {
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
        Switch::start("hb-rps10", 10, rps10, Some(b"RPS-10 Ready\r\n"))
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
        Switch::start("hb-rpc100s", 1, rpc100s, None)
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
