//! Logging that never blocks the RT thread.
//!
//! The RT thread pushes fixed-size, `Copy` [`Record`]s (no strings: an event, a counter, an
//! errno) into a lock-free SPSC ring ([`RtLog`]); the log thread ([`spawn_log_thread`]) pops
//! them, formats them with the node and link names, and writes them to the sinks. When the
//! ring is full a record is dropped and counted; the log thread reports the count as soon as
//! it next runs ("N log records dropped").
//!
//! Other threads log through [`Logger`] directly (they may block on a sink; the RT thread never
//! does). Sinks, as heartbeat's `ha.cf` names them: standard error (when hbd runs in the
//! foreground), `logfile`, `debugfile` (debug records, and everything else too, as heartbeat
//! does), and syslog (`logfacility`) through `/dev/log`.

use crate::liveness::Event;
use crate::time::Nanos;
use crate::wire::Reject;
use std::fs::File;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Something failed.
    Error,
    /// Something is wrong or degraded.
    Warn,
    /// Normal, notable.
    Info,
    /// Only with `debug` > 0.
    Debug,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
    fn syslog_severity(self) -> u8 {
        match self {
            Level::Error => 3,
            Level::Warn => 4,
            Level::Info => 6,
            Level::Debug => 7,
        }
    }
}

/// What the RT thread logs: fixed size, no heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogMsg {
    /// A liveness event.
    Event(Event),
    /// Packets dropped on a link (rate-limited: at most one record per link per second).
    Rejected {
        /// Link index.
        link: u8,
        /// The latest reason.
        reason: Reject,
        /// All rejected on this link so far.
        total: u64,
    },
    /// The kernel dropped datagrams on a link's socket before hbd saw them (rate-limited like
    /// [`LogMsg::Rejected`]).
    KernelDropped {
        /// Link index.
        link: u8,
        /// The kernel's count so far.
        total: u64,
    },
    /// A send failed.
    TxError {
        /// Link index.
        link: u8,
        /// errno.
        errno: i32,
    },
    /// A serial frame did not decode (its bytes were noise or were hit by it).
    BadFrame {
        /// Link index.
        link: u8,
        /// What was wrong.
        what: hb_media::frame::FrameError,
        /// Bad frames on this link so far.
        total: u64,
    },
    /// A serial port hung up or failed (unplugged); the link is silent from now on.
    PortGone {
        /// Link index.
        link: u8,
        /// errno (0: end of file, the tty hung up).
        errno: i32,
    },
    /// A serial port that was gone has been reopened; the link carries heartbeats again.
    PortBack {
        /// Link index.
        link: u8,
    },
    /// The loop's wait failed (it retries).
    LoopError {
        /// errno.
        errno: i32,
    },
    /// hbd stopped petting the watchdog (the node will be reset).
    WatchdogWithheld {
        /// Why.
        reason: hb_watchdog::decision::Reason,
    },
    /// hbd petting again after withholding.
    WatchdogResumed,
    /// A pet failed.
    WatchdogPetFailed {
        /// errno.
        errno: i32,
    },
}

/// A log record from the RT thread.
#[derive(Debug, Clone, Copy)]
pub struct Record {
    /// When (CLOCK_MONOTONIC).
    pub at: Nanos,
    /// What.
    pub msg: LogMsg,
}

struct Sinks {
    stderr: bool,
    file: Mutex<Option<File>>,
    debugfile: Mutex<Option<File>>,
    syslog: Option<(UnixDatagram, u8)>,
    debug: std::sync::atomic::AtomicU8,
}

/// A handle for non-RT threads; cheap to clone.
#[derive(Clone)]
pub struct Logger {
    sinks: Arc<Sinks>,
}

/// Where logs go.
#[derive(Debug, Clone, Default)]
pub struct LogConfig {
    /// Write to standard error.
    pub stderr: bool,
    /// `logfile`.
    pub logfile: Option<std::path::PathBuf>,
    /// `debugfile`.
    pub debugfile: Option<std::path::PathBuf>,
    /// `logfacility` code (syslog), if any.
    pub facility: Option<u8>,
    /// `debug` level.
    pub debug: u8,
}

impl Logger {
    /// Opens the sinks. A sink that cannot be opened is reported on the others and skipped
    /// (heartbeat users asked for "start and warn", not "refuse to start", on a bad log file).
    pub fn new(c: &LogConfig) -> Logger {
        let mut problems = Vec::new();
        let file = c.logfile.as_ref().and_then(|p| {
            crate::files::open_append(p).map_err(|e| problems.push(format!("cannot open logfile {}: {e}", p.display()))).ok()
        });
        let debugfile = c.debugfile.as_ref().and_then(|p| {
            crate::files::open_append(p).map_err(|e| problems.push(format!("cannot open debugfile {}: {e}", p.display()))).ok()
        });
        let syslog = c.facility.and_then(|f| {
            let s = UnixDatagram::unbound().ok()?;
            match s.connect("/dev/log") {
                Ok(()) => Some((s, f)),
                Err(e) => {
                    problems.push(format!("syslog (/dev/log) unavailable, logfacility ignored: {e}"));
                    None
                }
            }
        });
        let l = Logger {
            sinks: Arc::new(Sinks {
                stderr: c.stderr,
                file: Mutex::new(file),
                debugfile: Mutex::new(debugfile),
                syslog,
                debug: c.debug.into(),
            }),
        };
        for p in problems {
            l.log(Level::Warn, &p);
        }
        l
    }

    /// Writes one line to every sink that takes this level.
    pub fn log(&self, level: Level, msg: &str) {
        self.log_at(level, msg, None)
    }

    /// Like [`Self::log`], stamped with when it happened (CLOCK_MONOTONIC) rather than now.
    pub fn log_at(&self, level: Level, msg: &str, at: Option<Nanos>) {
        let s = &self.sinks;
        if level == Level::Debug && s.debug.load(Ordering::Relaxed) == 0 {
            return;
        }
        let ago = at.map_or(Duration::ZERO, |t| Duration::from_nanos(crate::time::now().sub(t).0));
        // Log lines carry the wall-clock time people read logs in.
        #[allow(clippy::disallowed_methods)]
        let wall = SystemTime::now();
        let line = format!("{} hbd[{}]: {}: {}\n", utc_at(wall - ago), std::process::id(), level.name(), msg);
        if s.stderr {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        if level != Level::Debug {
            if let Ok(mut f) = s.file.lock() {
                if let Some(f) = f.as_mut() {
                    let _ = f.write_all(line.as_bytes());
                }
            }
            if let Some((sock, fac)) = &s.syslog {
                let pri = u16::from(*fac) * 8 + u16::from(level.syslog_severity());
                let _ = sock.send(format!("<{pri}>hbd[{}]: {}: {}", std::process::id(), level.name(), msg).as_bytes());
            }
        }
        if let Ok(mut f) = s.debugfile.lock() {
            if let Some(f) = f.as_mut() {
                let _ = f.write_all(line.as_bytes());
            }
        }
    }

    /// The `debug` level in force.
    pub fn debug_level(&self) -> u8 {
        self.sinks.debug.load(Ordering::Relaxed)
    }
    /// Changes the `debug` level (heartbeat's SIGUSR1 raises it, SIGUSR2 lowers it).
    pub fn set_debug_level(&self, level: u8) {
        self.sinks.debug.store(level, Ordering::Relaxed);
    }

    /// `log(Info, …)`.
    pub fn info(&self, msg: &str) {
        self.log(Level::Info, msg)
    }
    /// `log(Warn, …)`.
    pub fn warn(&self, msg: &str) {
        self.log(Level::Warn, msg)
    }
    /// `log(Error, …)`.
    pub fn error(&self, msg: &str) {
        self.log(Level::Error, msg)
    }
}

/// The RT thread's end of the log ring.
pub struct RtLog {
    prod: rtrb::Producer<Record>,
    dropped: Arc<AtomicU64>,
    /// The log thread, which sleeps until woken.
    drainer: Option<std::thread::Thread>,
}

impl RtLog {
    /// Queues a record; drops and counts it if the ring is full. Never blocks or allocates.
    /// Wakes the log thread: an atomic swap, plus a non-blocking futex wake when it sleeps
    /// (the RT thread logs rarely — events, and rejects and send errors at a limited rate —
    /// so an idle hbd's log thread never runs).
    pub fn push(&mut self, at: Nanos, msg: LogMsg) {
        if self.prod.push(Record { at, msg }).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.flush_soon();
    }
    /// Wakes the log thread now. A non-blocking futex wake at most; no allocation.
    pub fn flush_soon(&self) {
        if let Some(t) = &self.drainer {
            t.unpark();
        }
    }
    /// Records dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Names the log thread needs to format RT records.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Peer names by index.
    pub peers: Vec<String>,
    /// Link names by index.
    pub links: Vec<String>,
    /// Ping pseudo-member names by index.
    pub pings: Vec<String>,
    /// deadtime, for messages.
    pub deadtime: Nanos,
    /// warntime, for messages.
    pub warntime: Nanos,
    /// deadping, for messages.
    pub deadping: Nanos,
}

/// Capacity of the RT log ring.
pub const RING: usize = 1024;
/// Stack size of the log thread (every byte of a thread stack is locked by mlockall).
pub const STACK: usize = 256 * 1024;

/// Creates the ring and the log thread. `stop` ends the thread once the ring is empty (unpark
/// the thread after setting it).
pub fn spawn_log_thread(logger: Logger, names: Names, stop: Arc<AtomicBool>) -> std::io::Result<(RtLog, std::thread::JoinHandle<()>)> {
    let (prod, mut cons) = rtrb::RingBuffer::<Record>::new(RING);
    let dropped = Arc::new(AtomicU64::new(0));
    let d2 = dropped.clone();
    let h = std::thread::Builder::new().name("hbd-log".into()).stack_size(STACK).spawn(move || {
        let mut reported = 0u64;
        loop {
            let mut any = false;
            while let Ok(r) = cons.pop() {
                any = true;
                let (level, text) = format_record(&names, &r);
                logger.log_at(level, &text, Some(r.at));
            }
            let d = d2.load(Ordering::Relaxed);
            if d != reported {
                logger.warn(&format!("{} log records dropped (log ring full)", d - reported));
                reported = d;
            }
            if stop.load(Ordering::Acquire) && cons.is_empty() {
                break;
            }
            if !any {
                // Woken by every push (and by whoever sets `stop`); a wake-up that came
                // between the last pop and here is kept, so none is lost.
                std::thread::park();
            }
        }
    })?;
    let drainer = Some(h.thread().clone());
    Ok((RtLog { prod, dropped, drainer }, h))
}

fn name(v: &[String], i: u8) -> &str {
    v.get(usize::from(i)).map(String::as_str).unwrap_or("?")
}

/// Formats an RT record as the log thread writes it.
pub fn format_record(n: &Names, r: &Record) -> (Level, String) {
    match r.msg {
        LogMsg::Event(e) => format_event(n, &e),
        LogMsg::Rejected { link, reason, total } => (
            Level::Warn,
            format!("link {}: dropped a packet ({}); {total} dropped on this link so far", name(&n.links, link), reason.name()),
        ),
        LogMsg::KernelDropped { link, total } => (
            Level::Warn,
            format!(
                "link {}: the kernel dropped datagrams before hbd saw them (not this cluster's heartbeats, or no room); {total} on this link so far",
                name(&n.links, link)
            ),
        ),
        LogMsg::TxError { link, errno } => {
            (Level::Warn, format!("link {}: send failed: {}", name(&n.links, link), std::io::Error::from_raw_os_error(errno)))
        }
        LogMsg::BadFrame { link, what, total } => (
            Level::Warn,
            format!("link {}: dropped a frame ({}); {total} bad frames on this link so far", name(&n.links, link), what.name()),
        ),
        LogMsg::PortGone { link, errno } => (
            Level::Error,
            format!(
                "link {}: the port is gone ({}); hbd reopens it when it returns",
                name(&n.links, link),
                if errno == 0 { "hung up".to_string() } else { std::io::Error::from_raw_os_error(errno).to_string() }
            ),
        ),
        LogMsg::PortBack { link } => (Level::Info, format!("link {}: the port is back; heartbeats resume", name(&n.links, link))),
        LogMsg::LoopError { errno } => (Level::Error, format!("loop wait failed: {}", std::io::Error::from_raw_os_error(errno))),
        LogMsg::WatchdogWithheld { reason } => {
            (Level::Error, format!("no longer petting the watchdog: {}; the node will be reset when it expires", reason.describe()))
        }
        LogMsg::WatchdogResumed => (Level::Warn, "petting the watchdog again".into()),
        LogMsg::WatchdogPetFailed { errno } => (Level::Error, format!("watchdog pet failed: {}", std::io::Error::from_raw_os_error(errno))),
    }
}

/// Formats a liveness event for logs.
pub fn format_event(n: &Names, e: &Event) -> (Level, String) {
    match *e {
        Event::NodeUp { node, returning: false, .. } => (Level::Info, format!("node {} is up", name(&n.peers, node))),
        Event::NodeUp { node, returning: true, .. } => {
            (Level::Info, format!("node {} is back after a partition or outage (no restart needed)", name(&n.peers, node)))
        }
        Event::NodeDead { node, silent, .. } => (
            Level::Warn,
            format!("node {} is dead (silent {:.1} ms, deadtime {})", name(&n.peers, node), silent.as_millis_f64(), n.deadtime),
        ),
        Event::NodeRestarted { node, generation, .. } => {
            (Level::Warn, format!("node {} restarted (generation {generation})", name(&n.peers, node)))
        }
        Event::NodeLeft { node, .. } => (Level::Info, format!("node {} stopped cleanly (it left; not a failure)", name(&n.peers, node))),
        Event::PeerCrm { node, state, .. } => {
            (Level::Info, format!("node {}'s CRM says a new state ({} bytes)", name(&n.peers, node), state.as_slice().len()))
        }
        Event::LinkUp { node, link, .. } => (Level::Info, format!("link {} to {} is up", name(&n.links, link), name(&n.peers, node))),
        Event::LinkWarn { node, link, silent, .. } => (
            Level::Warn,
            format!(
                "late heartbeat: node {} on link {}: silent {:.1} ms (warntime {})",
                name(&n.peers, node),
                name(&n.links, link),
                silent.as_millis_f64(),
                n.warntime
            ),
        ),
        Event::LinkDead { node, link, silent, .. } => (
            Level::Warn,
            format!("link {} to {} is dead (silent {:.1} ms)", name(&n.links, link), name(&n.peers, node), silent.as_millis_f64()),
        ),
        Event::PingUp { node, .. } => (Level::Info, format!("ping node {} answers", name(&n.pings, node))),
        Event::PingDead { node, silent, .. } => (
            Level::Warn,
            format!("ping node {} is dead (no answer for {:.1} ms, deadping {})", name(&n.pings, node), silent.as_millis_f64(), n.deadping),
        ),
        Event::Stall { late, .. } => {
            (Level::Warn, format!("not scheduled for {:.1} ms; peers' silence clocks moved forward by as much", late.as_millis_f64()))
        }
    }
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn utc_now() -> String {
    // Log lines carry the wall-clock time people read logs in.
    #[allow(clippy::disallowed_methods)]
    let wall = SystemTime::now();
    utc_at(wall)
}

/// A UTC time as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn utc_at(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, d.subsec_millis())
}

/// A log line class limited to [`RateLimit::PER_WINDOW`] lines per window; what is held back
/// is counted and reported when the next window opens.
#[derive(Debug)]
pub struct RateLimit {
    what: &'static str,
    window_start: Nanos,
    lines: u32,
    suppressed: u64,
}

impl RateLimit {
    /// Lines let through per window.
    pub const PER_WINDOW: u32 = 20;
    /// The window.
    pub const WINDOW: Duration = Duration::from_secs(10);

    /// A limiter for lines about `what` (named in the suppression notice).
    pub fn new(what: &'static str) -> RateLimit {
        RateLimit { what, window_start: crate::time::now(), lines: 0, suppressed: 0 }
    }

    /// Logs `text` if this window has room; counts it otherwise.
    pub fn log(&mut self, logger: &Logger, level: Level, text: &str) {
        let now = crate::time::now();
        if now.sub(self.window_start) >= Nanos(Self::WINDOW.as_nanos() as u64) {
            if self.suppressed > 0 {
                logger.warn(&format!(
                    "{} more messages about {} were suppressed in {} s",
                    self.suppressed,
                    self.what,
                    Self::WINDOW.as_secs()
                ));
            }
            self.window_start = now;
            self.lines = 0;
            self.suppressed = 0;
        }
        if self.lines < Self::PER_WINDOW {
            self.lines += 1;
            logger.log(level, text);
        } else {
            self.suppressed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_counts_what_it_holds_back() {
        let logger = Logger::new(&Default::default());
        let mut r = RateLimit::new("tests");
        for _ in 0..100 {
            r.log(&logger, Level::Info, "x");
        }
        assert_eq!((r.lines, r.suppressed), (RateLimit::PER_WINDOW, 100 - u64::from(RateLimit::PER_WINDOW)));
    }

    #[test]
    fn full_ring_drops_and_counts() {
        let stop = Arc::new(AtomicBool::new(false));
        let logger = Logger::new(&LogConfig::default());
        let (prod, _cons) = rtrb::RingBuffer::<Record>::new(4);
        let mut rt = RtLog { prod, dropped: Arc::new(AtomicU64::new(0)), drainer: None };
        for _ in 0..10 {
            rt.push(Nanos(1), LogMsg::LoopError { errno: 4 });
        }
        assert_eq!(rt.dropped(), 6);
        drop(logger);
        stop.store(true, Ordering::Release);
    }

    #[test]
    fn log_thread_writes_formatted_records_to_the_logfile() {
        let dir = std::env::temp_dir().join(format!("hb-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ha-log");
        let logger = Logger::new(&LogConfig { logfile: Some(path.clone()), ..Default::default() });
        let stop = Arc::new(AtomicBool::new(false));
        let names = Names {
            peers: vec!["beta".into()],
            links: vec!["ucast eth0".into()],
            pings: vec!["routers".into()],
            deadtime: Nanos::from_millis(50),
            warntime: Nanos::from_millis(30),
            deadping: Nanos::from_millis(40),
        };
        let (mut rt, h) = spawn_log_thread(logger, names, stop.clone()).unwrap();
        rt.push(Nanos(5), LogMsg::Event(Event::NodeDead { node: 0, at: Nanos(5), silent: Nanos(51_200_000) }));
        rt.push(Nanos(6), LogMsg::Event(Event::PingDead { node: 0, at: Nanos(6), silent: Nanos(41_000_000) }));
        stop.store(true, Ordering::Release);
        h.thread().unpark();
        h.join().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("WARN: node beta is dead (silent 51.2 ms, deadtime 50ms)"), "{text}");
        assert!(text.contains("WARN: ping node routers is dead (no answer for 41.0 ms, deadping 40ms)"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn utc_format_shape() {
        let s = utc_now();
        assert_eq!(s.len(), 24, "{s}");
        assert!(s.starts_with("20") && s.ends_with('Z'));
    }
}
