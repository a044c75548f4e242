//! The status page: a read-only shared-memory view of hbd's state, read without a syscall.
//!
//! hbd creates `<run-dir>/status` (mode 0644), maps it and publishes after every loop
//! iteration; readers (`hbctl`, tests, scripts through `hbctl --json`) map it read-only.
//! Consistency is a seqlock: the writer makes `seq` odd, writes, makes it even; a reader
//! retries while `seq` is odd or changed under it. Every field is an `AtomicU64`, so any
//! interleaving is memory-safe; the seqlock makes it coherent.
//!
//! Times are CLOCK_MONOTONIC nanoseconds, comparable with the reader's own clock (same host).
//!
//! - this module: the page layout ([`Page`]), what the loop adds to the engine's state
//!   ([`LoopStats`]);
//! - [`writer`]: [`StatusWriter`], which creates the page (exclusively, in memory) and
//!   publishes into it from the RT thread;
//! - [`reader`]: [`StatusReader`] and the typed [`Snapshot`] every reader decodes it into.

pub mod reader;
pub mod writer;

pub use reader::*;
pub use writer::*;

use crate::backend::Kind;
use crate::config::{MAX_LINKS, MAX_NODES};
use crate::wire::Reject;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering::*};

/// "hbstatus".
pub const MAGIC: u64 = u64::from_be_bytes(*b"hbstatus");
/// Layout version; bumped on any change to [`Page`].
pub const VERSION: u64 = 7;
const NAME_WORDS: usize = 8;

/// The status file's name inside the run directory.
pub const FILE_NAME: &str = "status";

/// One peer, or one ping pseudo-member (after the peers).
#[repr(C)]
pub struct NodeSlot {
    name: [AtomicU64; NAME_WORDS],
    id: AtomicU64,
    /// 0: a cluster node; 1: a ping node.
    kind: AtomicU64,
    state: AtomicU64,
    generation: AtomicU64,
    last_heard: AtomicU64,
    /// Ping nodes: replies so far, last round trip (ns).
    replies: AtomicU64,
    rtt_last: AtomicU64,
    /// The peer's advertised self-fencing watchdog timeout, ms (0: none).
    watchdog_ms: AtomicU64,
}

/// One link.
#[repr(C)]
pub struct LinkSlot {
    name: [AtomicU64; NAME_WORDS],
    rx_ok: AtomicU64,
    own: AtomicU64,
    tx: AtomicU64,
    tx_err: AtomicU64,
    kernel_dropped: AtomicU64,
    rejects: [AtomicU64; Reject::COUNT],
}

/// One (peer, link) pair.
#[repr(C)]
pub struct PairSlot {
    state: AtomicU64,
    last_heard: AtomicU64,
    rx: AtomicU64,
    rtt_last: AtomicU64,
    rtt_min: AtomicU64,
    rtt_max: AtomicU64,
    rtt_sum: AtomicU64,
    rtt_count: AtomicU64,
    rtt_p50: AtomicU64,
    rtt_p99: AtomicU64,
    loss_ppm: AtomicU64,
    ups: AtomicU64,
    downs: AtomicU64,
}

/// The page layout (`#[repr(C)]`, atomics only).
#[repr(C)]
pub struct Page {
    magic: AtomicU64,
    version: AtomicU64,
    size: AtomicU64,
    seq: AtomicU64,
    pid: AtomicU64,
    generation: AtomicU64,
    started: AtomicU64,
    updated: AtomicU64,
    iterations: AtomicU64,
    node_count: AtomicU64,
    link_count: AtomicU64,
    backend: AtomicU64,
    rt_flags: AtomicU64,
    keepalive: AtomicU64,
    warntime: AtomicU64,
    deadtime: AtomicU64,
    initdead: AtomicU64,
    stalls: AtomicU64,
    stalled: AtomicU64,
    max_late: AtomicU64,
    tx_missed: AtomicU64,
    events_dropped: AtomicU64,
    log_dropped: AtomicU64,
    stopping: AtomicU64,
    wd_state: AtomicU64,
    wd_pets: AtomicU64,
    wd_last_pet: AtomicU64,
    wd_timeout_s: AtomicU64,
    /// [`crate::auth::Weakness::bits`] of the keys in use.
    auth_weak: AtomicU64,
    /// Ping replies dropped: they answered no echo of ours.
    ping_rejected: AtomicU64,
    self_name: [AtomicU64; NAME_WORDS],
    nodes: [NodeSlot; MAX_NODES],
    links: [LinkSlot; MAX_LINKS],
    pairs: [PairSlot; MAX_NODES * MAX_LINKS],
}

/// Real-time features granted, as bits in the page.
pub mod rt_flags {
    /// Memory locked (mlockall).
    pub const MLOCKED: u64 = 1;
    /// SCHED_FIFO granted.
    pub const FIFO: u64 = 2;
    /// RT thread pinned to a CPU.
    pub const PINNED: u64 = 4;
}

fn write_name(dst: &[AtomicU64; NAME_WORDS], name: &str) {
    let mut b = [0u8; NAME_WORDS * 8];
    let n = name.len().min(b.len() - 1);
    b[..n].copy_from_slice(&name.as_bytes()[..n]);
    for (i, w) in dst.iter().enumerate() {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[i * 8..i * 8 + 8]);
        w.store(u64::from_le_bytes(x), Relaxed);
    }
}

fn read_name(src: &[AtomicU64; NAME_WORDS]) -> String {
    let mut b = Vec::with_capacity(NAME_WORDS * 8);
    for w in src {
        b.extend_from_slice(&w.load(Relaxed).to_le_bytes());
    }
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// What the loop knows that the engine does not.
#[derive(Debug, Clone, Copy)]
pub struct LoopStats {
    /// Loop iterations so far.
    pub iterations: u64,
    /// The backend the loop runs on.
    pub backend: Kind,
    /// [`rt_flags`] bits.
    pub rt_flags: u64,
    /// Log records dropped because the log ring was full.
    pub log_dropped: u64,
    /// Set when a clean stop has begun.
    pub stopping: bool,
    /// What the watchdog pet logic is doing.
    pub wd_state: WatchdogState,
    /// Watchdog pets so far.
    pub wd_pets: u64,
    /// Last pet (CLOCK_MONOTONIC ns).
    pub wd_last_pet: u64,
    /// Watchdog timeout in force, seconds.
    pub wd_timeout_s: u64,
}

impl Default for LoopStats {
    fn default() -> LoopStats {
        LoopStats {
            iterations: 0,
            backend: Kind::Uring,
            rt_flags: 0,
            log_dropped: 0,
            stopping: false,
            wd_state: WatchdogState::None,
            wd_pets: 0,
            wd_last_pet: 0,
            wd_timeout_s: 0,
        }
    }
}

/// What hbd does with the watchdog device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum WatchdogState {
    /// No watchdog configured.
    None = 0,
    /// Petting it: the node is healthy.
    Petting = 1,
    /// Withholding pets: the node will be reset when the device's timeout runs out.
    Withholding = 2,
}
