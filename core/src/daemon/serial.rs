//! Serial links (`serial /dev/ttyS0`) in the RT loop: bytes read into the frame decoder
//! (COBS + CRC-32), each frame timed when it is read (a tty has no arrival stamp); heartbeats
//! written with `write(2)` (io_uring hands tty writes to worker threads, where they fail with
//! EINTR). A port that hangs up is given back to the keeper thread ([`crate::ports`]), which
//! reopens it; the loop takes the new fd when it is back.

use super::link::{log_bad_frame, log_reject, Rx, Tx};
use crate::backend::Backend;
use crate::logging::LogMsg;
use crate::ports::PortSlot;
use crate::wire::Reject;
use hb_media::frame::{self, Decoder};
use std::io;
use std::os::fd::RawFd;

/// A serial link's loop-side state.
pub(super) struct SerialRt {
    /// The port's fd (owned by the keeper thread's `SerialPort`).
    pub fd: RawFd,
    /// Its hand-over slot with the keeper.
    pub slot: usize,
    /// Reassembles frames across reads (boxed: its buffer is larger than the rest of a link).
    pub decoder: Box<Decoder>,
    /// Hung up or failed: no reads or writes until the keeper hands the port back.
    pub gone: bool,
}

impl SerialRt {
    /// A port just opened, with its slot.
    pub(super) fn new(fd: RawFd, slot: usize) -> SerialRt {
        SerialRt { fd, slot, decoder: Box::new(Decoder::new()), gone: false }
    }

    /// Takes the port back if the keeper reopened it, then reads everything it has.
    pub(super) fn drain<B: Backend>(&mut self, i: usize, rx: &mut Rx<'_>, slot: &PortSlot, backend: &mut B) {
        if self.gone {
            if let Some(fd) = slot.take_back() {
                self.fd = fd;
                self.gone = false;
                self.decoder.reset();
                backend.rewatch(i, fd);
                rx.rtlog.push(rx.now, LogMsg::PortBack { link: i as u8 });
            }
        }
        if self.gone {
            return;
        }
        loop {
            let n = match backend.read(i, rx.buf) {
                Ok(0) => return self.give_up(i, 0, rx, slot, backend),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.give_up(i, e.raw_os_error().unwrap_or(0), rx, slot, backend),
            };
            let Rx { engine, rtlog, last_log, now, buf, .. } = rx;
            let (now, last) = (*now, &mut last_log[i]);
            self.decoder.push(&buf[..n], |r| match r {
                Ok(pkt) => {
                    if let Err(reason) = engine.receive(i, pkt, now) {
                        log_reject(engine, rtlog, last, i, reason, now);
                    }
                }
                Err(what) => {
                    engine.count_reject(i, Reject::BadFrame);
                    log_bad_frame(engine, rtlog, last, i, what, now);
                }
            });
        }
    }

    /// Stops using a port that hung up or failed, and hands it to the keeper.
    fn give_up<B: Backend>(&mut self, i: usize, errno: i32, rx: &mut Rx<'_>, slot: &PortSlot, backend: &mut B) {
        self.gone = true;
        backend.unwatch(i);
        slot.give_up();
        rx.rtlog.push(rx.now, LogMsg::PortGone { link: i as u8, errno });
        rx.rtlog.flush_soon();
    }

    pub(super) fn send_heartbeat<B: Backend>(&self, i: usize, tx: &mut Tx<'_>, backend: &mut B) {
        if self.gone {
            return;
        }
        let n = tx.heartbeat(i);
        let sent = match frame::encode(&tx.buf[..n], tx.framed) {
            // A heartbeat still queued behind the previous one would only tell the peer old
            // news late: skip this one (ENOBUFS) instead.
            Some(f) if backend.queued(i) >= f => Err(libc::ENOBUFS),
            Some(f) => backend.write(i, &tx.framed[..f]),
            None => Err(libc::EMSGSIZE),
        };
        if let Err(errno) = sent {
            tx.failed(i, errno);
        }
    }
}
