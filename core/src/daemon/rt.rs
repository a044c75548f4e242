//! The real-time thread: its own set-up (pinning, timer slack, prefaulting, SCHED_FIFO, the
//! backend) and [`Loop`], whose iteration reads as ARCHITECTURE.md says it: wait, drain, poll,
//! pet, send, publish.

use super::icmp::IcmpRt;
use super::link::{log_tx_error, RtLink, Rx, Tx};
use super::petter::Petter;
use super::StartError;
use crate::backend::{Backend, Choice, EpollBackend, Kind, UringBackend};
use crate::config::MAX_LINKS;
use crate::engine::Engine;
use crate::error::SourceText;
use crate::ipc::AppShared;
use crate::liveness::Event;
use crate::logging::{LogMsg, Logger, RtLog};
use crate::ping::Pinger;
use crate::ports::PortSlot;
use crate::status::{rt_flags, LoopStats, StatusWriter};
use crate::sys::fd::EventFd;
use crate::time::{self, Nanos};
use crate::wire::MAX_HEARTBEAT;
use hb_media::{frame, raw};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

/// Datagrams from one socket in one iteration that mean a flood (two nodes exchange a few per
/// keepalive): the loop then ticks every [`PRESSURE_TICK`] until it subsides.
const PRESSURE_PACKETS: usize = 64;
/// How often the loop drains while flooded.
const PRESSURE_TICK: Nanos = Nanos::from_millis(1);

/// What the RT thread reports once set up.
pub(super) struct Ready {
    pub backend: Kind,
    pub rt_flags: u64,
    pub notes: Vec<String>,
}

/// Everything the RT thread owns.
pub(super) struct RtCtx {
    /// Boxed: the context moves by value through set-up, and debug builds copy each move.
    pub engine: Box<Engine>,
    /// Ping pseudo-members, when `ha.cf` has any.
    pub pinger: Option<Pinger>,
    /// Their sockets: fds after the links' in the backend.
    pub icmp: Vec<IcmpRt>,
    pub links: Vec<RtLink>,
    /// Hand-over of serial ports with the keeper thread, which owns them.
    pub port_slots: Arc<[PortSlot]>,
    pub status: StatusWriter,
    pub rtlog: RtLog,
    pub events: rtrb::Producer<Event>,
    pub ipc_wake: Arc<EventFd>,
    pub wake: Arc<EventFd>,
    pub stop: Arc<AtomicBool>,
    pub stats: LoopStats,
    pub petter: Option<Petter>,
    pub apps: Arc<AppShared>,
    /// Events the IPC ring had no room for.
    pub ring_lost: u64,
    /// For set-up and tear-down messages only; never used inside the loop.
    pub logger: Logger,
}

impl RtCtx {
    /// Disarms the watchdog (magic close), logging the outcome. Not for the loop.
    fn disarm_watchdog(&mut self, why: &str) {
        if let Some(p) = self.petter.take() {
            let wd = p.into_watchdog();
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
pub(super) struct RtSetup {
    pub choice: Choice,
    pub realtime: bool,
    pub rtprio: u8,
    pub rtcpu: Option<usize>,
    pub limits: hb_realtime::Limits,
    pub hook: Option<fn()>,
    pub rx_wakeup: bool,
}

/// The RT thread's body: set-up, report on `ready`, run the loop, disarm on a clean stop.
pub(super) fn rt_thread(mut ctx: RtCtx, setup: RtSetup, ready: mpsc::Sender<Result<Ready, StartError>>) {
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
    let socks: Vec<RawFd> = ctx.links.iter().map(RtLink::fd).chain(ctx.icmp.iter().map(IcmpRt::fd)).collect();
    let watch: Vec<bool> = ctx.links.iter().map(|l| rx_wakeup || l.always_wakes()).chain(ctx.icmp.iter().map(|_| rx_wakeup)).collect();
    let wake = ctx.wake.as_raw_fd();
    let uring = match choice {
        Choice::Epoll => None,
        Choice::Uring | Choice::Auto => Some(UringBackend::new(&socks, &watch, wake)),
    };
    match uring {
        Some(Ok(b)) => run(b, Kind::Uring, ctx, notes, hook, ready),
        Some(Err(e)) if choice == Choice::Uring => {
            ctx.disarm_watchdog("start-up failed");
            let _ = ready.send(Err(e.into()));
        }
        other => {
            if let Some(Err(e)) = other {
                notes.push(format!("{e}: {}; falling back to epoll", e.source_text()));
            }
            match EpollBackend::new(&socks, &watch, wake) {
                Ok(b) => run(b, Kind::Epoll, ctx, notes, hook, ready),
                Err(e) => {
                    ctx.disarm_watchdog("start-up failed");
                    let _ = ready.send(Err(StartError::Epoll(e)));
                }
            }
        }
    }
}

/// Reports ready, runs the loop until stopped, then disarms the watchdog.
fn run<B: Backend>(
    b: B,
    kind: Kind,
    mut ctx: RtCtx,
    notes: Vec<String>,
    hook: Option<fn()>,
    ready: mpsc::Sender<Result<Ready, StartError>>,
) {
    ctx.stats.backend = kind;
    let _ = ready.send(Ok(Ready { backend: kind, rt_flags: ctx.stats.rt_flags, notes }));
    if let Some(h) = hook {
        h();
    }
    let mut l = Loop::new(b, ctx);
    l.run();
    if l.ctx.apps.crm_unreleased.load(std::sync::atomic::Ordering::Acquire) {
        l.ctx.logger.warn("no leaving mark: the CRM did not release its resources, so the peers must declare this node dead and fence it");
    } else {
        l.leave();
    }
    l.ctx.disarm_watchdog("clean stop");
}

/// The loop's own buffers and clocks.
struct LoopState {
    rx: [u8; 2048],
    tx: [u8; MAX_HEARTBEAT],
    /// A serial frame or an Ethernet frame around one heartbeat.
    framed: [u8; frame::framed_len(MAX_HEARTBEAT) + raw::HEADER_LEN],
    echo: [u8; hb_media::ping::ECHO_LEN],
    last_reject_log: [Nanos; MAX_LINKS],
    last_tx_log: [Nanos; MAX_LINKS],
    last_kernel_log: [Nanos; MAX_LINKS],
    /// Per link, then for the ping sockets: when a drain last emptied its queue.
    emptied_at: [Nanos; MAX_LINKS + 1],
    /// This iteration read a flood's worth from some socket: tick again soon.
    pressure: bool,
    /// This iteration left datagrams queued on some socket (its budget ran out): tick again
    /// at once.
    cut_short: bool,
    /// When the loop planned to wake next.
    deadline: Nanos,
    /// The CRM state's version last handed to the engine.
    crm_seen: u64,
}

/// The RT loop: what the RT thread owns, its backend and its buffers. [`Loop::tick`] is one
/// iteration after a wake-up; [`Loop::run`] waits and ticks until stopped. A simulation calls
/// `tick` itself on a virtual clock (see [`super::sim`]).
pub(super) struct Loop<B: Backend> {
    pub backend: B,
    pub ctx: RtCtx,
    st: LoopState,
}

impl<B: Backend> Loop<B> {
    pub(super) fn new(backend: B, ctx: RtCtx) -> Loop<B> {
        let now = backend.now();
        let st = LoopState {
            rx: [0; 2048],
            tx: [0; MAX_HEARTBEAT],
            framed: [0; frame::framed_len(MAX_HEARTBEAT) + raw::HEADER_LEN],
            echo: [0; hb_media::ping::ECHO_LEN],
            last_reject_log: [Nanos::ZERO; MAX_LINKS],
            last_tx_log: [Nanos::ZERO; MAX_LINKS],
            last_kernel_log: [Nanos::ZERO; MAX_LINKS],
            emptied_at: [now; MAX_LINKS + 1],
            pressure: false,
            cut_short: false,
            deadline: now,
            crm_seen: 0,
        };
        Loop { backend, ctx, st }
    }

    /// Runs until a stop is asked for. Allocation-free: every buffer is in `LoopState` or in
    /// `ctx`.
    pub(super) fn run(&mut self) {
        loop {
            self.wait();
            if self.tick() {
                break;
            }
        }
    }

    /// One iteration, at the backend's `now`: drain, poll, pet, send, publish, forward.
    /// Returns whether a stop was asked for; [`Loop::deadline`] is when to tick next.
    pub(super) fn tick(&mut self) -> bool {
        let (backend, ctx, st) = (&mut self.backend, &mut self.ctx, &mut self.st);
        let now = backend.now();
        let planned = st.deadline;
        // INVARIANT: every packet already received is processed before deadlines are judged.
        drain(backend, ctx, st, now, planned);
        ctx.engine.poll(now);
        if let Some(p) = ctx.petter.as_mut() {
            p.poll(now, &ctx.apps, ctx.engine.lost_cluster(), &mut ctx.stats, &mut ctx.rtlog);
        }
        if ctx.engine.tx_due(now) {
            // What the CRM last said travels from now on (a lock-free read; no allocation).
            if let Some(s) = ctx.apps.crm_state.changed(&mut st.crm_seen) {
                ctx.engine.set_crm_state(s);
            }
            send(backend, ctx, st, now);
        }
        // INVARIANT: the status page is published before the events go out, so a client that
        // has seen an event finds the page already showing it.
        let stopping = publish(ctx, now);
        forward_events(ctx, now);
        st.deadline = next_deadline(ctx, st, now);
        stopping
    }

    /// A clean stop's last word: one heartbeat on every link carrying the leaving mark, so
    /// peers report this node as having left (and fence nobody) instead of declaring it dead.
    /// The wait after it, with a deadline already past, hands queued sends to the kernel.
    pub(super) fn leave(&mut self) {
        let (backend, ctx, st) = (&mut self.backend, &mut self.ctx, &mut self.st);
        let now = backend.now();
        ctx.engine.set_leaving();
        send(backend, ctx, st, now);
        st.deadline = now;
        self.wait();
    }

    /// When the loop wants to tick next.
    pub(super) fn deadline(&self) -> Nanos {
        self.st.deadline
    }

    /// Sleeps until the deadline or a wake-up; failed sends the backend reports on the way
    /// are counted on their links.
    fn wait(&mut self) {
        let (backend, ctx, st) = (&mut self.backend, &mut self.ctx, &mut self.st);
        let nlinks = ctx.links.len();
        let (engine, rtlog, txlog) = (&mut ctx.engine, &mut ctx.rtlog, &mut st.last_tx_log);
        let woken = match backend.wait(st.deadline, &mut |link, errno| {
            // Past the links are the ping sockets: a ping that cannot go out shows as the ping
            // node's death, not as a link error.
            if link < nlinks {
                engine.tx_failed(link);
                log_tx_error(rtlog, txlog, link, errno, time::now());
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
    }
}

/// Hands everything received on every link and ping socket to the engine and the pinger.
fn drain<B: Backend>(backend: &mut B, ctx: &mut RtCtx, st: &mut LoopState, now: Nanos, planned: Nanos) {
    let offset = backend.realtime_offset(now);
    let mut rx = Rx {
        engine: &mut ctx.engine,
        rtlog: &mut ctx.rtlog,
        last_log: &mut st.last_reject_log,
        last_kernel_log: &mut st.last_kernel_log,
        now,
        offset,
        last_drain: now,
        latest: Nanos::ZERO,
        buf: &mut st.rx,
    };
    st.pressure = false;
    st.cut_short = false;
    for (i, l) in ctx.links.iter_mut().enumerate() {
        rx.last_drain = st.emptied_at[i];
        rx.latest = rx.last_drain;
        let d = l.drain(i, &mut rx, &ctx.port_slots, backend);
        if d.emptied {
            st.emptied_at[i] = now;
        } else {
            // The rest of the queue arrived after what was read: judge this link only as of
            // the last arrival read, so a heartbeat queued behind a flood is never missed.
            rx.engine.known_until(i, rx.latest);
            st.cut_short = true;
        }
        st.pressure |= d.count >= PRESSURE_PACKETS;
    }
    if let Some(pg) = ctx.pinger.as_mut() {
        let nlinks = ctx.links.len();
        rx.last_drain = st.emptied_at[MAX_LINKS];
        let mut emptied = true;
        for (k, ic) in ctx.icmp.iter().enumerate() {
            let d = ic.drain(nlinks + k, pg, backend, |s| rx.arrival(s));
            emptied &= d.emptied;
            st.pressure |= d.count >= PRESSURE_PACKETS;
        }
        if emptied {
            st.emptied_at[MAX_LINKS] = now;
        } else {
            st.cut_short = true;
        }
        pg.poll(now, Some(planned));
    }
}

/// Sends a heartbeat on every link, and an echo to every ping node.
fn send<B: Backend>(backend: &mut B, ctx: &mut RtCtx, st: &mut LoopState, now: Nanos) {
    let mut tx =
        Tx { engine: &mut ctx.engine, rtlog: &mut ctx.rtlog, last_log: &mut st.last_tx_log, now, buf: &mut st.tx, framed: &mut st.framed };
    for (i, l) in ctx.links.iter().enumerate() {
        l.send_heartbeat(i, &mut tx, backend);
    }
    if let Some(pg) = ctx.pinger.as_mut() {
        pg.next_round(now);
        for (k, ic) in ctx.icmp.iter().enumerate() {
            ic.send_echoes(ctx.links.len() + k, pg, &mut st.echo, backend);
        }
    }
    ctx.engine.tx_done(now);
}

/// Forwards the engine's and the pinger's events to the log and IPC rings; counts what the
/// IPC ring had no room for.
fn forward_events(ctx: &mut RtCtx, now: Nanos) {
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
}

/// Publishes the status page; returns whether a stop was asked for.
fn publish(ctx: &mut RtCtx, now: Nanos) -> bool {
    ctx.stats.iterations += 1;
    ctx.stats.log_dropped = ctx.rtlog.dropped();
    let stopping = ctx.stop.load(Ordering::Acquire);
    ctx.stats.stopping = stopping;
    ctx.status.publish(&ctx.engine, ctx.pinger.as_ref(), now, &ctx.stats);
    stopping
}

/// The earliest of the engine's, the pinger's and the watchdog's next deadlines; at once
/// while a socket still holds datagrams the budget left, and within [`PRESSURE_TICK`] while
/// one is flooded, so that its receive buffer never holds more than about that much of a
/// flood (and with `rx_wakeup off`, a flood cannot fill it between two heartbeats).
fn next_deadline(ctx: &mut RtCtx, st: &LoopState, now: Nanos) -> Nanos {
    let mut deadline = ctx.engine.next_deadline();
    if st.cut_short {
        return now;
    }
    if st.pressure {
        deadline = deadline.min(now.add(PRESSURE_TICK));
    }
    if let Some(pg) = &ctx.pinger {
        deadline = deadline.min(pg.poll_at());
    }
    if let Some(p) = &ctx.petter {
        deadline = deadline.min(p.poll_at());
    }
    deadline
}
