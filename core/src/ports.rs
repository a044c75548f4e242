//! The serial-port keeper: owns the open ports, and reopens one that went away.
//!
//! A USB-serial adapter can be unplugged and plugged back while hbd runs. The RT loop notices
//! the hang-up (a read returning end-of-file or an error), stops using the fd and marks the
//! port's [`PortSlot`] `GONE`. This thread — not real-time, free to allocate and block — then
//! closes the old port (and its lock file), tries to open the device again every
//! [`RETRY`], and when it succeeds publishes the new fd, marks the slot `BACK` and wakes the
//! loop, which starts reading and writing it again. Hand-over is two atomics per port; the
//! RT thread never opens, closes or allocates anything for it.
//!
//! While every port is in use the keeper sleeps on an eventfd that giving a port up signals
//! (one `write(2)` from the RT thread): it polls the device every [`RETRY`] only while a
//! port is missing — the one timer-driven wait of a helper thread, and only then.

use crate::logging::Logger;
use crate::sys::fd::EventFd;
use hb_media::serial::{open_serial, SerialPort, SerialSpec};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often a missing port is looked for.
pub const RETRY: Duration = Duration::from_millis(200);

/// The RT loop reads and writes the port.
pub const IN_USE: u8 = 0;
/// The RT loop gave the port up (hung up); the keeper reopens it.
pub const GONE: u8 = 1;
/// The keeper reopened the port; `fd` is the new one, for the RT loop to take.
pub const BACK: u8 = 2;

/// One port's hand-over state between the RT loop and the keeper.
#[derive(Debug)]
pub struct PortSlot {
    /// [`IN_USE`], [`GONE`] or [`BACK`].
    pub state: AtomicU8,
    /// The fd the RT loop should use once `state` is [`BACK`].
    pub fd: AtomicI32,
    /// Wakes the keeper.
    keeper: Arc<EventFd>,
}

impl PortSlot {
    fn new(fd: RawFd, keeper: Arc<EventFd>) -> PortSlot {
        PortSlot { state: AtomicU8::new(IN_USE), fd: AtomicI32::new(fd), keeper }
    }
    /// RT side: the port hung up; from now on the loop does not touch its fd. Wakes the
    /// keeper (one non-blocking `write(2)`).
    pub fn give_up(&self) {
        self.state.store(GONE, Ordering::Release);
        self.keeper.notify();
    }
    /// RT side: the reopened port's fd, if the keeper has one ready (then the slot is in use).
    pub fn take_back(&self) -> Option<RawFd> {
        if self.state.load(Ordering::Acquire) != BACK {
            return None;
        }
        self.state.store(IN_USE, Ordering::Release);
        Some(self.fd.load(Ordering::Relaxed))
    }
}

/// The ports and their slots, in link order (serial links only).
pub struct Keeper {
    specs: Vec<SerialSpec>,
    ports: Vec<Option<SerialPort>>,
    slots: Arc<[PortSlot]>,
    wake: Arc<EventFd>,
}

impl Keeper {
    /// Takes ownership of the opened ports.
    pub fn new(ports: Vec<SerialPort>) -> std::io::Result<Keeper> {
        let wake = Arc::new(EventFd::new()?);
        let slots: Arc<[PortSlot]> = ports.iter().map(|p| PortSlot::new(p.fd(), wake.clone())).collect();
        Ok(Keeper { specs: ports.iter().map(|p| p.spec.clone()).collect(), ports: ports.into_iter().map(Some).collect(), slots, wake })
    }

    /// Wakes the keeper (to stop it).
    pub fn waker(&self) -> Arc<EventFd> {
        self.wake.clone()
    }

    /// The slots, for the RT loop.
    pub fn slots(&self) -> Arc<[PortSlot]> {
        self.slots.clone()
    }

    /// One pass: closes the ports the loop gave up and tries to reopen them. Returns whether
    /// one came back (the loop should be woken).
    fn pass(&mut self, logger: &Logger, last_error: &mut [Option<String>]) -> bool {
        let mut back = false;
        for (i, last_error) in last_error.iter_mut().enumerate() {
            if self.slots[i].state.load(Ordering::Acquire) != GONE {
                continue;
            }
            let name = self.specs[i].name();
            if let Some(old) = self.ports[i].take() {
                // The RT loop no longer uses this fd: close it and release the lock.
                drop(old);
                logger.warn(&format!("{name}: closed; waiting for the port to return"));
            }
            match open_serial(&self.specs[i]) {
                Ok(port) => {
                    self.slots[i].fd.store(port.fd(), Ordering::Relaxed);
                    self.slots[i].state.store(BACK, Ordering::Release);
                    logger.info(&format!("{name} is back: reopened at {} baud", self.specs[i].baud));
                    self.ports[i] = Some(port);
                    *last_error = None;
                    back = true;
                }
                Err(e) => {
                    let text = crate::error::error_text(&e);
                    if last_error.as_deref() != Some(text.as_str()) {
                        logger.warn(&format!("{name}: cannot reopen it yet: {text}; retrying every {} ms", RETRY.as_millis()));
                        *last_error = Some(text);
                    }
                }
            }
        }
        back
    }

    /// Runs the keeper until `stop`; the ports close when it ends.
    pub fn spawn(mut self, logger: Logger, wake: Arc<EventFd>, stop: Arc<AtomicBool>) -> std::io::Result<JoinHandle<()>> {
        // Every stack page is locked and resident (mlockall): a small stack, as opening a port
        // needs little.
        std::thread::Builder::new().name("hbd-ports".into()).stack_size(crate::logging::STACK).spawn(move || {
            let mut last_error: Vec<Option<String>> = vec![None; self.ports.len()];
            while !stop.load(Ordering::Acquire) {
                if self.pass(&logger, &mut last_error) {
                    wake.notify();
                }
                // Idle while every port is in use; retry on a timer only while one is missing.
                let missing = self.slots.iter().any(|s| s.state.load(Ordering::Acquire) == GONE);
                let timeout = if missing { RETRY.as_millis() as i32 } else { -1 };
                let mut fds = [libc::pollfd { fd: self.wake.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
                if crate::sys::seqpacket::poll_in(&mut fds, timeout).is_err() {
                    // poll(2) itself failed (not EINTR): do not spin on it.
                    #[allow(clippy::disallowed_methods)]
                    std::thread::sleep(RETRY);
                }
                self.wake.drain();
            }
        })
    }
}
