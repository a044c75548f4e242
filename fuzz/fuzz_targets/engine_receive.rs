//! The engine's whole receive path, past the MAC: the input is a *sequence* of steps — genuine
//! heartbeats of a peer in chosen generations and sequence numbers, signed with the real key
//! (or another method's), truncated or with a bit flipped, replays of earlier ones, garbage,
//! time passing, the peer hearing the receiver (so that its packets echo it), and restarts of
//! the receiver — delivered in order to a receiver whose wall clock bounds generations.
//! After every step the invariants hold:
//! - liveness comes only from freshness: a packet that brings the peer or the link up echoes
//!   a heartbeat this life of the receiver built within deadtime;
//! - a rejected packet changes nothing: not the peer's generation, not its state, no event;
//! - a packet already accepted, delivered again, is refused (a replay never counts twice);
//! - no generation beyond the wall-clock bound is ever adopted;
//! - every event names the one peer and the one link there are.
#![no_main]
use hb_core::auth::{parse_authkeys, Keyring};
use hb_core::engine::{Engine, EngineConfig, Rx, GENERATION_AHEAD_S};
use hb_core::liveness::{Event, Timing};
use hb_core::time::Nanos;
use hb_core::wire::{self, MAX_HEARTBEAT};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

const KEYS: [&str; 4] = [
    "auth 1\n1 sha256 fuzzing-secret-0123456789\n",
    "auth 1\n1 crc\n",
    "auth 1\n1 md5 fuzzing-secret-0123456789\n",
    "auth 1\n1 sha1 fuzzing-secret-0123456789\n",
];
const WALL: u64 = 1_800_000_000;
const MS: u64 = 1_000_000;

#[derive(Arbitrary, Debug)]
enum Step {
    /// A heartbeat of peer b: generation `WALL + generation` (or near `u64::MAX`), after
    /// `skip` others of the same generation, signed with key set `key`, maybe cut or damaged.
    Heartbeat { generation: u16, huge: bool, skip: u8, key: u8, cut: Option<u8>, flip: Option<(u8, u8)> },
    /// One of the packets delivered before, again.
    Replay { index: u8 },
    /// Bytes from nowhere.
    Garbage { bytes: Vec<u8> },
    /// Time passes; deadlines are judged.
    Advance { ms: u16 },
    /// The receiver sends a heartbeat and the sender of `key`'s set (in its newest
    /// generation) hears it.
    Hear { key: u8 },
    /// The newest sender of `key`'s set stops cleanly: its heartbeats carry the leaving mark.
    Leave { key: u8 },
    /// The receiver restarts: a new generation, the peer's generation remembered.
    Restart,
}

fn timing() -> Timing {
    Timing {
        keepalive: Nanos::from_millis(10),
        warntime: Nanos::from_millis(30),
        deadtime: Nanos::from_millis(50),
        initdead: Nanos::from_millis(500),
        stall_threshold: Nanos::from_millis(5),
    }
}

fn engine(keys: &str, name: &str, peer: &str, generation: u64, now: Nanos) -> Engine {
    let keys = Keyring::new(&parse_authkeys(keys, Path::new("authkeys")).unwrap());
    let cfg = EngineConfig {
        cluster: "c".into(),
        self_name: name.into(),
        peers: vec![peer.into()],
        links: 1,
        timing: timing(),
        keys,
        generation,
    };
    Engine::new(cfg, now)
}

/// Whether `pkt` echoes, for node a, a timestamp the receiver sent (in this life) within the
/// last 50 ms (deadtime).
fn proves_fresh(pkt: &[u8], sent: &[(u64, Nanos)], now: Nanos) -> bool {
    let Ok((_, body, _)) = wire::split(pkt) else { return false };
    let Ok(hb) = wire::parse_heartbeat(body) else { return false };
    let Some(e) = hb.echoes.for_node(wire::node_id("a")) else { return false };
    sent.iter().any(|&(ts, at)| ts == e.timestamp && now.sub(at) <= Nanos::from_millis(50))
}

/// Drains the receiver's events and checks them; `fresh`: whether the packet just delivered
/// proved freshness (only such a packet may bring anything up).
fn check_events(rx: &mut Engine, fresh: bool) {
    while let Some(e) = rx.pop_event() {
        if matches!(e, Event::NodeUp { .. } | Event::LinkUp { .. } | Event::NodeLeft { .. }) {
            assert!(fresh, "{e:?} from a packet that proves no freshness");
        }
        match e {
            Event::NodeUp { node, .. }
            | Event::NodeDead { node, .. }
            | Event::NodeRestarted { node, .. }
            | Event::NodeLeft { node, .. }
            | Event::PeerCrm { node, .. } => {
                assert_eq!(node, 0)
            }
            Event::LinkUp { node, link, .. } | Event::LinkWarn { node, link, .. } | Event::LinkDead { node, link, .. } => {
                assert_eq!((node, link), (0, 0))
            }
            Event::Stall { .. } => {}
            Event::PingUp { .. } | Event::PingDead { .. } => panic!("the engine has no ping nodes: {e:?}"),
        }
    }
}

fuzz_target!(|steps: Vec<Step>| {
    let mut now = Nanos(1_000 * MS);
    let mut rx = engine(KEYS[0], "a", "b", WALL, now);
    rx.set_wall_clock(WALL, now);
    let bound = WALL + GENERATION_AHEAD_S;
    let mut delivered: Vec<Vec<u8>> = Vec::new();
    let mut accepted: Vec<Vec<u8>> = Vec::new();
    // Senders by (key set, generation), each keeping its own sequence numbers.
    let mut senders: Vec<(usize, u64, Engine)> = Vec::new();
    // The timestamps this life of the receiver has sent, and when.
    let mut sent: Vec<(u64, Nanos)> = Vec::new();
    let mut life = 0;
    for step in steps.into_iter().take(256) {
        now = now.add(Nanos(MS / 10));
        let pkt = match step {
            Step::Heartbeat { generation, huge, skip, key, cut, flip } => {
                let g = if huge { u64::MAX - u64::from(generation) } else { WALL + u64::from(generation) };
                let k = usize::from(key) % KEYS.len();
                let i = match senders.iter().position(|(sk, sg, _)| *sk == k && *sg == g) {
                    Some(i) => i,
                    None => {
                        senders.push((k, g, engine(KEYS[k], "b", "a", g, now)));
                        senders.len() - 1
                    }
                };
                let mut out = [0u8; MAX_HEARTBEAT];
                let mut n = 0;
                for _ in 0..=skip % 8 {
                    n = senders[i].2.build_heartbeat(0, now, &mut out);
                }
                let mut p = out[..n].to_vec();
                if let Some((at, bit)) = flip {
                    let at = usize::from(at) % p.len();
                    p[at] ^= 1 << (bit % 8);
                }
                if let Some(c) = cut {
                    p.truncate(usize::from(c) % (p.len() + 1));
                }
                p
            }
            Step::Replay { index } if !delivered.is_empty() => delivered[usize::from(index) % delivered.len()].clone(),
            Step::Replay { .. } => continue,
            Step::Garbage { bytes } => bytes,
            Step::Advance { ms } => {
                now = now.add(Nanos(u64::from(ms % 200) * MS));
                rx.poll(now);
                check_events(&mut rx, false);
                continue;
            }
            Step::Leave { key } => {
                let k = usize::from(key) % KEYS.len();
                if let Some((_, _, e)) = senders.iter_mut().rev().find(|(sk, _, _)| *sk == k) {
                    e.set_leaving();
                }
                continue;
            }
            Step::Hear { key } => {
                let k = usize::from(key) % KEYS.len();
                let mut out = [0u8; MAX_HEARTBEAT];
                let n = rx.build_heartbeat(0, now, &mut out);
                let (h, _, _) = wire::split(&out[..n]).expect("our own heartbeat parses");
                sent.push((h.timestamp, now));
                if let Some((_, _, s)) = senders.iter_mut().filter(|(sk, _, _)| *sk == k).max_by_key(|(_, g, _)| *g) {
                    let _ = s.receive(0, &out[..n], now);
                }
                continue;
            }
            Step::Restart => {
                life += 1;
                let remembered = rx.peer_generation(0);
                rx = engine(KEYS[0], "a", "b", WALL + 100_000 + life, now);
                rx.set_wall_clock(WALL, now);
                rx.remember_generation(0, remembered);
                sent.clear();
                accepted.clear();
                continue;
            }
        };
        let (generation, state) = (rx.peer_generation(0), rx.node_state(0));
        let was_accepted = accepted.contains(&pkt);
        let fresh = proves_fresh(&pkt, &sent, now);
        match rx.receive(0, &pkt, now) {
            Ok(Rx::Peer(p)) => {
                assert_eq!(p, 0);
                assert!(!was_accepted, "a packet accepted before was accepted again");
                accepted.push(pkt.clone());
            }
            Ok(Rx::Own) => panic!("nothing here claims to be a"),
            Err(_) => {
                assert_eq!((rx.peer_generation(0), rx.node_state(0)), (generation, state), "a rejected packet changed the peer");
                assert!(rx.pop_event().is_none(), "a rejected packet made an event");
            }
        }
        assert!(rx.peer_generation(0) <= bound, "generation {} adopted beyond the bound {bound}", rx.peer_generation(0));
        check_events(&mut rx, fresh);
        delivered.push(pkt);
    }
});
