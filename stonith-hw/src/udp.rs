//! The request-and-answer loop of the UDP devices (IPMI BMCs, SNMP agents): a socket
//! connected to the device at configuration, the request sent again every resend interval
//! until an answer is taken or the operation's deadline passes.

use crate::{Code, StonithError};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

/// The largest datagram kept of an answer.
const MAX_ANSWER: usize = 2048;

/// Sends `pkt` on `sock` (connected) every `resend` until `accept` takes an answer (it returns
/// `None` for datagrams that are not the answer: they are ignored) or `deadline` passes: then
/// `S_TIMEOUT` with `timeout_what` (what was asked of whom).
pub(crate) fn send_until<T>(
    sock: &UdpSocket,
    pkt: &[u8],
    deadline: Instant,
    resend: Duration,
    timeout_what: &dyn Fn() -> String,
    mut accept: impl FnMut(&[u8]) -> Option<Result<T, StonithError>>,
) -> Result<T, StonithError> {
    let mut buf = [0u8; MAX_ANSWER];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(StonithError::new(Code::Timeout, format!("no answer from {} before the deadline", timeout_what())));
        }
        // A refused send (ICMP port unreachable on a connected socket) is retried too.
        let _ = sock.send(pkt);
        let resend_at = (now + resend).min(deadline);
        loop {
            let left = resend_at.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let _ = sock.set_read_timeout(Some(left));
            let Ok(n) = sock.recv(&mut buf) else { continue };
            if let Some(r) = accept(&buf[..n]) {
                return r;
            }
        }
    }
}
