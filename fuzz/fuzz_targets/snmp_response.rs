//! What a PDU (or anyone who can reach our UDP socket) sends the `apcmastersnmp` driver:
//! the BER decoder of `hb_stonith_hw::snmp::ber` must answer garbage with an error, never a
//! panic, for both versions; and whatever it decodes, re-encoded as a request, decodes again.

#![no_main]

use hb_stonith_hw::snmp::ber::{self, Version};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for v in [Version::V1, Version::V2c] {
        if let Ok(r) = ber::response(data, v) {
            let again = ber::request(v, b"c", ber::RESPONSE, r.request_id, &r.bindings);
            let back = ber::response(&again, v).expect("our own encoding decodes");
            assert_eq!(back.request_id, r.request_id);
            assert_eq!(back.bindings.len(), r.bindings.len());
        }
    }
});
