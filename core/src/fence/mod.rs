//! Fencing: the devices this node runs, opened once at start-up, and each peer's topology.
//!
//! [`Fencer::open`] configures every device `ha.cf` gives this node (addresses parsed, ports
//! opened, keys derived: whatever can fail fails at start-up, naming the line) and builds each
//! peer's levels: `stonith_level` lines where the peer has them, otherwise heartbeat's rule
//! (each device listing the peer, one level each, in file order). [`Fencer::execute`] fences
//! one node through its levels: the first level whose devices all succeed ends it. It counts
//! success only when it is confirmed: a device that can read power back must read `off` after
//! an `off` (`Driver::off_confirmed`, polled until the operation's deadline), and a reboot across several devices is
//! every device off (each confirmed), then every device on.
//!
//! The thread that runs it, and its queue, are in [`thread`].

pub mod thread;

use crate::config::{FenceAction, HaCf};
use crate::ipc::proto::{DeviceStatus, FenceOp, TargetStatus};
use crate::time::Nanos;
use hb_stonith_hw::{registry, Action, Code, Driver, Info, StonithError};
use std::time::{Duration, Instant};

/// A device that failed to open at start-up.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: STONITH device {name} ({kind}): {source}")]
pub struct DeviceError {
    /// `ha.cf`.
    pub file: String,
    /// The device's line.
    pub line: usize,
    /// Its name.
    pub name: String,
    /// Its type.
    pub kind: String,
    /// What the driver said.
    #[source]
    pub source: StonithError,
}

/// One opened device.
pub struct Device {
    /// Its name.
    pub name: String,
    /// Its type.
    pub kind: String,
    /// What its driver says about itself.
    pub info: &'static Info,
    /// The hosts it fences (asked once, at start-up).
    pub hosts: Vec<String>,
    driver: Box<dyn Driver>,
}

/// The outcome of one fencing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The level that succeeded (`None`: every level failed, or there were none).
    pub level: Option<u32>,
    /// That level's devices.
    pub devices: Vec<String>,
    /// `S_OK`, or the last failure's code.
    pub code: Code,
    /// What each level did, for people.
    pub message: String,
}

/// One level: its number and the indices of its devices.
type Level = (u32, Vec<usize>);

/// The name the watchdog level goes by in levels and results.
pub const WATCHDOG_LEVEL: &str = "watchdog";
/// How often the watchdog level reads the status page while it waits.
const WATCHDOG_POLL: Duration = Duration::from_millis(50);

/// Devices and topology.
pub struct Fencer {
    devices: Vec<Device>,
    /// Per peer: levels of device indices.
    topology: Vec<(String, Vec<Level>)>,
    /// `stonith_watchdog` on the node that survives a split: a peer that advertises a
    /// self-fencing watchdog is taken as off twice its timeout after it was last heard, as
    /// the last level. Read from this node's status page.
    watchdog: Option<crate::status::StatusReader>,
    watchdog_enabled: bool,
    /// What fencing a dead peer does.
    pub action: FenceOp,
    /// One operation's deadline.
    pub timeout: Duration,
    /// This node's wait before fencing a dead peer: its rank among the sorted node names
    /// times `stonith_delay`.
    pub delay: Duration,
}

impl Fencer {
    /// Opens the devices `node` runs and builds every peer's topology. `None` when `ha.cf`
    /// configures no device for this node: fencing is off.
    pub fn open(cfg: &HaCf, node: &str) -> Result<Option<Fencer>, DeviceError> {
        let mut devices = Vec::new();
        for d in cfg.stonith_devices_for(node) {
            let err = |source| DeviceError {
                file: cfg.file.display().to_string(),
                line: d.line,
                name: d.name.clone(),
                kind: d.kind.clone(),
                source,
            };
            let params = d.resolve().map_err(|w| err(StonithError::new(Code::BadConfig, w)))?;
            let driver = registry::open(&d.kind, &params).map_err(err)?;
            let info = driver.info();
            devices.push(Device { name: d.name.clone(), kind: d.kind.clone(), info, hosts: driver.hosts(), driver });
        }
        let winner = cfg.nodes.iter().min().is_some_and(|n| n == node);
        let watchdog_enabled = cfg.stonith.watchdog.is_some() && winner;
        if devices.is_empty() && cfg.stonith.watchdog.is_none() {
            return Ok(None);
        }
        let mut topology = Vec::new();
        for peer in cfg.nodes.iter().filter(|n| *n != node) {
            let mut explicit: Vec<_> = cfg.stonith.levels.iter().filter(|l| l.target == *peer).collect();
            explicit.sort_by_key(|l| l.index);
            let levels: Vec<Level> = if explicit.is_empty() {
                let listing = devices.iter().enumerate().filter(|(_, d)| d.hosts.iter().any(|h| h.eq_ignore_ascii_case(peer)));
                listing.enumerate().map(|(k, (i, _))| (k as u32 + 1, vec![i])).collect()
            } else {
                let index = |name: &String| devices.iter().position(|d| d.name == *name);
                explicit.iter().map(|l| (l.index, l.devices.iter().filter_map(index).collect())).collect()
            };
            topology.push((peer.clone(), levels));
        }
        let mut sorted: Vec<&String> = cfg.nodes.iter().collect();
        sorted.sort();
        let rank = sorted.iter().position(|n| *n == node).unwrap_or(0) as u32;
        let action = match cfg.stonith.action {
            FenceAction::Reboot => FenceOp::Reboot,
            FenceAction::Off => FenceOp::Off,
        };
        Ok(Some(Fencer {
            devices,
            topology,
            watchdog: None,
            watchdog_enabled,
            action,
            timeout: cfg.stonith.timeout.into(),
            delay: Duration::from(cfg.stonith.delay) * rank,
        }))
    }

    /// Where the watchdog level reads peers' advertisements and last-heard times.
    pub fn watch_page(&mut self, page: crate::status::StatusReader) {
        self.watchdog = Some(page);
    }

    /// `node`'s levels (empty: it cannot be fenced; unknown nodes have none).
    fn levels(&self, node: &str) -> &[Level] {
        self.topology.iter().find(|(n, _)| n == node).map_or(&[], |(_, l)| l.as_slice())
    }

    /// Whether `node` has at least one level (devices, or the watchdog level).
    pub fn can_fence(&self, node: &str) -> bool {
        !self.levels(node).is_empty() || (self.watchdog_enabled && self.knows(node))
    }

    /// Whether `node` is a peer this fencer knows (it may still have no levels).
    pub fn knows(&self, node: &str) -> bool {
        self.topology.iter().any(|(n, _)| n == node)
    }

    /// The devices, for `stonith-status`.
    pub fn device_status(&self) -> Vec<DeviceStatus> {
        self.devices
            .iter()
            .map(|d| DeviceStatus {
                name: d.name.clone(),
                kind: d.kind.clone(),
                hosts: d.hosts.clone(),
                forks: d.info.forks,
                confirms: d.info.confirms,
                operator: d.info.operator,
            })
            .collect()
    }

    /// The topology, for `stonith-status`.
    pub fn target_status(&self) -> Vec<TargetStatus> {
        let name = |i: &usize| self.devices[*i].name.clone();
        self.topology
            .iter()
            .map(|(n, levels)| {
                let mut l: Vec<Vec<String>> = levels.iter().map(|(_, l)| l.iter().map(name).collect()).collect();
                if self.watchdog_enabled {
                    l.push(vec![WATCHDOG_LEVEL.to_string()]);
                }
                TargetStatus { node: n.clone(), levels: l }
            })
            .collect()
    }

    /// The devices of `node`'s levels that need a person, by level: announced before they act.
    pub fn operator_devices(&self, level: &[usize]) -> Vec<String> {
        level.iter().filter(|i| self.devices[**i].info.operator).map(|i| self.devices[*i].name.clone()).collect()
    }

    /// Fences `node` through its levels, each operation under [`Fencer::timeout`].
    /// `before_level` is told each level's operator devices before it runs (to announce them).
    pub fn execute(&mut self, node: &str, op: FenceOp, before_level: &mut dyn FnMut(&[String])) -> Outcome {
        let levels = self.levels(node).to_vec();
        if !self.can_fence(node) {
            return Outcome { level: None, devices: vec![], code: Code::BadHost, message: format!("no STONITH device can fence {node}") };
        }
        let last = levels.last().map_or(0, |l| l.0);
        let mut said = Vec::new();
        let mut code = Code::Oops;
        for (index, devs) in levels {
            let names: Vec<String> = devs.iter().map(|i| self.devices[*i].name.clone()).collect();
            before_level(&self.operator_devices(&devs));
            match self.level(node, op, &devs) {
                Ok(()) => {
                    said.push(format!("level {index} ({}): ok", names.join(", ")));
                    return Outcome { level: Some(index), devices: names, code: Code::Ok, message: said.join("; ") };
                }
                Err(e) => {
                    code = e.code;
                    said.push(format!("level {index} ({}): {e}", names.join(", ")));
                }
            }
        }
        if self.watchdog_enabled && op != FenceOp::On {
            let index = last + 1;
            match self.watchdog_level(node) {
                Ok(why) => {
                    said.push(format!("level {index} ({WATCHDOG_LEVEL}): ok: {why}"));
                    return Outcome { level: Some(index), devices: vec![WATCHDOG_LEVEL.into()], code: Code::Ok, message: said.join("; ") };
                }
                Err(e) => {
                    code = e.code;
                    said.push(format!("level {index} ({WATCHDOG_LEVEL}): {e}"));
                }
            }
        }
        Outcome { level: None, devices: vec![], code, message: said.join("; ") }
    }

    /// The watchdog level: waits until twice `node`'s advertised watchdog timeout has passed
    /// since it was last heard (a packet from it meanwhile ends the wait: it is alive).
    fn watchdog_level(&mut self, node: &str) -> Result<String, StonithError> {
        let fail = |code, what: String| StonithError::new(code, what);
        let page = self.watchdog.as_ref().ok_or_else(|| fail(Code::Oops, "the status page is not readable".into()))?;
        let read = |page: &crate::status::StatusReader| -> Result<(u64, Nanos, bool), StonithError> {
            let s = page.snapshot().map_err(|e| fail(Code::Oops, format!("the status page: {e}")))?;
            let n = s.node(node).ok_or_else(|| fail(Code::BadHost, format!("{node} is not on the status page")))?;
            Ok((n.watchdog_ms, n.last_heard, n.state == crate::liveness::NodeState::Up))
        };
        let (wd_ms, heard, _) = read(page)?;
        if wd_ms == 0 {
            return Err(fail(Code::BadHost, format!("{node} does not advertise a self-fencing watchdog")));
        }
        if heard == Nanos::ZERO {
            return Err(fail(Code::BadHost, format!("{node} was never heard")));
        }
        loop {
            // Alive again means up again (fresh packets). Its last-heard time itself can move
            // later without a packet — this node's own stalls are discounted by moving every
            // peer's silence clock forward — which only lengthens the wait: the deadline is
            // taken from the latest value.
            let (_, heard, up) = read(page)?;
            if up {
                return Err(fail(Code::ResetFail, format!("{node} was heard again while its watchdog ran: it is alive")));
            }
            let off_at = heard.add(Nanos::from_millis(2 * wd_ms));
            let now = crate::time::now();
            if now >= off_at {
                return Ok(format!("{node}'s watchdog ({} s) has run twice over since it was last heard", wd_ms as f64 / 1000.0));
            }
            // The page is read again until then: nothing else says when the peer went silent.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(WATCHDOG_POLL.min(Duration::from(off_at.sub(now))));
        }
    }

    /// One level: every device must succeed, confirmed.
    fn level(&mut self, node: &str, op: FenceOp, devs: &[usize]) -> Result<(), StonithError> {
        if devs.is_empty() {
            return Err(StonithError::new(Code::BadConfig, "the level names no device this node runs"));
        }
        match op {
            FenceOp::Reboot if devs.len() == 1 => self.act(devs[0], Action::Reset, node),
            FenceOp::Reboot => {
                for &d in devs {
                    self.off(d, node)?;
                }
                devs.iter().try_for_each(|&d| self.act(d, Action::On, node))
            }
            FenceOp::Off => devs.iter().try_for_each(|&d| self.off(d, node)),
            FenceOp::On => devs.iter().try_for_each(|&d| self.act(d, Action::On, node)),
        }
    }

    fn act(&mut self, d: usize, action: Action, node: &str) -> Result<(), StonithError> {
        let dev = &mut self.devices[d];
        dev.driver.act(action, node, deadline(self.timeout)).map_err(|e| named(dev, e))
    }

    /// Off, then (where the device can read power back) confirmed off.
    fn off(&mut self, d: usize, node: &str) -> Result<(), StonithError> {
        let deadline = deadline(self.timeout);
        let dev = &mut self.devices[d];
        let r = if dev.info.confirms { dev.driver.off_confirmed(node, deadline) } else { dev.driver.act(Action::Off, node, deadline) };
        r.map_err(|e| named(dev, e))
    }
}

/// The deadline of an operation starting now.
// The drivers' deadlines are std `Instant`s (CLOCK_MONOTONIC as well): hbd's own clock is
// for the RT loop's judgements, and a fencing has nothing to compare with those.
#[allow(clippy::disallowed_methods)]
fn deadline(after: Duration) -> Instant {
    Instant::now() + after
}

/// An error prefixed with the device that gave it.
fn named(dev: &Device, e: StonithError) -> StonithError {
    StonithError::new(e.code, format!("{}: {}", dev.name, e.what))
}
