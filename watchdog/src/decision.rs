//! Whether to pet the watchdog: a pure function of a [`Health`] snapshot and a [`Policy`].
//!
//! Petting says "this node is healthy enough to keep running its services". When the answer
//! is no, hbd stops petting and the hardware resets the node — a self-fence that needs no
//! peer and no shared disk. The defaults favour never running a service twice: a node that may
//! not run resources (a partitioned minority that failed to fence its peer) stops petting.

/// What hbd knows at the moment of a pet, times in CLOCK_MONOTONIC nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// Now.
    pub now: u64,
    /// How late the RT loop woke for this pet.
    pub loop_lateness: u64,
    /// When the CRM's last heartbeat arrived over IPC (`None`: never).
    pub crm_last_seen: Option<u64>,
    /// Whether this node may run resources (not a partitioned minority that failed to fence).
    pub may_run_resources: bool,
    /// Whether a registered application heartbeat has failed.
    pub apphb_failed: bool,
}

/// What makes hbd withhold the pet. Configurable; see [`Policy::default`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Withhold when the RT loop woke later than this (ns): the heartbeat core itself is sick.
    pub max_loop_lateness: u64,
    /// Require the CRM to be alive.
    pub require_crm: bool,
    /// How long the CRM may be silent (ns).
    pub crm_timeout: u64,
    /// Withhold when this node may not run resources.
    pub require_may_run: bool,
    /// Withhold when an application heartbeat has failed.
    pub apphb_is_fatal: bool,
}

impl Default for Policy {
    /// Loop lateness up to 1 s; the CRM is not required (it does not exist yet — when it does,
    /// requiring it becomes the default); a node that may not run resources self-fences;
    /// application heartbeat failures are events, not resets, unless configured.
    fn default() -> Policy {
        Policy {
            max_loop_lateness: 1_000_000_000,
            require_crm: false,
            crm_timeout: 5_000_000_000,
            require_may_run: true,
            apphb_is_fatal: false,
        }
    }
}

/// Why a pet was withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The RT loop woke too late.
    LoopLate,
    /// The CRM has never been heard.
    CrmNeverSeen,
    /// The CRM has been silent too long.
    CrmSilent,
    /// This node may not run resources.
    MayNotRun,
    /// An application heartbeat failed.
    AppHeartbeatFailed,
}

impl Reason {
    /// For logs and status.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::LoopLate => "the heartbeat loop is running late",
            Reason::CrmNeverSeen => "the CRM has not checked in",
            Reason::CrmSilent => "the CRM stopped checking in",
            Reason::MayNotRun => "this node may not run resources (it lost the cluster and fences itself)",
            Reason::AppHeartbeatFailed => "an application heartbeat failed",
        }
    }
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Pet now.
    Pet,
    /// Do not pet; the watchdog will reset the node.
    Withhold(Reason),
}

/// Decides. The first failing condition, in the order of the fields of [`Policy`], is the
/// reason given.
pub fn decide(p: &Policy, h: &Health) -> Verdict {
    if h.loop_lateness > p.max_loop_lateness {
        return Verdict::Withhold(Reason::LoopLate);
    }
    if p.require_crm {
        match h.crm_last_seen {
            None => return Verdict::Withhold(Reason::CrmNeverSeen),
            Some(t) if h.now.saturating_sub(t) > p.crm_timeout => return Verdict::Withhold(Reason::CrmSilent),
            Some(_) => {}
        }
    }
    if p.require_may_run && !h.may_run_resources {
        return Verdict::Withhold(Reason::MayNotRun);
    }
    if p.apphb_is_fatal && h.apphb_failed {
        return Verdict::Withhold(Reason::AppHeartbeatFailed);
    }
    Verdict::Pet
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    /// Every combination of inputs and policy switches, against an independent statement of
    /// the rule: pet iff no enabled condition fails.
    #[test]
    fn decide_over_all_inputs() {
        let lateness = [0, S, S + 1];
        let crm = [None, Some(100 * S), Some(96 * S), Some(94 * S)];
        let mut checked = 0;
        for &loop_lateness in &lateness {
            for &crm_last_seen in &crm {
                for may_run_resources in [true, false] {
                    for apphb_failed in [true, false] {
                        for require_crm in [true, false] {
                            for require_may_run in [true, false] {
                                for apphb_is_fatal in [true, false] {
                                    let p =
                                        Policy { max_loop_lateness: S, require_crm, crm_timeout: 5 * S, require_may_run, apphb_is_fatal };
                                    let h = Health { now: 100 * S, loop_lateness, crm_last_seen, may_run_resources, apphb_failed };
                                    let crm_ok = !require_crm || crm_last_seen.is_some_and(|t| 100 * S - t <= 5 * S);
                                    let ok = loop_lateness <= S
                                        && crm_ok
                                        && (!require_may_run || may_run_resources)
                                        && (!apphb_is_fatal || !apphb_failed);
                                    let v = decide(&p, &h);
                                    assert_eq!(v == Verdict::Pet, ok, "{p:?} {h:?} -> {v:?}");
                                    checked += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 3 * 4 * 2 * 2 * 2 * 2 * 2);
    }

    #[test]
    fn reasons_are_specific() {
        let h = Health { now: 100 * S, loop_lateness: 0, crm_last_seen: None, may_run_resources: true, apphb_failed: false };
        let strict = Policy { require_crm: true, apphb_is_fatal: true, ..Policy::default() };
        assert_eq!(decide(&strict, &h), Verdict::Withhold(Reason::CrmNeverSeen));
        assert_eq!(decide(&strict, &Health { crm_last_seen: Some(90 * S), ..h }), Verdict::Withhold(Reason::CrmSilent));
        assert_eq!(
            decide(&strict, &Health { crm_last_seen: Some(99 * S), may_run_resources: false, ..h }),
            Verdict::Withhold(Reason::MayNotRun)
        );
        assert_eq!(
            decide(&strict, &Health { crm_last_seen: Some(99 * S), apphb_failed: true, ..h }),
            Verdict::Withhold(Reason::AppHeartbeatFailed)
        );
        assert_eq!(decide(&Policy::default(), &Health { loop_lateness: 2 * S, ..h }), Verdict::Withhold(Reason::LoopLate));
        assert_eq!(decide(&Policy::default(), &h), Verdict::Pet);
    }
}
