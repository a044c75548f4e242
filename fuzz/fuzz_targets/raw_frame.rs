//! Any bytes as a received raw Ethernet frame: a payload or `None`, never a panic; a frame
//! built around any payload parses back to it.
#![no_main]
use hb_media::raw::{build_frame, parse_frame, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ethertype = data.get(..2).map_or(0x88b5, |b| u16::from_be_bytes([b[0], b[1]]));
    if let Some(p) = parse_frame(data, ethertype) {
        assert_eq!(p.len() + HEADER_LEN, data.len());
    }
    let mut header = [0u8; HEADER_LEN];
    header[12..].copy_from_slice(&ethertype.to_be_bytes());
    let mut out = [0u8; 600];
    let payload = &data[..data.len().min(512)];
    let n = build_frame(&header, payload, &mut out).expect("room for the frame");
    assert_eq!(parse_frame(&out[..n], ethertype), Some(payload));
});
