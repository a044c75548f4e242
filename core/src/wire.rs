//! Wire format v1: a fixed binary header, typed fields, a MAC. Specified in
//! `docs/wire-format.md`; the test vectors there are checked by the tests below.
//!
//! Encoding writes into a caller's fixed buffer; decoding borrows the received bytes. Neither
//! allocates, and every read is bounds-checked: garbage yields a [`Reject`] reason, never a
//! panic (the `wire_decode` fuzz target holds us to that).

use crate::auth::{Keyring, Method, MAX_MAC};

/// The first two bytes of every packet.
pub const MAGIC: [u8; 2] = *b"hB";
/// The only version this build speaks.
pub const VERSION: u8 = 1;
/// Header length.
pub const HEADER_LEN: usize = 40;
/// The largest datagram accepted; anything longer is `Oversized`.
pub const MAX_PACKET: usize = 512;
/// Most echo fields in one heartbeat: one per peer heard on the link (`MAX_NODES` is 16).
pub const MAX_ECHOES: usize = 15;
/// A heartbeat never exceeds this on the wire (payload of the UDP datagram): header, timing,
/// an echo for each of [`MAX_ECHOES`] peers, the longest MAC. With one peer and sha256 it is
/// 100 bytes.
pub const MAX_HEARTBEAT: usize = max_heartbeat_len(MAX_MAC);

/// Packet type: a heartbeat.
pub const TYPE_HEARTBEAT: u8 = 1;

/// Field: the sender's timing (keepalive ms u32, deadtime ms u32).
pub const FIELD_TIMING: u8 = 1;
/// Field: an echo of a peer's timestamp (peer id u32, timestamp u64, held ns u32).
pub const FIELD_ECHO: u8 = 2;
/// Field: the sender is stopping cleanly; this is its last heartbeat (no value).
pub const FIELD_LEAVING: u8 = 3;
/// Field: the sender resets itself through its hardware watchdog, of this timeout (ms, u32),
/// when it loses the cluster (`stonith_watchdog`): peers may take it as off once twice that
/// has passed since they last heard it.
pub const FIELD_WATCHDOG: u8 = 4;
/// Field: the sender's CRM state, opaque to hbd (1 to [`MAX_CRM`] bytes): what `hb-crmd`
/// tells its peers (which resource groups it holds), carried in every heartbeat while set.
pub const FIELD_CRM: u8 = 5;
/// The most bytes of a CRM state.
pub const MAX_CRM: usize = 48;

/// A CRM state as carried in heartbeats: `len` bytes of `bytes` (0: none). `Copy` and of
/// fixed size, so it crosses the RT thread's rings without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrmState {
    len: u8,
    bytes: [u8; MAX_CRM],
}

impl Default for CrmState {
    fn default() -> CrmState {
        CrmState::NONE
    }
}

impl CrmState {
    /// No state.
    pub const NONE: CrmState = CrmState { len: 0, bytes: [0; MAX_CRM] };

    /// A state of these bytes; `None` if longer than [`MAX_CRM`].
    pub fn new(b: &[u8]) -> Option<CrmState> {
        let mut s = CrmState::default();
        s.bytes.get_mut(..b.len())?.copy_from_slice(b);
        s.len = b.len() as u8;
        Some(s)
    }

    /// Its bytes (empty: no state).
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Why a received packet was dropped. The discriminant indexes the per-link counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Reject {
    /// Shorter than its header, fields or MAC say.
    Truncated = 0,
    /// Longer than [`MAX_PACKET`] or than its header says.
    Oversized = 1,
    /// Not an hb packet (wrong magic).
    BadMagic = 2,
    /// A version this build does not speak.
    UnknownVersion = 3,
    /// Another cluster's packet.
    WrongCluster = 4,
    /// A sender not listed in `node`.
    UnknownNode = 5,
    /// A key index we do not have, or a method that differs from ours for that index.
    UnknownKey = 6,
    /// The MAC does not verify.
    BadMac = 7,
    /// A sequence number already seen, or too old for the window.
    Replay = 8,
    /// A generation older than the sender's current one (a packet from before its restart).
    OldGeneration = 9,
    /// Fields that do not parse.
    Malformed = 10,
    /// An unknown packet type.
    UnknownType = 11,
    /// A serial frame that did not decode (bad CRC or COBS encoding, too short, an overrun:
    /// see `hb_media::frame`), or a raw Ethernet frame that did not parse. Counted before the
    /// packet inside is looked at.
    BadFrame = 12,
    /// A generation further ahead of this node's clock than any sender can have (generations
    /// are seconds since the epoch): a forged packet, or a clock more than a day wrong.
    FutureGeneration = 13,
    /// An echo of ours that we did not send in this life of hbd, or sent longer than deadtime
    /// ago: a packet that cannot prove it was made recently (a replay, perhaps across a
    /// restart of this node). See "Freshness" in `docs/wire-format.md`.
    Stale = 14,
}

impl Reject {
    /// Number of reasons (size of counter arrays).
    pub const COUNT: usize = 15;
    /// All reasons in counter order.
    pub const ALL: [Reject; Reject::COUNT] = [
        Reject::Truncated,
        Reject::Oversized,
        Reject::BadMagic,
        Reject::UnknownVersion,
        Reject::WrongCluster,
        Reject::UnknownNode,
        Reject::UnknownKey,
        Reject::BadMac,
        Reject::Replay,
        Reject::OldGeneration,
        Reject::Malformed,
        Reject::UnknownType,
        Reject::BadFrame,
        Reject::FutureGeneration,
        Reject::Stale,
    ];
    /// A short name for counters and logs.
    pub const fn name(self) -> &'static str {
        match self {
            Reject::Truncated => "truncated",
            Reject::Oversized => "oversized",
            Reject::BadMagic => "bad-magic",
            Reject::UnknownVersion => "unknown-version",
            Reject::WrongCluster => "wrong-cluster",
            Reject::UnknownNode => "unknown-node",
            Reject::UnknownKey => "unknown-key",
            Reject::BadMac => "bad-mac",
            Reject::Replay => "replay",
            Reject::OldGeneration => "old-generation",
            Reject::Malformed => "malformed",
            Reject::UnknownType => "unknown-type",
            Reject::BadFrame => "bad-frame",
            Reject::FutureGeneration => "future-generation",
            Reject::Stale => "stale",
        }
    }
}

/// FNV-1a 32-bit: node and cluster names to wire ids.
pub fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// A node's wire id.
pub fn node_id(name: &str) -> u32 {
    fnv1a(name)
}

/// A cluster's wire id.
pub fn cluster_id(name: &str) -> u32 {
    fnv1a(name)
}

/// The fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Packet type.
    pub kind: u8,
    /// Cluster id.
    pub cluster: u32,
    /// Sender's node id.
    pub sender: u32,
    /// Sender's boot generation.
    pub generation: u64,
    /// Sequence number within the generation (every packet on every link has its own).
    pub seq: u64,
    /// Sender's CLOCK_MONOTONIC at send, ns.
    pub timestamp: u64,
    /// Key index (1..=15).
    pub key: u8,
    /// MAC method byte.
    pub method: u8,
    /// Length of the fields after the header.
    pub body_len: u16,
}

/// An echo of one of our timestamps: the proof that the packet was made after the sender
/// heard that packet of ours (freshness), and a round-trip time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Echo {
    /// Whose timestamp it echoes.
    pub peer: u32,
    /// That node's timestamp from the last packet the sender got from it on this link.
    pub timestamp: u64,
    /// How long the sender held it before sending, ns.
    pub held: u32,
}

/// The echo fields of a heartbeat: one per peer the sender has heard on the link, in a fixed
/// array (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Echoes {
    list: [Echo; MAX_ECHOES],
    len: u8,
}

impl Echoes {
    /// Just `e`.
    pub const fn one(e: Echo) -> Echoes {
        let mut list = [Echo { peer: 0, timestamp: 0, held: 0 }; MAX_ECHOES];
        list[0] = e;
        Echoes { list, len: 1 }
    }
    /// Adds `e`; false when the list is full.
    pub fn push(&mut self, e: Echo) -> bool {
        let Some(slot) = self.list.get_mut(usize::from(self.len)) else { return false };
        *slot = e;
        self.len += 1;
        true
    }
    /// The echoes, in field order.
    pub fn as_slice(&self) -> &[Echo] {
        &self.list[..usize::from(self.len)]
    }
    /// The echo addressed to node `id`, if any (the first, should a forger repeat it).
    pub fn for_node(&self, id: u32) -> Option<Echo> {
        self.as_slice().iter().copied().find(|e| e.peer == id)
    }
}

/// The decoded fields of a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Heartbeat {
    /// The sender's (keepalive, deadtime) in ms.
    pub timing: Option<(u32, u32)>,
    /// Echoes of its peers' timestamps.
    pub echoes: Echoes,
    /// The sender is stopping cleanly: it has left, not failed.
    pub leaving: bool,
    /// The sender's self-fencing watchdog timeout, ms (0: it does not self-fence).
    pub watchdog_ms: u32,
    /// The sender's CRM state (empty: none).
    pub crm: CrmState,
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_be_bytes(a)
}

/// Checks the framing of `pkt` and returns its header, body and MAC.
///
/// Structure only: magic, version, lengths. The caller checks cluster, sender, key and MAC.
pub fn split(pkt: &[u8]) -> Result<(Header, &[u8], &[u8]), Reject> {
    if pkt.len() > MAX_PACKET {
        return Err(Reject::Oversized);
    }
    if pkt.len() < 3 {
        return Err(Reject::Truncated);
    }
    if pkt[0..2] != MAGIC {
        return Err(Reject::BadMagic);
    }
    if pkt[2] != VERSION {
        return Err(Reject::UnknownVersion);
    }
    if pkt.len() < HEADER_LEN {
        return Err(Reject::Truncated);
    }
    let h = Header {
        kind: pkt[3],
        cluster: u32_at(pkt, 4),
        sender: u32_at(pkt, 8),
        generation: u64_at(pkt, 12),
        seq: u64_at(pkt, 20),
        timestamp: u64_at(pkt, 28),
        key: pkt[36],
        method: pkt[37],
        body_len: u16_at(pkt, 38),
    };
    let method = Method::from_wire(h.method).ok_or(Reject::UnknownKey)?;
    let need = HEADER_LEN + usize::from(h.body_len) + method.mac_len();
    if pkt.len() < need {
        return Err(Reject::Truncated);
    }
    if pkt.len() > need {
        return Err(Reject::Oversized);
    }
    let body_end = HEADER_LEN + usize::from(h.body_len);
    Ok((h, &pkt[HEADER_LEN..body_end], &pkt[body_end..]))
}

/// The signed part of a packet (header and body), given the MAC length.
pub fn signed_part(pkt: &[u8], mac_len: usize) -> &[u8] {
    &pkt[..pkt.len() - mac_len]
}

/// Decodes a heartbeat's fields. Unknown field types are skipped (forward compatibility).
pub fn parse_heartbeat(body: &[u8]) -> Result<Heartbeat, Reject> {
    let mut hb = Heartbeat::default();
    let mut i = 0;
    while i < body.len() {
        if i + 2 > body.len() {
            return Err(Reject::Malformed);
        }
        let (t, l) = (body[i], usize::from(body[i + 1]));
        let v = body.get(i + 2..i + 2 + l).ok_or(Reject::Malformed)?;
        match t {
            FIELD_TIMING if l == 8 => hb.timing = Some((u32_at(v, 0), u32_at(v, 4))),
            FIELD_ECHO if l == 16 => {
                let e = Echo { peer: u32_at(v, 0), timestamp: u64_at(v, 4), held: u32_at(v, 12) };
                // More echoes than a cluster has peers.
                hb.echoes.push(e).then_some(()).ok_or(Reject::Malformed)?;
            }
            FIELD_LEAVING if l == 0 => hb.leaving = true,
            FIELD_WATCHDOG if l == 4 => hb.watchdog_ms = u32_at(v, 0),
            FIELD_CRM if (1..=MAX_CRM).contains(&l) => hb.crm = CrmState::new(v).ok_or(Reject::Malformed)?,
            FIELD_TIMING | FIELD_ECHO | FIELD_LEAVING | FIELD_WATCHDOG | FIELD_CRM => return Err(Reject::Malformed),
            _ => {}
        }
        i += 2 + l;
    }
    Ok(hb)
}

/// The longest heartbeat signed with a MAC of `mac_len` bytes: header, timing, an echo for
/// each of [`MAX_ECHOES`] peers, the leaving mark, the watchdog advertisement and the
/// longest CRM state.
pub const fn max_heartbeat_len(mac_len: usize) -> usize {
    heartbeat_len(mac_len, MAX_ECHOES) + 2 + WATCHDOG_FIELD_LEN + 2 + MAX_CRM
}

/// The bytes the watchdog advertisement adds to a heartbeat.
pub const WATCHDOG_FIELD_LEN: usize = 6;

/// The length of a heartbeat with `echoes` echo fields and a MAC of `mac_len` bytes.
pub const fn heartbeat_len(mac_len: usize, echoes: usize) -> usize {
    HEADER_LEN + 10 + 18 * echoes + mac_len
}

/// Writes a signed heartbeat into `out` and returns its length.
pub fn encode_heartbeat(h: &Header, hb: &Heartbeat, keys: &Keyring, out: &mut [u8; MAX_HEARTBEAT]) -> usize {
    let mut body = [0u8; 10 + 18 * MAX_ECHOES + 2 + WATCHDOG_FIELD_LEN + 2 + MAX_CRM];
    let mut bl = 0;
    if let Some((k, d)) = hb.timing {
        body[bl] = FIELD_TIMING;
        body[bl + 1] = 8;
        body[bl + 2..bl + 6].copy_from_slice(&k.to_be_bytes());
        body[bl + 6..bl + 10].copy_from_slice(&d.to_be_bytes());
        bl += 10;
    }
    for e in hb.echoes.as_slice() {
        body[bl] = FIELD_ECHO;
        body[bl + 1] = 16;
        body[bl + 2..bl + 6].copy_from_slice(&e.peer.to_be_bytes());
        body[bl + 6..bl + 14].copy_from_slice(&e.timestamp.to_be_bytes());
        body[bl + 14..bl + 18].copy_from_slice(&e.held.to_be_bytes());
        bl += 18;
    }
    if hb.leaving {
        body[bl] = FIELD_LEAVING;
        body[bl + 1] = 0;
        bl += 2;
    }
    if hb.watchdog_ms != 0 {
        body[bl] = FIELD_WATCHDOG;
        body[bl + 1] = 4;
        body[bl + 2..bl + 6].copy_from_slice(&hb.watchdog_ms.to_be_bytes());
        bl += WATCHDOG_FIELD_LEN;
    }
    let crm = hb.crm.as_slice();
    if !crm.is_empty() {
        body[bl] = FIELD_CRM;
        body[bl + 1] = crm.len() as u8;
        body[bl + 2..bl + 2 + crm.len()].copy_from_slice(crm);
        bl += 2 + crm.len();
    }
    out[0..2].copy_from_slice(&MAGIC);
    out[2] = VERSION;
    out[3] = h.kind;
    out[4..8].copy_from_slice(&h.cluster.to_be_bytes());
    out[8..12].copy_from_slice(&h.sender.to_be_bytes());
    out[12..20].copy_from_slice(&h.generation.to_be_bytes());
    out[20..28].copy_from_slice(&h.seq.to_be_bytes());
    out[28..36].copy_from_slice(&h.timestamp.to_be_bytes());
    out[36] = h.key;
    out[37] = h.method;
    out[38..40].copy_from_slice(&(bl as u16).to_be_bytes());
    out[HEADER_LEN..HEADER_LEN + bl].copy_from_slice(&body[..bl]);
    let signed = HEADER_LEN + bl;
    let mut mac = [0u8; MAX_MAC];
    let ml = keys.sign(h.key, &out[..signed], &mut mac).expect("sending key exists");
    out[signed..signed + ml].copy_from_slice(&mac[..ml]);
    signed + ml
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::parse_authkeys;
    use std::path::Path;

    fn ring(text: &str) -> Keyring {
        Keyring::new(&parse_authkeys(text, Path::new("authkeys")).unwrap())
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn vector_header(method: Method) -> Header {
        Header {
            kind: TYPE_HEARTBEAT,
            cluster: cluster_id("linux-ha"),
            sender: node_id("alpha"),
            generation: 1_700_000_000,
            seq: 42,
            timestamp: 123_456_789,
            key: 1,
            method: method as u8,
            body_len: 0,
        }
    }

    const VECTOR_HB: Heartbeat = Heartbeat {
        timing: Some((10, 50)),
        echoes: Echoes::one(Echo { peer: 0x0102_0304, timestamp: 99, held: 7 }),
        leaving: false,
        watchdog_ms: 0,
        crm: CrmState::NONE,
    };

    /// The test vectors printed in docs/wire-format.md.
    #[test]
    fn test_vectors_match_the_spec() {
        assert_eq!(format!("{:08x}", node_id("alpha")), "5d8b6dab");
        assert_eq!(format!("{:08x}", cluster_id("linux-ha")), "3f666a2b");
        let keys = ring("auth 1\n1 sha256 test-key\n");
        let mut out = [0u8; MAX_HEARTBEAT];
        let n = encode_heartbeat(&vector_header(Method::Sha256), &VECTOR_HB, &keys, &mut out);
        assert_eq!(n, 100);
        let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/wire-format.md")).unwrap();
        let want_sha = hex(&out[..n]);
        assert!(spec.contains(&want_sha), "docs/wire-format.md lacks the sha256 vector {want_sha}");
        let keys = ring("auth 1\n1 crc\n");
        let n = encode_heartbeat(&vector_header(Method::Crc), &VECTOR_HB, &keys, &mut out);
        assert_eq!(n, 72);
        let want_crc = hex(&out[..n]);
        assert!(spec.contains(&want_crc), "docs/wire-format.md lacks the crc vector {want_crc}");
    }

    #[test]
    fn round_trip_and_size_limit() {
        for (text, m) in [
            ("auth 1\n1 sha256 k\n", Method::Sha256),
            ("auth 1\n1 sha1 k\n", Method::Sha1),
            ("auth 1\n1 md5 k\n", Method::Md5),
            ("auth 1\n1 crc\n", Method::Crc),
        ] {
            let keys = ring(text);
            let mut out = [0u8; MAX_HEARTBEAT];
            let n = encode_heartbeat(&vector_header(m), &VECTOR_HB, &keys, &mut out);
            assert!(n <= MAX_HEARTBEAT);
            let (h, body, mac) = split(&out[..n]).unwrap();
            assert_eq!(h.seq, 42);
            assert!(keys.verify(h.key, signed_part(&out[..n], mac.len()), mac));
            assert_eq!(parse_heartbeat(body).unwrap(), VECTOR_HB);
        }
    }

    #[test]
    fn framing_errors_are_named() {
        let keys = ring("auth 1\n1 sha256 k\n");
        let mut out = [0u8; MAX_HEARTBEAT];
        let n = encode_heartbeat(&vector_header(Method::Sha256), &VECTOR_HB, &keys, &mut out);
        let p = &out[..n];
        assert_eq!(split(&p[..n - 1]).unwrap_err(), Reject::Truncated);
        assert_eq!(split(&p[..10]).unwrap_err(), Reject::Truncated);
        assert_eq!(split(&[]).unwrap_err(), Reject::Truncated);
        let mut long = p.to_vec();
        long.push(0);
        assert_eq!(split(&long).unwrap_err(), Reject::Oversized);
        assert_eq!(split(&[0u8; 600]).unwrap_err(), Reject::Oversized);
        let mut v = p.to_vec();
        v[2] = 2;
        assert_eq!(split(&v).unwrap_err(), Reject::UnknownVersion);
        v[0] = b'X';
        assert_eq!(split(&v).unwrap_err(), Reject::BadMagic);
        let mut v = p.to_vec();
        v[37] = 9;
        assert_eq!(split(&v).unwrap_err(), Reject::UnknownKey);
        assert_eq!(parse_heartbeat(&[1]).unwrap_err(), Reject::Malformed);
        assert_eq!(parse_heartbeat(&[1, 9, 0]).unwrap_err(), Reject::Malformed);
        assert_eq!(parse_heartbeat(&[1, 2, 0, 0]).unwrap_err(), Reject::Malformed);
        assert_eq!(parse_heartbeat(&[77, 1, 0]).unwrap(), Heartbeat::default());
    }

    /// The leaving mark has no value; one with a value is malformed, and an unknown field is
    /// skipped.
    #[test]
    fn the_leaving_mark_is_an_empty_field() {
        assert!(parse_heartbeat(&[FIELD_LEAVING, 0]).unwrap().leaving);
        assert!(!parse_heartbeat(&[9, 1, 0xff]).unwrap().leaving, "unknown fields are skipped");
        assert_eq!(parse_heartbeat(&[FIELD_LEAVING, 1, 0]), Err(Reject::Malformed));
        assert_eq!(parse_heartbeat(&[FIELD_WATCHDOG, 4, 0, 0, 0x13, 0x88]).unwrap().watchdog_ms, 5000);
        assert_eq!(parse_heartbeat(&[FIELD_WATCHDOG, 2, 0, 0]), Err(Reject::Malformed));
        assert_eq!(parse_heartbeat(&[FIELD_CRM, 2, 7, 9]).unwrap().crm.as_slice(), [7, 9]);
        assert_eq!(parse_heartbeat(&[FIELD_CRM, 0]), Err(Reject::Malformed), "an empty CRM state is not sent");
        let mut long = vec![FIELD_CRM, 49];
        long.extend([0; 49]);
        assert_eq!(parse_heartbeat(&long), Err(Reject::Malformed), "longer than MAX_CRM");
        assert!(CrmState::new(&[0; 49]).is_none());
    }

    /// A heartbeat carries an echo for every peer (15 at most); a sixteenth is malformed.
    #[test]
    fn every_peer_gets_an_echo_and_the_list_is_bounded() {
        let keys = ring("auth 1\n1 sha256 k\n");
        let crm = CrmState::new(&[0xa5; MAX_CRM]).unwrap();
        let mut hb = Heartbeat { timing: Some((10, 50)), echoes: Echoes::default(), leaving: true, watchdog_ms: 5000, crm };
        for i in 0..MAX_ECHOES as u32 {
            assert!(hb.echoes.push(Echo { peer: i + 1, timestamp: u64::from(i) * 1000, held: i }));
        }
        assert!(!hb.echoes.push(Echo::default()), "the list is full");
        let mut out = [0u8; MAX_HEARTBEAT];
        let n = encode_heartbeat(&vector_header(Method::Sha256), &hb, &keys, &mut out);
        assert_eq!(
            n, MAX_HEARTBEAT,
            "15 echoes, the leaving mark, the watchdog, the longest CRM state and the longest MAC fill the buffer exactly"
        );
        let (_, body, _) = split(&out[..n]).unwrap();
        let got = parse_heartbeat(body).unwrap();
        assert_eq!(got, hb);
        assert_eq!(got.echoes.for_node(7), Some(Echo { peer: 7, timestamp: 6000, held: 6 }));
        assert_eq!(got.echoes.for_node(99), None);
        let mut sixteen = body.to_vec();
        sixteen.extend_from_slice(&body[10..28]);
        assert_eq!(parse_heartbeat(&sixteen).unwrap_err(), Reject::Malformed);
    }
}
