//! `hb-bench flood`: a third host on the segment floods node `a` with forged heartbeats that
//! claim to come from `b` — b's node id, b's generation, and on the IP media b's own source
//! address and port, so no filter on addresses can tell them apart — signed with a key the
//! cluster does not have. Meanwhile the two real nodes run as usual, `a` petting hb-hwtest's
//! watchdog emulator. The trial reports what the bar asks: the flood's real rate, false
//! deaths, real heartbeats lost, missed watchdog pets, and hbd's CPU.
//!
//! [`find_max`] raises the rate step by step until a trial gives a false death or lost
//! heartbeats, or the sender cannot go faster: the highest clean rate this machine can make.

use crate::twonode::{Media, Settings, TwoNodes, MCAST_GROUP, PORT};
use hb_core::auth::{parse_authkeys, Keyring};
use hb_core::engine::{Engine, EngineConfig};
use hb_core::ipc::proto::Event;
use hb_core::liveness::Timing;
use hb_core::time::{self, Nanos};
use hb_core::wire::MAX_HEARTBEAT;
use hb_hwtest::flood::{multicast_mac, Flood, FloodPayload, FloodReport, FloodSpec};
use hb_hwtest::watchdog::{Features, WatchdogEmulator};
use hb_hwtest::{Pair, A4, B4};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The medium a flood is aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// UDP to a's address, from b's address and port.
    Ucast,
    /// UDP to 255.255.255.255, from b's address and port.
    Bcast,
    /// UDP to the multicast group, from b's address and port.
    Mcast,
    /// hb's raw Ethernet frames (EtherType 0x88b5) to a's MAC.
    Raw,
}

impl Target {
    /// Every medium a third host on the segment can reach.
    pub const ALL: [Target; 4] = [Target::Ucast, Target::Bcast, Target::Mcast, Target::Raw];

    /// Its `ha.cf` name.
    pub fn name(self) -> &'static str {
        match self {
            Target::Ucast => "ucast",
            Target::Bcast => "bcast",
            Target::Mcast => "mcast",
            Target::Raw => "raw",
        }
    }

    /// Parses [`Target::name`].
    pub fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == s)
    }

    fn media(self) -> Media {
        let mut m = Media::default();
        match self {
            Target::Ucast => m.ucast = true,
            Target::Bcast => m.bcast = true,
            Target::Mcast => m.mcast = true,
            Target::Raw => m.raw = true,
        }
        m
    }
}

/// What one flood trial measured.
#[derive(Debug, Clone)]
pub struct Trial {
    /// The medium flooded.
    pub target: Target,
    /// What the flooder sent.
    pub flood: FloodReport,
    /// `node-dead` verdicts on a about b during the flood (b was never stopped).
    pub false_deaths: u64,
    /// `link-dead` events on a during the flood.
    pub link_deaths: u64,
    /// Heartbeats b sent on the link during the flood window.
    pub real_sent: u64,
    /// Real heartbeats lost: how much further a's accepted count fell behind b's sent count.
    pub real_lost: u64,
    /// Forged packets a refused (all reasons).
    pub rejected: u64,
    /// Datagrams the kernel dropped on a's socket (its filter, or no room).
    pub kernel_dropped: u64,
    /// hbd's CPU on a, percent of one core, over the flood.
    pub hbd_cpu_pct: f64,
    /// The RT thread's share of it.
    pub rt_cpu_pct: f64,
    /// The longest gap between watchdog pets, ms (target: about the 100 ms interval).
    pub max_pet_gap_ms: f64,
    /// Whether the emulated watchdog expired (a real board would have reset).
    pub watchdog_expired: bool,
    /// Own stalls a reported.
    pub stalls: u64,
}

impl Trial {
    /// Zero false deaths, zero link deaths, no expiry and no pet later than 2.5 intervals.
    pub fn clean(&self) -> bool {
        self.false_deaths == 0 && self.link_deaths == 0 && !self.watchdog_expired && self.max_pet_gap_ms < 250.0
    }

    /// One line for a person.
    pub fn line(&self) -> String {
        format!(
            "{:<5} {:>9.0} pps for {:.1} s: false deaths {}, link deaths {}, real heartbeats lost {} of {}, refused {} (+{} in the kernel), \
             hbd CPU {:.1} % (RT thread {:.1} %), longest pet gap {:.1} ms{}, own stalls {}",
            self.target.name(),
            self.flood.pps(),
            self.flood.elapsed.as_secs_f64(),
            self.false_deaths,
            self.link_deaths,
            self.real_lost,
            self.real_sent,
            self.rejected,
            self.kernel_dropped,
            self.hbd_cpu_pct,
            self.rt_cpu_pct,
            self.max_pet_gap_ms,
            if self.watchdog_expired { ", WATCHDOG EXPIRED" } else { "" },
            self.stalls
        )
    }
}

/// A heartbeat from `b` to `a` in `generation`, signed with a key the cluster does not have.
fn forged_heartbeat(generation: u64) -> Vec<u8> {
    let timing = Timing {
        keepalive: Nanos::from_millis(10),
        warntime: Nanos::from_millis(30),
        deadtime: Nanos::from_millis(50),
        initdead: Nanos::from_millis(10_000),
        stall_threshold: Nanos::from_millis(5),
    };
    let keys = parse_authkeys("auth 1\n1 sha256 not-the-cluster-key\n", Path::new("forged")).expect("a valid authkeys");
    let cfg = EngineConfig {
        cluster: "linux-ha".into(),
        self_name: "b".into(),
        peers: vec!["a".into()],
        links: 1,
        timing,
        keys: Keyring::new(&keys),
        generation,
    };
    let mut e = Engine::new(cfg, time::now());
    let mut out = [0u8; MAX_HEARTBEAT];
    let n = e.build_heartbeat(0, time::now(), &mut out);
    out[..n].to_vec()
}

/// Where the forged packets claim to come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// b's own address and port: nothing but the MAC tells them apart.
    Peer,
    /// The attacker's own address (10.77.0.3) and a port of its own: a's socket filter
    /// drops them in the kernel on unicast links.
    Third,
}

/// The flood's frame: from a third MAC on b's side, claiming b's address and port (or not).
fn spec(pair: &Pair, target: Target, source: Source, data: Vec<u8>, rate: u64) -> FloodSpec {
    let a_mac = Pair::mac(&pair.a, &pair.a_if);
    let (a4, b4): (Ipv4Addr, Ipv4Addr) = (A4.parse().expect("literal"), B4.parse().expect("literal"));
    let group: Ipv4Addr = MCAST_GROUP.parse().expect("literal");
    let src = match source {
        Source::Peer => (b4, PORT),
        Source::Third => (Ipv4Addr::new(10, 77, 0, 3), 40_000),
    };
    let udp = |dst: Ipv4Addr| FloodPayload::Udp { src, dst: (dst, PORT), data: data.clone() };
    let (dst_mac, what) = match target {
        Target::Ucast => (a_mac, udp(a4)),
        Target::Bcast => ([0xff; 6], udp(Ipv4Addr::BROADCAST)),
        Target::Mcast => (multicast_mac(group), udp(group)),
        Target::Raw => (a_mac, FloodPayload::Ether { ethertype: hb_media::raw::DEFAULT_ETHERTYPE, data: data.clone() }),
    };
    FloodSpec { dev: pair.b_if.clone(), dst_mac, src_mac: [0x02, 0xee, 0x77, 0, 0, 3], what, rate }
}

/// Counts a's node-dead, link-dead and stall events until stopped.
struct EventCounter {
    counts: Arc<[AtomicU64; 3]>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl EventCounter {
    fn start(run: &Path) -> Result<EventCounter, String> {
        let mut c = hb_core::ipc::Client::connect(run).map_err(|e| format!("a's IPC socket: {e}"))?;
        c.subscribe().map_err(|e| e.to_string())?;
        let counts: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (k, s) = (counts.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Ok(Some(m)) = c.next_event(Duration::from_millis(100)) {
                    let i = match m.event {
                        Event::NodeDead { .. } => 0,
                        Event::LinkDead { .. } => 1,
                        Event::Stall { .. } => 2,
                        _ => continue,
                    };
                    k[i].fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Ok(EventCounter { counts, stop, thread })
    }

    /// Stops and returns (node deaths, link deaths, stalls).
    fn stop(self) -> (u64, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        let c = |i: usize| self.counts[i].load(Ordering::Relaxed);
        (c(0), c(1), c(2))
    }
}

/// Link 0's (tx of b, rx_ok and rejects of a).
fn counters(t: &TwoNodes) -> Result<(u64, u64, u64), String> {
    let a = t.snapshot('a').ok_or("a's status page is unreadable")?;
    let b = t.snapshot('b').ok_or("b's status page is unreadable")?;
    let (la, lb) = (&a.links[0].counters, &b.links[0].counters);
    Ok((lb.tx, la.rx_ok, la.rejected()))
}

/// a's link 0 kernel drop count.
fn kernel_dropped(t: &TwoNodes) -> u64 {
    t.snapshot('a').map_or(0, |s| s.links[0].counters.kernel_dropped)
}

/// How far a's accepted count is behind b's sent count once a has read what reached it: the
/// smallest difference over a window of reads. A heartbeat waits in a's socket until a's next
/// tick (up to a keepalive, longer when a loaded machine stalls the loop), and the two counts
/// are read from two pages one after the other, so a single read can be one behind without
/// any loss. A lost heartbeat stays lost, so reading on until the difference falls to
/// `enough` (or `window` ends) hides no loss; it only waits out the races.
fn deficit(t: &TwoNodes, enough: u64, window: Duration) -> Result<u64, String> {
    let mut least = u64::MAX;
    let start = Instant::now();
    while start.elapsed() < window || least == u64::MAX {
        let (sent, ok, _) = counters(t)?;
        least = least.min(sent.saturating_sub(ok));
        if least <= enough {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(least)
}

/// One trial: the pair at `s`'s timing on `target` alone, flooded at `rate` packets a second
/// (0: as fast as this machine can send) for `seconds`. Needs root.
pub fn trial(s: &Settings, target: Target, source: Source, rate: u64, seconds: u64, progress: &dyn Fn(usize)) -> Result<Trial, String> {
    let emu = WatchdogEmulator::start(Features::default()).map_err(|e| format!("the watchdog emulator (FUSE): {e}"))?;
    let settings = Settings { media: target.media(), loopback: false, watchdog_a: Some(emu.path()), ..s.clone() };
    let mut t = TwoNodes::create(&settings)?;
    if !t.namespaces() {
        return Err("a flood needs the namespace topology (run as root)".into());
    }
    t.start('a');
    t.start('b');
    if !t.wait_up(Duration::from_secs(15)) {
        return Err(format!("the nodes did not see each other within 15 s\n{}", t.log('a')));
    }
    let generation = t.snapshot('a').and_then(|s| s.node("b").map(|n| n.generation)).ok_or("a does not know b")?;
    let pair = t.pair().ok_or("no namespaces")?;
    let spec = spec(pair, target, source, forged_heartbeat(generation), rate);
    let pid = t.pid('a').ok_or("a is not running")?;
    let events = EventCounter::start(t.run_dir('a'))?;
    let deficit0 = deficit(&t, 0, Duration::from_millis(100))?;
    let kd0 = kernel_dropped(&t);
    let (sent0, _, rej0) = counters(&t)?;
    let cpu0 = hb_hwtest::procstat::threads_cpu(pid).ok_or("a's /proc entry")?;
    let pets0 = emu.state().pets.len();
    // The attacker stands on b's side of the segment (b's namespace, its own MAC).
    let flood = Flood::start(&pair.b, spec);
    for i in 0..seconds {
        std::thread::sleep(Duration::from_secs(1));
        progress(i as usize + 1);
    }
    let report = flood.stop();
    let cpu1 = hb_hwtest::procstat::threads_cpu(pid).ok_or("a's /proc entry")?;
    let (sent1, _, rej1) = counters(&t)?;
    // Lost heartbeats: how much further a's count fell behind b's over the flood, once a
    // has read what was still queued.
    std::thread::sleep(Duration::from_millis(100));
    let deficit1 = deficit(&t, deficit0, Duration::from_secs(2))?;
    let (false_deaths, link_deaths, stalls) = events.stop();
    let st = emu.state();
    let pets = &st.pets[pets0.max(2)..];
    let max_pet_gap_ms = pets.windows(2).map(|w| (w[1] - w[0]) as f64 / 1e6).fold(0.0, f64::max);
    let ns = |v: &[hb_hwtest::procstat::ThreadCpu], rt_only: bool| -> u64 {
        v.iter().filter(|c| !rt_only || c.name == "hbd-rt").map(|c| c.cpu_ns).sum()
    };
    let wall = report.elapsed.as_secs_f64() * 1e9;
    let pct = |rt: bool| (ns(&cpu1, rt).saturating_sub(ns(&cpu0, rt))) as f64 / wall * 100.0;
    let trial = Trial {
        target,
        flood: report,
        false_deaths,
        link_deaths,
        real_sent: sent1 - sent0,
        real_lost: deficit1.saturating_sub(deficit0),
        rejected: rej1 - rej0,
        kernel_dropped: kernel_dropped(&t) - kd0,
        hbd_cpu_pct: pct(false),
        rt_cpu_pct: pct(true),
        max_pet_gap_ms,
        watchdog_expired: st.expired_at.is_some(),
        stalls,
    };
    t.stop_a();
    Ok(trial)
}
