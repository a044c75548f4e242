//! What a telnet-menu switch, a serial power switch or a UPS (or anyone who can reach the
//! port, or talk on the line) sends the STONITH drivers: telnet negotiation, outlet tables,
//! prompts, status answers. Every decoder must answer garbage with nothing decoded, never a
//! panic, and keep what it holds bounded.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hb_stonith_hw::fuzz_device_replies(data);
});
