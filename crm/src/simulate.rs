//! `hbctl simulate`: what the CRMs would do if a node died, a resource failed or a node went
//! into standby, computed with the same pure policy engine and nothing done. This node's plan
//! comes from its own view; each live peer's from a view rebuilt from what that peer has said
//! (its groups taken as running in full, its failure counts as none), as it would see this
//! node afterwards. Fencing of a dead node, where a device can fence it, is taken to succeed.

use crate::api::{NodePlan, WhatIf};
use crate::policy::{decide, Local, Peer, Plan, Policy, Step, View};
use std::collections::BTreeMap;

/// A plan as lines.
fn lines(p: &Plan) -> Vec<String> {
    p.steps
        .iter()
        .map(|s| match s {
            Step::Run { op, resource, .. } => format!("{} {resource}", op.name()),
            Step::Wait { group, why } => format!("{group} waits: {why}"),
        })
        .collect()
}

/// The group of resource `r`.
fn group_of<'a>(policy: &'a Policy, r: &str) -> Option<&'a str> {
    policy.groups.iter().find(|g| g.resources.iter().any(|x| x == r)).map(|g| g.key.as_str())
}

/// Each live node's plan after `what`, and where each group would be (by the first live
/// node's reckoning).
pub fn simulate(policy: &Policy, view: &View, what: &WhatIf) -> (Vec<NodePlan>, Vec<(String, Option<String>)>) {
    let me = view.me.clone();
    let mut mine = view.clone();
    let fenced_if_dead = |v: &View, n: &str| v.fencing.get(n).copied().unwrap_or(false);
    let me_dead = what.node_dead.as_deref() == Some(me.as_str());
    if let Some(n) = what.node_dead.as_deref().filter(|n| *n != me) {
        let fenced = fenced_if_dead(&mine, n);
        mine.peers.insert(n.to_string(), Peer::Dead { fenced });
    }
    if let Some(n) = &what.standby {
        if *n == me {
            mine.standby = true;
        } else if let Some(Peer::Up { standby, .. }) = mine.peers.get_mut(n) {
            *standby = true;
        }
    }
    let failing_group = what.resource_fails.as_deref().and_then(|r| group_of(policy, r).map(|g| (r.to_string(), g.to_string())));
    if let Some((r, g)) = &failing_group {
        if mine.here.get(r) == Some(&Local::Running) {
            mine.here.insert(r.clone(), Local::Failed);
            *mine.failures.entry(g.clone()).or_default() += 1;
        }
    }
    let mut plans = Vec::new();
    let mut placements = Vec::new();
    if !me_dead {
        let p = decide(policy, &mine);
        placements = p.placements.iter().map(|x| (x.group.clone(), x.owner.clone())).collect();
        plans.push(NodePlan { node: me.clone(), steps: lines(&p) });
    }
    // Each live peer, from what it said, seeing this node as it would be.
    let held_here: Vec<String> = policy
        .groups
        .iter()
        .filter(|g| g.resources.iter().any(|r| matches!(mine.here.get(r), Some(Local::Running | Local::Failed))))
        .map(|g| g.key.clone())
        .collect();
    let me_as_peer = if me_dead {
        Peer::Dead { fenced: mine.fencing.values().any(|f| *f) }
    } else {
        Peer::Up {
            holds: Some(held_here),
            standby: mine.standby,
            refuses: mine.refuse.iter().cloned().collect(),
            wants: mine.wants.iter().cloned().collect(),
            pings: mine.pings,
        }
    };
    for (name, peer) in &mine.peers {
        let Peer::Up { holds, standby, refuses, wants, pings } = peer else { continue };
        let holds = holds.clone().unwrap_or_default();
        let mut here = BTreeMap::new();
        let mut failures = BTreeMap::new();
        for g in &policy.groups {
            for r in &g.resources {
                here.insert(r.clone(), if holds.contains(&g.key) { Local::Running } else { Local::Stopped });
            }
        }
        if let Some((r, g)) = failing_group.as_ref().filter(|(_, g)| holds.contains(g)) {
            here.insert(r.clone(), Local::Failed);
            failures.insert(g.clone(), 1);
        }
        let theirs = View {
            me: name.clone(),
            nodes: mine.nodes.clone(),
            peers: BTreeMap::from([(me.clone(), me_as_peer.clone())]),
            standby: *standby,
            refuse: refuses.iter().cloned().collect(),
            wants: wants.iter().cloned().collect(),
            pings: *pings,
            here,
            failures,
            fencing: BTreeMap::from([(me.clone(), mine.fencing.values().any(|f| *f))]),
        };
        let p = decide(policy, &theirs);
        if placements.is_empty() {
            placements = p.placements.iter().map(|x| (x.group.clone(), x.owner.clone())).collect();
        }
        plans.push(NodePlan { node: name.clone(), steps: lines(&p) });
    }
    (plans, placements)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Failback, GroupSpec, NoFencing};

    fn setup() -> (Policy, View) {
        let policy = Policy {
            groups: vec![
                GroupSpec { key: "one".into(), preferred: "a".into(), resources: vec!["one".into()] },
                GroupSpec { key: "two".into(), preferred: "b".into(), resources: vec!["two".into()] },
            ],
            failback: Failback::On,
            no_fencing: NoFencing::Refuse,
            migration_threshold: 1,
        };
        let view = View {
            me: "a".into(),
            nodes: vec!["a".into(), "b".into()],
            peers: BTreeMap::from([(
                "b".into(),
                Peer::Up { holds: Some(vec!["two".into()]), standby: false, refuses: vec![], wants: vec![], pings: 0 },
            )]),
            standby: false,
            refuse: Default::default(),
            wants: Default::default(),
            pings: 0,
            here: BTreeMap::from([("one".into(), Local::Running), ("two".into(), Local::Stopped)]),
            failures: BTreeMap::new(),
            fencing: BTreeMap::from([("b".into(), true)]),
        };
        (policy, view)
    }

    fn plan_of(plans: &[NodePlan], n: &str) -> Vec<String> {
        plans.iter().find(|p| p.node == n).map(|p| p.steps.clone()).unwrap_or_default()
    }

    #[test]
    fn what_if_a_node_dies_fails_or_stands_by() {
        let (p, v) = setup();
        let (plans, place) = simulate(&p, &v, &WhatIf::default());
        assert!(plans.iter().all(|x| x.steps.is_empty()), "steady: {plans:?}");
        assert_eq!(place, [("one".to_string(), Some("a".to_string())), ("two".to_string(), Some("b".to_string()))]);
        // b dies: a (fencing it) takes two.
        let (plans, place) = simulate(&p, &v, &WhatIf { node_dead: Some("b".into()), ..WhatIf::default() });
        assert_eq!(plan_of(&plans, "a"), ["start two"]);
        assert_eq!(plans.len(), 1, "b is dead");
        assert_eq!(place[1], ("two".to_string(), Some("a".to_string())));
        // a dies: b takes one (a is fenced).
        let (plans, _) = simulate(&p, &v, &WhatIf { node_dead: Some("a".into()), ..WhatIf::default() });
        assert_eq!(plans.len(), 1);
        assert_eq!(plan_of(&plans, "b"), ["start one"]);
        // one fails on a (threshold 1): a stops it, b would wait for a to give it up.
        let (plans, _) = simulate(&p, &v, &WhatIf { resource_fails: Some("one".into()), ..WhatIf::default() });
        assert_eq!(plan_of(&plans, "a"), ["stop one"]);
        // a goes into standby: it stops one, and b waits for it.
        let (plans, _) = simulate(&p, &v, &WhatIf { standby: Some("a".into()), ..WhatIf::default() });
        assert_eq!(plan_of(&plans, "a"), ["stop one"]);
        assert_eq!(plan_of(&plans, "b"), ["one waits: a holds it and gives it up first"]);
    }
}
