//! The few syscalls the bench needs that std lacks; the only unsafe code in `hb-hwtest`.
#![allow(unsafe_code)]

use std::os::fd::AsRawFd;

pub(crate) fn euid() -> u32 {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() }
}

pub(crate) fn kill(pid: u32, sig: i32) {
    // SAFETY: sends a signal to a pid this process spawned and has not reaped yet.
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

/// Moves the calling thread into the network namespace at `path`.
pub(crate) fn enter_netns(path: &str) -> std::io::Result<()> {
    let f = std::fs::File::open(path)?;
    // SAFETY: `f` is an open namespace file; setns affects only the calling thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
