//! The policy engine: a pure function from (configuration, what this node knows of the
//! cluster) to what this node must do. Each node's CRM decides for itself only; the rules
//! below make both nodes reach the same placement from the same facts, and they never start a
//! resource that may be running elsewhere.
//!
//! For each group, in order:
//! 1. Resources of unknown state are probed first (a monitor); nothing else is decided for a
//!    group until its state here is known.
//! 2. The owner is chosen among the nodes that may run it — up, not in standby, and under the
//!    group's migration threshold: with `auto_failback on` (and `legacy`) its preferred node
//!    when that node may run it; with `off`, whoever holds it now; otherwise the first
//!    eligible node in the cluster's node order, the preferred node first.
//! 3. A dead peer counts as holding nothing only once that is known: fenced (confirmed off),
//!    left cleanly, or — with no fencing and `no_fencing r1` — declared dead, as heartbeat R1
//!    did. Until then its groups wait (`Wait`), and with `no_fencing refuse` they wait for an
//!    operator.
//! 4. A live peer's holdings are what it last said; a group it may hold is not started here
//!    until it says it does not.
//! 5. A group to start here starts its stopped resources left to right; a group to give up
//!    stops every resource not known stopped, right to left.

use crate::agent::Op;
use std::collections::BTreeMap;

/// `auto_failback` (heartbeat's directive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failback {
    /// Groups go back to their preferred node when it returns.
    On,
    /// Groups stay where they run.
    Off,
    /// heartbeat's `legacy`: as `on` (the old `nice_failback off`).
    Legacy,
}

/// What to do when a peer is dead but cannot be fenced (`no_fencing`, hb's directive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoFencing {
    /// heartbeat R1: a dead peer holds nothing; take over.
    R1,
    /// Never take over from a peer that was not fenced: wait for an operator.
    Refuse,
}

/// A peer as this node knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// Alive. `holds`: the groups it last said it holds (`None`: it has not said yet);
    /// `standby`: it gives all its groups away; `refuses`: groups it will not run
    /// (`hbctl standby`); `wants`: groups it asks for (`hbctl takeover`).
    Up {
        /// Its groups, by key.
        holds: Option<Vec<String>>,
        /// In standby.
        standby: bool,
        /// Groups it will not run.
        refuses: Vec<String>,
        /// Groups it asks for.
        wants: Vec<String>,
        /// How many of its ping nodes answer (ipfail).
        pings: u8,
    },
    /// Declared dead; `fenced` once the fencing is confirmed.
    Dead {
        /// Confirmed off.
        fenced: bool,
    },
    /// Stopped cleanly (its last heartbeat said so): it holds nothing.
    Left,
}

impl Peer {
    /// Alive, and its CRM has not said anything yet.
    pub fn unknown() -> Peer {
        Peer::Up { holds: None, standby: false, refuses: Vec::new(), wants: Vec::new(), pings: 0 }
    }
}

/// A resource's state on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// Not probed yet.
    Unknown,
    /// Running (a successful start or monitor).
    Running,
    /// Stopped (a successful stop, or a monitor that said so).
    Stopped,
    /// An operation failed; it may or may not be running.
    Failed,
}

/// A resource group, as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    /// Its key (its first resource's id).
    pub key: String,
    /// Its preferred node.
    pub preferred: String,
    /// Its resources' ids, in start order.
    pub resources: Vec<String>,
}

/// Everything the policy decides from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// This node.
    pub me: String,
    /// The cluster's nodes in `ha.cf` order (this one included).
    pub nodes: Vec<String>,
    /// Every other node.
    pub peers: BTreeMap<String, Peer>,
    /// This node is in standby.
    pub standby: bool,
    /// Groups this node will not run (`hbctl standby`), by key.
    pub refuse: std::collections::BTreeSet<String>,
    /// Groups this node asks for (`hbctl takeover`), by key.
    pub wants: std::collections::BTreeSet<String>,
    /// How many of this node's ping nodes answer (ipfail): a node that reaches fewer than
    /// another that may run a group is not given it.
    pub pings: u8,
    /// Each resource's state here, by id (missing: unknown).
    pub here: BTreeMap<String, Local>,
    /// Each group's failures here, by key.
    pub failures: BTreeMap<String, u32>,
    /// Whether a STONITH device can fence each peer, by name.
    pub fencing: BTreeMap<String, bool>,
}

/// The configuration the policy needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The groups, in configuration order.
    pub groups: Vec<GroupSpec>,
    /// `auto_failback`.
    pub failback: Failback,
    /// Without fencing.
    pub no_fencing: NoFencing,
    /// Failures after which a group leaves a node (0: never).
    pub migration_threshold: u32,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Run `op` on resource `resource` of group `group`.
    Run {
        /// The operation.
        op: Op,
        /// The resource's id.
        resource: String,
        /// Its group's key.
        group: String,
    },
    /// Group `group` waits: `why`.
    Wait {
        /// The group's key.
        group: String,
        /// What it waits for.
        why: String,
    },
}

/// Where a group should be, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The group's key.
    pub group: String,
    /// The node that should run it (`None`: nowhere may).
    pub owner: Option<String>,
}

/// What this node must do, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// The steps, in the order to run them (each group's in its own order).
    pub steps: Vec<Step>,
    /// Each group's placement.
    pub placements: Vec<Placement>,
}

impl View {
    fn state(&self, id: &str) -> Local {
        self.here.get(id).copied().unwrap_or(Local::Unknown)
    }

    /// Whether `node` may run `g`: its own rules (standby, refusals, failures), and ipfail's —
    /// no node that may run it reaches more ping nodes.
    fn eligible(&self, node: &str, g: &GroupSpec, policy: &Policy) -> bool {
        let Some(mine) = self.pings_of(node) else { return false };
        if !self.may_run(node, g, policy) {
            return false;
        }
        let best = self.nodes.iter().filter(|n| self.may_run(n, g, policy)).filter_map(|n| self.pings_of(n)).max().unwrap_or(0);
        mine >= best
    }

    /// How many ping nodes `node` reaches (`None`: its CRM has not said).
    fn pings_of(&self, node: &str) -> Option<u8> {
        if node == self.me {
            return Some(self.pings);
        }
        match self.peers.get(node) {
            Some(Peer::Up { holds: Some(_), pings, .. }) => Some(*pings),
            Some(Peer::Up { holds: None, .. }) => Some(0),
            _ => None,
        }
    }

    /// Whether `node` may run `g` by its own rules, ping nodes aside.
    fn may_run(&self, node: &str, g: &GroupSpec, policy: &Policy) -> bool {
        if node == self.me {
            let failed = self.failures.get(&g.key).copied().unwrap_or(0);
            return !self.standby
                && !self.refuse.contains(&g.key)
                && (policy.migration_threshold == 0 || failed < policy.migration_threshold);
        }
        matches!(self.peers.get(node), Some(Peer::Up { standby: false, refuses, .. }) if !refuses.contains(&g.key))
    }

    /// Whether `node` asks for `g` (`hbctl takeover` there).
    fn wants(&self, node: &str, g: &GroupSpec) -> bool {
        if node == self.me {
            return self.wants.contains(&g.key);
        }
        matches!(self.peers.get(node), Some(Peer::Up { wants, .. }) if wants.contains(&g.key))
    }

    /// Whether the group runs here (any resource running or failed).
    fn holds_here(&self, g: &GroupSpec) -> bool {
        g.resources.iter().any(|r| matches!(self.state(r), Local::Running | Local::Failed))
    }
}

/// Whether `peer` may hold `g`; `Err` says what to wait for before it is known not to.
fn peer_may_hold(view: &View, policy: &Policy, name: &str, peer: &Peer, g: &GroupSpec) -> Result<bool, String> {
    match peer {
        Peer::Left | Peer::Dead { fenced: true } => Ok(false),
        Peer::Dead { fenced: false } if view.fencing.get(name).copied().unwrap_or(false) => {
            Err(format!("{name} is dead and being fenced; nothing starts until it is confirmed off"))
        }
        Peer::Dead { fenced: false } => match policy.no_fencing {
            NoFencing::R1 => Ok(false),
            NoFencing::Refuse => Err(format!(
                "{name} is dead, cannot be fenced, and no_fencing is refuse: confirm it is off (hbctl fence-confirm) to take over"
            )),
        },
        Peer::Up { holds: Some(h), .. } => Ok(h.contains(&g.key)),
        Peer::Up { holds: None, .. } => Err(format!("waiting for {name} to say which groups it holds")),
    }
}

/// The plan for this node.
pub fn decide(policy: &Policy, view: &View) -> Plan {
    let mut plan = Plan::default();
    for g in &policy.groups {
        let step = |op, r: &String| Step::Run { op, resource: r.clone(), group: g.key.clone() };
        let unknown: Vec<&String> = g.resources.iter().filter(|r| view.state(r) == Local::Unknown).collect();
        if !unknown.is_empty() {
            plan.steps.extend(unknown.into_iter().map(|r| step(Op::Monitor, r)));
            plan.placements.push(Placement { group: g.key.clone(), owner: None });
            continue;
        }
        let here = view.holds_here(g);
        // Who holds it now, as far as this node knows.
        let mut held_by: Option<String> = here.then(|| view.me.clone());
        let mut unsure: Option<String> = None;
        // Held here and by a peer (after a split, say): stickiness cannot choose between
        // them, so the placement rule alone does, and every other holder stops it.
        let mut contested = false;
        for (name, peer) in &view.peers {
            match peer_may_hold(view, policy, name, peer, g) {
                Ok(true) => {
                    contested |= held_by.is_some();
                    held_by = held_by.or(Some(name.clone()));
                }
                Ok(false) => {}
                Err(why) => unsure = unsure.or(Some(why)),
            }
        }
        let mut order: Vec<&String> = vec![&g.preferred];
        order.extend(view.nodes.iter().filter(|n| **n != g.preferred));
        let first_eligible = order.iter().copied().find(|n| view.eligible(n, g, policy)).cloned();
        // A node that asks for the group (takeover) and may run it gets it; the preferred
        // node first if several ask.
        let asked = order.iter().copied().find(|n| view.wants(n, g) && view.eligible(n, g, policy)).cloned();
        let owner = match (policy.failback, &held_by) {
            _ if asked.is_some() => asked,
            (Failback::Off, Some(h)) if !contested && view.eligible(h, g, policy) => Some(h.clone()),
            _ if view.eligible(&g.preferred, g, policy) => Some(g.preferred.clone()),
            _ => first_eligible,
        };
        plan.placements.push(Placement { group: g.key.clone(), owner: owner.clone() });
        if owner.as_deref() == Some(view.me.as_str()) {
            let to_start = g.resources.iter().any(|r| view.state(r) != Local::Running);
            if !to_start {
                // Running here, and staying.
            } else if let Some(why) = unsure.filter(|_| !here) {
                // Nothing of it runs here yet: whether it runs elsewhere must be known first.
                plan.steps.push(Step::Wait { group: g.key.clone(), why });
            } else if held_by.as_deref().is_some_and(|h| h != view.me) {
                let who = held_by.unwrap_or_default();
                plan.steps.push(Step::Wait { group: g.key.clone(), why: format!("{who} holds it and gives it up first") });
            } else {
                plan.steps.extend(g.resources.iter().filter(|r| view.state(r) != Local::Running).map(|r| step(Op::Start, r)));
            }
        } else if here || g.resources.iter().any(|r| view.state(r) != Local::Stopped) {
            plan.steps.extend(g.resources.iter().rev().filter(|r| view.state(r) != Local::Stopped).map(|r| step(Op::Stop, r)));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(failback: Failback, no_fencing: NoFencing) -> Policy {
        Policy {
            groups: vec![
                GroupSpec { key: "ip".into(), preferred: "a".into(), resources: vec!["ip".into(), "db".into()] },
                GroupSpec { key: "web".into(), preferred: "b".into(), resources: vec!["web".into()] },
            ],
            failback,
            no_fencing,
            migration_threshold: 3,
        }
    }

    fn view(local: &str, peer: Peer, running: &[&str], fencing: bool) -> View {
        let other = if local == "a" { "b" } else { "a" };
        let mut l = BTreeMap::new();
        for r in ["ip", "db", "web"] {
            l.insert(r.to_string(), if running.contains(&r) { Local::Running } else { Local::Stopped });
        }
        View {
            me: local.into(),
            nodes: vec!["a".into(), "b".into()],
            peers: BTreeMap::from([(other.to_string(), peer)]),
            standby: false,
            refuse: Default::default(),
            wants: Default::default(),
            pings: 0,
            here: l,
            failures: BTreeMap::new(),
            fencing: BTreeMap::from([(other.to_string(), fencing)]),
        }
    }

    fn up(holds: &[&str]) -> Peer {
        Peer::Up { holds: Some(holds.iter().map(|s| s.to_string()).collect()), standby: false, refuses: vec![], wants: vec![], pings: 0 }
    }

    /// The steps as short text: `start ip`, `stop db`, `wait web: …`.
    fn steps(p: &Plan) -> Vec<String> {
        p.steps
            .iter()
            .map(|s| match s {
                Step::Run { op, resource, .. } => format!("{} {resource}", op.name()),
                Step::Wait { group, why } => format!("wait {group}: {why}"),
            })
            .collect()
    }

    #[test]
    fn a_table_of_states_and_what_each_node_does() {
        use Failback::*;
        use NoFencing::*;
        let cases: Vec<(&str, Policy, View, Vec<&str>)> = vec![
            ("both up, nothing running: each starts its own", policy(On, R1), view("a", up(&[]), &[], true), vec!["start ip", "start db"]),
            ("the same from b", policy(On, R1), view("b", up(&[]), &[], true), vec!["start web"]),
            ("steady state: nothing to do", policy(On, R1), view("a", up(&["web"]), &["ip", "db"], true), vec![]),
            (
                "peer dead, not yet fenced: wait",
                policy(On, R1),
                view("a", Peer::Dead { fenced: false }, &["ip", "db"], true),
                vec!["wait web: b is dead and being fenced; nothing starts until it is confirmed off"],
            ),
            ("peer fenced: take over", policy(On, R1), view("a", Peer::Dead { fenced: true }, &["ip", "db"], true), vec!["start web"]),
            ("peer left cleanly: take over", policy(On, R1), view("a", Peer::Left, &["ip", "db"], true), vec!["start web"]),
            ("no fencing, R1: take over", policy(On, R1), view("a", Peer::Dead { fenced: false }, &["ip", "db"], false), vec!["start web"]),
            (
                "no fencing, refuse: wait for an operator",
                policy(On, Refuse),
                view("a", Peer::Dead { fenced: false }, &["ip", "db"], false),
                vec![
                    "wait web: b is dead, cannot be fenced, and no_fencing is refuse: confirm it is off (hbctl fence-confirm) to take over",
                ],
            ),
            (
                "failback on: a returns, and b gives a's group back",
                policy(On, R1),
                view("b", up(&[]), &["ip", "db", "web"], true),
                vec!["stop db", "stop ip"],
            ),
            (
                "failback on: a waits until b gave ip up",
                policy(On, R1),
                view("a", up(&["ip", "web"]), &[], true),
                vec!["wait ip: b holds it and gives it up first"],
            ),
            ("failback off: b keeps what it runs", policy(Off, R1), view("b", up(&[]), &["ip", "db", "web"], true), vec![]),
            ("failback off: a does not take it back", policy(Off, R1), view("a", up(&["ip", "web"]), &[], true), vec![]),
            (
                "the peer has not said what it holds",
                policy(On, R1),
                view("a", Peer::Up { holds: None, standby: false, refuses: vec![], wants: vec![], pings: 0 }, &[], true),
                vec!["wait ip: waiting for b to say which groups it holds"],
            ),
            (
                "peer in standby: take its group",
                policy(On, R1),
                view("a", Peer::Up { holds: Some(vec![]), standby: true, refuses: vec![], wants: vec![], pings: 0 }, &["ip", "db"], true),
                vec!["start web"],
            ),
            (
                "held on both after a split, failback off: the preferred node keeps it",
                policy(Off, R1),
                view("a", up(&["ip", "web"]), &["ip", "db"], true),
                vec![],
            ),
            ("… and the other stops it", policy(Off, R1), view("b", up(&["ip"]), &["ip", "db", "web"], true), vec!["stop db", "stop ip"]),
            ("a half-started group is finished", policy(On, R1), view("a", up(&["web"]), &["ip"], true), vec!["start db"]),
        ];
        for (what, p, v, want) in cases {
            assert_eq!(steps(&decide(&p, &v)), want, "{what}");
        }
    }

    #[test]
    fn unknown_resources_are_probed_first_and_standby_gives_everything_away() {
        let p = policy(Failback::On, NoFencing::R1);
        let mut v = view("a", up(&["web"]), &[], true);
        v.here.remove("db");
        let plan = decide(&p, &v);
        assert_eq!(steps(&plan), ["monitor db"]);
        assert_eq!(plan.placements[0].owner, None, "undecided until probed");
        let mut v = view("a", up(&["web"]), &["ip", "db"], true);
        v.standby = true;
        assert_eq!(steps(&decide(&p, &v)), ["stop db", "stop ip"]);
        assert_eq!(decide(&p, &v).placements[0].owner.as_deref(), Some("b"));
    }

    #[test]
    fn standby_and_takeover_move_single_groups() {
        let p = policy(Failback::On, NoFencing::R1);
        // a refuses its own group (hbctl standby local): it stops it; b takes it once a says.
        let mut v = view("a", up(&["web"]), &["ip", "db"], true);
        v.refuse.insert("ip".into());
        assert_eq!(steps(&decide(&p, &v)), ["stop db", "stop ip"]);
        let refusing = Peer::Up { holds: Some(vec![]), standby: false, refuses: vec!["ip".into()], wants: vec![], pings: 0 };
        assert_eq!(steps(&decide(&p, &view("b", refusing, &["web"], true))), ["start ip", "start db"]);
        // b asks for a's group (hbctl takeover foreign): a, preferred, still gives it up.
        let asking = Peer::Up { holds: Some(vec!["web".into()]), standby: false, refuses: vec![], wants: vec!["ip".into()], pings: 0 };
        assert_eq!(steps(&decide(&p, &view("a", asking, &["ip", "db"], true))), ["stop db", "stop ip"]);
        // A node that asks for a group it refuses does not get it.
        let mut v = view("b", up(&["ip"]), &["web"], true);
        v.wants.insert("ip".into());
        v.refuse.insert("ip".into());
        assert_eq!(steps(&decide(&p, &v)), Vec::<String>::new());
    }

    #[test]
    fn ipfail_gives_groups_to_the_node_that_reaches_more_ping_nodes() {
        let p = policy(Failback::On, NoFencing::R1);
        let b_sees = |pings: u8, holds: &[&str]| Peer::Up {
            holds: Some(holds.iter().map(|s| s.to_string()).collect()),
            standby: false,
            refuses: vec![],
            wants: vec![],
            pings,
        };
        // a lost its upstream (0 of 1), b has it: a gives its group away, b takes it.
        let mut v = view("a", b_sees(1, &["web"]), &["ip", "db"], true);
        v.pings = 0;
        assert_eq!(steps(&decide(&p, &v)), ["stop db", "stop ip"]);
        let mut v = view("b", b_sees(0, &[]), &["web"], true);
        v.pings = 1;
        v.peers.insert("a".into(), b_sees(0, &[]));
        assert_eq!(steps(&decide(&p, &v)), ["start ip", "start db"]);
        // Both lost it: nothing moves (each keeps what it has).
        let mut v = view("a", b_sees(0, &["web"]), &["ip", "db"], true);
        v.pings = 0;
        assert_eq!(steps(&decide(&p, &v)), Vec::<String>::new());
    }

    #[test]
    fn the_migration_threshold_moves_a_failing_group() {
        let p = policy(Failback::On, NoFencing::R1);
        let mut v = view("a", up(&["web"]), &["ip"], true);
        v.here.insert("db".into(), Local::Failed);
        v.failures.insert("ip".into(), 2);
        assert_eq!(steps(&decide(&p, &v)), ["start db"], "under the threshold: restarted in place");
        v.failures.insert("ip".into(), 3);
        assert_eq!(steps(&decide(&p, &v)), ["stop db", "stop ip"], "at the threshold: given up");
        // And b, which hears a no longer holds it, takes it.
        let v = view("b", Peer::Up { holds: Some(vec![]), standby: false, refuses: vec![], wants: vec![], pings: 0 }, &["web"], true);
        let mut pb = p.clone();
        pb.groups[0].preferred = "a".into();
        let mut vb = v.clone();
        vb.peers.insert("a".into(), Peer::Up { holds: Some(vec![]), standby: true, refuses: vec![], wants: vec![], pings: 0 });
        assert_eq!(steps(&decide(&pb, &vb)), ["start ip", "start db"]);
    }
}
