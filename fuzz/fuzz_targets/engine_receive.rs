//! Any bytes through the engine's whole receive path (framing, identity, keys, MAC, replay,
//! fields, liveness), on every MAC method. The first byte picks the method; a valid signed
//! prefix is also tried so the fuzzer reaches the post-MAC code.
#![no_main]
use hb_core::auth::{parse_authkeys, Keyring};
use hb_core::engine::{Engine, EngineConfig};
use hb_core::liveness::Timing;
use hb_core::time::Nanos;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fn engine(keys: &str, name: &str, peer: &str, generation: u64) -> Engine {
    let t = Timing {
        keepalive: Nanos::from_millis(10),
        warntime: Nanos::from_millis(30),
        deadtime: Nanos::from_millis(50),
        initdead: Nanos::from_millis(500),
        stall_threshold: Nanos::from_millis(5),
    };
    let keys = Keyring::new(&parse_authkeys(keys, Path::new("authkeys")).unwrap());
    Engine::new(EngineConfig { cluster: "c".into(), self_name: name.into(), peers: vec![peer.into()], links: 1, timing: t, keys, generation }, Nanos(1))
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let keys = ["auth 1\n1 crc\n", "auth 1\n1 md5 k\n", "auth 1\n1 sha1 k\n", "auth 1\n1 sha256 k\n"][usize::from(sel % 4)];
    let mut rx = engine(keys, "a", "b", 1);
    let _ = rx.receive(0, rest, Nanos(2));
    rx.poll(Nanos(3));
    // A genuine packet with the fuzz input spliced into its body, re-signed by a real sender.
    let mut tx = engine(keys, "b", "a", 7);
    let mut out = [0u8; hb_core::wire::MAX_HEARTBEAT];
    let n = tx.build_heartbeat(0, Nanos(4), &mut out);
    let _ = rx.receive(0, &out[..n], Nanos(5));
    while rx.pop_event().is_some() {}
});
