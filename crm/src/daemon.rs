//! `hb-crmd`'s loop: it learns the cluster from hbd (snapshot, `stonith-status`,
//! `crm-peers`, then the event stream), probes every resource once, and then repeatedly asks
//! the policy engine what this node must do and does it, one operation at a time, telling
//! its peers through hbd which groups it holds before it starts one and after it has
//! stopped one. Running resources are monitored; a failure counts against the group's
//! migration threshold. The CRM checks in as the application heartbeat `hb-crmd`, so hbd
//! can tie its watchdog to it (`watchdog_require_crm`).

use crate::agent::{Op, Rc};
use crate::config::Config;
use crate::digest::{hex, unhex, Said};
use crate::policy::{decide, Local, Peer, Plan, Step, View};
use hb_core::ipc::proto::{Event, Reply, Request};
use hb_core::ipc::{Client, ClientError};
use hb_core::liveness::NodeState;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often the CRM checks in with hbd (its registration promises [`APPHB_INTERVAL`]).
const CHECKIN: Duration = Duration::from_millis(300);
/// The application-heartbeat interval the CRM registers.
const APPHB_INTERVAL: Duration = Duration::from_secs(2);

/// Writes a line to standard error, as hbd's own log lines look (UTC time first).
pub fn log(level: &str, msg: &str) {
    eprintln!("{} hb-crmd[{}]: {level}: {msg}", hb_core::logging::utc_now(), std::process::id());
}

/// What this CRM knows of one peer.
#[derive(Debug, Clone)]
struct PeerInfo {
    state: Peer,
    said: Option<Said>,
}

/// The running CRM.
pub struct Crmd {
    cfg: Config,
    hbd: Client,
    peers: BTreeMap<String, PeerInfo>,
    view: View,
    published: Option<Vec<u8>>,
    last_checkin: Instant,
    last_monitor: Instant,
    /// What the groups waited for last round (logged when it changes).
    waits: Vec<String>,
    /// The last plan (for `crm-status`).
    plan: Plan,
    /// Each resource's last operation here: what, its result, how long (ms).
    last: BTreeMap<String, (Op, Rc, f64)>,
    /// Requests from `crmd.sock` ([`crate::api`]).
    api: Option<std::sync::mpsc::Receiver<crate::api::Pending>>,
    /// This node's ping nodes (and ping groups), and whether each answers (ipfail).
    pings: BTreeMap<String, bool>,
    /// This node's sequence number (what it says changed that many times).
    seq: u16,
    /// What it said last, its sequence number and acknowledgements aside.
    said_content: Option<Vec<u8>>,
    /// Groups this node has claimed and waits to start, with the sequence number of the claim:
    /// a group starts only once every live peer has seen the claim and claims it not itself.
    claims: BTreeMap<String, u16>,
    /// Groups this node stands by for because a peer asked for them (its takeover), by the
    /// peer: that standby ends when the peer dies or leaves, so the group is not stranded.
    given: BTreeMap<String, String>,
}

impl Crmd {
    /// Connects to hbd in `run_dir` (waiting for it up to `wait`), registers, subscribes and
    /// learns the cluster; then probes every resource.
    pub fn start(cfg: Config, run_dir: &Path, wait: Duration) -> Result<Crmd, String> {
        let end = Instant::now() + wait;
        let mut hbd = loop {
            match Client::connect_as(run_dir, hb_core::ipc::CRM_NAME) {
                Ok(c) => break c,
                Err(e) if Instant::now() >= end => return Err(format!("cannot reach hbd: {e}")),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        let err = |e: ClientError| format!("hbd: {e}");
        hbd.call(&Request::ApphbRegister {
            name: hb_core::ipc::CRM_NAME.into(),
            interval_ms: APPHB_INTERVAL.as_millis() as u64,
            persistent: false,
        })
        .map_err(err)?;
        hbd.subscribe().map_err(err)?;
        let fencing = match hbd.request(&Request::StonithStatus).map_err(err)? {
            Reply::StonithStatus { targets, .. } => targets.into_iter().map(|t| (t.node, !t.levels.is_empty())).collect(),
            _ => BTreeMap::new(),
        };
        let me = cfg.settings.node.clone();
        let view = View {
            me: me.clone(),
            nodes: cfg.nodes.clone(),
            peers: BTreeMap::new(),
            standby: false,
            refuse: Default::default(),
            wants: Default::default(),
            pings: 0,
            here: BTreeMap::new(),
            failures: BTreeMap::new(),
            fencing,
        };
        let now = Instant::now();
        let mut c = Crmd {
            cfg,
            hbd,
            peers: BTreeMap::new(),
            view,
            published: None,
            last_checkin: now,
            last_monitor: now,
            waits: Vec::new(),
            plan: Plan::default(),
            last: BTreeMap::new(),
            api: None,
            given: BTreeMap::new(),
            pings: BTreeMap::new(),
            seq: 0,
            said_content: None,
            claims: BTreeMap::new(),
        };
        match crate::api::listen(run_dir) {
            Ok(rx) => c.api = Some(rx),
            Err(e) => log(
                "WARN",
                &format!("no local API ({}): {e}; hbctl crm cannot reach this CRM", run_dir.join(crate::api::SOCKET_NAME).display()),
            ),
        }
        c.resync()?;
        let ids: Vec<String> = c.cfg.resources.iter().map(|r| r.id.clone()).collect();
        for id in ids {
            c.run(Op::Monitor, &id);
        }
        Ok(c)
    }

    /// Reads the whole state again: each peer's liveness and what its CRM last said.
    fn resync(&mut self) -> Result<(), String> {
        let err = |e: ClientError| format!("hbd: {e}");
        if let Reply::Snapshot { status, .. } = self.hbd.call(&Request::Snapshot).map_err(err)? {
            self.pings = status.nodes.iter().filter(|n| n.id == 0).map(|n| (n.name.clone(), n.state == NodeState::Up)).collect();
            self.count_pings();
            for n in status.nodes.iter().filter(|n| n.id != 0 && n.name != self.view.me) {
                let state = match n.state {
                    NodeState::Dead => Peer::Dead { fenced: false },
                    _ => Peer::unknown(),
                };
                self.peers.insert(n.name.clone(), PeerInfo { state, said: None });
            }
        }
        if let Reply::CrmPeers { peers } = self.hbd.call(&Request::CrmPeers).map_err(err)? {
            for p in peers {
                self.heard(&p.node, &p.state);
            }
        }
        self.refresh_peers();
        Ok(())
    }

    /// A peer's CRM said `state` (hex).
    fn heard(&mut self, node: &str, state: &str) {
        let said = unhex(state).and_then(|b| Said::decode(&b));
        if let Some(s) = said.as_ref().filter(|s| s.digest != self.cfg.digest) {
            log("ERROR", &format!("{node}'s haresources differs from this node's (digest {:08x}, ours {:08x}): its groups cannot be read, and nothing it may hold is started", s.digest, self.cfg.digest));
        }
        let said = said.filter(|s| s.digest == self.cfg.digest);
        let info = self.peers.entry(node.to_string()).or_insert(PeerInfo { state: Peer::unknown(), said: None });
        info.said = said;
    }

    /// A peer asks for groups (`hbctl takeover` there): this node stands by for them, as
    /// heartbeat's `hb_takeover` has the other node do, until `hbctl takeover` here.
    fn give_up_what_is_asked_for(&mut self, node: &str) {
        let Some(said) = self.peers.get(node).and_then(|p| p.said.clone()) else { return };
        for i in said.wants {
            let Some(key) = self.cfg.policy.groups.get(i).map(|g| g.key.clone()) else { continue };
            if self.view.refuse.insert(key.clone()) {
                self.view.wants.remove(&key);
                self.given.insert(key.clone(), node.to_string());
                log("info", &format!("{node} asks for group {key}: standing by for it (until hbctl takeover here)"));
            }
        }
    }

    /// The recovery manager (heartbeat's recoverymgrd): a process resource whose application
    /// heartbeat `app` stopped is a failed resource, which the policy restarts in place (the
    /// start kills the hung instance first) until the migration threshold moves its group.
    fn recover(&mut self, app: &str) {
        let hung: Vec<(String, String)> = self
            .cfg
            .resources
            .iter()
            .filter(|r| matches!(&r.agent, crate::agent::Agent::Process(p) if p.apphb.as_deref() == Some(app)))
            .filter(|r| self.view.here.get(&r.id) == Some(&Local::Running))
            .map(|r| (r.id.clone(), r.group.clone()))
            .collect();
        for (id, group) in hung {
            log("WARN", &format!("recovery: {id} stopped its application heartbeat {app:?}: restarting it"));
            self.view.here.insert(id, Local::Failed);
            *self.view.failures.entry(group).or_default() += 1;
        }
    }

    /// How many ping nodes answer, for the policy and the peers (ipfail).
    fn count_pings(&mut self) {
        let up = self.pings.values().filter(|u| **u).count().min(255) as u8;
        if up != self.view.pings {
            log("info", &format!("{up} of {} ping node(s) answer here", self.pings.len()));
        }
        self.view.pings = up;
    }

    /// `node` is gone: the standby it asked of this node (its takeover) ends.
    fn take_back_from(&mut self, node: &str) {
        let keys: Vec<String> = self.given.iter().filter(|(_, n)| *n == node).map(|(k, _)| k.clone()).collect();
        for k in keys {
            self.given.remove(&k);
            self.view.refuse.remove(&k);
            log("info", &format!("{node} is gone: no longer standing by for group {k}"));
        }
    }

    /// The groups `which` names, from this node's point of view.
    fn groups_named(&self, which: crate::api::Which) -> Vec<String> {
        use crate::api::Which;
        let me = &self.view.me;
        self.cfg
            .policy
            .groups
            .iter()
            .filter(|g| match which {
                Which::All => true,
                Which::Local => g.preferred == *me,
                Which::Foreign => g.preferred != *me,
            })
            .map(|g| g.key.clone())
            .collect()
    }

    /// The policy's view of each peer, from what is known of it.
    fn refresh_peers(&mut self) {
        let keys: Vec<String> = self.cfg.policy.groups.iter().map(|g| g.key.clone()).collect();
        self.view.peers = self
            .peers
            .iter()
            .map(|(n, p)| {
                let named = |set: &[usize]| -> Vec<String> { set.iter().filter_map(|i| keys.get(*i).cloned()).collect() };
                let state = match (&p.state, &p.said) {
                    (Peer::Up { .. }, Some(s)) => Peer::Up {
                        holds: Some(named(&s.holds)),
                        standby: s.standby,
                        refuses: named(&s.refuses),
                        wants: named(&s.wants),
                        pings: s.pings,
                    },
                    (Peer::Up { .. }, None) => Peer::unknown(),
                    (other, _) => other.clone(),
                };
                (n.clone(), state)
            })
            .collect();
    }

    /// Follows one event from hbd.
    fn on_event(&mut self, e: &Event) -> Result<(), String> {
        let set = |me: &mut Crmd, node: &str, state: Peer, forget: bool| {
            if let Some(p) = me.peers.get_mut(node) {
                p.state = state;
                if forget {
                    p.said = None;
                }
            }
        };
        match e {
            Event::NodeUp { node, .. } => set(self, node, Peer::unknown(), false),
            Event::NodeRestarted { node, .. } => set(self, node, Peer::unknown(), true),
            Event::NodeDead { node, .. } => {
                set(self, node, Peer::Dead { fenced: false }, true);
                self.take_back_from(node);
            }
            Event::NodeLeft { node, .. } => {
                set(self, node, Peer::Left, true);
                self.take_back_from(node);
            }
            Event::PeerCrm { node, state, .. } => {
                self.heard(node, state);
                self.give_up_what_is_asked_for(node);
            }
            Event::FenceResult { node, ok: true, .. } => {
                if matches!(self.peers.get(node).map(|p| &p.state), Some(Peer::Dead { .. })) {
                    log("info", &format!("{node} is fenced (confirmed off): its groups may be taken over"));
                    set(self, node, Peer::Dead { fenced: true }, true);
                }
            }
            Event::ApphbMissed { name, .. } | Event::ApphbExited { name, .. } => self.recover(name),
            Event::PingUp { node, .. } | Event::PingDead { node, .. } => {
                self.pings.insert(node.clone(), matches!(e, Event::PingUp { .. }));
                self.count_pings();
            }
            Event::Missed { .. } | Event::EventsLost { .. } => self.resync()?,
            _ => {}
        }
        self.refresh_peers();
        Ok(())
    }

    /// Runs `op` on resource `id` and records what it did.
    fn run(&mut self, op: Op, id: &str) -> Rc {
        let Some(r) = self.cfg.resource(id).cloned() else { return Rc::NotConfigured };
        let out = r.agent.run(op, id, self.cfg.settings.op_timeout);
        let state = match (op, out.rc) {
            (Op::Start, Rc::Success) | (Op::Monitor, Rc::Success) => Local::Running,
            (Op::Stop, Rc::Success) | (Op::Monitor, Rc::NotRunning) => Local::Stopped,
            _ => Local::Failed,
        };
        self.last.insert(id.to_string(), (op, out.rc, out.took.as_secs_f64() * 1e3));
        let was = self.view.here.insert(id.to_string(), state);
        if state == Local::Failed || (op == Op::Monitor && was == Some(Local::Running) && state != Local::Running) {
            *self.view.failures.entry(r.group.clone()).or_default() += 1;
        }
        let level = if state == Local::Failed { "ERROR" } else { "info" };
        if op != Op::Monitor || state == Local::Failed || was != Some(state) {
            let took = out.took.as_secs_f64() * 1e3;
            let tail = if out.output.is_empty() { String::new() } else { format!(": {}", out.output.lines().last().unwrap_or("")) };
            log(level, &format!("{} {id}: {} in {took:.1} ms{tail}", op.name(), out.rc.name()));
        }
        out.rc
    }

    /// Tells the peers what this node holds: every group with a resource not stopped here,
    /// and every group it claims; what it refuses and asks for; how many ping nodes it
    /// reaches; and the last sequence number it heard from each peer.
    fn publish(&mut self) -> Result<(), String> {
        let holds = self
            .cfg
            .policy
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| {
                self.claims.contains_key(&g.key)
                    || g.resources.iter().any(|r| matches!(self.view.here.get(r), Some(Local::Running | Local::Failed)))
            })
            .map(|(i, _)| i)
            .collect();
        let index = |set: &std::collections::BTreeSet<String>| -> Vec<usize> {
            self.cfg.policy.groups.iter().enumerate().filter(|(_, g)| set.contains(&g.key)).map(|(i, _)| i).collect()
        };
        // A group over its migration threshold here is refused as a standby is: the peers must
        // know this node will not run it, or they would leave it to this (preferred) node.
        let t = self.cfg.settings.migration_threshold;
        let mut refused = self.view.refuse.clone();
        refused.extend(self.view.failures.iter().filter(|(_, n)| t > 0 && **n >= t).map(|(g, _)| g.clone()));
        let mut said = Said {
            standby: self.view.standby,
            digest: self.cfg.digest,
            pings: self.view.pings,
            seq: 0,
            seen: Vec::new(),
            holds,
            refuses: index(&refused),
            wants: index(&self.view.wants),
        };
        let content = said.encode().ok_or(format!("too many groups for the CRM state (at most {})", crate::digest::MAX_GROUPS))?;
        if self.said_content.as_ref() != Some(&content) {
            self.seq = self.seq.wrapping_add(1);
            self.said_content = Some(content);
        }
        said.seq = self.seq;
        said.seen = self
            .peers
            .iter()
            .filter_map(|(n, p)| Some((self.cfg.nodes.iter().position(|x| x == n)? as u8, p.said.as_ref()?.seq)))
            .take(1)
            .collect();
        let bytes = said.encode().ok_or("the CRM state has no room")?;
        if self.published.as_ref() != Some(&bytes) {
            self.hbd.call(&Request::CrmState { state: hex(&bytes) }).map_err(|e| format!("hbd: {e}"))?;
            self.published = Some(bytes);
        }
        Ok(())
    }

    /// Whether group `g` may start now. While a peer is alive it must first have seen this
    /// node's claim on it (a sequence number it acknowledges) and claim it not itself; when
    /// two claim at once (their views differed), the node whose name sorts first keeps its
    /// claim and the other withdraws.
    fn claim_settled(&mut self, g: &str) -> Result<bool, String> {
        let me_idx = self.cfg.nodes.iter().position(|n| *n == self.view.me).unwrap_or(0) as u8;
        let key_index = self.cfg.policy.groups.iter().position(|x| x.key == g);
        let live: Vec<(String, Option<Said>)> =
            self.peers.iter().filter(|(_, p)| matches!(p.state, Peer::Up { .. })).map(|(n, p)| (n.clone(), p.said.clone())).collect();
        if live.is_empty() {
            return Ok(true);
        }
        let Some(&claimed_at) = self.claims.get(g) else {
            self.claims.insert(g.to_string(), 0);
            self.publish()?;
            self.claims.insert(g.to_string(), self.seq);
            log("info", &format!("claiming group {g}: it starts once the peers have seen the claim"));
            return Ok(false);
        };
        for (peer, said) in live {
            let Some(said) = said else { return Ok(false) };
            if key_index.is_some_and(|i| said.holds.contains(&i)) {
                if self.view.me < peer {
                    return Ok(false);
                }
                log("info", &format!("{peer} claims group {g} too: {peer} sorts first; withdrawing this node's claim"));
                self.claims.remove(g);
                self.publish()?;
                return Ok(false);
            }
            let acked = said.seen.iter().any(|(n, s)| *n == me_idx && s.wrapping_sub(claimed_at) < 0x8000);
            if !acked {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Checks in with hbd and monitors running resources when they are due.
    fn housekeeping(&mut self) -> Result<(), String> {
        if self.last_checkin.elapsed() >= CHECKIN {
            self.hbd.call(&Request::ApphbCheckin { name: hb_core::ipc::CRM_NAME.into() }).map_err(|e| format!("hbd: {e}"))?;
            self.last_checkin = Instant::now();
        }
        if self.last_monitor.elapsed() >= self.cfg.settings.monitor_interval {
            let running: Vec<String> = self.view.here.iter().filter(|(_, s)| **s == Local::Running).map(|(r, _)| r.clone()).collect();
            for id in running {
                self.run(Op::Monitor, &id);
            }
            self.last_monitor = Instant::now();
        }
        Ok(())
    }

    /// One round: decide, then carry out the plan's first operation (or wait for an event).
    /// Returns whether it did something.
    pub fn step(&mut self) -> Result<bool, String> {
        self.housekeeping()?;
        // Whatever happened meanwhile is known before deciding.
        while let Some(m) = self.hbd.next_event(Duration::ZERO).map_err(|e| format!("hbd: {e}"))? {
            self.on_event(&m.event)?;
        }
        while let Some((req, reply)) = self.api.as_ref().and_then(|a| a.try_recv().ok()) {
            let _ = reply.send(self.answer(&req));
        }
        // A takeover is done once the group runs here in full.
        let running: Vec<String> = self
            .cfg
            .policy
            .groups
            .iter()
            .filter(|g| g.resources.iter().all(|r| self.view.here.get(r) == Some(&Local::Running)))
            .map(|g| g.key.clone())
            .collect();
        self.view.wants.retain(|g| !running.contains(g));
        let plan = decide(&self.cfg.policy, &self.view);
        self.plan = plan.clone();
        // Claims the plan no longer wants to start are withdrawn.
        let starting: Vec<String> = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Run { op: Op::Start, group, .. } => Some(group.clone()),
                _ => None,
            })
            .collect();
        self.claims.retain(|g, _| starting.contains(g));
        self.publish()?;
        let run = plan.steps.iter().find_map(|s| match s {
            Step::Run { op, resource, group } => Some((*op, resource.clone(), group.clone())),
            Step::Wait { .. } => None,
        });
        if let Some((op, resource, group)) = run {
            if op != Op::Start || self.claim_settled(&group)? {
                self.run(op, &resource);
                self.publish()?;
                return Ok(true);
            }
        }
        let waits: Vec<String> = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Wait { group, why } => Some(format!("group {group} waits: {why}")),
                Step::Run { .. } => None,
            })
            .collect();
        if waits != self.waits {
            waits.iter().for_each(|w| log("info", w));
            self.waits = waits;
        }
        let wait = CHECKIN.min(self.cfg.settings.monitor_interval);
        match self.hbd.next_event(wait) {
            Ok(Some(m)) => self.on_event(&m.event)?,
            Ok(None) => {}
            // A stop signal ends the wait early.
            Err(_) if crate::sys::STOP.load(Ordering::SeqCst) => {}
            Err(e) => return Err(format!("hbd: {e}")),
        }
        Ok(false)
    }

    /// Answers a request of the local API.
    fn answer(&mut self, req: &crate::api::Request) -> crate::api::Reply {
        use crate::api::{GroupStatus, PeerStatus, Reply, Request, ResourceStatus};
        match req {
            Request::Simulate { what_if } => {
                let (nodes, placements) = crate::simulate::simulate(&self.cfg.policy, &self.view, what_if);
                Reply::Simulate { nodes, placements }
            }
            Request::Standby { which } => {
                let groups = self.groups_named(*which);
                for g in &groups {
                    self.view.refuse.insert(g.clone());
                    self.view.wants.remove(g);
                    // An operator's standby outlasts any peer.
                    self.given.remove(g);
                }
                log(
                    "info",
                    &format!("standby: this node gives up {}", if groups.is_empty() { "nothing".into() } else { groups.join(", ") }),
                );
                Reply::Standby { groups }
            }
            Request::Takeover { which } => {
                let groups = self.groups_named(*which);
                for g in &groups {
                    self.view.refuse.remove(g);
                    self.view.wants.insert(g.clone());
                    self.given.remove(g);
                }
                log(
                    "info",
                    &format!("takeover: this node asks for {}", if groups.is_empty() { "nothing".into() } else { groups.join(", ") }),
                );
                Reply::Takeover { groups }
            }
            Request::CrmStatus => {
                let state = |id: &str| match self.view.here.get(id) {
                    None | Some(Local::Unknown) => "unknown",
                    Some(Local::Running) => "running",
                    Some(Local::Stopped) => "stopped",
                    Some(Local::Failed) => "failed",
                };
                let groups = self
                    .cfg
                    .policy
                    .groups
                    .iter()
                    .map(|g| GroupStatus {
                        group: g.key.clone(),
                        preferred: g.preferred.clone(),
                        owner: self.plan.placements.iter().find(|p| p.group == g.key).and_then(|p| p.owner.clone()),
                        here: g.resources.iter().any(|r| matches!(self.view.here.get(r), Some(Local::Running | Local::Failed))),
                        waiting: self.plan.steps.iter().find_map(|s| match s {
                            Step::Wait { group, why } if *group == g.key => Some(why.clone()),
                            _ => None,
                        }),
                        fail_count: self.view.failures.get(&g.key).copied().unwrap_or(0),
                        resources: g
                            .resources
                            .iter()
                            .map(|r| {
                                let last = self.last.get(r);
                                ResourceStatus {
                                    id: r.clone(),
                                    state: state(r).into(),
                                    last_op: last.map(|l| l.0.name().into()),
                                    last_rc: last.map(|l| l.1.name()),
                                    last_ms: last.map(|l| l.2),
                                }
                            })
                            .collect(),
                    })
                    .collect();
                let peers = self
                    .view
                    .peers
                    .iter()
                    .map(|(n, p)| {
                        let (state, holds) = match p {
                            Peer::Up { holds, .. } => ("up", holds.clone()),
                            Peer::Dead { fenced: false } => ("dead", None),
                            Peer::Dead { fenced: true } => ("fenced", Some(Vec::new())),
                            Peer::Left => ("left", Some(Vec::new())),
                        };
                        PeerStatus { node: n.clone(), state: state.into(), holds }
                    })
                    .collect();
                let no_fencing = match self.cfg.settings.no_fencing {
                    crate::policy::NoFencing::R1 => "r1",
                    crate::policy::NoFencing::Refuse => "refuse",
                };
                Reply::CrmStatus { node: self.view.me.clone(), standby: self.view.standby, no_fencing: no_fencing.into(), groups, peers }
            }
        }
    }

    /// Runs until SIGTERM or SIGINT (then releases every group: [`Crmd::release_all`]) or
    /// until hbd goes away.
    pub fn run_forever(&mut self) -> Result<(), String> {
        while !crate::sys::STOP.load(Ordering::SeqCst) {
            self.step()?;
        }
        self.release_all()
    }

    /// Stops every resource not known stopped, groups in reverse order and each right to
    /// left, then tells the peers this node holds nothing. An error if any stop failed: the
    /// node must then not say it left cleanly (hbd sends no leaving mark, so the peers fence
    /// it before taking over).
    pub fn release_all(&mut self) -> Result<(), String> {
        log("info", "stopping: releasing every resource group");
        let groups: Vec<Vec<String>> = self.cfg.policy.groups.iter().rev().map(|g| g.resources.iter().rev().cloned().collect()).collect();
        let mut failed = Vec::new();
        for id in groups.into_iter().flatten() {
            if self.view.here.get(&id) != Some(&Local::Stopped) && self.run(Op::Stop, &id) != Rc::Success {
                failed.push(id);
            }
        }
        self.claims.clear();
        self.publish()?;
        if failed.is_empty() {
            log("info", "every resource group released");
            Ok(())
        } else {
            Err(format!("could not stop {}: this node may still run them", failed.join(", ")))
        }
    }
}
