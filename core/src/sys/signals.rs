//! Blocking termination signals and waiting for them on the main thread.
#![allow(unsafe_code)]

fn set(signals: &[i32]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before use.
    let mut s: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `s` is a valid sigset_t.
    unsafe { libc::sigemptyset(&mut s) };
    for &sig in signals {
        // SAFETY: `s` is initialised; `sig` is a valid signal number.
        unsafe { libc::sigaddset(&mut s, sig) };
    }
    s
}

/// The signals hbd's main thread handles: SIGTERM and SIGINT stop it; SIGHUP (heartbeat's
/// "reload") and SIGUSR1/SIGUSR2 (heartbeat's debug level up/down) do not.
pub const HANDLED: [i32; 5] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2];

/// Blocks `signals` in the calling thread; threads spawned afterwards inherit the mask, so only
/// [`wait`] ever sees them.
pub fn block(signals: &[i32]) {
    let s = set(signals);
    // SAFETY: `s` is a valid set; the old-mask pointer may be null.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &s, std::ptr::null_mut()) };
}

/// Waits for one of `signals` (which must be blocked) and returns it.
pub fn wait(signals: &[i32]) -> i32 {
    let s = set(signals);
    let mut sig: libc::c_int = 0;
    // SAFETY: `s` is a valid set and `sig` a valid out-pointer.
    unsafe { libc::sigwait(&s, &mut sig) };
    sig
}

/// The conventional name of a signal, for logs.
pub fn name(sig: i32) -> &'static str {
    match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        _ => "signal",
    }
}
