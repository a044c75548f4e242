//! The status page: a read-only shared-memory view of hbd's state, read without a syscall.
//!
//! hbd creates `<run-dir>/status` (mode 0644), maps it and publishes after every loop
//! iteration; readers (`hbctl`, tests, scripts through `hbctl --json`) map it read-only.
//! Consistency is a seqlock: the writer makes `seq` odd, writes, makes it even; a reader
//! retries while `seq` is odd or changed under it. Every field is an `AtomicU64`, so any
//! interleaving is memory-safe; the seqlock makes it coherent.
//!
//! Times are CLOCK_MONOTONIC nanoseconds, comparable with the reader's own clock (same host).

use crate::backend::Kind;
use crate::config::{MAX_LINKS, MAX_NODES};
use crate::engine::{Engine, LinkCounters};
use crate::liveness::{LinkState, NodeState};
use crate::sys::shm::{PageMut, PageRef};
use crate::time::Nanos;
use crate::wire::Reject;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicU64, Ordering::*};

/// "hbstatus".
pub const MAGIC: u64 = u64::from_be_bytes(*b"hbstatus");
/// Layout version; bumped on any change to [`Page`].
pub const VERSION: u64 = 3;
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
}

/// One link.
#[repr(C)]
pub struct LinkSlot {
    name: [AtomicU64; NAME_WORDS],
    rx_ok: AtomicU64,
    own: AtomicU64,
    tx: AtomicU64,
    tx_err: AtomicU64,
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

/// hbd's side: creates, maps and publishes.
pub struct StatusWriter {
    map: PageMut,
    _file: File,
}

/// Where a page goes when the run directory is on a disk filesystem.
const SHM_DIR: &str = "/dev/shm";

impl StatusWriter {
    /// Creates `<run_dir>/status` and writes the fixed parts (names, timing).
    ///
    /// The RT thread stores into this page every iteration, so it must live in memory: on a
    /// disk filesystem, writeback write-protects the page again and the next store faults into
    /// the filesystem, which may wait for its journal. When `run_dir` is not on tmpfs/ramfs,
    /// the page is created in `/dev/shm` and `<run_dir>/status` is a symlink to it (readers
    /// follow it unchanged). Returns the writer and, if the page could only go on a disk, a
    /// warning for the log.
    pub fn create(
        run_dir: &Path,
        self_name: &str,
        peers: &[String],
        pings: &[String],
        links: &[String],
        timing: &crate::liveness::Timing,
        started: Nanos,
    ) -> io::Result<(StatusWriter, Option<String>)> {
        let path = run_dir.join(FILE_NAME);
        remove_stale_page(&path);
        let mut warning = None;
        let in_shm = if crate::sys::shm::is_ram_fs(run_dir)? {
            false
        } else if crate::sys::shm::is_ram_fs(Path::new(SHM_DIR)).unwrap_or(false) {
            true
        } else {
            warning = Some(format!(
                "the status page is on a disk filesystem ({}; no tmpfs at {SHM_DIR}): the real-time thread may stall on writeback; put the run directory on tmpfs",
                run_dir.display()
            ));
            false
        };
        // The run directory is ours alone (checked at start-up), so its temporary names are
        // safe to clear; /dev/shm is shared, so a page there is only ever created exclusively.
        let (file, backing) = if in_shm {
            let (file, backing, planted) = create_in_shm(run_dir)?;
            if let Some(p) = planted {
                warning = Some(p);
            }
            (file, backing)
        } else {
            let tmp = run_dir.join(".status.new");
            let _ = std::fs::remove_file(&tmp);
            (crate::files::create_exclusive(&tmp, 0o644)?, tmp)
        };
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        file.set_len(std::mem::size_of::<Page>() as u64)?;
        let map = PageMut::map(&file)?;
        let p = map.page();
        p.magic.store(MAGIC, Relaxed);
        p.version.store(VERSION, Relaxed);
        p.size.store(std::mem::size_of::<Page>() as u64, Relaxed);
        p.pid.store(u64::from(std::process::id()), Relaxed);
        p.started.store(started.0, Relaxed);
        p.node_count.store((peers.len() + pings.len()).min(MAX_NODES) as u64, Relaxed);
        p.link_count.store(links.len() as u64, Relaxed);
        p.keepalive.store(timing.keepalive.0, Relaxed);
        p.warntime.store(timing.warntime.0, Relaxed);
        p.deadtime.store(timing.deadtime.0, Relaxed);
        p.initdead.store(timing.initdead.0, Relaxed);
        write_name(&p.self_name, self_name);
        for (i, n) in peers.iter().enumerate() {
            write_name(&p.nodes[i].name, n);
            p.nodes[i].id.store(u64::from(crate::wire::node_id(n)), Relaxed);
        }
        for (i, n) in pings.iter().enumerate().take(MAX_NODES.saturating_sub(peers.len())) {
            let d = &p.nodes[peers.len() + i];
            write_name(&d.name, n);
            d.kind.store(1, Relaxed);
        }
        for (i, l) in links.iter().enumerate() {
            write_name(&p.links[i].name, l);
        }
        // Readers find the page only once it is complete.
        if in_shm {
            let link_tmp = run_dir.join(".status.link");
            let _ = std::fs::remove_file(&link_tmp);
            std::os::unix::fs::symlink(&backing, &link_tmp)?;
            std::fs::rename(&link_tmp, &path)?;
        } else {
            std::fs::rename(&backing, &path)?;
        }
        Ok((StatusWriter { map, _file: file }, warning))
    }

    /// Removes the page (and its link) on a clean stop.
    pub fn remove(run_dir: &Path) {
        let path = run_dir.join(FILE_NAME);
        remove_stale_page(&path);
        let _ = std::fs::remove_file(&path);
    }

    /// Publishes the engine's state. Allocation-free; called by the RT thread.
    pub fn publish(&self, e: &Engine, pings: Option<&crate::ping::Pinger>, now: Nanos, ls: &LoopStats) {
        let p = self.map.page();
        let s = p.seq.load(Relaxed);
        p.seq.store(s.wrapping_add(1), Relaxed);
        fence(Release);
        p.generation.store(e.generation(), Relaxed);
        p.updated.store(now.0, Relaxed);
        p.iterations.store(ls.iterations, Relaxed);
        p.backend.store(ls.backend as u64, Relaxed);
        p.rt_flags.store(ls.rt_flags, Relaxed);
        p.log_dropped.store(ls.log_dropped, Relaxed);
        p.stopping.store(u64::from(ls.stopping), Relaxed);
        p.wd_state.store(ls.wd_state as u64, Relaxed);
        p.wd_pets.store(ls.wd_pets, Relaxed);
        p.wd_last_pet.store(ls.wd_last_pet, Relaxed);
        p.wd_timeout_s.store(ls.wd_timeout_s, Relaxed);
        let (stalls, stalled, max_late) = e.stall_stats();
        p.stalls.store(stalls, Relaxed);
        p.stalled.store(stalled.0, Relaxed);
        p.max_late.store(max_late.0, Relaxed);
        p.tx_missed.store(e.tx_missed(), Relaxed);
        p.events_dropped.store(e.events_dropped(), Relaxed);
        let nl = e.link_count();
        for l in 0..nl {
            let c = e.link_counters(l);
            let d = &p.links[l];
            d.rx_ok.store(c.rx_ok, Relaxed);
            d.own.store(c.own, Relaxed);
            d.tx.store(c.tx, Relaxed);
            d.tx_err.store(c.tx_err, Relaxed);
            for (r, v) in d.rejects.iter().zip(c.rejects.iter()) {
                r.store(*v, Relaxed);
            }
        }
        for n in 0..e.peer_count() {
            let d = &p.nodes[n];
            d.state.store(e.node_state(n) as u64, Relaxed);
            d.generation.store(e.peer_generation(n), Relaxed);
            let mut last = 0;
            for l in 0..nl {
                let (st, heard) = e.link_state(n, l);
                let ps = e.pair(n, l);
                let q = &p.pairs[n * MAX_LINKS + l];
                q.state.store(st as u64, Relaxed);
                let heard = if ps.rx == 0 { 0 } else { heard.0 };
                q.last_heard.store(heard, Relaxed);
                last = last.max(heard);
                q.rx.store(ps.rx, Relaxed);
                q.rtt_last.store(ps.rtt_last, Relaxed);
                q.rtt_min.store(ps.rtt_min, Relaxed);
                q.rtt_max.store(ps.rtt_max, Relaxed);
                q.rtt_sum.store(ps.rtt_sum, Relaxed);
                q.rtt_count.store(ps.rtt_count, Relaxed);
                q.rtt_p50.store(ps.rtt_p50, Relaxed);
                q.rtt_p99.store(ps.rtt_p99, Relaxed);
                q.loss_ppm.store(e.loss_ppm(n, l), Relaxed);
                q.ups.store(ps.ups, Relaxed);
                q.downs.store(ps.downs, Relaxed);
            }
            d.last_heard.store(last, Relaxed);
        }
        if let Some(pg) = pings {
            for i in 0..pg.node_count().min(MAX_NODES.saturating_sub(e.peer_count())) {
                let d = &p.nodes[e.peer_count() + i];
                let replies = pg.replies(i);
                d.state.store(pg.node_state(i) as u64, Relaxed);
                d.last_heard.store(if replies == 0 { 0 } else { pg.last_heard(i).0 }, Relaxed);
                d.replies.store(replies, Relaxed);
                d.rtt_last.store(pg.rtt_last(i), Relaxed);
            }
        }
        p.seq.store(s.wrapping_add(2), Release);
    }
}

/// The name prefix of pages in `/dev/shm`.
const SHM_PREFIX: &str = "hb-status-";

/// Removes the `/dev/shm` page that `link` (our run directory's `status`) points at, if it is
/// one of ours: directly in `/dev/shm`, named as we name pages, a regular file owned by us.
/// Anything else is left alone — the link could be old, the file someone else's.
fn remove_stale_page(link: &Path) {
    let Ok(target) = std::fs::read_link(link) else { return };
    let ours = target.parent() == Some(Path::new(SHM_DIR))
        && target.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(SHM_PREFIX))
        && std::fs::symlink_metadata(&target).is_ok_and(|m| is_own_page(&m));
    if ours {
        let _ = std::fs::remove_file(&target);
    }
}

/// A regular file owned by our effective uid with one name: a page we created.
fn is_own_page(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    m.file_type().is_file() && m.uid() == nix::unistd::geteuid().as_raw() && m.nlink() == 1
}

/// Where the page of an hbd with run directory `run_dir` goes in `/dev/shm` when the run
/// directory is on a disk filesystem (unless something was planted there: see
/// [`StatusWriter::create`]).
pub fn shm_page_name(run_dir: &Path) -> PathBuf {
    PathBuf::from(SHM_DIR).join(format!("{SHM_PREFIX}{:08x}", crate::wire::fnv1a(&run_dir.display().to_string())))
}

/// Creates the page in `/dev/shm` under a name derived from the run directory, exclusively.
/// A stale page of ours at that name is replaced; anything else there (a symlink, a file of
/// another user: a plant) is left alone, and the page gets a random name instead — returned
/// with a warning naming what was found.
fn create_in_shm(run_dir: &Path) -> io::Result<(File, PathBuf, Option<String>)> {
    let name = shm_page_name(run_dir);
    match crate::files::create_exclusive(&name, 0o644) {
        Ok(f) => return Ok((f, name, None)),
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        Err(_) => {}
    }
    let found = std::fs::symlink_metadata(&name)?;
    if is_own_page(&found) {
        std::fs::remove_file(&name)?;
        return crate::files::create_exclusive(&name, 0o644).map(|f| (f, name, None));
    }
    let mut r = [0u8; 8];
    getrandom::getrandom(&mut r).map_err(|e| io::Error::other(e.to_string()))?;
    let other = PathBuf::from(format!("{}-{:016x}", name.display(), u64::from_le_bytes(r)));
    let f = crate::files::create_exclusive(&other, 0o644)?;
    use std::os::unix::fs::MetadataExt;
    let warning = format!(
        "{} was already there ({} owned by uid {}), planted by someone else: left alone; the status page is {} instead",
        name.display(),
        crate::files::type_name(found.file_type()),
        found.uid(),
        other.display()
    );
    Ok((f, other, Some(warning)))
}

/// Opening the status page failed.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// No status file: hbd is not running with this run directory.
    #[error("no status page at {path} (is hbd running with --run-dir {dir}?)")]
    Missing {
        /// The file.
        path: PathBuf,
        /// The run directory.
        dir: PathBuf,
    },
    /// The file exists but could not be mapped.
    #[error("cannot map {path}")]
    Map {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The page belongs to a user who is neither root nor the run directory's owner: hbd did
    /// not write it, so what it says cannot be trusted.
    #[error("{path} is owned by uid {owner}, not by root or the owner of {dir} (uid {dir_owner}): not hbd's status page")]
    Owner {
        /// The file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The run directory.
        dir: PathBuf,
        /// The run directory's owner.
        dir_owner: u32,
    },
    /// The page stayed mid-update (odd sequence counter) for longer than any write takes.
    #[error("the status page {path} stayed mid-update for {waited_ms} ms (sequence {seq} is odd): its writer died while writing, or the page is damaged")]
    Torn {
        /// The file.
        path: PathBuf,
        /// The odd counter.
        seq: u64,
        /// How long the reader waited.
        waited_ms: u64,
    },
    /// Not a status page of this version.
    #[error("{path} is not an hb status page of version {VERSION} (found magic {magic:#x}, version {version})")]
    Version {
        /// The file.
        path: PathBuf,
        /// Magic found.
        magic: u64,
        /// Version found.
        version: u64,
    },
}

/// Round-trip times of one (peer, link), from the echoes in heartbeats. All zero until the
/// first sample; the median and 99th percentile come from hbd's histogram (refreshed every
/// half second) and stay within `min..=max`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RttSummary {
    /// The last sample.
    pub last: Nanos,
    /// The smallest sample.
    pub min: Nanos,
    /// The mean.
    pub mean: Nanos,
    /// The median.
    pub p50: Nanos,
    /// The 99th percentile.
    pub p99: Nanos,
    /// The largest sample.
    pub max: Nanos,
    /// Samples so far.
    pub samples: u64,
}

/// One (peer, link) pair as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairSnap {
    /// Link name.
    pub link: String,
    /// State.
    pub state: LinkState,
    /// Last heard (0 = never).
    pub last_heard: Nanos,
    /// Packets.
    pub rx: u64,
    /// Round-trip times.
    pub rtt: RttSummary,
    /// Heartbeats lost, parts per million of those expected since the peer's generation
    /// started (see `Engine::loss_ppm`).
    pub loss_ppm: u64,
    /// Up transitions.
    pub ups: u64,
    /// Dead transitions.
    pub downs: u64,
}

/// Whether a status-page node is a cluster member or a ping pseudo-member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    /// A cluster node (a `node` line).
    Node,
    /// A ping pseudo-member (`ping`, `ping6`, `ping_group`): a router, never a member.
    Ping,
}

/// One peer as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSnap {
    /// Name.
    pub name: String,
    /// Wire id (0 for a ping node).
    pub id: u32,
    /// A cluster node or a ping node.
    pub kind: NodeKind,
    /// State.
    pub state: NodeState,
    /// Its generation (0 = never heard).
    pub generation: u64,
    /// Last heard on any link (0 = never).
    pub last_heard: Nanos,
    /// Ping nodes: replies so far.
    pub ping_replies: u64,
    /// Ping nodes: the last round trip (0: none).
    pub ping_rtt: Nanos,
    /// Per link (none for a ping node).
    pub links: Vec<PairSnap>,
}

/// One link as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkSnap {
    /// Name (e.g. `ucast eth0`).
    pub name: String,
    /// Counters.
    pub counters: LinkCounters,
}

/// The real-time features hbd was granted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RtGranted {
    /// All memory locked (mlockall).
    pub memory_locked: bool,
    /// The RT thread runs SCHED_FIFO.
    pub sched_fifo: bool,
    /// The RT thread is pinned to a CPU (`rtcpu`).
    pub pinned: bool,
}

impl RtGranted {
    /// From the page's [`rt_flags`] bits.
    pub fn from_bits(f: u64) -> RtGranted {
        RtGranted { memory_locked: f & rt_flags::MLOCKED != 0, sched_fifo: f & rt_flags::FIFO != 0, pinned: f & rt_flags::PINNED != 0 }
    }
}

/// The timing in force.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimingSnap {
    /// `keepalive`.
    pub keepalive: Nanos,
    /// `warntime`.
    pub warntime: Nanos,
    /// `deadtime`.
    pub deadtime: Nanos,
    /// `initdead`.
    pub initdead: Nanos,
}

/// hbd's own stalls: wake-ups later than `stall_threshold`, discounted from peers' silence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StallStats {
    /// How many.
    pub count: u64,
    /// Their total length.
    pub total: Nanos,
    /// The worst lateness.
    pub worst: Nanos,
}

/// The watchdog as the RT loop runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchdogStatus {
    /// Petting, withholding, or none configured.
    pub state: WatchdogState,
    /// Pets so far.
    pub pets: u64,
    /// The last pet (0: none).
    pub last_pet: Nanos,
    /// The device's timeout, seconds.
    pub timeout_s: u64,
}

/// A coherent copy of the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// hbd's pid.
    pub pid: u32,
    /// This node's name.
    pub self_name: String,
    /// This node's generation.
    pub generation: u64,
    /// When hbd started.
    pub started: Nanos,
    /// When the page was last written.
    pub updated: Nanos,
    /// The reader's clock when it read.
    pub now: Nanos,
    /// Loop iterations.
    pub iterations: u64,
    /// The loop's backend.
    pub backend: Kind,
    /// Real-time features granted.
    pub rt: RtGranted,
    /// Timing in force.
    pub timing: TimingSnap,
    /// Stalls of our own loop.
    pub stalls: StallStats,
    /// Heartbeat slots missed.
    pub tx_missed: u64,
    /// Events dropped (queue full).
    pub events_dropped: u64,
    /// Log records dropped (ring full).
    pub log_dropped: u64,
    /// A clean stop is under way.
    pub stopping: bool,
    /// The watchdog.
    pub watchdog: WatchdogStatus,
    /// Peers, then ping nodes.
    pub nodes: Vec<NodeSnap>,
    /// Links.
    pub links: Vec<LinkSnap>,
}

/// A reader's mapping.
pub struct StatusReader {
    map: PageRef,
    path: PathBuf,
}

/// How long a reader waits for a page that stays mid-update. hbd holds the counter odd for a
/// few microseconds per update; even a writer preempted mid-update is back within a stall.
pub const TORN_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

fn link_state(v: u64) -> LinkState {
    match v {
        1 => LinkState::Up,
        2 => LinkState::Warn,
        3 => LinkState::Dead,
        _ => LinkState::Init,
    }
}

fn node_state(v: u64) -> NodeState {
    match v {
        1 => NodeState::Up,
        3 => NodeState::Dead,
        _ => NodeState::Init,
    }
}

fn watchdog_state(v: u64) -> WatchdogState {
    match v {
        1 => WatchdogState::Petting,
        2 => WatchdogState::Withholding,
        _ => WatchdogState::None,
    }
}

impl StatusReader {
    /// Maps `<run_dir>/status` read-only, after checking that root or the run directory's
    /// owner wrote it.
    pub fn open(run_dir: &Path) -> Result<StatusReader, StatusError> {
        use std::os::unix::fs::MetadataExt;
        let path = run_dir.join(FILE_NAME);
        let map_err = |source| StatusError::Map { path: path.clone(), source };
        let file = File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StatusError::Missing { path: path.clone(), dir: run_dir.to_path_buf() }
            } else {
                map_err(e)
            }
        })?;
        let meta = file.metadata().map_err(map_err)?;
        let dir_owner = std::fs::metadata(run_dir).map_err(map_err)?.uid();
        if meta.uid() != 0 && meta.uid() != dir_owner {
            return Err(StatusError::Owner { path, owner: meta.uid(), dir: run_dir.to_path_buf(), dir_owner });
        }
        if !meta.file_type().is_file() {
            return Err(map_err(crate::files::FileRefused::NotRegular(crate::files::type_name(meta.file_type())).into()));
        }
        let map = PageRef::map(&file).map_err(map_err)?;
        let p = map.page();
        let (magic, version) = (p.magic.load(Relaxed), p.version.load(Relaxed));
        if magic != MAGIC || version != VERSION || p.size.load(Relaxed) != std::mem::size_of::<Page>() as u64 {
            return Err(StatusError::Version { path, magic, version });
        }
        Ok(StatusReader { map, path })
    }

    /// A coherent snapshot: retries while hbd is mid-update, and gives up with
    /// [`StatusError::Torn`] when the page stays mid-update for [`TORN_WAIT`].
    pub fn snapshot(&self) -> Result<Snapshot, StatusError> {
        let started = std::time::Instant::now();
        let mut tries = 0u32;
        loop {
            let p = self.map.page();
            let s1 = p.seq.load(Acquire);
            if s1.is_multiple_of(2) {
                let snap = self.read(p);
                fence(Acquire);
                if p.seq.load(Relaxed) == s1 {
                    return Ok(snap);
                }
            }
            tries += 1;
            if tries < 64 {
                std::hint::spin_loop();
            } else if started.elapsed() >= TORN_WAIT {
                return Err(StatusError::Torn { path: self.path.clone(), seq: s1, waited_ms: started.elapsed().as_millis() as u64 });
            } else {
                // Off the CPU, so a writer preempted mid-update on this CPU can finish.
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        }
    }

    fn read(&self, p: &Page) -> Snapshot {
        let nn = (p.node_count.load(Relaxed) as usize).min(MAX_NODES);
        let nl = (p.link_count.load(Relaxed) as usize).min(MAX_LINKS);
        let links: Vec<LinkSnap> = (0..nl)
            .map(|l| {
                let d = &p.links[l];
                let mut rejects = [0u64; Reject::COUNT];
                for (r, v) in rejects.iter_mut().zip(d.rejects.iter()) {
                    *r = v.load(Relaxed);
                }
                LinkSnap {
                    name: read_name(&d.name),
                    counters: LinkCounters {
                        rx_ok: d.rx_ok.load(Relaxed),
                        own: d.own.load(Relaxed),
                        tx: d.tx.load(Relaxed),
                        tx_err: d.tx_err.load(Relaxed),
                        rejects,
                    },
                }
            })
            .collect();
        let nodes = (0..nn)
            .map(|n| {
                let d = &p.nodes[n];
                let ping = d.kind.load(Relaxed) == 1;
                NodeSnap {
                    name: read_name(&d.name),
                    id: d.id.load(Relaxed) as u32,
                    kind: if ping { NodeKind::Ping } else { NodeKind::Node },
                    state: node_state(d.state.load(Relaxed)),
                    generation: d.generation.load(Relaxed),
                    last_heard: Nanos(d.last_heard.load(Relaxed)),
                    ping_replies: d.replies.load(Relaxed),
                    ping_rtt: Nanos(d.rtt_last.load(Relaxed)),
                    links: (0..if ping { 0 } else { nl })
                        .map(|l| {
                            let q = &p.pairs[n * MAX_LINKS + l];
                            let count = q.rtt_count.load(Relaxed);
                            PairSnap {
                                link: links[l].name.clone(),
                                state: link_state(q.state.load(Relaxed)),
                                last_heard: Nanos(q.last_heard.load(Relaxed)),
                                rx: q.rx.load(Relaxed),
                                rtt: RttSummary {
                                    last: Nanos(q.rtt_last.load(Relaxed)),
                                    min: Nanos(q.rtt_min.load(Relaxed)),
                                    mean: Nanos(q.rtt_sum.load(Relaxed).checked_div(count).unwrap_or(0)),
                                    p50: Nanos(q.rtt_p50.load(Relaxed)),
                                    p99: Nanos(q.rtt_p99.load(Relaxed)),
                                    max: Nanos(q.rtt_max.load(Relaxed)),
                                    samples: count,
                                },
                                loss_ppm: q.loss_ppm.load(Relaxed),
                                ups: q.ups.load(Relaxed),
                                downs: q.downs.load(Relaxed),
                            }
                        })
                        .collect(),
                }
            })
            .collect();
        Snapshot {
            pid: p.pid.load(Relaxed) as u32,
            self_name: read_name(&p.self_name),
            generation: p.generation.load(Relaxed),
            started: Nanos(p.started.load(Relaxed)),
            updated: Nanos(p.updated.load(Relaxed)),
            now: crate::time::now(),
            iterations: p.iterations.load(Relaxed),
            backend: if p.backend.load(Relaxed) == Kind::Epoll as u64 { Kind::Epoll } else { Kind::Uring },
            rt: RtGranted::from_bits(p.rt_flags.load(Relaxed)),
            timing: TimingSnap {
                keepalive: Nanos(p.keepalive.load(Relaxed)),
                warntime: Nanos(p.warntime.load(Relaxed)),
                deadtime: Nanos(p.deadtime.load(Relaxed)),
                initdead: Nanos(p.initdead.load(Relaxed)),
            },
            stalls: StallStats {
                count: p.stalls.load(Relaxed),
                total: Nanos(p.stalled.load(Relaxed)),
                worst: Nanos(p.max_late.load(Relaxed)),
            },
            tx_missed: p.tx_missed.load(Relaxed),
            events_dropped: p.events_dropped.load(Relaxed),
            log_dropped: p.log_dropped.load(Relaxed),
            stopping: p.stopping.load(Relaxed) != 0,
            watchdog: WatchdogStatus {
                state: watchdog_state(p.wd_state.load(Relaxed)),
                pets: p.wd_pets.load(Relaxed),
                last_pet: Nanos(p.wd_last_pet.load(Relaxed)),
                timeout_s: p.wd_timeout_s.load(Relaxed),
            },
            nodes,
            links,
        }
    }
}

impl NodeSnap {
    /// A ping pseudo-member, not a cluster node.
    pub fn is_ping(&self) -> bool {
        self.kind == NodeKind::Ping
    }
    /// Links on which this peer is up (or late but not yet dead).
    pub fn links_up(&self) -> usize {
        self.links.iter().filter(|l| matches!(l.state, LinkState::Up | LinkState::Warn)).count()
    }
}

impl Snapshot {
    /// Whether the hbd that wrote this page is still alive (its pid exists).
    pub fn writer_alive(&self) -> bool {
        Path::new(&format!("/proc/{}", self.pid)).exists() && !self.stopping
    }
    /// A peer by name.
    pub fn node(&self, name: &str) -> Option<&NodeSnap> {
        self.nodes.iter().find(|n| n.name == name)
    }
}
