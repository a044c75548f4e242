//! The system calls the drivers need that `nix` does not wrap: setting and clearing a tty's
//! modem-control lines (`TIOCMBIS`, `TIOCMBIC`), and an empty signal mask for the programs
//! the forking drivers start. The only unsafe code in `hb-stonith-hw`.
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

/// Makes the program `cmd` starts begin with no signal blocked: hbd blocks SIGTERM and
/// others in every thread (it takes them with sigwait), and a blocked mask survives exec, so a
/// fence agent — and any daemon it starts — would otherwise ignore SIGTERM.
pub(crate) fn unblock_signals_on_exec(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec and makes one
    // async-signal-safe call (pthread_sigmask) on a set built on its own stack.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            if libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
