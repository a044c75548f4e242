//! The engine's counters, as the status page and `hbctl links` show them: per link
//! ([`LinkCounters`]: packets in and out, refusals by reason, the kernel's drops) and per
//! (peer, link) ([`PairStats`]: packets, round trips, ups and downs, loss bookkeeping).

use crate::time::Nanos;
use crate::wire::Reject;

/// Per-link counters (a link is one socket; it may reach several peers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LinkCounters {
    /// Valid packets received.
    pub rx_ok: u64,
    /// Our own packets seen looped back.
    pub own: u64,
    /// Heartbeats handed to the kernel.
    pub tx: u64,
    /// Sends the kernel refused.
    pub tx_err: u64,
    /// Datagrams the kernel dropped on this socket before hbd saw them: refused by the
    /// socket filter as not this cluster's (`hb_core::filter`), or no room in the receive
    /// buffer. As the kernel last reported it, with a datagram it delivered.
    #[serde(default)]
    pub kernel_dropped: u64,
    /// Dropped packets by [`Reject`] reason (serialized as an object keyed by reason name).
    #[serde(with = "rejects_by_name")]
    pub rejects: [u64; Reject::COUNT],
}

/// `rejects` as `{"bad-mac": 3, …}`: every reason by name, unknown names ignored (a newer
/// hbd may count more reasons).
mod rejects_by_name {
    use super::Reject;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(r: &[u64; Reject::COUNT], s: S) -> Result<S::Ok, S::Error> {
        let m: BTreeMap<&str, u64> = Reject::ALL.iter().map(|x| (x.name(), r[*x as usize])).collect();
        m.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u64; Reject::COUNT], D::Error> {
        let m = BTreeMap::<String, u64>::deserialize(d)?;
        let mut r = [0u64; Reject::COUNT];
        for x in Reject::ALL {
            r[x as usize] = m.get(x.name()).copied().unwrap_or(0);
        }
        Ok(r)
    }
}

impl LinkCounters {
    /// All rejected packets.
    pub fn rejected(&self) -> u64 {
        self.rejects.iter().sum()
    }
}

/// Per (peer, link) statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairStats {
    /// Valid packets from this peer on this link.
    pub rx: u64,
    /// The peer's timestamp in its last packet (echoed back for RTT).
    pub peer_ts: u64,
    /// Our time when that packet arrived.
    pub peer_ts_at: Nanos,
    /// Round-trip times from echoes, ns.
    pub rtt_last: u64,
    /// Smallest RTT.
    pub rtt_min: u64,
    /// Largest RTT.
    pub rtt_max: u64,
    /// Sum of RTTs (for the mean).
    pub rtt_sum: u64,
    /// Number of RTT samples.
    pub rtt_count: u64,
    /// Median RTT from the histogram, ns (refreshed at most every [`RTT_QUANTILE_EVERY`]).
    pub rtt_p50: u64,
    /// 99th percentile RTT, ns (refreshed likewise).
    pub rtt_p99: u64,
    /// When the quantiles were last computed.
    pub rtt_quantiles_at: Nanos,
    /// Times the link went up.
    pub ups: u64,
    /// Times the link went dead.
    pub downs: u64,
    /// First packet of the peer's current generation on this link (loss is counted from it).
    pub since: Nanos,
    /// `rx` before that packet.
    pub since_rx: u64,
}

/// How often a pair's RTT median and p99 are recomputed from its histogram (a walk over its
/// buckets: cheap, but not for every packet).
pub const RTT_QUANTILE_EVERY: Nanos = Nanos::from_millis(500);
