//! The `ha.cf` directives as a table: each has its own parser ([`DIRECTIVES`]), so a new
//! directive is one function and one entry. A parser checks its own line (argument count,
//! values, order against earlier lines); what depends on the whole file is checked after the
//! last line ([`super::checks`]).

use super::{ApiAuth, AutoFailback, CrmMode, HaCf, MediaLine, PingLine, RawLine, SerialLine, MAX_NODES, MAX_NODE_NAME};
use crate::error::ConfigError;
use crate::time::{parse_duration, Nanos};
use hb_media::raw::{parse_ethertype, RawSpec, DEFAULT_ETHERTYPE};
use hb_media::serial::{SerialSpec, BAUD_RATES, DEFAULT_BAUD};
use hb_media::{UdpKind, UdpSpec};
use std::net::IpAddr;
use std::path::Path;

/// One directive line: its number, the directive and its arguments.
pub(super) struct Line<'a> {
    pub n: usize,
    pub directive: &'a str,
    pub args: Vec<&'a str>,
    pub file: &'a Path,
}

impl Line<'_> {
    /// An error on this line.
    pub fn err(&self, what: String) -> ConfigError {
        ConfigError { file: self.file.to_path_buf(), line: self.n, what }
    }

    fn plural(count: usize) -> &'static str {
        if count == 1 {
            ""
        } else {
            "s"
        }
    }

    /// At least `count` arguments.
    fn need(&self, count: usize) -> Result<(), ConfigError> {
        if self.args.len() < count {
            return Err(self.err(format!("`{}` needs {count} argument{}", self.directive, Self::plural(count))));
        }
        Ok(())
    }

    /// Exactly `count` arguments.
    fn exactly(&self, count: usize) -> Result<(), ConfigError> {
        if self.args.len() != count {
            let d = self.directive;
            return Err(self.err(format!("`{d}` takes {count} argument{}, found {}", Self::plural(count), self.args.len())));
        }
        Ok(())
    }

    /// The one argument.
    fn one(&self) -> Result<&str, ConfigError> {
        self.exactly(1)?;
        Ok(self.args[0])
    }

    /// The one argument as a time (`2`, `1.5`, `250ms`).
    fn time(&self) -> Result<Nanos, ConfigError> {
        let a = self.one()?;
        parse_duration(a).map_err(|e| self.err(format!("`{}`: {e}", self.directive)))
    }

    /// The one argument as on/off.
    fn on_off(&self) -> Result<bool, ConfigError> {
        let a = self.one()?;
        boolean(a).ok_or_else(|| self.err(format!("{} {a:?} must be on or off", self.directive)))
    }

    /// An IP address of the family the directive wants (`alt` names the other directive).
    fn address(&self, a: &str, v6: bool, alt: (&str, &str)) -> Result<IpAddr, ConfigError> {
        let ip: IpAddr = a.parse().map_err(|_| self.err(format!("{a:?} is not an IP address (hb does not resolve host names)")))?;
        if ip.is_ipv6() != v6 {
            let (v, other) = if v6 { (6, alt.0) } else { (4, alt.1) };
            return Err(self.err(format!("{a} is not an IPv{v} address (use {other})")));
        }
        Ok(ip)
    }

    fn dev(&self, dev: &str) -> Result<(), ConfigError> {
        check_dev(dev).map_err(|w| self.err(w))
    }
}

/// Where directives were seen, and settings that only matter while parsing.
#[derive(Debug, Default)]
pub(super) struct Seen {
    pub keepalive: usize,
    pub deadtime: usize,
    pub warntime: usize,
    pub initdead: usize,
    pub stall_threshold: usize,
    pub watchdog_interval: usize,
    pub deadping: usize,
    pub first_media: usize,
    pub first_serial: usize,
    /// `rx_wakeup on|off`; `None` for `auto` (resolved once keepalive is known).
    pub rx_wakeup: Option<bool>,
    /// The `baud` in force (for the `serial` lines after it).
    pub baud: u32,
}

/// The configuration so far, and what was seen where.
pub(super) struct Parser {
    pub cfg: HaCf,
    pub seen: Seen,
}

impl Parser {
    pub fn new(file: &Path) -> Parser {
        Parser { cfg: HaCf::defaults(file), seen: Seen { baud: DEFAULT_BAUD, ..Seen::default() } }
    }
}

/// A directive's parser.
type Parse = fn(&mut Parser, &Line) -> Result<(), ConfigError>;

/// Every directive hb implements.
pub(super) const DIRECTIVES: &[(&str, Parse)] = &[
    ("keepalive", keepalive),
    ("deadtime", |p, l| set_time(l, &mut p.cfg.deadtime, &mut p.seen.deadtime)),
    ("warntime", |p, l| set_time(l, &mut p.cfg.warntime, &mut p.seen.warntime)),
    ("initdead", |p, l| set_time(l, &mut p.cfg.initdead, &mut p.seen.initdead)),
    ("stall_threshold", |p, l| set_time(l, &mut p.cfg.stall_threshold, &mut p.seen.stall_threshold)),
    ("deadping", |p, l| set_time(l, &mut p.cfg.deadping, &mut p.seen.deadping)),
    ("watchdog", watchdog),
    ("watchdog_timeout", watchdog_timeout),
    ("watchdog_interval", |p, l| set_time(l, &mut p.cfg.watchdog_interval, &mut p.seen.watchdog_interval)),
    ("apphb_watchdog", |p, l| set(&mut p.cfg.apphb_watchdog, l.on_off())),
    ("watchdog_require_crm", |p, l| set(&mut p.cfg.watchdog_require_crm, l.on_off())),
    ("rx_wakeup", rx_wakeup),
    ("udpport", udpport),
    ("bcast", bcast),
    ("udp", bcast),
    ("mcast", mcast),
    ("mcast6", mcast),
    ("ucast", ucast),
    ("ucast6", ucast),
    ("baud", baud),
    ("serial", serial),
    ("raw", raw),
    ("ping", ping),
    ("ping6", ping),
    ("ping_group", ping_group),
    ("node", node),
    ("cluster", |p, l| set(&mut p.cfg.cluster, l.one().map(Into::into))),
    ("logfile", |p, l| set(&mut p.cfg.logfile, l.one().map(|a| Some(a.into())))),
    ("debugfile", |p, l| set(&mut p.cfg.debugfile, l.one().map(|a| Some(a.into())))),
    ("logfacility", logfacility),
    ("debug", |p, l| {
        let a = l.one()?;
        p.cfg.debug = a.parse().map_err(|_| l.err(format!("debug {a:?} must be 0-255")))?;
        Ok(())
    }),
    ("realtime", |p, l| set(&mut p.cfg.realtime, l.on_off())),
    ("rtprio", rtprio),
    ("rtcpu", |p, l| {
        let a = l.one()?;
        p.cfg.rtcpu = Some(a.parse().map_err(|_| l.err(format!("rtcpu {a:?} is not a CPU number")))?);
        Ok(())
    }),
    ("bind", |p, l| {
        let a = l.one()?;
        p.cfg.bind = Some(a.parse().map_err(|_| l.err(format!("bind {a:?} is not an IP address")))?);
        Ok(())
    }),
    ("auto_failback", auto_failback),
    ("nice_failback", nice_failback),
    ("apiauth", apiauth),
    ("crm", crm),
    ("pacemaker", pacemaker),
    ("stonith", super::stonith::stonith),
    ("stonith_host", super::stonith::stonith_host),
    ("stonith_device", super::stonith::stonith_device),
    ("stonith_level", super::stonith::stonith_level),
    ("stonith_action", super::stonith::stonith_action),
    ("stonith_timeout", super::stonith::stonith_time),
    ("stonith_delay", super::stonith::stonith_time),
    ("stonith_watchdog", super::stonith::stonith_watchdog),
];

/// Directives heartbeat 3.0 knows that hb does not implement, with the reason shown.
pub(super) const NOT_YET: &[(&str, &str)] = &[
    ("hbaping", "HBA pings (fibre-channel adapters) are not implemented; use ping or ping_group"),
    ("respawn", "process respawning is not implemented yet"),
    ("autojoin", "automatic node joining is not implemented; list every node with `node`"),
    ("use_logd", "hb logs without a separate logd (its log ring never blocks); remove the line"),
    ("conn_logd_time", "hb logs without a separate logd; remove the line"),
    ("memreserve", "hbd locks what it needs itself; remove the line"),
    ("coredumps", "core dump control is not implemented yet"),
    ("msgfmt", "hb has its own binary wire format (docs/wire-format.md); remove the line"),
    ("compression", "hb's heartbeats are never compressed; remove the line"),
    ("compression_threshold", "hb's heartbeats are never compressed; remove the line"),
    ("traditional_compression", "hb's heartbeats are never compressed; remove the line"),
    ("hbgenmethod", "hb keeps its generation in the state directory; remove the line"),
    ("uuidfrom", "hb identifies nodes by name; remove the line"),
    ("env", "environment settings for resource scripts belong to the CRM, not implemented yet"),
    ("hopfudge", "hb does not forward heartbeats across serial links: each serial link joins the two nodes at its ends"),
    ("max_rexmit_delay", "hb does not retransmit heartbeats; remove the line"),
    ("register_to_apphbd", "application heartbeats are not implemented yet"),
    ("debug_level", "use `debug`"),
    ("quorum_server", "quorum servers are not implemented"),
];

/// Stores a parsed value.
fn set<T>(slot: &mut T, value: Result<T, ConfigError>) -> Result<(), ConfigError> {
    *slot = value?;
    Ok(())
}

fn set_time(l: &Line, value: &mut Nanos, seen: &mut usize) -> Result<(), ConfigError> {
    *value = l.time()?;
    *seen = l.n;
    Ok(())
}

fn keepalive(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    set_time(l, &mut p.cfg.keepalive, &mut p.seen.keepalive)?;
    if p.cfg.keepalive < Nanos::from_micros(100) {
        return Err(l.err(format!("keepalive {} is below hb's minimum of 100us", l.args[0])));
    }
    Ok(())
}

fn watchdog(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    let a = l.one()?;
    if !a.starts_with('/') {
        return Err(l.err(format!("watchdog {a:?} must be an absolute device path")));
    }
    p.cfg.watchdog = Some(a.into());
    Ok(())
}

fn watchdog_timeout(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    let a = l.one()?;
    p.cfg.watchdog_timeout = match a.parse::<u32>() {
        Ok(t) if (1..=3600).contains(&t) => t,
        _ => return Err(l.err(format!("watchdog_timeout {a:?} must be whole seconds, 1-3600"))),
    };
    Ok(())
}

fn rx_wakeup(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    p.seen.rx_wakeup = match l.one()? {
        "auto" => None,
        a => Some(boolean(a).ok_or_else(|| l.err(format!("rx_wakeup {a:?} must be on, off or auto")))?),
    };
    Ok(())
}

fn udpport(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    let a = l.one()?;
    if p.seen.first_media != 0 {
        let first = p.seen.first_media;
        return Err(l.err(format!("`udpport` must come before the media lines that use it (first one on line {first})")));
    }
    p.cfg.udpport = match a.parse::<u16>() {
        Ok(port) if port > 0 => port,
        _ => return Err(l.err(format!("udpport {a:?} is not a port number (1-65535)"))),
    };
    Ok(())
}

fn push_media(p: &mut Parser, l: &Line, spec: UdpSpec) {
    p.cfg.media.push(MediaLine { line: l.n, spec });
    if p.seen.first_media == 0 {
        p.seen.first_media = l.n;
    }
}

fn bcast(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    l.need(1)?;
    for dev in &l.args {
        l.dev(dev)?;
        let port = p.cfg.udpport;
        push_media(p, l, UdpSpec { kind: UdpKind::Bcast, dev: dev.to_string(), port, ipv6: false, bind: None });
    }
    Ok(())
}

fn mcast(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    let (d, a) = (l.directive, &l.args);
    let v6 = d == "mcast6";
    l.exactly(5).map_err(|_| l.err(format!("`{d}` takes: dev group port ttl loop")))?;
    l.dev(a[0])?;
    let group: IpAddr = a[1].parse().map_err(|_| l.err(format!("{:?} is not an IP address", a[1])))?;
    if group.is_ipv6() != v6 || !group.is_multicast() {
        return Err(l.err(format!("{} is not an IPv{} multicast group", a[1], if v6 { 6 } else { 4 })));
    }
    let port = match a[2].parse::<u16>() {
        Ok(port) if port > 0 => port,
        _ => return Err(l.err(format!("port {:?} is not a port number (1-65535)", a[2]))),
    };
    let ttl = match a[3].parse::<u8>() {
        Ok(t) if (1..=255).contains(&t) => t,
        _ => return Err(l.err(format!("ttl {:?} must be 1-255", a[3]))),
    };
    let loopback = match a[4] {
        "0" => false,
        "1" => true,
        other => return Err(l.err(format!("loop {other:?} must be 0 or 1"))),
    };
    push_media(p, l, UdpSpec { kind: UdpKind::Mcast { group, ttl, loopback }, dev: a[0].into(), port, ipv6: v6, bind: None });
    Ok(())
}

fn ucast(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    let d = l.directive;
    let v6 = d == "ucast6";
    l.need(2).map_err(|_| l.err(format!("`{d}` takes: dev peer-address…")))?;
    l.dev(l.args[0])?;
    let peers = l.args[1..].iter().map(|a| l.address(a, v6, ("ucast", "ucast6"))).collect::<Result<Vec<_>, _>>()?;
    let port = p.cfg.udpport;
    push_media(p, l, UdpSpec { kind: UdpKind::Ucast { peers }, dev: l.args[0].into(), port, ipv6: v6, bind: None });
    Ok(())
}

fn baud(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    let a = l.one()?;
    if p.seen.first_serial != 0 {
        let first = p.seen.first_serial;
        return Err(l.err(format!("`baud` must come before the serial lines that use it (first one on line {first})")));
    }
    p.seen.baud = match a.parse::<u32>() {
        Ok(b) if BAUD_RATES.contains(&b) => b,
        _ => return Err(l.err(format!("baud {a:?} must be one of 9600, 19200, 38400, 57600, 115200, 230400, 460800"))),
    };
    Ok(())
}

fn serial(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    l.need(1)?;
    for dev in &l.args {
        if !dev.starts_with('/') {
            return Err(l.err(format!("serial {dev:?} must be an absolute device path, e.g. /dev/ttyS0")));
        }
        if let Some(prev) = p.cfg.serial.iter().find(|s| s.spec.path.as_os_str() == *dev) {
            return Err(l.err(format!("serial {dev} is already configured on line {}", prev.line)));
        }
        p.cfg.serial.push(SerialLine { line: l.n, spec: SerialSpec { path: dev.into(), baud: p.seen.baud } });
    }
    if p.seen.first_serial == 0 {
        p.seen.first_serial = l.n;
    }
    Ok(())
}

fn raw(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    l.need(1).map_err(|_| l.err("`raw` takes: dev [ethertype]".into()))?;
    if l.args.len() > 2 {
        return Err(l.err(format!("`raw` takes: dev [ethertype], found {} arguments", l.args.len())));
    }
    l.dev(l.args[0])?;
    let ethertype = match l.args.get(1) {
        None => DEFAULT_ETHERTYPE,
        Some(t) => {
            parse_ethertype(t).ok_or_else(|| l.err(format!("ethertype {t:?} must be 0x0600-0xffff, e.g. 0x88b5 (local experimental)")))?
        }
    };
    let spec = RawSpec { dev: l.args[0].into(), ethertype };
    if let Some(prev) = p.cfg.raw.iter().find(|r| r.spec == spec) {
        return Err(l.err(format!("{} is already configured on line {}", spec.name(), prev.line)));
    }
    p.cfg.raw.push(RawLine { line: l.n, spec });
    Ok(())
}

fn ping(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    let v6 = l.directive == "ping6";
    l.need(1)?;
    for a in &l.args {
        let ip = l.address(a, v6, ("ping", "ping6"))?;
        p.cfg.pings.push(PingLine { line: l.n, name: a.to_string(), addrs: vec![ip] });
    }
    Ok(())
}

fn ping_group(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    l.need(2).map_err(|_| l.err("`ping_group` takes: name address…".into()))?;
    let name = l.args[0];
    if name.len() > MAX_NODE_NAME || name.parse::<IpAddr>().is_ok() {
        return Err(l.err(format!("ping_group name {name:?} must be a name of at most {MAX_NODE_NAME} characters, not an address")));
    }
    let mut addrs = Vec::new();
    for a in &l.args[1..] {
        addrs.push(a.parse().map_err(|_| l.err(format!("{a:?} is not an IP address (hb does not resolve host names)")))?);
    }
    p.cfg.pings.push(PingLine { line: l.n, name: name.into(), addrs });
    Ok(())
}

fn node(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    l.need(1)?;
    for name in &l.args {
        if name.len() > MAX_NODE_NAME || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(l.err(format!("node name {name:?} must be 1-{MAX_NODE_NAME} printable characters")));
        }
        if p.cfg.nodes.iter().any(|x| x == name) {
            return Err(l.err(format!("node {name} is listed twice")));
        }
        p.cfg.nodes.push(name.to_string());
    }
    if p.cfg.nodes.len() > MAX_NODES {
        return Err(l.err(format!("more than {MAX_NODES} nodes")));
    }
    Ok(())
}

fn logfacility(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    p.cfg.logfacility = match l.one()? {
        "none" => None,
        f if facility_code(f).is_some() => Some(f.into()),
        f => return Err(l.err(format!("unknown syslog facility {f:?}"))),
    };
    Ok(())
}

fn rtprio(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    let a = l.one()?;
    p.cfg.rtprio = match a.parse::<u8>() {
        Ok(prio) if (1..=99).contains(&prio) => prio,
        _ => return Err(l.err(format!("rtprio {a:?} must be 1-99"))),
    };
    Ok(())
}

fn auto_failback(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    p.cfg.auto_failback = match l.one()? {
        "legacy" => AutoFailback::Legacy,
        a => match boolean(a) {
            Some(true) => AutoFailback::On,
            Some(false) => AutoFailback::Off,
            None => return Err(l.err(format!("auto_failback {a:?} must be on, off or legacy"))),
        },
    };
    Ok(())
}

/// heartbeat: `nice_failback on` == `auto_failback off`.
fn nice_failback(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    p.cfg.auto_failback = if l.on_off()? { AutoFailback::Off } else { AutoFailback::On };
    Ok(())
}

fn apiauth(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    l.need(2)?;
    let mut a = ApiAuth { client: l.args[0].into(), ..Default::default() };
    for kv in &l.args[1..] {
        let (k, v) = kv.split_once('=').ok_or_else(|| l.err(format!("apiauth: expected uid=… or gid=…, found {kv:?}")))?;
        for item in v.split(',').filter(|s| !s.is_empty()) {
            let id = resolve_id(k, item).ok_or_else(|| l.err(format!("apiauth: unknown {k} {item:?}")))?;
            if k == "uid" {
                a.uids.push(id)
            } else {
                a.gids.push(id)
            }
        }
    }
    p.cfg.apiauth.push(a);
    Ok(())
}

/// `pacemaker`: hb runs its own CRM, never Pacemaker's daemons.
fn pacemaker(_: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    let (d, a) = (l.directive, l.one()?);
    if boolean(a) != Some(false) {
        return Err(l.err(format!("`{d} {a}`: hb does not start Pacemaker; its own CRM is `crm respawn` (hb-crmd)")));
    }
    Ok(())
}

fn crm(p: &mut Parser, l: &Line) -> Result<(), ConfigError> {
    let (d, a) = (l.directive, l.one()?);
    p.cfg.crm = match (a, boolean(a)) {
        ("respawn", _) => CrmMode::Respawn,
        (_, Some(true)) => CrmMode::On,
        (_, Some(false)) => CrmMode::Off,
        _ => return Err(l.err(format!("`{d} {a}`: expected on, respawn or off"))),
    };
    Ok(())
}

/// `#` starts a comment at the start of a line or after white space.
pub(super) fn strip_comment(line: &str) -> &str {
    let b = line.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'#' && (i == 0 || b[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

fn check_dev(dev: &str) -> Result<(), String> {
    if dev.is_empty() || dev.len() > 15 || dev.contains('/') || !dev.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("{dev:?} is not an interface name"));
    }
    if dev.parse::<IpAddr>().is_ok() {
        return Err(format!("{dev:?} is an address where an interface name was expected"));
    }
    Ok(())
}

fn boolean(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" | "y" | "1" => Some(true),
        "off" | "no" | "false" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// The syslog facility code for a name heartbeat accepts.
pub fn facility_code(name: &str) -> Option<u8> {
    const NAMES: [(&str, u8); 19] = [
        ("kern", 0),
        ("user", 1),
        ("mail", 2),
        ("daemon", 3),
        ("auth", 4),
        ("syslog", 5),
        ("lpr", 6),
        ("news", 7),
        ("uucp", 8),
        ("cron", 9),
        ("authpriv", 10),
        ("local0", 16),
        ("local1", 17),
        ("local2", 18),
        ("local3", 19),
        ("local4", 20),
        ("local5", 21),
        ("local6", 22),
        ("local7", 23),
    ];
    NAMES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// A numeric id, or a name looked up in /etc/passwd or /etc/group.
fn resolve_id(kind: &str, item: &str) -> Option<u32> {
    if let Ok(n) = item.parse() {
        return Some(n);
    }
    let file = match kind {
        "uid" => "/etc/passwd",
        "gid" => "/etc/group",
        _ => return None,
    };
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == item).then(|| f.nth(1)?.parse().ok()).flatten()
    })
}
