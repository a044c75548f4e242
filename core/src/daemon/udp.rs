//! UDP links (`ucast`, `bcast`, `mcast`, `ucast6`, `mcast6`) in the RT loop: datagrams
//! drained in `recvmmsg` batches and timed by their kernel stamps; one heartbeat per
//! destination.

use super::link::{Rx, Tx};
use crate::backend::{Backend, Drained};
use socket2::SockAddr;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, RawFd};

/// A UDP socket and its destinations.
pub(super) struct UdpRt {
    /// The socket (none in a simulation, where the backend is the network).
    pub socket: Option<UdpSocket>,
    /// Destinations, pre-converted for `sendto`/io_uring.
    pub dests: Vec<SockAddr>,
}

impl UdpRt {
    pub(super) fn fd(&self) -> RawFd {
        self.socket.as_ref().map_or(-1, |s| s.as_raw_fd())
    }

    pub(super) fn drain<B: Backend>(&mut self, i: usize, rx: &mut Rx<'_>, backend: &mut B) -> Drained {
        backend.drain(i, super::link::DRAIN_BUDGET, |d| {
            if let Some(n) = d.drops {
                rx.kernel_dropped(i, n);
            }
            let at = rx.arrival(d.stamp);
            rx.deliver(i, d.data, at);
        })
    }

    pub(super) fn send_heartbeat<B: Backend>(&self, i: usize, tx: &mut Tx<'_>, backend: &mut B) {
        for (d, dest) in self.dests.iter().enumerate() {
            let n = tx.heartbeat(i);
            if let Err(errno) = backend.send(i, d, dest, &tx.buf[..n]) {
                tx.failed(i, errno);
            }
        }
    }
}
