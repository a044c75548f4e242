//! The IPC server thread: accepts connections on `hbd.sock`, checks who they are, answers
//! requests ([`proto::Request`]) and streams events ([`proto::EventMsg`]) to subscribers.
//!
//! Not real-time: it waits with `poll(2)` on the listener, the clients and an eventfd the RT
//! thread signals after pushing events into a lock-free ring. Everything it holds is bounded:
//! connections per user and in all, each subscriber's queue (a subscriber that falls behind
//! loses events, counted and announced to it as [`proto::Event::Missed`], and is never waited
//! for), and its log lines (rate-limited, with a count of what was suppressed).

use super::proto::{self, AppState, AppStatus, ErrorCode, EventMsg, Reply, Request};
use super::{crm, fencing, AppShared, CRM_NAME};
use crate::apphb::{self, AppError, AppEvent, Caller};
use crate::config::ApiAuth;
use crate::fence::thread::FenceLink;
use crate::liveness::Event;
pub use crate::logging::RateLimit;
use crate::logging::{Level, Logger, Names};
use crate::status::StatusReader;
use crate::sys::fd::EventFd;
use crate::sys::seqpacket::{poll_in, PeerCred, SeqPacket};
use crate::time::Nanos;
use std::collections::VecDeque;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Connections of users other than root, in all.
pub const MAX_CLIENTS: usize = 64;
/// Connections of one user other than root.
pub const MAX_PER_UID: usize = 16;
/// Root's own connections, beyond [`MAX_CLIENTS`]: other users can never lock root out.
pub const MAX_ROOT: usize = 16;
/// Messages queued for one connection (events and replies) before events are dropped for it.
pub const CONN_QUEUE: usize = 256;
/// Requests read from one connection per pass, so that one client cannot starve the others.
const REQUESTS_PER_PASS: usize = 16;

/// Who may connect.
#[derive(Debug, Clone)]
pub struct AllowList {
    own_uid: u32,
    uids: Vec<u32>,
    gids: Vec<u32>,
}

impl AllowList {
    /// Root, our own euid, and every `apiauth` uid and gid.
    pub fn new(apiauth: &[ApiAuth]) -> AllowList {
        let own_uid = nix::unistd::geteuid().as_raw();
        let mut uids = Vec::new();
        let mut gids = Vec::new();
        for a in apiauth {
            uids.extend(a.uids.iter().filter(|u| **u != 0 && **u != own_uid));
            gids.extend(&a.gids);
        }
        uids.sort_unstable();
        uids.dedup();
        gids.sort_unstable();
        gids.dedup();
        AllowList { own_uid, uids, gids }
    }

    /// Whether a client with uid `uid` and groups `groups` (primary and supplementary) may
    /// use the socket.
    pub fn allows(&self, uid: u32, groups: &[u32]) -> bool {
        uid == 0 || uid == self.own_uid || self.uids.contains(&uid) || groups.iter().any(|g| self.gids.contains(g))
    }

    /// Whether `uid` is root or hbd's own user.
    pub fn privileged(&self, uid: u32) -> bool {
        uid == 0 || uid == self.own_uid
    }

    /// The socket file's group and mode that let the allowed users reach the socket: 0600
    /// with no `apiauth`; group G and 0660 when `apiauth` names exactly one group and no
    /// users; otherwise 0666. The credential check on each connection stays the gate.
    pub fn socket_access(&self) -> (Option<u32>, u32) {
        match (self.uids.is_empty(), self.gids.as_slice()) {
            (true, []) => (None, 0o600),
            (true, [g]) => (Some(*g), 0o660),
            _ => (None, 0o666),
        }
    }
}

/// Events that could not be queued for a subscriber: `first ..= first + count - 1`.
#[derive(Debug, Clone, Copy)]
struct Missed {
    first: u64,
    count: u64,
}

struct Conn {
    sock: SeqPacket,
    id: u64,
    cred: PeerCred,
    subscribed: bool,
    out: VecDeque<Vec<u8>>,
    missed: Option<Missed>,
}

impl Conn {
    /// Queues event `seq`; when the queue has no room, the event is counted as missed.
    fn queue_event(&mut self, seq: u64, msg: &[u8]) -> bool {
        let need = if self.missed.is_some() { 2 } else { 1 };
        if self.out.len() + need > CONN_QUEUE {
            let m = self.missed.get_or_insert(Missed { first: seq, count: 0 });
            m.count += 1;
            return false;
        }
        self.queue_missed_notice();
        self.out.push_back(msg.to_vec());
        true
    }

    fn queue_missed_notice(&mut self) {
        if let Some(m) = self.missed.take() {
            let ev = EventMsg { seq: m.first + m.count - 1, event: proto::Event::Missed { first_seq: m.first, count: m.count } };
            self.out.push_back(proto::encode(&ev));
        }
    }

    /// Sends what is queued until the socket is full. An error means the connection is gone.
    fn flush(&mut self) -> io::Result<()> {
        loop {
            while let Some(m) = self.out.front() {
                match self.sock.send(m, true) {
                    Ok(()) => {
                        self.out.pop_front();
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
            if self.missed.is_none() {
                return Ok(());
            }
            self.queue_missed_notice();
        }
    }

    fn wants_out(&self) -> bool {
        !self.out.is_empty() || self.missed.is_some()
    }
}

/// What the server thread needs besides its sockets.
pub struct ServerCtx {
    /// Names for event messages.
    pub names: Names,
    /// Who may connect.
    pub allow: AllowList,
    /// Log sink.
    pub logger: Logger,
    /// This node's name.
    pub node: String,
    /// Shared with the RT thread.
    pub apps: Arc<AppShared>,
    /// The status page, read for `snapshot`.
    pub status: Option<StatusReader>,
    /// Where peers' generations are remembered across restarts ([`crate::state`]); `None`:
    /// nowhere.
    pub state_dir: Option<std::path::PathBuf>,
    /// The fencing thread's queue (`None`: this node runs no STONITH device).
    pub fence: Option<FenceLink>,
}

/// The server's state: connections, application heartbeats, the event sequence.
pub struct Server {
    ctx: ServerCtx,
    clients: Vec<Conn>,
    apps: apphb::Table,
    next_id: u64,
    seq: u64,
    lost_seen: u64,
    refused_log: RateLimit,
    apphb_log: RateLimit,
    conn_log: RateLimit,
    state_log: RateLimit,
    fence_ids: fencing::Ids,
    crm_peers: crm::PeerStates,
}

/// A liveness event as the stream carries it.
pub fn event_of(n: &Names, e: &Event) -> proto::Event {
    let name = |v: &[String], i: u8| v.get(usize::from(i)).cloned().unwrap_or_else(|| "?".into());
    let peer = |i| name(&n.peers, i);
    let link = |i| name(&n.links, i);
    match *e {
        Event::NodeUp { node, at, returning } => proto::Event::NodeUp { node: peer(node), at_ns: at, returning },
        Event::NodeDead { node, at, silent } => proto::Event::NodeDead { node: peer(node), at_ns: at, silent_ns: silent },
        Event::NodeRestarted { node, at, generation } => proto::Event::NodeRestarted { node: peer(node), at_ns: at, generation },
        Event::NodeLeft { node, at } => proto::Event::NodeLeft { node: peer(node), at_ns: at },
        Event::LinkUp { node, link: l, at } => proto::Event::LinkUp { node: peer(node), link: link(l), at_ns: at },
        Event::LinkWarn { node, link: l, at, silent } => {
            proto::Event::LinkWarn { node: peer(node), link: link(l), at_ns: at, silent_ns: silent }
        }
        Event::LinkDead { node, link: l, at, silent } => {
            proto::Event::LinkDead { node: peer(node), link: link(l), at_ns: at, silent_ns: silent }
        }
        Event::PingUp { node, at } => proto::Event::PingUp { node: name(&n.pings, node), at_ns: at },
        Event::PingDead { node, at, silent } => proto::Event::PingDead { node: name(&n.pings, node), at_ns: at, silent_ns: silent },
        Event::Stall { at, late } => proto::Event::Stall { at_ns: at, late_ns: late },
        Event::PeerCrm { node, at, state } => proto::Event::PeerCrm { node: peer(node), at_ns: at, state: crm::hex(state.as_slice()) },
    }
}

fn app_event(e: &AppEvent, at: Nanos) -> proto::Event {
    match e.clone() {
        AppEvent::Registered { name, interval } => proto::Event::ApphbRegistered { name, at_ns: at, interval_ns: interval },
        AppEvent::Missed { name, silent } => proto::Event::ApphbMissed { name, at_ns: at, silent_ns: silent },
        AppEvent::Recovered { name } => proto::Event::ApphbRecovered { name, at_ns: at },
        AppEvent::Exited { name } => proto::Event::ApphbExited { name, at_ns: at },
        AppEvent::Unregistered { name } => proto::Event::ApphbUnregistered { name, at_ns: at },
    }
}

fn app_event_log(e: &AppEvent) -> (Level, String) {
    match e {
        AppEvent::Registered { name, interval } => (Level::Info, format!("application heartbeat {name:?} registered (every {interval})")),
        AppEvent::Missed { name, silent } => {
            (Level::Warn, format!("application heartbeat {name:?} missed its check-in (silent {:.1} ms)", silent.as_millis_f64()))
        }
        AppEvent::Recovered { name } => (Level::Info, format!("application heartbeat {name:?} checked in again")),
        AppEvent::Exited { name } => (Level::Warn, format!("application heartbeat {name:?}: its process went away without unregistering")),
        AppEvent::Unregistered { name } => (Level::Info, format!("application heartbeat {name:?} unregistered")),
    }
}

fn app_error(e: AppError) -> Reply {
    let code = match e {
        AppError::Taken(_) => ErrorCode::AlreadyRegistered,
        AppError::Unknown(_) => ErrorCode::NotRegistered,
        AppError::Full => ErrorCode::TooMany,
        AppError::Invalid(_) => ErrorCode::Invalid,
        AppError::NotOwner { .. } => ErrorCode::NotOwner,
        AppError::Reserved(_) => ErrorCode::ReservedName,
    };
    Reply::error(code, e.to_string())
}

impl Server {
    /// A server with no connections yet.
    pub fn new(ctx: ServerCtx) -> Server {
        Server {
            ctx,
            clients: Vec::new(),
            apps: apphb::Table::default(),
            next_id: 0,
            seq: 0,
            lost_seen: 0,
            refused_log: RateLimit::new("refused connections"),
            apphb_log: RateLimit::new("application heartbeats"),
            conn_log: RateLimit::new("IPC clients"),
            state_log: RateLimit::new("lost events and the peers file"),
            fence_ids: fencing::Ids::default(),
            crm_peers: crm::PeerStates::default(),
        }
    }

    /// The last event sequence number emitted.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The application heartbeats.
    pub fn apps(&self) -> &[apphb::App] {
        self.apps.apps()
    }

    /// Judges the application heartbeats' deadlines at `now` (the thread does this after
    /// every wake-up).
    pub fn poll_apps(&mut self, now: Nanos) {
        let mut missed = Vec::new();
        self.apps.poll(now, &mut |e| missed.push(e));
        self.app_events(missed, now);
    }

    /// Emits one event to every subscriber.
    fn emit(&mut self, event: proto::Event) {
        self.seq += 1;
        let msg = proto::encode(&EventMsg { seq: self.seq, event });
        for c in self.clients.iter_mut().filter(|c| c.subscribed) {
            if !c.queue_event(self.seq, &msg) {
                self.ctx.apps.subscriber_missed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn apps_status(&self, now: Nanos) -> Vec<AppStatus> {
        self.apps
            .apps()
            .iter()
            .map(|a| AppStatus {
                name: a.name.clone(),
                interval_ms: a.interval.as_millis(),
                last_checkin_ms_ago: (now.sub(a.last).as_millis_f64() * 1000.0).round() / 1000.0,
                checkins: a.checkins,
                persistent: a.conn.is_none(),
                state: if a.exited {
                    AppState::Exited
                } else if a.failed {
                    AppState::Missed
                } else {
                    AppState::Ok
                },
                owner_uid: a.owner,
            })
            .collect()
    }

    /// Answers one request (bytes from a local client: the `ipc_request` fuzz target runs
    /// this) from `caller`. Returns the reply, the application-heartbeat events it caused (the
    /// thread emits them after queueing the reply) and whether the caller subscribed.
    pub fn handle(&mut self, req: &[u8], caller: Caller, now: Nanos) -> (Reply, Vec<AppEvent>, bool) {
        let mut events = Vec::new();
        let mut subscribe = false;
        let req = match proto::decode_request(req) {
            Ok(r) => r,
            Err(e @ proto::DecodeError::UnknownOp(_)) => return (Reply::error(ErrorCode::UnknownRequest, e.to_string()), events, false),
            Err(e) => return (Reply::error(ErrorCode::BadRequest, format!("not a request: {e}")), events, false),
        };
        let reply = match req {
            Request::Hello { version: 0, .. } => {
                Reply::error(ErrorCode::UnsupportedVersion, "protocol version 0 does not exist; this hbd speaks 1")
            }
            Request::Hello { version, .. } => Reply::Hello {
                version: version.min(proto::VERSION),
                hbd_version: proto::VERSION,
                release: env!("CARGO_PKG_VERSION").into(),
                node: self.ctx.node.clone(),
                pid: std::process::id(),
            },
            Request::Ping => Reply::Pong { node: self.ctx.node.clone(), pid: std::process::id() },
            Request::Subscribe => {
                subscribe = true;
                Reply::Subscribed { seq: self.seq }
            }
            Request::Snapshot => match self.ctx.status.as_ref().map(StatusReader::snapshot) {
                Some(Ok(s)) => Reply::Snapshot { seq: self.seq, status: Box::new(s), apps: self.apps_status(now) },
                Some(Err(e)) => Reply::error(ErrorCode::Other, format!("status page unreadable: {e}")),
                None => Reply::error(ErrorCode::Other, "no status page"),
            },
            Request::ApphbRegister { name, interval_ms, persistent } => {
                match self.apps.register(&name, Nanos::from_millis(interval_ms), persistent, &caller, now) {
                    Ok(e) => {
                        events.push(e);
                        Reply::Registered { name, interval_ms, persistent }
                    }
                    Err(e) => app_error(e),
                }
            }
            Request::ApphbCheckin { name } => match self.apps.checkin(&name, &caller, now) {
                Ok(e) => {
                    events.extend(e);
                    Reply::CheckedIn { name }
                }
                Err(e) => app_error(e),
            },
            Request::ApphbUnregister { name } => match self.apps.unregister(&name, &caller) {
                Ok(e) => {
                    events.push(e);
                    Reply::Unregistered { name }
                }
                Err(e) => app_error(e),
            },
            Request::ApphbStatus => Reply::ApphbStatus { apps: self.apps_status(now) },
            Request::Fence { node, action } => {
                fencing::fence(self.ctx.fence.as_ref(), &self.ctx.node, &caller, node, action, &mut self.fence_ids, now)
            }
            Request::FenceConfirm { node } => fencing::confirm(&caller, node),
            Request::StonithStatus => fencing::status(self.ctx.fence.as_ref()),
            Request::CrmState { state } => crm::set_state(&self.ctx.apps.crm_state, &caller, &state),
            Request::CrmPeers => self.crm_peers.reply(),
        };
        (reply, events, subscribe)
    }

    fn app_events(&mut self, events: Vec<AppEvent>, now: Nanos) {
        for e in events {
            let (level, text) = app_event_log(&e);
            self.apphb_log.log(&self.ctx.logger, level, &text);
            self.emit(app_event(&e, now));
        }
    }

    /// Writes every peer's current generation to the state directory (off the RT thread).
    fn remember_generations(&mut self) {
        let (Some(dir), Some(Ok(s))) = (&self.ctx.state_dir, self.ctx.status.as_ref().map(StatusReader::snapshot)) else { return };
        let peers: Vec<(String, u64)> = s.nodes.iter().filter(|n| !n.is_ping()).map(|n| (n.name.clone(), n.generation)).collect();
        if let Err(e) = crate::state::save_peer_generations(dir, &peers) {
            self.state_log.log(&self.ctx.logger, Level::Warn, &format!("cannot remember peers' generations in {}: {e}", dir.display()));
        }
    }

    /// Accepts every pending connection, refusing (with a reply saying why) those not allowed
    /// or over a limit.
    fn accept(&mut self, listener: &SeqPacket) {
        while let Ok(sock) = listener.accept() {
            let cred = match sock.peer_cred() {
                Ok(c) => c,
                Err(e) => {
                    self.refused_log.log(&self.ctx.logger, Level::Warn, &format!("IPC: cannot read a client's credentials: {e}"));
                    continue;
                }
            };
            let mut groups = sock.peer_groups().unwrap_or_default();
            groups.push(cred.gid);
            let refusal = if !self.ctx.allow.allows(cred.uid, &groups) {
                Some((ErrorCode::PermissionDenied, format!("permission denied: uid {} is not allowed (apiauth in ha.cf)", cred.uid)))
            } else {
                let mine = self.clients.iter().filter(|c| c.cred.uid == cred.uid).count();
                let others = self.clients.iter().filter(|c| c.cred.uid != 0).count();
                if cred.uid == 0 && mine >= MAX_ROOT {
                    Some((ErrorCode::TooManyClients, format!("too many clients: root already has {mine} connections open")))
                } else if cred.uid != 0 && mine >= MAX_PER_UID {
                    Some((ErrorCode::TooManyClients, format!("too many clients: uid {} already has {mine} connections open", cred.uid)))
                } else if cred.uid != 0 && others >= MAX_CLIENTS {
                    Some((ErrorCode::TooManyClients, format!("too many clients: {others} connections of other users are open")))
                } else {
                    None
                }
            };
            match refusal {
                None => {
                    self.next_id += 1;
                    self.clients.push(Conn { sock, id: self.next_id, cred, subscribed: false, out: VecDeque::new(), missed: None });
                }
                Some((code, why)) => {
                    self.refused_log.log(
                        &self.ctx.logger,
                        Level::Warn,
                        &format!("IPC: refused pid {} uid {} gid {}: {why}", cred.pid, cred.uid, cred.gid),
                    );
                    let _ = sock.send(&proto::encode(&Reply::error(code, why)), true);
                }
            }
        }
    }

    /// Reads and answers up to [`REQUESTS_PER_PASS`] requests of client `i`; false when it
    /// has gone.
    fn serve(&mut self, i: usize, buf: &mut [u8], now: Nanos) -> bool {
        for _ in 0..REQUESTS_PER_PASS {
            let c = &self.clients[i];
            let n = match c.sock.recv(buf, true) {
                Ok(0) => return false,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            };
            let caller = Caller { uid: c.cred.uid, conn: c.id, privileged: self.ctx.allow.privileged(c.cred.uid) };
            let (reply, events, subscribe) = self.handle(&buf[..n], caller, now);
            let c = &mut self.clients[i];
            c.subscribed |= subscribe;
            // Replies share the event queue, so a reply never overtakes events sent before it.
            // A client that sends requests without reading the replies is closed.
            if c.out.len() >= 2 * CONN_QUEUE {
                let (pid, uid) = (c.cred.pid, c.cred.uid);
                self.conn_log.log(&self.ctx.logger, Level::Warn, &format!("IPC: closed pid {pid} uid {uid}: it does not read its replies"));
                return false;
            }
            c.out.push_back(proto::encode(&reply));
            self.app_events(events, now);
        }
        true
    }

    /// Drops the clients at `indices` (ascending); their connection-bound application
    /// heartbeats are reported as exited.
    fn close(&mut self, indices: Vec<usize>, now: Nanos) {
        for i in indices.into_iter().rev() {
            let c = self.clients.remove(i);
            let mut exited = Vec::new();
            self.apps.connection_closed(c.id, &mut |e| exited.push(e));
            self.app_events(exited, now);
        }
    }

    /// One pass after `poll`: events from the RT thread, requests, writes, deadlines, accepts.
    fn pass(&mut self, fds: &[libc::pollfd], listener: &SeqPacket, events: &mut rtrb::Consumer<Event>, buf: &mut [u8]) {
        // Liveness events first, in order, then any the RT thread could not queue.
        let mut generations_changed = false;
        while let Ok(ev) = events.pop() {
            generations_changed |= matches!(ev, Event::NodeUp { .. } | Event::NodeRestarted { .. });
            let e = event_of(&self.ctx.names, &ev);
            self.crm_peers.on_event(&e);
            if let Some(refused) = fencing::on_event(self.ctx.fence.as_ref(), &e, &mut self.fence_ids) {
                self.ctx.logger.error(&refused);
            }
            self.emit(e);
        }
        // Then what the fencing thread reports.
        while let Some(e) = self.ctx.fence.as_ref().and_then(|f| f.events.try_recv().ok()) {
            self.emit(e);
        }
        if generations_changed {
            self.remember_generations();
        }
        let lost = self.ctx.apps.events_lost.load(Ordering::Relaxed);
        if lost > self.lost_seen {
            let count = lost - self.lost_seen;
            self.lost_seen = lost;
            self.state_log.log(
                &self.ctx.logger,
                Level::Warn,
                &format!("IPC: {count} events lost before reaching subscribers ({lost} in all)"),
            );
            self.emit(proto::Event::EventsLost { at_ns: crate::time::now(), count, total: lost });
        }
        let now = crate::time::now();
        // The fds after the first two are the clients, in order.
        let mut gone = Vec::new();
        for i in 0..self.clients.len() {
            let revents = fds.get(2 + i).map_or(0, |f| f.revents);
            let alive = if revents & libc::POLLIN != 0 { self.serve(i, buf, now) } else { revents & (libc::POLLHUP | libc::POLLERR) == 0 };
            if !alive {
                gone.push(i);
            }
        }
        self.close(gone, now);
        self.poll_apps(now);
        self.ctx.apps.failed.store(self.apps.any_failed(), Ordering::Relaxed);
        self.ctx.apps.crm_last_seen.store(self.apps.last_checkin(CRM_NAME).map_or(0, |t| t.0), Ordering::Relaxed);
        let mut broken = Vec::new();
        for (i, c) in self.clients.iter_mut().enumerate() {
            if c.flush().is_err() {
                broken.push(i);
            }
        }
        self.close(broken, now);
        if fds[0].revents != 0 {
            self.accept(listener);
        }
    }
}

/// Starts the server thread.
pub fn spawn_server(
    listener: SeqPacket,
    mut events: rtrb::Consumer<Event>,
    wake: Arc<EventFd>,
    stop: Arc<AtomicBool>,
    ctx: ServerCtx,
) -> io::Result<std::thread::JoinHandle<()>> {
    listener.set_nonblocking()?;
    std::thread::Builder::new().name("hbd-ipc".into()).stack_size(crate::logging::STACK).spawn(move || {
        let mut server = Server::new(ctx);
        let mut buf = vec![0u8; proto::MAX_REQUEST + 1];
        let mut fds: Vec<libc::pollfd> = Vec::new();
        while !stop.load(Ordering::Acquire) {
            fds.clear();
            fds.push(libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            fds.push(libc::pollfd { fd: wake.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            for c in &server.clients {
                let out = if c.wants_out() { libc::POLLOUT } else { 0 };
                fds.push(libc::pollfd { fd: c.sock.as_raw_fd(), events: libc::POLLIN | out, revents: 0 });
            }
            // Everything else that needs this thread arrives as an fd event (the RT loop's
            // events and stop come through `wake`): idle, it sleeps until the next app deadline.
            let poll_at = server.apps.poll_at();
            let timeout =
                if poll_at == Nanos::MAX { -1 } else { poll_at.sub(crate::time::now()).0.div_ceil(1_000_000).min(i32::MAX as u64) as i32 };
            if let Err(e) = poll_in(&mut fds, timeout) {
                server.ctx.logger.error(&format!("IPC poll failed: {e}"));
                // poll(2) itself failed (not EINTR): do not spin on it.
                #[allow(clippy::disallowed_methods)]
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            if fds[1].revents != 0 {
                wake.drain();
            }
            server.pass(&fds, &listener, &mut events, &mut buf);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Server {
        Server::new(ServerCtx {
            names: Names::default(),
            allow: AllowList::new(&[]),
            logger: Logger::new(&Default::default()),
            node: "a".into(),
            apps: Arc::default(),
            status: None,
            state_dir: None,
            fence: None,
        })
    }

    const ROOT: Caller = Caller { uid: 0, conn: 1, privileged: true };

    /// Found by the `ipc_request` fuzz target: a huge interval overflowed the conversion to
    /// nanoseconds (a panic in debug builds, a wrapped, bogus interval in release).
    #[test]
    fn ipc_register_with_a_huge_interval_is_refused() {
        let mut s = server();
        let (r, ev, _) = s.handle(br#"{"op":"apphb-register","name":"x","interval_ms":99999999999999999}"#, ROOT, Nanos(1));
        assert_eq!(r, Reply::error(ErrorCode::Invalid, "interval must be 10ms to 24h"));
        assert!(ev.is_empty() && s.apps.apps().is_empty());
    }

    #[test]
    fn every_request_gets_a_typed_reply() {
        let mut s = server();
        let ask = |s: &mut Server, r: &Request| s.handle(&proto::encode(r), ROOT, Nanos(1)).0;
        assert!(matches!(ask(&mut s, &Request::Hello { version: 9, client: None }), Reply::Hello { version: 1, hbd_version: 1, .. }));
        assert!(matches!(
            ask(&mut s, &Request::Hello { version: 0, client: None }),
            Reply::Error { code: ErrorCode::UnsupportedVersion, .. }
        ));
        assert!(matches!(ask(&mut s, &Request::Ping), Reply::Pong { .. }));
        assert_eq!(ask(&mut s, &Request::Subscribe), Reply::Subscribed { seq: 0 });
        assert!(matches!(ask(&mut s, &Request::Snapshot), Reply::Error { .. }), "no page in a unit test");
        let reg = Request::ApphbRegister { name: "db".into(), interval_ms: 100, persistent: true };
        assert_eq!(ask(&mut s, &reg), Reply::Registered { name: "db".into(), interval_ms: 100, persistent: true });
        assert!(matches!(ask(&mut s, &reg), Reply::Error { code: ErrorCode::AlreadyRegistered, .. }));
        assert_eq!(ask(&mut s, &Request::ApphbCheckin { name: "db".into() }), Reply::CheckedIn { name: "db".into() });
        assert!(
            matches!(ask(&mut s, &Request::ApphbStatus), Reply::ApphbStatus { apps } if apps.len() == 1 && apps[0].state == AppState::Ok)
        );
        assert_eq!(ask(&mut s, &Request::ApphbUnregister { name: "db".into() }), Reply::Unregistered { name: "db".into() });
        assert!(matches!(ask(&mut s, &Request::ApphbCheckin { name: "db".into() }), Reply::Error { code: ErrorCode::NotRegistered, .. }));
        for (bad, code) in [
            (&b"ping"[..], ErrorCode::BadRequest),
            (br#"{"op":"frob"}"#, ErrorCode::UnknownRequest),
            (br#"{"op":"apphb-checkin"}"#, ErrorCode::BadRequest),
            (br#"{"op":"apphb-register","name":1,"interval_ms":5}"#, ErrorCode::BadRequest),
            (b"\xff\xfe", ErrorCode::BadRequest),
        ] {
            assert!(
                matches!(s.handle(bad, ROOT, Nanos(1)).0, Reply::Error { code: c, .. } if c == code),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn allow_list_and_socket_access() {
        let a = AllowList::new(&[ApiAuth { client: "x".into(), uids: vec![1000], gids: vec![50] }]);
        assert!(a.allows(0, &[0]));
        assert!(a.allows(1000, &[1]));
        assert!(a.allows(4242, &[4242, 50]), "a supplementary group counts");
        assert!(!a.allows(4242, &[4242]) || nix::unistd::geteuid().as_raw() == 4242);
        assert_eq!(a.socket_access(), (None, 0o666));
        assert_eq!(AllowList::new(&[]).socket_access(), (None, 0o600));
        assert_eq!(AllowList::new(&[ApiAuth { client: "x".into(), uids: vec![], gids: vec![50] }]).socket_access(), (Some(50), 0o660));
    }
}
