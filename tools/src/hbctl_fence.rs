//! `hbctl fence`, `hbctl fence-confirm` and `hbctl stonith`: fencing through hbd's local API,
//! and the STONITH lines of `hbctl status`.

use hb_core::ipc::proto::{Event, EventMsg, FenceOp, Reply, Request};
use hb_core::ipc::{Client, ClientError};
use std::path::Path;
use std::time::{Duration, Instant};

/// How a fencing ended, as hbctl reports it.
pub enum Ended {
    /// Confirmed.
    Done,
    /// hbd reported a failure (or a cancellation).
    Failed,
    /// hbctl stopped waiting (the fencing goes on in hbd).
    GaveUp,
}

/// Fences `node` through hbd and follows its events until the result (or `timeout`), writing
/// one line per event (`json`: the events as hbd sent them).
pub fn fence(
    run_dir: &Path,
    node: &str,
    action: FenceOp,
    timeout: Option<Duration>,
    json: bool,
    out: &mut dyn std::io::Write,
) -> Result<Ended, ClientError> {
    let mut c = Client::connect_as(run_dir, "hbctl")?;
    c.subscribe()?;
    let id = match c.call(&Request::Fence { node: node.into(), action })? {
        Reply::FenceAccepted { id, .. } => id,
        other => return Err(ClientError::Unexpected(Box::new(other))),
    };
    let end = timeout.map(|t| Instant::now() + t);
    loop {
        let wait = match end {
            Some(e) => e.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(1),
        };
        if wait.is_zero() {
            let _ = writeln!(out, "hbctl: stopped waiting; hbd goes on fencing {node} (request {id}; hbctl events shows the result)");
            return Ok(Ended::GaveUp);
        }
        let Some(m) = c.next_event(wait)? else { continue };
        if !concerns(&m, id) {
            continue;
        }
        let _ = writeln!(out, "{}", if json { serde_json::to_string(&m).unwrap_or_default() } else { fence_text(&m.event) });
        if let Event::FenceResult { ok, .. } = m.event {
            return Ok(if ok { Ended::Done } else { Ended::Failed });
        }
    }
}

/// Whether `m` is an event of fence request `id`.
fn concerns(m: &EventMsg, id: u64) -> bool {
    matches!(&m.event,
        Event::FenceStarted { id: i, .. } | Event::FenceOperator { id: i, .. } | Event::FenceResult { id: i, .. } if *i == id)
}

/// A fence event for people (hbctl events uses it too). `None` for other events.
pub fn fence_line(e: &Event) -> Option<String> {
    Some(match e {
        Event::FenceStarted { id, node, action, reason, delay_ns, .. } => {
            let why = match reason {
                hb_core::ipc::proto::FenceReason::NodeDead => "it was declared dead",
                _ => "requested",
            };
            let delay = if delay_ns.0 > 0 { format!(" after a race delay of {delay_ns}") } else { String::new() };
            format!("fence-started #{id} {} {node} ({why}){delay}", action.name())
        }
        Event::FenceOperator { id, node, device, .. } => {
            format!("fence-operator #{id} {device} waits for an operator: power {node} off, then `hbctl fence-confirm {node}`")
        }
        Event::FenceResult { id, node, action, ok, code, message, duration_ns, .. } => format!(
            "fence-result #{id} {} {node}: {} ({code}) in {:.1} ms: {message}",
            action.name(),
            if *ok { "done" } else { "FAILED" },
            duration_ns.as_millis_f64()
        ),
        _ => return None,
    })
}

fn fence_text(e: &Event) -> String {
    fence_line(e).unwrap_or_default()
}

/// `fence-confirm NODE`.
pub fn confirm(run_dir: &Path, node: &str) -> Result<String, ClientError> {
    let mut c = Client::connect_as(run_dir, "hbctl")?;
    c.call(&Request::FenceConfirm { node: node.into() })?;
    Ok(format!("confirmed: {node} is off; hbd completes its fencing"))
}

/// `stonith-status` as text: one line per device, then each peer's levels. Empty when this
/// node runs no device.
pub fn status_text(r: &Reply) -> String {
    let Reply::StonithStatus { devices, targets, action, delay_ns, waiting_for_operator } = r else { return String::new() };
    if devices.is_empty() && targets.iter().all(|t| t.levels.is_empty()) {
        return "  STONITH: no device configured for this node: a dead peer is not fenced\n".into();
    }
    let mut o = format!("  STONITH: a dead peer is fenced ({}) after this node's race delay of {delay_ns}\n", action.name());
    for d in devices {
        let mut notes = Vec::new();
        if d.forks {
            notes.push("forks a program to act");
        }
        notes.push(if d.confirms { "reads power back" } else { "cannot read power back" });
        if d.operator {
            notes.push("an operator acts");
        }
        o.push_str(&format!("    device {} ({}; {}): {}\n", d.name, d.kind, notes.join(", "), d.hosts.join(", ")));
    }
    for t in targets {
        let levels: Vec<String> = t.levels.iter().enumerate().map(|(i, l)| format!("{}: {}", i + 1, l.join(" + "))).collect();
        let text = if levels.is_empty() { "NO DEVICE can fence it".to_string() } else { levels.join("; ") };
        o.push_str(&format!("    fences {}: {text}\n", t.node));
    }
    for n in waiting_for_operator {
        o.push_str(&format!("    WAITING FOR AN OPERATOR: power {n} off, then `hbctl fence-confirm {n}`\n"));
    }
    o
}

/// Asks hbd for `stonith-status` (a short wait: `hbctl status` must not hang on it).
pub fn stonith_status(run_dir: &Path) -> Result<Reply, ClientError> {
    let mut c = Client::connect_as(run_dir, "hbctl")?;
    c.call(&Request::StonithStatus)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hb_core::ipc::proto::TargetStatus;
    use hb_core::time::Nanos;

    #[test]
    fn a_watchdog_only_topology_is_not_reported_as_no_fencing() {
        let r = |levels: Vec<Vec<String>>| Reply::StonithStatus {
            devices: vec![],
            targets: vec![TargetStatus { node: "b".into(), levels }],
            action: FenceOp::Reboot,
            delay_ns: Nanos::ZERO,
            waiting_for_operator: vec![],
        };
        assert!(status_text(&r(vec![])).contains("no device configured"));
        let t = status_text(&r(vec![vec!["watchdog".into()]]));
        assert!(t.contains("fences b: 1: watchdog"), "{t}");
    }
}
