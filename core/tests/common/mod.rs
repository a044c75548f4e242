//! What the integration tests share: a real `hbd` process as a test node, read through its
//! status page, log and IPC event stream.

#![allow(dead_code)] // each test binary uses a different part

use hb_core::ipc::proto::Event;
use hb_core::ipc::Client;
use hb_core::liveness::NodeState;
use hb_core::status::{Snapshot, StatusReader};
use hb_hwtest::{wait_for, Netns, Proc};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The test clusters' `authkeys`.
pub const KEYS: &str = "auth 1\n1 sha256 cluster-test-secret\n";

/// One `hbd` under test.
pub struct Node {
    /// Its node name.
    pub name: &'static str,
    /// Its run directory (status page, IPC socket).
    pub run: PathBuf,
    /// The process (SIGKILLed on drop).
    pub proc: Proc,
    /// Its standard error.
    pub log: PathBuf,
}

impl Node {
    /// Starts `name` with `hacf` inside `ns`.
    pub fn start(ns: &Netns, dir: &Path, name: &'static str, hacf: &str, backend: &str) -> Node {
        Node::spawn(Some(ns), dir, name, hacf, backend, |_| {})
    }

    /// Starts `name` with `hacf` in this host's own network namespace (serial-only nodes).
    pub fn start_on_host(dir: &Path, name: &'static str, hacf: &str, backend: &str) -> Node {
        Node::spawn(None, dir, name, hacf, backend, |_| {})
    }

    /// [`Node::start`] with a last change to the command.
    pub fn start_with(
        ns: &Netns,
        dir: &Path,
        name: &'static str,
        hacf: &str,
        backend: &str,
        tweak: impl FnOnce(&mut std::process::Command),
    ) -> Node {
        Node::spawn(Some(ns), dir, name, hacf, backend, tweak)
    }

    /// [`Node::start`] with another `authkeys`.
    pub fn start_with_keys(ns: &Netns, dir: &Path, name: &'static str, hacf: &str, keys: &str) -> Node {
        Node::spawn_with_keys(Some(ns), dir, name, hacf, "auto", keys, |_| {})
    }

    fn spawn(
        ns: Option<&Netns>,
        dir: &Path,
        name: &'static str,
        hacf: &str,
        backend: &str,
        tweak: impl FnOnce(&mut std::process::Command),
    ) -> Node {
        Node::spawn_with_keys(ns, dir, name, hacf, backend, KEYS, tweak)
    }

    fn spawn_with_keys(
        ns: Option<&Netns>,
        dir: &Path,
        name: &'static str,
        hacf: &str,
        backend: &str,
        keys: &str,
        tweak: impl FnOnce(&mut std::process::Command),
    ) -> Node {
        let cfg = dir.join(name);
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(cfg.join("ha.cf"), hacf).unwrap();
        std::fs::write(cfg.join("authkeys"), keys).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(cfg.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
        let run = cfg.join("run");
        let log = cfg.join("hbd.log");
        let exe = env!("CARGO_BIN_EXE_hbd");
        let mut cmd = match ns {
            Some(ns) => ns.command(exe),
            None => std::process::Command::new(exe),
        };
        cmd.args([
            "-c",
            cfg.to_str().unwrap(),
            "-n",
            name,
            "-r",
            run.to_str().unwrap(),
            "-s",
            cfg.join("state").to_str().unwrap(),
            "--backend",
            backend,
        ]);
        cmd.stderr(std::fs::File::create(&log).unwrap());
        tweak(&mut cmd);
        Node { name, run, proc: Proc::spawn(cmd), log }
    }

    /// The status page now, if hbd has created it.
    pub fn snapshot(&self) -> Option<Snapshot> {
        StatusReader::open(&self.run).ok().and_then(|r| r.snapshot().ok())
    }

    /// What this node thinks of `peer`.
    pub fn peer_state(&self, peer: &str) -> Option<NodeState> {
        self.snapshot()?.node(peer).map(|n| n.state)
    }

    /// Waits until this node sees `peer` in state `want`; panics with the log otherwise.
    pub fn wait_peer(&self, peer: &str, want: NodeState, within: Duration) {
        if wait_for(within, || (self.peer_state(peer) == Some(want)).then_some(())).is_none() {
            panic!(
                "{} did not see {peer} {want:?} within {within:?} (state {:?})\nlog:\n{}",
                self.name,
                self.peer_state(peer),
                self.log_text()
            );
        }
    }

    /// Its standard error so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A subscribed IPC client.
    pub fn subscribe(&self) -> Client {
        let mut c = wait_for(Duration::from_secs(5), || Client::connect(&self.run).ok()).expect("IPC socket");
        c.subscribe().unwrap();
        c
    }
}

/// Waits for an event that `want` picks, and returns it.
pub fn wait_event(c: &mut Client, within: Duration, want: impl Fn(&Event) -> bool) -> Option<Event> {
    let end = std::time::Instant::now() + within;
    while std::time::Instant::now() < end {
        if let Ok(Some(m)) = c.next_event(Duration::from_millis(100)) {
            if want(&m.event) {
                return Some(m.event);
            }
        }
    }
    None
}

/// Waits for a `node-dead` event about `peer` and returns its time.
pub fn wait_dead_event(c: &mut Client, peer: &str, within: Duration) -> Option<u64> {
    match wait_event(c, within, |e| matches!(e, Event::NodeDead { node, .. } if node == peer))? {
        Event::NodeDead { at_ns, .. } => Some(at_ns.0),
        _ => None,
    }
}
