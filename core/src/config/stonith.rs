//! The STONITH directives: heartbeat's two, and hb's topology and timing.
//!
//! heartbeat's (as heartbeat 2 reads them):
//! - `stonith TYPE FILE` — a device every node runs, its parameters in FILE (one line in the
//!   order `hb-stonith -t TYPE -n` prints, or `name=value` words). FILE holds passwords: it
//!   must be owned by root (or hbd's user) and readable by no one else.
//! - `stonith_host FROM TYPE PARAMS…` — a device node FROM runs (`*`: every node), its
//!   parameters on the line, in the same two forms.
//!
//! Without a topology, a node is fenced by trying, in file order, each device it runs that
//! lists the node among its hosts, until one succeeds: heartbeat's behaviour.
//!
//! hb's own:
//! - `stonith_device NAME TYPE name=value…` — a named device (every node runs it), for levels.
//! - `stonith_level TARGET N DEVICE[,DEVICE…]` — level N (1–9) of TARGET's topology: levels
//!   are tried in order, and a level succeeds only if every one of its devices does (a reboot
//!   across several is all off, then all on).
//! - `stonith_action reboot|off` — what fencing a dead peer does (default reboot).
//! - `stonith_timeout TIME` — one device operation's deadline (default 60 s).
//! - `stonith_delay TIME` — the race delay of a split (default 2 s): node names sorted, the
//!   first fences at once, the k-th waits k × TIME, so exactly one node of a two-node split
//!   fences the other.
//! - `stonith_watchdog on|off` — watchdog self-fencing, as sbd's watchdog-only mode (default
//!   off). This node advertises its watchdog timeout T in every heartbeat, and when it has
//!   lost every peer it heard and is not the node whose name sorts first, it stops petting its
//!   watchdog, for good: the board resets within T. The node whose name sorts first takes a
//!   peer that advertises T as off once 2 × T has passed since it last heard it, as the last
//!   level of that peer's topology (after every device). Needs `watchdog` and a deadtime of at
//!   most half the watchdog timeout, so that the loser is reset before the winner counts it
//!   off. In a two-node cluster without devices, the node that sorts second also resets when
//!   the first really died: safe, not available; a power switch avoids that.

use super::directives::{Line, Parser};
use super::HaCf;
use crate::error::ConfigError;
use crate::time::{parse_duration, Nanos};
use hb_stonith_hw::{registry, Params};
use std::path::PathBuf;

/// Default `stonith_timeout`.
pub const DEFAULT_TIMEOUT: Nanos = Nanos::from_millis(60_000);
/// Default `stonith_delay`.
pub const DEFAULT_DELAY: Nanos = Nanos::from_millis(2_000);
/// The most levels a target may have.
pub const MAX_LEVEL: u32 = 9;

/// What fencing does to a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceAction {
    /// Power-cycle it (off, confirmed, on).
    Reboot,
    /// Power it off and leave it off.
    Off,
}

/// Where a device's parameters come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamSource {
    /// Words on the line: all `name=value`, or positional in the driver's order.
    Words(Vec<String>),
    /// A file (`stonith TYPE FILE`), read when the device is resolved.
    File(PathBuf),
}

/// One configured device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceLine {
    /// The line, for errors.
    pub line: usize,
    /// Its name: `stonith_device`'s, or `TYPE@LINE` for heartbeat's forms.
    pub name: String,
    /// The driver type (`hb-stonith -L`).
    pub kind: String,
    /// The node that runs it (`None`: every node).
    pub from: Option<String>,
    /// Its parameters.
    pub params: ParamSource,
}

/// One `stonith_level`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelLine {
    /// The line, for errors.
    pub line: usize,
    /// The node it fences.
    pub target: String,
    /// Its number (1 is tried first).
    pub index: u32,
    /// Its devices, by name; every one must succeed.
    pub devices: Vec<String>,
}

/// The whole STONITH configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StonithCfg {
    /// Devices in file order.
    pub devices: Vec<DeviceLine>,
    /// Topology levels in file order.
    pub levels: Vec<LevelLine>,
    /// `stonith_action`.
    pub action: FenceAction,
    /// `stonith_timeout`.
    pub timeout: Nanos,
    /// `stonith_delay`.
    pub delay: Nanos,
    /// `stonith_watchdog`, and its line.
    pub watchdog: Option<usize>,
}

impl Default for StonithCfg {
    fn default() -> Self {
        StonithCfg {
            devices: Vec::new(),
            levels: Vec::new(),
            action: FenceAction::Reboot,
            timeout: DEFAULT_TIMEOUT,
            delay: DEFAULT_DELAY,
            watchdog: None,
        }
    }
}

impl DeviceLine {
    /// Its parameters, resolved: positional words read against the driver's parameter names,
    /// a file read with the care a file of passwords needs.
    pub fn resolve(&self) -> Result<Params, String> {
        let text = match &self.params {
            ParamSource::Words(w) if w.iter().all(|w| w.contains('=')) => {
                let words: Vec<&str> = w.iter().map(String::as_str).collect();
                return Params::parse_pairs(&words).map_err(|e| e.what);
            }
            ParamSource::Words(w) => w.join(" "),
            ParamSource::File(p) => {
                let t = crate::files::read_config(p, true).map_err(|e| format!("the parameter file {}: {e}", p.display()))?;
                let t = t.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
                let words: Vec<&str> = t.split_whitespace().collect();
                if !words.is_empty() && words.iter().all(|w| w.contains('=')) {
                    return Params::parse_pairs(&words).map_err(|e| e.what);
                }
                t
            }
        };
        let names = registry::param_names(&self.kind).map_err(|e| e.what)?;
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        Params::parse_positional(&text, &names).map_err(|e| e.what)
    }
}

impl HaCf {
    /// The devices `node` runs, in file order.
    pub fn stonith_devices_for<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a DeviceLine> + 'a {
        self.stonith.devices.iter().filter(move |d| d.from.as_deref().is_none_or(|f| f == node))
    }
}

/// A known driver type, or an error listing them.
fn kind(l: &Line, k: &str) -> Result<String, ConfigError> {
    if registry::info(k).is_none() {
        return Err(l.err(format!("no STONITH driver {k:?} (this build has: {})", registry::names().join(", "))));
    }
    Ok(k.to_string())
}

/// `stonith TYPE FILE`.
pub(super) fn stonith(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    if l.args.len() != 2 {
        return Err(l.err(format!("`stonith` takes a type and a parameter file, found {} arguments", l.args.len())));
    }
    let kind = kind(l, l.args[0])?;
    let name = format!("{kind}@{}", l.n);
    p.cfg.stonith.devices.push(DeviceLine { line: l.n, name, kind, from: None, params: ParamSource::File(l.args[1].into()) });
    Ok(())
}

/// `stonith_host FROM TYPE PARAMS…`.
pub(super) fn stonith_host(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    if l.args.len() < 3 {
        return Err(l.err("`stonith_host` needs the node that runs it (or *), a type and its parameters".into()));
    }
    let from = (l.args[0] != "*").then(|| l.args[0].to_string());
    let kind = kind(l, l.args[1])?;
    let name = format!("{kind}@{}", l.n);
    let words = l.args[2..].iter().map(|w| w.to_string()).collect();
    p.cfg.stonith.devices.push(DeviceLine { line: l.n, name, kind, from, params: ParamSource::Words(words) });
    Ok(())
}

/// `stonith_device NAME TYPE name=value…`.
pub(super) fn stonith_device(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    if l.args.len() < 3 {
        return Err(l.err("`stonith_device` needs a name, a type and name=value parameters".into()));
    }
    let name = l.args[0];
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) || name.len() > 64 {
        return Err(l.err(format!("device name {name:?} must be at most 64 letters, digits, `_`, `.` or `-`")));
    }
    if let Some(d) = p.cfg.stonith.devices.iter().find(|d| d.name == name) {
        return Err(l.err(format!("device {name} is already defined on line {}", d.line)));
    }
    let kind = kind(l, l.args[1])?;
    if let Some(w) = l.args[2..].iter().find(|w| !w.contains('=')) {
        return Err(l.err(format!("{w:?} is not name=value (stonith_device takes parameters by name)")));
    }
    let words = l.args[2..].iter().map(|w| w.to_string()).collect();
    p.cfg.stonith.devices.push(DeviceLine { line: l.n, name: name.into(), kind, from: None, params: ParamSource::Words(words) });
    Ok(())
}

/// `stonith_level TARGET N DEVICE[,DEVICE…]`.
pub(super) fn stonith_level(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    if l.args.len() != 3 {
        return Err(l.err(format!("`stonith_level` takes a node, a level number and devices, found {} arguments", l.args.len())));
    }
    let index: u32 = l.args[1]
        .parse()
        .ok()
        .filter(|n| (1..=MAX_LEVEL).contains(n))
        .ok_or_else(|| l.err(format!("level {:?} must be a number from 1 to {MAX_LEVEL}", l.args[1])))?;
    let target = l.args[0].to_string();
    if let Some(prev) = p.cfg.stonith.levels.iter().find(|v| v.target == target && v.index == index) {
        return Err(l.err(format!("level {index} of {target} is already defined on line {}", prev.line)));
    }
    let devices: Vec<String> = l.args[2].split(',').map(str::to_string).collect();
    if devices.iter().any(String::is_empty) {
        return Err(l.err(format!("{:?}: device names are separated by single commas", l.args[2])));
    }
    p.cfg.stonith.levels.push(LevelLine { line: l.n, target, index, devices });
    Ok(())
}

/// `stonith_action reboot|off`.
pub(super) fn stonith_action(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    p.cfg.stonith.action = match l.args.as_slice() {
        ["reboot"] | ["reset"] => FenceAction::Reboot,
        ["off"] | ["poweroff"] => FenceAction::Off,
        _ => return Err(l.err("`stonith_action` takes reboot or off".into())),
    };
    Ok(())
}

/// `stonith_watchdog on|off`.
pub(super) fn stonith_watchdog(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    p.cfg.stonith.watchdog = match l.args.as_slice() {
        ["on"] | ["yes"] | ["true"] => Some(l.n),
        ["off"] | ["no"] | ["false"] => None,
        _ => return Err(l.err("`stonith_watchdog` takes on or off".into())),
    };
    Ok(())
}

/// `stonith_timeout TIME` and `stonith_delay TIME`.
pub(super) fn stonith_time(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    let [a] = l.args.as_slice() else { return Err(l.err(format!("`{}` takes one time", l.directive))) };
    let t = parse_duration(a).map_err(|e| l.err(format!("`{}`: {e}", l.directive)))?;
    if l.directive == "stonith_timeout" {
        if t < Nanos::from_millis(10) {
            return Err(l.err(format!("stonith_timeout {t} leaves no device time to answer (at least 10ms)")));
        }
        p.cfg.stonith.timeout = t;
    } else {
        p.cfg.stonith.delay = t;
    }
    Ok(())
}

/// After the last line: every node and device a STONITH line names exists.
pub(super) fn finish(cfg: &HaCf) -> Result<(), ConfigError> {
    let err = |line, what| ConfigError { file: cfg.file.clone(), line, what };
    let node = |n: &str| cfg.nodes.iter().any(|m| m == n);
    for d in &cfg.stonith.devices {
        if let Some(f) = d.from.as_deref().filter(|f| !node(f)) {
            return Err(err(d.line, format!("stonith_host names {f}, which is not a `node`")));
        }
    }
    if let Some(line) = cfg.stonith.watchdog {
        if cfg.watchdog.is_none() {
            return Err(err(line, "stonith_watchdog needs a `watchdog` device to reset this node".into()));
        }
        let t = crate::time::Nanos::from_millis(u64::from(cfg.watchdog_timeout) * 1000);
        if cfg.deadtime.0 * 2 > t.0 {
            return Err(err(
                line,
                format!(
                    "stonith_watchdog needs deadtime {} to be at most half of watchdog_timeout {t}: a peer counts this node off 2 x {t} after it last heard it, and this node must be reset before then",
                    cfg.deadtime
                ),
            ));
        }
    }
    for v in &cfg.stonith.levels {
        if !node(&v.target) {
            return Err(err(v.line, format!("stonith_level fences {}, which is not a `node`", v.target)));
        }
        for dev in &v.devices {
            match cfg.stonith.devices.iter().find(|d| d.name == *dev) {
                None => return Err(err(v.line, format!("no stonith_device named {dev}"))),
                Some(d) if d.name.contains('@') => {
                    return Err(err(v.line, format!("{dev} is a stonith_host device; levels name stonith_device devices")))
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::parse_ha_cf;
    use std::path::Path;

    const BASE: &str = "node a\nnode b\nbcast lo\n";

    fn parse(extra: &str) -> Result<crate::config::HaCf, String> {
        parse_ha_cf(&format!("{BASE}{extra}"), Path::new("ha.cf")).map_err(|e| e.to_string())
    }

    #[test]
    fn heartbeats_forms_and_hbs_own_parse() {
        let c = parse(
            "stonith_host * meatware a b\nstonith_host a lcus /dev/ttyUSB0 b:1\n\
             stonith_device pdu meatware hostlist=b\nstonith_level b 2 pdu\nstonith_action off\nstonith_delay 500ms\n",
        )
        .unwrap();
        let s = &c.stonith;
        assert_eq!(s.devices.len(), 3);
        assert_eq!(s.devices[0].name, "meatware@4");
        assert_eq!(s.devices[1].from.as_deref(), Some("a"));
        assert_eq!(c.stonith_devices_for("b").map(|d| d.name.as_str()).collect::<Vec<_>>(), ["meatware@4", "pdu"]);
        assert_eq!(s.devices[0].resolve().unwrap().get("hostlist").unwrap(), "a b");
        assert_eq!(s.devices[1].resolve().unwrap().get("hostmap").unwrap(), "b:1");
        assert_eq!(s.levels[0].devices, ["pdu"]);
        assert_eq!(s.action, super::FenceAction::Off);
        assert_eq!(s.delay, crate::time::Nanos::from_millis(500));
    }

    #[test]
    fn every_mistake_names_its_line() {
        for (extra, want) in [
            ("stonith_host * apcmaster9 x", "ha.cf:4: no STONITH driver \"apcmaster9\""),
            ("stonith_host c meatware b", "ha.cf:4: stonith_host names c, which is not a `node`"),
            ("stonith_level b 1 nope", "ha.cf:4: no stonith_device named nope"),
            ("stonith_level b 0 x", "ha.cf:4: level \"0\" must be a number from 1 to 9"),
            ("stonith_level c 1 x", "stonith_level fences c"),
            ("stonith_device p meatware b", "\"b\" is not name=value"),
            (
                "stonith_device p meatware hostlist=b\nstonith_device p meatware hostlist=a",
                "ha.cf:5: device p is already defined on line 4",
            ),
            ("stonith_host * meatware b\nstonith_level b 1 meatware@4", "meatware@4 is a stonith_host device"),
            ("stonith_action maybe", "takes reboot or off"),
            ("stonith_timeout 1ms", "at least 10ms"),
            ("stonith meatware", "a type and a parameter file"),
            ("stonith_watchdog on", "needs a `watchdog` device"),
            (
                "watchdog /dev/watchdog\nwatchdog_timeout 2\nkeepalive 100ms\ndeadtime 1500ms\nstonith_watchdog on",
                "at most half of watchdog_timeout",
            ),
        ] {
            let e = parse(extra).unwrap_err();
            assert!(e.contains(want), "{extra:?}: {e}");
        }
    }
}
