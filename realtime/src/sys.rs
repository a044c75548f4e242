//! The system calls behind the real-time set-up. `nix` wraps all but one; the raw call for
//! SCHED_FIFO (`sched_setscheduler`, which nix does not cover) is the only unsafe code in
//! `hb-realtime`.
#![allow(unsafe_code)]

use nix::sched::{sched_setaffinity, CpuSet};
use nix::sys::resource::{getrlimit, Resource, RLIM_INFINITY};
use nix::unistd::Pid;
use std::io;

/// A resource's soft limit; `None` when unlimited (or unreadable).
pub(crate) fn rlimit_soft(resource: Resource) -> Option<u64> {
    match getrlimit(resource) {
        Ok((soft, _)) if soft != RLIM_INFINITY => Some(soft),
        _ => None,
    }
}

pub(crate) fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

pub(crate) fn mlockall() -> io::Result<()> {
    use nix::sys::mman::MlockAllFlags;
    nix::sys::mman::mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE).map_err(io::Error::from)
}

pub(crate) fn set_fifo(prio: u8) -> io::Result<()> {
    set_policy(prio, libc::SCHED_FIFO)
}

/// SCHED_FIFO that the threads and processes the caller creates do not inherit.
pub(crate) fn set_fifo_reset_on_fork(prio: u8) -> io::Result<()> {
    set_policy(prio, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK)
}

fn set_policy(prio: u8, policy: libc::c_int) -> io::Result<()> {
    let param = libc::sched_param { sched_priority: i32::from(prio) };
    // SAFETY: pid 0 is the calling thread; `param` is valid for the call.
    let rc = unsafe { libc::sched_setscheduler(0, policy, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub(crate) fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // Pid 0: the calling thread.
    sched_setaffinity(Pid::from_raw(0), &set).map_err(io::Error::from)
}

pub(crate) fn set_timer_slack(ns: u64) -> io::Result<()> {
    nix::sys::prctl::set_timerslack(ns).map_err(io::Error::from)
}
