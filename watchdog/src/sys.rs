//! The watchdog ioctls; the only unsafe code in `hb-watchdog`.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;

const fn ior(nr: u32, size: u32) -> libc::c_ulong {
    ((2u32 << 30) | (size << 16) | ((b'W' as u32) << 8) | nr) as libc::c_ulong
}
const fn iowr(nr: u32, size: u32) -> libc::c_ulong {
    ((3u32 << 30) | (size << 16) | ((b'W' as u32) << 8) | nr) as libc::c_ulong
}

/// `struct watchdog_info`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WatchdogInfo {
    pub options: u32,
    pub firmware_version: u32,
    pub identity: [u8; 32],
}

pub(crate) const GETSUPPORT: libc::c_ulong = ior(0, std::mem::size_of::<WatchdogInfo>() as u32);
pub(crate) const GETSTATUS: libc::c_ulong = ior(1, 4);
pub(crate) const GETBOOTSTATUS: libc::c_ulong = ior(2, 4);
pub(crate) const SETOPTIONS: libc::c_ulong = ior(4, 4);
pub(crate) const KEEPALIVE: libc::c_ulong = ior(5, 4);
pub(crate) const SETTIMEOUT: libc::c_ulong = iowr(6, 4);
pub(crate) const GETTIMEOUT: libc::c_ulong = ior(7, 4);
pub(crate) const SETPRETIMEOUT: libc::c_ulong = iowr(8, 4);
pub(crate) const GETPRETIMEOUT: libc::c_ulong = ior(9, 4);
pub(crate) const GETTIMELEFT: libc::c_ulong = ior(10, 4);

/// An ioctl whose argument is one `int`, read and/or written by the driver.
pub(crate) fn ioctl_int(fd: RawFd, req: libc::c_ulong, val: i32) -> io::Result<i32> {
    let mut v: libc::c_int = val;
    // SAFETY: every WDIOC_* request with an int argument reads/writes exactly one c_int at the
    // pointer, which is valid and writable for the call.
    let rc = unsafe { libc::ioctl(fd, req, &mut v as *mut libc::c_int) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(v)
    }
}

/// `WDIOC_GETSUPPORT`.
pub(crate) fn get_support(fd: RawFd) -> io::Result<WatchdogInfo> {
    let mut info = WatchdogInfo::default();
    // SAFETY: GETSUPPORT writes one struct watchdog_info (same layout, repr(C)) at the pointer.
    let rc = unsafe { libc::ioctl(fd, GETSUPPORT, &mut info as *mut WatchdogInfo) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(info)
    }
}
