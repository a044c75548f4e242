//! `hbctl`: what an operator types at the console — status, nodes, links, the event stream,
//! configuration checks and key generation. Queries read hbd's status page (no syscall into
//! hbd); `events` uses the IPC socket. Every query takes `--json` for scripts.

use crate::hbctl_crm;
use crate::hbctl_fence;
use hb_core::daemon::{host_name, load_config, StartError};
use hb_core::ipc::proto::{EventMsg, FenceOp, Reply, Request};
use hb_core::ipc::{Client, ClientError};
use hb_core::liveness::{LinkState, NodeState};
use hb_core::status::{NodeKind, RtGranted, Snapshot, StatusReader, WatchdogState};
use hb_core::time::Nanos;
use hb_core::wire::Reject;
use std::io::Write;
use std::path::PathBuf;

/// hbctl's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// hbd is not running (no status page, or its process is gone).
    NotRunning = 1,
    /// `status`: some peer is dead.
    PeerDead = 2,
    /// `fence`: the fencing failed, or hbctl stopped waiting for it.
    FenceFailed = 3,
    /// Bad command line.
    Usage = 64,
    /// A configuration file is missing or unreadable.
    NoInput = 66,
    /// Writing a file failed.
    CantCreate = 73,
    /// A configuration file is invalid.
    Config = 78,
}

/// The help text.
pub const HELP: &str = "\
hbctl - query and control the hb heartbeat daemon

USAGE
    hbctl [GLOBAL OPTIONS] COMMAND [OPTIONS]

COMMANDS
    status         this node, hbd's health and every peer in one screen (cl_status hbstatus)
    nodes          each peer: state, last heard, generation (cl_status listnodes/nodestatus);
                   then each ping node (ping, ping6, ping_group): state, last answer, RTT
    links          each link (ucast, bcast, mcast, raw, serial) and peer: state, last heard,
                   packets, loss, dropped packets by reason (bad-frame: a serial or raw frame
                   that did not decode), round-trip times min/p50/avg/p99/max/last from hbd's
                   histograms, ups and downs (cl_status listhblinks/hblinkstatus)
    events         follow the event stream (node/link up, warn, dead; ping-up, ping-dead;
                   stalls; application heartbeats) until interrupted. Every event has a
                   sequence number (--json: seq); the events missed and events-lost say when
                   some did not arrive (docs/ipc.md)
                     --count N     stop after N events
                     --timeout S   stop after S seconds
    check-config   validate ha.cf and authkeys, as hbd --check-config does
                     -c, --config-dir DIR   [default: /etc/ha.d]
                     -n, --node-name NAME   [default: host name]
    apphb register NAME --interval TIME
                   register a script's application heartbeat (kept until unregistered)
    apphb checkin NAME
                   check in (each run of the script); a missed check-in is an event, and
                   with `apphb_watchdog on` in ha.cf a reason for the watchdog to reset
    apphb unregister NAME
    apphb status   every application heartbeat: interval, last check-in, state, owner
                   (programs use hb_core::ipc::AppHeartbeat, bound to their connection:
                   dying without unregistering is reported as an exit). A registration
                   belongs to the user who made it: only that user checks in or
                   unregisters it (root may unregister a stale persistent one); names
                   starting hb- are for root and hbd's user
    fence NODE     fence NODE now through its STONITH topology (no race delay) and follow it
                   to the end: exit 0 once NODE is confirmed off (or its reset confirmed)
                     --action reboot|off|on   [default: reboot]
                     --timeout S              stop waiting after S seconds (hbd goes on)
    fence-confirm NODE
                   say that NODE has been powered off by hand: completes a meatware
                   device's fencing, which waits for exactly this
    stonith        this node's STONITH devices (type, hosts, whether each forks or reads
                   power back), each peer's levels, and what waits for an operator
    crm            the resource manager's view (hb-crmd, `crm respawn`): each group, where
                   it runs or what it waits for, each resource's state here and its last
                   operation, what each peer's CRM holds (status shows it too)
    simulate [--node-dead NODE] [--resource-fails RESOURCE] [--standby NODE]
                   what the CRMs would do if NODE died (its fencing taken to succeed where a
                   device can fence it), RESOURCE failed its monitor, or NODE went into
                   standby: each live node's operations and each group's placement, from the
                   same policy engine, nothing done (as crm_simulate)
    standby [all|foreign|local]
                   this node gives up those groups (all; those preferring this node; those
                   preferring another) and will not run them until a takeover here, as
                   heartbeat's hb_standby                     [default: all]
    takeover [all|foreign|local]
                   this node asks for those groups: the peer holding them gives them up and
                   stands by for them, as heartbeat's hb_takeover   [default: all]
    keygen         write a fresh random authkeys (HMAC-SHA256), mode 0600
                     -o, --output FILE      [default: standard output]
                     --force                replace an existing FILE

GLOBAL OPTIONS
    -r, --run-dir DIR   hbd's run directory (status page, hbd.sock)   [default: /run/hb]
        --json          machine-readable output (one JSON object; events: one per line)
    -h, --help          this text
    -V, --version       the version

EXIT STATUS
    0   success
    1   hbd is not running (no status page, or its process is gone)
    2   status: at least one peer is dead (ping nodes do not count)
    3   fence: the fencing failed, or --timeout passed before its result
    64  bad command line
    66  configuration file missing or unreadable
    73  keygen could not write its file
    78  configuration invalid
";

struct Args {
    run_dir: PathBuf,
    json: bool,
    cmd: String,
    config_dir: PathBuf,
    node: String,
    count: Option<u64>,
    timeout: Option<f64>,
    output: Option<PathBuf>,
    force: bool,
    interval: Option<String>,
    action: FenceOp,
    rest: Vec<String>,
    /// `simulate`: what to suppose.
    what_if: hb_crm::api::WhatIf,
}

fn parse(args: Vec<String>) -> Result<Args, String> {
    use lexopt::prelude::*;
    let mut a = Args {
        run_dir: "/run/hb".into(),
        json: false,
        cmd: String::new(),
        config_dir: "/etc/ha.d".into(),
        node: host_name(),
        count: None,
        timeout: None,
        output: None,
        force: false,
        interval: None,
        action: FenceOp::Reboot,
        rest: Vec::new(),
        what_if: Default::default(),
    };
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        let val = |p: &mut lexopt::Parser| -> Result<String, String> {
            p.value().map_err(|e| e.to_string())?.into_string().map_err(|_| "not UTF-8".to_string())
        };
        match arg {
            Short('r') | Long("run-dir") => a.run_dir = val(&mut p)?.into(),
            Long("json") => a.json = true,
            Short('c') | Long("config-dir") => a.config_dir = val(&mut p)?.into(),
            Short('n') | Long("node-name") => a.node = val(&mut p)?,
            Long("count") => a.count = Some(val(&mut p)?.parse().map_err(|_| "--count needs a number")?),
            Long("timeout") => a.timeout = Some(val(&mut p)?.parse().map_err(|_| "--timeout needs seconds")?),
            Short('o') | Long("output") => a.output = Some(val(&mut p)?.into()),
            Long("force") => a.force = true,
            Short('h') | Long("help") => a.cmd = "help".into(),
            Short('V') | Long("version") => a.cmd = "version".into(),
            Long("interval") => a.interval = Some(val(&mut p)?),
            Long("node-dead") => a.what_if.node_dead = Some(val(&mut p)?),
            Long("resource-fails") => a.what_if.resource_fails = Some(val(&mut p)?),
            Long("standby") => a.what_if.standby = Some(val(&mut p)?),
            Long("action") => {
                a.action = match val(&mut p)?.as_str() {
                    "reboot" | "reset" => FenceOp::Reboot,
                    "off" => FenceOp::Off,
                    "on" => FenceOp::On,
                    other => return Err(format!("--action {other:?}: reboot, off or on")),
                }
            }
            Value(v) if a.cmd.is_empty() => a.cmd = v.into_string().map_err(|_| "not UTF-8")?,
            Value(v) if ["apphb", "fence", "fence-confirm", "standby", "takeover"].contains(&a.cmd.as_str()) => {
                a.rest.push(v.into_string().map_err(|_| "not UTF-8")?)
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(a)
}

/// Runs hbctl with `args` (without the program name), writing to `out`.
pub fn run(args: Vec<String>, out: &mut dyn Write) -> Exit {
    let a = match parse(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("hbctl: {e}\nTry 'hbctl --help'.");
            return Exit::Usage;
        }
    };
    let r = match a.cmd.as_str() {
        "help" => {
            let _ = write!(out, "{HELP}");
            Ok(Exit::Ok)
        }
        "version" => {
            let _ = writeln!(out, "hbctl {}", env!("CARGO_PKG_VERSION"));
            Ok(Exit::Ok)
        }
        "status" | "nodes" | "links" => query(&a, out),
        "events" => events(&a, out),
        "check-config" => check_config(&a, out),
        "keygen" => keygen(&a, out),
        "apphb" => apphb(&a, out),
        "fence" | "fence-confirm" | "stonith" => fencing(&a, out),
        "crm" => crm(&a, out),
        "simulate" => {
            let reply = hbctl_crm::simulate(&a.run_dir, &a.what_if).map_err(|e| (Exit::NotRunning, e));
            reply.map(|r| {
                let text = if a.json { to_json(&r) } else { hbctl_crm::simulate_text(&r) };
                let _ = out.write_all(text.as_bytes());
                Exit::Ok
            })
        }
        "standby" | "takeover" => {
            let which = match a.rest.as_slice() {
                [] => Ok(None),
                [w] => Ok(Some(w.as_str())),
                _ => Err((Exit::Usage, format!("usage: hbctl {} [all|foreign|local]", a.cmd))),
            };
            which.and_then(|w| hbctl_crm::standby_or_takeover(&a.run_dir, &a.cmd, w).map_err(|e| (Exit::NotRunning, e))).map(|line| {
                let _ = out.write_all(line.as_bytes());
                Exit::Ok
            })
        }
        "" => Err((Exit::Usage, "no command given; try 'hbctl --help'".to_string())),
        other => Err((Exit::Usage, format!("unknown command {other:?}; try 'hbctl --help'"))),
    };
    match r {
        Ok(x) => x,
        Err((code, msg)) => {
            eprintln!("hbctl: {msg}");
            code
        }
    }
}

type CmdResult = Result<Exit, (Exit, String)>;

fn snapshot(a: &Args) -> Result<Snapshot, (Exit, String)> {
    let r = StatusReader::open(&a.run_dir).map_err(|e| (Exit::NotRunning, e.to_string()))?;
    let s = r.snapshot().map_err(|e| (Exit::NotRunning, e.to_string()))?;
    if !s.writer_alive() {
        return Err((Exit::NotRunning, format!("hbd (pid {}) is not running; its last status page is in {}", s.pid, a.run_dir.display())));
    }
    Ok(s)
}

fn ago(now: Nanos, t: Nanos) -> String {
    if t == Nanos::ZERO {
        "never".into()
    } else {
        format!("{:.1} ms ago", now.sub(t).as_millis_f64())
    }
}

fn query(a: &Args, out: &mut dyn Write) -> CmdResult {
    let s = snapshot(a)?;
    let any_dead = s.nodes.iter().any(|n| !n.is_ping() && n.state == NodeState::Dead);
    let text = if a.json {
        match a.cmd.as_str() {
            "nodes" => nodes_json(&s),
            "links" => links_json(&s),
            _ => status_json(&s, hbctl_fence::stonith_status(&a.run_dir).ok(), hbctl_crm::crm_status(&a.run_dir).ok()),
        }
    } else {
        match a.cmd.as_str() {
            "nodes" => nodes_text(&s),
            "links" => links_text(&s),
            _ => {
                let crm = hbctl_crm::crm_status(&a.run_dir).map(|r| hbctl_crm::text(&r)).unwrap_or_default();
                status_text(&s) + &hbctl_fence::status_text(&hbctl_fence::stonith_status(&a.run_dir).unwrap_or(Reply::Unknown)) + &crm
            }
        }
    };
    let _ = out.write_all(text.as_bytes());
    Ok(if a.cmd == "status" && any_dead { Exit::PeerDead } else { Exit::Ok })
}

fn status_text(s: &Snapshot) -> String {
    let up = s.now.sub(s.started);
    let mut o = format!(
        "hbd on {}: running (pid {}, generation {}, up {:.1} s)\n  loop: {} backend, {} iterations, real time: {}\n  timing: keepalive {} warntime {} deadtime {} initdead {}\n  own stalls: {} (total {:.1} ms, worst lateness {:.3} ms); heartbeat slots missed: {}\n",
        s.self_name,
        s.pid,
        s.generation,
        up.as_millis_f64() / 1000.0,
        s.backend.name(),
        s.iterations,
        rt_text(s.rt),
        s.timing.keepalive,
        s.timing.warntime,
        s.timing.deadtime,
        s.timing.initdead,
        s.stalls.count,
        s.stalls.total.as_millis_f64(),
        s.stalls.worst.as_millis_f64(),
        s.tx_missed,
    );
    let w = &s.watchdog;
    match w.state {
        WatchdogState::None => {}
        WatchdogState::Petting => {
            o.push_str(&format!("  watchdog: petting (timeout {} s), {} pets, last {}\n", w.timeout_s, w.pets, ago(s.now, w.last_pet)))
        }
        WatchdogState::Withholding => o.push_str(&format!(
            "  watchdog: NOT PETTING — the node will be reset (timeout {} s); {} pets, last {}\n",
            w.timeout_s,
            w.pets,
            ago(s.now, w.last_pet)
        )),
    }
    if s.auth.any() {
        o.push_str(&format!(
            "  authentication: WEAK — {} (hbctl check-config says why; hbctl keygen writes a sha256 key)\n",
            weak_names(s).join(", ")
        ));
    }
    if s.log_dropped + s.events_dropped > 0 {
        o.push_str(&format!("  dropped: {} log records, {} events\n", s.log_dropped, s.events_dropped));
    }
    o.push_str(&nodes_text(s));
    o
}

/// What is weak about the keys in use, by name.
fn weak_names(s: &Snapshot) -> Vec<&'static str> {
    let w = s.auth;
    [(w.crc, "crc key (no authentication at all)"), (w.md5, "md5 key"), (w.short_secret, "a secret shorter than 16 bytes")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
}

fn rt_text(rt: RtGranted) -> String {
    let mut v = Vec::new();
    v.push(if rt.memory_locked { "memory locked" } else { "memory NOT locked" });
    v.push(if rt.sched_fifo { "SCHED_FIFO" } else { "normal priority" });
    if rt.pinned {
        v.push("pinned");
    }
    v.join(", ")
}

fn nodes_text(s: &Snapshot) -> String {
    let mut o = String::from("NODE             STATE  LAST HEARD       LINKS UP  GENERATION\n");
    for n in s.nodes.iter().filter(|n| !n.is_ping()) {
        let up = n.links_up();
        o.push_str(&format!(
            "{:<16} {:<6} {:<16} {:>2}/{:<5}  {}\n",
            n.name,
            n.state.name(),
            ago(s.now, n.last_heard),
            up,
            n.links.len(),
            n.generation
        ));
    }
    let pings: Vec<_> = s.nodes.iter().filter(|n| n.is_ping()).collect();
    if !pings.is_empty() {
        o.push_str("PING NODE        STATE  LAST ANSWER      REPLIES   RTT\n");
        for n in pings {
            let rtt = if n.ping_rtt == Nanos::ZERO { "-".to_string() } else { format!("{:.3} ms", n.ping_rtt.as_millis_f64()) };
            o.push_str(&format!("{:<16} {:<6} {:<16} {:<9} {}\n", n.name, n.state.name(), ago(s.now, n.last_heard), n.ping_replies, rtt));
        }
        if s.ping_rejected > 0 {
            o.push_str(&format!(
                "  {} ping replies dropped: they answered no echo of ours (spoofed, or older than deadping)\n",
                s.ping_rejected
            ));
        }
    }
    o
}

fn links_text(s: &Snapshot) -> String {
    let mut o = String::new();
    for (i, l) in s.links.iter().enumerate() {
        let c = &l.counters;
        o.push_str(&format!(
            "link {}: received {}, own {}, sent {} ({} send errors), dropped {}",
            l.name,
            c.rx_ok,
            c.own,
            c.tx,
            c.tx_err,
            c.rejected()
        ));
        if c.kernel_dropped > 0 {
            o.push_str(&format!(", dropped by the kernel {} (not this cluster's, or no room)", c.kernel_dropped));
        }
        let reasons: Vec<String> = Reject::ALL
            .iter()
            .filter(|r| c.rejects[**r as usize] > 0)
            .map(|r| format!("{} {}", r.name(), c.rejects[*r as usize]))
            .collect();
        if !reasons.is_empty() {
            o.push_str(&format!(" ({})", reasons.join(", ")));
        }
        o.push('\n');
        for n in s.nodes.iter().filter(|n| !n.is_ping()) {
            let p = &n.links[i];
            let r = &p.rtt;
            let rtt = if r.samples == 0 {
                "rtt -".to_string()
            } else {
                format!(
                    "rtt ms min {:.3} p50 {:.3} avg {:.3} p99 {:.3} max {:.3} last {:.3}",
                    r.min.as_millis_f64(),
                    r.p50.as_millis_f64(),
                    r.mean.as_millis_f64(),
                    r.p99.as_millis_f64(),
                    r.max.as_millis_f64(),
                    r.last.as_millis_f64()
                )
            };
            o.push_str(&format!(
                "  {:<14} {:<5} last heard {:<14} packets {:<8} loss {:.2}%  {}  ups {} downs {}\n",
                n.name,
                p.state.name(),
                ago(s.now, p.last_heard),
                p.rx,
                p.loss_ppm as f64 / 10_000.0,
                rtt,
                p.ups,
                p.downs
            ));
        }
    }
    o
}

/// Milliseconds since `t`, to the microsecond; `None` (JSON `null`) for never.
fn ms_ago(now: Nanos, t: Nanos) -> Option<f64> {
    (t != Nanos::ZERO).then(|| ms3(now.sub(t)))
}

/// A duration in milliseconds, to the microsecond.
fn ms3(t: Nanos) -> f64 {
    (t.as_millis_f64() * 1000.0).round() / 1000.0
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    let mut text = serde_json::to_string(v).expect("hbctl's views serialize");
    text.push('\n');
    text
}

/// `hbctl --json nodes`, `status`: one node or ping node.
#[derive(serde::Serialize)]
struct NodeView<'a> {
    name: &'a str,
    kind: NodeKind,
    state: NodeState,
    last_heard_ms_ago: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    links_up: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replies: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rtt_ns: Option<Nanos>,
}

fn node_views(s: &Snapshot) -> Vec<NodeView<'_>> {
    s.nodes
        .iter()
        .map(|n| {
            let ping = n.is_ping();
            NodeView {
                name: &n.name,
                kind: n.kind,
                state: n.state,
                last_heard_ms_ago: ms_ago(s.now, n.last_heard),
                generation: (!ping).then_some(n.generation),
                links_up: (!ping).then(|| n.links_up()),
                replies: ping.then_some(n.ping_replies),
                rtt_ns: ping.then_some(n.ping_rtt),
            }
        })
        .collect()
}

/// `hbctl --json nodes`.
#[derive(serde::Serialize)]
struct NodesView<'a> {
    node: &'a str,
    nodes: Vec<NodeView<'a>>,
}

fn nodes_json(s: &Snapshot) -> String {
    to_json(&NodesView { node: &s.self_name, nodes: node_views(s) })
}

/// `hbctl --json links`: one peer on one link.
#[derive(serde::Serialize)]
struct PeerOnLinkView<'a> {
    node: &'a str,
    state: LinkState,
    last_heard_ms_ago: Option<f64>,
    packets: u64,
    loss_ppm: u64,
    rtt_ns: RttView,
    ups: u64,
    downs: u64,
}

/// Round-trip times as `hbctl --json links` has always named them.
#[derive(serde::Serialize)]
struct RttView {
    last: Nanos,
    min: Nanos,
    avg: Nanos,
    p50: Nanos,
    p99: Nanos,
    max: Nanos,
    samples: u64,
}

/// `hbctl --json links`: one link.
#[derive(serde::Serialize)]
struct LinkView<'a> {
    link: &'a str,
    received: u64,
    own: u64,
    sent: u64,
    send_errors: u64,
    dropped: u64,
    dropped_by_reason: std::collections::BTreeMap<&'static str, u64>,
    kernel_dropped: u64,
    peers: Vec<PeerOnLinkView<'a>>,
}

/// `hbctl --json links`.
#[derive(serde::Serialize)]
struct LinksView<'a> {
    node: &'a str,
    links: Vec<LinkView<'a>>,
}

fn links_json(s: &Snapshot) -> String {
    let links = s
        .links
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let c = &l.counters;
            LinkView {
                link: &l.name,
                received: c.rx_ok,
                own: c.own,
                sent: c.tx,
                send_errors: c.tx_err,
                dropped: c.rejected(),
                dropped_by_reason: Reject::ALL.iter().map(|r| (r.name(), c.rejects[*r as usize])).collect(),
                kernel_dropped: c.kernel_dropped,
                peers: s
                    .nodes
                    .iter()
                    .filter(|n| !n.is_ping())
                    .map(|n| {
                        let p = &n.links[i];
                        let r = &p.rtt;
                        PeerOnLinkView {
                            node: &n.name,
                            state: p.state,
                            last_heard_ms_ago: ms_ago(s.now, p.last_heard),
                            packets: p.rx,
                            loss_ppm: p.loss_ppm,
                            rtt_ns: RttView {
                                last: r.last,
                                min: r.min,
                                avg: r.mean,
                                p50: r.p50,
                                p99: r.p99,
                                max: r.max,
                                samples: r.samples,
                            },
                            ups: p.ups,
                            downs: p.downs,
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    to_json(&LinksView { node: &s.self_name, links })
}

/// `hbctl --json status`: the watchdog, when one is configured.
#[derive(serde::Serialize)]
struct WatchdogView {
    petting: bool,
    pets: u64,
    last_pet_ms_ago: Option<f64>,
    timeout_s: u64,
}

/// `hbctl --json status`.
#[derive(serde::Serialize)]
struct StatusView<'a> {
    node: &'a str,
    running: bool,
    pid: u32,
    generation: u64,
    uptime_ms: f64,
    backend: hb_core::backend::Kind,
    iterations: u64,
    memory_locked: bool,
    sched_fifo: bool,
    keepalive_ms: f64,
    warntime_ms: f64,
    deadtime_ms: f64,
    initdead_ms: f64,
    stalls: u64,
    stalled_ms: f64,
    worst_lateness_ms: f64,
    tx_missed: u64,
    log_dropped: u64,
    events_dropped: u64,
    weak_auth: hb_core::auth::Weakness,
    watchdog: Option<WatchdogView>,
    peers: Vec<NodeView<'a>>,
    /// The `stonith-status` reply (absent when hbd's socket could not be asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    stonith: Option<Reply>,
    /// The CRM's `crm-status` reply (absent without a CRM).
    #[serde(skip_serializing_if = "Option::is_none")]
    resources: Option<hb_crm::api::Reply>,
}

fn status_json(s: &Snapshot, stonith: Option<Reply>, resources: Option<hb_crm::api::Reply>) -> String {
    let w = &s.watchdog;
    to_json(&StatusView {
        node: &s.self_name,
        running: true,
        pid: s.pid,
        generation: s.generation,
        uptime_ms: (s.now.sub(s.started).as_millis_f64() * 10.0).round() / 10.0,
        backend: s.backend,
        iterations: s.iterations,
        memory_locked: s.rt.memory_locked,
        sched_fifo: s.rt.sched_fifo,
        keepalive_ms: s.timing.keepalive.as_millis_f64(),
        warntime_ms: s.timing.warntime.as_millis_f64(),
        deadtime_ms: s.timing.deadtime.as_millis_f64(),
        initdead_ms: s.timing.initdead.as_millis_f64(),
        stalls: s.stalls.count,
        stalled_ms: ms3(s.stalls.total),
        worst_lateness_ms: ms3(s.stalls.worst),
        tx_missed: s.tx_missed,
        log_dropped: s.log_dropped,
        events_dropped: s.events_dropped,
        weak_auth: s.auth,
        watchdog: (w.state != WatchdogState::None).then(|| WatchdogView {
            petting: w.state == WatchdogState::Petting,
            pets: w.pets,
            last_pet_ms_ago: ms_ago(s.now, w.last_pet),
            timeout_s: w.timeout_s,
        }),
        peers: node_views(s),
        stonith,
        resources,
    })
}

/// An error of the local API as hbctl reports it: hbd's refusal of a request is the
/// caller's mistake (64); anything else means hbd is not reachable (1).
fn client_error(a: &Args, e: ClientError) -> (Exit, String) {
    match e {
        ClientError::Refused { message, .. } => (Exit::Usage, message),
        e => (Exit::NotRunning, format!("hbd at {}: {}", a.run_dir.display(), hb_core::error::error_text(&e))),
    }
}

fn events(a: &Args, out: &mut dyn Write) -> CmdResult {
    let mut c = Client::connect_as(&a.run_dir, "hbctl").map_err(|e| client_error(a, e))?;
    c.subscribe().map_err(|e| client_error(a, e))?;
    let deadline = a.timeout.map(|t| std::time::Instant::now() + std::time::Duration::from_secs_f64(t));
    let mut seen = 0u64;
    loop {
        if a.count.is_some_and(|n| seen >= n) {
            return Ok(Exit::Ok);
        }
        let wait = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Ok(Exit::Ok);
                }
                left
            }
            None => std::time::Duration::from_secs(1),
        };
        match c.next_event(wait) {
            Ok(Some(m)) => {
                seen += 1;
                let line = if a.json { serde_json::to_string(&m).unwrap_or_default() } else { event_text(&m) };
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            Ok(None) => {}
            Err(e) => return Err((Exit::NotRunning, format!("event stream ended: {}", hb_core::error::error_text(&e)))),
        }
    }
}

/// An event as a person reads it: `[seconds] kind subject (duration)`.
fn event_text(m: &EventMsg) -> String {
    use hb_core::ipc::proto::Event as E;
    let d = |t: Nanos| format!(" ({:.1} ms)", t.as_millis_f64());
    let (at, what) = match &m.event {
        E::NodeUp { node, at_ns, returning } => (*at_ns, format!("node-up {node}{}", if *returning { " (returning)" } else { "" })),
        E::NodeDead { node, at_ns, silent_ns } => (*at_ns, format!("node-dead {node}{}", d(*silent_ns))),
        E::NodeRestarted { node, at_ns, generation } => (*at_ns, format!("node-restarted {node} generation {generation}")),
        E::NodeLeft { node, at_ns } => (*at_ns, format!("node-left {node} (stopped cleanly)")),
        E::PeerCrm { node, at_ns, state } => (*at_ns, format!("peer-crm {node} state {}", if state.is_empty() { "(none)" } else { state })),
        E::LinkUp { node, link, at_ns } => (*at_ns, format!("link-up {node} link {link}")),
        E::LinkWarn { node, link, at_ns, silent_ns } => (*at_ns, format!("link-warn {node} link {link}{}", d(*silent_ns))),
        E::LinkDead { node, link, at_ns, silent_ns } => (*at_ns, format!("link-dead {node} link {link}{}", d(*silent_ns))),
        E::PingUp { node, at_ns } => (*at_ns, format!("ping-up {node}")),
        E::PingDead { node, at_ns, silent_ns } => (*at_ns, format!("ping-dead {node}{}", d(*silent_ns))),
        E::Stall { at_ns, late_ns } => (*at_ns, format!("stall{}", d(*late_ns))),
        E::ApphbRegistered { name, at_ns, interval_ns } => (*at_ns, format!("apphb-registered {name} every {interval_ns}")),
        E::ApphbMissed { name, at_ns, silent_ns } => (*at_ns, format!("apphb-missed {name}{}", d(*silent_ns))),
        E::ApphbRecovered { name, at_ns } => (*at_ns, format!("apphb-recovered {name}")),
        E::ApphbExited { name, at_ns } => (*at_ns, format!("apphb-exited {name}")),
        E::ApphbUnregistered { name, at_ns } => (*at_ns, format!("apphb-unregistered {name}")),
        E::EventsLost { at_ns, count, total } => (*at_ns, format!("events-lost {count} (hbd lost {total} in all; state: hbctl status)")),
        E::Missed { first_seq, count } => {
            return format!("missed {count} events (#{first_seq}-#{}): hbctl was too slow; state: hbctl status", first_seq + count - 1)
        }
        E::FenceStarted { at_ns, .. } | E::FenceOperator { at_ns, .. } | E::FenceResult { at_ns, .. } => {
            (*at_ns, hbctl_fence::fence_line(&m.event).unwrap_or_default())
        }
        E::Unknown => return format!("#{} (an event this hbctl does not know; --json shows it)", m.seq),
    };
    format!("[{:.3}] {what}", at.0 as f64 / 1e9)
}

fn apphb(a: &Args, out: &mut dyn Write) -> CmdResult {
    let usage = || (Exit::Usage, "usage: hbctl apphb register NAME --interval TIME | checkin NAME | unregister NAME | status".to_string());
    let req = match a.rest.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["register", name] => {
            let t = a.interval.as_deref().ok_or_else(usage)?;
            let d = hb_core::time::parse_duration(t).map_err(|e| (Exit::Usage, format!("--interval: {e}")))?;
            Request::ApphbRegister { name: name.to_string(), interval_ms: d.as_millis(), persistent: true }
        }
        ["checkin", name] => Request::ApphbCheckin { name: name.to_string() },
        ["unregister", name] => Request::ApphbUnregister { name: name.to_string() },
        ["status"] => Request::ApphbStatus,
        _ => return Err(usage()),
    };
    let mut c = Client::connect_as(&a.run_dir, "hbctl").map_err(|e| client_error(a, e))?;
    let reply = c.call(&req).map_err(|e| client_error(a, e))?;
    match reply {
        Reply::ApphbStatus { apps } if !a.json => {
            let _ = writeln!(out, "NAME             INTERVAL    LAST CHECK-IN      CHECK-INS  STATE    OWNER");
            for x in apps {
                let _ = writeln!(
                    out,
                    "{:<16} {:>7} ms  {:>9.1} ms ago  {:>9}  {:<8} uid {}",
                    x.name,
                    x.interval_ms,
                    x.last_checkin_ms_ago,
                    x.checkins,
                    x.state.name(),
                    x.owner_uid
                );
            }
        }
        r => {
            let _ = writeln!(out, "{}", serde_json::to_string(&r).unwrap_or_default());
        }
    }
    Ok(Exit::Ok)
}

fn fencing(a: &Args, out: &mut dyn Write) -> CmdResult {
    let node = || match a.rest.as_slice() {
        [n] => Ok(n.clone()),
        _ => Err((Exit::Usage, format!("usage: hbctl {} NODE", a.cmd))),
    };
    match a.cmd.as_str() {
        "fence" => {
            let timeout = a.timeout.map(std::time::Duration::from_secs_f64);
            match hbctl_fence::fence(&a.run_dir, &node()?, a.action, timeout, a.json, out).map_err(|e| client_error(a, e))? {
                hbctl_fence::Ended::Done => Ok(Exit::Ok),
                _ => Ok(Exit::FenceFailed),
            }
        }
        "fence-confirm" => {
            let said = hbctl_fence::confirm(&a.run_dir, &node()?).map_err(|e| client_error(a, e))?;
            let _ = writeln!(out, "{said}");
            Ok(Exit::Ok)
        }
        _ => {
            let r = hbctl_fence::stonith_status(&a.run_dir).map_err(|e| client_error(a, e))?;
            let text = if a.json { serde_json::to_string(&r).unwrap_or_default() + "\n" } else { hbctl_fence::status_text(&r) };
            let _ = out.write_all(text.as_bytes());
            Ok(Exit::Ok)
        }
    }
}

fn crm(a: &Args, out: &mut dyn Write) -> CmdResult {
    let r = hbctl_crm::crm_status(&a.run_dir).map_err(|e| (Exit::NotRunning, e))?;
    let text = if a.json { to_json(&r) } else { hbctl_crm::text(&r) };
    let _ = out.write_all(text.as_bytes());
    Ok(Exit::Ok)
}

fn check_config(a: &Args, out: &mut dyn Write) -> CmdResult {
    match load_config(&a.config_dir, &a.node) {
        Ok((cfg, keys)) => {
            for w in hb_core::daemon::config_warnings(&cfg, &keys) {
                eprintln!("hbctl: warning: {w}");
            }
            let _ = writeln!(out, "{}", cfg.summary(&a.node));
            Ok(Exit::Ok)
        }
        Err(e) => {
            let code = match e {
                StartError::Config(_) => Exit::Config,
                _ => Exit::NoInput,
            };
            let mut msg = e.to_string();
            if let Some(src) = std::error::Error::source(&e) {
                msg.push_str(&format!(": {src}"));
            }
            Err((code, msg))
        }
    }
}

fn keygen(a: &Args, out: &mut dyn Write) -> CmdResult {
    let text = hb_core::auth::generate_authkeys().map_err(|e| (Exit::CantCreate, format!("no randomness: {e}")))?;
    match &a.output {
        None => {
            let _ = out.write_all(text.as_bytes());
            Ok(Exit::Ok)
        }
        Some(p) => {
            use std::os::unix::fs::OpenOptionsExt;
            let mut o = std::fs::OpenOptions::new();
            o.write(true).mode(0o600);
            if a.force {
                o.create(true).truncate(true);
            } else {
                o.create_new(true);
            }
            let mut f = o.open(p).map_err(|e| {
                (
                    Exit::CantCreate,
                    format!(
                        "cannot create {}: {e}{}",
                        p.display(),
                        if e.kind() == std::io::ErrorKind::AlreadyExists { " (use --force to replace it)" } else { "" }
                    ),
                )
            })?;
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| (Exit::CantCreate, format!("chmod 600 {}: {e}", p.display())))?;
            f.write_all(text.as_bytes()).map_err(|e| (Exit::CantCreate, format!("writing {}: {e}", p.display())))?;
            let _ = writeln!(out, "wrote a new sha256 key to {} (mode 0600); copy it to every node", p.display());
            Ok(Exit::Ok)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_s(args: &[&str]) -> (Exit, String) {
        let mut out = Vec::new();
        let code = run(args.iter().map(|s| s.to_string()).collect(), &mut out);
        (code, String::from_utf8(out).unwrap())
    }

    #[test]
    fn help_usage_and_not_running() {
        assert_eq!(run_s(&["--help"]).0, Exit::Ok);
        assert!(run_s(&["--help"]).1.contains("EXIT STATUS"));
        assert_eq!(run_s(&[]).0, Exit::Usage);
        assert_eq!(run_s(&["frob"]).0, Exit::Usage);
        assert_eq!(run_s(&["--run-dir", "/nonexistent-hb", "status"]).0, Exit::NotRunning);
    }

    #[test]
    fn keygen_writes_0600_and_refuses_to_overwrite() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("hbctl-keygen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("authkeys");
        let ps = p.to_str().unwrap();
        assert_eq!(run_s(&["keygen", "-o", ps]).0, Exit::Ok);
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        hb_core::auth::load_authkeys(&p).unwrap();
        assert_eq!(run_s(&["keygen", "-o", ps]).0, Exit::CantCreate);
        assert_eq!(run_s(&["keygen", "-o", ps, "--force"]).0, Exit::Ok);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn check_config_exit_codes() {
        let dir = std::env::temp_dir().join(format!("hbctl-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.to_str().unwrap();
        assert_eq!(run_s(&["check-config", "-c", d, "-n", "a"]).0, Exit::NoInput);
        std::fs::write(dir.join("ha.cf"), "keepalive 1\ndeadtime 2\n").unwrap();
        assert_eq!(run_s(&["check-config", "-c", d, "-n", "a"]).0, Exit::Config);
        std::fs::write(dir.join("ha.cf"), "ucast eth0 10.0.0.2\nnode a b\n").unwrap();
        assert_eq!(run_s(&["check-config", "-c", d, "-n", "a"]).0, Exit::NoInput);
        run_s(&["keygen", "-o", dir.join("authkeys").to_str().unwrap()]);
        let (code, out) = run_s(&["check-config", "-c", d, "-n", "a"]);
        assert_eq!(code, Exit::Ok, "{out}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn event_lines_for_people() {
        use hb_core::ipc::proto::Event;
        let m = EventMsg { seq: 1, event: Event::NodeDead { node: "b".into(), at_ns: Nanos(1_500_000_000), silent_ns: Nanos(51_200_000) } };
        assert_eq!(event_text(&m), "[1.500] node-dead b (51.2 ms)");
    }
}
