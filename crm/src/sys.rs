//! The CRM's only unsafe code: a SIGTERM/SIGINT handler that raises a flag. A handler (not a
//! blocked mask and a signal thread) because agents inherit a blocked mask across exec, and
//! their own daemons would then ignore SIGTERM; a handler is reset to the default by exec.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};

/// Raised by SIGTERM or SIGINT.
pub static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the handler for SIGTERM and SIGINT, without SA_RESTART: a wait in progress ends
/// with EINTR, so the loop sees the flag at once. Then unblocks them: a blocked mask is
/// inherited across exec, and hbd, which starts the CRM, blocks them in all its threads.
/// Call it before starting any thread.
pub fn catch_stop_signals() -> std::io::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let act = SigAction::new(SigHandler::Handler(on_signal), SaFlags::empty(), SigSet::empty());
    let mut set = SigSet::empty();
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe, and no
        // other handler for these signals is installed in this process.
        unsafe { sigaction(sig, &act) }.map_err(std::io::Error::from)?;
        set.add(sig);
    }
    set.thread_unblock().map_err(std::io::Error::from)
}
