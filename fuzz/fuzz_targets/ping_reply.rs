//! Any bytes as what a raw ICMP socket received: an echo reply of ours or `None`, never a
//! panic.
#![no_main]
use hb_media::ping::parse_echo_reply;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let from = Some("fd00::1".parse().unwrap());
    let ident = data.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let _ = parse_echo_reply(false, data, None, ident);
    let _ = parse_echo_reply(true, data, from, ident);
});
