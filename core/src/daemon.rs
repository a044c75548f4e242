//! Start-up, the real-time thread and its loop, and a clean stop.
//!
//! [`Daemon::start`] is a checked phase: read and validate the configuration, persist a new
//! generation, open every medium, check the real-time limits, create the status page, start
//! the log and IPC threads, then the RT thread — which sets its own scheduling, builds its
//! backend, reports back, and only then enters [`run_loop`]. Everything the loop uses is
//! allocated before it starts; the loop itself allocates nothing (`tests/zero_alloc.rs`).
//!
//! The loop, once per wake-up: read the clock; drain every socket into the engine; judge
//! deadlines; send heartbeats if due; forward events to the log and IPC rings; publish the
//! status page; sleep until the engine's next deadline.

use crate::auth::{load_authkeys, AuthKeys, Keyring};
use crate::backend::{Backend, Choice, EpollBackend, Kind, UringBackend, MAX_DESTS};
use crate::config::{facility_code, parse_ha_cf, ConfigError, HaCf};
use crate::engine::{Engine, EngineConfig};
use crate::ipc::{self, AllowList, AppShared, ServerCtx};
use crate::liveness::{Event, Timing};
use crate::logging::{self, LogConfig, LogMsg, Logger, Names, RtLog};
use crate::ping::{PingNode, Pinger};
use crate::ports::{Keeper, PortSlot};
use crate::status::{rt_flags, LoopStats, StatusWriter, WatchdogState};
use crate::sys::fd::{read_some, realtime_ns, tty_outq, EventFd, RecvBatch};
use crate::sys::seqpacket::SeqPacket;
use crate::time::{self, Nanos};
use crate::wire::Reject;
use crate::wire::MAX_HEARTBEAT;
use hb_media::frame::{self, Decoder};
use hb_media::raw::{self, open_raw, RawLink};
use hb_media::serial::{open_serial, SerialPort};
use hb_media::{open_udp, MediaError, UdpLink};
use socket2::SockAddr;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

/// How hbd was asked to run (command-line flags).
#[derive(Debug, Clone)]
pub struct Options {
    /// Holds `ha.cf` and `authkeys`.
    pub config_dir: PathBuf,
    /// This node's name.
    pub node_name: String,
    /// Status page and IPC socket.
    pub run_dir: PathBuf,
    /// The persisted generation.
    pub state_dir: PathBuf,
    /// Backend choice.
    pub backend: Choice,
    /// Log to standard error too.
    pub log_stderr: bool,
    /// Force real-time set-up off (`--no-realtime`), whatever `ha.cf` says.
    pub no_realtime: bool,
    /// Called on the RT thread just before its loop starts (tests mark the thread with it).
    pub rt_hook: Option<fn()>,
    /// Accept a `watchdog` path that is not a character device (a test emulator).
    pub watchdog_test_mode: bool,
}

/// Start-up failed; each variant names the step.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A configuration file is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A configuration file cannot be read.
    #[error("cannot read {path}")]
    ConfigUnreadable {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A run or state directory cannot be created, or other users could change it.
    #[error("cannot use {path} as the {what} directory")]
    Dir {
        /// "run" or "state".
        what: &'static str,
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The generation file cannot be read or written.
    #[error("cannot update the generation file {path}")]
    Generation {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A medium cannot be opened.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// io_uring was forced and is unavailable.
    #[error("io_uring backend unavailable")]
    Uring(#[from] crate::sys::uring::UringError),
    /// The epoll backend could not be set up.
    #[error("epoll backend set-up failed")]
    Epoll(#[source] io::Error),
    /// The watchdog cannot be opened or set up.
    #[error(transparent)]
    Watchdog(#[from] hb_watchdog::WatchdogError),
    /// The status page cannot be created.
    #[error("cannot create the status page in {path}")]
    Status {
        /// The run directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The IPC socket cannot be created.
    #[error("cannot listen on the IPC socket {path}")]
    Ipc {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A thread could not be spawned, or the RT thread died during set-up.
    #[error("starting the {what} thread failed")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// Reads and validates `ha.cf` and `authkeys` in `config_dir` for `node`.
pub fn load_config(config_dir: &Path, node: &str) -> Result<(HaCf, AuthKeys), StartError> {
    let hacf_path = config_dir.join("ha.cf");
    let text =
        crate::files::read_config(&hacf_path, false).map_err(|source| StartError::ConfigUnreadable { path: hacf_path.clone(), source })?;
    let cfg = parse_ha_cf(&text, &hacf_path)?;
    cfg.validate_for(node)?;
    let keys_path = config_dir.join("authkeys");
    if !keys_path.exists() {
        return Err(StartError::ConfigUnreadable { path: keys_path, source: io::Error::from(io::ErrorKind::NotFound) });
    }
    let keys = load_authkeys(&keys_path)?;
    // Heartbeats are signed with the active key (`auth N`).
    let mac_len = keys.keys[usize::from(keys.active)].as_ref().map_or(crate::auth::MAX_MAC, |(m, _)| m.mac_len());
    cfg.check_serial_budget(crate::wire::max_heartbeat_len(mac_len))?;
    Ok((cfg, keys))
}

/// The host name, hbd's default node name (heartbeat uses `uname -n`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "localhost".into())
}

/// Reads the last generation, writes (and fsyncs) the next: `max(last + 1, unix seconds)`, so
/// a node whose state directory was lost still starts above its previous generation as long as
/// its clock is sane.
pub fn next_generation(state_dir: &Path) -> Result<u64, StartError> {
    let path = state_dir.join("generation");
    let err = |source| StartError::Generation { path: path.clone(), source };
    let last = match std::fs::read_to_string(&path) {
        Ok(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| err(io::Error::new(io::ErrorKind::InvalidData, format!("{:?} is not a number", s.trim()))))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(err(e)),
    };
    // The wall clock only as a floor for a lost state directory, never to judge time.
    #[allow(clippy::disallowed_methods)]
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let next = (last + 1).max(wall);
    let tmp = state_dir.join(".generation.new");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        writeln!(f, "{next}").map_err(err)?;
        f.sync_all().map_err(err)?;
    }
    std::fs::rename(&tmp, &path).map_err(err)?;
    Ok(next)
}

/// The RT thread's stack size.
const RT_STACK: usize = 512 * 1024;

/// What the RT thread reports once set up.
struct Ready {
    backend: Kind,
    rt_flags: u64,
    notes: Vec<String>,
}

/// A running hbd.
pub struct Daemon {
    stop: Arc<AtomicBool>,
    wake: Arc<EventFd>,
    rt: Option<JoinHandle<()>>,
    /// The serial-port keeper (only with serial links); stopped after the RT thread.
    ports_stop: Arc<AtomicBool>,
    ports_wake: Option<Arc<EventFd>>,
    ports: Option<JoinHandle<()>>,
    ipc_stop: Arc<AtomicBool>,
    ipc_wake: Arc<EventFd>,
    ipc: Option<JoinHandle<()>>,
    log_stop: Arc<AtomicBool>,
    log: Option<JoinHandle<()>>,
    logger: Logger,
    run_dir: PathBuf,
    /// The backend the loop runs on.
    pub backend: Kind,
    /// Real-time features granted ([`rt_flags`]).
    pub rt_flags: u64,
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
        for (what, dir) in [("run", &opts.run_dir), ("state", &opts.state_dir)] {
            crate::files::private_dir(dir).map_err(|source| StartError::Dir { what, path: dir.clone(), source })?;
        }
        let generation = next_generation(&opts.state_dir)?;

        let local = hb_media::local_addresses();
        let specs = cfg.udp_links(&local)?;
        if specs.is_empty() && cfg.serial.is_empty() && cfg.raw.is_empty() {
            return Err(ConfigError {
                file: cfg.file.clone(),
                line: 0,
                what: "every medium names only this node's own addresses; nothing to send to".into(),
            }
            .into());
        }
        let mut links: Vec<RtLink> = Vec::with_capacity(specs.len() + cfg.raw.len() + cfg.serial.len());
        let mut link_names: Vec<String> = specs.iter().map(|s| s.name()).collect();
        for s in &specs {
            let l = open_udp(s)?;
            if l.dests.len() > MAX_DESTS {
                return Err(
                    ConfigError { file: cfg.file.clone(), line: 0, what: format!("{} has more than {MAX_DESTS} peers", s.name()) }.into()
                );
            }
            for w in &l.warnings {
                logger.warn(w);
            }
            links.push(RtLink::Udp(l));
        }
        for r in &cfg.raw {
            let l = open_raw(&r.spec)?;
            links.push(RtLink::Raw(l));
            link_names.push(r.spec.name());
        }
        let mut ports: Vec<SerialPort> = Vec::with_capacity(cfg.serial.len());
        for s in &cfg.serial {
            let port = open_serial(&s.spec)?;
            logger.info(&format!(
                "{} open at {} baud, 8N1, raw{}",
                s.spec.name(),
                s.spec.baud,
                port.lock_file().map_or_else(String::new, |l| format!(", locked ({})", l.display()))
            ));
            links.push(RtLink::Serial(SerialRt { fd: port.fd(), decoder: Box::new(Decoder::new()), gone: false, slot: ports.len() }));
            link_names.push(s.spec.name());
            ports.push(port);
        }
        let keeper =
            if ports.is_empty() { None } else { Some(Keeper::new(ports).map_err(|source| StartError::Thread { what: "ports", source })?) };
        let ports_wake = keeper.as_ref().map(Keeper::waker);
        let port_slots: Arc<[PortSlot]> = keeper.as_ref().map_or_else(|| Arc::from(Vec::new()), Keeper::slots);
        let peers: Vec<String> = cfg.nodes.iter().filter(|n| **n != opts.node_name).cloned().collect();
        let timing = Timing {
            keepalive: cfg.keepalive,
            warntime: cfg.warntime,
            deadtime: cfg.deadtime,
            initdead: cfg.initdead,
            stall_threshold: cfg.stall_threshold,
        };

        // Real time, part 1 (process-wide): check the limits first, then lock memory.
        let realtime = cfg.realtime && !opts.no_realtime;
        let limits = hb_realtime::check_limits();
        let mut flags = 0;
        if realtime {
            match hb_realtime::lock_memory(&limits) {
                Ok(()) => flags |= rt_flags::MLOCKED,
                Err(e) => logger.warn(&format!("running degraded: {e}: {}", e.source_text())),
            }
        }

        // Ping pseudo-members: one raw ICMP socket per family in use.
        let ping_nodes: Vec<PingNode> = cfg.pings.iter().map(|p| PingNode { name: p.name.clone(), addrs: p.addrs.clone() }).collect();
        let ping_names: Vec<String> = ping_nodes.iter().map(|p| p.name.clone()).collect();
        let mut icmp: Vec<IcmpRt> = Vec::new();
        for v6 in [false, true] {
            let targets: Vec<(SockAddr, usize)> = crate::ping::targets(&ping_nodes)
                .iter()
                .enumerate()
                .filter(|(_, (a, _))| a.is_ipv6() == v6)
                .map(|(t, (a, _))| (SockAddr::from(std::net::SocketAddr::new(*a, 0)), t))
                .collect();
            if !targets.is_empty() {
                icmp.push(IcmpRt { socket: hb_media::ping::open_icmp(v6)?, v6, targets });
            }
        }

        let now = time::now();
        let (status, status_warning) = StatusWriter::create(&opts.run_dir, &opts.node_name, &peers, &ping_names, &link_names, &timing, now)
            .map_err(|source| StartError::Status { path: opts.run_dir.clone(), source })?;
        if let Some(w) = status_warning {
            logger.warn(&w);
        }
        let engine = Engine::new(
            EngineConfig {
                cluster: cfg.cluster.clone(),
                self_name: opts.node_name.clone(),
                peers: peers.clone(),
                links: links.len(),
                timing,
                keys: Keyring::new(&keys),
                generation,
            },
            now,
        );

        let pinger = (!ping_nodes.is_empty()).then(|| {
            let t = Timing { deadtime: cfg.deadping, warntime: Nanos(cfg.deadping.0 / 2), ..timing };
            // Our echoes' identifier: different for each start, so a predecessor's late
            // replies are not taken for ours.
            Pinger::new(&ping_nodes, t, (generation as u16) ^ (std::process::id() as u16), now)
        });
        let names = Names {
            peers: peers.clone(),
            links: link_names.clone(),
            pings: ping_names.clone(),
            deadtime: cfg.deadtime,
            warntime: cfg.warntime,
            deadping: cfg.deadping,
        };
        let log_stop = Arc::new(AtomicBool::new(false));
        let (rtlog, log) = logging::spawn_log_thread(logger.clone(), names.clone(), log_stop.clone())
            .map_err(|source| StartError::Thread { what: "log", source })?;

        let sock_path = opts.run_dir.join(ipc::SOCKET_NAME);
        let allow = AllowList::new(&cfg.apiauth);
        // The socket file lets exactly the allowed users reach it; each connection's
        // credentials are still checked (AllowList::allows).
        let (sock_group, sock_mode) = allow.socket_access();
        let listener = SeqPacket::listen(&sock_path, sock_mode).map_err(|source| StartError::Ipc { path: sock_path.clone(), source })?;
        if let Some(g) = sock_group {
            nix::unistd::chown(&sock_path, None, Some(nix::unistd::Gid::from_raw(g)))
                .map_err(|e| StartError::Ipc { path: sock_path.clone(), source: e.into() })?;
        }
        let (ev_prod, ev_cons) = rtrb::RingBuffer::<Event>::new(ipc::EVENT_RING);
        let ipc_wake = Arc::new(EventFd::new().map_err(|source| StartError::Thread { what: "ipc", source })?);
        let ipc_stop = Arc::new(AtomicBool::new(false));
        let apps = Arc::new(AppShared::default());
        let ipc = ipc::spawn_server(
            listener,
            ev_cons,
            ipc_wake.clone(),
            ipc_stop.clone(),
            ServerCtx {
                names,
                allow,
                logger: logger.clone(),
                node: opts.node_name.clone(),
                apps: apps.clone(),
                status: crate::status::StatusReader::open(&opts.run_dir).ok(),
            },
        )
        .map_err(|source| StartError::Thread { what: "ipc", source })?;

        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(EventFd::new().map_err(|source| StartError::Thread { what: "rt", source })?);
        // INVARIANT: the watchdog is opened (armed) after every other fallible step of
        // start-up, and the RT thread disarms it if its own set-up fails: a configuration or
        // start-up error must never leave an armed watchdog behind to reset the node.
        let wd = match &cfg.watchdog {
            Some(path) => {
                let o = hb_watchdog::OpenOptions {
                    timeout: Some(cfg.watchdog_timeout),
                    pretimeout: None,
                    allow_non_chardev: opts.watchdog_test_mode,
                };
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
                Some(wd)
            }
            None => None,
        };
        let (ready_tx, ready_rx) = mpsc::channel::<Result<Ready, StartError>>();
        let rt_ctx = RtCtx {
            engine,
            pinger,
            icmp,
            links,
            port_slots,
            status,
            rtlog,
            events: ev_prod,
            ipc_wake: ipc_wake.clone(),
            wake: wake.clone(),
            stop: stop.clone(),
            stats: LoopStats {
                rt_flags: flags,
                wd_timeout_s: wd.as_ref().and_then(|w| w.timeout()).map_or(0, u64::from),
                ..Default::default()
            },
            wd,
            wd_interval: cfg.watchdog_interval,
            wd_policy: hb_watchdog::decision::Policy {
                require_crm: cfg.watchdog_require_crm,
                apphb_is_fatal: cfg.apphb_watchdog,
                ..hb_watchdog::decision::Policy::default()
            },
            apps,
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
        let rt = std::thread::Builder::new()
            .name("hbd-rt".into())
            // Every byte of a thread stack is locked (mlockall); the RT thread prefaults 256 KiB
            // of this and never needs more.
            .stack_size(RT_STACK)
            .spawn(move || rt_thread(rt_ctx, setup, ready_tx))
            .map_err(|source| StartError::Thread { what: "rt", source })?;
        let ready = match ready_rx.recv() {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let _ = rt.join();
                return Err(e);
            }
            Err(_) => return Err(StartError::Thread { what: "rt", source: io::Error::other("the RT thread died during set-up") }),
        };
        for n in &ready.notes {
            logger.warn(n);
        }
        let ports_stop = Arc::new(AtomicBool::new(false));
        let ports = match keeper.map(|k| k.spawn(logger.clone(), wake.clone(), ports_stop.clone())).transpose() {
            Ok(h) => h,
            Err(source) => {
                stop.store(true, Ordering::Release);
                wake.notify();
                let _ = rt.join();
                return Err(StartError::Thread { what: "ports", source });
            }
        };
        logger.info(&format!(
            "hbd started: node {} generation {generation}, {} peer(s), links [{}], keepalive {} warntime {} deadtime {} initdead {}, backend {}, mlock {}, SCHED_FIFO {}, received packets {}",
            opts.node_name,
            peers.len(),
            link_names.join(", "),
            cfg.keepalive,
            cfg.warntime,
            cfg.deadtime,
            cfg.initdead,
            ready.backend.name(),
            if ready.rt_flags & rt_flags::MLOCKED != 0 { "yes" } else { "no" },
            if ready.rt_flags & rt_flags::FIFO != 0 { format!("prio {}", cfg.rtprio) } else { "no".into() },
            if cfg.rx_wakeup { "wake the loop (rx_wakeup on)" } else { "drained on each tick (rx_wakeup off)" },
        ));
        Ok(Daemon {
            stop,
            wake,
            rt: Some(rt),
            ports_stop,
            ports_wake,
            ports,
            ipc_stop,
            ipc_wake,
            ipc: Some(ipc),
            log_stop,
            log: Some(log),
            logger,
            run_dir: opts.run_dir.clone(),
            backend: ready.backend,
            rt_flags: ready.rt_flags,
        })
    }

    /// Handles signals until SIGTERM or SIGINT arrives, and returns its name. SIGHUP does not
    /// stop hbd (heartbeat users send it to reload): the configuration is not re-read, and the
    /// log says so. SIGUSR1 / SIGUSR2 raise / lower the `debug` level, as in heartbeat.
    pub fn wait_for_stop(&self) -> &'static str {
        use crate::sys::signals::{name, wait, HANDLED};
        loop {
            let sig = wait(&HANDLED);
            match sig {
                libc::SIGUSR1 | libc::SIGUSR2 => {
                    let l = self.logger.debug_level();
                    let n = if sig == libc::SIGUSR1 { l.saturating_add(1) } else { l.saturating_sub(1) };
                    self.logger.set_debug_level(n);
                    self.logger.info(&format!("{}: debug level {l} -> {n}", name(sig)));
                }
                libc::SIGHUP => self.logger.warn("SIGHUP: configuration reload is not implemented; hbd keeps running with the configuration it started with (restart it to apply changes)"),
                _ => return name(sig),
            }
        }
    }

    /// The logger, for the main thread's own messages.
    pub fn logger(&self) -> &Logger {
        &self.logger
    }

    /// Stops cleanly: ends the loop, then the IPC and log threads; removes the socket and page.
    pub fn stop(mut self, why: &str) {
        self.logger.info(&format!("stopping ({why})"));
        self.stop.store(true, Ordering::Release);
        self.wake.notify();
        if let Some(h) = self.rt.take() {
            let _ = h.join();
        }
        // The loop no longer uses the ports: the keeper closes them (and their lock files).
        self.ports_stop.store(true, Ordering::Release);
        if let Some(w) = &self.ports_wake {
            w.notify();
        }
        if let Some(h) = self.ports.take() {
            let _ = h.join();
        }
        self.ipc_stop.store(true, Ordering::Release);
        self.ipc_wake.notify();
        if let Some(h) = self.ipc.take() {
            let _ = h.join();
        }
        let _ = std::fs::remove_file(self.run_dir.join(ipc::SOCKET_NAME));
        StatusWriter::remove(&self.run_dir);
        self.logger.info("stopped");
        self.log_stop.store(true, Ordering::Release);
        if let Some(h) = self.log.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

/// Blocks the signals [`Daemon::wait_for_stop`] handles, in the calling thread (call before
/// spawning any thread, so every thread inherits the mask).
pub fn block_signals() {
    crate::sys::signals::block(&crate::sys::signals::HANDLED);
}

/// An error and its sources, as one line: `what failed: why: why`.
pub fn error_text(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

trait SourceText {
    fn source_text(&self) -> String;
}

impl<E: std::error::Error> SourceText for E {
    fn source_text(&self) -> String {
        self.source().map(|s| s.to_string()).unwrap_or_default()
    }
}

/// A link as the RT loop drives it.
enum RtLink {
    /// A UDP socket and its destinations.
    Udp(UdpLink),
    /// A raw Ethernet (AF_PACKET) socket, its frame header and broadcast destination.
    Raw(RawLink),
    /// A serial port's fd and its frame decoder.
    Serial(SerialRt),
}

impl RtLink {
    fn fd(&self) -> RawFd {
        match self {
            RtLink::Udp(l) => l.socket.as_raw_fd(),
            RtLink::Raw(l) => l.socket.as_raw_fd(),
            RtLink::Serial(s) => s.fd,
        }
    }
}

/// A raw ICMP socket of the ping pseudo-members and the addresses it pings.
struct IcmpRt {
    socket: socket2::Socket,
    v6: bool,
    /// Destinations (port 0) and their index in the pinger's targets.
    targets: Vec<(SockAddr, usize)>,
}

/// A serial link's loop-side state.
struct SerialRt {
    /// The port's fd (owned by the [`Keeper`] thread's `SerialPort`).
    fd: RawFd,
    /// Its hand-over slot in `RtCtx::port_slots`.
    slot: usize,
    /// Reassembles frames across reads (boxed: its buffer is larger than the rest of a link).
    decoder: Box<Decoder>,
    /// The port hung up or failed; no more reads or writes.
    gone: bool,
}

/// Everything the RT thread owns.
struct RtCtx {
    engine: Engine,
    /// Ping pseudo-members, when `ha.cf` has any.
    pinger: Option<Pinger>,
    /// Their sockets: fds after the links' in the backend.
    icmp: Vec<IcmpRt>,
    links: Vec<RtLink>,
    /// Hand-over of serial ports with the keeper thread, which owns them.
    port_slots: Arc<[PortSlot]>,
    status: StatusWriter,
    rtlog: RtLog,
    events: rtrb::Producer<Event>,
    ipc_wake: Arc<EventFd>,
    wake: Arc<EventFd>,
    stop: Arc<AtomicBool>,
    stats: LoopStats,
    wd: Option<hb_watchdog::Watchdog>,
    wd_interval: Nanos,
    wd_policy: hb_watchdog::decision::Policy,
    apps: Arc<AppShared>,
    /// Events the IPC ring had no room for.
    ring_lost: u64,
    /// For set-up and tear-down messages only; never used inside the loop.
    logger: Logger,
}

impl RtCtx {
    /// Disarms the watchdog (magic close), logging the outcome. Not for the loop.
    fn disarm_watchdog(&mut self, why: &str) {
        if let Some(wd) = self.wd.take() {
            let path = wd.path().display().to_string();
            match wd.disarm() {
                Ok(true) => self.logger.info(&format!("watchdog {path} disarmed ({why})")),
                Ok(false) => self.logger.warn(&format!("watchdog {path}: magic close sent ({why}), but the driver does not promise WDIOF_MAGICCLOSE; it may still reset the node")),
                Err(e) => self.logger.error(&format!("{e}: {}", e.source_text())),
            }
        }
    }
}

/// How the RT thread sets itself up.
struct RtSetup {
    choice: Choice,
    realtime: bool,
    rtprio: u8,
    rtcpu: Option<usize>,
    limits: hb_realtime::Limits,
    hook: Option<fn()>,
    rx_wakeup: bool,
}

fn rt_thread(mut ctx: RtCtx, setup: RtSetup, ready: mpsc::Sender<Result<Ready, StartError>>) {
    let RtSetup { choice, realtime, rtprio, rtcpu, limits, hook, rx_wakeup } = setup;
    let mut notes = Vec::new();
    // Real time, part 2 (this thread): pin, slack, prefault, then the policy.
    // INVARIANT: SCHED_FIFO is set last, after everything that may fault or allocate.
    if let Some(cpu) = rtcpu {
        match hb_realtime::pin_to_cpu(cpu) {
            Ok(()) => ctx.stats.rt_flags |= rt_flags::PINNED,
            Err(e) => notes.push(format!("running degraded: {e}: {}", e.source_text())),
        }
    }
    if realtime {
        if let Err(e) = hb_realtime::set_timer_slack(1) {
            notes.push(format!("{e}: {}", e.source_text()));
        }
        hb_realtime::prefault_stack(256 * 1024);
        match hb_realtime::set_fifo(rtprio, &limits) {
            Ok(()) => ctx.stats.rt_flags |= rt_flags::FIFO,
            Err(e) => notes.push(format!("running degraded at normal priority: {e}: {} ({limits})", e.source_text())),
        }
    } else {
        notes.push("realtime is off: the heartbeat thread runs at normal priority without locked memory".into());
    }
    let socks: Vec<RawFd> =
        ctx.links.iter().map(RtLink::fd).chain(ctx.icmp.iter().map(|i| std::os::fd::AsRawFd::as_raw_fd(&i.socket))).collect();
    // Serial ports always wake the loop: they have no kernel arrival stamp, so a frame is
    // timed when it is read. (A UART interrupts every few bytes, not every byte.)
    let watch: Vec<bool> =
        ctx.links.iter().map(|l| rx_wakeup || matches!(l, RtLink::Serial(_))).chain(ctx.icmp.iter().map(|_| rx_wakeup)).collect();
    let wake = ctx.wake.as_raw_fd();
    match choice {
        Choice::Uring | Choice::Auto => match UringBackend::new(&socks, &watch, wake) {
            Ok(b) => {
                let _ = ready.send(Ok(Ready { backend: Kind::Uring, rt_flags: ctx.stats.rt_flags, notes }));
                ctx.stats.backend = Kind::Uring;
                if let Some(h) = hook {
                    h();
                }
                run_loop(b, &mut ctx);
                ctx.disarm_watchdog("clean stop");
            }
            Err(e) if choice == Choice::Auto => {
                notes.push(format!("{e}: {}; falling back to epoll", e.source_text()));
                start_epoll(ctx, &socks, &watch, wake, notes, hook, ready)
            }
            Err(e) => {
                ctx.disarm_watchdog("start-up failed");
                let _ = ready.send(Err(e.into()));
            }
        },
        Choice::Epoll => start_epoll(ctx, &socks, &watch, wake, notes, hook, ready),
    }
}

fn start_epoll(
    mut ctx: RtCtx,
    socks: &[RawFd],
    watch: &[bool],
    wake: RawFd,
    notes: Vec<String>,
    hook: Option<fn()>,
    ready: mpsc::Sender<Result<Ready, StartError>>,
) {
    match EpollBackend::new(socks, watch, wake) {
        Ok(b) => {
            let _ = ready.send(Ok(Ready { backend: Kind::Epoll, rt_flags: ctx.stats.rt_flags, notes }));
            ctx.stats.backend = Kind::Epoll;
            if let Some(h) = hook {
                h();
            }
            run_loop(b, &mut ctx);
            ctx.disarm_watchdog("clean stop");
        }
        Err(e) => {
            ctx.disarm_watchdog("start-up failed");
            let _ = ready.send(Err(StartError::Epoll(e)));
        }
    }
}

/// At most one "dropped a packet" log record per link per this interval.
const REJECT_LOG_INTERVAL: Nanos = Nanos::from_millis(1000);

/// Logs a failed send, at most once per link per [`REJECT_LOG_INTERVAL`] (a cut cable fails
/// every keepalive; the counters in the status page keep the full count).
fn tx_error_log(rtlog: &mut RtLog, last: &mut [Nanos; crate::config::MAX_LINKS], link: usize, errno: i32) {
    let now = time::now();
    if now >= last[link].add(REJECT_LOG_INTERVAL) {
        last[link] = now;
        rtlog.push(now, LogMsg::TxError { link: link as u8, errno });
    }
}

/// Logs a dropped packet on `link`, at most once per [`REJECT_LOG_INTERVAL`] (the counters on
/// the status page keep the full count).
fn log_reject(engine: &Engine, rtlog: &mut RtLog, last: &mut Nanos, link: usize, reason: Reject, now: Nanos) {
    if now >= last.add(REJECT_LOG_INTERVAL) {
        *last = now;
        let total = engine.link_counters(link).rejected();
        rtlog.push(now, LogMsg::Rejected { link: link as u8, reason, total });
    }
}

/// Reads everything a serial port has, hands each complete frame's packet to the engine
/// (arrival: `now`, as ttys carry no stamp), counts and logs (rate-limited) bad frames, and
/// retires a port that hung up or failed.
#[allow(clippy::too_many_arguments)]
fn drain_serial<B: Backend>(
    i: usize,
    s: &mut SerialRt,
    slot: &PortSlot,
    rx: &mut [u8],
    now: Nanos,
    engine: &mut Engine,
    rtlog: &mut RtLog,
    last_log: &mut Nanos,
    backend: &mut B,
) {
    loop {
        let n = match read_some(s.fd, rx) {
            Ok(0) => {
                s.gone = true;
                backend.unwatch(i);
                slot.give_up();
                rtlog.push(now, LogMsg::PortGone { link: i as u8, errno: 0 });
                rtlog.flush_soon();
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                s.gone = true;
                backend.unwatch(i);
                slot.give_up();
                rtlog.push(now, LogMsg::PortGone { link: i as u8, errno: e.raw_os_error().unwrap_or(0) });
                rtlog.flush_soon();
                return;
            }
        };
        s.decoder.push(&rx[..n], |r| match r {
            Ok(pkt) => {
                if let Err(reason) = engine.receive(i, pkt, now) {
                    log_reject(engine, rtlog, last_log, i, reason, now);
                }
            }
            Err(what) => {
                engine.count_reject(i, Reject::BadFrame);
                if now >= last_log.add(REJECT_LOG_INTERVAL) {
                    *last_log = now;
                    let total = engine.link_counters(i).rejects[Reject::BadFrame as usize];
                    rtlog.push(now, LogMsg::BadFrame { link: i as u8, what, total });
                }
            }
        });
    }
}

/// The RT loop. Allocation-free: every buffer is on this frame or in `ctx`.
fn run_loop<B: Backend>(mut backend: B, ctx: &mut RtCtx) {
    let mut rx = [0u8; 2048];
    let mut batch = RecvBatch::new();
    let mut tx = [0u8; MAX_HEARTBEAT];
    // A serial frame or an Ethernet frame around one heartbeat.
    let mut framed = [0u8; frame::framed_len(MAX_HEARTBEAT) + raw::HEADER_LEN];
    let mut last_reject_log = [Nanos::ZERO; crate::config::MAX_LINKS];
    let mut last_tx_log = [Nanos::ZERO; crate::config::MAX_LINKS];
    let mut deadline = time::now();
    let mut last_drain = deadline;
    let mut next_pet = deadline;
    let mut withholding = false;
    let nlinks = ctx.links.len();
    let mut echo = [0u8; hb_media::ping::ECHO_LEN];
    loop {
        let planned = deadline;
        let (engine, rtlog, txlog) = (&mut ctx.engine, &mut ctx.rtlog, &mut last_tx_log);
        let woken = match backend.wait(deadline, &mut |link, errno| {
            // Past the links are the ping sockets: a ping that cannot go out shows as the
            // ping node's death, not as a link error.
            if link < nlinks {
                engine.tx_failed(link);
                tx_error_log(rtlog, txlog, link, errno);
            }
        }) {
            Ok(w) => w,
            Err(e) => {
                rtlog.push(time::now(), LogMsg::LoopError { errno: e.raw_os_error().unwrap_or(0) });
                false
            }
        };
        if woken {
            ctx.wake.drain();
        }
        let now = time::now();
        // Kernel receive stamps are CLOCK_REALTIME; convert with the offset read now. A wall
        // clock step between a packet's arrival and now could skew the conversion, so the
        // result is clamped to when it can have arrived: after the previous drain, by now.
        let offset = i128::from(realtime_ns()) - i128::from(now.0);
        let arrival = |stamp: Option<u64>| {
            stamp.map_or(now, |s| Nanos((i128::from(s) - offset).clamp(i128::from(last_drain.0), i128::from(now.0)) as u64))
        };
        // INVARIANT: every packet already received is processed before deadlines are judged.
        for (i, l) in ctx.links.iter_mut().enumerate() {
            match l {
                RtLink::Udp(_) | RtLink::Raw(_) => {
                    let fd = l.fd();
                    let ethertype = if let RtLink::Raw(r) = l { Some(r.ethertype) } else { None };
                    batch.drain(fd, |d| {
                        let result = match ethertype {
                            None => ctx.engine.receive(i, d.data, arrival(d.stamp)).map(|_| ()),
                            Some(et) => match raw::parse_frame(d.data, et) {
                                Some(payload) => ctx.engine.receive(i, payload, arrival(d.stamp)).map(|_| ()),
                                None => {
                                    ctx.engine.count_reject(i, Reject::BadFrame);
                                    Err(Reject::BadFrame)
                                }
                            },
                        };
                        if let Err(reason) = result {
                            log_reject(&ctx.engine, &mut ctx.rtlog, &mut last_reject_log[i], i, reason, now);
                        }
                    });
                }
                RtLink::Serial(s) => {
                    let slot = &ctx.port_slots[s.slot];
                    if s.gone {
                        // The keeper may have reopened it.
                        if let Some(fd) = slot.take_back() {
                            s.fd = fd;
                            s.gone = false;
                            s.decoder.reset();
                            backend.rewatch(i, fd);
                            ctx.rtlog.push(now, LogMsg::PortBack { link: i as u8 });
                        }
                    }
                    if !s.gone {
                        drain_serial(i, s, slot, &mut rx, now, &mut ctx.engine, &mut ctx.rtlog, &mut last_reject_log[i], &mut backend);
                    }
                }
            }
        }
        if let Some(pg) = ctx.pinger.as_mut() {
            for ic in &ctx.icmp {
                batch.drain(std::os::fd::AsRawFd::as_raw_fd(&ic.socket), |d| {
                    if let Some(r) = hb_media::ping::parse_echo_reply(ic.v6, d.data, d.from, pg.ident()) {
                        pg.receive(&r, arrival(d.stamp));
                    }
                });
            }
            pg.poll(now, Some(planned));
        }
        last_drain = now;
        ctx.engine.poll(now);
        if let Some(wd) = ctx.wd.as_mut() {
            if now >= next_pet {
                use hb_watchdog::decision::{decide, Health, Verdict};
                let crm = ctx.apps.crm_last_seen.load(Ordering::Relaxed);
                // may_run_resources: always true until fencing and quorum exist to say otherwise.
                let health = Health {
                    now: now.0,
                    loop_lateness: now.sub(next_pet).0,
                    crm_last_seen: (crm != 0).then_some(crm),
                    may_run_resources: true,
                    apphb_failed: ctx.apps.failed.load(Ordering::Relaxed),
                };
                match decide(&ctx.wd_policy, &health) {
                    Verdict::Pet => {
                        match wd.pet_raw() {
                            Ok(()) => {
                                ctx.stats.wd_pets += 1;
                                ctx.stats.wd_last_pet = now.0;
                            }
                            Err(e) => ctx.rtlog.push(now, LogMsg::WatchdogPetFailed { errno: e.raw_os_error().unwrap_or(0) }),
                        }
                        if withholding {
                            withholding = false;
                            ctx.rtlog.push(now, LogMsg::WatchdogResumed);
                        }
                    }
                    Verdict::Withhold(reason) => {
                        if !withholding {
                            withholding = true;
                            ctx.rtlog.push(now, LogMsg::WatchdogWithheld { reason });
                            ctx.rtlog.flush_soon();
                        }
                    }
                }
                ctx.stats.wd_state = if withholding { WatchdogState::Withholding } else { WatchdogState::Petting };
                next_pet = next_pet.add(ctx.wd_interval);
                if next_pet <= now {
                    next_pet = now.add(ctx.wd_interval);
                }
            }
        }
        if ctx.engine.tx_due(now) {
            for (i, l) in ctx.links.iter().enumerate() {
                match l {
                    RtLink::Udp(u) => {
                        for (d, dest) in u.dests.iter().enumerate() {
                            let n = ctx.engine.build_heartbeat(i, now, &mut tx);
                            if let Err(errno) = backend.send(i, d, dest, &tx[..n]) {
                                ctx.engine.tx_failed(i);
                                tx_error_log(&mut ctx.rtlog, &mut last_tx_log, i, errno);
                            }
                        }
                    }
                    RtLink::Raw(r) => {
                        let n = ctx.engine.build_heartbeat(i, now, &mut tx);
                        let sent = match raw::build_frame(&r.header, &tx[..n], &mut framed) {
                            Some(f) => backend.send(i, 0, &r.dest, &framed[..f]),
                            None => Err(libc::EMSGSIZE),
                        };
                        if let Err(errno) = sent {
                            ctx.engine.tx_failed(i);
                            tx_error_log(&mut ctx.rtlog, &mut last_tx_log, i, errno);
                        }
                    }
                    RtLink::Serial(s) => {
                        if s.gone {
                            continue;
                        }
                        let n = ctx.engine.build_heartbeat(i, now, &mut tx);
                        let sent = match frame::encode(&tx[..n], &mut framed) {
                            // A heartbeat still queued behind the previous one would only tell
                            // the peer old news late: skip this one (ENOBUFS) instead.
                            Some(f) => match tty_outq(s.fd) {
                                Ok(q) if q >= f => Err(libc::ENOBUFS),
                                _ => backend.write(i, &framed[..f]),
                            },
                            None => Err(libc::EMSGSIZE),
                        };
                        if let Err(errno) = sent {
                            ctx.engine.tx_failed(i);
                            tx_error_log(&mut ctx.rtlog, &mut last_tx_log, i, errno);
                        }
                    }
                }
            }
            if let Some(pg) = ctx.pinger.as_mut() {
                pg.next_round();
                for (k, ic) in ctx.icmp.iter().enumerate() {
                    for (d, (dest, t)) in ic.targets.iter().enumerate() {
                        pg.echo(*t, now, &mut echo);
                        // A failure (no route while a link is down) shows as the ping node's death.
                        let _ = backend.send(nlinks + k, d, dest, &echo);
                    }
                }
            }
            ctx.engine.tx_done(now);
        }
        let mut notify = false;
        while let Some(ev) = ctx.engine.pop_event().or_else(|| ctx.pinger.as_mut().and_then(Pinger::pop_event)) {
            ctx.rtlog.push(now, LogMsg::Event(ev));
            // A full IPC ring: the event is still logged, and counted as lost for subscribers.
            if ctx.events.push(ev).is_err() {
                ctx.ring_lost += 1;
            }
            notify = true;
        }
        let lost = ctx.ring_lost + ctx.engine.events_dropped();
        if lost != ctx.apps.events_lost.load(Ordering::Relaxed) {
            ctx.apps.events_lost.store(lost, Ordering::Relaxed);
            notify = true;
        }
        if notify {
            ctx.ipc_wake.notify();
            ctx.rtlog.flush_soon();
        }
        ctx.stats.iterations += 1;
        ctx.stats.log_dropped = ctx.rtlog.dropped();
        let stopping = ctx.stop.load(Ordering::Acquire);
        ctx.stats.stopping = stopping;
        ctx.status.publish(&ctx.engine, ctx.pinger.as_ref(), now, &ctx.stats);
        if stopping {
            break;
        }
        deadline = ctx.engine.next_deadline();
        if let Some(pg) = &ctx.pinger {
            deadline = deadline.min(pg.poll_at());
        }
        if ctx.wd.is_some() {
            deadline = deadline.min(next_pet);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_persisted_and_increases() {
        let dir = std::env::temp_dir().join(format!("hb-gen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = next_generation(&dir).unwrap();
        let b = next_generation(&dir).unwrap();
        assert!(b > a);
        std::fs::write(dir.join("generation"), format!("{}\n", u64::MAX / 2)).unwrap();
        assert_eq!(next_generation(&dir).unwrap(), u64::MAX / 2 + 1);
        std::fs::write(dir.join("generation"), "junk").unwrap();
        assert!(next_generation(&dir).unwrap_err().source_text().contains("\"junk\" is not a number"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
