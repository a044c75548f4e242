//! Any bytes through the wire decoder: a Reject or a parse, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((_h, body, mac)) = hb_core::wire::split(data) {
        let _ = hb_core::wire::signed_part(data, mac.len());
        let _ = hb_core::wire::parse_heartbeat(body);
    }
});
