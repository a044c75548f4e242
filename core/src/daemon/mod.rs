//! hbd as a library: [`Daemon::start`] (the checked start-up phase, [`start`]), the real-time
//! thread and its loop ([`rt`]), and a clean stop.
//!
//! - [`start`]: read and validate the configuration, persist a new generation, open every
//!   medium, check the real-time limits, create the status page, start the log and IPC
//!   threads, arm the watchdog, then the RT thread — which sets its own scheduling, builds its
//!   backend, reports back, and only then enters its loop. Everything the loop uses is
//!   allocated before it starts; the loop allocates nothing (`tests/zero_alloc.rs`).
//! - [`rt`]: the loop, once per wake-up: wait; drain every link into the engine; judge
//!   deadlines; pet the watchdog if healthy ([`petter`]); send heartbeats if due; forward
//!   events to the log and IPC rings; publish the status page.
//! - one type per medium, each owning its framing, draining and sending: [`udp`], [`raw`],
//!   [`serial`], [`icmp`] (ping nodes), behind [`link`]; all I/O and the clock go through the
//!   [`crate::backend::Backend`] seam, so [`sim`] runs the same loop on a simulated network.

mod crm;
mod icmp;
mod link;
mod petter;
mod raw;
mod rt;
mod serial;
pub mod sim;
pub mod start;
mod udp;

pub use crate::error::error_text;

use crate::auth::{load_authkeys, AuthKeys};
use crate::backend::{Choice, Kind};
use crate::config::{parse_ha_cf, ConfigError, HaCf};
use crate::ipc;
use crate::logging::Logger;
use crate::status::StatusWriter;
use crate::sys::fd::EventFd;
use hb_media::MediaError;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// How hbd was asked to run (command-line flags).
#[derive(Debug, Clone)]
pub struct Options {
    /// Holds `ha.cf` and `authkeys`.
    pub config_dir: PathBuf,
    /// This node's name.
    pub node_name: String,
    /// Status page and IPC socket.
    pub run_dir: PathBuf,
    /// The persisted generation.
    pub state_dir: PathBuf,
    /// Backend choice.
    pub backend: Choice,
    /// Log to standard error too.
    pub log_stderr: bool,
    /// Force real-time set-up off (`--no-realtime`), whatever `ha.cf` says.
    pub no_realtime: bool,
    /// Called on the RT thread just before its loop starts (tests mark the thread with it).
    pub rt_hook: Option<fn()>,
    /// Accept a `watchdog` path that is not a character device (a test emulator).
    pub watchdog_test_mode: bool,
}

/// Start-up failed; each variant names the step.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A configuration file is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A configuration file cannot be read.
    #[error("cannot read {path}")]
    ConfigUnreadable {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A run or state directory cannot be created, or other users could change it.
    #[error("cannot use {path} as the {what} directory")]
    Dir {
        /// "run" or "state".
        what: &'static str,
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The generation file cannot be read or written.
    #[error("cannot update the generation file {path}")]
    Generation {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A medium cannot be opened.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// io_uring was forced and is unavailable.
    #[error("io_uring backend unavailable")]
    Uring(#[from] crate::sys::uring::UringError),
    /// The epoll backend could not be set up.
    #[error("epoll backend set-up failed")]
    Epoll(#[source] io::Error),
    /// The watchdog cannot be opened or set up.
    #[error(transparent)]
    Watchdog(#[from] hb_watchdog::WatchdogError),
    /// The status page cannot be created.
    #[error("cannot create the status page in {path}")]
    Status {
        /// The run directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The IPC socket cannot be created.
    #[error("cannot listen on the IPC socket {path}")]
    Ipc {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A STONITH device could not be configured.
    #[error(transparent)]
    Stonith(#[from] crate::fence::DeviceError),
    /// A thread could not be spawned, or the RT thread died during set-up.
    #[error("starting the {what} thread failed")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// Reads and validates `ha.cf` and `authkeys` in `config_dir` for `node`.
pub fn load_config(config_dir: &Path, node: &str) -> Result<(HaCf, AuthKeys), StartError> {
    let hacf_path = config_dir.join("ha.cf");
    let text =
        crate::files::read_config(&hacf_path, false).map_err(|source| StartError::ConfigUnreadable { path: hacf_path.clone(), source })?;
    let cfg = parse_ha_cf(&text, &hacf_path)?;
    cfg.validate_for(node)?;
    for d in cfg.stonith_devices_for(node) {
        d.resolve().map_err(|what| ConfigError {
            file: hacf_path.clone(),
            line: d.line,
            what: format!("STONITH device {}: {what}", d.name),
        })?;
    }
    let keys_path = config_dir.join("authkeys");
    if !keys_path.exists() {
        return Err(StartError::ConfigUnreadable { path: keys_path, source: io::Error::from(io::ErrorKind::NotFound) });
    }
    let keys = load_authkeys(&keys_path)?;
    // Heartbeats are signed with the active key (`auth N`).
    let mac_len = keys.keys[usize::from(keys.active)].as_ref().map_or(crate::auth::MAX_MAC, |(m, _)| m.mac_len());
    // A null-modem cable joins two nodes: its heartbeats echo one peer.
    cfg.check_serial_budget(crate::wire::heartbeat_len(mac_len, 1))?;
    Ok((cfg, keys))
}

/// Everything about a valid configuration that deserves a warning: weak keys, serial lines
/// loaded close to their capacity.
pub fn config_warnings(cfg: &HaCf, keys: &crate::auth::AuthKeys) -> Vec<String> {
    let mac_len = keys.keys[usize::from(keys.active)].as_ref().map_or(crate::auth::MAX_MAC, |(m, _)| m.mac_len());
    let mut w = keys.warnings();
    w.extend(cfg.serial_load_warnings(crate::wire::heartbeat_len(mac_len, 1)));
    w
}

/// The host name, hbd's default node name (heartbeat uses `uname -n`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "localhost".into())
}

/// Reads the last generation, writes (and fsyncs) the next: `max(last + 1, unix seconds)`, so
/// a node whose state directory was lost still starts above its previous generation as long as
/// its clock is sane.
pub fn next_generation(state_dir: &Path) -> Result<u64, StartError> {
    let path = state_dir.join("generation");
    let err = |source| StartError::Generation { path: path.clone(), source };
    let last = match std::fs::read_to_string(&path) {
        Ok(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| err(io::Error::new(io::ErrorKind::InvalidData, format!("{:?} is not a number", s.trim()))))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(err(e)),
    };
    // The wall clock only as a floor for a lost state directory, never to judge time.
    #[allow(clippy::disallowed_methods)]
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let next = (last + 1).max(wall);
    crate::files::replace_durably(state_dir, "generation", format!("{next}\n").as_bytes()).map_err(err)?;
    Ok(next)
}

/// A running hbd.
pub struct Daemon {
    stop: Arc<AtomicBool>,
    wake: Arc<EventFd>,
    rt: Option<JoinHandle<()>>,
    /// The serial-port keeper (only with serial links); stopped after the RT thread.
    ports_stop: Arc<AtomicBool>,
    ports_wake: Option<Arc<EventFd>>,
    ports: Option<JoinHandle<()>>,
    ipc_stop: Arc<AtomicBool>,
    ipc_wake: Arc<EventFd>,
    ipc: Option<JoinHandle<()>>,
    log_stop: Arc<AtomicBool>,
    log: Option<JoinHandle<()>>,
    /// The CRM's supervisor (`crm on|respawn`).
    crm: Option<crm::Supervisor>,
    logger: Logger,
    run_dir: PathBuf,
    /// The backend the loop runs on.
    pub backend: Kind,
    /// Real-time features granted ([`rt_flags`]).
    pub rt_flags: u64,
}

impl Daemon {
    /// Handles signals until SIGTERM or SIGINT arrives, and returns its name. SIGHUP does not
    /// stop hbd (heartbeat users send it to reload): the configuration is not re-read, and the
    /// log says so. SIGUSR1 / SIGUSR2 raise / lower the `debug` level, as in heartbeat.
    pub fn wait_for_stop(&self) -> &'static str {
        use crate::sys::signals::{name, wait, HANDLED};
        loop {
            let sig = wait(&HANDLED);
            match sig {
                libc::SIGUSR1 | libc::SIGUSR2 => {
                    let l = self.logger.debug_level();
                    let n = if sig == libc::SIGUSR1 { l.saturating_add(1) } else { l.saturating_sub(1) };
                    self.logger.set_debug_level(n);
                    self.logger.info(&format!("{}: debug level {l} -> {n}", name(sig)));
                }
                libc::SIGHUP => self.logger.warn("SIGHUP: configuration reload is not implemented; hbd keeps running with the configuration it started with (restart it to apply changes)"),
                _ => return name(sig),
            }
        }
    }

    /// The logger, for the main thread's own messages.
    pub fn logger(&self) -> &Logger {
        &self.logger
    }

    /// Stops cleanly: ends the loop, then the IPC and log threads; removes the socket and page.
    pub fn stop(mut self, why: &str) {
        self.logger.info(&format!("stopping ({why})"));
        // The CRM first, while heartbeats still go: its peers hear it release its groups.
        if let Some(c) = self.crm.take() {
            c.stop(crm::STOP_TIMEOUT);
        }
        self.stop.store(true, Ordering::Release);
        self.wake.notify();
        if let Some(h) = self.rt.take() {
            let _ = h.join();
        }
        // The loop no longer uses the ports: the keeper closes them (and their lock files).
        self.ports_stop.store(true, Ordering::Release);
        if let Some(w) = &self.ports_wake {
            w.notify();
        }
        if let Some(h) = self.ports.take() {
            let _ = h.join();
        }
        self.ipc_stop.store(true, Ordering::Release);
        self.ipc_wake.notify();
        if let Some(h) = self.ipc.take() {
            let _ = h.join();
        }
        let _ = std::fs::remove_file(self.run_dir.join(ipc::SOCKET_NAME));
        StatusWriter::remove(&self.run_dir);
        self.logger.info("stopped");
        self.log_stop.store(true, Ordering::Release);
        if let Some(h) = self.log.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

/// Blocks the signals [`Daemon::wait_for_stop`] handles, in the calling thread (call before
/// spawning any thread, so every thread inherits the mask).
pub fn block_signals() {
    crate::sys::signals::block(&crate::sys::signals::HANDLED);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SourceText;

    #[test]
    fn generation_is_persisted_and_increases() {
        let dir = std::env::temp_dir().join(format!("hb-gen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = next_generation(&dir).unwrap();
        let b = next_generation(&dir).unwrap();
        assert!(b > a);
        std::fs::write(dir.join("generation"), format!("{}\n", u64::MAX / 2)).unwrap();
        assert_eq!(next_generation(&dir).unwrap(), u64::MAX / 2 + 1);
        std::fs::write(dir.join("generation"), "junk").unwrap();
        assert!(next_generation(&dir).unwrap_err().source_text().contains("\"junk\" is not a number"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
