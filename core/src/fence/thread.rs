//! The fencing thread (`hbd-fence`): takes jobs from the IPC thread one at a time, waits out
//! this node's race delay for a dead peer (cancelled if the peer is heard again meanwhile),
//! runs the [`Fencer`], and hands `fence-*` events back to the IPC thread.
//!
//! It runs at SCHED_FIFO one below the RT thread (when hbd runs real-time): above the CRM and
//! everything else, below the heartbeats. Its memory is locked with the rest of hbd's
//! (`mlockall(MCL_FUTURE)`), and its devices were opened at start-up. Only `external` and
//! `fence_agent` devices fork, and `stonith-status` says which those are.

use super::Fencer;
use crate::ipc::proto::{DeviceStatus, Event, FenceOp, FenceReason, TargetStatus};
use crate::ipc::AppShared;
use crate::logging::Logger;
use crate::sys::fd::EventFd;
use crate::time::{self, Nanos};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Jobs the queue holds; a fence request beyond it is refused (`busy`).
pub const JOB_QUEUE: usize = 64;
/// Events waiting for the IPC thread; beyond it they are counted as lost.
const EVENT_QUEUE: usize = 256;

/// What the IPC thread asks of the fencing thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// Fence a node.
    Fence {
        /// The request's number.
        id: u64,
        /// The node.
        node: String,
        /// What to do.
        op: FenceOp,
        /// Why.
        reason: FenceReason,
        /// When it was asked.
        at: Nanos,
    },
    /// A peer was heard again: a fencing of it still waiting out the race delay is cancelled.
    NodeUp(String),
}

/// What the IPC thread keeps of the fencer: the queue's two ends and a description.
pub struct FenceLink {
    /// Jobs to the thread.
    pub jobs: SyncSender<Job>,
    /// Events from it.
    pub events: Receiver<Event>,
    /// The devices.
    pub devices: Vec<DeviceStatus>,
    /// Each peer's levels.
    pub targets: Vec<TargetStatus>,
    /// What fencing a dead peer does.
    pub action: FenceOp,
    /// This node's race delay.
    pub delay: Nanos,
}

impl FenceLink {
    /// Whether `node` has at least one level.
    pub fn can_fence(&self, node: &str) -> bool {
        self.targets.iter().any(|t| t.node == node && !t.levels.is_empty())
    }
}

/// How the thread reaches the IPC thread.
pub struct Outbox {
    events: SyncSender<Event>,
    wake: Arc<EventFd>,
    shared: Arc<AppShared>,
}

impl Outbox {
    fn send(&self, e: Event) {
        if let Err(TrySendError::Full(_)) = self.events.try_send(e) {
            self.shared.events_lost.fetch_add(1, Ordering::Relaxed);
        }
        self.wake.notify();
    }
}

/// Starts the fencing thread. `wake` is the IPC thread's; events that do not fit its queue
/// are counted in `shared.events_lost` (reported as `events-lost`). The thread ends when the
/// IPC thread drops its [`FenceLink`].
pub fn spawn(
    fencer: Fencer,
    wake: Arc<EventFd>,
    shared: Arc<AppShared>,
    logger: Logger,
    fifo: Option<(u8, hb_realtime::Limits)>,
) -> std::io::Result<(FenceLink, std::thread::JoinHandle<()>)> {
    let (jobs, rx) = sync_channel(JOB_QUEUE);
    let (ev_tx, events) = sync_channel(EVENT_QUEUE);
    let link = FenceLink {
        jobs,
        events,
        devices: fencer.device_status(),
        targets: fencer.target_status(),
        action: fencer.action,
        delay: Nanos(fencer.delay.as_nanos() as u64),
    };
    let out = Outbox { events: ev_tx, wake, shared };
    let thread = std::thread::Builder::new().name("hbd-fence".into()).stack_size(crate::logging::STACK).spawn(move || {
        if let Some((prio, limits)) = fifo {
            if let Err(e) = hb_realtime::set_fifo(prio, &limits) {
                logger.warn(&format!("fencing thread: {e}; it runs at normal priority"));
            }
        }
        run(fencer, rx, out, logger);
    })?;
    Ok((link, thread))
}

/// The thread's loop: one job at a time, in order.
fn run(mut fencer: Fencer, rx: Receiver<Job>, out: Outbox, logger: Logger) {
    let mut queue = VecDeque::new();
    // Nodes fenced (off or reset, confirmed) and not heard since: their death is no news.
    let mut fenced: Vec<String> = Vec::new();
    loop {
        let job = match queue.pop_front() {
            Some(j) => j,
            None => match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            },
        };
        let (id, node, op, reason, at) = match job {
            Job::NodeUp(n) => {
                fenced.retain(|f| *f != n);
                continue;
            }
            Job::Fence { id, node, op, reason, at } => (id, node, op, reason, at),
        };
        if reason == FenceReason::NodeDead && fenced.contains(&node) {
            logger.info(&format!("STONITH: {node} died after this node fenced it and before it was heard again: not fenced twice"));
            out.send(Event::FenceResult {
                id,
                node: node.clone(),
                action: op,
                ok: true,
                code: "S_OK".into(),
                message: format!("{node} was already fenced and has not been heard since"),
                level: 0,
                devices: vec![],
                at_ns: time::now(),
                duration_ns: Nanos::ZERO,
            });
            continue;
        }
        let delay = if reason == FenceReason::NodeDead { fencer.delay } else { Duration::ZERO };
        out.send(Event::FenceStarted { id, node: node.clone(), action: op, reason, at_ns: at, delay_ns: Nanos(delay.as_nanos() as u64) });
        logger.warn(&format!(
            "STONITH: fencing {node} ({}, {}){}",
            op.name(),
            match reason {
                FenceReason::NodeDead => "declared dead",
                _ => "requested",
            },
            if delay.is_zero() { String::new() } else { format!(" after this node's race delay of {delay:?}") }
        ));
        let result = |ok: bool, code: &str, message: String, level: u32, devices: Vec<String>| {
            let end = time::now();
            Event::FenceResult {
                id,
                node: node.clone(),
                action: op,
                ok,
                code: code.into(),
                message,
                level,
                devices,
                at_ns: end,
                duration_ns: end.sub(at),
            }
        };
        match wait_delay(&rx, &mut queue, &node, delay) {
            Wait::Done => {}
            Wait::Cancelled => {
                logger.info(&format!("STONITH: {node} was heard again during the race delay; not fenced"));
                out.send(result(false, "cancelled", format!("{node} was heard again during the race delay"), 0, vec![]));
                continue;
            }
            Wait::Stopped => return,
        }
        let outcome = fencer.execute(&node, op, &mut |operators| {
            for device in operators {
                logger.warn(&format!("STONITH: {device} waits for an operator: power {node} off, then run `hbctl fence-confirm {node}`"));
                out.send(Event::FenceOperator { id, node: node.clone(), device: device.clone(), at_ns: time::now() });
            }
        });
        let ok = outcome.code == hb_stonith_hw::Code::Ok;
        if ok && op != FenceOp::On && !fenced.contains(&node) {
            fenced.push(node.clone());
        }
        let event = result(ok, outcome.code.name(), outcome.message.clone(), outcome.level.unwrap_or(0), outcome.devices);
        if let Event::FenceResult { duration_ns, .. } = &event {
            let text =
                format!("STONITH: {} {node}: {} in {duration_ns}: {}", op.name(), if ok { "done" } else { "FAILED" }, outcome.message);
            if ok {
                logger.warn(&text)
            } else {
                logger.error(&text)
            }
        }
        out.send(event);
    }
}

enum Wait {
    Done,
    Cancelled,
    Stopped,
}

/// Waits out `delay`, keeping jobs that arrive meanwhile; a `NodeUp` for `node` cancels.
// The delay is a deadline on the job queue (`recv_timeout`), kept on std's monotonic clock.
#[allow(clippy::disallowed_methods)]
fn wait_delay(rx: &Receiver<Job>, queue: &mut VecDeque<Job>, node: &str, delay: Duration) -> Wait {
    let end = Instant::now() + delay;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Wait::Done;
        }
        match rx.recv_timeout(left) {
            Ok(Job::NodeUp(n)) if n == node => return Wait::Cancelled,
            Ok(j) => queue.push_back(j),
            Err(RecvTimeoutError::Timeout) => return Wait::Done,
            Err(RecvTimeoutError::Disconnected) => return Wait::Stopped,
        }
    }
}
