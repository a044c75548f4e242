//! The links as the RT loop drives them: one type per medium ([`super::udp`],
//! [`super::raw`], [`super::serial`]) behind [`RtLink`], and what they share while draining
//! ([`Rx`]) and sending ([`Tx`]). The loop calls `drain` and `send_heartbeat` and does not
//! know what a UART is; adding a medium is a file and an arm here.

use super::raw::RawRt;
use super::serial::SerialRt;
use super::udp::UdpRt;
use crate::backend::{Backend, Drained};
use crate::config::MAX_LINKS;
use crate::engine::Engine;
use crate::logging::{LogMsg, RtLog};
use crate::ports::PortSlot;
use crate::time::Nanos;
use crate::wire::{Reject, MAX_HEARTBEAT};
use std::os::fd::RawFd;

/// At most one "dropped a packet" or "send failed" log record per link per this interval;
/// the counters on the status page keep the full counts.
pub(super) const LOG_INTERVAL: Nanos = Nanos::from_millis(1000);

/// Datagrams read from one socket per iteration at most: about a millisecond of work (a
/// refused forgery costs the loop about a microsecond, kernel included), so that under a
/// flood the loop still judges, sends and pets the watchdog at least every millisecond or so.
/// What is left waits in the socket's receive buffer for the next iteration, which comes at
/// once; meanwhile that link is judged only as of the last arrival read.
pub(super) const DRAIN_BUDGET: usize = 1024;

/// A link as the RT loop drives it.
pub(super) enum RtLink {
    /// A UDP socket and its destinations.
    Udp(UdpRt),
    /// A raw Ethernet (AF_PACKET) socket.
    Raw(RawRt),
    /// A serial port.
    Serial(SerialRt),
}

impl RtLink {
    /// The fd the backend watches.
    pub(super) fn fd(&self) -> RawFd {
        match self {
            RtLink::Udp(l) => l.fd(),
            RtLink::Raw(l) => l.fd(),
            RtLink::Serial(s) => s.fd,
        }
    }

    /// Whether received data must wake the loop (serial ports always: a tty has no kernel
    /// arrival stamp, so a frame is timed when it is read).
    pub(super) fn always_wakes(&self) -> bool {
        matches!(self, RtLink::Serial(_))
    }

    /// Hands what was received on link `i` to the engine, up to [`DRAIN_BUDGET`] datagrams.
    /// A serial port is always read to the end (a line at 460800 baud brings at most a few
    /// hundred frames a second).
    pub(super) fn drain<B: Backend>(&mut self, i: usize, rx: &mut Rx<'_>, slots: &[PortSlot], backend: &mut B) -> Drained {
        match self {
            RtLink::Udp(l) => l.drain(i, rx, backend),
            RtLink::Raw(l) => l.drain(i, rx, backend),
            RtLink::Serial(s) => {
                s.drain(i, rx, &slots[s.slot], backend);
                Drained { count: 0, emptied: true }
            }
        }
    }

    /// Sends one heartbeat on link `i` (to each destination).
    pub(super) fn send_heartbeat<B: Backend>(&self, i: usize, tx: &mut Tx<'_>, backend: &mut B) {
        match self {
            RtLink::Udp(l) => l.send_heartbeat(i, tx, backend),
            RtLink::Raw(l) => l.send_heartbeat(i, tx, backend),
            RtLink::Serial(s) => s.send_heartbeat(i, tx, backend),
        }
    }
}

/// What draining needs: the engine, the log, and the conversion of kernel arrival stamps.
pub(super) struct Rx<'a> {
    pub engine: &'a mut Engine,
    pub rtlog: &'a mut RtLog,
    pub last_log: &'a mut [Nanos; MAX_LINKS],
    /// When each link last logged the kernel's drops (a limiter of its own, so that a flood
    /// of refused packets does not hide them).
    pub last_kernel_log: &'a mut [Nanos; MAX_LINKS],
    /// When the loop woke.
    pub now: Nanos,
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, read at `now`.
    pub offset: i128,
    /// The previous drain that emptied this link's queue: no packet drained now arrived
    /// before it.
    pub last_drain: Nanos,
    /// The latest arrival delivered from this link in this drain.
    pub latest: Nanos,
    /// A read buffer (serial).
    pub buf: &'a mut [u8],
}

impl Rx<'_> {
    /// When a datagram arrived, from its kernel stamp (CLOCK_REALTIME) converted with the
    /// offset read now. A wall-clock step between arrival and now could skew the conversion,
    /// so the result is clamped to when it can have arrived: after the previous drain, by now.
    pub fn arrival(&self, stamp: Option<u64>) -> Nanos {
        stamp.map_or(self.now, |s| Nanos((i128::from(s) - self.offset).clamp(i128::from(self.last_drain.0), i128::from(self.now.0)) as u64))
    }

    /// Hands a packet that arrived at `at` on `link` to the engine; a rejection is counted
    /// there and logged here at a limited rate.
    pub fn deliver(&mut self, link: usize, pkt: &[u8], at: Nanos) {
        self.latest = self.latest.max(at);
        if let Err(reason) = self.engine.receive(link, pkt, at) {
            self.log_reject(link, reason);
        }
    }

    /// Takes the kernel's drop count on `link`'s socket, as it came with a datagram; a rise is
    /// logged at a limited rate.
    pub fn kernel_dropped(&mut self, link: usize, total: u32) {
        if u64::from(total) > self.engine.link_counters(link).kernel_dropped {
            self.engine.kernel_dropped(link, total);
            if self.now >= self.last_kernel_log[link].add(LOG_INTERVAL) {
                self.last_kernel_log[link] = self.now;
                self.rtlog.push(self.now, LogMsg::KernelDropped { link: link as u8, total: u64::from(total) });
            }
        }
    }

    /// Counts a frame that did not decode, and logs it at a limited rate.
    pub fn bad_frame(&mut self, link: usize) {
        self.engine.count_reject(link, Reject::BadFrame);
        self.log_reject(link, Reject::BadFrame);
    }

    /// Logs a dropped packet on `link`, at most once per [`LOG_INTERVAL`].
    pub fn log_reject(&mut self, link: usize, reason: Reject) {
        log_reject(self.engine, self.rtlog, &mut self.last_log[link], link, reason, self.now);
    }
}

/// Logs a dropped packet on `link`, at most once per [`LOG_INTERVAL`]; a frame that did not
/// decode is logged with what was wrong with it.
pub(super) fn log_reject(engine: &Engine, rtlog: &mut RtLog, last: &mut Nanos, link: usize, reason: Reject, now: Nanos) {
    if now >= last.add(LOG_INTERVAL) {
        *last = now;
        let total = engine.link_counters(link).rejected();
        rtlog.push(now, LogMsg::Rejected { link: link as u8, reason, total });
    }
}

/// Logs a serial frame that did not decode (`what`), at most once per [`LOG_INTERVAL`].
pub(super) fn log_bad_frame(
    engine: &Engine,
    rtlog: &mut RtLog,
    last: &mut Nanos,
    link: usize,
    what: hb_media::frame::FrameError,
    now: Nanos,
) {
    if now >= last.add(LOG_INTERVAL) {
        *last = now;
        let total = engine.link_counters(link).rejects[Reject::BadFrame as usize];
        rtlog.push(now, LogMsg::BadFrame { link: link as u8, what, total });
    }
}

/// What sending needs: the engine builds each heartbeat into `buf`; `framed` holds a serial
/// or Ethernet frame around one.
pub(super) struct Tx<'a> {
    pub engine: &'a mut Engine,
    pub rtlog: &'a mut RtLog,
    pub last_log: &'a mut [Nanos; MAX_LINKS],
    pub now: Nanos,
    pub buf: &'a mut [u8; MAX_HEARTBEAT],
    pub framed: &'a mut [u8],
}

impl Tx<'_> {
    /// Builds the heartbeat for `link` into `buf`; returns its length.
    pub fn heartbeat(&mut self, link: usize) -> usize {
        self.engine.build_heartbeat(link, self.now, self.buf)
    }

    /// Counts a failed send on `link` and logs it at most once per [`LOG_INTERVAL`] (a cut
    /// cable fails every keepalive).
    pub fn failed(&mut self, link: usize, errno: i32) {
        self.engine.tx_failed(link);
        log_tx_error(self.rtlog, self.last_log, link, errno, self.now);
    }
}

/// Logs a failed send on `link`, at most once per [`LOG_INTERVAL`].
pub(super) fn log_tx_error(rtlog: &mut RtLog, last: &mut [Nanos; MAX_LINKS], link: usize, errno: i32, now: Nanos) {
    if now >= last[link].add(LOG_INTERVAL) {
        last[link] = now;
        rtlog.push(now, LogMsg::TxError { link: link as u8, errno });
    }
}
