//! hb's local API, version 1: every message on `hbd.sock` as a Rust type, with one encoder
//! ([`encode`]) and one decoder per direction ([`decode_request`], [`decode_server`]).
//! JSON through serde, used only off the real-time thread. `docs/ipc.md` documents the same
//! messages for programs in other languages.
//!
//! Stability: a field's name and meaning never change and nothing is removed; versions only
//! add (requests, optional request fields, reply and event fields, events, error codes).
//! Clients must ignore fields they do not know; unknown events and error codes decode as
//! [`Event::Unknown`] and [`ErrorCode::Other`]. The `hello` exchange says which version each
//! side speaks.

mod error;
mod fence;

pub use error::{CrmPeer, ErrorCode};
pub use fence::{DeviceStatus, FenceOp, FenceReason, TargetStatus};

use crate::status::Snapshot;
use crate::time::Nanos;
use serde::{Deserialize, Serialize};

/// The protocol version this hbd speaks.
pub const VERSION: u32 = 1;

/// Largest request hbd reads; longer ones are refused whole.
pub const MAX_REQUEST: usize = 4096;

/// Largest message hbd sends (a `snapshot` reply of a full node table).
pub const MAX_MESSAGE: usize = 256 * 1024;

/// A client's request: one per message. Unknown fields are ignored (a newer client may send
/// more), an unknown `op` gets [`ErrorCode::UnknownRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Says which protocol version the client speaks (optional; without it, version 1).
    Hello {
        /// The client's protocol version.
        version: u32,
        /// A name for hbd's log (e.g. `hbctl`, `hb-crmd`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
    },
    /// Is hbd there?
    Ping,
    /// Every event from now on comes on this connection ([`EventMsg`]).
    Subscribe,
    /// The state hbd knows now, with the sequence number of the last event it reflects: how a
    /// subscriber resynchronises after a gap.
    Snapshot,
    /// Registers an application heartbeat (heartbeat's `apphb_register`).
    ApphbRegister {
        /// Its name: 1–64 printable characters; names starting `hb-` are for root and hbd's user.
        name: String,
        /// The promised check-in interval, milliseconds (10 ms to 24 h).
        interval_ms: u64,
        /// Kept when the connection closes (scripts); otherwise bound to the connection, whose
        /// closing without unregistering is reported as the application having exited.
        #[serde(default)]
        persistent: bool,
    },
    /// A check-in (heartbeat's `apphb_hb`). Only the registering user — and, for a
    /// connection-bound registration, only its connection — may check in.
    ApphbCheckin {
        /// The registration.
        name: String,
    },
    /// Ends a registration cleanly. As for check-ins; root may also end another user's
    /// persistent registration.
    ApphbUnregister {
        /// The registration.
        name: String,
    },
    /// Every application heartbeat.
    ApphbStatus,
    /// Fences a node now, through its topology and without the race delay (root and hbd's
    /// user only). The reply says it was accepted; the outcome is a `fence-result` event with
    /// the same `id` (subscribe first to be sure to see it).
    Fence {
        /// The node.
        node: String,
        /// What to do (default `reboot`).
        #[serde(default)]
        action: FenceOp,
    },
    /// The operator has powered `node` off by hand: completes a `meatware` action waiting for
    /// it (root and hbd's user only).
    FenceConfirm {
        /// The node.
        node: String,
    },
    /// The fencing devices, the topology, and what waits for an operator.
    StonithStatus,
    /// Sets the state this node's heartbeats carry to its peers' CRMs: at most 48 bytes in
    /// hex, opaque to hbd; empty stops carrying one (root and hbd's user only; `hb-crmd`).
    CrmState {
        /// The bytes, in hex.
        state: String,
    },
    /// The CRM state each live peer's heartbeats carry.
    CrmPeers,
}

/// hbd's answer to one request: one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Reply {
    /// Answers `hello`.
    Hello {
        /// The version both sides will speak: the lower of the two.
        version: u32,
        /// The newest version this hbd speaks.
        hbd_version: u32,
        /// hbd's release.
        release: String,
        /// This node's name.
        node: String,
        /// hbd's pid.
        pid: u32,
    },
    /// Answers `ping`.
    Pong {
        /// This node's name.
        node: String,
        /// hbd's pid.
        pid: u32,
    },
    /// Answers `subscribe`: events with a sequence number above `seq` follow.
    Subscribed {
        /// The last event sequence number sent before the subscription.
        seq: u64,
    },
    /// Answers `snapshot`.
    Snapshot {
        /// The last event sequence number this state reflects (later events may repeat what
        /// it shows: applying them again is harmless).
        seq: u64,
        /// The status page as read now.
        status: Box<Snapshot>,
        /// The application heartbeats.
        apps: Vec<AppStatus>,
    },
    /// Answers `apphb-register`.
    Registered {
        /// The registration.
        name: String,
        /// Its interval, ms.
        interval_ms: u64,
        /// Kept after the connection closes.
        persistent: bool,
    },
    /// Answers `apphb-checkin`.
    CheckedIn {
        /// The registration.
        name: String,
    },
    /// Answers `apphb-unregister`.
    Unregistered {
        /// The registration.
        name: String,
    },
    /// Answers `apphb-status`.
    ApphbStatus {
        /// Every registration.
        apps: Vec<AppStatus>,
    },
    /// Answers `fence`: the request is queued; its events carry `id`.
    FenceAccepted {
        /// The request's number.
        id: u64,
        /// The node.
        node: String,
        /// What will be done.
        action: FenceOp,
    },
    /// Answers `fence-confirm`: the waiting action completes.
    FenceConfirmed {
        /// The node.
        node: String,
    },
    /// Answers `stonith-status`.
    StonithStatus {
        /// This node's devices, in configuration order.
        devices: Vec<DeviceStatus>,
        /// Each peer's topology (a peer without levels cannot be fenced).
        targets: Vec<TargetStatus>,
        /// What fencing a dead peer does.
        action: FenceOp,
        /// How long this node waits before fencing a dead peer (its place in the race).
        delay_ns: Nanos,
        /// Nodes a meatware action is waiting on an operator for.
        waiting_for_operator: Vec<String>,
    },
    /// Answers `crm-state`: heartbeats carry the state from now on.
    CrmStateSet {
        /// Its length.
        bytes: u32,
    },
    /// Answers `crm-peers`.
    CrmPeers {
        /// Each peer whose heartbeats carry a CRM state.
        peers: Vec<CrmPeer>,
    },
    /// The request was refused; the connection stays open unless `code` says otherwise.
    Error {
        /// What kind of refusal.
        code: ErrorCode,
        /// For people.
        message: String,
    },
    /// A reply this client's version does not know (from a newer hbd).
    #[serde(other)]
    Unknown,
}

/// An application heartbeat's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppState {
    /// Checking in on time.
    Ok,
    /// Missed its interval (not yet checked in again).
    Missed,
    /// Its connection closed without unregistering.
    Exited,
}

impl AppState {
    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            AppState::Ok => "ok",
            AppState::Missed => "missed",
            AppState::Exited => "exited",
        }
    }
}

/// One application heartbeat, as `apphb-status` and `snapshot` list it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppStatus {
    /// Name.
    pub name: String,
    /// Promised interval, ms.
    pub interval_ms: u64,
    /// Since the last check-in (or registration), ms.
    pub last_checkin_ms_ago: f64,
    /// Check-ins so far.
    pub checkins: u64,
    /// Kept after its connection closes.
    pub persistent: bool,
    /// State.
    pub state: AppState,
    /// The user who registered it.
    pub owner_uid: u32,
}

/// One event on a subscribed connection. `seq` grows by one per event hbd emits; a gap
/// means events were lost, and a [`Event::EventsLost`] or [`Event::Missed`] says why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMsg {
    /// Sequence number (1 for hbd's first event).
    pub seq: u64,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}

/// What happened. Times are CLOCK_MONOTONIC nanoseconds (`at_ns`) and durations nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A peer is alive (first heard, or back after being dead).
    NodeUp {
        /// The peer.
        node: String,
        /// When.
        at_ns: Nanos,
        /// It had been declared dead before.
        returning: bool,
    },
    /// A peer is dead: every link silent for `deadtime`.
    NodeDead {
        /// The peer.
        node: String,
        /// When.
        at_ns: Nanos,
        /// How long it had been silent.
        silent_ns: Nanos,
    },
    /// A peer stopped cleanly: its last heartbeat said it was leaving. It is down, but nothing
    /// failed, and it is not fenced.
    NodeLeft {
        /// The peer.
        node: String,
        /// When.
        at_ns: Nanos,
    },
    /// A peer restarted (a new generation).
    NodeRestarted {
        /// The peer.
        node: String,
        /// When.
        at_ns: Nanos,
        /// Its new generation.
        generation: u64,
    },
    /// A link to a peer is up.
    LinkUp {
        /// The peer.
        node: String,
        /// The link (e.g. `ucast eth1`).
        link: String,
        /// When.
        at_ns: Nanos,
    },
    /// A link to a peer has been silent for `warntime`.
    LinkWarn {
        /// The peer.
        node: String,
        /// The link.
        link: String,
        /// When.
        at_ns: Nanos,
        /// Silent so far.
        silent_ns: Nanos,
    },
    /// A link to a peer has been silent for `deadtime`.
    LinkDead {
        /// The peer.
        node: String,
        /// The link.
        link: String,
        /// When.
        at_ns: Nanos,
        /// Silent so far.
        silent_ns: Nanos,
    },
    /// A ping node answers.
    PingUp {
        /// The ping node.
        node: String,
        /// When.
        at_ns: Nanos,
    },
    /// A ping node has not answered for `deadping`.
    PingDead {
        /// The ping node.
        node: String,
        /// When.
        at_ns: Nanos,
        /// Silent so far.
        silent_ns: Nanos,
    },
    /// hbd itself was not scheduled on time (discounted, never a death).
    Stall {
        /// When.
        at_ns: Nanos,
        /// How late the wake-up was.
        late_ns: Nanos,
    },
    /// An application heartbeat was registered.
    ApphbRegistered {
        /// Its name.
        name: String,
        /// When.
        at_ns: Nanos,
        /// Its interval.
        interval_ns: Nanos,
    },
    /// A peer's CRM state changed (`crm-state` on that node); empty when its CRM stopped
    /// saying. A peer's state is forgotten when it dies, leaves or restarts.
    PeerCrm {
        /// The peer.
        node: String,
        /// When it arrived.
        at_ns: Nanos,
        /// The state, in hex.
        state: String,
    },
    /// An application heartbeat missed its interval.
    ApphbMissed {
        /// Its name.
        name: String,
        /// When.
        at_ns: Nanos,
        /// Silent so far.
        silent_ns: Nanos,
    },
    /// It checked in again after a miss.
    ApphbRecovered {
        /// Its name.
        name: String,
        /// When.
        at_ns: Nanos,
    },
    /// Its connection closed without unregistering.
    ApphbExited {
        /// Its name.
        name: String,
        /// When.
        at_ns: Nanos,
    },
    /// It unregistered.
    ApphbUnregistered {
        /// Its name.
        name: String,
        /// When.
        at_ns: Nanos,
    },
    /// hbd lost events before they reached the stream (its internal queue was full); every
    /// subscriber gets this. Resynchronise with `snapshot`.
    EventsLost {
        /// When hbd noticed.
        at_ns: Nanos,
        /// Lost since the last such event.
        count: u64,
        /// Lost since hbd started.
        total: u64,
    },
    /// This subscriber did not read fast enough: events `first_seq ..= seq` were not sent to
    /// it. Resynchronise with `snapshot`. Its `seq` stands for the last one missed.
    Missed {
        /// The first event not delivered.
        first_seq: u64,
        /// How many.
        count: u64,
    },
    /// Fencing of a node begins (after `delay_ns`, this node's place in a split's race).
    FenceStarted {
        /// The request's number (the `fence` reply's, or hbd's own for a dead node).
        id: u64,
        /// The node.
        node: String,
        /// What is done.
        action: FenceOp,
        /// Why.
        reason: FenceReason,
        /// When the request was taken.
        at_ns: Nanos,
        /// How long hbd waits before the first device acts.
        delay_ns: Nanos,
    },
    /// A meatware device waits for an operator: power `node` off by hand, then
    /// `hbctl fence-confirm NODE`.
    FenceOperator {
        /// The request.
        id: u64,
        /// The node.
        node: String,
        /// The device.
        device: String,
        /// When.
        at_ns: Nanos,
    },
    /// A fencing ended. `ok` only once the node is confirmed off (or the reset confirmed).
    FenceResult {
        /// The request.
        id: u64,
        /// The node.
        node: String,
        /// What was done.
        action: FenceOp,
        /// It worked.
        ok: bool,
        /// cluster-glue's code (`S_OK`, `S_TIMEOUT`, …), or `cancelled`.
        code: String,
        /// For people: what each level did.
        message: String,
        /// The level that succeeded (0: none).
        level: u32,
        /// That level's devices.
        devices: Vec<String>,
        /// When it ended.
        at_ns: Nanos,
        /// From the request to the end, delay included.
        duration_ns: Nanos,
    },
    /// An event this client's version does not know (from a newer hbd).
    #[serde(other)]
    Unknown,
}

/// What hbd sends: a reply or an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ServerMessage {
    /// A reply to this connection's request.
    Reply(Reply),
    /// An event (subscribed connections only).
    Event(EventMsg),
}

/// A message that did not decode.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Longer than the limit.
    #[error("message of {len} bytes is longer than {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A request whose `op` this hbd does not know.
    #[error("unknown request {0:?}")]
    UnknownOp(String),
    /// Not a message of this protocol.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

/// Encodes any message of this protocol.
pub fn encode<T: Serialize>(m: &T) -> Vec<u8> {
    // These types have string keys and no maps of non-string keys: serialization cannot fail.
    serde_json::to_vec(m).unwrap_or_else(|e| format!("{{\"reply\":\"error\",\"code\":\"bad-request\",\"message\":\"{e}\"}}").into_bytes())
}

impl Request {
    /// Every `op` of this version.
    pub const OPS: [&'static str; 13] = [
        "hello",
        "ping",
        "subscribe",
        "snapshot",
        "apphb-register",
        "apphb-checkin",
        "apphb-unregister",
        "apphb-status",
        "fence",
        "fence-confirm",
        "stonith-status",
        "crm-state",
        "crm-peers",
    ];
}

/// Decodes a client's request.
pub fn decode_request(b: &[u8]) -> Result<Request, DecodeError> {
    if b.len() > MAX_REQUEST {
        return Err(DecodeError::TooLong { len: b.len(), max: MAX_REQUEST });
    }
    #[derive(Deserialize)]
    struct Op {
        op: String,
    }
    let op: Op = serde_json::from_slice(b)?;
    if !Request::OPS.contains(&op.op.as_str()) {
        return Err(DecodeError::UnknownOp(op.op));
    }
    Ok(serde_json::from_slice(b)?)
}

/// Decodes what hbd sent.
pub fn decode_server(b: &[u8]) -> Result<ServerMessage, DecodeError> {
    if b.len() > MAX_MESSAGE {
        return Err(DecodeError::TooLong { len: b.len(), max: MAX_MESSAGE });
    }
    // Tell replies from events by their tag first, so that a malformed reply reports its
    // own error (an untagged enum would only say "did not match any variant").
    #[derive(Deserialize)]
    struct Tag {
        reply: Option<serde::de::IgnoredAny>,
    }
    let tag: Tag = serde_json::from_slice(b)?;
    Ok(if tag.reply.is_some() {
        ServerMessage::Reply(serde_json::from_slice(b)?)
    } else {
        ServerMessage::Event(serde_json::from_slice(b)?)
    })
}

impl Reply {
    /// An error reply.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Reply {
        Reply::Error { code, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_in_their_documented_form() {
        let r = decode_request(br#"{"op":"apphb-register","name":"db","interval_ms":500}"#).unwrap();
        assert_eq!(r, Request::ApphbRegister { name: "db".into(), interval_ms: 500, persistent: false });
        assert_eq!(decode_request(br#"{"op":"ping","from-the-future":1}"#).unwrap(), Request::Ping);
        assert_eq!(String::from_utf8(encode(&Request::Hello { version: 1, client: None })).unwrap(), r#"{"op":"hello","version":1}"#);
        assert!(decode_request(b"ping").is_err());
        assert!(decode_request(br#"{"op":"frob"}"#).is_err());
        assert!(matches!(decode_request(&[b' '; MAX_REQUEST + 1]), Err(DecodeError::TooLong { .. })));
        assert!(matches!(decode_request(br#"{"op":"frob"}"#), Err(DecodeError::UnknownOp(o)) if o == "frob"));
    }

    #[test]
    fn the_list_of_ops_names_every_request() {
        let all = [
            Request::Hello { version: 1, client: Some("t".into()) },
            Request::Ping,
            Request::Subscribe,
            Request::Snapshot,
            Request::ApphbRegister { name: "n".into(), interval_ms: 10, persistent: false },
            Request::ApphbCheckin { name: "n".into() },
            Request::ApphbUnregister { name: "n".into() },
            Request::ApphbStatus,
            Request::Fence { node: "b".into(), action: FenceOp::Off },
            Request::FenceConfirm { node: "b".into() },
            Request::StonithStatus,
            Request::CrmState { state: "01".into() },
            Request::CrmPeers,
        ];
        assert_eq!(all.len(), Request::OPS.len());
        for r in all {
            let text = encode(&r);
            assert_eq!(decode_request(&text).unwrap(), r, "{}", String::from_utf8_lossy(&text));
        }
    }

    #[test]
    fn events_carry_their_sequence_number_beside_the_event_fields() {
        let m = EventMsg { seq: 7, event: Event::NodeDead { node: "b".into(), at_ns: Nanos(5), silent_ns: Nanos(9) } };
        let text = String::from_utf8(encode(&m)).unwrap();
        assert_eq!(text, r#"{"seq":7,"event":"node-dead","node":"b","at_ns":5,"silent_ns":9}"#);
        assert_eq!(decode_server(text.as_bytes()).unwrap(), ServerMessage::Event(m));
    }

    #[test]
    fn fence_requests_default_to_reboot() {
        assert_eq!(decode_request(br#"{"op":"fence","node":"b"}"#).unwrap(), Request::Fence { node: "b".into(), action: FenceOp::Reboot });
        assert!(decode_request(br#"{"op":"fence","node":"b","action":"explode"}"#).is_err());
    }

    #[test]
    fn unknown_events_replies_and_codes_from_a_newer_hbd_still_decode() {
        assert_eq!(
            decode_server(br#"{"seq":3,"event":"quorum-gained","x":1}"#).unwrap(),
            ServerMessage::Event(EventMsg { seq: 3, event: Event::Unknown })
        );
        assert_eq!(decode_server(br#"{"reply":"fence-result","ok":true}"#).unwrap(), ServerMessage::Reply(Reply::Unknown));
        assert_eq!(
            decode_server(br#"{"reply":"error","code":"quorum-lost","message":"m"}"#).unwrap(),
            ServerMessage::Reply(Reply::Error { code: ErrorCode::Other, message: "m".into() })
        );
    }
}
