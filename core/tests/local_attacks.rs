//! Attacks by another local user, made as one: each test plants, forges or connects as the
//! unprivileged [`hb_hwtest::ATTACKER`] (a thread with its credentials) against a real `hbd`,
//! and checks that hbd refuses or survives with a clear message and loses nothing.
//! Issue 13's findings, one test each; they need root (to switch user), so CI runs them.

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
