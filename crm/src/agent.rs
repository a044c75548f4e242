//! Resource agents, run as the standards say and with a deadline: OCF agents
//! (`/usr/lib/ocf/resource.d/PROVIDER/TYPE ACTION`, parameters as `OCF_RESKEY_*`, return codes
//! 0–9), LSB init scripts (`/etc/init.d/NAME ACTION`, `status` 0 running and 1–3 stopped), and
//! heartbeat's `resource.d` scripts (`SCRIPT ARG… ACTION`, whose `status` is read from what it
//! prints, as heartbeat's `ResourceManager` reads it). Every result is given in OCF's terms
//! ([`Rc`]).
//!
//! An agent runs in its own process group with standard input closed; its output is kept
//! (the last [`MAX_OUTPUT`] bytes of each stream); when the deadline passes the whole group is
//! killed, so a script's children cannot outlive it or hold its pipes open.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bytes kept of an agent's standard output and of its standard error.
pub const MAX_OUTPUT: usize = 16 * 1024;
/// Where OCF agents live (`OCF_ROOT`).
pub const OCF_ROOT: &str = "/usr/lib/ocf";

/// An operation on a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Start it.
    Start,
    /// Stop it.
    Stop,
    /// Is it running? (`monitor`; `status` for LSB and heartbeat scripts.)
    Monitor,
}

impl Op {
    /// The OCF action name.
    pub fn name(self) -> &'static str {
        match self {
            Op::Start => "start",
            Op::Stop => "stop",
            Op::Monitor => "monitor",
        }
    }
}

/// An agent's result in OCF's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rc {
    /// 0: done; for a monitor, running.
    Success,
    /// 1: a generic error.
    Generic,
    /// 2: invalid arguments.
    Args,
    /// 3: the action is not implemented.
    Unimplemented,
    /// 4: insufficient privileges.
    Perm,
    /// 5: the software is not installed.
    NotInstalled,
    /// 6: the resource is not configured correctly.
    NotConfigured,
    /// 7: not running (a monitor's "stopped", which is no error).
    NotRunning,
    /// Another exit status.
    Other(i32),
    /// Killed by a signal, or when its deadline passed.
    Killed,
}

impl Rc {
    /// From an OCF exit status.
    pub fn from_ocf(status: i32) -> Rc {
        match status {
            0 => Rc::Success,
            1 => Rc::Generic,
            2 => Rc::Args,
            3 => Rc::Unimplemented,
            4 => Rc::Perm,
            5 => Rc::NotInstalled,
            6 => Rc::NotConfigured,
            7 => Rc::NotRunning,
            n => Rc::Other(n),
        }
    }

    /// OCF's name (`OCF_SUCCESS`, …).
    pub fn name(self) -> String {
        match self {
            Rc::Success => "OCF_SUCCESS".into(),
            Rc::Generic => "OCF_ERR_GENERIC".into(),
            Rc::Args => "OCF_ERR_ARGS".into(),
            Rc::Unimplemented => "OCF_ERR_UNIMPLEMENTED".into(),
            Rc::Perm => "OCF_ERR_PERM".into(),
            Rc::NotInstalled => "OCF_ERR_INSTALLED".into(),
            Rc::NotConfigured => "OCF_ERR_CONFIGURED".into(),
            Rc::NotRunning => "OCF_NOT_RUNNING".into(),
            Rc::Other(n) => format!("exit status {n}"),
            Rc::Killed => "killed".into(),
        }
    }
}

/// How a resource's agent is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agent {
    /// An OCF agent: `OCF_ROOT/resource.d/PROVIDER/KIND`, with `params` as `OCF_RESKEY_*`.
    Ocf {
        /// `heartbeat`, `pacemaker`, …
        provider: String,
        /// `IPaddr2`, `Dummy`, …
        kind: String,
        /// Its parameters.
        params: Vec<(String, String)>,
    },
    /// An LSB init script.
    Lsb {
        /// Its path.
        script: PathBuf,
    },
    /// A heartbeat `resource.d` script with its `::` arguments.
    Heartbeat {
        /// Its path.
        script: PathBuf,
        /// The arguments before the action.
        args: Vec<String>,
    },
    /// The built-in process resource: a program the CRM runs itself.
    Process(crate::process::Process),
}

/// What a run of an agent did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The result.
    pub rc: Rc,
    /// How long it took.
    pub took: Duration,
    /// The end of its standard output and standard error (for the log and `hbctl`).
    pub output: String,
}

impl Agent {
    /// The program and arguments that carry out `op`.
    fn command(&self, op: Op, instance: &str, timeout: Duration) -> Command {
        match self {
            Agent::Ocf { provider, kind, params } => {
                let mut c = Command::new(Path::new(OCF_ROOT).join("resource.d").join(provider).join(kind));
                c.arg(op.name())
                    .env("OCF_ROOT", OCF_ROOT)
                    .env("OCF_FUNCTIONS_DIR", Path::new(OCF_ROOT).join("lib/heartbeat"))
                    .env("OCF_RA_VERSION_MAJOR", "1")
                    .env("OCF_RA_VERSION_MINOR", "0")
                    .env("OCF_RESOURCE_INSTANCE", instance)
                    .env("OCF_RESOURCE_TYPE", kind)
                    .env("OCF_RESOURCE_PROVIDER", provider)
                    .env("OCF_RESKEY_CRM_meta_timeout", timeout.as_millis().to_string());
                for (k, v) in params {
                    c.env(format!("OCF_RESKEY_{k}"), v);
                }
                c
            }
            Agent::Lsb { script } => {
                let mut c = Command::new(script);
                c.arg(if op == Op::Monitor { "status" } else { op.name() });
                c
            }
            Agent::Heartbeat { script, args } => {
                let mut c = Command::new(script);
                c.args(args).arg(if op == Op::Monitor { "status" } else { op.name() });
                c
            }
            // Run in-process ([`Agent::run`]); never through a command.
            Agent::Process(p) => Command::new(&p.path),
        }
    }

    /// Runs `op` for the resource `instance`, killing the agent (and everything it started)
    /// if it is not done within `timeout`.
    pub fn run(&self, op: Op, instance: &str, timeout: Duration) -> Outcome {
        let start = Instant::now();
        if let Agent::Process(p) = self {
            let (rc, output) = p.run(op, timeout);
            return Outcome { rc, took: start.elapsed(), output };
        }
        let mut cmd = self.command(op, instance, timeout);
        let (status, output) = run_group(&mut cmd, start + timeout);
        let took = start.elapsed();
        let rc = match (status, self) {
            (None, _) => Rc::Killed,
            (Some(s), Agent::Ocf { .. }) => Rc::from_ocf(s),
            // LSB: status 0 running; 1 and 2 dead (a pid or lock file left), 3 stopped.
            (Some(0), Agent::Lsb { .. }) => Rc::Success,
            (Some(1..=3), Agent::Lsb { .. }) if op == Op::Monitor => Rc::NotRunning,
            (Some(s), Agent::Lsb { .. }) => Rc::Other(s),
            // heartbeat scripts: status is what they print.
            (Some(_), Agent::Heartbeat { .. }) if op == Op::Monitor => heartbeat_status(&output),
            (Some(0), Agent::Heartbeat { .. }) => Rc::Success,
            (Some(s), Agent::Heartbeat { .. }) => Rc::Other(s),
            (Some(s), Agent::Process(_)) => Rc::Other(s),
        };
        Outcome { rc, took, output }
    }
}

/// A heartbeat script's `status` output read as `ResourceManager` reads it: "not running"
/// (any case) is stopped, then "running" or "OK" is running, anything else stopped.
fn heartbeat_status(output: &str) -> Rc {
    let lower = output.to_ascii_lowercase();
    if lower.contains("not running") {
        Rc::NotRunning
    } else if lower.contains("running") || output.contains("OK") {
        Rc::Success
    } else {
        Rc::NotRunning
    }
}

/// Runs `cmd` in a process group of its own until it exits or `deadline` passes (then the
/// group is killed). Returns its exit status (`None`: killed or unable to run) and the end of
/// its output.
fn run_group(cmd: &mut Command, deadline: Instant) -> (Option<i32>, String) {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let spawned = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return (Some(5), format!("cannot run {:?}: {e}", cmd.get_program())),
    };
    let pgid = child.id() as i32;
    let readers = [child.stdout.take().map(|o| reader(Box::new(o))), child.stderr.take().map(|e| reader(Box::new(e)))];
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let left = deadline.saturating_duration_since(Instant::now());
    let status = match rx.recv_timeout(left) {
        Ok(Ok(s)) => s.code().or_else(|| s.signal().map(|_| -1)),
        _ => None,
    };
    // Whatever is left of the group goes: a timed-out agent, or children of one that exited.
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), nix::sys::signal::Signal::SIGKILL);
    let _ = waiter.join();
    let output: Vec<String> = readers.into_iter().flatten().map(|r| r.join().unwrap_or_default()).collect();
    let status = status.filter(|s| *s >= 0);
    (status, output.join("").trim().to_string())
}

/// Reads a pipe to its end on a thread, keeping the last [`MAX_OUTPUT`] bytes.
fn reader(mut pipe: Box<dyn Read + Send>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut kept: Vec<u8> = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            kept.extend_from_slice(&buf[..n]);
            if kept.len() > MAX_OUTPUT {
                kept.drain(..kept.len() - MAX_OUTPUT);
            }
        }
        String::from_utf8_lossy(&kept).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hb-crm-agent-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// The real OCF `Dummy` agent from Debian's resource-agents: stopped, started, running,
    /// stopped again; its state file is a parameter.
    #[test]
    fn the_ocf_dummy_agent_starts_monitors_and_stops() {
        let d = tmp("dummy");
        let state = d.join("state").display().to_string();
        let a = Agent::Ocf { provider: "heartbeat".into(), kind: "Dummy".into(), params: vec![("state".into(), state)] };
        let t = Duration::from_secs(20);
        let rc = |op| {
            let o = a.run(op, "dummy-1", t);
            (o.rc, o.output)
        };
        assert_eq!(rc(Op::Monitor).0, Rc::NotRunning, "resource-agents must be installed (scripts/test.sh does)");
        assert_eq!(rc(Op::Start), (Rc::Success, String::new()));
        assert_eq!(rc(Op::Monitor).0, Rc::Success);
        assert_eq!(rc(Op::Stop).0, Rc::Success);
        assert_eq!(rc(Op::Monitor).0, Rc::NotRunning);
        let missing = Agent::Ocf { provider: "heartbeat".into(), kind: "NoSuchAgent".into(), params: vec![] };
        assert_eq!(missing.run(Op::Start, "x", t).rc, Rc::NotInstalled);
    }

    #[test]
    fn lsb_and_heartbeat_scripts_are_read_as_their_standards_say() {
        let d = tmp("scripts");
        let t = Duration::from_secs(5);
        let lsb = |code: i32| Agent::Lsb { script: script(&d, &format!("lsb{code}"), &format!("exit {code}")) };
        assert_eq!(lsb(0).run(Op::Monitor, "x", t).rc, Rc::Success);
        assert_eq!(lsb(3).run(Op::Monitor, "x", t).rc, Rc::NotRunning);
        assert_eq!(lsb(1).run(Op::Monitor, "x", t).rc, Rc::NotRunning);
        assert_eq!(lsb(4).run(Op::Monitor, "x", t).rc, Rc::Other(4));
        assert_eq!(lsb(1).run(Op::Start, "x", t).rc, Rc::Other(1));
        // A heartbeat script gets its :: arguments before the action, and its status is read.
        let hb = script(&d, "svc", "echo \"args: $*\"; case \"$3\" in status) echo \"$1 is running\";; esac");
        let a = Agent::Heartbeat { script: hb.clone(), args: vec!["10.0.0.1/24".into(), "eth0".into()] };
        let o = a.run(Op::Start, "svc", t);
        assert_eq!((o.rc, o.output.as_str()), (Rc::Success, "args: 10.0.0.1/24 eth0 start"));
        assert_eq!(a.run(Op::Monitor, "svc", t).rc, Rc::Success);
        for (said, rc) in [("OK", Rc::Success), ("svc is NOT running", Rc::NotRunning), ("stopped", Rc::NotRunning), ("", Rc::NotRunning)] {
            assert_eq!(heartbeat_status(said), rc, "{said:?}");
        }
    }

    #[test]
    fn a_hung_agent_and_its_children_are_killed_at_the_deadline() {
        let d = tmp("hung");
        let pidfile = d.join("child.pid");
        let body = format!("sleep 60 & echo $! > {}; yes | head -c 100000; sleep 60", pidfile.display());
        let a = Agent::Lsb { script: script(&d, "hang", &body) };
        let start = Instant::now();
        let o = a.run(Op::Start, "x", Duration::from_millis(500));
        assert_eq!(o.rc, Rc::Killed);
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
        assert!(o.output.len() <= 2 * MAX_OUTPUT, "output kept bounded");
        let child: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !Path::new(&format!("/proc/{child}")).exists()
                || std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap().contains(") Z"),
            "the script's child was killed with it"
        );
    }
}
