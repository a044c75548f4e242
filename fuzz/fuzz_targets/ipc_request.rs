//! Any bytes as an IPC request (what a local client may send hbd): a reply, never a panic,
//! and the application-heartbeat table stays bounded.
#![no_main]
use hb_core::apphb::{Table, MAX_APPS};
use hb_core::ipc::{handle_request, Session};
use hb_core::time::Nanos;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut apps = Table::default();
    let mut s = Session { id: 1, subscribed: false };
    let mut out = Vec::new();
    // Several requests per input, split on newlines, at advancing times.
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        let req = String::from_utf8_lossy(line);
        let reply = handle_request(req.trim(), &mut s, &mut apps, "a", Nanos(i as u64 * 50_000_000), &mut out);
        assert!(reply.starts_with('{'));
        apps.poll(Nanos(i as u64 * 50_000_000), &mut |e| out.push(e));
        assert!(apps.apps().len() <= MAX_APPS);
    }
    apps.connection_closed(1, &mut |e| out.push(e));
});
