//! A null-modem cable emulator: two pseudo-terminals and a relay that behaves like the wire.
//!
//! Each end is a pty whose slave the program under test opens as its serial port (through a
//! stable symlink, `end_a()` / `end_b()`, as udev's `/dev/serial/by-id` names are). A relay
//! thread reads what each side writes and delivers it to the other at the configured baud —
//! 10 bits per byte (start, 8 data, stop), so a 106-byte frame takes 9.2 ms at 115200 — and
//! reads no faster than that, so a writer that outruns the line backs up in its own tty, as
//! on a UART. The receiving side gets bytes as a 16550 UART hands them to the kernel: 14 at a
//! time on a busy line, the rest after 4 quiet character times. Faults, per byte and per direction: flip a random bit, drop the byte; inject
//! garbage; cut the cable (bytes go nowhere) and restore it; unplug an end (its pty closes,
//! so the program holding it sees a hang-up, and the symlink disappears, as a USB adapter's
//! device node does) and plug it back (a new pty behind the same symlink).
//!
//! Modem-control lines (DTR, RTS, CD) do not exist on ptys; hb does not use them.
//!
//! With `HB_HWTEST_SERIAL=/dev/ttyS0:/dev/ttyS1` (a real looped cable), [`SerialCable::new`]
//! hands out those ports instead; faults then need the emulator and say so.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Bytes the relay takes from a side before waiting for the line (a UART FIFO plus change).
const LINE_BUFFER: usize = 64;
/// A 16550's receive FIFO trigger level: bytes handed over at once on a busy line.
const RX_TRIGGER: usize = 14;
/// Its receive time-out, in character times: a quiet line hands over what it has after this.
const RX_TIMEOUT_BYTES: u64 = 4;

/// Counters of what the relay did, per direction (`[a→b, b→a]`).
#[derive(Debug, Default)]
pub struct CableStats {
    /// Bytes delivered.
    pub delivered: [AtomicU64; 2],
    /// Bytes with a bit flipped.
    pub flipped: [AtomicU64; 2],
    /// Bytes dropped by the noise setting.
    pub dropped: [AtomicU64; 2],
    /// Bytes lost because the cable was cut.
    pub cut_lost: [AtomicU64; 2],
    /// Bytes lost because the receiving side's tty was full (nobody reading).
    pub overrun: [AtomicU64; 2],
}

#[derive(Debug, Default, Clone, Copy)]
struct Noise {
    flip: f64,
    drop: f64,
}

#[derive(Debug, Default)]
struct Ctl {
    stop: AtomicBool,
    cut: AtomicBool,
    noise: Mutex<Noise>,
    inject: Mutex<[Vec<u8>; 2]>,
    /// Requests to unplug (`Some(false)`) or plug in (`Some(true)`) an end.
    plug: Mutex<[Option<bool>; 2]>,
    stats: CableStats,
}

/// The emulated cable; the relay stops and the ptys close on drop.
#[derive(Debug)]
pub struct NullModem {
    dir: crate::TempDir,
    baud: u32,
    ctl: Arc<Ctl>,
    relay: Option<JoinHandle<()>>,
}

struct Pty {
    master: File,
    // Kept open so the pty survives the program under test closing or dying.
    _slave: File,
}

struct Side {
    /// `None` while unplugged.
    pty: Option<Pty>,
    /// The stable name the program under test opens.
    link: PathBuf,
    /// Bytes taken from this side, each with the time its last bit leaves the line.
    line: VecDeque<(u64, u8)>,
    /// When the line from this side is next free.
    free_at: u64,
}

impl NullModem {
    /// A cable at `baud`, relaying at once.
    pub fn new(baud: u32) -> NullModem {
        let dir = crate::TempDir::new("hb-nullmodem");
        let plug = |link: PathBuf| {
            let pty = plug_in(&link).expect("pty for a cable end");
            Side { pty: Some(pty), link, line: VecDeque::new(), free_at: 0 }
        };
        let sides = [plug(dir.path.join("ttyA")), plug(dir.path.join("ttyB"))];
        let ctl = Arc::new(Ctl::default());
        let c = ctl.clone();
        let relay = std::thread::Builder::new().name("nullmodem".into()).spawn(move || relay(sides, baud, &c)).expect("relay thread");
        NullModem { dir, baud, ctl, relay: Some(relay) }
    }

    /// The path node a opens (a symlink to its pty).
    pub fn end_a(&self) -> PathBuf {
        self.dir.path.join("ttyA")
    }
    /// The path node b opens.
    pub fn end_b(&self) -> PathBuf {
        self.dir.path.join("ttyB")
    }
    /// Unplugs end a (`a`) or b: its pty closes (a hang-up for whoever has it open) and its
    /// path disappears until [`Self::plug_in`].
    pub fn unplug(&self, a: bool) {
        self.ctl.plug.lock().unwrap()[usize::from(!a)] = Some(false);
        let path = if a { self.end_a() } else { self.end_b() };
        crate::wait_for(std::time::Duration::from_secs(5), || (!path.exists()).then_some(())).expect("the end is unplugged");
    }
    /// Plugs end a or b back in: a new pty behind the same path.
    pub fn plug_in(&self, a: bool) {
        self.ctl.plug.lock().unwrap()[usize::from(!a)] = Some(true);
        let path = if a { self.end_a() } else { self.end_b() };
        crate::wait_for(std::time::Duration::from_secs(5), || path.exists().then_some(())).expect("the end is plugged in");
    }
    /// The line speed.
    pub fn baud(&self) -> u32 {
        self.baud
    }
    /// Cuts the cable: from now on bytes go nowhere, both ways.
    pub fn cut(&self) {
        self.ctl.cut.store(true, SeqCst);
    }
    /// Restores a cut cable.
    pub fn restore(&self) {
        self.ctl.cut.store(false, SeqCst);
    }
    /// Per-byte probabilities of a flipped bit and of a dropped byte, both directions.
    pub fn set_noise(&self, flip: f64, drop: f64) {
        *self.ctl.noise.lock().unwrap() = Noise { flip, drop };
    }
    /// Sends `bytes` to end b as if end a had written them (`to_b`), or to end a.
    pub fn inject(&self, to_b: bool, bytes: &[u8]) {
        self.ctl.inject.lock().unwrap()[usize::from(!to_b)].extend_from_slice(bytes);
    }
    /// What the relay did so far.
    pub fn stats(&self) -> &CableStats {
        &self.ctl.stats
    }
}

impl Drop for NullModem {
    fn drop(&mut self) {
        self.ctl.stop.store(true, SeqCst);
        if let Some(h) = self.relay.take() {
            let _ = h.join();
        }
    }
}

fn now_ns() -> u64 {
    crate::sys::monotonic_ns()
}

/// A new pty with `link` pointing at its slave.
fn plug_in(link: &std::path::Path) -> std::io::Result<Pty> {
    let (master, slave, path) = crate::sys::open_pty()?;
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(&path, link)?;
    Ok(Pty { master, _slave: slave })
}

fn relay(mut sides: [Side; 2], baud: u32, ctl: &Ctl) {
    let byte_ns = 10 * 1_000_000_000 / u64::from(baud.max(1));
    let mut rng = crate::Rng::new(0x9E37_79B9_7F4A_7C15 ^ now_ns());
    let mut buf = [0u8; LINE_BUFFER];
    let mut out = Vec::with_capacity(4096);
    while !ctl.stop.load(Relaxed) {
        let now = now_ns();
        // Injected garbage enters the line like bytes the other side wrote.
        {
            let mut inj = ctl.inject.lock().unwrap();
            for (from, side) in sides.iter_mut().enumerate() {
                for b in inj[from].drain(..) {
                    side.free_at = side.free_at.max(now) + byte_ns;
                    side.line.push_back((side.free_at, b));
                }
            }
        }
        // Unplug and plug in as asked.
        {
            let mut plug = ctl.plug.lock().unwrap();
            for (side, req) in sides.iter_mut().zip(plug.iter_mut()) {
                match req.take() {
                    Some(false) => {
                        let _ = std::fs::remove_file(&side.link);
                        side.pty = None;
                    }
                    Some(true) if side.pty.is_none() => side.pty = plug_in(&side.link).ok(),
                    _ => {}
                }
            }
        }
        // Take bytes from each side while its line has room.
        for side in sides.iter_mut() {
            let room = LINE_BUFFER.saturating_sub(side.line.len());
            let Some(pty) = side.pty.as_mut() else { continue };
            if room == 0 {
                continue;
            }
            // Errors are EAGAIN, or EIO while no slave is open: nothing to take.
            if let Ok(n) = pty.master.read(&mut buf[..room]) {
                for &b in &buf[..n] {
                    side.free_at = side.free_at.max(now) + byte_ns;
                    side.line.push_back((side.free_at, b));
                }
            }
        }
        // Deliver what has left the line.
        let noise = *ctl.noise.lock().unwrap();
        let cut = ctl.cut.load(Relaxed);
        for from in 0..2 {
            out.clear();
            // Like a 16550 UART's receiver: hand bytes over when its FIFO reaches the trigger
            // level, or when the line has been quiet for the receive time-out.
            let line = &sides[from].line;
            let arrived = line.iter().take_while(|&&(due, _)| due <= now).count();
            let quiet = arrived > 0 && now >= line[arrived - 1].0 + RX_TIMEOUT_BYTES * byte_ns;
            if arrived < RX_TRIGGER && !quiet {
                continue;
            }
            for _ in 0..arrived {
                let Some((_, b)) = sides[from].line.pop_front() else { break };
                if cut {
                    ctl.stats.cut_lost[from].fetch_add(1, Relaxed);
                } else if rng.chance(noise.drop) {
                    ctl.stats.dropped[from].fetch_add(1, Relaxed);
                } else if rng.chance(noise.flip) {
                    ctl.stats.flipped[from].fetch_add(1, Relaxed);
                    out.push(b ^ (1 << rng.below(8)));
                } else {
                    out.push(b);
                }
            }
            if out.is_empty() {
                continue;
            }
            let Some(to) = sides[1 - from].pty.as_mut() else {
                ctl.stats.cut_lost[from].fetch_add(out.len() as u64, Relaxed);
                continue;
            };
            match to.master.write(&out) {
                Ok(n) => {
                    ctl.stats.delivered[from].fetch_add(n as u64, Relaxed);
                    ctl.stats.overrun[from].fetch_add((out.len() - n) as u64, Relaxed);
                }
                Err(_) => {
                    ctl.stats.overrun[from].fetch_add(out.len() as u64, Relaxed);
                }
            }
        }
        // Sleep until a side's next hand-over (its trigger-level byte arrives, or its receive
        // time-out passes; µs resolution), or until a side writes, at most 1 ms (injections,
        // stop).
        let next = |l: &VecDeque<(u64, u8)>| -> Option<u64> {
            let trigger = l.get(RX_TRIGGER - 1).map(|&(d, _)| d);
            let timeout = l.iter().take_while(|&&(d, _)| d <= now).last().map(|&(d, _)| d + RX_TIMEOUT_BYTES * byte_ns);
            let first = l.front().map(|&(d, _)| d + RX_TIMEOUT_BYTES * byte_ns);
            [trigger, timeout.or(first)].into_iter().flatten().min()
        };
        let until = sides.iter().filter_map(|s| next(&s.line)).min().map(|d| d.saturating_sub(now_ns()));
        match until {
            Some(0) => {}
            Some(ns) if ns < 1_000_000 => std::thread::sleep(std::time::Duration::from_nanos(ns)),
            _ => {
                let fds: Vec<std::os::fd::BorrowedFd<'_>> = sides
                    .iter()
                    .filter_map(|s| match &s.pty {
                        Some(p) if s.line.len() < LINE_BUFFER => Some(std::os::fd::AsFd::as_fd(&p.master)),
                        _ => None,
                    })
                    .collect();
                crate::sys::poll_readable(&fds, 1);
            }
        }
    }
}

/// The serial ports a test runs on: a real looped cable named in `HB_HWTEST_SERIAL`, or the
/// emulator.
#[derive(Debug)]
pub enum SerialCable {
    /// Two real ports joined by a null-modem cable.
    Real {
        /// Node a's port.
        a: PathBuf,
        /// Node b's port.
        b: PathBuf,
    },
    /// The emulator.
    Emulated(NullModem),
}

impl SerialCable {
    /// `HB_HWTEST_SERIAL=/dev/ttyS0:/dev/ttyS1` if set, else an emulated cable at `baud`.
    pub fn new(baud: u32) -> SerialCable {
        match std::env::var("HB_HWTEST_SERIAL") {
            Ok(v) if !v.is_empty() => {
                let (a, b) = v.split_once(':').expect("HB_HWTEST_SERIAL must be /dev/ttyX:/dev/ttyY");
                SerialCable::Real { a: a.into(), b: b.into() }
            }
            _ => SerialCable::Emulated(NullModem::new(baud)),
        }
    }
    /// Node a's port.
    pub fn end_a(&self) -> PathBuf {
        match self {
            SerialCable::Real { a, .. } => a.clone(),
            SerialCable::Emulated(m) => m.end_a(),
        }
    }
    /// Node b's port.
    pub fn end_b(&self) -> PathBuf {
        match self {
            SerialCable::Real { b, .. } => b.clone(),
            SerialCable::Emulated(m) => m.end_b(),
        }
    }
    /// The emulator, for faults; `None` on real hardware (the caller skips fault steps and
    /// says so).
    pub fn emulator(&self) -> Option<&NullModem> {
        match self {
            SerialCable::Real { .. } => None,
            SerialCable::Emulated(m) => Some(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::{Duration, Instant};

    fn open(p: &Path) -> File {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK).open(p).unwrap();
        crate::sys::make_raw(&f).unwrap();
        f
    }

    fn read_n(f: &mut File, n: usize, within: Duration) -> Vec<u8> {
        let mut got = Vec::new();
        let end = Instant::now() + within;
        let mut buf = [0u8; 4096];
        while got.len() < n && Instant::now() < end {
            match f.read(&mut buf) {
                Ok(k) => got.extend_from_slice(&buf[..k]),
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        got
    }

    #[test]
    fn bytes_cross_at_the_line_rate_both_ways() {
        let m = NullModem::new(9600);
        let (mut a, mut b) = (open(&m.end_a()), open(&m.end_b()));
        let data: Vec<u8> = (0..=255u8).cycle().take(480).collect();
        let t = Instant::now();
        a.write_all(&data).unwrap();
        let got = read_n(&mut b, data.len(), Duration::from_secs(5));
        let took = t.elapsed();
        assert_eq!(got, data, "every byte, in order, unchanged (0x00, 0x11, 0x13, \\r, \\n included)");
        // 480 bytes at 9600 baud = 500 ms on the wire.
        assert!(took >= Duration::from_millis(480), "too fast: {took:?}");
        b.write_all(b"back").unwrap();
        assert_eq!(read_n(&mut a, 4, Duration::from_secs(2)), b"back");
    }

    #[test]
    fn a_cut_cable_loses_bytes_and_a_restored_one_carries_them() {
        let m = NullModem::new(115200);
        let (mut a, mut b) = (open(&m.end_a()), open(&m.end_b()));
        m.cut();
        a.write_all(b"lost").unwrap();
        assert!(read_n(&mut b, 1, Duration::from_millis(200)).is_empty());
        assert_eq!(m.stats().cut_lost[0].load(Relaxed), 4);
        m.restore();
        a.write_all(b"found").unwrap();
        assert_eq!(read_n(&mut b, 5, Duration::from_secs(2)), b"found");
    }

    #[test]
    fn an_unplugged_end_hangs_up_and_a_replugged_one_works() {
        let m = NullModem::new(115200);
        let (mut a, mut b) = (open(&m.end_a()), open(&m.end_b()));
        m.unplug(true);
        assert!(!m.end_a().exists());
        let mut buf = [0u8; 8];
        let r = a.read(&mut buf);
        assert!(matches!(r, Ok(0)) || r.as_ref().is_err_and(|e| e.raw_os_error() == Some(libc::EIO)), "hang-up: {r:?}");
        m.plug_in(true);
        let mut a = open(&m.end_a());
        a.write_all(b"again").unwrap();
        assert_eq!(read_n(&mut b, 5, Duration::from_secs(2)), b"again");
    }

    #[test]
    fn noise_flips_and_drops_and_injection_arrives() {
        let m = NullModem::new(460800);
        let (mut a, mut b) = (open(&m.end_a()), open(&m.end_b()));
        m.set_noise(0.5, 0.0);
        let data = vec![0u8; 400];
        a.write_all(&data).unwrap();
        let got = read_n(&mut b, data.len(), Duration::from_secs(3));
        let changed = got.iter().filter(|&&x| x != 0).count();
        assert!(changed > 100 && changed < 300, "{changed} of 400 flipped");
        assert!(got.iter().all(|x| x.count_ones() <= 1), "one bit per byte");
        m.set_noise(0.0, 1.0);
        a.write_all(b"gone").unwrap();
        assert!(read_n(&mut b, 1, Duration::from_millis(200)).is_empty());
        m.set_noise(0.0, 0.0);
        m.inject(true, b"junk");
        assert_eq!(read_n(&mut b, 4, Duration::from_secs(2)), b"junk");
    }
}
