//! Any bytes as IPC requests (what a local client may send hbd), through the typed decoder
//! and the server's handler: a typed reply that encodes and decodes again, never a panic,
//! and the application-heartbeat table stays bounded. Callers alternate between root, hbd's
//! user and an unprivileged user on two connections.
#![no_main]
use hb_core::apphb::{Caller, MAX_APPS};
use hb_core::ipc::proto::{decode_server, encode, ServerMessage};
use hb_core::ipc::server::{AllowList, Server, ServerCtx};
use hb_core::logging::{Logger, Names};
use hb_core::time::Nanos;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut s = Server::new(ServerCtx {
        names: Names::default(),
        allow: AllowList::new(&[]),
        logger: Logger::new(&Default::default()),
        node: "a".into(),
        apps: Default::default(),
        status: None,
        state_dir: None,
        fence: None,
    });
    // Several requests per input, split on newlines, at advancing times.
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        let now = Nanos(i as u64 * 50_000_000);
        let caller = Caller { uid: [0, 4242, 1000][i % 3], conn: 1 + (i % 2) as u64, privileged: i % 3 == 0 };
        let (reply, _events, _subscribed) = s.handle(line, caller, now);
        match decode_server(&encode(&reply)) {
            Ok(ServerMessage::Reply(r)) => assert_eq!(std::mem::discriminant(&r), std::mem::discriminant(&reply)),
            other => panic!("reply did not decode as a reply: {other:?}"),
        }
        s.poll_apps(now);
        assert!(s.apps().len() <= MAX_APPS);
    }
});
