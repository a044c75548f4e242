//! Raw Ethernet links (`raw DEV [ETHERTYPE]`) in the RT loop: frames drained like datagrams
//! (kernel stamps), unwrapped with `pnet_packet`; heartbeats broadcast in a frame.

use super::link::{Rx, Tx};
use crate::backend::{Backend, Drained};
use hb_media::raw::{self, RawLink};
use std::os::fd::{AsRawFd, RawFd};

/// A raw Ethernet (AF_PACKET) socket, its frame header and broadcast destination.
pub(super) struct RawRt(pub RawLink);

impl RawRt {
    pub(super) fn fd(&self) -> RawFd {
        self.0.socket.as_raw_fd()
    }

    pub(super) fn drain<B: Backend>(&mut self, i: usize, rx: &mut Rx<'_>, backend: &mut B) -> Drained {
        let ethertype = self.0.ethertype;
        backend.drain(i, super::link::DRAIN_BUDGET, |d| match raw::parse_frame(d.data, ethertype) {
            Some(payload) => {
                if let Some(n) = d.drops {
                    rx.kernel_dropped(i, n);
                }
                let at = rx.arrival(d.stamp);
                rx.deliver(i, payload, at);
            }
            None => rx.bad_frame(i),
        })
    }

    pub(super) fn send_heartbeat<B: Backend>(&self, i: usize, tx: &mut Tx<'_>, backend: &mut B) {
        let n = tx.heartbeat(i);
        let sent = match raw::build_frame(&self.0.header, &tx.buf[..n], tx.framed) {
            Some(f) => backend.send(i, 0, &self.0.dest, &tx.framed[..f]),
            None => Err(libc::EMSGSIZE),
        };
        if let Err(errno) = sent {
            tx.failed(i, errno);
        }
    }
}
