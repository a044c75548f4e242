//! The ping pseudo-members' ICMP sockets in the RT loop: one per address family, echoes
//! sent every keepalive, replies matched by the [`Pinger`] on their identifier.

use crate::backend::{Backend, Drained};
use crate::ping::Pinger;
use crate::time::Nanos;
use socket2::SockAddr;
use std::os::fd::{AsRawFd, RawFd};

/// A raw ICMP socket of the ping pseudo-members and the addresses it pings.
pub(super) struct IcmpRt {
    pub socket: socket2::Socket,
    pub v6: bool,
    /// Destinations (port 0) and their index in the pinger's targets.
    pub targets: Vec<(SockAddr, usize)>,
}

impl IcmpRt {
    pub(super) fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// Hands the echo replies on backend socket `k` to the pinger, timed by `arrival`, up to
    /// the loop's budget; when it runs out, the pinger judges silence only as of the last
    /// packet read.
    pub(super) fn drain<B: Backend>(
        &self,
        k: usize,
        pinger: &mut Pinger,
        backend: &mut B,
        arrival: impl Fn(Option<u64>) -> Nanos,
    ) -> Drained {
        let mut latest = None;
        let d = backend.drain(k, super::link::DRAIN_BUDGET, |d| {
            let at = arrival(d.stamp);
            latest = Some(at);
            if let Some(r) = hb_media::ping::parse_echo_reply(self.v6, d.data, d.from, pinger.ident()) {
                pinger.receive(&r, at);
            }
        });
        if let (false, Some(at)) = (d.emptied, latest) {
            pinger.known_until(at);
        }
        d
    }

    /// Sends an echo to each address; backend index `k` (after the links).
    pub(super) fn send_echoes<B: Backend>(&self, k: usize, pinger: &Pinger, echo: &mut [u8; hb_media::ping::ECHO_LEN], backend: &mut B) {
        for (d, (dest, t)) in self.targets.iter().enumerate() {
            pinger.echo(*t, echo);
            // A failure (no route while a link is down) shows as the ping node's death.
            let _ = backend.send(k, d, dest, echo);
        }
    }
}
