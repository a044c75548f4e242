//! The IPC thread's side of fencing: the `fence`, `fence-confirm` and `stonith-status`
//! requests, and the jobs liveness events cause (a dead peer is fenced; a peer heard again
//! cancels a fencing still in its race delay). The fencing itself runs on its own thread
//! ([`crate::fence::thread`]).

use super::proto::{ErrorCode, Event as Ev, FenceOp, FenceReason, Reply};
use crate::apphb::Caller;
use crate::fence::thread::{FenceLink, Job};
use crate::time::Nanos;
use std::sync::mpsc::TrySendError;

/// Numbers fence requests (the same counter for requests and dead peers).
#[derive(Debug, Default)]
pub struct Ids(u64);

impl Ids {
    fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

/// `fence NODE`.
pub fn fence(link: Option<&FenceLink>, me: &str, caller: &Caller, node: String, action: FenceOp, ids: &mut Ids, now: Nanos) -> Reply {
    if !caller.privileged {
        return Reply::error(ErrorCode::NotPrivileged, "only root and hbd's user may fence a node");
    }
    let Some(link) = link else {
        return Reply::error(ErrorCode::NoFencing, "no STONITH device is configured for this node (stonith, stonith_host, stonith_device)");
    };
    if node == me {
        return Reply::error(ErrorCode::NoSuchNode, format!("{node} is this node: hbd does not fence itself"));
    }
    if !link.targets.iter().any(|t| t.node == node) {
        return Reply::error(ErrorCode::NoSuchNode, format!("{node:?} is not a node of this cluster"));
    }
    if !link.can_fence(&node) {
        return Reply::error(ErrorCode::NoFencing, format!("no STONITH device of this node can fence {node}"));
    }
    let id = ids.next();
    match link.jobs.try_send(Job::Fence { id, node: node.clone(), op: action, reason: FenceReason::Request, at: now }) {
        Ok(()) => Reply::FenceAccepted { id, node, action },
        Err(TrySendError::Full(_)) => Reply::error(ErrorCode::Busy, "the fencing queue is full; try again"),
        Err(TrySendError::Disconnected(_)) => Reply::error(ErrorCode::Other, "the fencing thread has stopped"),
    }
}

/// `fence-confirm NODE`: an operator's word that completes a meatware action.
pub fn confirm(caller: &Caller, node: String) -> Reply {
    if !caller.privileged {
        return Reply::error(ErrorCode::NotPrivileged, "only root and hbd's user may confirm a fencing");
    }
    if hb_stonith_hw::meatware::confirm(&node) {
        Reply::FenceConfirmed { node }
    } else {
        Reply::error(ErrorCode::NothingWaiting, format!("no fencing of {node} is waiting for an operator"))
    }
}

/// `stonith-status`.
pub fn status(link: Option<&FenceLink>) -> Reply {
    let waiting_for_operator = hb_stonith_hw::meatware::waiting();
    match link {
        None => {
            Reply::StonithStatus { devices: vec![], targets: vec![], action: FenceOp::Reboot, delay_ns: Nanos::ZERO, waiting_for_operator }
        }
        Some(l) => Reply::StonithStatus {
            devices: l.devices.clone(),
            targets: l.targets.clone(),
            action: l.action,
            delay_ns: l.delay,
            waiting_for_operator,
        },
    }
}

/// The job a liveness event causes, if any: a dead peer that can be fenced is, with this
/// node's race delay; a peer heard again cancels one still waiting. Returns an error line for
/// the log when the queue refused the job.
pub fn on_event(link: Option<&FenceLink>, e: &Ev, ids: &mut Ids) -> Option<String> {
    let link = link?;
    let job = match e {
        Ev::NodeDead { node, at_ns, .. } if link.can_fence(node) => {
            Job::Fence { id: ids.next(), node: node.clone(), op: link.action, reason: FenceReason::NodeDead, at: *at_ns }
        }
        Ev::NodeUp { node, .. } => Job::NodeUp(node.clone()),
        _ => return None,
    };
    match link.jobs.try_send(job) {
        Ok(()) => None,
        Err(TrySendError::Full(Job::Fence { node, .. })) => Some(format!("STONITH: the fencing queue is full; {node} is NOT fenced")),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_and_hbds_user_fence_and_only_where_a_device_is() {
        let user = Caller { uid: 1000, conn: 1, privileged: false };
        let root = Caller { uid: 0, conn: 2, privileged: true };
        let mut ids = Ids::default();
        let code = |r: Reply| match r {
            Reply::Error { code, .. } => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(code(fence(None, "a", &user, "b".into(), FenceOp::Off, &mut ids, Nanos::ZERO)), ErrorCode::NotPrivileged);
        assert_eq!(code(confirm(&user, "b".into())), ErrorCode::NotPrivileged);
        assert_eq!(code(fence(None, "a", &root, "b".into(), FenceOp::Off, &mut ids, Nanos::ZERO)), ErrorCode::NoFencing);
        assert_eq!(code(confirm(&root, "b".into())), ErrorCode::NothingWaiting);
        assert!(matches!(status(None), Reply::StonithStatus { devices, .. } if devices.is_empty()));
    }
}
