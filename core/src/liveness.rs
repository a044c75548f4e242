//! Liveness: per link and per node, up → warn → dead, on a clock the caller owns.
//!
//! Sans-I/O (STYLE habit 3): [`Liveness::heard`] records a packet at `now`, [`Liveness::poll`]
//! judges deadlines at `now` and emits [`Event`]s, [`Liveness::poll_at`] says when the next
//! deadline falls. Nothing here reads a clock or allocates after [`Liveness::new`].
//!
//! Rules:
//! - a link is `Up` from its first packet, `Warn` after `warntime` of silence (logged with how
//!   late), `Dead` after `deadtime`; a link never heard is `Dead` at `initdead` after start;
//! - a node is alive while any of its links is; it is `Dead` when all are;
//! - **a stall of our own is never the peer's death.** The caller tells [`Liveness::poll`]
//!   when it expected to wake; a wake-up later than that by more than the stall threshold
//!   means this process was not running (a VM pause, a starved CPU). Everything already
//!   received has been processed before `poll` is called, and then every silence clock is
//!   moved forward by the stall — peers get back the time we took from them — and a
//!   [`Event::Stall`] ("not scheduled for N ms") is emitted instead of a false death.

use crate::time::Nanos;

/// State of one (peer, link) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum LinkState {
    /// Not heard since start; dead at `initdead`.
    Init = 0,
    /// Heard within `warntime`.
    Up = 1,
    /// Silent for more than `warntime`.
    Warn = 2,
    /// Silent for more than `deadtime` (or never heard by `initdead`).
    Dead = 3,
}

/// State of one peer node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum NodeState {
    /// Not heard since start, within `initdead`.
    Init = 0,
    /// At least one link is up.
    Up = 1,
    /// Every link is dead.
    Dead = 3,
}

impl LinkState {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Init => "init",
            LinkState::Up => "up",
            LinkState::Warn => "warn",
            LinkState::Dead => "dead",
        }
    }
}

impl NodeState {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            NodeState::Init => "init",
            NodeState::Up => "up",
            NodeState::Dead => "dead",
        }
    }
}

/// What liveness tells the rest of hbd. `Copy`, so it crosses the RT rings without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A peer's first packet, or its first after being dead (`returning`: after a partition).
    NodeUp {
        /// Peer index.
        node: u8,
        /// When.
        at: Nanos,
        /// It had been declared dead before.
        returning: bool,
    },
    /// Every link to a peer is dead.
    NodeDead {
        /// Peer index.
        node: u8,
        /// When it was declared.
        at: Nanos,
        /// Silence on its freshest link (or time since start if never heard).
        silent: Nanos,
    },
    /// A peer stopped cleanly (its last heartbeat said so): it is down, but nothing failed.
    NodeLeft {
        /// Peer index.
        node: u8,
        /// When.
        at: Nanos,
    },
    /// A peer's CRM state changed (its heartbeats carry a new one).
    PeerCrm {
        /// Peer index.
        node: u8,
        /// When.
        at: Nanos,
        /// The state (empty: its CRM stopped saying).
        state: crate::wire::CrmState,
    },
    /// A peer restarted: a newer generation arrived while it was considered alive.
    NodeRestarted {
        /// Peer index.
        node: u8,
        /// When.
        at: Nanos,
        /// The new generation.
        generation: u64,
    },
    /// A link to a peer carries heartbeats (again).
    LinkUp {
        /// Peer index.
        node: u8,
        /// Link index.
        link: u8,
        /// When.
        at: Nanos,
    },
    /// A link has been silent past `warntime`.
    LinkWarn {
        /// Peer index.
        node: u8,
        /// Link index.
        link: u8,
        /// When.
        at: Nanos,
        /// Silence so far.
        silent: Nanos,
    },
    /// A link has been silent past `deadtime`.
    LinkDead {
        /// Peer index.
        node: u8,
        /// Link index.
        link: u8,
        /// When.
        at: Nanos,
        /// Silence.
        silent: Nanos,
    },
    /// A ping pseudo-member (a router, or a `ping_group`) answers (again).
    PingUp {
        /// Ping node index.
        node: u8,
        /// When.
        at: Nanos,
    },
    /// A ping pseudo-member has not answered for `deadping`.
    PingDead {
        /// Ping node index.
        node: u8,
        /// When it was declared.
        at: Nanos,
        /// Silence (or time since start if it never answered).
        silent: Nanos,
    },
    /// This process was not scheduled for `late` past its deadline.
    Stall {
        /// When it woke.
        at: Nanos,
        /// How late.
        late: Nanos,
    },
}

/// A fixed-size FIFO of events (no allocation after construction); a full queue drops the
/// newest event and counts it.
#[derive(Debug, Clone)]
pub struct EventQueue<const N: usize> {
    events: [Option<Event>; N],
    head: usize,
    len: usize,
    dropped: u64,
}

impl<const N: usize> Default for EventQueue<N> {
    fn default() -> Self {
        EventQueue { events: [None; N], head: 0, len: 0, dropped: 0 }
    }
}

impl<const N: usize> EventQueue<N> {
    /// Appends `e`, or counts it as dropped when the queue is full.
    pub fn push(&mut self, e: Event) {
        if self.len == N {
            self.dropped += 1;
            return;
        }
        self.events[(self.head + self.len) % N] = Some(e);
        self.len += 1;
    }
    /// Takes the oldest event.
    pub fn pop(&mut self) -> Option<Event> {
        if self.len == 0 {
            return None;
        }
        let e = self.events[self.head].take();
        self.head = (self.head + 1) % N;
        self.len -= 1;
        e
    }
    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// The timing parameters (from `ha.cf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// `keepalive`.
    pub keepalive: Nanos,
    /// `warntime`.
    pub warntime: Nanos,
    /// `deadtime`.
    pub deadtime: Nanos,
    /// `initdead`.
    pub initdead: Nanos,
    /// Lateness of our own wake-up beyond which it counts as a stall.
    pub stall_threshold: Nanos,
}

#[derive(Debug, Clone, Copy)]
struct Pair {
    state: LinkState,
    last: Nanos,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    state: NodeState,
}

/// The liveness tables: fixed size, chosen at construction.
#[derive(Debug, Clone)]
pub struct Liveness {
    t: Timing,
    start: Nanos,
    nlinks: usize,
    nodes: Vec<Node>,
    pairs: Vec<Pair>,
    stalls: u64,
    stalled_total: Nanos,
    max_late: Nanos,
    /// Per link: what has been read of it covers arrivals up to this time only (a drain cut
    /// short by its budget under a flood), so its silence is judged as of then; `Nanos::MAX`
    /// when everything received was read. Reset by every [`Self::poll`].
    known_until: Vec<Nanos>,
}

impl Liveness {
    /// Tables for `nodes` peers × `links` links, starting at `now`.
    pub fn new(t: Timing, nodes: usize, links: usize, now: Nanos) -> Liveness {
        Liveness {
            t,
            start: now,
            nlinks: links,
            nodes: vec![Node { state: NodeState::Init }; nodes],
            pairs: vec![Pair { state: LinkState::Init, last: now }; nodes * links],
            stalls: 0,
            stalled_total: Nanos::ZERO,
            max_late: Nanos::ZERO,
            known_until: vec![Nanos::MAX; links],
        }
    }

    /// Says that `link` was read only up to arrivals at `until` (its queue still holds
    /// packets): the next [`Self::poll`] judges that link's silence as of `until`, not `now`,
    /// so a heartbeat still queued behind a flood cannot be missed. It delays a verdict by
    /// the backlog, never makes one early.
    pub fn known_until(&mut self, link: usize, until: Nanos) {
        if let Some(k) = self.known_until.get_mut(link) {
            *k = (*k).min(until);
        }
    }

    /// A packet from `node` arrived on `link` at `now`.
    pub fn heard(&mut self, node: usize, link: usize, now: Nanos, emit: &mut impl FnMut(Event)) {
        let p = &mut self.pairs[node * self.nlinks + link];
        let was = p.state;
        p.last = p.last.max(now);
        p.state = LinkState::Up;
        if matches!(was, LinkState::Init | LinkState::Dead) {
            emit(Event::LinkUp { node: node as u8, link: link as u8, at: now });
        }
        let n = &mut self.nodes[node];
        if n.state != NodeState::Up {
            let returning = n.state == NodeState::Dead;
            n.state = NodeState::Up;
            emit(Event::NodeUp { node: node as u8, at: now, returning });
        }
    }

    /// `node` announced a clean stop at `now`: it and its links are down from now on, reported
    /// as [`Event::NodeLeft`] (never as a death). A packet of a later life brings it back up.
    pub fn left(&mut self, node: usize, now: Nanos, emit: &mut impl FnMut(Event)) {
        for p in &mut self.pairs[node * self.nlinks..(node + 1) * self.nlinks] {
            p.state = LinkState::Dead;
        }
        let n = &mut self.nodes[node];
        if n.state != NodeState::Dead {
            n.state = NodeState::Dead;
            emit(Event::NodeLeft { node: node as u8, at: now });
        }
    }

    /// Judges every deadline at `now`. `expected` is when the caller meant to wake (the last
    /// [`Self::poll_at`] it slept on); a later wake-up beyond the threshold is our own stall.
    pub fn poll(&mut self, now: Nanos, expected: Option<Nanos>, emit: &mut impl FnMut(Event)) {
        if let Some(exp) = expected {
            let late = now.sub(exp);
            self.max_late = self.max_late.max(late);
            if late > self.t.stall_threshold {
                // INVARIANT: the caller has already processed every packet received before
                // `now`, so a peer that was talking has `last` close to `now` already; the
                // shift only rescues peers whose packets we could not have seen.
                self.stalls += 1;
                self.stalled_total = self.stalled_total.add(late);
                self.start = self.start.add(late).min(now);
                for p in &mut self.pairs {
                    p.last = p.last.add(late).min(now);
                }
                emit(Event::Stall { at: now, late });
            }
        }
        for node in 0..self.nodes.len() {
            let mut any_alive = false;
            let mut freshest = Nanos::ZERO;
            for link in 0..self.nlinks {
                let p = &mut self.pairs[node * self.nlinks + link];
                let known = now.min(self.known_until[link]);
                let silent = known.sub(p.last);
                match p.state {
                    LinkState::Init if known >= self.start.add(self.t.initdead) => {
                        p.state = LinkState::Dead;
                        emit(Event::LinkDead { node: node as u8, link: link as u8, at: now, silent });
                    }
                    LinkState::Up | LinkState::Warn if silent >= self.t.deadtime => {
                        p.state = LinkState::Dead;
                        emit(Event::LinkDead { node: node as u8, link: link as u8, at: now, silent });
                    }
                    LinkState::Up if silent >= self.t.warntime => {
                        p.state = LinkState::Warn;
                        emit(Event::LinkWarn { node: node as u8, link: link as u8, at: now, silent });
                    }
                    _ => {}
                }
                if p.state != LinkState::Dead {
                    any_alive = true;
                }
                freshest = freshest.max(p.last);
            }
            let n = &mut self.nodes[node];
            if !any_alive && n.state != NodeState::Dead {
                n.state = NodeState::Dead;
                emit(Event::NodeDead { node: node as u8, at: now, silent: now.sub(freshest) });
            }
        }
        self.known_until.fill(Nanos::MAX);
    }

    /// When the next deadline falls (`Nanos::MAX` if none).
    pub fn poll_at(&self) -> Nanos {
        let mut at = Nanos::MAX;
        for p in &self.pairs {
            let d = match p.state {
                LinkState::Init => self.start.add(self.t.initdead),
                LinkState::Up => p.last.add(self.t.warntime.min(self.t.deadtime)),
                LinkState::Warn => p.last.add(self.t.deadtime),
                LinkState::Dead => continue,
            };
            at = at.min(d);
        }
        at
    }

    /// State of a peer.
    pub fn node_state(&self, node: usize) -> NodeState {
        self.nodes[node].state
    }

    /// State and last-heard time of a (peer, link) pair.
    pub fn link(&self, node: usize, link: usize) -> (LinkState, Nanos) {
        let p = &self.pairs[node * self.nlinks + link];
        (p.state, p.last)
    }

    /// (stalls seen, total stalled time, worst lateness).
    pub fn stall_stats(&self) -> (u64, Nanos, Nanos) {
        (self.stalls, self.stalled_total, self.max_late)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    use crate::testutil::timing;

    /// A tiny simulated loop: the peer sends every 10 ms on the given links until `dies_at`;
    /// we wake at every poll_at or packet, like hbd's loop.
    struct Sim {
        l: Liveness,
        events: Vec<Event>,
        expected: Option<Nanos>,
    }

    impl Sim {
        fn new(links: usize) -> Sim {
            Sim { l: Liveness::new(timing(), 1, links, Nanos(1_000 * MS)), events: Vec::new(), expected: None }
        }
        fn packet(&mut self, link: usize, now: Nanos) {
            let ev = &mut self.events;
            self.l.heard(0, link, now, &mut |e| ev.push(e));
        }
        fn wake(&mut self, now: Nanos) {
            let ev = &mut self.events;
            self.l.poll(now, self.expected, &mut |e| ev.push(e));
            self.expected = Some(self.l.poll_at());
        }
        fn dead_at(&self) -> Option<Nanos> {
            self.events.iter().find_map(|e| match e {
                Event::NodeDead { at, .. } => Some(*at),
                _ => None,
            })
        }
    }

    #[test]
    fn peer_comes_up_then_dies_within_deadtime() {
        let mut s = Sim::new(1);
        let t0 = 1_000 * MS;
        for i in 0..10 {
            s.packet(0, Nanos(t0 + i * 10 * MS));
            s.wake(Nanos(t0 + i * 10 * MS));
        }
        assert!(matches!(s.events[0], Event::LinkUp { .. }));
        assert!(matches!(s.events[1], Event::NodeUp { returning: false, .. }));
        assert_eq!(s.l.node_state(0), NodeState::Up);
        // Last packet at t0+90ms. Wake exactly at each deadline.
        let last = t0 + 90 * MS;
        while s.dead_at().is_none() {
            let at = s.l.poll_at();
            s.wake(at);
        }
        assert_eq!(s.dead_at(), Some(Nanos(last + 50 * MS)));
        assert!(s.events.iter().any(|e| matches!(e, Event::LinkWarn { silent, .. } if *silent == Nanos::from_millis(30))));
        assert_eq!(s.l.poll_at(), Nanos::MAX);
    }

    /// A link read only up to some arrival (its queue still full of a flood) is judged as of
    /// that arrival: the verdict waits for the backlog, and comes once it is read.
    #[test]
    fn a_link_read_only_partly_is_judged_as_of_what_was_read() {
        let mut s = Sim::new(1);
        let t0 = 1_000 * MS;
        s.packet(0, Nanos(t0));
        s.wake(Nanos(t0));
        // 60 ms later the queue still holds what arrived after t0 + 20 ms: no verdict yet.
        s.l.known_until(0, Nanos(t0 + 20 * MS));
        s.expected = None; // not a late wake-up of ours: the test is about the backlog
        s.wake(Nanos(t0 + 60 * MS));
        assert_eq!(s.l.node_state(0), NodeState::Up, "{:?}", s.events);
        assert!(!s.events.iter().any(|e| matches!(e, Event::LinkWarn { .. })), "20 ms of known silence is not 30");
        // The backlog read (it held only forgeries): now the full silence counts.
        s.expected = None;
        s.wake(Nanos(t0 + 61 * MS));
        assert_eq!(s.dead_at(), Some(Nanos(t0 + 61 * MS)));
    }

    #[test]
    fn never_heard_peer_is_dead_at_initdead() {
        let mut s = Sim::new(2);
        s.wake(Nanos(1_000 * MS));
        assert_eq!(s.l.poll_at(), Nanos(1_200 * MS));
        s.wake(Nanos(1_200 * MS));
        assert_eq!(s.dead_at(), Some(Nanos(1_200 * MS)));
        assert_eq!(s.events.iter().filter(|e| matches!(e, Event::LinkDead { .. })).count(), 2);
    }

    #[test]
    fn node_lives_while_any_link_does() {
        let mut s = Sim::new(2);
        let t0 = 1_000 * MS;
        let mut t = t0;
        // Both links for 100 ms, then only link 1 for 500 ms.
        while t < t0 + 600 * MS {
            if t < t0 + 100 * MS {
                s.packet(0, Nanos(t));
            }
            s.packet(1, Nanos(t));
            s.wake(Nanos(t));
            t += 10 * MS;
        }
        assert!(s.events.iter().any(|e| matches!(e, Event::LinkDead { link: 0, .. })));
        assert!(s.dead_at().is_none());
        assert_eq!(s.l.node_state(0), NodeState::Up);
        assert_eq!(s.l.link(0, 0).0, LinkState::Dead);
        // Link 0 comes back: a LinkUp, not a NodeUp.
        let before = s.events.len();
        s.packet(0, Nanos(t));
        assert_eq!(s.events[before..], [Event::LinkUp { node: 0, link: 0, at: Nanos(t) }]);
    }

    #[test]
    fn returning_after_a_partition_needs_no_restart() {
        let mut s = Sim::new(1);
        let t0 = 1_000 * MS;
        s.packet(0, Nanos(t0));
        s.wake(Nanos(t0));
        s.wake(Nanos(t0 + 30 * MS));
        s.wake(Nanos(t0 + 50 * MS));
        assert!(s.dead_at().is_some());
        s.packet(0, Nanos(t0 + 500 * MS));
        assert!(s.events.iter().any(|e| matches!(e, Event::NodeUp { returning: true, .. })));
        assert_eq!(s.l.node_state(0), NodeState::Up);
    }

    /// The loop itself is stalled 40 ms (a VM pause: the peer was paused too, so nothing
    /// arrived). Without the discount the peer would be dead 50 ms after its last packet.
    #[test]
    fn our_own_stall_is_not_the_peers_death() {
        let mut s = Sim::new(1);
        let t0 = 1_000 * MS;
        for i in 0..5 {
            s.packet(0, Nanos(t0 + i * 10 * MS));
            s.wake(Nanos(t0 + i * 10 * MS));
        }
        // Last packet at t0+40. We meant to wake at t0+70 (warn deadline) but ran at t0+110:
        // 60 ms of silence, 40 ms of it our own stall.
        assert_eq!(s.expected, Some(Nanos(t0 + 70 * MS)));
        s.wake(Nanos(t0 + 110 * MS));
        assert!(s.dead_at().is_none(), "{:?}", s.events);
        assert!(s.events.iter().any(|e| matches!(e, Event::Stall { late, .. } if *late == Nanos::from_millis(40))));
        // The peer resumes and talks: still up, never declared dead.
        s.packet(0, Nanos(t0 + 112 * MS));
        s.wake(Nanos(t0 + 112 * MS));
        assert!(s.dead_at().is_none());
        assert_eq!(s.l.stall_stats().0, 1);
    }

    /// A stall does not hide a real death forever: the peer is declared dead by deadtime
    /// after the discounted silence.
    #[test]
    fn a_dead_peer_is_still_found_after_a_stall() {
        let mut s = Sim::new(1);
        let t0 = 1_000 * MS;
        s.packet(0, Nanos(t0));
        s.wake(Nanos(t0));
        s.wake(Nanos(t0 + 100 * MS)); // expected t0+30: 70 ms stall, discounted
        assert!(s.dead_at().is_none());
        while s.dead_at().is_none() {
            let at = s.l.poll_at();
            assert!(at < Nanos(t0 + 1_000 * MS));
            s.wake(at);
        }
        assert_eq!(s.dead_at(), Some(Nanos(t0 + 120 * MS)));
    }

    /// Small lateness (below the threshold) is not a stall and is not discounted.
    #[test]
    fn jitter_below_threshold_is_not_discounted() {
        let mut s = Sim::new(1);
        let t0 = 1_000 * MS;
        s.packet(0, Nanos(t0));
        s.wake(Nanos(t0));
        s.wake(Nanos(t0 + 34 * MS)); // 4 ms late for the warn deadline
        s.wake(Nanos(t0 + 54 * MS)); // 4 ms late for the dead deadline
        assert_eq!(s.dead_at(), Some(Nanos(t0 + 54 * MS)));
        assert_eq!(s.l.stall_stats().2, Nanos::from_millis(4));
    }
}
