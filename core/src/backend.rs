//! The loop's I/O backends: io_uring by default, epoll where io_uring is missing or disabled.
//!
//! Both implement [`Backend`]: sleep until an absolute CLOCK_MONOTONIC deadline, the wake
//! eventfd or a readable link fd (sockets with `rx_wakeup`; serial ports always, as they have
//! no kernel arrival stamp); send a datagram, or write a frame to a serial port, without
//! blocking.
//! Receiving is the same for both: after every wake-up the loop drains every socket with
//! non-blocking reads, each datagram carrying the kernel's arrival stamp, so it has processed
//! everything already received — at the time it was received — before it judges a deadline.
//!
//! The trait is the loop's whole seam to the world: the clock, waiting, receiving
//! ([`Backend::drain`], [`Backend::read`]) and sending go through it, so a simulated backend
//! (`core/tests/sim.rs`) drives the real loop on a virtual clock.
//!
//! [`Choice::Auto`] tries io_uring and falls back to epoll with the reason logged
//! (`kernel.io_uring_disabled`, seccomp, an old or hardened kernel; io_uring needs Linux 5.11's
//! wait with a timeout); `--backend` forces one.

use crate::sys::fd::{read_some, realtime_ns, send_to, tty_outq, write_all_once, Epoll, RecvBatch, TimerFd};
use crate::sys::uring::{Ring, UringError};
use crate::time::Nanos;
use socket2::SockAddr;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

pub use crate::sys::fd::{Datagram, Drained};
pub use crate::sys::uring::MAX_DESTS;

/// Receives one datagram without blocking, with the kernel's arrival stamp (CLOCK_REALTIME
/// ns) — the loop's own receive, public for tools that time hb's packets (hb-bench).
pub fn recv_stamped(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
    crate::sys::fd::recv_stamped(fd, buf)
}

/// Which backend runs the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// io_uring.
    #[serde(rename = "io_uring")]
    Uring = 0,
    /// epoll + timerfd.
    #[serde(rename = "epoll")]
    Epoll = 1,
}

impl Kind {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Uring => "io_uring",
            Kind::Epoll => "epoll",
        }
    }
}

/// The `--backend` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// io_uring, else epoll.
    Auto,
    /// io_uring or fail.
    Uring,
    /// epoll.
    Epoll,
}

/// What the RT loop needs from a backend.
pub trait Backend {
    /// Which one this is.
    fn kind(&self) -> Kind;
    /// Sleeps until `deadline`, readiness of a socket, or the wake fd. Reports failed sends
    /// through `on_tx_error(link, errno)`. Returns whether the wake fd fired.
    fn wait(&mut self, deadline: Nanos, on_tx_error: &mut dyn FnMut(usize, i32)) -> io::Result<bool>;
    /// Sends `data` to destination `dest_idx` of `link` without blocking (the errno on failure).
    fn send(&mut self, link: usize, dest_idx: usize, dest: &SockAddr, data: &[u8]) -> Result<(), i32>;
    /// Writes `data` to stream link `link` (a serial port) without blocking.
    fn write(&mut self, link: usize, data: &[u8]) -> Result<(), i32>;
    /// Stops waking for `link` (a hung-up port that would otherwise be readable forever).
    fn unwatch(&mut self, link: usize);
    /// `link` has a new fd (a reopened port): write to it, and wake when it is readable.
    fn rewatch(&mut self, link: usize, fd: RawFd);
    /// Now, on CLOCK_MONOTONIC.
    fn now(&self) -> Nanos {
        crate::time::now()
    }
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC at `now`: converts kernel arrival stamps.
    fn realtime_offset(&self, now: Nanos) -> i128 {
        i128::from(realtime_ns()) - i128::from(now.0)
    }
    /// Hands `f` the datagrams already received on socket `link` (a link, or a ping socket
    /// after the links), with their kernel arrival stamps, oldest first: all of them, or the
    /// first `budget` (then `emptied` is false and the rest wait for the next call). Never
    /// blocks.
    fn drain(&mut self, link: usize, budget: usize, f: impl FnMut(Datagram<'_>)) -> Drained;
    /// Reads what stream link `link` (a serial port) has: `Ok(0)` is a hang-up, `WouldBlock`
    /// means nothing more. Never blocks.
    fn read(&mut self, link: usize, buf: &mut [u8]) -> io::Result<usize>;
    /// Bytes still queued for sending on stream link `link` (0 if unknown).
    fn queued(&self, link: usize) -> usize;
}

/// io_uring backend.
pub struct UringBackend {
    ring: Ring,
    batch: RecvBatch,
}

impl UringBackend {
    /// Sets up the ring for the link fds and `wake`; `watch[i]`: wake when link `i` is readable.
    pub fn new(fds: &[RawFd], watch: &[bool], wake: RawFd) -> Result<UringBackend, UringError> {
        Ok(UringBackend { ring: Ring::new(fds, watch, wake)?, batch: RecvBatch::new() })
    }
}

impl Backend for UringBackend {
    fn kind(&self) -> Kind {
        Kind::Uring
    }
    fn wait(&mut self, deadline: Nanos, on_tx_error: &mut dyn FnMut(usize, i32)) -> io::Result<bool> {
        self.ring.wait(deadline, on_tx_error)?;
        Ok(self.ring.woken)
    }
    fn send(&mut self, link: usize, dest_idx: usize, dest: &SockAddr, data: &[u8]) -> Result<(), i32> {
        self.ring.send(link, dest_idx, dest, data)
    }
    fn write(&mut self, link: usize, data: &[u8]) -> Result<(), i32> {
        // write(2), not the ring: see `sys::uring`'s module docs.
        write_all_once(self.ring.fd(link), data)
    }
    fn unwatch(&mut self, link: usize) {
        self.ring.unwatch(link);
    }
    fn rewatch(&mut self, link: usize, fd: RawFd) {
        self.ring.rewatch(link, fd);
    }
    fn drain(&mut self, link: usize, budget: usize, f: impl FnMut(Datagram<'_>)) -> Drained {
        self.batch.drain(self.ring.fd(link), budget, f)
    }
    fn read(&mut self, link: usize, buf: &mut [u8]) -> io::Result<usize> {
        read_some(self.ring.fd(link), buf)
    }
    fn queued(&self, link: usize) -> usize {
        tty_outq(self.ring.fd(link)).unwrap_or(0)
    }
}

const TOKEN_TIMER: u64 = u64::MAX;
const TOKEN_WAKE: u64 = u64::MAX - 1;

/// epoll backend: level-triggered epoll over the sockets, a timerfd and the wake fd.
pub struct EpollBackend {
    ep: Epoll,
    timer: TimerFd,
    armed: Option<Nanos>,
    socks: Vec<RawFd>,
    events: [libc::epoll_event; 16],
    batch: RecvBatch,
}

impl EpollBackend {
    /// Sets up epoll for the link fds and `wake`; `watch[i]`: wake when link `i` is readable.
    pub fn new(socks: &[RawFd], watch: &[bool], wake: RawFd) -> io::Result<EpollBackend> {
        let ep = Epoll::new()?;
        let timer = TimerFd::new()?;
        for (i, &s) in socks.iter().enumerate() {
            if watch[i] {
                ep.add(s, i as u64)?;
            }
        }
        ep.add(timer.as_raw_fd(), TOKEN_TIMER)?;
        ep.add(wake, TOKEN_WAKE)?;
        Ok(EpollBackend {
            ep,
            timer,
            armed: None,
            socks: socks.to_vec(),
            events: [libc::epoll_event { events: 0, u64: 0 }; 16],
            batch: RecvBatch::new(),
        })
    }
}

impl Backend for EpollBackend {
    fn kind(&self) -> Kind {
        Kind::Epoll
    }
    fn wait(&mut self, deadline: Nanos, _on_tx_error: &mut dyn FnMut(usize, i32)) -> io::Result<bool> {
        if self.armed != Some(deadline) {
            self.timer.set_abs(deadline)?;
            self.armed = Some(deadline);
        }
        let n = self.ep.wait(&mut self.events, -1)?;
        let mut woken = false;
        for ev in &self.events[..n] {
            match ev.u64 {
                TOKEN_TIMER => {
                    self.timer.drain();
                    self.armed = None;
                }
                TOKEN_WAKE => woken = true,
                _ => {}
            }
        }
        Ok(woken)
    }
    fn send(&mut self, link: usize, _dest_idx: usize, dest: &SockAddr, data: &[u8]) -> Result<(), i32> {
        send_to(self.socks[link], data, dest)
    }
    fn write(&mut self, link: usize, data: &[u8]) -> Result<(), i32> {
        write_all_once(self.socks[link], data)
    }
    fn unwatch(&mut self, link: usize) {
        // Not watched, or already removed: either way it no longer wakes us.
        let _ = self.ep.del(self.socks[link]);
    }
    fn rewatch(&mut self, link: usize, fd: RawFd) {
        self.socks[link] = fd;
        // A failure leaves the port unwatched; the loop still drains it on every tick.
        let _ = self.ep.add(fd, link as u64);
    }
    fn drain(&mut self, link: usize, budget: usize, f: impl FnMut(Datagram<'_>)) -> Drained {
        self.batch.drain(self.socks[link], budget, f)
    }
    fn read(&mut self, link: usize, buf: &mut [u8]) -> io::Result<usize> {
        read_some(self.socks[link], buf)
    }
    fn queued(&self, link: usize) -> usize {
        tty_outq(self.socks[link]).unwrap_or(0)
    }
}
