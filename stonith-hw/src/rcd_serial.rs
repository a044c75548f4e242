//! `rcd_serial`: a home-made reset circuit on a serial port's DTR or RTS line, as
//! cluster-glue's plugin drives it. Opening clears both lines; a reset asserts the chosen line
//! for `msduration` ms, then clears it. No data is sent, and nothing can be read back: it can
//! only reset (on and off are `S_INVAL`).
//!
//! Parameters (cluster-glue's): `hostlist` (the hosts wired to this line), `ttydev`, `dtr_rts`
//! (`dtr` or `rts`), `msduration` (the pulse, ms).
//!
//! The lines are behind [`ModemLines`]: a pseudo-terminal has none (its ioctls fail with
//! `ENOTTY`), so tests drive the driver through a recording implementation, and the real one
//! ([`TtyLines`]) is checked for its clean error on a pty. Unlike cluster-glue's plugin, which
//! opens the tty only when it resets, the tty is opened and its lines cleared when the device
//! is configured, as every hb driver is set up before it is needed: a wrong `ttydev` is found
//! at start-up, not at fence time.

use crate::{sys, Action, Code, Driver, Info, Params, StonithError};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// This driver's description.
pub const INFO: Info = Info {
    name: "rcd_serial",
    description: "a reset circuit on a serial port's DTR or RTS line (reset only, no read-back)",
    params: &["hostlist", "ttydev", "dtr_rts", "msduration"],
    forks: false,
    confirms: false,
    operator: false,
};

/// A modem-control line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// Data Terminal Ready.
    Dtr,
    /// Request To Send.
    Rts,
}

/// What can assert and clear a tty's control lines.
pub trait ModemLines: Send {
    /// Asserts (`on`) or clears `line`.
    fn set(&mut self, line: Line, on: bool) -> std::io::Result<()>;
}

/// A real tty's lines (`TIOCMBIS`/`TIOCMBIC`), opened read-only and non-blocking as
/// cluster-glue opens it.
pub struct TtyLines {
    fd: OwnedFd,
}

impl TtyLines {
    /// Opens `path`.
    pub fn open(path: &std::path::Path) -> std::io::Result<TtyLines> {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(path)?;
        Ok(TtyLines { fd: f.into() })
    }
}

impl Line {
    /// `DTR` or `RTS`.
    pub fn name(self) -> &'static str {
        match self {
            Line::Dtr => "DTR",
            Line::Rts => "RTS",
        }
    }
}

impl ModemLines for TtyLines {
    fn set(&mut self, line: Line, on: bool) -> std::io::Result<()> {
        sys::modem_lines(self.fd.as_fd(), if line == Line::Dtr { sys::DTR } else { sys::RTS }, on)
    }
}

/// A configured reset line.
pub struct RcdSerial {
    lines: Box<dyn ModemLines>,
    path: PathBuf,
    hosts: Vec<String>,
    line: Line,
    pulse: Duration,
}

impl RcdSerial {
    /// Configures it on the real tty `ttydev`.
    pub fn open(p: &Params) -> Result<RcdSerial, StonithError> {
        let path = PathBuf::from(p.get("ttydev")?);
        let lines = TtyLines::open(&path).map_err(|e| StonithError::new(Code::BadConfig, format!("{}: {e}", path.display())))?;
        RcdSerial::with_lines(p, Box::new(lines))
    }

    /// Configures it on `lines` (a test's recording lines, or [`TtyLines`]); clears both lines.
    pub fn with_lines(p: &Params, mut lines: Box<dyn ModemLines>) -> Result<RcdSerial, StonithError> {
        if let Some(u) = p.unknown(INFO.params).first() {
            return Err(StonithError::new(
                Code::BadConfig,
                format!("rcd_serial has no parameter {u} (it takes {})", INFO.params.join(", ")),
            ));
        }
        let hosts: Vec<String> =
            p.get("hostlist")?.split(|c: char| c == ',' || c.is_whitespace()).filter(|h| !h.is_empty()).map(str::to_string).collect();
        if hosts.is_empty() {
            return Err(StonithError::new(Code::BadConfig, "hostlist names no host"));
        }
        let line = match p.get("dtr_rts")? {
            "dtr" => Line::Dtr,
            "rts" => Line::Rts,
            other => return Err(StonithError::new(Code::BadConfig, format!("dtr_rts {other:?} must be dtr or rts"))),
        };
        let ms: u64 =
            p.get("msduration")?.parse().map_err(|_| StonithError::new(Code::BadConfig, "msduration is not a number of milliseconds"))?;
        let path = PathBuf::from(p.opt("ttydev").unwrap_or("(given lines)"));
        for l in [Line::Dtr, Line::Rts] {
            lines.set(l, false).map_err(|e| {
                let why = if e.raw_os_error() == Some(libc::ENOTTY) {
                    " (it has no modem-control lines: not a serial port, or a pty)"
                } else {
                    ""
                };
                StonithError::new(Code::BadConfig, format!("{}: clearing {}: {e}{why}", path.display(), l.name()))
            })?;
        }
        Ok(RcdSerial { lines, path, hosts, line, pulse: Duration::from_millis(ms) })
    }
}

impl Driver for RcdSerial {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn hosts(&self) -> Vec<String> {
        self.hosts.clone()
    }

    fn status(&mut self, _deadline: Instant) -> Result<(), StonithError> {
        // Clearing a clear line is harmless and proves the tty still answers.
        self.lines.set(self.line, false).map_err(|e| StonithError::new(Code::Oops, format!("{}: {e}", self.path.display())))
    }

    fn act(&mut self, action: Action, host: &str, deadline: Instant) -> Result<(), StonithError> {
        if !self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return Err(StonithError::new(Code::BadHost, format!("{host} is not on this reset line")));
        }
        if action != Action::Reset {
            return Err(StonithError::new(Code::Inval, format!("rcd_serial can only reset, not power {}", action.name())));
        }
        if Instant::now() + self.pulse >= deadline {
            return Err(StonithError::new(Code::Timeout, format!("the deadline is shorter than msduration {} ms", self.pulse.as_millis())));
        }
        let oops = |e: std::io::Error| StonithError::new(Code::Oops, format!("{}: {e}", self.path.display()));
        self.lines.set(self.line, true).map_err(oops)?;
        std::thread::sleep(self.pulse);
        self.lines.set(self.line, false).map_err(|e| StonithError::new(Code::Oops, format!("{}: {e}", self.path.display())))
    }
}
