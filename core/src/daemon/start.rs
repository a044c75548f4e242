//! [`Daemon::start`], the checked start-up phase, as a sequence of steps: configuration and
//! directories, media, real time (process part), pings, status page and engine, log and IPC
//! threads, the watchdog (armed last), then the RT thread and the serial-port keeper.

use super::icmp::IcmpRt;
use super::link::RtLink;
use super::petter::Petter;
use super::raw::RawRt;
use super::rt::{rt_thread, Ready, RtCtx, RtSetup};
use super::serial::SerialRt;
use super::udp::UdpRt;
use super::{load_config, next_generation, Daemon, Options, StartError};
use crate::auth::Keyring;
use crate::backend::MAX_DESTS;
use crate::config::{facility_code, ConfigError, HaCf};
use crate::engine::{Engine, EngineConfig};
use crate::error::SourceText;
use crate::fence::Fencer;
use crate::filter::FilterSpec;
use crate::ipc::{self, AllowList, AppShared, ServerCtx};
use crate::liveness::{Event, Timing};
use crate::logging::{self, LogConfig, Logger, Names};
use crate::ping::{PingNode, Pinger};
use crate::ports::{Keeper, PortSlot};
use crate::status::{rt_flags, LoopStats, StatusWriter};
use crate::sys::fd::EventFd;
use crate::sys::seqpacket::SeqPacket;
use crate::time::{self, Nanos};
use crate::wire;
use hb_media::open_udp;
use hb_media::raw::open_raw;
use hb_media::serial::{open_serial, SerialPort};
use hb_realtime::Limits;
use socket2::SockAddr;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

/// The RT thread's stack size.
const RT_STACK: usize = 512 * 1024;

/// Every link, opened, with its name; the serial ports go to a keeper.
struct Media {
    links: Vec<RtLink>,
    names: Vec<String>,
    keeper: Option<Keeper>,
}

/// Every node's wire id, ours included.
fn node_ids(cfg: &HaCf) -> Vec<u32> {
    cfg.nodes.iter().map(|n| wire::node_id(n)).collect()
}

/// Attaches the socket filter for `spec` to link `name`'s socket and asks for the kernel's
/// drop counts. Either failing is a warning: the engine still refuses what the filter would
/// have dropped, at its own cost.
fn guard_socket(fd: std::os::fd::RawFd, spec: &FilterSpec, name: &str, logger: &Logger) {
    let attached = match crate::filter::program(spec) {
        Ok(prog) => crate::sys::fd::attach_filter(fd, &prog).map_err(|e| e.to_string()),
        Err(_) => Err("the program is too long for classic BPF".into()),
    };
    if let Err(e) = attached {
        logger.warn(&format!("{name}: no socket filter ({e}): packets of other clusters and hosts reach hbd and are refused there"));
    }
    if let Err(e) = crate::sys::fd::enable_drop_counts(fd) {
        logger.warn(&format!("{name}: SO_RXQ_OVFL refused ({e}): the kernel's drops on this socket are not counted"));
    }
}

/// Opens every medium `ha.cf` names, in link order: UDP, raw Ethernet, serial.
fn open_media(cfg: &HaCf, logger: &Logger) -> Result<Media, StartError> {
    let specs = cfg.udp_links(&hb_media::local_addresses())?;
    if specs.is_empty() && cfg.serial.is_empty() && cfg.raw.is_empty() {
        let what = "every medium names only this node's own addresses; nothing to send to".into();
        return Err(ConfigError { file: cfg.file.clone(), line: 0, what }.into());
    }
    let mut links: Vec<RtLink> = Vec::with_capacity(specs.len() + cfg.raw.len() + cfg.serial.len());
    let mut names: Vec<String> = specs.iter().map(|s| s.name()).collect();
    for s in &specs {
        let l = open_udp(s)?;
        if l.dests.len() > MAX_DESTS {
            let what = format!("{} has more than {MAX_DESTS} peers", s.name());
            return Err(ConfigError { file: cfg.file.clone(), line: 0, what }.into());
        }
        for w in &l.warnings {
            logger.warn(w);
        }
        let sources = match &s.kind {
            hb_media::UdpKind::Ucast { peers } => peers.clone(),
            _ => Vec::new(),
        };
        let filter = FilterSpec { base: 8, cluster: wire::cluster_id(&cfg.cluster), nodes: node_ids(cfg), port: Some(s.port), sources };
        guard_socket(l.socket.as_raw_fd(), &filter, &s.name(), logger);
        links.push(RtLink::Udp(UdpRt { socket: Some(l.socket), dests: l.dests }));
    }
    for r in &cfg.raw {
        let l = open_raw(&r.spec)?;
        for w in &l.warnings {
            logger.warn(w);
        }
        let filter = FilterSpec {
            base: hb_media::raw::HEADER_LEN as u32,
            cluster: wire::cluster_id(&cfg.cluster),
            nodes: node_ids(cfg),
            port: None,
            sources: Vec::new(),
        };
        guard_socket(l.socket.as_raw_fd(), &filter, &r.spec.name(), logger);
        links.push(RtLink::Raw(RawRt(l)));
        names.push(r.spec.name());
    }
    let mut ports: Vec<SerialPort> = Vec::with_capacity(cfg.serial.len());
    for s in &cfg.serial {
        let port = open_serial(&s.spec)?;
        let lock = port.lock_file().map_or_else(String::new, |l| format!(", locked ({})", l.display()));
        logger.info(&format!("{} open at {} baud, 8N1, raw{lock}", s.spec.name(), s.spec.baud));
        links.push(RtLink::Serial(SerialRt::new(port.fd(), ports.len())));
        names.push(s.spec.name());
        ports.push(port);
    }
    let keeper =
        if ports.is_empty() { None } else { Some(Keeper::new(ports).map_err(|source| StartError::Thread { what: "ports", source })?) };
    Ok(Media { links, names, keeper })
}

/// Real time, part 1 (process-wide): checks the limits first, then locks memory. Returns the
/// limits and the [`rt_flags`] granted so far.
fn lock_memory(realtime: bool, logger: &Logger) -> (hb_realtime::Limits, u64) {
    let limits = hb_realtime::check_limits();
    let mut flags = 0;
    if realtime {
        match hb_realtime::lock_memory(&limits) {
            Ok(()) => flags |= rt_flags::MLOCKED,
            Err(e) => logger.warn(&format!("running degraded: {e}: {}", e.source_text())),
        }
    }
    (limits, flags)
}

/// Ping pseudo-members: one raw ICMP socket per address family in use.
fn open_pings(nodes: &[PingNode]) -> Result<Vec<IcmpRt>, StartError> {
    let mut icmp = Vec::new();
    for v6 in [false, true] {
        let targets: Vec<(SockAddr, usize)> = crate::ping::targets(nodes)
            .iter()
            .enumerate()
            .filter(|(_, (a, _))| a.is_ipv6() == v6)
            .map(|(t, (a, _))| (SockAddr::from(std::net::SocketAddr::new(*a, 0)), t))
            .collect();
        if !targets.is_empty() {
            icmp.push(IcmpRt { socket: hb_media::ping::open_icmp(v6)?, v6, targets });
        }
    }
    Ok(icmp)
}

/// The IPC thread and what the RT thread needs to talk to it.
struct Ipc {
    thread: std::thread::JoinHandle<()>,
    stop: Arc<AtomicBool>,
    wake: Arc<EventFd>,
    events: rtrb::Producer<Event>,
    apps: Arc<AppShared>,
}

/// Listens on the IPC socket (its mode and group from the allow list) and starts the IPC
/// thread.
fn start_ipc(
    cfg: &HaCf,
    opts: &Options,
    names: Names,
    logger: &Logger,
    fencer: Option<(Fencer, Option<u8>, Limits)>,
) -> Result<Ipc, StartError> {
    let sock_path = opts.run_dir.join(ipc::SOCKET_NAME);
    let allow = AllowList::new(&cfg.apiauth);
    // The socket file lets exactly the allowed users reach it; each connection's credentials
    // are still checked (AllowList::allows).
    let (sock_group, sock_mode) = allow.socket_access();
    let ipc_err = |source| StartError::Ipc { path: sock_path.clone(), source };
    let listener = SeqPacket::listen(&sock_path, sock_mode).map_err(ipc_err)?;
    if let Some(g) = sock_group {
        nix::unistd::chown(&sock_path, None, Some(nix::unistd::Gid::from_raw(g))).map_err(|e| ipc_err(e.into()))?;
    }
    let (events, ev_cons) = rtrb::RingBuffer::<Event>::new(ipc::EVENT_RING);
    let wake = Arc::new(EventFd::new().map_err(|source| StartError::Thread { what: "ipc", source })?);
    let stop = Arc::new(AtomicBool::new(false));
    let apps = Arc::new(AppShared::default());
    let fence = match fencer {
        None => None,
        Some((f, prio, limits)) => {
            let (link, _thread) = crate::fence::thread::spawn(f, wake.clone(), apps.clone(), logger.clone(), prio.map(|p| (p, limits)))
                .map_err(|source| StartError::Thread { what: "fence", source })?;
            Some(link)
        }
    };
    let ctx = ServerCtx {
        names,
        allow,
        logger: logger.clone(),
        node: opts.node_name.clone(),
        apps: apps.clone(),
        status: crate::status::StatusReader::open(&opts.run_dir).ok(),
        state_dir: Some(opts.state_dir.clone()),
        fence,
    };
    let thread = ipc::spawn_server(listener, ev_cons, wake.clone(), stop.clone(), ctx)
        .map_err(|source| StartError::Thread { what: "ipc", source })?;
    Ok(Ipc { thread, stop, wake, events, apps })
}

/// Opens (arms) the watchdog, if `ha.cf` names one.
// INVARIANT: called after every other fallible step of start-up, and the RT thread disarms
// it if its own set-up fails: a start-up error never leaves an armed watchdog behind.
fn arm_watchdog(cfg: &HaCf, opts: &Options, logger: &Logger) -> Result<Option<Petter>, StartError> {
    let Some(path) = &cfg.watchdog else { return Ok(None) };
    let o = hb_watchdog::OpenOptions { timeout: Some(cfg.watchdog_timeout), pretimeout: None, allow_non_chardev: opts.watchdog_test_mode };
    let wd = hb_watchdog::Watchdog::open(path, &o)?;
    for n in wd.notes() {
        logger.warn(n);
    }
    logger.info(&format!(
        "watchdog {} armed: timeout {} s, pet every {} by {}",
        path.display(),
        wd.timeout().map_or_else(|| "unknown".into(), |t| t.to_string()),
        cfg.watchdog_interval,
        if wd.method() == hb_watchdog::PetMethod::Ioctl { "WDIOC_KEEPALIVE" } else { "write" }
    ));
    let policy = hb_watchdog::decision::Policy {
        require_crm: cfg.watchdog_require_crm,
        apphb_is_fatal: cfg.apphb_watchdog,
        ..hb_watchdog::decision::Policy::default()
    };
    Ok(Some(Petter::new(wd, cfg.watchdog_interval, policy, time::now())))
}

/// Creates the run and state directories, or checks that no other user can change them.
fn private_dirs(opts: &Options) -> Result<(), StartError> {
    for (what, dir) in [("run", &opts.run_dir), ("state", &opts.state_dir)] {
        crate::files::private_dir(dir).map_err(|source| StartError::Dir { what, path: dir.clone(), source })?;
    }
    Ok(())
}

type JoinHandle = std::thread::JoinHandle<()>;

/// Starts the serial-port keeper, when there are serial links. If it cannot start, the RT
/// loop (already running) is stopped first.
fn start_keeper(
    keeper: Option<Keeper>,
    logger: &Logger,
    wake: &Arc<EventFd>,
    stop: &AtomicBool,
    rt: JoinHandle,
) -> Result<(JoinHandle, Arc<AtomicBool>, Option<JoinHandle>), StartError> {
    let ports_stop = Arc::new(AtomicBool::new(false));
    match keeper.map(|k| k.spawn(logger.clone(), wake.clone(), ports_stop.clone())).transpose() {
        Ok(h) => Ok((rt, ports_stop, h)),
        Err(source) => {
            stop.store(true, Ordering::Release);
            wake.notify();
            let _ = rt.join();
            Err(StartError::Thread { what: "ports", source })
        }
    }
}

/// Gives the engine the wall clock (to bound peers' generations) and the generations peers
/// had before this start (so that their old packets stay refused).
fn remember(engine: &mut Engine, peers: &[String], state_dir: &std::path::Path, now: Nanos, logger: &Logger) {
    // The wall clock bounds peers' generations only; it never judges time.
    #[allow(clippy::disallowed_methods)]
    let unix_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    engine.set_wall_clock(unix_s, now);
    if unix_s < crate::engine::WALL_CLOCK_SANE_S {
        logger.warn("the wall clock is not set (before 2020): peers' generations cannot be bounded against it");
    }
    let (known, problems) = crate::state::load_peer_generations(state_dir);
    for p in problems {
        logger.warn(&p);
    }
    for (name, g) in known {
        if let Some(i) = peers.iter().position(|p| *p == name) {
            engine.remember_generation(i, g);
        }
    }
}

/// The sans-I/O protocol: the engine, and the pinger when there are ping nodes.
fn protocol(cluster: EngineConfig, ping_nodes: &[PingNode], deadping: Nanos, now: Nanos) -> (Engine, Option<Pinger>) {
    let (timing, generation) = (cluster.timing, cluster.generation);
    let pinger = (!ping_nodes.is_empty()).then(|| {
        let t = Timing { deadtime: deadping, warntime: Nanos(deadping.0 / 2), ..timing };
        // Our echoes' identifier: random for each start, so neither a predecessor's late
        // replies nor a guess from values sent in clear are taken for ours.
        let mut r = [0u8; 2];
        let ident = match getrandom::getrandom(&mut r) {
            Ok(()) => u16::from_le_bytes(r),
            Err(_) => (generation as u16) ^ (std::process::id() as u16),
        };
        Pinger::new(ping_nodes, t, ident, now)
    });
    (Engine::new(cluster, now), pinger)
}

/// Starts the RT thread and waits until it has set itself up (or failed to).
fn spawn_rt(ctx: RtCtx, setup: RtSetup) -> Result<(JoinHandle, Ready), StartError> {
    let (ready_tx, ready_rx) = mpsc::channel::<Result<Ready, StartError>>();
    let rt = std::thread::Builder::new()
        .name("hbd-rt".into())
        // Every byte of a thread stack is locked (mlockall); the RT thread prefaults 256 KiB of
        // this and never needs more.
        .stack_size(RT_STACK)
        .spawn(move || rt_thread(ctx, setup, ready_tx))
        .map_err(|source| StartError::Thread { what: "rt", source })?;
    match ready_rx.recv() {
        Ok(Ok(r)) => Ok((rt, r)),
        Ok(Err(e)) => {
            let _ = rt.join();
            Err(e)
        }
        Err(_) => Err(StartError::Thread { what: "rt", source: io::Error::other("the RT thread died during set-up") }),
    }
}

impl Daemon {
    /// Starts hbd as `opts` says. Returns once the RT loop is running.
    pub fn start(opts: &Options) -> Result<Daemon, StartError> {
        let (cfg, keys) = load_config(&opts.config_dir, &opts.node_name)?;
        let logger = Logger::new(&LogConfig {
            stderr: opts.log_stderr,
            logfile: cfg.logfile.clone(),
            debugfile: cfg.debugfile.clone(),
            facility: cfg.logfacility.as_deref().and_then(facility_code),
            debug: cfg.debug,
        });
        private_dirs(opts)?;
        let generation = next_generation(&opts.state_dir)?;
        let media = open_media(&cfg, &logger)?;
        let ports_wake = media.keeper.as_ref().map(Keeper::waker);
        let port_slots: Arc<[PortSlot]> = media.keeper.as_ref().map_or_else(|| Arc::from(Vec::new()), Keeper::slots);
        let peers: Vec<String> = cfg.nodes.iter().filter(|n| **n != opts.node_name).cloned().collect();
        let timing = Timing {
            keepalive: cfg.keepalive,
            warntime: cfg.warntime,
            deadtime: cfg.deadtime,
            initdead: cfg.initdead,
            stall_threshold: cfg.stall_threshold,
        };
        let realtime = cfg.realtime && !opts.no_realtime;
        let (limits, flags) = lock_memory(realtime, &logger);
        let ping_nodes: Vec<PingNode> = cfg.pings.iter().map(|p| PingNode { name: p.name.clone(), addrs: p.addrs.clone() }).collect();
        let ping_names: Vec<String> = ping_nodes.iter().map(|p| p.name.clone()).collect();
        let icmp = open_pings(&ping_nodes)?;

        let now = time::now();
        let (status, status_warning) =
            StatusWriter::create(&opts.run_dir, &opts.node_name, &peers, &ping_names, &media.names, &timing, now)
                .map_err(|source| StartError::Status { path: opts.run_dir.clone(), source })?;
        if let Some(w) = status_warning {
            logger.warn(&w);
        }
        status.set_auth_weakness(keys.weakness());
        for w in super::config_warnings(&cfg, &keys) {
            logger.warn(&w);
        }
        let cluster = EngineConfig {
            cluster: cfg.cluster.clone(),
            self_name: opts.node_name.clone(),
            peers: peers.clone(),
            links: media.links.len(),
            timing,
            keys: Keyring::new(&keys),
            generation,
        };
        let (mut engine, pinger) = protocol(cluster, &ping_nodes, cfg.deadping, now);
        remember(&mut engine, &peers, &opts.state_dir, now, &logger);
        let names = Names {
            peers: peers.clone(),
            links: media.names.clone(),
            pings: ping_names,
            deadtime: cfg.deadtime,
            warntime: cfg.warntime,
            deadping: cfg.deadping,
        };
        let log_stop = Arc::new(AtomicBool::new(false));
        let (rtlog, log) = logging::spawn_log_thread(logger.clone(), names.clone(), log_stop.clone())
            .map_err(|source| StartError::Thread { what: "log", source })?;
        let ipc = start_ipc(&cfg, opts, names, &logger, open_fencer(&cfg, opts, &logger, realtime, limits)?)?;

        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(EventFd::new().map_err(|source| StartError::Thread { what: "rt", source })?);
        let mut petter = arm_watchdog(&cfg, opts, &logger)?;
        let wd_timeout_s = petter.as_ref().and_then(|p| p.timeout_s()).map_or(0, u64::from);
        self_fencing(&cfg, &opts.node_name, &mut engine, petter.as_mut(), wd_timeout_s, &logger);
        let crm = start_crm(&cfg, opts, ipc.apps.clone(), &logger)?;
        let rt_ctx = RtCtx {
            engine: Box::new(engine),
            pinger,
            icmp,
            links: media.links,
            port_slots,
            status,
            rtlog,
            events: ipc.events,
            ipc_wake: ipc.wake.clone(),
            wake: wake.clone(),
            stop: stop.clone(),
            stats: LoopStats { rt_flags: flags, wd_timeout_s, ..Default::default() },
            petter,
            apps: ipc.apps,
            ring_lost: 0,
            logger: logger.clone(),
        };
        let setup = RtSetup {
            choice: opts.backend,
            realtime,
            rtprio: cfg.rtprio,
            rtcpu: cfg.rtcpu,
            limits,
            hook: opts.rt_hook,
            rx_wakeup: cfg.rx_wakeup,
        };
        let (rt, ready) = spawn_rt(rt_ctx, setup)?;
        ready.notes.iter().for_each(|n| logger.warn(n));
        let (rt, ports_stop, ports) = start_keeper(media.keeper, &logger, &wake, &stop, rt)?;
        log_started(&logger, opts, &cfg, generation, peers.len(), &media.names.join(", "), &ready);
        Ok(Daemon {
            stop,
            wake,
            rt: Some(rt),
            ports_stop,
            ports_wake,
            ports,
            ipc_stop: ipc.stop,
            ipc_wake: ipc.wake,
            ipc: Some(ipc.thread),
            log_stop,
            log: Some(log),
            crm,
            logger,
            run_dir: opts.run_dir.clone(),
            backend: ready.backend,
            rt_flags: ready.rt_flags,
        })
    }
}

/// `crm on|respawn`: starts `hb-crmd` under its supervisor (nothing with `crm off`).
fn start_crm(cfg: &HaCf, opts: &Options, apps: Arc<AppShared>, logger: &Logger) -> Result<Option<super::crm::Supervisor>, StartError> {
    if cfg.crm == crate::config::CrmMode::Off {
        return Ok(None);
    }
    let err = |source| StartError::Thread { what: "crm", source };
    let exe = super::crm::crmd_path().map_err(err)?;
    let path = |p: &std::path::Path| p.display().to_string();
    let mut args = vec!["-c".into(), path(&opts.config_dir), "-r".into(), path(&opts.run_dir), "-n".into(), opts.node_name.clone()];
    // Below hbd's RT thread (and its fencing thread), above everything else: a takeover
    // must not wait behind a loaded machine's normal processes.
    if cfg.realtime && !opts.no_realtime {
        args.extend(["--rtprio".into(), cfg.rtprio.saturating_sub(10).max(1).to_string()]);
    }
    super::crm::Supervisor::start(cfg.crm, &exe, args, apps, logger.clone()).map(Some).map_err(err)
}

/// Opens every STONITH device this node runs (a bad one stops start-up, naming its line),
/// logs them, and says at what priority the fencing thread will run: one SCHED_FIFO
/// priority below the RT thread.
fn open_fencer(
    cfg: &HaCf,
    opts: &Options,
    logger: &Logger,
    realtime: bool,
    limits: Limits,
) -> Result<Option<(Fencer, Option<u8>, Limits)>, StartError> {
    Ok(Fencer::open(cfg, &opts.node_name)?.map(|mut f| {
        if let Ok(page) = crate::status::StatusReader::open(&opts.run_dir) {
            f.watch_page(page);
        }
        log_fencing(logger, &f);
        (f, realtime.then(|| cfg.rtprio.saturating_sub(1).max(1)), limits)
    }))
}

/// `stonith_watchdog`: advertise the watchdog's timeout in every heartbeat, and have the
/// petter stop for good once this node has lost the cluster, unless its name sorts first.
fn self_fencing(cfg: &HaCf, node: &str, engine: &mut Engine, petter: Option<&mut Petter>, timeout_s: u64, logger: &Logger) {
    let (Some(_), Some(p)) = (cfg.stonith.watchdog, petter) else { return };
    engine.set_watchdog_advert(u32::try_from(timeout_s * 1000).unwrap_or(u32::MAX));
    let winner = cfg.nodes.iter().min().is_some_and(|n| n == node);
    p.self_fence(!winner);
    logger.info(&format!(
        "watchdog self-fencing: advertising {timeout_s} s; {}",
        if winner {
            "this node's name sorts first: it survives a split and counts a silent peer off after twice the peer's timeout"
        } else {
            "this node resets itself (stops petting) if it loses every peer"
        }
    ));
}

/// One line per device, and a warning for each peer no device can fence.
fn log_fencing(logger: &Logger, f: &Fencer) {
    for d in f.device_status() {
        let forks = if d.forks { ", forks" } else { "" };
        let confirms = if d.confirms { "reads power back" } else { "cannot read power back" };
        logger.info(&format!("STONITH device {} ({}{forks}, {confirms}) fences: {}", d.name, d.kind, d.hosts.join(", ")));
    }
    for t in f.target_status().iter().filter(|t| t.levels.is_empty()) {
        logger.warn(&format!("STONITH: no device of this node can fence {}: its death will not be fenced", t.node));
    }
}

/// The one line that says hbd runs, and how.
fn log_started(logger: &Logger, opts: &Options, cfg: &HaCf, generation: u64, peers: usize, links: &str, ready: &Ready) {
    logger.info(&format!(
        "hbd started: node {} generation {generation}, {peers} peer(s), links [{links}], keepalive {} warntime {} deadtime {} initdead {}, backend {}, mlock {}, SCHED_FIFO {}, received packets {}",
        opts.node_name,
        cfg.keepalive,
        cfg.warntime,
        cfg.deadtime,
        cfg.initdead,
        ready.backend.name(),
        if ready.rt_flags & rt_flags::MLOCKED != 0 { "yes" } else { "no" },
        if ready.rt_flags & rt_flags::FIFO != 0 { format!("prio {}", cfg.rtprio) } else { "no".into() },
        if cfg.rx_wakeup { "wake the loop (rx_wakeup on)" } else { "drained on each tick (rx_wakeup off)" },
    ));
}
