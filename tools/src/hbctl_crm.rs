//! `hbctl crm`, `hbctl standby`, `hbctl takeover`, `hbctl simulate`: the resource manager's view, as `crm_mon` gives it — each group, where it
//! runs or what it waits for, each resource's state here and its last operation — through the
//! CRM's own socket (`crmd.sock`); and the resource lines of `hbctl status`.

use hb_crm::api::{ask, Reply, Request, WhatIf, Which};
use std::fmt::Write as _;
use std::path::Path;

/// The CRM's `crm-status`, or why it cannot be had.
pub fn crm_status(run_dir: &Path) -> Result<Reply, String> {
    match ask(run_dir, &Request::CrmStatus)? {
        Reply::Error { message } => Err(format!("the CRM refused: {message}")),
        r => Ok(r),
    }
}

/// `hbctl standby|takeover [all|foreign|local]`: the groups moved, as a line.
pub fn standby_or_takeover(run_dir: &Path, op: &str, which: Option<&str>) -> Result<String, String> {
    let which = match which.unwrap_or("all") {
        "all" => Which::All,
        "local" => Which::Local,
        "foreign" => Which::Foreign,
        other => return Err(format!("{other:?}: all, foreign or local")),
    };
    let req = if op == "standby" { Request::Standby { which } } else { Request::Takeover { which } };
    match ask(run_dir, &req)? {
        Reply::Standby { groups } if groups.is_empty() => Ok("standby: no group named\n".into()),
        Reply::Standby { groups } => {
            Ok(format!("standby: this node gives up {} and will not run them until hbctl takeover\n", groups.join(", ")))
        }
        Reply::Takeover { groups } if groups.is_empty() => Ok("takeover: no group named\n".into()),
        Reply::Takeover { groups } => {
            Ok(format!("takeover: this node asks for {}; the peer holding them gives them up\n", groups.join(", ")))
        }
        Reply::Error { message } => Err(format!("the CRM refused: {message}")),
        other => Err(format!("unexpected reply from the CRM: {other:?}")),
    }
}

/// `hbctl simulate`: the CRM's answer to a what-if.
pub fn simulate(run_dir: &Path, what_if: &WhatIf) -> Result<Reply, String> {
    match ask(run_dir, &Request::Simulate { what_if: what_if.clone() })? {
        Reply::Error { message } => Err(format!("the CRM refused: {message}")),
        r => Ok(r),
    }
}

/// A simulation as text: each node's operations, then where each group would be.
pub fn simulate_text(r: &Reply) -> String {
    let Reply::Simulate { nodes, placements } = r else { return String::new() };
    let mut t = String::from("Operations (nothing is done):\n");
    for n in nodes {
        if n.steps.is_empty() {
            let _ = writeln!(t, "  {}: nothing", n.node);
        }
        for s in &n.steps {
            let _ = writeln!(t, "  {}: {s}", n.node);
        }
    }
    t.push_str("Placement:\n");
    for (g, owner) in placements {
        let _ = writeln!(t, "  {g}: {}", owner.as_deref().unwrap_or("nowhere yet"));
    }
    t
}

/// The view as text (empty for anything but a `crm-status` reply).
pub fn text(r: &Reply) -> String {
    let Reply::CrmStatus { node, standby, no_fencing, groups, peers } = r else { return String::new() };
    let mut t = format!("Resources (CRM on {node}{}, no_fencing {no_fencing}):\n", if *standby { ", in standby" } else { "" });
    for p in peers {
        let holds = match &p.holds {
            Some(h) if h.is_empty() => "holds nothing".to_string(),
            Some(h) => format!("holds {}", h.join(", ")),
            None => "has not said what it holds".to_string(),
        };
        let _ = writeln!(t, "  peer {}: {}, {holds}", p.node, p.state);
    }
    for g in groups {
        let place = match (&g.owner, &g.waiting) {
            (_, Some(w)) => format!("waits: {w}"),
            (Some(o), None) if *o == *node => "runs here".to_string(),
            (Some(o), None) => format!("runs on {o}"),
            (None, None) => "placed nowhere yet".to_string(),
        };
        let fails = if g.fail_count > 0 { format!(", {} failure(s) here", g.fail_count) } else { String::new() };
        let _ = writeln!(t, "  group {} (prefers {}): {place}{fails}", g.group, g.preferred);
        for r in &g.resources {
            let last = match (&r.last_op, &r.last_rc, r.last_ms) {
                (Some(op), Some(rc), Some(ms)) => format!("  last {op}: {rc} in {ms:.1} ms"),
                _ => String::new(),
            };
            let _ = writeln!(t, "    {:<32} {:<8}{last}", r.id, r.state);
        }
    }
    t
}
