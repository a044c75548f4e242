//! Serial power devices' line discipline, shared by their drivers: writes with write(2) (io_uring
//! hands tty writes to worker threads, where they fail with EINTR), waiting for room until a
//! deadline, and reads of a device's ASCII replies until an expected token, a deadline, or a
//! bound on what is kept.

use crate::code::quote_tail;
use crate::{Code, StonithError};
use hb_media::serial::SerialPort;
use std::time::Instant;

/// The most reply bytes kept while waiting for a token (older ones are dropped).
const MAX_REPLY: usize = 4096;

/// Writes all of `data` to the non-blocking tty with write(2), waiting for room until
/// `deadline`.
pub(crate) fn write_all_by(port: &SerialPort, mut data: &[u8], deadline: Instant) -> Result<(), StonithError> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let fd = port.as_fd();
    while !data.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(StonithError::new(
                Code::Timeout,
                format!("{}: the line took no more bytes before the deadline", port.spec.path.display()),
            ));
        }
        let mut p = [PollFd::new(fd, PollFlags::POLLOUT)];
        let ms = u16::try_from(left.as_millis().clamp(1, 10_000)).unwrap_or(10_000);
        match poll(&mut p, PollTimeout::from(ms)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(StonithError::new(Code::Oops, format!("{}: poll: {e}", port.spec.path.display()))),
        }
        if p[0].revents().is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)) {
            return Err(StonithError::new(Code::Oops, format!("{}: the device is gone (hang-up)", port.spec.path.display())));
        }
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(StonithError::new(Code::Oops, format!("{}: write: {e}", port.spec.path.display()))),
        }
    }
    Ok(())
}

/// Reads the device's replies until one of `tokens` has arrived (returns everything read, the
/// token included) or `deadline` passes (`S_TIMEOUT`, naming what was awaited and what came).
pub(crate) fn read_until(port: &SerialPort, tokens: &[&str], deadline: Instant) -> Result<String, StonithError> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let fd = port.as_fd();
    let mut got: Vec<u8> = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        let text = String::from_utf8_lossy(&got);
        if tokens.iter().any(|t| text.contains(t)) {
            return Ok(text.into_owned());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(StonithError::new(
                Code::Timeout,
                format!("{}: no {} before the deadline (got {})", port.spec.path.display(), tokens.join(" or "), quote_tail(&text)),
            ));
        }
        let mut p = [PollFd::new(fd, PollFlags::POLLIN)];
        let ms = u16::try_from(left.as_millis().clamp(1, 10_000)).unwrap_or(10_000);
        match poll(&mut p, PollTimeout::from(ms)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(StonithError::new(Code::Oops, format!("{}: poll: {e}", port.spec.path.display()))),
        }
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => return Err(StonithError::new(Code::Oops, format!("{}: the device is gone (end of file)", port.spec.path.display()))),
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.len() > MAX_REPLY {
                    got.drain(..got.len() - MAX_REPLY);
                }
            }
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(StonithError::new(Code::Oops, format!("{}: read: {e}", port.spec.path.display()))),
        }
    }
}

/// Drops whatever the device said before a command (a stale reply must not answer it).
pub(crate) fn discard_input(port: &SerialPort) {
    let mut buf = [0u8; 256];
    use std::os::fd::AsFd;
    while let Ok(n) = nix::unistd::read(port.as_fd(), &mut buf) {
        if n == 0 {
            break;
        }
    }
}
