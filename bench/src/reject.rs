//! `hb-bench reject`: what hbd's engine spends on a packet it refuses, by reason, next to an
//! accepted heartbeat — the per-packet cost a flood of forged packets imposes on the RT thread
//! (issue 14). Measured in-process on the engine itself (the receive path after the socket),
//! so the kernel's share of a flood is not in it.

use hb_core::auth::{parse_authkeys, Keyring};
use hb_core::engine::{Engine, EngineConfig};
use hb_core::liveness::Timing;
use hb_core::time::Nanos;
use hb_core::wire::MAX_HEARTBEAT;
use std::path::Path;
use std::time::Instant;

/// One kind of packet and its cost.
#[derive(Debug, Clone)]
pub struct RejectCost {
    /// What was delivered.
    pub what: &'static str,
    /// Mean engine time per packet, ns.
    pub ns_per_packet: f64,
}

fn engine(keys: &str, name: &str, peer: &str, generation: u64) -> Engine {
    let timing = Timing {
        keepalive: Nanos::from_millis(10),
        warntime: Nanos::from_millis(30),
        deadtime: Nanos::from_millis(50),
        initdead: Nanos::from_millis(500),
        stall_threshold: Nanos::from_millis(5),
    };
    let keys = Keyring::new(&parse_authkeys(keys, Path::new("authkeys")).expect("bench keys"));
    let cfg = EngineConfig { cluster: "c".into(), self_name: name.into(), peers: vec![peer.into()], links: 1, timing, keys, generation };
    Engine::new(cfg, Nanos(1))
}

/// Delivers `n` packets from `next` to a fresh receiver and returns the mean ns per packet.
fn time(keys: &str, n: usize, mut next: impl FnMut(&mut Engine, u64) -> Vec<u8>) -> f64 {
    let mut rx = engine(keys, "a", "b", 1);
    // Built before timing: only the receive is measured.
    let mut tx = engine(keys, "b", "a", 1_800_000_000);
    let packets: Vec<Vec<u8>> = (0..n as u64).map(|i| next(&mut tx, i)).collect();
    let start = Instant::now();
    for (i, p) in packets.iter().enumerate() {
        let _ = std::hint::black_box(rx.receive(0, p, Nanos(2 + i as u64)));
        while rx.pop_event().is_some() {}
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn heartbeat(tx: &mut Engine, i: u64) -> Vec<u8> {
    let mut out = [0u8; MAX_HEARTBEAT];
    let n = tx.build_heartbeat(0, Nanos(10 + i), &mut out);
    out[..n].to_vec()
}

/// Measures each kind over `n` packets.
pub fn measure(n: usize) -> Vec<RejectCost> {
    let sha = "auth 1\n1 sha256 a-bench-secret-of-32-random-bytes!\n";
    let crc = "auth 1\n1 crc\n";
    let forged = |tx: &mut Engine, i: u64| {
        let mut p = heartbeat(tx, i);
        let last = p.len() - 1;
        p[last] ^= 1;
        p
    };
    let mut replay = None;
    vec![
        RejectCost { what: "accepted heartbeat (sha256)", ns_per_packet: time(sha, n, heartbeat) },
        RejectCost { what: "accepted heartbeat (crc)", ns_per_packet: time(crc, n, heartbeat) },
        RejectCost { what: "bad-mac: forged, sha256 key", ns_per_packet: time(sha, n, forged) },
        RejectCost {
            what: "replay: one genuine packet again",
            ns_per_packet: time(sha, n, |tx, i| replay.get_or_insert_with(|| heartbeat(tx, i)).clone()),
        },
        RejectCost {
            what: "unknown-node: a sender not listed",
            ns_per_packet: time(sha, n, |_, i| {
                let mut stranger = engine(sha, "mallory", "a", 1_800_000_000);
                heartbeat(&mut stranger, i)
            }),
        },
        RejectCost {
            what: "bad-magic: random bytes",
            ns_per_packet: time(sha, n, |_, i| (0..100u64).map(|k| (k * 31 + i) as u8).collect()),
        },
    ]
}
