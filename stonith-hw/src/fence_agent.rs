//! `fence_agent`: any Pacemaker fence agent (`fence_ipmilan`, `fence_apc_snmp`, …), for
//! hardware hb has no native driver for. One of the two kinds of driver allowed to fork: each
//! operation runs the agent with the fence-agent protocol (`key=value` lines on standard
//! input: `action=`, `plug=`, and every other parameter given) under the deadline.
//!
//! Parameters: `agent` (a name found in `/usr/sbin`, or a path), `hostlist` (optional: the
//! hosts it fences; without it the agent's `list` is asked once, at configuration), and any
//! of the agent's own (`ip=`, `username=`, `password=`, `lanplus=`, …), passed through.
//!
//! Results: exit 0 is `S_OK` (a `fencing.py` agent checks the power state after `off` and
//! `on`, and hbd asks the agent's `status` after every `off` too: exit 0 is on, 2 off);
//! `fencing.py`'s codes map to cluster-glue's: 2 bad arguments → `S_BADCONFIG`,
//! 3 login denied → `S_ACCESS`, 5 timed out → `S_TIMEOUT`, anything else → `S_RESETFAIL`.

use crate::child::{self, Finished};
use crate::{Action, Code, Driver, Info, Params, Power, StonithError};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// This driver's description.
pub const INFO: Info = Info {
    name: "fence_agent",
    description: "any Pacemaker fence agent, run with the fence-agent protocol (forks)",
    params: &["agent", "hostlist"],
    forks: true,
    confirms: true,
    operator: false,
};

/// Where fence agents live (Pacemaker's fence agent directory on Debian).
const AGENT_DIR: &str = "/usr/sbin";
/// How long configuration may ask the agent for its host list.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// A configured agent.
pub struct FenceAgent {
    path: PathBuf,
    /// `key=value` lines every request carries.
    base: String,
    hosts: Vec<String>,
}

impl FenceAgent {
    /// Configures it: finds the agent and, without `hostlist`, asks it for its hosts.
    pub fn open(p: &Params) -> Result<FenceAgent, StonithError> {
        let agent = p.get("agent")?;
        let path = if agent.contains('/') { PathBuf::from(agent) } else { PathBuf::from(AGENT_DIR).join(agent) };
        if !path.is_file() {
            return Err(StonithError::new(Code::BadConfig, format!("no fence agent at {}", path.display())));
        }
        let mut base = String::new();
        for (k, v) in p.pairs().iter().filter(|(k, _)| k != "agent" && k != "hostlist") {
            if k.contains(['\n', '=']) || v.contains('\n') {
                return Err(StonithError::new(Code::BadConfig, format!("parameter {k:?} cannot be passed on one key=value line")));
            }
            base.push_str(&format!("{k}={v}\n"));
        }
        let mut fa = FenceAgent { path, base, hosts: Vec::new() };
        fa.hosts = match p.opt("hostlist") {
            Some(list) => list.split(|c: char| c == ',' || c.is_whitespace()).filter(|h| !h.is_empty()).map(str::to_string).collect(),
            None => {
                let f = fa.request("list", None, Instant::now() + LIST_TIMEOUT)?;
                f.stdout.lines().filter_map(|l| l.split(',').next()).map(str::trim).filter(|h| !h.is_empty()).map(str::to_string).collect()
            }
        };
        Ok(fa)
    }

    /// Runs the agent for `action` (on `plug`), mapping a failed exit to a code.
    fn request(&self, action: &str, plug: Option<&str>, deadline: Instant) -> Result<Finished, StonithError> {
        let f = self.run(action, plug, deadline)?;
        if f.status == Some(0) {
            return Ok(f);
        }
        Err(self.failed(action, &f))
    }

    /// Runs the agent for `action` (on `plug`), whatever its exit status.
    fn run(&self, action: &str, plug: Option<&str>, deadline: Instant) -> Result<Finished, StonithError> {
        let mut input = format!("{}action={action}\n", self.base);
        if let Some(p) = plug {
            input.push_str(&format!("plug={p}\n"));
        }
        let mut cmd = Command::new(&self.path);
        // The agent's environment: a known PATH and nothing else of ours.
        cmd.env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        child::run(cmd, &input, deadline)
    }

    /// The error a failed run of `action` means.
    fn failed(&self, action: &str, f: &Finished) -> StonithError {
        let code = match f.status {
            Some(2) => Code::BadConfig,
            Some(3) => Code::Access,
            Some(5) => Code::Timeout,
            _ => Code::ResetFail,
        };
        let said = f.stderr.lines().chain(f.stdout.lines()).map(str::trim).find(|l| !l.is_empty()).unwrap_or("no message");
        let status = f.status.map_or("killed by a signal".to_string(), |s| format!("exit {s}"));
        StonithError::new(code, format!("{} {action}: {status}: {said}", self.path.display()))
    }
}

impl Driver for FenceAgent {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn hosts(&self) -> Vec<String> {
        self.hosts.clone()
    }

    fn status(&mut self, deadline: Instant) -> Result<(), StonithError> {
        self.request("monitor", None, deadline).map(drop)
    }

    fn act(&mut self, action: Action, host: &str, deadline: Instant) -> Result<(), StonithError> {
        if !self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return Err(StonithError::new(Code::BadHost, format!("{} does not fence {host}", self.path.display())));
        }
        let word = match action {
            Action::Reset => "reboot",
            Action::On => "on",
            Action::Off => "off",
        };
        self.request(word, Some(host), deadline).map(drop)
    }

    /// The agent's `status` action: exit 0 is on, 2 is off (the fence-agent protocol).
    fn power(&mut self, host: &str, deadline: Instant) -> Result<Power, StonithError> {
        let f = self.run("status", Some(host), deadline)?;
        match f.status {
            Some(0) => Ok(Power::On),
            Some(2) => Ok(Power::Off),
            _ => Err(self.failed("status", &f)),
        }
    }
}
