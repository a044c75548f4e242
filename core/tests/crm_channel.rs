//! The CRMs' channel through hbd, end to end between two real `hbd` processes on loopback: a
//! CRM state set on one node (`crm-state`) travels in its heartbeats, and the other node's
//! subscribers get a `peer-crm` event and find it in `crm-peers`; a peer that stops cleanly
//! is forgotten.

// Tests may read the clock and sleep; hbd's own code may not (core/clippy.toml).
#![allow(clippy::disallowed_methods)]

mod common;

use common::{wait_event, Node};
use hb_core::ipc::proto::{CrmPeer, Event, Reply, Request};
use hb_core::liveness::NodeState;
use hb_hwtest::TempDir;
use std::time::Duration;

#[test]
fn a_crm_state_reaches_the_peers_crm() {
    let dir = TempDir::new("hb-crm-channel");
    let port = hb_hwtest::free_udp_port();
    let cf = |bind: &str| {
        format!("keepalive 20ms\nwarntime 100ms\ndeadtime 300ms\ninitdead 3\nudpport {port}\nucast lo 127.0.0.1 127.0.0.2\nbind {bind}\nnode a b\n")
    };
    let a = Node::start_on_host(&dir.path, "a", &cf("127.0.0.1"), "auto");
    let mut b = Node::start_on_host(&dir.path, "b", &cf("127.0.0.2"), "auto");
    a.wait_peer("b", NodeState::Up, Duration::from_secs(20));
    let mut events = a.subscribe();
    assert_eq!(a.subscribe().call(&Request::CrmPeers).unwrap(), Reply::CrmPeers { peers: vec![] });
    let mut bc = b.subscribe();
    assert_eq!(bc.call(&Request::CrmState { state: "01a0ff".into() }).unwrap(), Reply::CrmStateSet { bytes: 3 });
    let got = wait_event(&mut events, Duration::from_secs(5), |e| matches!(e, Event::PeerCrm { .. }));
    assert!(matches!(&got, Some(Event::PeerCrm { node, state, .. }) if node == "b" && state == "01a0ff"), "{got:?}\n{}", a.log_text());
    let peers = a.subscribe().call(&Request::CrmPeers).unwrap();
    assert_eq!(peers, Reply::CrmPeers { peers: vec![CrmPeer { node: "b".into(), state: "01a0ff".into() }] });
    // A change is one more event; then b stops cleanly and a forgets its state.
    bc.call(&Request::CrmState { state: "02".into() }).unwrap();
    let got = wait_event(&mut events, Duration::from_secs(5), |e| matches!(e, Event::PeerCrm { .. }));
    assert!(matches!(&got, Some(Event::PeerCrm { state, .. }) if state == "02"), "{got:?}");
    drop(bc);
    assert!(b.proc.terminate(Duration::from_secs(10)).is_some());
    wait_event(&mut events, Duration::from_secs(5), |e| matches!(e, Event::NodeLeft { .. })).expect("b left");
    assert_eq!(a.subscribe().call(&Request::CrmPeers).unwrap(), Reply::CrmPeers { peers: vec![] });
}
