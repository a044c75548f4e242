//! `crm on|respawn`: hbd starts the CRM, `hb-crmd` (found next to hbd's own executable), on
//! a thread of its own at normal priority, and with `respawn` restarts it whenever it exits
//! (after 1 s, doubling to 30 s while it keeps failing within a minute). The CRM talks to
//! hbd only through the IPC socket, so hbd's heartbeats never wait for it.
//!
//! On a clean stop hbd first stops the CRM (SIGTERM), which releases every resource group
//! and exits 0. Only then may hbd's last heartbeat say it is leaving, so its peers take over
//! at once and fence nobody. A CRM that does not exit 0 in time (it is killed then), or that
//! had died before (`crm on`), may have left resources running: hbd then sends no leaving
//! mark, and its peers declare it dead and fence it before taking over.

use crate::config::CrmMode;
use crate::ipc::AppShared;
use crate::logging::Logger;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a stopping CRM has to release everything before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the supervisor looks at its child.
const POLL: Duration = Duration::from_millis(50);

/// The CRM's executable: `hb-crmd` next to this hbd.
pub fn crmd_path() -> std::io::Result<PathBuf> {
    let p = std::env::current_exe()?.with_file_name("hb-crmd");
    if p.is_file() {
        Ok(p)
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("`crm` is on, but there is no {} (hb-crmd ships with hbd)", p.display()),
        ))
    }
}

/// The running supervisor.
pub struct Supervisor {
    stop: Arc<AtomicBool>,
    child: Arc<Mutex<Option<Child>>>,
    thread: Option<JoinHandle<()>>,
    apps: Arc<AppShared>,
    logger: Logger,
}

/// Sleeps `d` in steps, returning early when `stop` is raised.
fn nap(d: Duration, stop: &AtomicBool) {
    let mut left = d;
    while !left.is_zero() && !stop.load(Ordering::Acquire) {
        let s = left.min(POLL);
        // The supervisor is not a real-time thread: a plain sleep.
        #[allow(clippy::disallowed_methods)]
        std::thread::sleep(s);
        left -= s;
    }
}

impl Supervisor {
    /// Starts `exe` with hbd's configuration, run directory and node name, and watches it.
    pub fn start(mode: CrmMode, exe: &Path, args: Vec<String>, apps: Arc<AppShared>, logger: Logger) -> std::io::Result<Supervisor> {
        let stop = Arc::new(AtomicBool::new(false));
        let child: Arc<Mutex<Option<Child>>> = Arc::default();
        let (s, c, a, l, exe) = (stop.clone(), child.clone(), apps.clone(), logger.clone(), exe.to_path_buf());
        let thread = std::thread::Builder::new().name("hbd-crm".into()).spawn(move || {
            let mut backoff = Duration::from_secs(1);
            while !s.load(Ordering::Acquire) {
                let started = crate::time::now();
                match Command::new(&exe).args(&args).stdin(Stdio::null()).spawn() {
                    Ok(ch) => {
                        l.info(&format!("started the CRM: {} (pid {})", exe.display(), ch.id()));
                        *c.lock().unwrap_or_else(|e| e.into_inner()) = Some(ch);
                    }
                    Err(e) => l.error(&format!("cannot start the CRM {}: {e}", exe.display())),
                }
                let status = loop {
                    let mut g = c.lock().unwrap_or_else(|e| e.into_inner());
                    match g.as_mut().map(Child::try_wait) {
                        Some(Ok(Some(st))) => {
                            g.take();
                            break Some(st);
                        }
                        Some(Ok(None)) => {}
                        _ => break None,
                    }
                    drop(g);
                    nap(POLL, &AtomicBool::new(false));
                };
                if s.load(Ordering::Acquire) {
                    if let Some(st) = status {
                        a.crm_unreleased.store(!st.success(), Ordering::Release);
                    }
                    break;
                }
                // It exited on its own: whatever it ran may still run.
                a.crm_unreleased.store(true, Ordering::Release);
                let why = status.map_or("could not be started".to_string(), |st| format!("exited ({st})"));
                if mode != CrmMode::Respawn {
                    l.error(&format!("the CRM {why}; `crm on` does not restart it (`crm respawn` would)"));
                    break;
                }
                let ran = crate::time::now().sub(started);
                if ran.0 > 60_000_000_000 {
                    backoff = Duration::from_secs(1);
                }
                l.warn(&format!("the CRM {why}; restarting it in {} s", backoff.as_secs()));
                nap(backoff, &s);
                backoff = (backoff * 2).min(Duration::from_secs(30));
                if !s.load(Ordering::Acquire) {
                    // A new CRM probes every resource and takes over what it finds.
                    a.crm_unreleased.store(false, Ordering::Release);
                }
            }
        })?;
        Ok(Supervisor { stop, child, thread: Some(thread), apps, logger })
    }

    /// Stops the CRM (SIGTERM; SIGKILL after `timeout`) and the supervisor. Returns whether the
    /// CRM released every resource (it exited 0); if not, the shared flag tells the RT thread
    /// not to send the leaving mark.
    pub fn stop(mut self, timeout: Duration) -> bool {
        self.stop.store(true, Ordering::Release);
        let pid = self.child.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(Child::id);
        if let Some(pid) = pid {
            self.logger.info("stopping the CRM: it releases every resource group first");
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
        }
        let mut waited = Duration::ZERO;
        while self.thread.as_ref().is_some_and(|t| !t.is_finished()) && waited < timeout {
            nap(POLL, &AtomicBool::new(false));
            waited += POLL;
        }
        if self.thread.as_ref().is_some_and(|t| !t.is_finished()) {
            self.logger.error(&format!("the CRM did not stop within {} s: killed; its resources may still run", timeout.as_secs()));
            if let Some(ch) = self.child.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                let _ = ch.kill();
            }
            self.apps.crm_unreleased.store(true, Ordering::Release);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        !self.apps.crm_unreleased.load(Ordering::Acquire)
    }
}
