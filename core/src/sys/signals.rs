//! Blocking termination signals and waiting for them on the main thread (through `nix`).

use nix::sys::signal::{SigSet, Signal};

fn set(signals: &[i32]) -> SigSet {
    let mut s = SigSet::empty();
    for sig in signals.iter().filter_map(|&n| Signal::try_from(n).ok()) {
        s.add(sig);
    }
    s
}

/// The signals hbd's main thread handles: SIGTERM and SIGINT stop it; SIGHUP (heartbeat's
/// "reload") and SIGUSR1/SIGUSR2 (heartbeat's debug level up/down) do not.
pub const HANDLED: [i32; 5] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2];

/// Blocks `signals` in the calling thread; threads spawned afterwards inherit the mask, so only
/// [`wait`] ever sees them.
pub fn block(signals: &[i32]) {
    // Blocking valid signals in the calling thread cannot fail.
    let _ = set(signals).thread_block();
}

/// Waits for one of `signals` (which must be blocked) and returns it.
pub fn wait(signals: &[i32]) -> i32 {
    let s = set(signals);
    loop {
        if let Ok(sig) = s.wait() {
            return sig as i32;
        }
    }
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
