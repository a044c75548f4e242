//! IPC: a unix seqpacket socket for commands and the event stream.
//!
//! `<run-dir>/hbd.sock`, mode 0660. Each connection's peer credentials (`SO_PEERCRED`) are
//! checked against an allow list: root, hbd's own user, and the uids/gids of `apiauth` lines.
//! A refused client gets one error message and is disconnected.
//!
//! Protocol: one request per message, one JSON object per reply message.
//! - `ping` → `{"ok":"pong","node":…,"pid":…}`
//! - `subscribe` → `{"ok":"subscribed"}`, then one message per event, e.g.
//!   `{"event":"node-dead","node":"b","at_ns":…,"silent_ns":…}` or
//!   `{"event":"apphb-missed","name":"db","at_ns":…,"silent_ns":…}`
//! - `apphb-register NAME INTERVAL_MS [persistent]`, `apphb-checkin NAME`,
//!   `apphb-unregister NAME`, `apphb-status` — application heartbeats ([`crate::apphb`]);
//!   a registration without `persistent` belongs to its connection, and closing the
//!   connection without unregistering reports the application as exited
//! - anything else → `{"error":"unknown request \"…\""}`
//!
//! The server thread is not real-time: it waits with `poll(2)` on the listener, the clients and
//! an eventfd the RT thread signals after pushing events into a lock-free ring. A subscriber
//! that cannot keep up (its socket buffer full) is disconnected, never waited for.

use crate::apphb::{self, AppEvent};
use crate::config::ApiAuth;
use crate::liveness::Event;
use crate::logging::{Level, Logger, Names};
use crate::sys::fd::EventFd;
use crate::sys::seqpacket::{poll_in, PeerCred, SeqPacket};
use crate::time::Nanos;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The socket's name inside the run directory.
pub const SOCKET_NAME: &str = "hbd.sock";
/// Capacity of the RT → IPC event ring.
pub const EVENT_RING: usize = 1024;
const MAX_CLIENTS: usize = 64;

/// Who may connect.
#[derive(Debug, Clone)]
pub struct AllowList {
    uids: Vec<u32>,
    gids: Vec<u32>,
}

impl AllowList {
    /// Root, our own euid, and every `apiauth` uid and gid.
    pub fn new(apiauth: &[ApiAuth]) -> AllowList {
        let mut uids = vec![0, crate::sys::fd::euid()];
        let mut gids = Vec::new();
        for a in apiauth {
            uids.extend(&a.uids);
            gids.extend(&a.gids);
        }
        AllowList { uids, gids }
    }
    /// Whether `c` may use the socket.
    pub fn allows(&self, c: &PeerCred) -> bool {
        self.uids.contains(&c.uid) || self.gids.contains(&c.gid)
    }
}

/// Escapes a string for JSON.
pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// An event as the JSON object the stream carries.
pub fn event_json(n: &Names, e: &Event) -> String {
    let peer = |i: u8| json_str(n.peers.get(usize::from(i)).map(String::as_str).unwrap_or("?"));
    let link = |i: u8| json_str(n.links.get(usize::from(i)).map(String::as_str).unwrap_or("?"));
    let ping = |i: u8| json_str(n.pings.get(usize::from(i)).map(String::as_str).unwrap_or("?"));
    match *e {
        Event::NodeUp { node, at, returning } => {
            format!("{{\"event\":\"node-up\",\"node\":{},\"at_ns\":{},\"returning\":{returning}}}", peer(node), at.0)
        }
        Event::NodeDead { node, at, silent } => {
            format!("{{\"event\":\"node-dead\",\"node\":{},\"at_ns\":{},\"silent_ns\":{}}}", peer(node), at.0, silent.0)
        }
        Event::NodeRestarted { node, at, generation } => {
            format!("{{\"event\":\"node-restarted\",\"node\":{},\"at_ns\":{},\"generation\":{generation}}}", peer(node), at.0)
        }
        Event::LinkUp { node, link: l, at } => {
            format!("{{\"event\":\"link-up\",\"node\":{},\"link\":{},\"at_ns\":{}}}", peer(node), link(l), at.0)
        }
        Event::LinkWarn { node, link: l, at, silent } => format!(
            "{{\"event\":\"link-warn\",\"node\":{},\"link\":{},\"at_ns\":{},\"silent_ns\":{}}}",
            peer(node),
            link(l),
            at.0,
            silent.0
        ),
        Event::LinkDead { node, link: l, at, silent } => format!(
            "{{\"event\":\"link-dead\",\"node\":{},\"link\":{},\"at_ns\":{},\"silent_ns\":{}}}",
            peer(node),
            link(l),
            at.0,
            silent.0
        ),
        Event::PingUp { node, at } => format!("{{\"event\":\"ping-up\",\"node\":{},\"at_ns\":{}}}", ping(node), at.0),
        Event::PingDead { node, at, silent } => {
            format!("{{\"event\":\"ping-dead\",\"node\":{},\"at_ns\":{},\"silent_ns\":{}}}", ping(node), at.0, silent.0)
        }
        Event::Stall { at, late } => format!("{{\"event\":\"stall\",\"at_ns\":{},\"late_ns\":{}}}", at.0, late.0),
    }
}

struct Conn {
    sock: SeqPacket,
    session: Session,
}

/// What the server knows about one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Session {
    /// Connection id (binds non-persistent application heartbeats to it).
    pub id: u64,
    /// It asked for the event stream.
    pub subscribed: bool,
}

/// State the IPC thread shares with the RT thread: written here, read (lock-free) there.
#[derive(Debug, Default)]
pub struct AppShared {
    /// Some application heartbeat has failed (missed, or its process exited).
    pub failed: AtomicBool,
    /// Last check-in of the application heartbeat named [`CRM_NAME`] (CLOCK_MONOTONIC ns; 0 =
    /// never).
    pub crm_last_seen: AtomicU64,
}

/// The application-heartbeat name the CRM registers under.
pub const CRM_NAME: &str = "hb-crmd";

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
}

fn app_event_json(e: &AppEvent, at: Nanos) -> String {
    match e {
        AppEvent::Registered { name, interval } => {
            format!("{{\"event\":\"{}\",\"name\":{},\"at_ns\":{},\"interval_ns\":{}}}", e.kind(), json_str(name), at.0, interval.0)
        }
        AppEvent::Missed { name, silent } => {
            format!("{{\"event\":\"{}\",\"name\":{},\"at_ns\":{},\"silent_ns\":{}}}", e.kind(), json_str(name), at.0, silent.0)
        }
        AppEvent::Recovered { name } | AppEvent::Exited { name } | AppEvent::Unregistered { name } => {
            format!("{{\"event\":\"{}\",\"name\":{},\"at_ns\":{}}}", e.kind(), json_str(name), at.0)
        }
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

/// Answers one request (bytes from a local client, decoded here: the `ipc_request` fuzz
/// target runs this). Application-heartbeat events it causes go to `out`.
pub fn handle_request(req: &str, c: &mut Session, apps: &mut apphb::Table, node: &str, now: Nanos, out: &mut Vec<AppEvent>) -> String {
    let err = |m: String| format!("{{\"error\":{}}}", json_str(&m));
    let w: Vec<&str> = req.split_whitespace().collect();
    match w.as_slice() {
        ["ping"] => format!("{{\"ok\":\"pong\",\"node\":{},\"pid\":{}}}", json_str(node), std::process::id()),
        ["subscribe"] => {
            c.subscribed = true;
            "{\"ok\":\"subscribed\"}".to_string()
        }
        ["apphb-register", name, ms, rest @ ..] => {
            let persistent = match rest {
                [] => false,
                ["persistent"] => true,
                _ => return err(format!("usage: apphb-register NAME INTERVAL_MS [persistent], not {req:?}")),
            };
            let Ok(ms) = ms.parse::<u64>() else { return err(format!("interval {ms:?} is not milliseconds")) };
            match apps.register(name, Nanos::from_millis(ms), (!persistent).then_some(c.id), now) {
                Ok(e) => {
                    out.push(e);
                    format!("{{\"ok\":\"registered\",\"name\":{},\"interval_ms\":{ms},\"persistent\":{persistent}}}", json_str(name))
                }
                Err(e) => err(e.to_string()),
            }
        }
        ["apphb-checkin", name] => match apps.checkin(name, now) {
            Ok(e) => {
                out.extend(e);
                "{\"ok\":\"checked-in\"}".to_string()
            }
            Err(e) => err(e.to_string()),
        },
        ["apphb-unregister", name] => match apps.unregister(name) {
            Ok(e) => {
                out.push(e);
                "{\"ok\":\"unregistered\"}".to_string()
            }
            Err(e) => err(e.to_string()),
        },
        ["apphb-status"] => {
            let list: Vec<String> = apps
                .apps()
                .iter()
                .map(|a| {
                    format!(
                        "{{\"name\":{},\"interval_ms\":{},\"last_checkin_ms_ago\":{:.3},\"checkins\":{},\"persistent\":{},\"state\":\"{}\"}}",
                        json_str(&a.name),
                        a.interval.as_millis(),
                        now.sub(a.last).as_millis_f64(),
                        a.checkins,
                        a.conn.is_none(),
                        if a.exited { "exited" } else if a.failed { "missed" } else { "ok" }
                    )
                })
                .collect();
            format!("{{\"ok\":\"apphb-status\",\"apps\":[{}]}}", list.join(","))
        }
        _ => err(format!("unknown request {req:?}")),
    }
}

/// Sends `msg` to every subscriber; drops subscribers that cannot keep up.
fn broadcast(clients: &mut Vec<Conn>, msg: &str, logger: &Logger) {
    clients.retain(|c| {
        if !c.session.subscribed {
            return true;
        }
        match c.sock.send(msg.as_bytes(), true) {
            Ok(()) => true,
            Err(e) => {
                logger.warn(&format!("IPC subscriber dropped: {e}"));
                false
            }
        }
    });
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
        let mut clients: Vec<Conn> = Vec::new();
        let mut apps = apphb::Table::default();
        let mut next_id = 0u64;
        let mut buf = [0u8; 4096];
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut app_events: Vec<AppEvent> = Vec::new();
        while !stop.load(Ordering::Acquire) {
            fds.clear();
            fds.push(libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            fds.push(libc::pollfd { fd: wake.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            for c in &clients {
                fds.push(libc::pollfd { fd: c.sock.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            }
            // Everything else that needs this thread arrives as an fd event (the RT loop's
            // events and stop come through `wake`): idle, it sleeps until the next app deadline.
            let poll_at = apps.poll_at();
            let timeout =
                if poll_at == Nanos::MAX { -1 } else { poll_at.sub(crate::time::now()).0.div_ceil(1_000_000).min(i32::MAX as u64) as i32 };
            if let Err(e) = poll_in(&mut fds, timeout) {
                ctx.logger.error(&format!("IPC poll failed: {e}"));
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            if fds[1].revents != 0 {
                wake.drain();
            }
            // Liveness events first: forward everything queued to every subscriber.
            while let Ok(ev) = events.pop() {
                broadcast(&mut clients, &event_json(&ctx.names, &ev), &ctx.logger);
            }
            let now = crate::time::now();
            // Requests from clients (the fds after the first two are the clients, in order).
            let mut gone = Vec::new();
            for (i, c) in clients.iter_mut().enumerate() {
                if fds[2 + i].revents == 0 {
                    continue;
                }
                match c.sock.recv(&mut buf, true) {
                    Ok(0) => gone.push(i),
                    Ok(n) => {
                        let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                        let reply = handle_request(req.trim(), &mut c.session, &mut apps, &ctx.node, now, &mut app_events);
                        if c.sock.send(reply.as_bytes(), true).is_err() {
                            gone.push(i);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => gone.push(i),
                }
            }
            for i in gone.into_iter().rev() {
                let c = clients.remove(i);
                apps.connection_closed(c.session.id, &mut |e| app_events.push(e));
            }
            apps.poll(now, &mut |e| app_events.push(e));
            for e in app_events.drain(..) {
                let (level, text) = app_event_log(&e);
                ctx.logger.log(level, &text);
                broadcast(&mut clients, &app_event_json(&e, now), &ctx.logger);
            }
            ctx.apps.failed.store(apps.any_failed(), Ordering::Relaxed);
            ctx.apps.crm_last_seen.store(apps.last_checkin(CRM_NAME).map_or(0, |t| t.0), Ordering::Relaxed);
            if fds[0].revents != 0 {
                while let Ok(sock) = listener.accept() {
                    let cred = sock.peer_cred();
                    match cred {
                        Ok(c) if ctx.allow.allows(&c) && clients.len() < MAX_CLIENTS => {
                            next_id += 1;
                            clients.push(Conn { sock, session: Session { id: next_id, subscribed: false } });
                        }
                        Ok(c) => {
                            let why = if clients.len() >= MAX_CLIENTS { "too many clients" } else { "permission denied" };
                            ctx.logger.warn(&format!("IPC: refused pid {} uid {} gid {}: {why}", c.pid, c.uid, c.gid));
                            let _ = sock.send(format!("{{\"error\":{}}}", json_str(why)).as_bytes(), true);
                        }
                        Err(e) => ctx.logger.warn(&format!("IPC: cannot read peer credentials: {e}")),
                    }
                }
            }
        }
    })
}

/// A client connection (hbctl, tests, the CRM later).
pub struct Client {
    sock: SeqPacket,
}

impl Client {
    /// Connects to hbd's socket in `run_dir`.
    pub fn connect(run_dir: &Path) -> io::Result<Client> {
        let sock = SeqPacket::connect(&run_dir.join(SOCKET_NAME))?;
        Ok(Client { sock })
    }

    /// Sends one request and returns the reply (waits up to 5 s).
    pub fn request(&self, req: &str) -> io::Result<String> {
        self.sock.send(req.as_bytes(), false)?;
        self.recv(5000)?.ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "no reply from hbd within 5 s"))
    }

    /// Subscribes to the event stream.
    pub fn subscribe(&self) -> io::Result<()> {
        let r = self.request("subscribe")?;
        if r.contains("\"ok\"") {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::PermissionDenied, r))
        }
    }

    /// The next message, waiting up to `timeout_ms`; `None` on timeout.
    pub fn recv(&self, timeout_ms: u64) -> io::Result<Option<String>> {
        self.sock.set_recv_timeout(timeout_ms.max(1))?;
        let mut buf = [0u8; 4096];
        match self.sock.recv(&mut buf, false) {
            Ok(0) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "hbd closed the connection")),
            Ok(n) => Ok(Some(String::from_utf8_lossy(&buf[..n]).into_owned())),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// An application's heartbeat registration (heartbeat's `apphb_register` / `apphb_hb` /
/// `apphb_unregister`). Bound to its connection: dropping it without [`Self::unregister`] —
/// as when the process dies — is reported as the application having exited.
pub struct AppHeartbeat {
    client: Client,
    name: String,
}

fn expect_ok(reply: String) -> io::Result<String> {
    if reply.starts_with("{\"ok\"") {
        Ok(reply)
    } else {
        Err(io::Error::other(reply))
    }
}

impl AppHeartbeat {
    /// Registers `name`, promising a check-in at least every `interval`.
    pub fn register(run_dir: &Path, name: &str, interval: Duration) -> io::Result<AppHeartbeat> {
        let client = Client::connect(run_dir)?;
        expect_ok(client.request(&format!("apphb-register {name} {}", interval.as_millis()))?)?;
        Ok(AppHeartbeat { client, name: name.into() })
    }
    /// Checks in.
    pub fn checkin(&self) -> io::Result<()> {
        expect_ok(self.client.request(&format!("apphb-checkin {}", self.name))?).map(drop)
    }
    /// Unregisters cleanly.
    pub fn unregister(self) -> io::Result<()> {
        expect_ok(self.client.request(&format!("apphb-unregister {}", self.name))?).map(drop)
    }
}

/// Sends one request on a fresh connection and returns the reply if it is an `ok`.
pub fn request_ok(run_dir: &Path, req: &str) -> io::Result<String> {
    expect_ok(Client::connect(run_dir)?.request(req)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Nanos;

    #[test]
    fn events_as_json() {
        let n = Names { peers: vec!["b\"x".into()], links: vec!["ucast eth0".into()], ..Default::default() };
        assert_eq!(
            event_json(&n, &Event::NodeDead { node: 0, at: Nanos(5), silent: Nanos(7) }),
            r#"{"event":"node-dead","node":"b\"x","at_ns":5,"silent_ns":7}"#
        );
        assert_eq!(
            event_json(&n, &Event::LinkUp { node: 0, link: 0, at: Nanos(1) }),
            r#"{"event":"link-up","node":"b\"x","link":"ucast eth0","at_ns":1}"#
        );
    }

    /// Found by the `ipc_request` fuzz target: a huge interval overflowed the conversion to
    /// nanoseconds (a panic in debug builds, a wrapped, bogus interval in release).
    #[test]
    fn ipc_register_with_a_huge_interval_is_refused() {
        let mut apps = apphb::Table::default();
        let mut s = Session { id: 1, subscribed: false };
        let mut out = Vec::new();
        let r = handle_request("apphb-register x 99999999999999999", &mut s, &mut apps, "a", Nanos(1), &mut out);
        assert_eq!(r, r#"{"error":"interval must be 10ms to 24h"}"#);
        assert!(apps.apps().is_empty() && out.is_empty());
    }

    #[test]
    fn allow_list() {
        let a = AllowList::new(&[ApiAuth { client: "x".into(), uids: vec![1000], gids: vec![50] }]);
        assert!(a.allows(&PeerCred { pid: 1, uid: 0, gid: 0 }));
        assert!(a.allows(&PeerCred { pid: 1, uid: 1000, gid: 1 }));
        assert!(a.allows(&PeerCred { pid: 1, uid: 4242, gid: 50 }));
        assert!(!a.allows(&PeerCred { pid: 1, uid: 4242, gid: 4242 }) || crate::sys::fd::euid() == 4242);
    }
}
