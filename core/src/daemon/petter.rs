//! The watchdog pet state machine of the RT loop: every `watchdog_interval` it asks the pure
//! decision ([`hb_watchdog::decision::decide`]) whether this node is healthy, and pets the
//! device only if so. Withholding is logged once when it starts and once when it ends.

use crate::ipc::AppShared;
use crate::logging::{LogMsg, RtLog};
use crate::status::{LoopStats, WatchdogState};
use crate::time::Nanos;
use hb_watchdog::decision::{decide, Health, Policy, Verdict};
use hb_watchdog::Watchdog;
use std::sync::atomic::Ordering;

/// Petting, or withholding pets so that the device resets the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PetState {
    Petting,
    Withholding,
}

/// The watchdog as the loop drives it.
pub(super) struct Petter {
    wd: Watchdog,
    interval: Nanos,
    policy: Policy,
    next: Nanos,
    state: PetState,
    /// `stonith_watchdog` on a node that does not survive a split: losing the cluster stops
    /// the pets for good.
    self_fence: bool,
    /// It has lost the cluster: latched, so that a peer that counts it off after twice its
    /// timeout is right even if the partition heals in between.
    self_fenced: bool,
}

impl Petter {
    /// Pets `wd` every `interval` while `policy` says the node is healthy; the first decision
    /// is due at `now`.
    pub(super) fn new(wd: Watchdog, interval: Nanos, policy: Policy, now: Nanos) -> Petter {
        Petter { wd, interval, policy, next: now, state: PetState::Petting, self_fence: false, self_fenced: false }
    }

    /// Makes losing the cluster a reason to stop petting, for good.
    pub(super) fn self_fence(&mut self, on: bool) {
        self.self_fence = on;
    }

    /// When the next decision is due.
    pub(super) fn poll_at(&self) -> Nanos {
        self.next
    }

    /// Decides and pets if due. `lost_cluster`: every peer heard in this life is dead.
    /// Allocation-free (one ioctl or write when petting).
    pub(super) fn poll(&mut self, now: Nanos, apps: &AppShared, lost_cluster: bool, stats: &mut LoopStats, rtlog: &mut RtLog) {
        if now < self.next {
            return;
        }
        self.self_fenced |= self.self_fence && lost_cluster;
        let crm = apps.crm_last_seen.load(Ordering::Relaxed);
        let health = Health {
            now: now.0,
            loop_lateness: now.sub(self.next).0,
            crm_last_seen: (crm != 0).then_some(crm),
            may_run_resources: !self.self_fenced,
            apphb_failed: apps.failed.load(Ordering::Relaxed),
        };
        match decide(&self.policy, &health) {
            Verdict::Pet => {
                match self.wd.pet_raw() {
                    Ok(()) => {
                        stats.wd_pets += 1;
                        stats.wd_last_pet = now.0;
                    }
                    Err(e) => rtlog.push(now, LogMsg::WatchdogPetFailed { errno: e.raw_os_error().unwrap_or(0) }),
                }
                if self.state == PetState::Withholding {
                    self.state = PetState::Petting;
                    rtlog.push(now, LogMsg::WatchdogResumed);
                }
            }
            Verdict::Withhold(reason) => {
                if self.state == PetState::Petting {
                    self.state = PetState::Withholding;
                    rtlog.push(now, LogMsg::WatchdogWithheld { reason });
                    rtlog.flush_soon();
                }
            }
        }
        stats.wd_state = match self.state {
            PetState::Petting => WatchdogState::Petting,
            PetState::Withholding => WatchdogState::Withholding,
        };
        self.next = self.next.add(self.interval);
        if self.next <= now {
            self.next = now.add(self.interval);
        }
    }

    /// The device's timeout in force, seconds.
    pub(super) fn timeout_s(&self) -> Option<u32> {
        self.wd.timeout()
    }

    /// The device, to disarm it on a clean stop.
    pub(super) fn into_watchdog(self) -> Watchdog {
        self.wd
    }
}
