//! What a CRM tells its peers through hbd (the `crm-state` bytes, at most 48): a version
//! byte (1), flags (bit 0: standby), the digest of its groups (`Config::digest`, 4 bytes,
//! big-endian), how many of its ping nodes answer (one byte; ipfail), its sequence number
//! (u16, big-endian: it changes with every change of what it says), what it has seen of each
//! peer (a count, then for each peer its index in `ha.cf`'s node list and the last sequence
//! number heard from it: three bytes), then three bitmaps of groups by their index in the configuration (bit `i % 8`
//! of byte `i / 8`): those it holds, those it refuses (`hbctl standby`) and those it asks for
//! (`hbctl takeover`). The first two are each preceded by their length in bytes; the last
//! runs to the end. At most [`MAX_GROUPS`] groups. A peer whose digest differs has another
//! configuration; its bitmaps cannot be read, and the CRM says so rather than guess.

/// A CRM's word to its peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// It gives its groups away (`hbctl standby`).
    pub standby: bool,
    /// The digest of its groups.
    pub digest: u32,
    /// How many of its ping nodes (and ping groups) answer.
    pub pings: u8,
    /// Its sequence number: a claim is acknowledged once a peer has seen it.
    pub seq: u16,
    /// The last sequence number it heard from each peer, by node index.
    pub seen: Vec<(u8, u16)>,
    /// The groups it holds (or is starting), by index.
    pub holds: Vec<usize>,
    /// The groups it will not run (standby), by index.
    pub refuses: Vec<usize>,
    /// The groups it asks for (takeover), by index.
    pub wants: Vec<usize>,
}

/// The most groups a state can name (all three bitmaps full).
pub const MAX_GROUPS: usize = (48 - 12 - 3) / 3 * 8;

fn bitmap(set: &[usize]) -> Vec<u8> {
    let mut b = vec![0u8; set.iter().max().map_or(0, |m| m / 8 + 1)];
    for &i in set {
        b[i / 8] |= 1 << (i % 8);
    }
    b
}

fn members(b: &[u8]) -> Vec<usize> {
    b.iter().enumerate().flat_map(|(byte, v)| (0..8).filter(move |bit| v & (1 << bit) != 0).map(move |bit| byte * 8 + bit)).collect()
}

impl Said {
    /// The bytes (`None` if a group index is past [`MAX_GROUPS`]).
    pub fn encode(&self) -> Option<Vec<u8>> {
        if [&self.holds, &self.refuses, &self.wants].iter().any(|s| s.iter().any(|i| *i >= MAX_GROUPS)) || self.seen.len() > 1 {
            // One peer's acknowledgement fits beside the bitmaps: hb's CRM runs two nodes.
            return None;
        }
        let mut b = vec![1, u8::from(self.standby)];
        b.extend_from_slice(&self.digest.to_be_bytes());
        b.push(self.pings);
        b.extend_from_slice(&self.seq.to_be_bytes());
        b.push(self.seen.len() as u8);
        for (node, seq) in &self.seen {
            b.push(*node);
            b.extend_from_slice(&seq.to_be_bytes());
        }
        for set in [&self.holds, &self.refuses] {
            let m = bitmap(set);
            b.push(m.len() as u8);
            b.extend(m);
        }
        b.extend(bitmap(&self.wants));
        Some(b)
    }

    /// Reads what a peer said; `None` if it is not a version-1 state.
    pub fn decode(b: &[u8]) -> Option<Said> {
        if b.len() < 12 || b[0] != 1 {
            return None;
        }
        let digest = u32::from_be_bytes([b[2], b[3], b[4], b[5]]);
        let seq = u16::from_be_bytes([b[7], b[8]]);
        let n_seen = usize::from(b[9]);
        let seen = b.get(10..10 + 3 * n_seen)?.chunks(3).map(|c| (c[0], u16::from_be_bytes([c[1], c[2]]))).collect();
        let mut at = 10 + 3 * n_seen;
        let holds_len = usize::from(*b.get(at)?);
        let holds = b.get(at + 1..at + 1 + holds_len)?;
        at += 1 + holds_len;
        let refuses_len = usize::from(*b.get(at)?);
        let refuses = b.get(at + 1..at + 1 + refuses_len)?;
        let wants = &b[at + 1 + refuses_len..];
        Some(Said {
            standby: b[1] & 1 != 0,
            digest,
            pings: b[6],
            seq,
            seen,
            holds: members(holds),
            refuses: members(refuses),
            wants: members(wants),
        })
    }
}

/// States travel in hbd's JSON protocol as hex.
pub use hb_core::ipc::crm::{hex, unhex};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_garbage_is_refused() {
        for s in [
            Said { standby: false, digest: 7, pings: 0, seq: 0, seen: vec![], holds: vec![], refuses: vec![], wants: vec![] },
            Said {
                standby: true,
                digest: 0xdead_beef,
                pings: 3,
                seq: 65535,
                seen: vec![(1, 7)],
                holds: vec![0, 3, 9, MAX_GROUPS - 1],
                refuses: vec![1],
                wants: vec![2, 80],
            },
            Said {
                standby: false,
                digest: 1,
                pings: 255,
                seq: 9,
                seen: vec![(15, 300)],
                holds: vec![MAX_GROUPS - 1],
                refuses: vec![MAX_GROUPS - 1],
                wants: vec![MAX_GROUPS - 1],
            },
        ] {
            let b = s.encode().unwrap();
            assert!(b.len() <= 48);
            assert_eq!(Said::decode(&b), Some(s.clone()));
            assert_eq!(unhex(&hex(&b)), Some(b));
        }
        assert_eq!(
            Said { standby: false, digest: 0, pings: 0, seq: 0, seen: vec![], holds: vec![MAX_GROUPS], refuses: vec![], wants: vec![] }
                .encode(),
            None
        );
        assert_eq!(Said::decode(&[2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), None, "another version");
        assert_eq!(Said::decode(&[1, 0, 0]), None, "short");
        assert_eq!(Said::decode(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0]), None, "a length past the end");
        assert_eq!(Said::decode(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0]), None, "more acknowledgements than bytes");
        assert_eq!(unhex("0g"), None);
    }
}
