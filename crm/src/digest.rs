//! What a CRM tells its peers through hbd (the `crm-state` bytes, at most 48): a version
//! byte (1), flags (bit 0: standby), the digest of its groups (`Config::digest`, 4 bytes,
//! big-endian), then a bitmap of the groups it holds, by their index in `haresources` (bit
//! `i % 8` of byte `i / 8`): at most 336 groups. A peer whose digest differs has another
//! `haresources`; its bitmap cannot be read, and the CRM says so rather than guess.

/// A CRM's word to its peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// It gives its groups away (`hbctl standby`).
    pub standby: bool,
    /// The digest of its groups.
    pub digest: u32,
    /// The groups it holds (or is starting), by index.
    pub holds: Vec<usize>,
}

/// The most groups a state can name.
pub const MAX_GROUPS: usize = (48 - 6) * 8;

impl Said {
    /// The bytes (`None` if a group index is past [`MAX_GROUPS`]).
    pub fn encode(&self) -> Option<Vec<u8>> {
        let mut b = vec![1, u8::from(self.standby)];
        b.extend_from_slice(&self.digest.to_be_bytes());
        for &i in &self.holds {
            if i >= MAX_GROUPS {
                return None;
            }
            if b.len() < 6 + i / 8 + 1 {
                b.resize(6 + i / 8 + 1, 0);
            }
            b[6 + i / 8] |= 1 << (i % 8);
        }
        Some(b)
    }

    /// Reads what a peer said; `None` if it is not a version-1 state.
    pub fn decode(b: &[u8]) -> Option<Said> {
        if b.len() < 6 || b[0] != 1 {
            return None;
        }
        let digest = u32::from_be_bytes([b[2], b[3], b[4], b[5]]);
        let holds = b[6..]
            .iter()
            .enumerate()
            .flat_map(|(byte, v)| (0..8).filter(move |bit| v & (1 << bit) != 0).map(move |bit| byte * 8 + bit))
            .collect();
        Some(Said { standby: b[1] & 1 != 0, digest, holds })
    }
}

/// Bytes as hex (the IPC carries states so).
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Hex to bytes; `None` if it is not hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_garbage_is_refused() {
        for s in [
            Said { standby: false, digest: 7, holds: vec![] },
            Said { standby: true, digest: 0xdead_beef, holds: vec![0, 3, 9, MAX_GROUPS - 1] },
        ] {
            let b = s.encode().unwrap();
            assert!(b.len() <= 48);
            assert_eq!(Said::decode(&b), Some(s.clone()));
            assert_eq!(unhex(&hex(&b)), Some(b));
        }
        assert_eq!(Said { standby: false, digest: 0, holds: vec![MAX_GROUPS] }.encode(), None);
        assert_eq!(Said::decode(&[2, 0, 0, 0, 0, 0]), None, "another version");
        assert_eq!(Said::decode(&[1, 0, 0]), None, "short");
        assert_eq!(unhex("0g"), None);
    }
}
