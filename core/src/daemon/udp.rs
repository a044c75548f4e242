//! UDP links (`ucast`, `bcast`, `mcast`, `ucast6`, `mcast6`) in the RT loop: datagrams
//! drained in `recvmmsg` batches and timed by their kernel stamps; one heartbeat per
//! destination.

use super::link::{Rx, Tx};
use crate::backend::Backend;
use crate::sys::fd::RecvBatch;
use hb_media::UdpLink;
use std::os::fd::{AsRawFd, RawFd};

/// A UDP socket and its destinations.
pub(super) struct UdpRt(pub UdpLink);

impl UdpRt {
    pub(super) fn fd(&self) -> RawFd {
        self.0.socket.as_raw_fd()
    }

    pub(super) fn drain(&mut self, i: usize, rx: &mut Rx<'_>, batch: &mut RecvBatch) {
        batch.drain(self.fd(), |d| {
            let at = rx.arrival(d.stamp);
            rx.deliver(i, d.data, at);
        });
    }

    pub(super) fn send_heartbeat<B: Backend>(&self, i: usize, tx: &mut Tx<'_>, backend: &mut B) {
        for (d, dest) in self.0.dests.iter().enumerate() {
            let n = tx.heartbeat(i);
            if let Err(errno) = backend.send(i, d, dest, &tx.buf[..n]) {
                tx.failed(i, errno);
            }
        }
    }
}
