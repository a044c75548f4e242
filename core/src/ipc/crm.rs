//! The CRM's channel to its peers through hbd: `hb-crmd` sets its state (`crm-state`: up to
//! [`MAX_CRM`] bytes, opaque to hbd), the RT thread carries it in every heartbeat, and each
//! peer's CRM sees it as a `peer-crm` event and in `crm-peers`. This is how the CRMs tell
//! each other which resource groups they hold, so none starts what another may run.
//!
//! [`CrmSlot`] hands the state from the IPC thread to the RT thread without a lock: a seqlock
//! the RT thread reads with bounded retries and no allocation.

use super::proto::{CrmPeer, ErrorCode, Event, Reply};
use crate::apphb::Caller;
use crate::wire::{CrmState, MAX_CRM};
use std::collections::BTreeMap;
use std::sync::atomic::{fence, AtomicU64, Ordering};

/// Words of a [`CrmSlot`]: the length, then the bytes.
const WORDS: usize = 1 + MAX_CRM.div_ceil(8);

/// The local CRM state, written by the IPC thread and read by the RT thread.
#[derive(Debug, Default)]
pub struct CrmSlot {
    /// Odd while a write is under way; changes with every write.
    seq: AtomicU64,
    words: [AtomicU64; WORDS],
}

impl CrmSlot {
    /// Stores `s` (one writer: the IPC thread).
    pub fn set(&self, s: &CrmState) {
        let q = self.seq.load(Ordering::Relaxed);
        self.seq.store(q.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        let mut w = [0u64; WORDS];
        w[0] = s.as_slice().len() as u64;
        for (i, b) in s.as_slice().iter().enumerate() {
            w[1 + i / 8] |= u64::from(*b) << (8 * (i % 8));
        }
        for (slot, v) in self.words.iter().zip(w) {
            slot.store(v, Ordering::Relaxed);
        }
        self.seq.store(q.wrapping_add(2), Ordering::Release);
    }

    /// The state, if it changed since `seen` (which is updated); `None` if unchanged, or if a
    /// write kept it from a coherent read in a few tries (the next call sees it).
    pub fn changed(&self, seen: &mut u64) -> Option<CrmState> {
        for _ in 0..4 {
            let q = self.seq.load(Ordering::Acquire);
            if q == *seen {
                return None;
            }
            if q % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let mut w = [0u64; WORDS];
            for (v, slot) in w.iter_mut().zip(&self.words) {
                *v = slot.load(Ordering::Relaxed);
            }
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) != q {
                continue;
            }
            let len = (w[0] as usize).min(MAX_CRM);
            let mut bytes = [0u8; MAX_CRM];
            for (i, b) in bytes.iter_mut().enumerate().take(len) {
                *b = (w[1 + i / 8] >> (8 * (i % 8))) as u8;
            }
            *seen = q;
            return CrmState::new(&bytes[..len]);
        }
        None
    }
}

/// Hex, as states travel in the JSON protocol.
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

/// `crm-state`: sets what this node's heartbeats carry (root and hbd's user only).
pub fn set_state(slot: &CrmSlot, caller: &Caller, state: &str) -> Reply {
    if !caller.privileged {
        return Reply::error(ErrorCode::NotPrivileged, "only root and hbd's user may set the CRM state");
    }
    match unhex(state).and_then(|b| CrmState::new(&b)) {
        Some(s) => {
            slot.set(&s);
            Reply::CrmStateSet { bytes: s.as_slice().len() as u32 }
        }
        None => Reply::error(ErrorCode::Invalid, format!("state must be at most {MAX_CRM} bytes in hex (an even number of 0-9a-f)")),
    }
}

/// The peers' last CRM states (hex), kept by the IPC thread from the events it forwards: a
/// state is dropped when its node dies, leaves or restarts (its CRM has not spoken in that
/// life).
#[derive(Debug, Default)]
pub struct PeerStates(BTreeMap<String, String>);

impl PeerStates {
    /// Follows one event.
    pub fn on_event(&mut self, e: &Event) {
        match e {
            Event::PeerCrm { node, state, .. } if state.is_empty() => {
                self.0.remove(node);
            }
            Event::PeerCrm { node, state, .. } => {
                self.0.insert(node.clone(), state.clone());
            }
            Event::NodeDead { node, .. } | Event::NodeLeft { node, .. } | Event::NodeRestarted { node, .. } => {
                self.0.remove(node);
            }
            _ => {}
        }
    }

    /// `crm-peers`.
    pub fn reply(&self) -> Reply {
        Reply::CrmPeers { peers: self.0.iter().map(|(n, s)| CrmPeer { node: n.clone(), state: s.clone() }).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Nanos;

    #[test]
    fn the_slot_hands_over_each_change_once() {
        let slot = CrmSlot::default();
        let mut seen = 0;
        assert_eq!(slot.changed(&mut seen), None, "nothing set");
        let s = CrmState::new(&[1, 2, 3, 250, 9, 8, 7, 6, 5]).unwrap();
        slot.set(&s);
        assert_eq!(slot.changed(&mut seen), Some(s));
        assert_eq!(slot.changed(&mut seen), None, "once");
        let full = CrmState::new(&[0xee; MAX_CRM]).unwrap();
        slot.set(&full);
        assert_eq!(slot.changed(&mut seen), Some(full));
        slot.set(&CrmState::NONE);
        assert_eq!(slot.changed(&mut seen), Some(CrmState::NONE));
    }

    #[test]
    fn requests_are_checked() {
        let slot = CrmSlot::default();
        let root = Caller { uid: 0, conn: 1, privileged: true };
        let user = Caller { uid: 1000, conn: 2, privileged: false };
        assert!(matches!(set_state(&slot, &user, "01"), Reply::Error { code: ErrorCode::NotPrivileged, .. }));
        for bad in ["0", "zz", &"00".repeat(MAX_CRM + 1), "é0"] {
            assert!(matches!(set_state(&slot, &root, bad), Reply::Error { code: ErrorCode::Invalid, .. }), "{bad:?}");
        }
        assert_eq!(set_state(&slot, &root, "0aff"), Reply::CrmStateSet { bytes: 2 });
        assert_eq!(slot.changed(&mut 0).unwrap().as_slice(), [10, 255]);
        let mut p = PeerStates::default();
        p.on_event(&Event::PeerCrm { node: "beta".into(), at_ns: Nanos(1), state: "01".into() });
        assert_eq!(p.reply(), Reply::CrmPeers { peers: vec![CrmPeer { node: "beta".into(), state: "01".into() }] });
        p.on_event(&Event::NodeRestarted { node: "beta".into(), at_ns: Nanos(2), generation: 9 });
        assert_eq!(p.reply(), Reply::CrmPeers { peers: vec![] }, "a new life has said nothing yet");
    }
}
