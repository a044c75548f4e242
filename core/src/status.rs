//! The status page: a read-only shared-memory view of hbd's state, read without a syscall.
//!
//! hbd creates `<run-dir>/status` (mode 0644), maps it and publishes after every loop
//! iteration; readers (`hbctl`, tests, scripts through `hbctl --json`) map it read-only.
//! Consistency is a seqlock: the writer makes `seq` odd, writes, makes it even; a reader
//! retries while `seq` is odd or changed under it. Every field is an `AtomicU64`, so any
//! interleaving is memory-safe; the seqlock makes it coherent.
//!
//! Times are CLOCK_MONOTONIC nanoseconds, comparable with the reader's own clock (same host).

use crate::config::{MAX_LINKS, MAX_NODES};
use crate::engine::{Engine, LinkCounters};
use crate::liveness::{LinkState, NodeState};
use crate::sys::shm::{PageMut, PageRef};
use crate::time::Nanos;
use crate::wire::Reject;
use std::fs::{File, OpenOptions};
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
#[derive(Debug, Clone, Copy, Default)]
pub struct LoopStats {
    /// Loop iterations so far.
    pub iterations: u64,
    /// 0 = io_uring, 1 = epoll.
    pub backend: u64,
    /// [`rt_flags`] bits.
    pub rt_flags: u64,
    /// Log records dropped because the log ring was full.
    pub log_dropped: u64,
    /// Set when a clean stop has begun.
    pub stopping: bool,
    /// Watchdog: 0 none, 1 petting, 2 withholding (the node will be reset).
    pub wd_state: u64,
    /// Watchdog pets so far.
    pub wd_pets: u64,
    /// Last pet (CLOCK_MONOTONIC ns).
    pub wd_last_pet: u64,
    /// Watchdog timeout in force, seconds.
    pub wd_timeout_s: u64,
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
        // A page left in /dev/shm by a crashed predecessor goes first.
        if let Ok(old) = std::fs::read_link(&path) {
            if old.starts_with(SHM_DIR) {
                let _ = std::fs::remove_file(&old);
            }
        }
        let mut warning = None;
        let backing_dir = if crate::sys::shm::is_ram_fs(run_dir)? {
            run_dir.to_path_buf()
        } else if crate::sys::shm::is_ram_fs(Path::new(SHM_DIR)).unwrap_or(false) {
            PathBuf::from(SHM_DIR)
        } else {
            warning = Some(format!(
                "the status page is on a disk filesystem ({}; no tmpfs at {SHM_DIR}): the real-time thread may stall on writeback; put the run directory on tmpfs",
                run_dir.display()
            ));
            run_dir.to_path_buf()
        };
        let backing = if backing_dir == run_dir {
            path.clone()
        } else {
            backing_dir.join(format!("hb-status-{}-{:08x}", std::process::id(), crate::wire::fnv1a(&run_dir.display().to_string())))
        };
        let tmp = backing_dir.join(format!(".hb-status-{}.new", std::process::id()));
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&tmp)?;
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
        // Readers find the file only once it is complete.
        std::fs::rename(&tmp, &backing)?;
        if backing != path {
            let link_tmp = run_dir.join(".status.link");
            let _ = std::fs::remove_file(&link_tmp);
            std::os::unix::fs::symlink(&backing, &link_tmp)?;
            std::fs::rename(&link_tmp, &path)?;
        }
        Ok((StatusWriter { map, _file: file }, warning))
    }

    /// Removes the page (and its link) on a clean stop.
    pub fn remove(run_dir: &Path) {
        let path = run_dir.join(FILE_NAME);
        if let Ok(target) = std::fs::read_link(&path) {
            if target.starts_with(SHM_DIR) {
                let _ = std::fs::remove_file(&target);
            }
        }
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
        p.backend.store(ls.backend, Relaxed);
        p.rt_flags.store(ls.rt_flags, Relaxed);
        p.log_dropped.store(ls.log_dropped, Relaxed);
        p.stopping.store(u64::from(ls.stopping), Relaxed);
        p.wd_state.store(ls.wd_state, Relaxed);
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

/// One (peer, link) pair as read.
#[derive(Debug, Clone, PartialEq)]
pub struct PairSnap {
    /// Link name.
    pub link: String,
    /// State.
    pub state: LinkState,
    /// Last heard (0 = never).
    pub last_heard: Nanos,
    /// Packets.
    pub rx: u64,
    /// RTT in ns (0 when no sample): last, min, max, mean, and the median and 99th percentile
    /// from hbd's histogram (refreshed every half second).
    pub rtt: [u64; 6],
    /// RTT samples.
    pub rtt_count: u64,
    /// Heartbeats lost, parts per million of those expected since the peer's generation
    /// started (see `Engine::loss_ppm`).
    pub loss_ppm: u64,
    /// Up transitions.
    pub ups: u64,
    /// Dead transitions.
    pub downs: u64,
}

/// One peer as read.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSnap {
    /// Name.
    pub name: String,
    /// Wire id (0 for a ping node).
    pub id: u32,
    /// A ping pseudo-member (a router or `ping_group`), not a cluster node.
    pub ping: bool,
    /// State.
    pub state: NodeState,
    /// Its generation (0 = never heard).
    pub generation: u64,
    /// Last heard on any link (0 = never).
    pub last_heard: Nanos,
    /// Ping nodes: replies so far.
    pub ping_replies: u64,
    /// Ping nodes: the last round trip, ns (0: none).
    pub ping_rtt: u64,
    /// Per link (none for a ping node).
    pub links: Vec<PairSnap>,
}

/// One link as read.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkSnap {
    /// Name (e.g. `ucast eth0`).
    pub name: String,
    /// Counters.
    pub counters: LinkCounters,
}

/// A coherent copy of the page.
#[derive(Debug, Clone, PartialEq)]
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
    /// "io_uring" or "epoll".
    pub backend: &'static str,
    /// [`rt_flags`].
    pub rt_flags: u64,
    /// keepalive, warntime, deadtime, initdead.
    pub timing: [Nanos; 4],
    /// Stalls of our own loop, total stalled, worst lateness.
    pub stalls: (u64, Nanos, Nanos),
    /// Heartbeat slots missed.
    pub tx_missed: u64,
    /// Events dropped (queue full).
    pub events_dropped: u64,
    /// Log records dropped (ring full).
    pub log_dropped: u64,
    /// A clean stop is under way.
    pub stopping: bool,
    /// Watchdog: state (0 none, 1 petting, 2 withholding), pets, last pet, timeout seconds.
    pub watchdog: (u64, u64, Nanos, u64),
    /// Peers.
    pub nodes: Vec<NodeSnap>,
    /// Links.
    pub links: Vec<LinkSnap>,
}

/// A reader's mapping.
pub struct StatusReader {
    map: PageRef,
}

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

impl StatusReader {
    /// Maps `<run_dir>/status` read-only.
    pub fn open(run_dir: &Path) -> Result<StatusReader, StatusError> {
        let path = run_dir.join(FILE_NAME);
        let file = File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StatusError::Missing { path: path.clone(), dir: run_dir.to_path_buf() }
            } else {
                StatusError::Map { path: path.clone(), source: e }
            }
        })?;
        let map = PageRef::map(&file).map_err(|source| StatusError::Map { path: path.clone(), source })?;
        let p = map.page();
        let (magic, version) = (p.magic.load(Relaxed), p.version.load(Relaxed));
        if magic != MAGIC || version != VERSION || p.size.load(Relaxed) != std::mem::size_of::<Page>() as u64 {
            return Err(StatusError::Version { path, magic, version });
        }
        Ok(StatusReader { map })
    }

    /// A coherent snapshot (retries while hbd is mid-update).
    pub fn snapshot(&self) -> Snapshot {
        loop {
            let p = self.map.page();
            let s1 = p.seq.load(Acquire);
            if s1 % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let snap = self.read(p);
            fence(Acquire);
            if p.seq.load(Relaxed) == s1 {
                return snap;
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
                    ping,
                    state: node_state(d.state.load(Relaxed)),
                    generation: d.generation.load(Relaxed),
                    last_heard: Nanos(d.last_heard.load(Relaxed)),
                    ping_replies: d.replies.load(Relaxed),
                    ping_rtt: d.rtt_last.load(Relaxed),
                    links: (0..if ping { 0 } else { nl })
                        .map(|l| {
                            let q = &p.pairs[n * MAX_LINKS + l];
                            let count = q.rtt_count.load(Relaxed);
                            PairSnap {
                                link: links[l].name.clone(),
                                state: link_state(q.state.load(Relaxed)),
                                last_heard: Nanos(q.last_heard.load(Relaxed)),
                                rx: q.rx.load(Relaxed),
                                rtt: [
                                    q.rtt_last.load(Relaxed),
                                    q.rtt_min.load(Relaxed),
                                    q.rtt_max.load(Relaxed),
                                    q.rtt_sum.load(Relaxed).checked_div(count).unwrap_or(0),
                                    q.rtt_p50.load(Relaxed),
                                    q.rtt_p99.load(Relaxed),
                                ],
                                rtt_count: count,
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
            backend: if p.backend.load(Relaxed) == 1 { "epoll" } else { "io_uring" },
            rt_flags: p.rt_flags.load(Relaxed),
            timing: [
                Nanos(p.keepalive.load(Relaxed)),
                Nanos(p.warntime.load(Relaxed)),
                Nanos(p.deadtime.load(Relaxed)),
                Nanos(p.initdead.load(Relaxed)),
            ],
            stalls: (p.stalls.load(Relaxed), Nanos(p.stalled.load(Relaxed)), Nanos(p.max_late.load(Relaxed))),
            tx_missed: p.tx_missed.load(Relaxed),
            events_dropped: p.events_dropped.load(Relaxed),
            log_dropped: p.log_dropped.load(Relaxed),
            stopping: p.stopping.load(Relaxed) != 0,
            watchdog: (p.wd_state.load(Relaxed), p.wd_pets.load(Relaxed), Nanos(p.wd_last_pet.load(Relaxed)), p.wd_timeout_s.load(Relaxed)),
            nodes,
            links,
        }
    }
}

impl NodeSnap {
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
