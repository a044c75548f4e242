//! What a PDU (or anyone who can reach our UDP socket) sends the `apcmastersnmp` driver:
//! the BER decoder of `hb_stonith_hw::snmp::ber` and the SNMPv3 decoder of `snmp::usm` must
//! answer garbage with an error, never a panic, for every version; and whatever it decodes, re-encoded as a request, decodes again.

#![no_main]

use hb_stonith_hw::snmp::ber::{self, Version};
use hb_stonith_hw::snmp::usm::{self, AuthProto, Usm};
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
    // SNMPv3: discovery answers, and authenticated (encrypted or not) answers.
    let _ = usm::answer(data, None);
    let u = Usm {
        user: b"fenceuser".to_vec(),
        auth: AuthProto::Sha,
        auth_key: vec![1; 20],
        priv_key: Some([2; 16]),
        engine_id: vec![0x80, 0, 0x1f, 0x88, 4],
        boots: 1,
        time: 2,
    };
    let _ = usm::answer(data, Some(&u));
});
