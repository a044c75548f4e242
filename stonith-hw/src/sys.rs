//! The system calls the drivers need that `nix` does not wrap: setting and clearing a tty's
//! modem-control lines (`TIOCMBIS`, `TIOCMBIC`). The only unsafe code in `hb-stonith-hw`.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd};

/// `TIOCM_DTR` or `TIOCM_RTS`.
pub(crate) const DTR: libc::c_int = libc::TIOCM_DTR;
/// See [`DTR`].
pub(crate) const RTS: libc::c_int = libc::TIOCM_RTS;

/// Asserts (`on`) or clears the modem-control lines in `bits` on tty `fd`.
pub(crate) fn modem_lines(fd: BorrowedFd<'_>, bits: libc::c_int, on: bool) -> std::io::Result<()> {
    let req = if on { libc::TIOCMBIS } else { libc::TIOCMBIC };
    // SAFETY: TIOCMBIS/TIOCMBIC read one c_int through the pointer, which points at `bits`,
    // valid for the call; `fd` is a borrowed open descriptor.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), req, &bits as *const libc::c_int) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
