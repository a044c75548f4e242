//! What the telnet-menu switch emulators ([`crate::wti`], [`crate::apc`])
//! share: a TCP listener that runs each connection's dialog on its own thread until the
//! emulator is dropped, and [`Keys`], which reads what a user (or a telnet client) types as
//! lines and single keys, without telnet negotiation bytes; and [`Bank`], the outlets and the
//! record of what was done to them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An emulated switch's outlets and every power command carried out, shared by its dialog
/// threads and read by the tests.
#[derive(Clone)]
pub struct Bank(Arc<Mutex<(Vec<bool>, Vec<String>)>>);

impl Bank {
    /// `n` outlets, all on.
    pub fn new(n: usize) -> Bank {
        Bank(Arc::new(Mutex::new((vec![true; n], Vec::new()))))
    }

    /// Outlet `n` (1-based) powered.
    pub fn on(&self, n: usize) -> bool {
        self.0.lock().unwrap().0[n - 1]
    }

    /// Every outlet's power, in order.
    pub fn all(&self) -> Vec<bool> {
        self.0.lock().unwrap().0.clone()
    }

    /// Every power command carried out (`on 1`, `off 2`, `reboot 3`).
    pub fn commands(&self) -> Vec<String> {
        self.0.lock().unwrap().1.clone()
    }

    /// Records `what` (`on`, `off`, `reboot`, in any case) on outlet `n` and switches it: on
    /// for `on`, off otherwise (a reboot is switched back on with [`Bank::set`]).
    pub fn command(&self, what: &str, n: usize) {
        let what = what.to_ascii_lowercase();
        let mut b = self.0.lock().unwrap();
        b.1.push(format!("{what} {n}"));
        b.0[n - 1] = what == "on";
    }

    /// Powers outlet `n` on or off.
    pub fn set(&self, n: usize, on: bool) {
        self.0.lock().unwrap().0[n - 1] = on;
    }
}

/// A listening emulator; stops (and stops every dialog) on drop.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Listens on `addr` (port 0: a free one) and runs `dialog` for each connection.
    pub fn start(addr: &str, name: &str, dialog: impl Fn(Keys) + Send + Sync + 'static) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let dialog = Arc::new(dialog);
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (d, s) = (dialog.clone(), s.clone());
                        let _ = conn.set_nonblocking(false);
                        let _ = conn.set_read_timeout(Some(Duration::from_millis(100)));
                        std::thread::spawn(move || d(Keys { conn, stop: s, after_cr: false, iac: 0 }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })?;
        Ok(Server { addr, stop, thread: Some(thread) })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What was typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A line, ended by CR or LF (CR LF and CR NUL count once), trimmed.
    Line(String),
    /// ESC, which menus take at once, without a CR.
    Esc,
    /// Ctrl-C.
    CtrlC,
}

/// One connection's input, and its output through [`Keys::say`].
pub struct Keys {
    conn: TcpStream,
    stop: Arc<AtomicBool>,
    after_cr: bool,
    /// Negotiation bytes still to skip.
    iac: u8,
}

impl Keys {
    /// Writes `text`; false once the peer has gone.
    pub fn say(&mut self, text: &str) -> bool {
        self.conn.write_all(text.as_bytes()).is_ok()
    }

    /// The next key or line; `None` once the peer has closed or the emulator stops.
    pub fn key(&mut self) -> Option<Key> {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            match self.conn.read(&mut b) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
                Err(_) => return None,
            }
            let c = b[0];
            let after_cr = std::mem::replace(&mut self.after_cr, false);
            if self.iac > 0 {
                // IAC WILL/WONT/DO/DONT take one option byte; anything else ends here.
                self.iac = if self.iac == 2 && (251..=254).contains(&c) { 1 } else { 0 };
                continue;
            }
            match c {
                255 => self.iac = 2,
                0x1b => return Some(Key::Esc),
                0x03 => return Some(Key::CtrlC),
                b'\n' | 0 if after_cr => {}
                b'\r' | b'\n' => {
                    self.after_cr = c == b'\r';
                    return Some(Key::Line(String::from_utf8_lossy(&line).trim().to_string()));
                }
                c => line.push(c),
            }
        }
    }

    /// The next line, empty or not, skipping keys (an answer to `Press <ENTER>`).
    pub fn line_or_empty(&mut self) -> Option<String> {
        loop {
            if let Key::Line(l) = self.key()? {
                return Some(l);
            }
        }
    }

    /// The next line that is not empty, skipping keys. A telnet client on a terminal turns
    /// the CR LF its user (or pexpect) sends into two line ends, and command-line dialogs take
    /// the empty line that makes as nothing rather than print a second prompt.
    pub fn line(&mut self) -> Option<String> {
        loop {
            match self.key()? {
                Key::Line(l) if !l.is_empty() => return Some(l),
                _ => {}
            }
        }
    }
}
