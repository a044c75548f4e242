//! The only unsafe code in hb-bench: clock_nanosleep on an absolute CLOCK_MONOTONIC
//! deadline, and inotify for following a log file.
#![allow(unsafe_code)]

/// Sleeps until the absolute CLOCK_MONOTONIC time `at_ns`.
pub(crate) fn sleep_until(at_ns: u64) {
    let ts = libc::timespec { tv_sec: (at_ns / 1_000_000_000) as libc::time_t, tv_nsec: (at_ns % 1_000_000_000) as libc::c_long };
    loop {
        // SAFETY: `ts` is a valid timespec; the remaining-time pointer may be null with
        // TIMER_ABSTIME.
        let rc = unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, libc::TIMER_ABSTIME, &ts, std::ptr::null_mut()) };
        if rc != libc::EINTR {
            return;
        }
    }
}

/// An inotify instance watching one file for IN_MODIFY; closed on drop.
pub(crate) struct Inotify {
    fd: std::os::fd::OwnedFd,
}

impl Inotify {
    /// Watches `path` for writes.
    pub(crate) fn watch_modify(path: &std::path::Path) -> std::io::Result<Inotify> {
        use std::os::fd::FromRawFd;
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
        // SAFETY: plain syscall; the result is checked before it is used as a descriptor.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by inotify_init1 and is owned by nobody else.
        let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        // SAFETY: `c` is a NUL-terminated path that outlives the call.
        if unsafe { libc::inotify_add_watch(fd, c.as_ptr(), libc::IN_MODIFY) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Inotify { fd: owned })
    }

    /// Sleeps until the file is modified or `timeout_ms` passes, then discards the events.
    pub(crate) fn wait(&self, timeout_ms: i32) {
        use std::os::fd::AsRawFd;
        let mut p = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, timeout_ms) };
        let mut buf = [0u8; 1024];
        // SAFETY: reads into a local buffer of the given length; the descriptor is
        // non-blocking, so this returns at once when there is nothing.
        while unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
    }
}
