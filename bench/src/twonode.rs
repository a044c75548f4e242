//! A two-node hb cluster on this machine, shared by `hb-demo` and `hb-bench`.
//!
//! As root the nodes `a` and `b` live in two network namespaces joined by veth (ucast over
//! 10.77.0.0/24); otherwise, or with `loopback`, they share loopback as 127.0.0.1 and
//! 127.0.0.2. [`Media`] picks the links: ucast, raw Ethernet over the veth pair, and hb-hwtest's
//! null-modem cable emulator, in any combination. Both get the same fresh key. Processes are killed,
//! the cable unplugged and namespaces removed on drop.

use hb_core::ipc::proto::Event;
use hb_core::ipc::Client;
use hb_core::liveness::NodeState;
use hb_core::status::StatusReader;
use hb_core::time::{self, Nanos};
use hb_hwtest::{is_root, wait_for, Pair, Proc, TempDir, A4, B4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Which links join the two nodes: any of ucast, bcast, mcast, raw Ethernet (the last three
/// in namespaces only) and a serial cable (the null-modem emulator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Media {
    /// UDP unicast (veth as root, loopback otherwise).
    pub ucast: bool,
    /// UDP broadcast over the veth pair (root only).
    pub bcast: bool,
    /// UDP multicast to [`MCAST_GROUP`] over the veth pair (root only).
    pub mcast: bool,
    /// hb's raw Ethernet over the veth pair (root only).
    pub raw: bool,
    /// A null-modem serial cable at this baud.
    pub serial: Option<u32>,
}

impl Media {
    /// UDP unicast only, the default.
    pub const UCAST: Media = Media { ucast: true, bcast: false, mcast: false, raw: false, serial: None };

    /// Parses `+`-joined link kinds, e.g. `ucast`, `serial`, `ucast+raw+serial` (serial at
    /// `baud`).
    pub fn parse(s: &str, baud: u32) -> Option<Media> {
        let mut m = Media::default();
        for part in s.split('+') {
            match part {
                "ucast" => m.ucast = true,
                "bcast" => m.bcast = true,
                "mcast" => m.mcast = true,
                "raw" => m.raw = true,
                "serial" => m.serial = Some(baud),
                _ => return None,
            }
        }
        Some(m)
    }
    /// The name `parse` reads.
    pub fn name(self) -> String {
        let mut v = Vec::new();
        if self.ucast {
            v.push("ucast");
        }
        if self.bcast {
            v.push("bcast");
        }
        if self.mcast {
            v.push("mcast");
        }
        if self.raw {
            v.push("raw");
        }
        if self.serial.is_some() {
            v.push("serial");
        }
        v.join("+")
    }
}

/// How to build the cluster.
#[derive(Debug, Clone)]
pub struct Settings {
    /// keepalive, ms.
    pub keepalive_ms: u64,
    /// deadtime, ms.
    pub deadtime_ms: u64,
    /// `rx_wakeup` value.
    pub rx_wakeup: String,
    /// `--backend` value.
    pub backend: String,
    /// Use loopback even as root.
    pub loopback: bool,
    /// The links.
    pub media: Media,
    /// A watchdog device for node `a` (hbd runs with `--watchdog-test-mode`, so it may be
    /// hb-hwtest's emulator), petted every `watchdog_interval 100ms`, timeout 1 s.
    pub watchdog_a: Option<PathBuf>,
    /// More `ha.cf` lines for node `a` (e.g. its STONITH devices).
    pub extra_a: String,
}

/// The multicast group of the `mcast` medium.
pub const MCAST_GROUP: &str = "239.77.0.1";
/// The UDP port of every IP medium in the namespace topology.
pub const PORT: u16 = 694;

impl Settings {
    /// The warntime the cluster runs with: three fifths of deadtime, at least keepalive.
    pub fn warntime_ms(&self) -> u64 {
        (self.deadtime_ms * 3 / 5).max(self.keepalive_ms)
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            keepalive_ms: 10,
            deadtime_ms: 50,
            rx_wakeup: "auto".into(),
            backend: "auto".into(),
            loopback: false,
            media: Media::UCAST,
            watchdog_a: None,
            extra_a: String::new(),
        }
    }
}

struct Node {
    name: &'static str,
    cfg: PathBuf,
    run: PathBuf,
    proc: Option<Proc>,
}

/// The running (or startable) pair.
pub struct TwoNodes {
    pair: Option<Pair>,
    a: Node,
    b: Node,
    hbd: PathBuf,
    hbctl: PathBuf,
    backend: String,
    watchdog_test_mode: bool,
    /// What the topology is, for reports.
    pub description: String,
    /// The serial cable, when there is one.
    pub cable: Option<hb_hwtest::nullmodem::NullModem>,
    /// Configs and logs (declared last: removed after the processes are gone).
    pub dir: TempDir,
}

/// `hbd` and `hbctl` from the directory `HB_BIN_DIR` names, else next to the running
/// executable (or one directory up, for examples and tests).
pub fn sibling_binaries() -> Result<(PathBuf, PathBuf), String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut dir = match std::env::var_os("HB_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => me.parent().ok_or("no executable directory")?.to_path_buf(),
    };
    if std::env::var_os("HB_BIN_DIR").is_none() && !dir.join("hbd").exists() {
        if let Some(up) = dir.parent() {
            dir = up.to_path_buf();
        }
    }
    let (hbd, hbctl) = (dir.join("hbd"), dir.join("hbctl"));
    if !hbd.exists() || !hbctl.exists() {
        return Err(format!("{} and {} must be built (cargo build --release --bins)", hbd.display(), hbctl.display()));
    }
    Ok((hbd, hbctl))
}

fn write_node(dir: &Path, name: &'static str, hacf: String, keys: &str) -> Node {
    let cfg = dir.join(name);
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("ha.cf"), hacf).unwrap();
    std::fs::write(cfg.join("authkeys"), keys).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(cfg.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    Node { name, run: cfg.join("run"), cfg, proc: None }
}

impl TwoNodes {
    /// Builds the topology and writes both configurations (nothing started yet).
    pub fn create(s: &Settings) -> Result<TwoNodes, String> {
        let (hbd, hbctl) = sibling_binaries()?;
        let dir = TempDir::new("hb-two");
        let root = is_root() && !s.loopback;
        let timing = format!(
            "keepalive {}ms\nwarntime {}ms\ndeadtime {}ms\ninitdead 10\nrx_wakeup {}\n",
            s.keepalive_ms,
            s.warntime_ms(),
            s.deadtime_ms,
            s.rx_wakeup
        );
        let keys = hb_core::auth::generate_authkeys().map_err(|e| e.to_string())?;
        let cable = s.media.serial.map(hb_hwtest::nullmodem::NullModem::new);
        let serial = |end: PathBuf| cable.as_ref().map_or(String::new(), |c| format!("baud {}\nserial {}\n", c.baud(), end.display()));
        let (a_serial, b_serial) = cable.as_ref().map_or((String::new(), String::new()), |c| (serial(c.end_a()), serial(c.end_b())));
        let watchdog = s
            .watchdog_a
            .as_ref()
            .map_or(String::new(), |p| format!("watchdog {}\nwatchdog_timeout 1\nwatchdog_interval 100ms\n", p.display()));
        let mut links = Vec::new();
        let (pair, a_cfg, b_cfg) = if root {
            let pair = Pair::create();
            if s.media.ucast {
                links.push(format!("ucast {A4} <-> {B4}"));
            }
            if s.media.bcast {
                links.push("bcast".into());
            }
            if s.media.mcast {
                links.push(format!("mcast {MCAST_GROUP}"));
            }
            if s.media.raw {
                links.push("raw Ethernet (EtherType 0x88b5)".into());
            }
            let eth = |dev: &str| {
                let mut c = format!("udpport {PORT}\n");
                if s.media.ucast {
                    c.push_str(&format!("ucast {dev} {A4} {B4}\n"));
                }
                if s.media.bcast {
                    c.push_str(&format!("bcast {dev}\n"));
                }
                if s.media.mcast {
                    c.push_str(&format!("mcast {dev} {MCAST_GROUP} {PORT} 1 0\n"));
                }
                if s.media.raw {
                    c.push_str(&format!("raw {dev}\n"));
                }
                c
            };
            let a_cfg = format!("{timing}{}{a_serial}{watchdog}node a b\n{}", eth(&pair.a_if), s.extra_a);
            let b_cfg = format!("{timing}{}{b_serial}node a b\n", eth(&pair.b_if));
            (Some(pair), a_cfg, b_cfg)
        } else {
            if s.media.raw || s.media.bcast || s.media.mcast {
                return Err("raw Ethernet, bcast and mcast need root (the namespaces' veth pair)".into());
            }
            let port = hb_hwtest::free_udp_port();
            let udp = if s.media.ucast {
                links.push(format!("ucast 127.0.0.1 <-> 127.0.0.2 on loopback, UDP port {port}"));
                format!("udpport {port}\nucast lo 127.0.0.1 127.0.0.2\n")
            } else {
                String::new()
            };
            (
                None,
                format!("{timing}{udp}{a_serial}{watchdog}node a b\nbind 127.0.0.1\n{}", s.extra_a),
                format!("{timing}{udp}{b_serial}node a b\nbind 127.0.0.2\n"),
            )
        };
        if let Some(c) = &cable {
            links.push(format!("a null-modem cable emulator at {} baud", c.baud()));
        }
        if links.is_empty() {
            return Err("no link between the nodes: pick ucast, raw or serial".into());
        }
        let description = match &pair {
            Some(p) => format!("two network namespaces ({} and {}) joined by veth; links: {}", p.a.name, p.b.name, links.join(", ")),
            None => format!("one host; links: {}", links.join(", ")),
        };
        let a = write_node(&dir.path, "a", a_cfg, &keys);
        let b = write_node(&dir.path, "b", b_cfg, &keys);
        let watchdog_test_mode = s.watchdog_a.is_some();
        Ok(TwoNodes { pair, a, b, hbd, hbctl, backend: s.backend.clone(), watchdog_test_mode, description, cable, dir })
    }

    fn node(&self, which: char) -> &Node {
        if which == 'a' {
            &self.a
        } else {
            &self.b
        }
    }

    /// Whether the nodes run in namespaces.
    pub fn namespaces(&self) -> bool {
        self.pair.is_some()
    }

    /// The namespaces and veth pair, when the nodes run in namespaces.
    pub fn pair(&self) -> Option<&Pair> {
        self.pair.as_ref()
    }

    /// Node `which`'s status page now.
    pub fn snapshot(&self, which: char) -> Option<hb_core::status::Snapshot> {
        StatusReader::open(&self.node(which).run).ok()?.snapshot().ok()
    }

    /// Starts node `a` or `b`.
    pub fn start(&mut self, which: char) {
        let node = self.node(which);
        let mut cmd = match &self.pair {
            Some(p) => (if which == 'a' { &p.a } else { &p.b }).command(self.hbd.to_str().unwrap()),
            None => Command::new(&self.hbd),
        };
        cmd.args([
            "-c",
            node.cfg.to_str().unwrap(),
            "-n",
            node.name,
            "-r",
            node.run.to_str().unwrap(),
            "-s",
            node.cfg.join("state").to_str().unwrap(),
        ]);
        cmd.args(["--backend", &self.backend]);
        if which == 'a' && self.watchdog_test_mode {
            cmd.arg("--watchdog-test-mode");
        }
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path.join(format!("{}.log", node.name))).unwrap();
        cmd.stderr(log);
        let p = Proc::spawn(cmd);
        if which == 'a' {
            self.a.proc = Some(p);
        } else {
            self.b.proc = Some(p);
        }
    }

    fn peer_state(&self, which: char, peer: &str) -> Option<NodeState> {
        let s = StatusReader::open(&self.node(which).run).ok()?.snapshot().ok()?;
        s.writer_alive().then_some(())?;
        s.node(peer).map(|n| n.state)
    }

    /// Waits until both nodes see each other up.
    pub fn wait_up(&self, timeout: Duration) -> bool {
        wait_for(timeout, || {
            (self.peer_state('a', "b") == Some(NodeState::Up) && self.peer_state('b', "a") == Some(NodeState::Up)).then_some(())
        })
        .is_some()
    }

    /// Runs `hbctl` against node `which`.
    pub fn hbctl(&self, which: char, args: &[&str]) -> String {
        let out = Command::new(&self.hbctl).args(["--run-dir", self.node(which).run.to_str().unwrap()]).args(args).output().expect("hbctl");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    /// The pid of node `which`'s hbd.
    pub fn pid(&self, which: char) -> Option<u32> {
        self.node(which).proc.as_ref().map(Proc::pid)
    }

    /// Node `which`'s log.
    pub fn log(&self, which: char) -> String {
        std::fs::read_to_string(self.dir.path.join(format!("{}.log", self.node(which).name))).unwrap_or_default()
    }

    /// `kill -9` of `b`; returns the time from just before the kill to `a`'s node-dead event
    /// (both CLOCK_MONOTONIC).
    pub fn kill_b_and_time(&mut self) -> Result<Nanos, String> {
        let mut events =
            wait_for(Duration::from_secs(5), || Client::connect(&self.a.run).ok()).ok_or("cannot connect to a's IPC socket")?;
        events.subscribe().map_err(|e| e.to_string())?;
        let killed = time::now();
        if let Some(p) = self.b.proc.as_mut() {
            p.kill9();
        }
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < end {
            if let Ok(Some(m)) = events.next_event(Duration::from_millis(100)) {
                if let Event::NodeDead { node, at_ns, .. } = m.event {
                    if node == "b" {
                        return Ok(at_ns.sub(killed));
                    }
                }
            }
        }
        Err("a never declared b dead".into())
    }

    /// Drops `loss_pct` percent of a's packets (namespaces only; on loopback it is refused).
    /// Returns how (tc netem, or nftables where the kernel has no netem).
    pub fn lose(&self, loss_pct: f64) -> Result<String, String> {
        match &self.pair {
            Some(p) => p.impair(&hb_hwtest::Impairment { loss_pct, ..Default::default() }),
            None => Err("packet loss needs the namespace topology (run as root, without --loopback)".into()),
        }
    }

    /// The run directory of node `which` (for IPC clients and the status page).
    pub fn run_dir(&self, which: char) -> &Path {
        &self.node(which).run
    }

    /// Stops node `a` cleanly.
    pub fn stop_a(&mut self) {
        self.stop('a');
    }

    /// Stops node `which` cleanly.
    pub fn stop(&mut self, which: char) {
        let n = if which == 'a' { &mut self.a } else { &mut self.b };
        if let Some(p) = n.proc.as_mut() {
            p.terminate(Duration::from_secs(5));
        }
    }

    /// Two UDP sockets on port `port`, one at each node's address (inside its namespace,
    /// or on loopback), with the address of the other: for programs that stand in for the
    /// nodes over the same path (hb-bench's bare heartbeat).
    pub fn udp_pair(&self, port: u16) -> std::io::Result<[(std::net::UdpSocket, std::net::SocketAddr); 2]> {
        use std::net::{SocketAddr, UdpSocket};
        let (a, b) = if self.pair.is_some() { (A4, B4) } else { ("127.0.0.1", "127.0.0.2") };
        let at = |ip: &str| SocketAddr::new(ip.parse().expect("a literal IP address"), port);
        let (a, b) = (at(a), at(b));
        let (sa, sb) = match &self.pair {
            Some(p) => (hb_hwtest::udp_socket_in(&p.a, a)?, hb_hwtest::udp_socket_in(&p.b, b)?),
            None => (UdpSocket::bind(a)?, UdpSocket::bind(b)?),
        };
        Ok([(sa, b), (sb, a)])
    }
}
