//! Any bytes from a serial line through the frame decoder, split at any point: frames or
//! counted errors, never a panic; and any packet encodes to a frame that decodes to itself.
#![no_main]
use hb_media::frame::{encode, Decoder, MAX_FRAME, MAX_PAYLOAD};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let mut dec = Decoder::new();
    let mut frames = 0usize;
    dec.push(&data[..split], |r| {
        if let Ok(p) = r {
            assert!(p.len() <= MAX_PAYLOAD);
        }
        frames += 1;
    });
    dec.push(&data[split..], |_| frames += 1);
    assert!(frames <= data.len());

    let packet = &data[..data.len().min(MAX_PAYLOAD)];
    let mut out = [0u8; MAX_FRAME];
    let n = encode(packet, &mut out).expect("a packet of at most MAX_PAYLOAD bytes always encodes");
    let mut dec = Decoder::new();
    let mut got = None;
    dec.push(&out[..n], |r| got = Some(r.map(|p| p.to_vec())));
    assert_eq!(got, Some(Ok(packet.to_vec())));
});
