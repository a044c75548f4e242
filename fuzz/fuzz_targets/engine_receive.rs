//! The engine's whole receive path, past the MAC: the input is a *sequence* of steps — genuine
//! heartbeats of a peer in chosen generations and sequence numbers, signed with the real key
//! (or another method's), truncated or with a bit flipped, replays of earlier ones, garbage,
//! and time passing — delivered in order to a receiver whose wall clock bounds generations.
//! After every step the invariants hold:
//! - a rejected packet changes nothing: not the peer's generation, not its state, no event;
//! - a packet already accepted, delivered again, is refused (a replay never counts twice);
//! - no generation beyond the wall-clock bound is ever adopted;
//! - every event names the one peer and the one link there are.
#![no_main]
use hb_core::auth::{parse_authkeys, Keyring};
use hb_core::engine::{Engine, EngineConfig, Rx, GENERATION_AHEAD_S};
use hb_core::liveness::{Event, Timing};
use hb_core::time::Nanos;
use hb_core::wire::MAX_HEARTBEAT;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

const KEYS: [&str; 4] = ["auth 1\n1 sha256 fuzzing-secret-0123456789\n", "auth 1\n1 crc\n", "auth 1\n1 md5 fuzzing-secret-0123456789\n", "auth 1\n1 sha1 fuzzing-secret-0123456789\n"];
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
    let cfg = EngineConfig { cluster: "c".into(), self_name: name.into(), peers: vec![peer.into()], links: 1, timing: timing(), keys, generation };
    Engine::new(cfg, now)
}

fn check_events(rx: &mut Engine) {
    while let Some(e) = rx.pop_event() {
        match e {
            Event::NodeUp { node, .. } | Event::NodeDead { node, .. } | Event::NodeRestarted { node, .. } => assert_eq!(node, 0),
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
                check_events(&mut rx);
                continue;
            }
        };
        let (generation, state) = (rx.peer_generation(0), rx.node_state(0));
        let was_accepted = accepted.contains(&pkt);
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
        check_events(&mut rx);
        delivered.push(pkt);
    }
});
