//! Reading the status page: the owner check, the bounded seqlock read, and the typed
//! [`Snapshot`] — one decoder for hbctl, the IPC `snapshot`, hb-bench and the tests.

use super::*;

use crate::engine::LinkCounters;
use crate::liveness::{LinkState, NodeState};
use crate::sys::shm::PageRef;
use crate::time::Nanos;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, Ordering::*};

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
    /// Its advertised self-fencing watchdog timeout, ms (0: it does not self-fence).
    pub watchdog_ms: u64,
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
    /// What is weak about the keys in use (`crc`, `md5`, short secrets).
    pub auth: crate::auth::Weakness,
    /// Ping replies dropped because they answered no echo of ours (spoofed, or too old).
    pub ping_rejected: u64,
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
        let started = crate::time::now();
        let give_up = Nanos(TORN_WAIT.as_nanos() as u64);
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
            } else if crate::time::now().sub(started) >= give_up {
                return Err(StatusError::Torn { path: self.path.clone(), seq: s1, waited_ms: crate::time::now().sub(started).as_millis() });
            } else {
                // A reader (hbctl), not hbd: off the CPU, so a writer preempted mid-update on
                // this CPU can finish.
                #[allow(clippy::disallowed_methods)]
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
                        kernel_dropped: d.kernel_dropped.load(Relaxed),
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
                    watchdog_ms: d.watchdog_ms.load(Relaxed),
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
            auth: crate::auth::Weakness::from_bits(p.auth_weak.load(Relaxed)),
            ping_rejected: p.ping_rejected.load(Relaxed),
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
