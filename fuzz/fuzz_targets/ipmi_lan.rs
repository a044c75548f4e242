//! What a BMC (or anyone who can reach our UDP socket) sends the `ipmilan` driver: every
//! decoder of `hb_stonith_hw::ipmi::lan` must answer garbage with an error, never a panic,
//! with and without an established session's keys, under both cipher suites. The first byte
//! picks the suite and whether the bytes are taken as a packet or as a payload.

#![no_main]

use hb_stonith_hw::ipmi::lan::{self, Keys, Rakp, Suite};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else { return };
    let suite = if pick & 1 == 0 { Suite::Three } else { Suite::Seventeen };
    let keys = Keys::derive(suite, &[0x5a; 20]);
    let pw = lan::password16("secret");
    // Whole packets, as the socket delivers them.
    let _ = lan::parse15(bytes, &pw, None);
    let _ = lan::parse15(bytes, &pw, Some(lan::Auth15::Md5));
    let _ = lan::parse20(bytes, 0, None);
    let _ = lan::parse20(bytes, 0x0A0B_0C0D, Some(&keys));
    // Payloads, as a packet's decoder hands them on.
    let _ = lan::response(bytes, lan::cmd::CHASSIS, lan::cmd::GET_CHASSIS_STATUS, pick & 0x3f);
    let _ = lan::open_response(bytes, pick, 0x0A0B_0C0D, suite);
    let mut r =
        Rakp { suite, console_sid: 0x0A0B_0C0D, bmc_sid: 1, rm: [1; 16], rc: [0; 16], guid: [0; 16], role: 0x14, user: b"admin".to_vec() };
    let _ = r.rakp2(bytes, pick, b"secret");
    let _ = r.rakp4(bytes, pick, b"secret");
    // A packet that authenticates (built with the same keys) but whose contents are the
    // fuzzer's: the decrypted payload is garbage to the message decoder.
    let p = lan::packet20(lan::payload::IPMI, 7, 1, bytes, Some((&keys, [pick; 16])));
    let (_, plain) = lan::parse20(&p, 7, Some(&keys)).expect("our own packet verifies");
    assert_eq!(plain, bytes);
    let _ = lan::response(&plain, lan::cmd::APP, lan::cmd::GET_DEVICE_ID, 1);
});
