//! Ping pseudo-members, sans-I/O: which addresses to ping, what their replies mean.
//!
//! heartbeat's `ping`, `ping6` and `ping_group` make routers members of a sort: a pseudo-node
//! that is up while it answers ICMP echo and dead after `deadping` of silence, so the CRM can
//! tell "my peer died" from "I lost the network" (ipfail). [`Pinger`] keeps them with the same
//! [`Liveness`] machinery as real peers (one "link" each; `initdead` at start; our own stalls
//! discounted, never a ping death), and turns its node events into [`Event::PingUp`] and
//! [`Event::PingDead`]. The loop sends an echo to every address each keepalive and hands the
//! replies here. Nothing here allocates after [`Pinger::new`].
//!
//! A reply counts only if it answers an echo actually sent: it carries this start's random
//! identifier, the sequence number of a round sent within `deadping`, and that round's send
//! time in its payload. Anything else (an echo never sent, one older than `deadping`, a
//! forged payload) is counted and dropped, so spoofed replies cannot keep a dead router up.

use crate::liveness::{Event, EventQueue, Liveness, NodeState, Timing};
use crate::time::Nanos;
use hb_media::ping::{build_echo_request, EchoReply, ECHO_LEN};
use std::net::IpAddr;

const EVENT_QUEUE: usize = 32;

/// One pseudo-member: a name and the addresses that speak for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingNode {
    /// The address (`ping`), or the group's name (`ping_group`).
    pub name: String,
    /// Any one answering keeps the node up.
    pub addrs: Vec<IpAddr>,
}

/// Every address pinged, with the index of the node it speaks for, in send order: the order
/// [`Pinger::echo`]'s target indices and the loop's destinations share.
pub fn targets(nodes: &[PingNode]) -> Vec<(IpAddr, usize)> {
    nodes.iter().enumerate().flat_map(|(i, n)| n.addrs.iter().map(move |a| (*a, i))).collect()
}

/// The ping pseudo-members' state. See the module docs.
pub struct Pinger {
    ident: u16,
    seq: u16,
    /// Send time of each recent round, by sequence number modulo its length (0: not sent).
    sent: Vec<u64>,
    /// How old a round may be when its reply arrives: `deadping`.
    max_age: Nanos,
    /// Replies dropped because they answer no echo of ours.
    rejected: u64,
    /// Every address pinged, with its node's index.
    targets: Vec<(IpAddr, usize)>,
    live: Liveness,
    rtt_last: Vec<u64>,
    replies: Vec<u64>,
    events: EventQueue<EVENT_QUEUE>,
}

impl Pinger {
    /// Tables for `nodes`, timed by `timing` (its deadtime is `deadping`), echoes marked with
    /// `ident`, starting at `now`.
    pub fn new(nodes: &[PingNode], timing: Timing, ident: u16, now: Nanos) -> Pinger {
        // One slot per round that can still be answered (a round each keepalive).
        let rounds = (timing.deadtime.0 / timing.keepalive.0.max(1) + 2).clamp(4, 1 << 15) as usize;
        Pinger {
            ident,
            seq: 0,
            sent: vec![0; rounds],
            max_age: timing.deadtime,
            rejected: 0,
            targets: targets(nodes),
            live: Liveness::new(timing, nodes.len(), 1, now),
            rtt_last: vec![0; nodes.len()],
            replies: vec![0; nodes.len()],
            events: EventQueue::default(),
        }
    }

    /// Starts a round of echoes sent at `now` (one sequence number and send time for all of
    /// them).
    pub fn next_round(&mut self, now: Nanos) {
        self.seq = self.seq.wrapping_add(1);
        let slot = usize::from(self.seq) % self.sent.len();
        self.sent[slot] = now.0.max(1);
    }

    /// The echo request for target `t` of this round; it carries the round's send time, which
    /// a genuine reply echoes back.
    pub fn echo(&self, t: usize, out: &mut [u8; ECHO_LEN]) {
        let sent = self.sent[usize::from(self.seq) % self.sent.len()];
        build_echo_request(self.targets[t].0.is_ipv6(), self.ident, self.seq, sent, out);
    }

    /// Whether `r` answers a round we sent within `deadping`.
    fn answers_ours(&self, r: &EchoReply, now: Nanos) -> bool {
        let age = usize::from(self.seq.wrapping_sub(r.seq));
        let sent = self.sent[usize::from(r.seq) % self.sent.len()];
        age < self.sent.len() && sent != 0 && r.sent_ns == sent && now.0.saturating_sub(sent) <= self.max_age.0
    }

    /// Replies dropped because they answered no echo of ours (never sent, too old, forged).
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// The identifier our echoes carry.
    pub fn ident(&self) -> u16 {
        self.ident
    }

    /// A reply arrived at `now`; returns the (first) node it speaks for, if it is one of ours.
    /// An address listed in several nodes (`ping` and a `ping_group`) speaks for each.
    pub fn receive(&mut self, r: &EchoReply, now: Nanos) -> Option<usize> {
        if !self.targets.iter().any(|&(a, _)| a == r.from) {
            return None;
        }
        if !self.answers_ours(r, now) {
            self.rejected += 1;
            return None;
        }
        // The send time is our own clock's, echoed back and matched: a round trip.
        let rtt = (r.sent_ns <= now.0).then(|| now.0 - r.sent_ns);
        let mut first = None;
        for t in 0..self.targets.len() {
            let (addr, node) = self.targets[t];
            // Each node once, even if it lists the address twice.
            if addr != r.from || self.targets[..t].iter().any(|&(a, n)| a == addr && n == node) {
                continue;
            }
            first = first.or(Some(node));
            if let Some(rtt) = rtt {
                self.rtt_last[node] = rtt;
            }
            self.replies[node] += 1;
            let events = &mut self.events;
            self.live.heard(node, 0, now, &mut |e| translate(events, e));
        }
        first
    }

    /// Says that the ICMP sockets were read only up to replies that arrived at `until` (a
    /// drain cut short by its budget): the next [`Self::poll`] judges silence as of then.
    pub fn known_until(&mut self, until: Nanos) {
        self.live.known_until(0, until);
    }

    /// Judges deadlines at `now`; `expected` is when the loop meant to wake (stall discount).
    pub fn poll(&mut self, now: Nanos, expected: Option<Nanos>) {
        let events = &mut self.events;
        self.live.poll(now, expected, &mut |e| translate(events, e));
    }

    /// When the next ping node can change state.
    pub fn poll_at(&self) -> Nanos {
        self.live.poll_at()
    }

    /// The oldest queued event.
    pub fn pop_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    /// Number of ping nodes.
    pub fn node_count(&self) -> usize {
        self.rtt_last.len()
    }
    /// A ping node's state.
    pub fn node_state(&self, n: usize) -> NodeState {
        self.live.node_state(n)
    }
    /// When it last answered (meaningful once [`Self::replies`] is non-zero).
    pub fn last_heard(&self, n: usize) -> Nanos {
        self.live.link(n, 0).1
    }
    /// Replies from it so far.
    pub fn replies(&self, n: usize) -> u64 {
        self.replies[n]
    }
    /// Its last round-trip time, ns (0: none yet).
    pub fn rtt_last(&self, n: usize) -> u64 {
        self.rtt_last[n]
    }
}

/// Keeps a ping node's up and dead events (the link and stall events are the engine's story).
fn translate(events: &mut EventQueue<EVENT_QUEUE>, e: Event) {
    match e {
        Event::NodeUp { node, at, .. } => events.push(Event::PingUp { node, at }),
        Event::NodeDead { node, at, silent } => events.push(Event::PingDead { node, at, silent }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    use crate::testutil::timing;

    fn pinger() -> Pinger {
        let t = timing();
        let nodes = [
            PingNode { name: "10.0.0.254".into(), addrs: vec!["10.0.0.254".parse().unwrap()] },
            PingNode { name: "routers".into(), addrs: vec!["10.0.1.1".parse().unwrap(), "fd00::1".parse().unwrap()] },
        ];
        Pinger::new(&nodes, t, 0x4242, Nanos(0))
    }

    /// Sends a round at `at` and returns a genuine reply to it from `from`.
    fn reply_to_round(p: &mut Pinger, from: &str, at: u64) -> EchoReply {
        p.next_round(Nanos(at));
        let mut out = [0u8; ECHO_LEN];
        for t in 0..p.targets.len() {
            p.echo(t, &mut out);
        }
        EchoReply { from: from.parse().unwrap(), seq: p.seq, sent_ns: at }
    }

    fn drain(p: &mut Pinger) -> Vec<Event> {
        std::iter::from_fn(|| p.pop_event()).collect()
    }

    #[test]
    fn a_ping_node_comes_up_dies_and_returns() {
        let mut p = pinger();
        assert_eq!(p.targets.len(), 3);
        let r = reply_to_round(&mut p, "10.0.0.254", MS);
        assert_eq!(p.receive(&r, Nanos(3 * MS)), Some(0));
        assert_eq!(p.rtt_last(0), 2 * MS);
        assert_eq!(drain(&mut p), vec![Event::PingUp { node: 0, at: Nanos(3 * MS) }]);
        let r = reply_to_round(&mut p, "192.0.2.1", 4 * MS);
        assert_eq!(p.receive(&r, Nanos(4 * MS)), None, "not ours");
        // Silent past deadping: dead.
        p.poll(Nanos(60 * MS), None);
        assert_eq!(drain(&mut p), vec![Event::PingDead { node: 0, at: Nanos(60 * MS), silent: Nanos(57 * MS) }]);
        assert_eq!(p.node_state(0), NodeState::Dead);
        let r = reply_to_round(&mut p, "10.0.0.254", 61 * MS);
        p.receive(&r, Nanos(62 * MS));
        assert_eq!(drain(&mut p), vec![Event::PingUp { node: 0, at: Nanos(62 * MS) }]);
    }

    #[test]
    fn a_group_lives_while_any_member_answers_and_never_answering_is_dead_at_initdead() {
        let mut p = pinger();
        let r = reply_to_round(&mut p, "fd00::1", 4 * MS);
        p.receive(&r, Nanos(5 * MS));
        assert_eq!(drain(&mut p), vec![Event::PingUp { node: 1, at: Nanos(5 * MS) }]);
        let r = reply_to_round(&mut p, "10.0.1.1", 39 * MS);
        p.receive(&r, Nanos(40 * MS));
        p.poll(Nanos(80 * MS), None);
        assert_eq!(p.node_state(1), NodeState::Up, "10.0.1.1 answered 40 ms ago");
        // Node 0 never answered: dead at initdead (200 ms), not before.
        p.poll(Nanos(150 * MS), None);
        assert!(drain(&mut p).iter().all(|e| !matches!(e, Event::PingDead { node: 0, .. })));
        p.poll(Nanos(201 * MS), None);
        assert!(drain(&mut p).contains(&Event::PingDead { node: 0, at: Nanos(201 * MS), silent: Nanos(201 * MS) }));
    }

    #[test]
    fn an_address_in_a_ping_line_and_a_group_speaks_for_both() {
        let t = timing();
        let nodes = [
            PingNode { name: "10.0.0.1".into(), addrs: vec!["10.0.0.1".parse().unwrap()] },
            PingNode { name: "gw".into(), addrs: vec!["10.0.0.9".parse().unwrap(), "10.0.0.1".parse().unwrap()] },
        ];
        let mut p = Pinger::new(&nodes, t, 1, Nanos(0));
        let r = reply_to_round(&mut p, "10.0.0.1", 1);
        assert_eq!(p.receive(&r, Nanos(MS)), Some(0));
        assert_eq!(drain(&mut p), vec![Event::PingUp { node: 0, at: Nanos(MS) }, Event::PingUp { node: 1, at: Nanos(MS) }]);
        assert_eq!((p.replies(0), p.replies(1)), (1, 1));
    }

    #[test]
    fn our_own_stall_is_not_a_ping_death() {
        let mut p = pinger();
        let r = reply_to_round(&mut p, "10.0.0.254", 9 * MS);
        p.receive(&r, Nanos(10 * MS));
        drain(&mut p);
        // We meant to wake at 20 ms and woke at 100 ms: an 80 ms stall, discounted.
        p.poll(Nanos(100 * MS), Some(Nanos(20 * MS)));
        assert!(drain(&mut p).is_empty());
        assert_eq!(p.node_state(0), NodeState::Up);
    }

    /// Issue 14: a reply to an echo never sent, to one older than deadping, or with a payload
    /// that is not what we sent, is counted and dropped — it cannot keep a dead router up.
    #[test]
    fn spoofed_replies_do_not_keep_a_ping_node_up() {
        let mut p = pinger();
        let genuine = reply_to_round(&mut p, "10.0.0.254", 10 * MS);
        let never_sent = EchoReply { seq: genuine.seq.wrapping_add(7), ..genuine };
        let forged_payload = EchoReply { sent_ns: genuine.sent_ns + 1, ..genuine };
        assert_eq!(p.receive(&never_sent, Nanos(11 * MS)), None);
        assert_eq!(p.receive(&forged_payload, Nanos(11 * MS)), None);
        assert_eq!(p.rejected(), 2);
        assert_eq!(p.receive(&genuine, Nanos(11 * MS)), Some(0));
        drain(&mut p);
        // The router dies; the old genuine reply, replayed after deadping, is stale.
        p.poll(Nanos(70 * MS), None);
        assert_eq!(p.node_state(0), NodeState::Dead);
        assert_eq!(p.receive(&genuine, Nanos(71 * MS)), None);
        assert_eq!(p.node_state(0), NodeState::Dead);
        assert_eq!(p.rejected(), 3);
    }
}
