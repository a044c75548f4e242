//! The built-in `process` resource: a program the CRM runs itself, with no agent script. It
//! starts in its own process group and session, its pid kept in a pid file
//! (`RUN_DIR/crm-NAME.pid`, created `O_EXCL|O_NOFOLLOW`, mode 0600). It is running while
//! that pid lives and its executable is the configured one (so a reused pid is not taken for
//! it); a stop sends SIGTERM to its group, then SIGKILL after the deadline. A start first
//! stops an instance already there: restarting a hung program (the recovery manager) kills it
//! before starting it again.

use crate::agent::{Op, Rc};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A configured process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// The executable.
    pub path: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its pid file.
    pub pidfile: PathBuf,
    /// The application heartbeat it registers with hbd, if any (the recovery manager restarts
    /// it when that heartbeat is missed).
    pub apphb: Option<String>,
}

/// How often a stopping process is looked at.
const POLL: Duration = Duration::from_millis(10);

impl Process {
    /// The pid of the running instance, if one runs.
    pub fn running(&self) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(&self.pidfile).ok()?.trim().parse().ok()?;
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let zombie = stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        let same = exe == self.path || std::fs::canonicalize(&self.path).is_ok_and(|p| p == exe);
        (same && !zombie).then_some(pid)
    }

    fn start(&self) -> Result<(), String> {
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::process::CommandExt;
        self.stop(Instant::now() + Duration::from_secs(5))?;
        let child = std::process::Command::new(&self.path)
            .args(&self.args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.path.display()))?;
        let pid = child.id();
        // Reaped by a thread of its own: the CRM is its parent until it exits.
        std::thread::spawn(move || {
            let mut c = child;
            let _ = c.wait();
        });
        let _ = std::fs::remove_file(&self.pidfile);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.pidfile)
            .map_err(|e| format!("{}: {e}", self.pidfile.display()))?;
        writeln!(f, "{pid}").map_err(|e| format!("{}: {e}", self.pidfile.display()))?;
        Ok(())
    }

    fn stop(&self, deadline: Instant) -> Result<(), String> {
        let Some(pid) = self.running() else {
            let _ = std::fs::remove_file(&self.pidfile);
            return Ok(());
        };
        let group = nix::unistd::Pid::from_raw(-pid);
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGTERM);
        // A stopped (hung under SIGSTOP, say) program takes SIGTERM only once continued.
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGCONT);
        while self.running().is_some() {
            if Instant::now() >= deadline {
                let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
                std::thread::sleep(Duration::from_millis(50));
                break;
            }
            std::thread::sleep(POLL);
        }
        if self.running().is_some() {
            return Err(format!("{} (pid {pid}) survived SIGKILL", self.path.display()));
        }
        let _ = std::fs::remove_file(&self.pidfile);
        Ok(())
    }

    /// Carries out `op` within `timeout`: the result and what to log.
    pub fn run(&self, op: Op, timeout: Duration) -> (Rc, String) {
        let result = match op {
            Op::Monitor => return if self.running().is_some() { (Rc::Success, String::new()) } else { (Rc::NotRunning, String::new()) },
            Op::Start => self.start().and_then(|()| {
                // A program that dies at once did not start.
                std::thread::sleep(Duration::from_millis(20));
                self.running().map(drop).ok_or_else(|| format!("{} exited at once", self.path.display()))
            }),
            Op::Stop => self.stop(Instant::now() + timeout),
        };
        match result {
            Ok(()) => (Rc::Success, String::new()),
            Err(e) => (Rc::Generic, e),
        }
    }
}

/// A process resource's pid file for resource `id` in `run_dir`.
pub fn pidfile(run_dir: &Path, id: &str) -> PathBuf {
    run_dir.join(format!("crm-{id}.pid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_starts_runs_and_stops_and_a_reused_pid_is_not_it() {
        let dir = std::env::temp_dir().join(format!("hb-crm-process-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = Process { path: "/bin/sleep".into(), args: vec!["60".into()], pidfile: pidfile(&dir, "s"), apphb: None };
        let t = Duration::from_secs(5);
        assert_eq!(p.run(Op::Monitor, t).0, Rc::NotRunning);
        assert_eq!(p.run(Op::Start, t), (Rc::Success, String::new()));
        let first = p.running().expect("running");
        assert_eq!(p.run(Op::Monitor, t).0, Rc::Success);
        // A start of what already runs replaces it (the recovery manager's restart).
        assert_eq!(p.run(Op::Start, t).0, Rc::Success);
        let second = p.running().expect("running again");
        assert_ne!(first, second);
        assert!(
            !Path::new(&format!("/proc/{first}")).exists()
                || std::fs::read_to_string(format!("/proc/{first}/stat")).unwrap().contains(") Z")
        );
        assert_eq!(p.run(Op::Stop, t).0, Rc::Success);
        assert_eq!(p.run(Op::Monitor, t).0, Rc::NotRunning);
        // A pid file naming another program (a reused pid) is not this process.
        std::fs::write(p.pidfile.clone(), format!("{}\n", std::process::id())).unwrap();
        assert_eq!(p.run(Op::Monitor, t).0, Rc::NotRunning);
        let bad = Process { path: "/bin/false".into(), args: vec![], pidfile: pidfile(&dir, "f"), apphb: None };
        assert_eq!(bad.run(Op::Start, t).0, Rc::Generic);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
