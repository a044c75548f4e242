//! CLOCK_MONOTONIC.
#![allow(unsafe_code)]

/// The current CLOCK_MONOTONIC time in nanoseconds (vDSO; no syscall on x86-64).
pub fn monotonic() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
