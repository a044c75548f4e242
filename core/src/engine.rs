//! The protocol engine: bytes and `now` in, heartbeats, events and the next deadline out.
//!
//! [`Engine`] is what the RT loop drives. It owns the wire identity (cluster, node id,
//! generation, sequence), the [`Keyring`], a replay window per peer, the [`Liveness`] tables
//! and the counters `hbctl links` shows. It is sans-I/O: it never touches a socket or a clock,
//! and after [`Engine::new`] it never allocates — events go into a fixed queue the loop drains.

use crate::auth::Keyring;
use crate::liveness::{Event, EventQueue, LinkState, Liveness, NodeState, Timing};
use crate::time::Nanos;
use crate::wire::{self, CrmState, Echo, Echoes, Header, Heartbeat, Reject, MAX_HEARTBEAT, TYPE_HEARTBEAT};
use hdrhistogram::Histogram;

/// What a valid packet was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rx {
    /// From peer index `n`.
    Peer(usize),
    /// Our own packet looped back (broadcast, multicast loop): ignored, counted.
    Own,
}

pub use crate::replay::ReplayWindow;

pub use crate::counters::{LinkCounters, PairStats, RTT_QUANTILE_EVERY};

/// A pair's RTT histogram: 1 µs to 60 s at 2 significant digits (about 10 KiB), allocated at
/// start-up and never resized, so recording on the RT thread does not allocate.
fn rtt_histogram() -> Histogram<u32> {
    let mut h = Histogram::new_with_bounds(1_000, 60_000_000_000, 2).expect("valid fixed bounds");
    h.auto(false);
    h
}

#[derive(Debug, Clone, Copy)]
struct Peer {
    id: u32,
    generation: u64,
    window: ReplayWindow,
    /// The keepalive the peer announces (its timing field), for loss; zero until heard.
    keepalive: Nanos,
    /// It announced a clean stop in its current generation: nothing more of that life
    /// (a packet still on its way on another link) brings it back.
    left: bool,
    /// Its advertised self-fencing watchdog timeout, ms (0: none).
    watchdog_ms: u32,
    /// It has been up in this life of hbd (a fresh packet kept it alive).
    up_once: bool,
    /// Its CRM state, as its last heartbeat of this generation carried it.
    crm: CrmState,
}

const EVENT_QUEUE: usize = 128;

/// The engine's parameters, all known at start-up.
#[derive(Clone)]
pub struct EngineConfig {
    /// The `cluster` name.
    pub cluster: String,
    /// This node's name.
    pub self_name: String,
    /// The peers' names (every `node` but this one), in `ha.cf` order.
    pub peers: Vec<String>,
    /// Number of links.
    pub links: usize,
    /// Timing.
    pub timing: Timing,
    /// Keys.
    pub keys: Keyring,
    /// This boot's generation (persisted by the caller, strictly increasing across restarts).
    pub generation: u64,
}

/// The protocol engine. See the module docs.
pub struct Engine {
    cluster: u32,
    self_id: u32,
    generation: u64,
    seq: u64,
    keys: Keyring,
    nlinks: usize,
    peers: Vec<Peer>,
    live: Liveness,
    links: Vec<LinkCounters>,
    pairs: Vec<PairStats>,
    rtt_hists: Vec<Histogram<u32>>,
    timing: Timing,
    next_tx: Nanos,
    tx_missed: u64,
    expected: Option<Nanos>,
    /// Added to our clock in the timestamps we send, different in every life of hbd (see
    /// [`Engine::fresh_echo`]).
    salt: u64,
    /// When this engine started: no echo of ours is older.
    started: Nanos,
    events: EventQueue<EVENT_QUEUE>,
    /// Our heartbeats carry the leaving mark: this node is stopping cleanly.
    leaving: bool,
    /// Our advertised self-fencing watchdog timeout, ms (0: none).
    watchdog_ms: u32,
    /// Our CRM's state, carried in every heartbeat while set.
    crm: CrmState,
    /// The wall clock (unix seconds) at a monotonic instant, when it can be trusted: bounds
    /// the generations peers may announce.
    wall: Option<(u64, Nanos)>,
}

/// SplitMix64's finaliser: a 64-bit value whose every bit depends on every bit of `x`.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// How far ahead of this node's clock a peer's generation may be (clock skew between nodes).
pub const GENERATION_AHEAD_S: u64 = 86_400;
/// A wall clock before 2020 is not set (a board without a battery-backed clock): generations
/// cannot be bounded by it.
pub const WALL_CLOCK_SANE_S: u64 = 1_577_836_800;

impl Engine {
    /// Builds the tables (the only allocations the engine makes). The first heartbeat is due
    /// at `now`.
    pub fn new(c: EngineConfig, now: Nanos) -> Engine {
        let n = c.peers.len();
        Engine {
            cluster: wire::cluster_id(&c.cluster),
            self_id: wire::node_id(&c.self_name),
            generation: c.generation,
            seq: 0,
            keys: c.keys,
            nlinks: c.links,
            peers: c
                .peers
                .iter()
                .map(|p| Peer {
                    id: wire::node_id(p),
                    generation: 0,
                    window: ReplayWindow::default(),
                    keepalive: Nanos::ZERO,
                    left: false,
                    watchdog_ms: 0,
                    up_once: false,
                    crm: CrmState::NONE,
                })
                .collect(),
            live: Liveness::new(c.timing, n, c.links, now),
            links: vec![LinkCounters::default(); c.links],
            pairs: vec![PairStats::default(); n * c.links],
            rtt_hists: (0..n * c.links).map(|_| rtt_histogram()).collect(),
            timing: c.timing,
            next_tx: now,
            tx_missed: 0,
            expected: None,
            salt: splitmix64(c.generation ^ u64::from(wire::node_id(&c.self_name)) << 32),
            started: now,
            events: EventQueue::default(),
            leaving: false,
            watchdog_ms: 0,
            crm: CrmState::NONE,
            wall: None,
        }
    }

    /// Tells the engine the wall clock: `unix_s` seconds since the epoch at `at`. From then on
    /// a peer generation more than [`GENERATION_AHEAD_S`] ahead of it is rejected
    /// ([`Reject::FutureGeneration`]): generations are seconds since the epoch, so no honest
    /// sender has one. Ignored (no bound) when the clock is not set.
    pub fn set_wall_clock(&mut self, unix_s: u64, at: Nanos) {
        self.wall = (unix_s >= WALL_CLOCK_SANE_S).then_some((unix_s, at));
    }

    /// The highest generation a peer may announce at `now`, if the wall clock is known.
    fn generation_limit(&self, now: Nanos) -> Option<u64> {
        let (unix_s, at) = self.wall?;
        Some(unix_s.saturating_add(now.sub(at).0 / 1_000_000_000).saturating_add(GENERATION_AHEAD_S).max(self.generation))
    }

    /// Remembers that `peer` had generation `generation` before this node restarted: older
    /// generations stay rejected ([`Reject::OldGeneration`]), so a captured packet from before
    /// cannot be replayed after a restart of this node.
    pub fn remember_generation(&mut self, peer: usize, generation: u64) {
        if let Some(p) = self.peers.get_mut(peer) {
            p.generation = p.generation.max(generation);
        }
    }

    /// Handles one received datagram on `link` at `now`; counts it either way.
    pub fn receive(&mut self, link: usize, pkt: &[u8], now: Nanos) -> Result<Rx, Reject> {
        let r = self.receive_inner(link, pkt, now);
        let c = &mut self.links[link];
        match r {
            Ok(Rx::Peer(_)) => c.rx_ok += 1,
            Ok(Rx::Own) => c.own += 1,
            Err(reason) => c.rejects[reason as usize] += 1,
        }
        r
    }

    fn receive_inner(&mut self, link: usize, pkt: &[u8], now: Nanos) -> Result<Rx, Reject> {
        let (h, body, mac) = wire::split(pkt)?;
        if h.cluster != self.cluster {
            return Err(Reject::WrongCluster);
        }
        if h.sender == self.self_id {
            // Our own broadcast or multicast looped back. Only accept it as "own" if it is
            // authentic; a forged one is a bad MAC like any other.
            return if self.keys.method(h.key).map(|m| m as u8) == Some(h.method)
                && self.keys.verify(h.key, wire::signed_part(pkt, mac.len()), mac)
            {
                Ok(Rx::Own)
            } else {
                Err(Reject::BadMac)
            };
        }
        let idx = self.peers.iter().position(|p| p.id == h.sender).ok_or(Reject::UnknownNode)?;
        if self.keys.method(h.key).map(|m| m as u8) != Some(h.method) {
            return Err(Reject::UnknownKey);
        }
        if !self.keys.verify(h.key, wire::signed_part(pkt, mac.len()), mac) {
            return Err(Reject::BadMac);
        }
        if h.kind != TYPE_HEARTBEAT {
            return Err(Reject::UnknownType);
        }
        let hb = wire::parse_heartbeat(body)?;
        // Freshness: an echo of ours must be one we sent in this life, within deadtime. A
        // packet that echoes nothing of ours (the peer has not heard us yet) is accepted but
        // keeps nothing alive.
        let proof = hb.echoes.for_node(self.self_id);
        let sent = match proof {
            Some(e) => match self.fresh_echo(e, now) {
                Some(sent) => Some(sent),
                None => {
                    self.note_stale(idx, link, &h, now);
                    return Err(Reject::Stale);
                }
            },
            None => None,
        };
        let peer = &mut self.peers[idx];
        if h.generation < peer.generation {
            return Err(Reject::OldGeneration);
        }
        if h.generation > peer.generation {
            if self.generation_limit(now).is_some_and(|limit| h.generation > limit) {
                return Err(Reject::FutureGeneration);
            }
            let peer = &mut self.peers[idx];
            let restarted = peer.generation != 0 && self.live.node_state(idx) == NodeState::Up;
            peer.generation = h.generation;
            peer.window = ReplayWindow::default();
            peer.left = false;
            peer.watchdog_ms = 0;
            peer.crm = CrmState::NONE;
            // Loss restarts with the new generation, on every link.
            for p in &mut self.pairs[idx * self.nlinks..(idx + 1) * self.nlinks] {
                p.since = Nanos::ZERO;
            }
            if restarted {
                self.push(Event::NodeRestarted { node: idx as u8, at: now, generation: h.generation });
            }
        }
        if !self.peers[idx].window.accept(h.seq) {
            return Err(Reject::Replay);
        }
        if let Some((k, _)) = hb.timing {
            self.peers[idx].keepalive = Nanos::from_millis(u64::from(k));
        }
        self.peers[idx].watchdog_ms = hb.watchdog_ms;
        if hb.crm != self.peers[idx].crm {
            self.peers[idx].crm = hb.crm;
            self.push(Event::PeerCrm { node: idx as u8, at: now, state: hb.crm });
        }
        let p = &mut self.pairs[idx * self.nlinks + link];
        if p.since == Nanos::ZERO {
            p.since = now;
            p.since_rx = p.rx;
        }
        p.rx += 1;
        p.peer_ts = h.timestamp;
        p.peer_ts_at = now;
        // Only a proven-fresh packet keeps the peer alive, or says it left.
        if let (Some(e), Some(sent)) = (proof, sent) {
            self.record_rtt(idx * self.nlinks + link, now.sub(sent).0.saturating_sub(u64::from(e.held)), now);
            let (events, pairs, nl) = (&mut self.events, &mut self.pairs, self.nlinks);
            if hb.leaving {
                self.peers[idx].left = true;
                self.live.left(idx, now, &mut |e| push_event(events, pairs, nl, e));
            } else if !self.peers[idx].left {
                self.peers[idx].up_once = true;
                let was_dead = self.live.node_state(idx) == NodeState::Dead;
                self.live.heard(idx, link, now, &mut |e| push_event(events, pairs, nl, e));
                // Its CRM state was forgotten when it died (IPC, CRM): for a returning peer it
                // is news again, though its heartbeats never stopped carrying it.
                let crm = self.peers[idx].crm;
                if was_dead && !crm.as_slice().is_empty() {
                    self.push(Event::PeerCrm { node: idx as u8, at: now, state: crm });
                }
            }
        }
        Ok(Rx::Peer(idx))
    }

    /// When we sent the packet that `e` echoes, if `e` proves freshness: a timestamp of ours
    /// from this life (we add [`Engine::salt`], derived from our generation, to every
    /// timestamp we send, so an echo captured in an earlier life — even before a reboot reset
    /// the monotonic clock — lands at a random time here) and no older than deadtime. An
    /// authenticated packet carrying it was made by the peer after it heard us at that time:
    /// no replay from an earlier life of either node can carry one.
    fn fresh_echo(&self, e: Echo, now: Nanos) -> Option<Nanos> {
        let sent = Nanos(e.timestamp.wrapping_sub(self.salt));
        (sent >= self.started && sent <= now && now.sub(sent) <= self.timing.deadtime).then_some(sent)
    }

    /// A stale packet of the peer's current generation still tells us its newest timestamp, to
    /// echo: after a partition longer than deadtime each side's echoes of the other are stale,
    /// and without this neither could ever prove itself fresh again. Only a newer timestamp
    /// counts, so replayed old packets cannot make us echo the past.
    fn note_stale(&mut self, idx: usize, link: usize, h: &Header, now: Nanos) {
        if h.generation != self.peers[idx].generation {
            return;
        }
        let p = &mut self.pairs[idx * self.nlinks + link];
        // Timestamps are the peer's clock plus a constant salt: newer is a positive difference.
        if p.peer_ts == 0 || (h.timestamp.wrapping_sub(p.peer_ts) as i64) > 0 {
            p.peer_ts = h.timestamp;
            p.peer_ts_at = now;
        }
    }

    /// Records a round-trip sample on pair `pi`.
    fn record_rtt(&mut self, pi: usize, rtt: u64, now: Nanos) {
        if rtt == 0 || rtt >= 60_000_000_000 {
            return;
        }
        let p = &mut self.pairs[pi];
        p.rtt_last = rtt;
        p.rtt_min = if p.rtt_count == 0 { rtt } else { p.rtt_min.min(rtt) };
        p.rtt_max = p.rtt_max.max(rtt);
        p.rtt_sum = p.rtt_sum.saturating_add(rtt);
        p.rtt_count += 1;
        let h = &mut self.rtt_hists[pi];
        h.saturating_record(rtt);
        if p.rtt_count <= 8 || now >= p.rtt_quantiles_at.add(RTT_QUANTILE_EVERY) {
            // A quantile is its bucket's highest value (up to 1 % above the samples in it):
            // keep it within the exact min and max shown beside it (max/min rather than clamp,
            // which would panic were min above max).
            p.rtt_p50 = h.value_at_quantile(0.5).max(p.rtt_min).min(p.rtt_max);
            p.rtt_p99 = h.value_at_quantile(0.99).max(p.rtt_min).min(p.rtt_max);
            p.rtt_quantiles_at = now;
        }
    }

    /// Says that `link` was read only up to arrivals at `until` this iteration (a drain cut
    /// short by its budget): the next [`Self::poll`] judges that link as of `until`.
    pub fn known_until(&mut self, link: usize, until: Nanos) {
        self.live.known_until(link, until);
    }

    /// The kernel's count of datagrams dropped on `link`'s socket, as it came with the last
    /// datagram delivered.
    pub fn kernel_dropped(&mut self, link: usize, total: u32) {
        self.links[link].kernel_dropped = u64::from(total);
    }

    /// Counts a packet dropped on `link` before it reached [`Self::receive`] (a serial frame
    /// that did not decode).
    pub fn count_reject(&mut self, link: usize, reason: Reject) {
        self.links[link].rejects[reason as usize] += 1;
    }

    /// Judges every deadline at `now` (after all received packets were handed to
    /// [`Self::receive`]).
    pub fn poll(&mut self, now: Nanos) {
        let expected = self.expected.take();
        let (events, pairs, nl) = (&mut self.events, &mut self.pairs, self.nlinks);
        self.live.poll(now, expected, &mut |e| push_event(events, pairs, nl, e));
    }

    /// Whether heartbeats are due at `now`.
    pub fn tx_due(&self, now: Nanos) -> bool {
        now >= self.next_tx
    }

    /// Advertises, in every heartbeat, that this node resets itself through a watchdog of
    /// `ms` when it loses the cluster (0: stops advertising).
    pub fn set_watchdog_advert(&mut self, ms: u32) {
        self.watchdog_ms = ms;
    }

    /// Carries `state` (our CRM's) in every heartbeat from now on (empty: none).
    pub fn set_crm_state(&mut self, state: CrmState) {
        self.crm = state;
    }

    /// A peer's advertised self-fencing watchdog timeout, ms (0: none).
    pub fn peer_watchdog_ms(&self, n: usize) -> u32 {
        self.peers[n].watchdog_ms
    }

    /// Whether this node has lost the cluster: every peer it has heard in this life of hbd
    /// is dead, and there was at least one.
    pub fn lost_cluster(&self) -> bool {
        let mut heard = false;
        for n in 0..self.peers.len() {
            if self.peers[n].up_once {
                heard = true;
                if self.live.node_state(n) != NodeState::Dead {
                    return false;
                }
            }
        }
        heard
    }

    /// From now on, heartbeats carry the leaving mark: this node is stopping cleanly, and peers
    /// report it as having left rather than as dead (so nobody fences it).
    pub fn set_leaving(&mut self) {
        self.leaving = true;
    }

    /// Writes the next heartbeat for `link` into `out`; returns its length.
    pub fn build_heartbeat(&mut self, link: usize, now: Nanos, out: &mut [u8; MAX_HEARTBEAT]) -> usize {
        self.seq += 1;
        let (key, method) = self.keys.active();
        let h = Header {
            kind: TYPE_HEARTBEAT,
            cluster: self.cluster,
            sender: self.self_id,
            generation: self.generation,
            seq: self.seq,
            timestamp: now.0.wrapping_add(self.salt),
            key,
            method: method as u8,
            body_len: 0,
        };
        // Echo every peer heard on this link: each needs one in every packet to prove it fresh.
        let mut echoes = Echoes::default();
        for (i, peer) in self.peers.iter().enumerate() {
            let p = &self.pairs[i * self.nlinks + link];
            if p.peer_ts != 0 {
                echoes.push(Echo { peer: peer.id, timestamp: p.peer_ts, held: now.sub(p.peer_ts_at).0.min(u64::from(u32::MAX)) as u32 });
            }
        }
        let timing = Some((self.timing.keepalive.as_millis() as u32, self.timing.deadtime.as_millis() as u32));
        let hb = Heartbeat { timing, echoes, leaving: self.leaving, watchdog_ms: self.watchdog_ms, crm: self.crm };
        self.links[link].tx += 1;
        wire::encode_heartbeat(&h, &hb, &self.keys, out)
    }

    /// A send on `link` failed.
    pub fn tx_failed(&mut self, link: usize) {
        self.links[link].tx_err += 1;
    }

    /// Heartbeats for this round were sent at `now`: schedule the next round on the absolute
    /// keepalive grid, skipping (and counting) slots already missed.
    pub fn tx_done(&mut self, now: Nanos) {
        self.next_tx = self.next_tx.add(self.timing.keepalive);
        if self.next_tx <= now {
            let behind = now.sub(self.next_tx).0 / self.timing.keepalive.0.max(1) + 1;
            self.tx_missed += behind;
            self.next_tx = now.add(self.timing.keepalive);
        }
    }

    /// The next deadline (heartbeat due or liveness); also remembered as the wake-up the
    /// next [`Self::poll`] measures its lateness against.
    pub fn next_deadline(&mut self) -> Nanos {
        let at = self.next_tx.min(self.live.poll_at());
        self.expected = Some(at);
        at
    }

    /// Takes the oldest queued event.
    pub fn pop_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    fn push(&mut self, e: Event) {
        push_event(&mut self.events, &mut self.pairs, self.nlinks, e);
    }

    /// Number of peers.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }
    /// Number of links.
    pub fn link_count(&self) -> usize {
        self.nlinks
    }
    /// A peer's current generation (0 = never heard).
    pub fn peer_generation(&self, n: usize) -> u64 {
        self.peers[n].generation
    }
    /// A peer's state.
    pub fn node_state(&self, n: usize) -> NodeState {
        self.live.node_state(n)
    }
    /// A (peer, link) state and last-heard time.
    pub fn link_state(&self, n: usize, link: usize) -> (LinkState, Nanos) {
        self.live.link(n, link)
    }
    /// (peer, link) statistics.
    pub fn pair(&self, n: usize, link: usize) -> &PairStats {
        &self.pairs[n * self.nlinks + link]
    }
    /// Heartbeats lost on (peer, link), parts per million, since the first packet of the
    /// peer's current generation: `1 - received / expected`, expecting one per the keepalive
    /// the peer announces (ours if it announces less than 1 ms). Lost while the link was down
    /// counts; duplicates and replays do not make up for losses.
    pub fn loss_ppm(&self, n: usize, link: usize) -> u64 {
        let p = &self.pairs[n * self.nlinks + link];
        if p.since == Nanos::ZERO {
            return 0;
        }
        let ka = if self.peers[n].keepalive >= Nanos::from_millis(1) { self.peers[n].keepalive } else { self.timing.keepalive };
        let (_, last) = self.live.link(n, link);
        let expected = last.sub(p.since).0 / ka.0.max(1) + 1;
        let got = p.rx - p.since_rx;
        expected.saturating_sub(got).saturating_mul(1_000_000) / expected
    }

    /// Link counters.
    pub fn link_counters(&self, link: usize) -> &LinkCounters {
        &self.links[link]
    }
    /// Our generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }
    /// Heartbeat slots missed because the loop ran late.
    pub fn tx_missed(&self) -> u64 {
        self.tx_missed
    }
    /// Events lost because the queue was full.
    pub fn events_dropped(&self) -> u64 {
        self.events.dropped()
    }
    /// (stalls, total stalled, worst lateness).
    pub fn stall_stats(&self) -> (u64, Nanos, Nanos) {
        self.live.stall_stats()
    }
}

/// Queues `e`, counting link ups and deaths in the pair statistics on the way.
fn push_event(events: &mut EventQueue<EVENT_QUEUE>, pairs: &mut [PairStats], nlinks: usize, e: Event) {
    match e {
        Event::LinkUp { node, link, .. } => pairs[usize::from(node) * nlinks + usize::from(link)].ups += 1,
        Event::LinkDead { node, link, .. } => pairs[usize::from(node) * nlinks + usize::from(link)].downs += 1,
        _ => {}
    }
    events.push(e);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::parse_authkeys;
    use std::path::Path;

    const MS: u64 = 1_000_000;

    fn timing() -> Timing {
        Timing {
            keepalive: Nanos::from_millis(10),
            warntime: Nanos::from_millis(30),
            deadtime: Nanos::from_millis(50),
            initdead: Nanos::from_millis(500),
            stall_threshold: Nanos::from_millis(5),
        }
    }

    fn engine(name: &str, peer: &str, gen: u64, key: &str) -> Engine {
        let keys = Keyring::new(&parse_authkeys(key, Path::new("authkeys")).unwrap());
        Engine::new(
            EngineConfig {
                cluster: "c".into(),
                self_name: name.into(),
                peers: vec![peer.into()],
                links: 1,
                timing: timing(),
                keys,
                generation: gen,
            },
            Nanos(1_000 * MS),
        )
    }

    const K: &str = "auth 1\n1 sha256 secret\n";

    fn hb(e: &mut Engine, now: u64) -> Vec<u8> {
        let mut out = [0u8; MAX_HEARTBEAT];
        let n = e.build_heartbeat(0, Nanos(now), &mut out);
        out[..n].to_vec()
    }

    #[test]
    fn two_engines_exchange_and_measure_rtt() {
        let mut a = engine("a", "b", 10, K);
        let mut b = engine("b", "a", 20, K);
        let t = 1_000 * MS;
        let p = hb(&mut a, t);
        assert_eq!(b.receive(0, &p, Nanos(t + MS)), Ok(Rx::Peer(0)));
        let p = hb(&mut b, t + 2 * MS);
        assert_eq!(a.receive(0, &p, Nanos(t + 3 * MS)), Ok(Rx::Peer(0)));
        // a sent at t, b held it 1 ms: RTT = 3 ms - 1 ms.
        assert_eq!(a.pair(0, 0).rtt_last, 2 * MS);
        // One sample: every quantile is that sample, not its histogram bucket's top.
        assert_eq!((a.pair(0, 0).rtt_p50, a.pair(0, 0).rtt_p99, a.pair(0, 0).rtt_max), (2 * MS, 2 * MS, 2 * MS));
        assert_eq!(a.node_state(0), NodeState::Up);
        assert!(matches!(a.pop_event(), Some(Event::LinkUp { .. })));
        assert!(matches!(a.pop_event(), Some(Event::NodeUp { returning: false, .. })));
        assert_eq!(a.pop_event(), None);
    }

    #[test]
    fn a_peers_crm_state_is_reported_once_per_change_and_forgotten_by_its_next_life() {
        let mut a = engine("a", "b", 10, K);
        let mut b = engine("b", "a", 20, K);
        let t = 1_000 * MS;
        let s = CrmState::new(b"groups").unwrap();
        b.set_crm_state(s);
        b.receive(0, &hb(&mut a, t), Nanos(t)).unwrap();
        a.receive(0, &hb(&mut b, t), Nanos(t)).unwrap();
        a.receive(0, &hb(&mut b, t + MS), Nanos(t + MS)).unwrap();
        let crm: Vec<Event> = std::iter::from_fn(|| a.pop_event()).filter(|e| matches!(e, Event::PeerCrm { .. })).collect();
        assert_eq!(crm, [Event::PeerCrm { node: 0, at: Nanos(t), state: s }], "once, not per heartbeat");
        b.set_crm_state(CrmState::NONE);
        a.receive(0, &hb(&mut b, t + 2 * MS), Nanos(t + 2 * MS)).unwrap();
        assert_eq!(a.pop_event(), Some(Event::PeerCrm { node: 0, at: Nanos(t + 2 * MS), state: CrmState::NONE }));
        // A peer that died and returns (same life) says it again, though it never changed.
        b.set_crm_state(s);
        a.receive(0, &hb(&mut b, t + 3 * MS), Nanos(t + 3 * MS)).unwrap();
        a.poll(Nanos(t + 500 * MS));
        assert_eq!(a.node_state(0), NodeState::Dead);
        while a.pop_event().is_some() {}
        let echoed = hb(&mut a, t + 501 * MS);
        // Stale for b (its echo is old), but b learns the timestamp to echo back.
        let _ = b.receive(0, &echoed, Nanos(t + 501 * MS));
        a.receive(0, &hb(&mut b, t + 502 * MS), Nanos(t + 502 * MS)).unwrap();
        assert_eq!(a.node_state(0), NodeState::Up);
        assert!(std::iter::from_fn(|| a.pop_event()).any(|e| e == Event::PeerCrm { node: 0, at: Nanos(t + 502 * MS), state: s }));
        // A new life starts without one, and says it again.
        let mut b2 = engine("b", "a", 21, K);
        b2.set_crm_state(s);
        a.receive(0, &hb(&mut b2, t + 503 * MS), Nanos(t + 503 * MS)).unwrap();
        assert!(std::iter::from_fn(|| a.pop_event()).any(|e| e == Event::PeerCrm { node: 0, at: Nanos(t + 503 * MS), state: s }));
    }

    #[test]
    fn a_peer_that_leaves_is_reported_as_left_and_only_a_new_life_brings_it_back() {
        let mut a = engine("a", "b", 10, K);
        let mut b = engine("b", "a", 20, K);
        let t = 1_000 * MS;
        b.receive(0, &hb(&mut a, t), Nanos(t)).unwrap();
        a.receive(0, &hb(&mut b, t + MS), Nanos(t + MS)).unwrap();
        let late = hb(&mut b, t + 2 * MS);
        while a.pop_event().is_some() {}
        b.set_leaving();
        a.receive(0, &hb(&mut b, t + 3 * MS), Nanos(t + 3 * MS)).unwrap();
        assert!(matches!(a.pop_event(), Some(Event::NodeLeft { node: 0, .. })));
        assert_eq!(a.node_state(0), NodeState::Dead);
        // A packet of that life still on its way (sent before it left) revives nothing.
        assert_eq!(a.receive(0, &late, Nanos(t + 4 * MS)), Ok(Rx::Peer(0)));
        a.poll(Nanos(t + 200 * MS));
        assert_eq!(a.pop_event(), None, "no node-up, and no node-dead later either");
        // Its next life comes back up.
        let mut b2 = engine("b", "a", 21, K);
        // (a still echoes b's previous life: stale to b2, which learns a's timestamp from it.)
        assert_eq!(b2.receive(0, &hb(&mut a, t + 300 * MS), Nanos(t + 300 * MS)), Err(Reject::Stale));
        a.receive(0, &hb(&mut b2, t + 301 * MS), Nanos(t + 301 * MS)).unwrap();
        b2.receive(0, &hb(&mut a, t + 302 * MS), Nanos(t + 302 * MS)).unwrap();
        a.receive(0, &hb(&mut b2, t + 303 * MS), Nanos(t + 303 * MS)).unwrap();
        assert_eq!(a.node_state(0), NodeState::Up);
    }

    #[test]
    fn every_bad_packet_kind_is_rejected_and_counted() {
        let mut a = engine("a", "b", 10, K);
        let mut b = engine("b", "a", 20, K);
        let t = 1_000 * MS;
        // b hears a first, so its packets carry the echo that proves them fresh.
        b.receive(0, &hb(&mut a, t), Nanos(t)).unwrap();
        let good = hb(&mut b, t);
        assert_eq!(a.receive(0, &good, Nanos(t)), Ok(Rx::Peer(0)));
        assert_eq!(a.receive(0, &good, Nanos(t)), Err(Reject::Replay));
        let mut bad_mac = hb(&mut b, t);
        let last = bad_mac.len() - 1;
        bad_mac[last] ^= 1;
        assert_eq!(a.receive(0, &bad_mac, Nanos(t)), Err(Reject::BadMac));
        let mut stranger = engine("mallory", "a", 1, K);
        assert_eq!(a.receive(0, &hb(&mut stranger, t), Nanos(t)), Err(Reject::UnknownNode));
        let mut wrong_key = engine("b", "a", 30, "auth 1\n1 sha256 other\n");
        assert_eq!(a.receive(0, &hb(&mut wrong_key, t), Nanos(t)), Err(Reject::BadMac));
        let mut other_method = engine("b", "a", 30, "auth 1\n1 md5 secret\n");
        assert_eq!(a.receive(0, &hb(&mut other_method, t), Nanos(t)), Err(Reject::UnknownKey));
        let mut other_cluster = {
            let keys = Keyring::new(&parse_authkeys(K, Path::new("authkeys")).unwrap());
            Engine::new(
                EngineConfig {
                    cluster: "other".into(),
                    self_name: "b".into(),
                    peers: vec!["a".into()],
                    links: 1,
                    timing: timing(),
                    keys,
                    generation: 99,
                },
                Nanos(t),
            )
        };
        assert_eq!(a.receive(0, &hb(&mut other_cluster, t), Nanos(t)), Err(Reject::WrongCluster));
        let mut old = engine("b", "a", 5, K);
        assert_eq!(a.receive(0, &hb(&mut old, t), Nanos(t)), Err(Reject::OldGeneration));
        assert_eq!(a.receive(0, &good[..30], Nanos(t)), Err(Reject::Truncated));
        assert_eq!(a.receive(0, &[0u8; 600], Nanos(t)), Err(Reject::Oversized));
        let mut v2 = good.clone();
        v2[2] = 2;
        assert_eq!(a.receive(0, &v2, Nanos(t)), Err(Reject::UnknownVersion));
        // Our own looped-back packet is not an error.
        let own = hb(&mut a, t);
        assert_eq!(a.receive(0, &own, Nanos(t)), Ok(Rx::Own));
        let c = a.link_counters(0);
        assert_eq!(c.rx_ok, 1);
        assert_eq!(c.own, 1);
        assert_eq!(c.rejected(), 10);
        assert_eq!(c.rejects[Reject::BadMac as usize], 2);
        assert_eq!(a.node_state(0), NodeState::Up);
    }

    #[test]
    fn a_restarted_peer_is_accepted_and_reported() {
        let mut a = engine("a", "b", 10, K);
        let mut b1 = engine("b", "a", 20, K);
        let t = 1_000 * MS;
        b1.receive(0, &hb(&mut a, t), Nanos(t)).unwrap();
        a.receive(0, &hb(&mut b1, t), Nanos(t)).unwrap();
        let mut b2 = engine("b", "a", 21, K);
        // a's packets still echo b's earlier life: stale to the new b, until a hears it.
        assert_eq!(b2.receive(0, &hb(&mut a, t + MS), Nanos(t + MS)), Err(Reject::Stale));
        a.receive(0, &hb(&mut b2, t + MS), Nanos(t + MS)).unwrap();
        assert_eq!(b2.receive(0, &hb(&mut a, t + 2 * MS), Nanos(t + 2 * MS)), Ok(Rx::Peer(0)));
        let evs: Vec<Event> = std::iter::from_fn(|| a.pop_event()).collect();
        assert!(evs.iter().any(|e| matches!(e, Event::NodeRestarted { generation: 21, .. })), "{evs:?}");
        // The old incarnation's packets are now refused.
        assert_eq!(a.receive(0, &hb(&mut b1, t + 3 * MS), Nanos(t + 3 * MS)), Err(Reject::OldGeneration));
    }

    #[test]
    fn tx_schedule_keeps_the_grid_and_counts_misses() {
        let mut a = engine("a", "b", 1, K);
        let t = 1_000 * MS;
        assert!(a.tx_due(Nanos(t)));
        a.tx_done(Nanos(t));
        assert!(!a.tx_due(Nanos(t + 9 * MS)));
        assert!(a.tx_due(Nanos(t + 10 * MS)));
        a.tx_done(Nanos(t + 10 * MS + 300_000));
        assert_eq!(a.next_deadline(), Nanos(t + 20 * MS));
        a.tx_done(Nanos(t + 55 * MS));
        assert_eq!(a.tx_missed(), 3);
        assert_eq!(a.next_deadline(), Nanos(t + 65 * MS));
    }

    #[test]
    fn heartbeat_fits_128_bytes_with_echo() {
        let mut a = engine("a-node-with-a-long-name", "b", 1, K);
        let mut b = engine("b", "a-node-with-a-long-name", 1, K);
        let t = 1_000 * MS;
        a.receive(0, &hb(&mut b, t), Nanos(t)).unwrap();
        assert!(hb(&mut a, t).len() <= 128);
    }

    /// Issue 14: a packet claiming a generation far beyond the wall clock (a forged one: with
    /// `crc` anyone can sign) is refused and counted, and does not lock the real peer out.
    #[test]
    fn a_generation_far_ahead_of_the_clock_is_refused() {
        let keys = "auth 1\n1 crc\n";
        let mut rx = engine("a", "b", 10, keys);
        rx.set_wall_clock(1_800_000_000, Nanos(2_000 * MS + 1));
        let mut forger = engine("b", "a", u64::MAX, keys);
        let mut honest = engine("b", "a", 1_800_000_100, keys);
        let mut out = [0u8; MAX_HEARTBEAT];
        let n = forger.build_heartbeat(0, Nanos(2_000 * MS + 2), &mut out);
        assert_eq!(rx.receive(0, &out[..n], Nanos(2_000 * MS + 3)), Err(Reject::FutureGeneration));
        assert_eq!(rx.link_counters(0).rejects[Reject::FutureGeneration as usize], 1);
        let n = honest.build_heartbeat(0, Nanos(2_000 * MS + 4), &mut out);
        assert!(rx.receive(0, &out[..n], Nanos(2_000 * MS + 5)).is_ok(), "the real peer is still heard");
        assert_eq!(rx.peer_generation(0), 1_800_000_100);
        // Without a set clock (a board with no battery) nothing is bounded.
        let mut unset = engine("a", "b", 10, keys);
        unset.set_wall_clock(1_000, Nanos(2_000 * MS + 1));
        let n = forger.build_heartbeat(0, Nanos(2_000 * MS + 6), &mut out);
        assert!(unset.receive(0, &out[..n], Nanos(2_000 * MS + 7)).is_ok());
    }

    /// Issue 14: a generation remembered from before this node restarted keeps that peer's
    /// older packets out (a replay captured earlier).
    #[test]
    fn a_remembered_generation_keeps_older_packets_out() {
        let keys = "auth 1\n1 sha256 a-secret-of-some-length\n";
        let mut old = engine("b", "a", 100, keys);
        let mut out = [0u8; MAX_HEARTBEAT];
        let n = old.build_heartbeat(0, Nanos(2_000 * MS + 2), &mut out);
        let mut rx = engine("a", "b", 10, keys);
        rx.remember_generation(0, 101);
        assert_eq!(rx.receive(0, &out[..n], Nanos(2_000 * MS + 3)), Err(Reject::OldGeneration));
        let mut now = engine("b", "a", 101, keys);
        let n = now.build_heartbeat(0, Nanos(2_000 * MS + 4), &mut out);
        assert!(rx.receive(0, &out[..n], Nanos(2_000 * MS + 5)).is_ok());
    }

    /// The salt's test vector in docs/wire-format.md (computed independently, in Python).
    #[test]
    fn the_salt_matches_the_spec() {
        let e = engine("alpha", "b", 1_700_000_000, K);
        assert_eq!(format!("{:016x}", e.salt), "1b198c001860b57f");
        let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/wire-format.md")).unwrap();
        assert!(spec.contains("generation 1700000000 has salt `1b198c001860b57f`"));
    }

    /// Issue 14, freshness: only a packet that echoes a timestamp of ours from this life,
    /// sent within deadtime, keeps the peer alive; one without an echo of ours is accepted
    /// but proves nothing; one with an old echo is refused as stale.
    #[test]
    fn only_a_fresh_echo_of_ours_keeps_a_peer_alive() {
        let mut a = engine("a", "b", 10, K);
        let mut b = engine("b", "a", 20, K);
        let t = 1_000 * MS;
        // b has not heard a: accepted, counted, but a does not see b up.
        assert_eq!(a.receive(0, &hb(&mut b, t), Nanos(t)), Ok(Rx::Peer(0)));
        assert_eq!(a.node_state(0), NodeState::Init);
        // One round trip later it has.
        b.receive(0, &hb(&mut a, t + MS), Nanos(t + MS)).unwrap();
        assert_eq!(a.receive(0, &hb(&mut b, t + 2 * MS), Nanos(t + 2 * MS)), Ok(Rx::Peer(0)));
        assert_eq!(a.node_state(0), NodeState::Up);
        // A packet of b's made now but arriving after deadtime (a's echo older than 50 ms).
        let late = hb(&mut b, t + 3 * MS);
        assert_eq!(a.receive(0, &late, Nanos(t + 52 * MS)), Err(Reject::Stale));
        assert_eq!(a.link_counters(0).rejects[Reject::Stale as usize], 1);
    }

    /// Issue 14, finding 3: heartbeats of b captured while it talked to a, replayed after a
    /// restarted (a new generation, so a new salt on its clock), prove nothing: they echo
    /// timestamps of a's earlier life. The peer stays as unknown as it was.
    #[test]
    fn a_replay_after_this_node_restarts_is_stale() {
        let mut a1 = engine("a", "b", 10, K);
        let mut b = engine("b", "a", 20, K);
        let t = 1_000 * MS;
        let mut captured = Vec::new();
        for i in 0..40 {
            let now = t + i * 10 * MS;
            b.receive(0, &hb(&mut a1, now), Nanos(now)).unwrap();
            let p = hb(&mut b, now + MS);
            a1.receive(0, &p, Nanos(now + MS)).unwrap();
            captured.push(p);
        }
        assert_eq!(a1.node_state(0), NodeState::Up);
        // b dies; a restarts on the same monotonic clock (and the worst case: the same start
        // time, as after a reboot), then the capture is replayed at the old pace.
        let mut a2 = engine("a", "b", 11, K);
        a2.remember_generation(0, 20);
        for (i, p) in captured.iter().enumerate() {
            let now = Nanos(t + i as u64 * 10 * MS + MS);
            assert_eq!(a2.receive(0, p, now), Err(Reject::Stale), "replayed packet {i}");
        }
        assert_eq!(a2.node_state(0), NodeState::Init);
        assert_eq!(a2.link_counters(0).rejects[Reject::Stale as usize], 40);
    }
}
