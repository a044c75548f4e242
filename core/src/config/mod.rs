//! `ha.cf`: heartbeat 3.0's syntax and meaning, plus hb's own documented directives.
//!
//! Two stages. [`parse_ha_cf`] reads the text into an [`HaCf`] and refuses anything it cannot
//! honour: unknown directives, heartbeat directives hb does not implement yet (by name), bad
//! values, `udpport` after the media that use it, `deadtime <= 2 × keepalive`. Every error is a
//! [`ConfigError`] naming the file, the line and what is wrong. [`HaCf::validate_for`] then
//! checks what starting a given node needs (it is listed in `node`, there is a medium).
//!
//! Each directive has its own parser in [`directives`]'s table (a new directive is one entry);
//! what depends on the whole file is checked after the last line by `checks`.
//!
//! hb's own directives (documented in the README and `hbd --help`):
//! - `bind ADDR` — bind UDP sockets to this local address instead of the wildcard; a `ucast`
//!   line naming it is this node's own. Lets several nodes share one host (the loopback demo).
//! - `rtcpu N` — pin the real-time thread to CPU N.
//! - `stall_threshold TIME` — how late a wake-up must be before the loop discounts it as its
//!   own stall (default: keepalive / 2, within 1 ms … 100 ms).
//! - `watchdog_timeout SECONDS` — the hardware watchdog's timeout, set at open (default 5,
//!   as sbd); `watchdog_interval TIME` — how often hbd pets it (default a third of it).
//! - `apphb_watchdog on|off` — a failed application heartbeat (missed check-in, or its process
//!   gone without unregistering) stops the watchdog pets, so the node resets (default off:
//!   such failures are events only). `watchdog_require_crm on|off` — pet only while the CRM
//!   (the application heartbeat named `hb-crmd`) checks in (default off).
//! - `rx_wakeup on|off|auto` — whether a received packet wakes the loop at once (`on`), or
//!   waits for the loop's next tick (`off`: at most one keepalive later; its arrival time is
//!   the kernel's stamp either way, so liveness is exact). `auto` (default) is `off` when
//!   keepalive ≤ 20 ms, where halving the wake-ups halves the idle CPU, and `on` above.

mod checks;
mod directives;
pub mod stonith;

pub use crate::error::ConfigError;
pub use directives::facility_code;
pub use stonith::{DeviceLine, FenceAction, LevelLine, ParamSource, StonithCfg};

use crate::time::Nanos;
use directives::{strip_comment, Line, Parser, DIRECTIVES, NOT_YET};
use hb_media::raw::RawSpec;
use hb_media::serial::{SerialSpec, BAUD_RATES};
use hb_media::{UdpKind, UdpSpec};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// heartbeat's default UDP port.
pub const DEFAULT_UDPPORT: u16 = 694;
/// The most nodes a cluster may list (the status page and tables are sized for it).
pub const MAX_NODES: usize = 16;
/// The most links (media sockets) a node may have.
pub const MAX_LINKS: usize = 8;
/// The most addresses pinged per address family (one ICMP socket each, one send slot each).
pub const MAX_PING_ADDRS: usize = 16;
/// The longest node name accepted (heartbeat's limit is the host name's).
pub const MAX_NODE_NAME: usize = 63;

/// `crm` (heartbeat's directive): whether hbd starts the CRM, `hb-crmd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrmMode {
    /// No CRM (`off`, `no`): hb manages no resources.
    Off,
    /// Started with hbd; if it exits, it is not restarted (`on`, `yes`), and the node stops
    /// saying it may leave cleanly.
    On,
    /// Started with hbd and restarted whenever it exits (`respawn`).
    Respawn,
}

/// heartbeat's `auto_failback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoFailback {
    /// Resources go back to their preferred node when it returns.
    On,
    /// Resources stay where they are.
    Off,
    /// heartbeat's pre-1.2 behaviour.
    Legacy,
}

/// One media line as written, kept until the host's own addresses are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLine {
    /// The line number, for errors.
    pub line: usize,
    /// The medium, with the port already fixed by `udpport` as it stood on this line.
    pub spec: UdpSpec,
}

/// One `serial` port as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialLine {
    /// The line number, for errors.
    pub line: usize,
    /// The port, with the `baud` in force on this line.
    pub spec: SerialSpec,
}

/// One `raw` line (hb's raw Ethernet medium) as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    /// The line number, for errors.
    pub line: usize,
    /// The interface and EtherType.
    pub spec: RawSpec,
}

/// A ping pseudo-member: one `ping`/`ping6` address, or a `ping_group` (alive while any of
/// its addresses answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingLine {
    /// The line number, for errors.
    pub line: usize,
    /// Its name: the address, or the group's name.
    pub name: String,
    /// The addresses pinged.
    pub addrs: Vec<IpAddr>,
}

/// An `apiauth` entry: who may use the IPC socket.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiAuth {
    /// The client name (heartbeat's API client; informational for hb).
    pub client: String,
    /// Allowed user ids.
    pub uids: Vec<u32>,
    /// Allowed group ids.
    pub gids: Vec<u32>,
}

/// A parsed `ha.cf`.
#[derive(Debug, Clone, PartialEq)]
pub struct HaCf {
    /// The file it came from.
    pub file: PathBuf,
    /// Interval between heartbeats.
    pub keepalive: Nanos,
    /// Silence after which a peer (or link) is dead.
    pub deadtime: Nanos,
    /// Silence after which a late heartbeat is logged.
    pub warntime: Nanos,
    /// Grace at start-up before a never-heard peer is declared dead.
    pub initdead: Nanos,
    /// The UDP port in force at the end of the file.
    pub udpport: u16,
    /// UDP media lines in order.
    pub media: Vec<MediaLine>,
    /// `serial` ports in order (one link each).
    pub serial: Vec<SerialLine>,
    /// hb: `raw` Ethernet links in order (one link each).
    pub raw: Vec<RawLine>,
    /// Ping pseudo-members (`ping`, `ping6`, `ping_group`) in order.
    pub pings: Vec<PingLine>,
    /// `deadping`: silence after which a ping node is dead (default: deadtime).
    pub deadping: Nanos,
    /// Cluster members in order of appearance.
    pub nodes: Vec<String>,
    /// heartbeat's `cluster` name (hashed into the wire's cluster id).
    pub cluster: String,
    /// `logfile`.
    pub logfile: Option<PathBuf>,
    /// `debugfile`.
    pub debugfile: Option<PathBuf>,
    /// `logfacility` (None when absent or `none`).
    pub logfacility: Option<String>,
    /// `debug` level 0–255.
    pub debug: u8,
    /// `realtime`.
    pub realtime: bool,
    /// `rtprio` (SCHED_FIFO priority of the RT thread).
    pub rtprio: u8,
    /// `auto_failback`.
    pub auto_failback: AutoFailback,
    /// `apiauth` entries.
    pub apiauth: Vec<ApiAuth>,
    /// hb: `bind`.
    pub bind: Option<IpAddr>,
    /// hb: `rtcpu`.
    pub rtcpu: Option<usize>,
    /// hb: `stall_threshold`.
    pub stall_threshold: Nanos,
    /// `watchdog` device, if any.
    pub watchdog: Option<PathBuf>,
    /// hb: `watchdog_timeout`, seconds.
    pub watchdog_timeout: u32,
    /// hb: `watchdog_interval`.
    pub watchdog_interval: Nanos,
    /// hb: `apphb_watchdog` — a failed application heartbeat stops the watchdog pets.
    pub apphb_watchdog: bool,
    /// hb: `watchdog_require_crm` — pet only while the CRM checks in.
    pub watchdog_require_crm: bool,
    /// `crm`: whether hbd runs the CRM (`hb-crmd`), and whether it restarts it.
    pub crm: CrmMode,
    /// hb: `rx_wakeup`, resolved (`auto` → keepalive > [`RX_WAKEUP_AUTO_MAX`]).
    pub rx_wakeup: bool,
    /// `stonith`, `stonith_host` and hb's `stonith_*` directives.
    pub stonith: StonithCfg,
}

/// With `rx_wakeup auto`, received packets wake the loop only when keepalive exceeds this.
pub const RX_WAKEUP_AUTO_MAX: Nanos = Nanos::from_millis(20);

/// Default SCHED_FIFO priority: above ordinary RT work, below the kernel's IRQ threads' 50 is
/// not possible to promise, so we take 50 and let `rtprio` change it.
pub const DEFAULT_RTPRIO: u8 = 50;

/// Parses `ha.cf` text. `file` is only used in error messages.
pub fn parse_ha_cf(text: &str, file: &Path) -> Result<HaCf, ConfigError> {
    let mut p = Parser::new(file);
    for (idx, raw) in text.lines().enumerate() {
        let mut words = strip_comment(raw).split_whitespace();
        let Some(directive) = words.next() else { continue };
        let line = Line { n: idx + 1, directive, args: words.collect(), file };
        match DIRECTIVES.iter().find(|(name, _)| *name == directive) {
            Some((_, parse)) => parse(&mut p, &line)?,
            None => match NOT_YET.iter().find(|(k, _)| *k == directive) {
                Some((_, why)) => return Err(line.err(format!("`{directive}` is a heartbeat directive hb does not support: {why}"))),
                None => return Err(line.err(format!("unknown directive `{directive}`"))),
            },
        }
    }
    checks::finish(p)
}

impl HaCf {
    /// heartbeat 3.0's defaults (those derived from other values are set by the checks after
    /// the last line).
    fn defaults(file: &Path) -> HaCf {
        HaCf {
            file: file.to_path_buf(),
            keepalive: Nanos::from_millis(1000),
            deadtime: Nanos::from_millis(30_000),
            warntime: Nanos::ZERO,
            initdead: Nanos::ZERO,
            udpport: DEFAULT_UDPPORT,
            media: Vec::new(),
            serial: Vec::new(),
            raw: Vec::new(),
            pings: Vec::new(),
            deadping: Nanos::ZERO,
            nodes: Vec::new(),
            cluster: "linux-ha".into(),
            logfile: None,
            debugfile: None,
            logfacility: None,
            debug: 0,
            realtime: true,
            rtprio: DEFAULT_RTPRIO,
            auto_failback: AutoFailback::Legacy,
            apiauth: Vec::new(),
            bind: None,
            rtcpu: None,
            stall_threshold: Nanos::ZERO,
            rx_wakeup: false,
            watchdog: None,
            watchdog_timeout: 5,
            watchdog_interval: Nanos::ZERO,
            apphb_watchdog: false,
            watchdog_require_crm: false,
            crm: CrmMode::Off,
            stonith: StonithCfg::default(),
        }
    }
}

impl HaCf {
    /// The one-line summary `--check-config` prints for a valid configuration.
    pub fn summary(&self, node: &str) -> String {
        format!(
            "{}: valid for node {node} ({} nodes, {} media lines, keepalive {}, deadtime {})",
            self.file.display(),
            self.nodes.len(),
            self.media.len() + self.serial.len() + self.raw.len(),
            self.keepalive,
            self.deadtime
        )
    }

    /// Checks what starting `node` needs: it is a listed member and there is a medium.
    pub fn validate_for(&self, node: &str) -> Result<(), ConfigError> {
        let err = |what: String| ConfigError { file: self.file.clone(), line: 0, what };
        if self.nodes.is_empty() {
            return Err(err("no `node` lines: list every cluster member (hb does not autojoin)".into()));
        }
        if !self.nodes.iter().any(|n| n == node) {
            return Err(err(format!("this node {node:?} is not listed in `node` ({})", self.nodes.join(", "))));
        }
        if self.nodes.len() < 2 {
            return Err(err("only one node is listed: a cluster needs a peer".into()));
        }
        if self.media.is_empty() && self.serial.is_empty() && self.raw.is_empty() {
            return Err(err("no heartbeat medium (bcast, mcast, ucast, mcast6, ucast6, serial, raw)".into()));
        }
        let ids: Vec<u32> = self.nodes.iter().map(|n| crate::wire::node_id(n)).collect();
        for (i, a) in ids.iter().enumerate() {
            if let Some(j) = ids[i + 1..].iter().position(|b| b == a) {
                return Err(err(format!(
                    "node names {} and {} hash to the same wire id; rename one",
                    self.nodes[i],
                    self.nodes[i + 1 + j]
                )));
            }
        }
        Ok(())
    }

    /// Checks that each serial line carries a heartbeat of `heartbeat_len` bytes (framed) in
    /// less than a keepalive: a slower line would queue heartbeats behind each other and
    /// report a live peer later and later.
    pub fn check_serial_budget(&self, heartbeat_len: usize) -> Result<(), ConfigError> {
        let framed = hb_media::frame::framed_len(heartbeat_len);
        for s in &self.serial {
            let t = Nanos(s.spec.line_time_ns(framed));
            if t >= self.keepalive {
                let need = BAUD_RATES.iter().find(|&&b| SerialSpec { baud: b, ..s.spec.clone() }.line_time_ns(framed) < self.keepalive.0);
                return Err(ConfigError {
                    file: self.file.clone(),
                    line: s.line,
                    what: format!(
                        "serial {} at {} baud takes {t} to carry one heartbeat ({framed} bytes framed), not less than keepalive {}: {}",
                        s.spec.path.display(),
                        s.spec.baud,
                        self.keepalive,
                        match need {
                            Some(b) => format!("set `baud {b}` or more, or a longer keepalive"),
                            None => format!("set keepalive above {t}"),
                        }
                    ),
                });
            }
        }
        Ok(())
    }

    /// Serial lines that heartbeats alone load above 70 %: legal (the budget check allows up
    /// to 100 %), but any burst or noise then builds a queue that drains only slowly, and
    /// heartbeats arrive later and later until their echoes are stale and a live peer dies.
    pub fn serial_load_warnings(&self, heartbeat_len: usize) -> Vec<String> {
        let framed = hb_media::frame::framed_len(heartbeat_len);
        self.serial
            .iter()
            .filter_map(|s| {
                let t = s.spec.line_time_ns(framed);
                let pct = t as f64 * 100.0 / self.keepalive.0.max(1) as f64;
                (pct > 70.0).then(|| {
                    format!(
                        "{}:{}: serial {} at {} baud: heartbeats alone use {pct:.0} % of the line ({} of every keepalive {}); above 70 % a burst or noise queues them until they arrive stale; use a faster baud or a longer keepalive",
                        self.file.display(),
                        s.line,
                        s.spec.path.display(),
                        s.spec.baud,
                        Nanos(t),
                        self.keepalive
                    )
                })
            })
            .collect()
    }

    /// The UDP links this host opens: `ucast` lines lose the peers that are this host's own
    /// addresses (`local`, or the `bind` address), lines left without peers vanish, and lines
    /// on the same device, family and port share one socket.
    pub fn udp_links(&self, local: &[IpAddr]) -> Result<Vec<UdpSpec>, ConfigError> {
        let mut out: Vec<UdpSpec> = Vec::new();
        for m in &self.media {
            let mut spec = m.spec.clone();
            spec.bind = self.bind.filter(|b| b.is_ipv6() == spec.ipv6);
            if let UdpKind::Ucast { peers } = &mut spec.kind {
                peers.retain(|p| match self.bind {
                    Some(b) => *p != b,
                    None => !local.contains(p),
                });
                if peers.is_empty() {
                    continue;
                }
                if let Some(prev) = out
                    .iter_mut()
                    .find(|o| matches!(o.kind, UdpKind::Ucast { .. }) && o.dev == spec.dev && o.ipv6 == spec.ipv6 && o.port == spec.port)
                {
                    if let UdpKind::Ucast { peers: pp } = &mut prev.kind {
                        for p in peers.iter() {
                            if !pp.contains(p) {
                                pp.push(*p);
                            }
                        }
                    }
                    continue;
                }
            }
            if out.iter().any(|o| o == &spec) {
                return Err(ConfigError { file: self.file.clone(), line: m.line, what: format!("{} is configured twice", spec.name()) });
            }
            out.push(spec);
        }
        if out.len() + self.serial.len() + self.raw.len() > MAX_LINKS {
            return Err(ConfigError { file: self.file.clone(), line: 0, what: format!("more than {MAX_LINKS} links") });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<HaCf, String> {
        parse_ha_cf(text, Path::new("ha.cf")).map_err(|e| e.to_string())
    }

    const GOOD: &str = "keepalive 10ms\ndeadtime 50ms\nwarntime 30ms\ninitdead 1\nudpport 6940\nucast eth0 10.0.0.1 10.0.0.2\nnode a b\n";

    /// The table the issue asks for: valid and invalid files, each invalid one with its exact error.
    #[test]
    fn table_of_ha_cf_files() {
        let valid: &[&str] = &[
            GOOD,
            "node a b\nbcast eth0 eth1\n",
            "keepalive 2\ndeadtime 30\nwarntime 10\ninitdead 120\nudpport 694\nbcast eth0\nnode a\nnode b\nauto_failback on\nlogfacility local0\n",
            "keepalive 1.5\ndeadtime 10\nmcast eth0 225.0.0.1 694 1 0\nnode a b # trailing comment\n",
            "mcast6 eth0 ff02::694 694 1 0\nucast6 eth0 fe80::1\nnode x y\nnice_failback on\ncrm off\n",
            "# only comments\n\n   \n",
            "debug 1\ndebugfile /var/log/ha-debug\nlogfile /var/log/ha-log\nlogfacility none\nrealtime off\nrtprio 20\nrtcpu 1\nbind 127.0.0.1\ncluster appliance\n",
            "apiauth hbctl uid=0,root gid=0\n",
            "watchdog /dev/watchdog\nwatchdog_timeout 10\nwatchdog_interval 1\napphb_watchdog on\nwatchdog_require_crm off\n",
            "baud 115200\nserial /dev/ttyS0 /dev/ttyUSB0\nnode a b\n",
            "raw eth1\nraw eth2 0x88b6\nnode a b\n",
            "ping 10.0.0.254 10.0.1.254\nping6 fd00::1\nping_group routers 10.0.0.1 10.0.0.2 fd00::2\ndeadping 40\nnode a b\n",
        ];
        for v in valid {
            parse(v).unwrap_or_else(|e| panic!("{v:?} should be valid: {e}"));
        }
        let invalid: &[(&str, &str)] = &[
            ("keepalive 100ms\ndeadtime 200ms\n", "ha.cf:2: deadtime 200ms must be more than 2 x keepalive 100ms"),
            ("deadtime 1\nkeepalive 1\n", "ha.cf:2: deadtime 1000ms must be more than 2 x keepalive 1000ms"),
            ("keepalive fast\n", "ha.cf:1: `keepalive`: \"fast\" is not a time (use e.g. 2, 1.5, 250ms)"),
            ("keepalive 1 2\n", "ha.cf:1: `keepalive` takes 1 argument, found 2"),
            ("bcast eth0\nudpport 700\n", "ha.cf:2: `udpport` must come before the media lines that use it (first one on line 1)"),
            ("udpport 0\n", "ha.cf:1: udpport \"0\" is not a port number (1-65535)"),
            ("serial ttyS0\n", "ha.cf:1: serial \"ttyS0\" must be an absolute device path, e.g. /dev/ttyS0"),
            ("serial /dev/ttyS0\nserial /dev/ttyS0\n", "ha.cf:2: serial /dev/ttyS0 is already configured on line 1"),
            ("serial /dev/ttyS0\nbaud 9600\n", "ha.cf:2: `baud` must come before the serial lines that use it (first one on line 1)"),
            ("baud 115201\n", "ha.cf:1: baud \"115201\" must be one of 9600, 19200, 38400, 57600, 115200, 230400, 460800"),
            ("raw\n", "ha.cf:1: `raw` takes: dev [ethertype]"),
            ("raw eth1 0x0800 x\n", "ha.cf:1: `raw` takes: dev [ethertype], found 3 arguments"),
            ("raw eth1 0x05dc\n", "ha.cf:1: ethertype \"0x05dc\" must be 0x0600-0xffff, e.g. 0x88b5 (local experimental)"),
            ("raw eth1\nraw eth1 0x88b5\n", "ha.cf:2: raw eth1 is already configured on line 1"),
            ("ping gateway\n", "ha.cf:1: \"gateway\" is not an IP address (hb does not resolve host names)"),
            ("ping fd00::1\n", "ha.cf:1: fd00::1 is not an IPv4 address (use ping6)"),
            ("ping_group 10.0.0.1 10.0.0.2\n", "ha.cf:1: ping_group name \"10.0.0.1\" must be a name of at most 63 characters, not an address"),
            ("ping_group routers\n", "ha.cf:1: `ping_group` takes: name address…"),
            ("ping 10.0.0.1\nping 10.0.0.1\n", "ha.cf:2: ping node 10.0.0.1 is already configured on line 1"),
            ("node r\nping_group r 10.0.0.1\n", "ha.cf:2: ping node r has the name of a cluster node"),
            ("keepalive 1\ndeadtime 10\ndeadping 2\n", "ha.cf:3: deadping 2000ms must be more than 2 x keepalive 1000ms (pings go out every keepalive)"),
            ("hopfudge 1\n", "ha.cf:1: `hopfudge` is a heartbeat directive hb does not support: hb does not forward heartbeats across serial links: each serial link joins the two nodes at its ends"),
            ("apphb_watchdog maybe\n", "ha.cf:1: apphb_watchdog \"maybe\" must be on or off"),
            ("watchdog dev/watchdog\n", "ha.cf:1: watchdog \"dev/watchdog\" must be an absolute device path"),
            ("watchdog_timeout 0\n", "ha.cf:1: watchdog_timeout \"0\" must be whole seconds, 1-3600"),
            (
                "watchdog_timeout 2\nwatchdog_interval 1500ms\n",
                "ha.cf:2: watchdog_interval 1500ms must be at most half of watchdog_timeout 2s",
            ),
            (
                "stonith_host * meatware\n",
                "ha.cf:1: `stonith_host` needs the node that runs it (or *), a type and its parameters",
            ),
            ("frobnicate yes\n", "ha.cf:1: unknown directive `frobnicate`"),
            ("mcast eth0 10.0.0.1 694 1 0\n", "ha.cf:1: 10.0.0.1 is not an IPv4 multicast group"),
            ("mcast eth0 225.0.0.1 694 1\n", "ha.cf:1: `mcast` takes: dev group port ttl loop"),
            ("mcast eth0 225.0.0.1 694 0 0\n", "ha.cf:1: ttl \"0\" must be 1-255"),
            ("ucast eth0 peer.example\n", "ha.cf:1: \"peer.example\" is not an IP address (hb does not resolve host names)"),
            ("ucast eth0 fe80::1\n", "ha.cf:1: fe80::1 is not an IPv4 address (use ucast6)"),
            ("ucast 10.0.0.1 10.0.0.2\n", "ha.cf:1: \"10.0.0.1\" is an address where an interface name was expected"),
            ("node a a\n", "ha.cf:1: node a is listed twice"),
            ("warntime 40\n", "ha.cf:1: warntime 40000ms must be less than deadtime 30000ms"),
            ("deadtime 10\ninitdead 5\n", "ha.cf:2: initdead 5000ms must be at least deadtime 10000ms"),
            ("rtprio 0\n", "ha.cf:1: rtprio \"0\" must be 1-99"),
            ("logfacility local9\n", "ha.cf:1: unknown syslog facility \"local9\""),
            ("auto_failback maybe\n", "ha.cf:1: auto_failback \"maybe\" must be on, off or legacy"),
            ("crm sometimes\n", "ha.cf:1: `crm sometimes`: expected on, respawn or off"),
            ("realtime sometimes\n", "ha.cf:1: realtime \"sometimes\" must be on or off"),
            ("rx_wakeup soon\n", "ha.cf:1: rx_wakeup \"soon\" must be on, off or auto"),
            ("apiauth ipfail uid=nosuchuserhere\n", "ha.cf:1: apiauth: unknown uid \"nosuchuserhere\""),
            ("keepalive 10us\n", "ha.cf:1: keepalive 10us is below hb's minimum of 100us"),
        ];
        for (text, want) in invalid {
            assert_eq!(parse(text).unwrap_err(), *want, "for {text:?}");
        }
    }

    #[test]
    fn derived_defaults_follow_heartbeat() {
        let c = parse("").unwrap();
        assert_eq!(c.keepalive, Nanos::from_millis(1000));
        assert_eq!(c.deadtime, Nanos::from_millis(30_000));
        assert_eq!(c.warntime, Nanos::from_millis(15_000));
        assert_eq!(c.initdead, Nanos::from_millis(30_000));
        assert_eq!(c.udpport, 694);
        assert_eq!(c.auto_failback, AutoFailback::Legacy);
        let c = parse("deadtime 5\n").unwrap();
        assert_eq!(c.initdead, Nanos::from_millis(12_000));
        let c = parse("deadtime 8\n").unwrap();
        assert_eq!(c.initdead, Nanos::from_millis(16_000));
        assert!(c.rx_wakeup, "keepalive 1 s wakes on receive");
        let c = parse(GOOD).unwrap();
        assert_eq!(c.stall_threshold, Nanos::from_millis(5));
        assert!(!c.rx_wakeup, "keepalive 10 ms drains on its ticks");
        assert!(parse("keepalive 10ms\nrx_wakeup on\n").unwrap().rx_wakeup);
        assert!(!parse("keepalive 1\nrx_wakeup off\n").unwrap().rx_wakeup);
        assert_eq!(c.media[0].spec.port, 6940);
    }

    #[test]
    fn a_serial_line_loaded_above_70_percent_is_warned_about() {
        let cfg = |ka: &str| {
            parse_ha_cf(&format!("keepalive {ka}\ndeadtime 1\nbaud 115200\nserial /dev/ttyS0\nnode a b\n"), Path::new("ha.cf")).unwrap()
        };
        // A 106-byte heartbeat, framed: about 9.4 ms at 115200 baud.
        let w = cfg("10ms").serial_load_warnings(106);
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("ha.cf:4: serial /dev/ttyS0 at 115200 baud: heartbeats alone use 9"), "{}", w[0]);
        assert!(cfg("20ms").serial_load_warnings(106).is_empty());
    }

    #[test]
    fn validation_for_a_node() {
        let c = parse(GOOD).unwrap();
        c.validate_for("a").unwrap();
        assert_eq!(c.validate_for("zz").unwrap_err().to_string(), "ha.cf: this node \"zz\" is not listed in `node` (a, b)");
        let c = parse("bcast eth0\n").unwrap();
        assert_eq!(
            c.validate_for("a").unwrap_err().to_string(),
            "ha.cf: no `node` lines: list every cluster member (hb does not autojoin)"
        );
        let c = parse("node a b\n").unwrap();
        assert_eq!(
            c.validate_for("a").unwrap_err().to_string(),
            "ha.cf: no heartbeat medium (bcast, mcast, ucast, mcast6, ucast6, serial, raw)"
        );
        let c = parse("serial /dev/ttyS0\nnode a b\n").unwrap();
        c.validate_for("a").unwrap();
        assert_eq!(c.serial[0].spec.baud, 19200, "heartbeat's default baud");
    }

    #[test]
    fn a_serial_line_too_slow_for_keepalive_is_refused() {
        let c = parse("keepalive 10ms\ndeadtime 50ms\nbaud 115200\nserial /dev/ttyS0\nnode a b\n").unwrap();
        c.check_serial_budget(100).unwrap();
        let c = parse("keepalive 10ms\ndeadtime 50ms\nbaud 57600\nserial /dev/ttyS0\nnode a b\n").unwrap();
        assert_eq!(
            c.check_serial_budget(100).unwrap_err().to_string(),
            "ha.cf:4: serial /dev/ttyS0 at 57600 baud takes 18.403ms to carry one heartbeat (106 bytes framed), not less than keepalive 10ms: set `baud 115200` or more, or a longer keepalive"
        );
        let c = parse("keepalive 1ms\ndeadtime 50ms\nbaud 9600\nserial /dev/ttyS0\nnode a b\n").unwrap();
        let e = c.check_serial_budget(100).unwrap_err().to_string();
        assert!(e.ends_with("set keepalive above 110.417ms"), "{e}");
    }

    #[test]
    fn own_ucast_addresses_are_dropped_and_lines_merge() {
        let c = parse("ucast eth0 10.0.0.1\nucast eth0 10.0.0.2\nucast eth1 10.1.0.1\nnode a b\n").unwrap();
        let local: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "10.1.0.1".parse().unwrap()];
        let links = c.udp_links(&local).unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].kind, UdpKind::Ucast { peers: vec!["10.0.0.2".parse().unwrap()] });
        let c = parse("bind 127.0.0.1\nucast lo 127.0.0.1 127.0.0.2\nnode a b\n").unwrap();
        let links = c.udp_links(&["127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap()]).unwrap();
        assert_eq!(links[0].kind, UdpKind::Ucast { peers: vec!["127.0.0.2".parse().unwrap()] });
        assert_eq!(links[0].bind, Some("127.0.0.1".parse().unwrap()));
    }

    /// heartbeat's own sample ha.cf (from Debian's `heartbeat` package) parses.
    #[test]
    fn debian_sample_ha_cf_parses() {
        let path = Path::new("/usr/share/doc/heartbeat/ha.cf.gz");
        let text = match crate::testutil::gunzip(path) {
            Some(t) => t,
            None if std::env::var_os("CI").is_some() => panic!("{} missing: the test command installs Debian's heartbeat", path.display()),
            None => return eprintln!("skipping: {} not installed", path.display()),
        };
        let c = parse(&text).unwrap();
        assert_eq!(c.logfacility.as_deref(), Some("local0"));
        assert_eq!(c.auto_failback, AutoFailback::On);
        // Every commented-out directive of the sample is one hb knows (implemented or refused
        // by name), never "unknown".
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix('#') {
                let Some(word) = rest.split_whitespace().next() else {
                    continue;
                };
                if word.chars().all(|c| c.is_ascii_lowercase() || c == '_') && rest.starts_with(word) && rest.len() > word.len() {
                    let e = parse(&format!("{rest}\n"));
                    if let Err(e) = e {
                        assert!(!e.contains("unknown directive"), "sample directive {word}: {e}");
                    }
                }
            }
        }
    }
}
