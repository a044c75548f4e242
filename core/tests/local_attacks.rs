//! Attacks by another local user, made as one: each test plants, forges or connects as the
//! unprivileged [`hb_hwtest::ATTACKER`] (a thread with its credentials) against a real `hbd`,
//! and checks that hbd refuses or survives with a clear message and loses nothing.
//! Issue 13's findings, one test each; they need root (to switch user), so CI runs them.

// Tests keep time with std (core/clippy.toml forbids it in hbd itself).
#![allow(clippy::disallowed_methods)]

mod common;

use common::Node;
use hb_core::status::{StatusError, StatusReader};
use hb_hwtest::{as_attacker, require_root, wait_for, TempDir, ATTACKER};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A node on loopback, with a run directory on this disk (so its page goes to /dev/shm).
fn hacf() -> String {
    let port = hb_hwtest::free_udp_port();
    format!("keepalive 100ms\ndeadtime 1\ninitdead 2\nudpport {port}\nbind 127.0.0.1\nucast lo 127.0.0.2\nnode a b\nrealtime off\n")
}

/// Waits for `n`'s own page (not one a killed predecessor left).
fn wait_page(n: &Node) {
    if wait_for(Duration::from_secs(10), || n.snapshot().filter(|s| s.pid == n.proc.pid())).is_none() {
        panic!("no status page\n{}", n.log_text());
    }
}

/// A directory every user may create in (mode 1777), like /tmp.
fn shared_dir(root: &Path) -> PathBuf {
    let d = root.join("shared");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o1777)).unwrap();
    d
}

fn precious(root: &Path) -> PathBuf {
    let victim = root.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    victim
}

fn assert_untouched(victim: &Path) {
    assert_eq!(std::fs::read_to_string(victim).unwrap(), "precious", "the victim file was overwritten");
    let m = std::fs::metadata(victim).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid()), (0o600, 0), "the victim file's mode or owner changed");
}

#[test]
fn a_status_page_planted_in_dev_shm_is_left_alone() {
    if !require_root("a_status_page_planted_in_dev_shm_is_left_alone") {
        return;
    }
    let dir = TempDir::new("hb-plant");
    let run = dir.path.join("a").join("run");
    let shm = hb_core::status::shm_page_name(&run);
    let _ = std::fs::remove_file(&shm);
    let victim = precious(&dir.path);

    // 1. A symlink at the page's name, pointing at a file only root may write.
    as_attacker(|| std::os::unix::fs::symlink(&victim, &shm).unwrap());
    let a = Node::start_on_host(&dir.path, "a", &hacf(), "auto");
    wait_page(&a);
    assert_untouched(&victim);
    assert!(a.log_text().contains("planted by someone else"), "no warning about the plant:\n{}", a.log_text());
    let target = std::fs::read_link(run.join("status")).unwrap();
    assert_ne!(target, shm, "the page went to the planted name");
    assert!(std::fs::symlink_metadata(&shm).unwrap().file_type().is_symlink(), "the plant was not left alone");
    drop(a);
    std::fs::remove_file(&shm).unwrap();

    // 2. A file of the attacker's own, world-writable, at the page's name: if hbd mapped it,
    //    the attacker could forge the page or truncate it under hbd (SIGBUS).
    as_attacker(|| {
        std::fs::write(&shm, vec![0u8; 4096]).unwrap();
        std::fs::set_permissions(&shm, std::fs::Permissions::from_mode(0o666)).unwrap();
    });
    let mut a = Node::start_on_host(&dir.path, "a", &hacf(), "auto");
    wait_page(&a);
    as_attacker(|| std::fs::OpenOptions::new().write(true).open(&shm).unwrap().set_len(0).unwrap());
    std::thread::sleep(Duration::from_millis(500));
    assert!(a.proc.alive(), "hbd died after the attacker truncated a file:\n{}", a.log_text());
    assert!(a.snapshot().is_some_and(|s| s.writer_alive()), "the page is no longer readable");
    let pid = a.proc.pid();
    drop(a);
    std::fs::remove_file(&shm).unwrap();

    // 3. A page of our own left by a killed hbd is replaced, at the usual name, silently.
    let a = Node::start_on_host(&dir.path, "a", &hacf(), "auto");
    wait_page(&a);
    drop(a);
    assert!(shm.exists(), "the killed hbd's page");
    let a = Node::start_on_host(&dir.path, "a", &hacf(), "auto");
    wait_page(&a);
    assert_eq!(std::fs::read_link(run.join("status")).unwrap(), shm);
    assert!(!a.log_text().contains("planted"), "{}", a.log_text());
    assert_ne!(a.snapshot().unwrap().pid, pid);
}

#[test]
fn a_page_left_mid_update_gives_a_clear_error_not_a_spinning_reader() {
    if !require_root("a_page_left_mid_update_gives_a_clear_error_not_a_spinning_reader") {
        return;
    }
    let dir = TempDir::new("hb-torn");
    let a = Node::start_on_host(&dir.path, "a", &hacf(), "auto");
    wait_page(&a);
    let mut page = std::fs::read(a.run.join("status")).unwrap();
    // The sequence counter is the page's fourth word; odd means "mid-update".
    page[24..32].copy_from_slice(&7u64.to_le_bytes());
    let shared = shared_dir(&dir.path);
    let evil = shared.join("run");
    let forged = evil.join("status");
    as_attacker(|| {
        std::fs::create_dir(&evil).unwrap();
        std::fs::write(&forged, &page).unwrap();
        let started = Instant::now();
        let r = StatusReader::open(&evil).expect("a page in the attacker's own run directory opens");
        match r.snapshot() {
            Err(StatusError::Torn { seq: 7, .. }) => {}
            other => panic!("expected a torn-page error, got {:?}", other.map(|s| s.pid)),
        }
        assert!(started.elapsed() < Duration::from_secs(5), "the reader took {:?}", started.elapsed());
    });
    // Root's reader refuses a page in a root-owned run directory that another user owns.
    let root_run = dir.path.join("rootrun");
    std::fs::create_dir(&root_run).unwrap();
    std::os::unix::fs::symlink(&forged, root_run.join("status")).unwrap();
    match StatusReader::open(&root_run) {
        Err(StatusError::Owner { owner, .. }) => assert_eq!(owner, ATTACKER.0),
        other => panic!("expected an owner error, got {:?}", other.map(|_| ())),
    }
}

fn check_config(cfg: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hbd")).args(["--check-config", "-c", cfg.to_str().unwrap(), "-n", "a"]).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn authkeys_of_another_user_or_a_fifo_is_refused_at_once() {
    if !require_root("authkeys_of_another_user_or_a_fifo_is_refused_at_once") {
        return;
    }
    let dir = TempDir::new("hb-keys");
    let cfg = shared_dir(&dir.path);
    std::fs::write(cfg.join("ha.cf"), hacf()).unwrap();
    as_attacker(|| {
        std::fs::write(cfg.join("authkeys"), common::KEYS).unwrap();
        std::fs::set_permissions(cfg.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    });
    let (code, err) = check_config(&cfg);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains(&format!("owned by uid {}", ATTACKER.0)), "{err}");

    std::fs::remove_file(cfg.join("authkeys")).unwrap();
    as_attacker(|| nix::unistd::mkfifo(&cfg.join("authkeys"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap());
    let started = Instant::now();
    let (code, err) = check_config(&cfg);
    assert!(started.elapsed() < Duration::from_secs(10), "--check-config hung on a FIFO");
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("not a regular file (it is a FIFO)"), "{err}");
}

#[test]
fn a_symlinked_logfile_is_not_followed() {
    if !require_root("a_symlinked_logfile_is_not_followed") {
        return;
    }
    let dir = TempDir::new("hb-logplant");
    let logs = shared_dir(&dir.path);
    let victim = precious(&dir.path);
    let logfile = logs.join("hb.log");
    as_attacker(|| std::os::unix::fs::symlink(&victim, &logfile).unwrap());
    let a = Node::start_on_host(&dir.path, "a", &format!("logfile {}\n{}", logfile.display(), hacf()), "auto");
    wait_page(&a);
    assert!(a.log_text().contains("symbolic link"), "no warning about the logfile:\n{}", a.log_text());
    assert_untouched(&victim);
}

#[test]
fn a_run_directory_other_users_can_write_is_refused() {
    if !require_root("a_run_directory_other_users_can_write_is_refused") {
        return;
    }
    let dir = TempDir::new("hb-rundir");
    let cfg = dir.path.join("a");
    std::fs::create_dir_all(cfg.join("run")).unwrap();
    std::fs::set_permissions(cfg.join("run"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let mut a = Node::start_on_host(&dir.path, "a", &hacf(), "auto");
    let status = a.proc.wait_exit(Duration::from_secs(10));
    assert_eq!(status.and_then(|s| s.code()), Some(71), "{}", a.log_text());
    assert!(a.log_text().contains("lets other users change it"), "{}", a.log_text());
}

// ---- the IPC socket ----------------------------------------------------------------------

use hb_core::ipc::proto::{AppState, ErrorCode, Event, Reply, Request};
use hb_core::ipc::{AppHeartbeat, Client, ClientError};
use hb_hwtest::as_user;

fn refused_with(r: Result<Reply, ClientError>, want: ErrorCode) {
    match r {
        Err(ClientError::Refused { code, .. }) if code == want => {}
        other => panic!("expected a {want:?} refusal, got {other:?}"),
    }
}

fn start_with_apiauth(dir: &Path, apiauth: &str) -> Node {
    let a = Node::start_on_host(dir, "a", &format!("{apiauth}\n{}", hacf()), "auto");
    wait_page(&a);
    // The socket comes up just after the page.
    wait_for(Duration::from_secs(10), || Client::connect(&a.run).ok()).unwrap_or_else(|| panic!("no IPC socket\n{}", a.log_text()));
    a
}

#[test]
fn another_users_application_heartbeat_cannot_be_checked_in_or_unregistered() {
    if !require_root("another_users_application_heartbeat_cannot_be_checked_in_or_unregistered") {
        return;
    }
    let dir = TempDir::new("hb-apphb-steal");
    let a = start_with_apiauth(&dir.path, &format!("apiauth evil uid={}", ATTACKER.0));
    let mut crm = AppHeartbeat::register(&a.run, "hb-crmd", Duration::from_secs(60)).unwrap();
    let mut root = Client::connect(&a.run).unwrap();
    root.call(&Request::ApphbRegister { name: "nightly".into(), interval_ms: 60_000, persistent: true }).unwrap();
    as_attacker(|| {
        let mut c = Client::connect(&a.run).expect("apiauth lets the attacker connect");
        for name in ["hb-crmd", "nightly"] {
            refused_with(c.call(&Request::ApphbCheckin { name: name.into() }), ErrorCode::NotOwner);
            refused_with(c.call(&Request::ApphbUnregister { name: name.into() }), ErrorCode::NotOwner);
        }
        refused_with(
            c.call(&Request::ApphbRegister { name: "hb-crmd2".into(), interval_ms: 100, persistent: true }),
            ErrorCode::ReservedName,
        );
    });
    // Another connection of root's is not the CRM's connection either.
    refused_with(root.call(&Request::ApphbCheckin { name: "hb-crmd".into() }), ErrorCode::NotOwner);
    crm.checkin().unwrap();
    match root.call(&Request::ApphbStatus).unwrap() {
        Reply::ApphbStatus { apps } => {
            assert_eq!(apps.len(), 2, "{apps:?}");
            assert!(apps.iter().all(|x| x.state == AppState::Ok && x.owner_uid == 0), "{apps:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn connection_exhaustion_by_other_users_never_locks_out_root() {
    if !require_root("connection_exhaustion_by_other_users_never_locks_out_root") {
        return;
    }
    use hb_core::ipc::server::{MAX_CLIENTS, MAX_PER_UID};
    let dir = TempDir::new("hb-exhaust");
    let users: Vec<u32> = (0..=(MAX_CLIENTS / MAX_PER_UID) as u32).map(|i| ATTACKER.0 + i).collect();
    let list: Vec<String> = users.iter().map(u32::to_string).collect();
    let a = start_with_apiauth(&dir.path, &format!("apiauth evil uid={}", list.join(",")));
    let mut held = Vec::new();
    let mut refusals = Vec::new();
    for uid in &users {
        as_user(*uid, *uid, || {
            for _ in 0..MAX_PER_UID + 4 {
                match Client::connect(&a.run) {
                    Ok(c) => held.push(c),
                    Err(ClientError::Refused { code: ErrorCode::TooManyClients, message }) => refusals.push(message),
                    Err(e) => panic!("uid {uid}: expected a clear refusal, got {e:?}"),
                }
            }
        });
    }
    assert_eq!(held.len(), MAX_CLIENTS, "other users hold at most MAX_CLIENTS connections");
    assert!(refusals.iter().any(|m| m.contains(&format!("uid {} already has {MAX_PER_UID}", ATTACKER.0))), "{refusals:?}");
    assert!(refusals.iter().any(|m| m.contains("connections of other users are open")), "{refusals:?}");
    // Root still gets through, every time.
    for _ in 0..5 {
        let mut c = Client::connect(&a.run).expect("root is never locked out");
        assert!(matches!(c.call(&Request::Ping).unwrap(), Reply::Pong { .. }));
    }
    drop(held);
}

#[test]
fn apiauth_opens_the_socket_to_the_listed_group_only() {
    if !require_root("apiauth_opens_the_socket_to_the_listed_group_only") {
        return;
    }
    let dir = TempDir::new("hb-apiauth");
    let a = start_with_apiauth(&dir.path, &format!("apiauth monitor gid={}", ATTACKER.1));
    let m = std::fs::metadata(a.run.join(hb_core::ipc::SOCKET_NAME)).unwrap();
    assert_eq!((m.mode() & 0o777, m.gid()), (0o660, ATTACKER.1), "socket mode and group");
    as_attacker(|| {
        let mut c = Client::connect(&a.run).expect("a member of the apiauth group connects");
        assert!(matches!(c.call(&Request::Ping).unwrap(), Reply::Pong { .. }));
        assert!(matches!(c.call(&Request::Snapshot).unwrap(), Reply::Snapshot { .. }));
    });
    as_user(ATTACKER.0 + 100, ATTACKER.0 + 100, || match Client::connect(&a.run) {
        Err(ClientError::Connect { source, .. }) => assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied),
        other => panic!("a user outside the group reached hbd: {:?}", other.map(|c| c.hbd_pid)),
    });
}

#[test]
fn floods_of_refused_connections_and_apphb_events_are_logged_at_a_limited_rate() {
    if !require_root("floods_of_refused_connections_and_apphb_events_are_logged_at_a_limited_rate") {
        return;
    }
    use hb_core::ipc::server::RateLimit;
    let dir = TempDir::new("hb-logflood");
    // A listed uid makes the socket world-connectable; other users are refused by credentials.
    let a = start_with_apiauth(&dir.path, &format!("apiauth evil uid={}", ATTACKER.0));
    let outsider = ATTACKER.0 + 7;
    as_user(outsider, outsider, || {
        for _ in 0..500 {
            match Client::connect(&a.run) {
                Err(ClientError::Refused { code: ErrorCode::PermissionDenied, .. }) => {}
                other => panic!("expected a permission refusal, got {:?}", other.map(|c| c.hbd_pid)),
            }
        }
    });
    as_attacker(|| {
        let mut c = Client::connect(&a.run).unwrap();
        for i in 0..500 {
            let name = format!("churn{}", i % 3);
            c.call(&Request::ApphbRegister { name: name.clone(), interval_ms: 60_000, persistent: true }).unwrap();
            c.call(&Request::ApphbUnregister { name }).unwrap();
        }
    });
    let mut root = Client::connect(&a.run).unwrap();
    root.call(&Request::Ping).unwrap();
    let log = a.log_text();
    let refused = log.lines().filter(|l| l.contains("IPC: refused")).count();
    let apphb = log.lines().filter(|l| l.contains("application heartbeat")).count();
    let bound = RateLimit::PER_WINDOW as usize * 2; // the test may straddle one window
    assert!(refused > 0 && refused <= bound, "{refused} refusal lines for 500 refusals");
    assert!(apphb > 0 && apphb <= bound, "{apphb} application-heartbeat lines for 1000 events");
}

#[test]
fn a_subscriber_that_falls_behind_sees_the_gap_and_resynchronises() {
    if !require_root("a_subscriber_that_falls_behind_sees_the_gap_and_resynchronises") {
        return;
    }
    use hb_core::ipc::server::CONN_QUEUE;
    let dir = TempDir::new("hb-slow-subscriber");
    let a = start_with_apiauth(&dir.path, "");
    let mut slow = Client::connect(&a.run).unwrap();
    let start = slow.subscribe().unwrap();
    // Far more events than the socket and hbd's queue for this subscriber hold, while it
    // reads nothing.
    let mut busy = Client::connect(&a.run).unwrap();
    let pairs = 2 * CONN_QUEUE;
    for i in 0..pairs {
        let name = format!("churn{}", i % 5);
        busy.call(&Request::ApphbRegister { name: name.clone(), interval_ms: 60_000, persistent: true }).unwrap();
        busy.call(&Request::ApphbUnregister { name }).unwrap();
    }
    // Reading now: the sequence has no hole except where a `missed` notice stands for it.
    let mut expect = start + 1;
    let mut missed = 0;
    let mut last = start;
    while let Some(m) = slow.next_event(Duration::from_millis(500)).unwrap() {
        match m.event {
            Event::Missed { first_seq, count } => {
                assert_eq!((first_seq, m.seq), (expect, first_seq + count - 1), "a missed notice covers the hole exactly");
                missed += count;
            }
            _ => assert_eq!(m.seq, expect, "no silent gap"),
        }
        expect = m.seq + 1;
        last = m.seq;
    }
    assert!(missed > 0, "the subscriber was told it missed events");
    assert_eq!(last, start + 2 * pairs as u64, "every event is accounted for");
    // Resynchronise: the snapshot says which event it reflects, and the stream goes on.
    match slow.call(&Request::Snapshot).unwrap() {
        Reply::Snapshot { seq, status, apps } => {
            assert_eq!(seq, last);
            assert_eq!(status.self_name, "a");
            assert!(apps.is_empty(), "every churned registration was unregistered: {apps:?}");
        }
        other => panic!("{other:?}"),
    }
    busy.call(&Request::ApphbRegister { name: "after".into(), interval_ms: 60_000, persistent: true }).unwrap();
    let next = slow.next_event(Duration::from_secs(5)).unwrap().expect("the stream goes on");
    assert_eq!(next.seq, last + 1);
    assert!(matches!(next.event, Event::ApphbRegistered { ref name, .. } if name == "after"), "{next:?}");
}

/// Any local client may send garbage: every request of the protocol and a set of malformed
/// ones go over a raw seqpacket socket; each gets one typed reply, and hbd keeps running.
#[test]
fn every_request_and_malformed_ones_over_the_socket_get_typed_replies() {
    if !require_root("every_request_and_malformed_ones_over_the_socket_get_typed_replies") {
        return;
    }
    use hb_core::ipc::proto::{decode_server, encode, ServerMessage};
    use nix::sys::socket::{connect, recv, send, socket, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};
    use std::os::fd::AsRawFd;
    let dir = TempDir::new("hb-malformed");
    let mut a = start_with_apiauth(&dir.path, "");
    let fd = socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None).unwrap();
    connect(fd.as_raw_fd(), &UnixAddr::new(&a.run.join(hb_core::ipc::SOCKET_NAME)).unwrap()).unwrap();
    let ask = |bytes: &[u8]| -> Reply {
        send(fd.as_raw_fd(), bytes, MsgFlags::empty()).unwrap();
        let mut buf = vec![0u8; 1 << 18];
        let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).unwrap();
        match decode_server(&buf[..n]) {
            Ok(ServerMessage::Reply(r)) => r,
            other => panic!("{:?} got {other:?}", String::from_utf8_lossy(bytes)),
        }
    };
    let every = [
        Request::Hello { version: 1, client: Some("raw".into()) },
        Request::Ping,
        Request::Snapshot,
        Request::ApphbRegister { name: "x".into(), interval_ms: 1000, persistent: true },
        Request::ApphbCheckin { name: "x".into() },
        Request::ApphbStatus,
        Request::ApphbUnregister { name: "x".into() },
        Request::Subscribe,
    ];
    for r in &every {
        assert!(!matches!(ask(&encode(r)), Reply::Error { .. } | Reply::Unknown), "{r:?}");
    }
    let long = vec![b'{'; 5000];
    let malformed: [&[u8]; 7] = [
        b"ping",
        b"\x00\xff\xfe",
        br#"{"op":"frob"}"#,
        br#"{"op":"apphb-register","name":"y"}"#,
        br#"{"op":"apphb-register","name":"y","interval_ms":-5}"#,
        br#"[{"op":"ping"}]"#,
        &long,
    ];
    for m in malformed {
        match ask(m) {
            Reply::Error { code: ErrorCode::BadRequest | ErrorCode::UnknownRequest, .. } => {}
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(&m[..m.len().min(40)])),
        }
    }
    assert!(matches!(ask(&encode(&Request::Ping)), Reply::Pong { .. }));
    // An empty message reads as end-of-file on a seqpacket socket: hbd closes that connection
    // (documented in docs/ipc.md), and nothing else.
    send(fd.as_raw_fd(), b"", MsgFlags::empty()).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).unwrap_or(0), 0, "closed");
    assert!(a.proc.alive(), "{}", a.log_text());
    let mut c = Client::connect(&a.run).unwrap();
    assert!(matches!(c.call(&Request::Ping).unwrap(), Reply::Pong { .. }));
}
