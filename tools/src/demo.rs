//! `hb-demo`: a two-node appliance on this one machine, started, shown, and failed.
//!
//! As root the two `hbd` nodes live in two network namespaces joined by a veth pair (the
//! real thing: separate stacks, a cable that can be cut); otherwise they share loopback as
//! 127.0.0.1 and 127.0.0.2. The demo shows both nodes seeing each other (`hbctl status`,
//! `hbctl links`), kills one with SIGKILL, and prints the survivor's verdict with the time from
//! the kill to its `node-dead` event (both on CLOCK_MONOTONIC). `--runs N` repeats the kill N
//! times and prints min/median/p99/max; `--idle S` measures hbd's idle CPU over S seconds and
//! its RSS.

use hb_core::ipc::Client;
use hb_core::liveness::NodeState;
use hb_core::status::StatusReader;
use hb_core::time::{self, Nanos};
use hb_hwtest::{is_root, wait_for, Pair, Proc, TempDir, A4, B4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Demo settings.
#[derive(Debug, Clone)]
pub struct DemoArgs {
    /// keepalive in ms.
    pub keepalive_ms: u64,
    /// deadtime in ms.
    pub deadtime_ms: u64,
    /// Kill/restart cycles.
    pub runs: usize,
    /// Seconds of idle CPU measurement (0 = skip).
    pub idle_s: u64,
    /// Backend flag passed to hbd.
    pub backend: String,
    /// Force loopback even as root.
    pub loopback: bool,
    /// `rx_wakeup` for both nodes.
    pub rx_wakeup: String,
}

/// Help text.
pub const HELP: &str = "\
hb-demo - a two-node hb appliance on this machine: start, show, kill one, time the verdict

USAGE
    hb-demo [OPTIONS]

    As root: two hbd nodes in two network namespaces joined by veth (ucast).
    Otherwise: two hbd nodes on loopback (127.0.0.1 and 127.0.0.2).

OPTIONS
    --keepalive MS   heartbeat interval             [default: 10]
    --deadtime MS    silence that means dead        [default: 50]
    --runs N         kill and restart the peer N times; print min/median/p99/max [default: 1]
    --idle S         measure hbd's idle CPU over S seconds and its RSS [default: 0 = skip]
    --backend KIND   auto, io_uring or epoll        [default: auto]
    --rx-wakeup M    rx_wakeup on, off or auto (see hbd --help) [default: auto]
    --loopback       use loopback even as root
    -h, --help       this text
";

fn bins() -> (PathBuf, PathBuf) {
    let me = std::env::current_exe().expect("current exe");
    let dir = me.parent().expect("exe dir").to_path_buf();
    (dir.join("hbd"), dir.join("hbctl"))
}

struct Node {
    name: &'static str,
    cfg: PathBuf,
    run: PathBuf,
    proc: Option<Proc>,
}

struct Topology {
    pair: Option<Pair>,
    dir: TempDir,
    a: Node,
    b: Node,
    hbd: PathBuf,
    hbctl: PathBuf,
    backend: String,
}

impl Topology {
    fn command(&self, node: &Node, program: &Path) -> Command {
        match &self.pair {
            Some(p) => {
                let ns = if node.name == "a" { &p.a } else { &p.b };
                ns.command(program.to_str().unwrap())
            }
            None => Command::new(program),
        }
    }

    fn start(&mut self, which: char) {
        let node = if which == 'a' { &self.a } else { &self.b };
        let mut cmd = self.command(node, &self.hbd.clone());
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
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path.join(format!("{}.log", node.name))).unwrap();
        cmd.stderr(log);
        let p = Proc::spawn(cmd);
        if which == 'a' {
            self.a.proc = Some(p);
        } else {
            self.b.proc = Some(p);
        }
    }

    fn hbctl(&self, node: &Node, args: &[&str]) -> String {
        let out = Command::new(&self.hbctl).args(["--run-dir", node.run.to_str().unwrap()]).args(args).output().expect("hbctl");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }
}

fn peer_state(run: &Path, peer: &str) -> Option<NodeState> {
    let s = StatusReader::open(run).ok()?.snapshot();
    s.writer_alive().then_some(())?;
    s.node(peer).map(|n| n.state)
}

fn write_node(dir: &Path, name: &'static str, hacf: String) -> Node {
    let cfg = dir.join(name);
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("ha.cf"), hacf).unwrap();
    let keys = hb_core::auth::generate_authkeys().expect("random key");
    std::fs::write(cfg.join("authkeys"), keys).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(cfg.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    Node { name, run: cfg.join("run"), cfg, proc: None }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// CPU time of every thread of `pid`, ns (schedstat: exact, unlike tick-sampled utime).
fn cpu_ns(pid: u32) -> Option<u64> {
    let mut total = 0;
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let s = std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok()?;
        total += s.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the demo; returns a process exit code.
pub fn run(a: &DemoArgs) -> u8 {
    let (hbd, hbctl) = bins();
    if !hbd.exists() || !hbctl.exists() {
        eprintln!("hb-demo: {} and {} must be built next to hb-demo (cargo build --release --bins)", hbd.display(), hbctl.display());
        return 1;
    }
    let dir = TempDir::new("hb-demo");
    let root = is_root() && !a.loopback;
    let warntime = (a.deadtime_ms * 3 / 5).max(a.keepalive_ms);
    let timing = format!(
        "keepalive {}ms\nwarntime {warntime}ms\ndeadtime {}ms\ninitdead 10\nrx_wakeup {}\n",
        a.keepalive_ms, a.deadtime_ms, a.rx_wakeup
    );
    let (pair, a_cfg, b_cfg, how) = if root {
        let pair = Pair::create();
        let media_a = format!("ucast {} {A4} {B4}\n", pair.a_if);
        let media_b = format!("ucast {} {A4} {B4}\n", pair.b_if);
        let how = format!("two network namespaces ({} and {}) joined by veth, ucast {A4} <-> {B4}", pair.a.name, pair.b.name);
        (Some(pair), format!("{timing}udpport 694\n{media_a}node a b\n"), format!("{timing}udpport 694\n{media_b}node a b\n"), how)
    } else {
        let port = 30000 + (std::process::id() % 20000);
        let base = format!("{timing}udpport {port}\nucast lo 127.0.0.1 127.0.0.2\nnode a b\n");
        (
            None,
            format!("{base}bind 127.0.0.1\n"),
            format!("{base}bind 127.0.0.2\n"),
            format!("loopback (not root): 127.0.0.1 <-> 127.0.0.2, UDP port {port}"),
        )
    };
    println!("== hb demo: two nodes, a and b, over {how}");
    println!(
        "   keepalive {}ms, warntime {warntime}ms, deadtime {}ms; configs and logs in {}",
        a.keepalive_ms,
        a.deadtime_ms,
        dir.path.display()
    );
    let na = write_node(&dir.path, "a", a_cfg);
    let nb = write_node(&dir.path, "b", b_cfg);
    // Both nodes need the same key.
    std::fs::copy(na.cfg.join("authkeys"), nb.cfg.join("authkeys")).unwrap();
    let mut t = Topology { pair, dir, a: na, b: nb, hbd, hbctl, backend: a.backend.clone() };
    t.start('a');
    t.start('b');
    let up = wait_for(Duration::from_secs(15), || {
        (peer_state(&t.a.run, "b") == Some(NodeState::Up) && peer_state(&t.b.run, "a") == Some(NodeState::Up)).then_some(())
    });
    if up.is_none() {
        eprintln!(
            "hb-demo: the nodes did not see each other within 15 s; logs:\n{}",
            std::fs::read_to_string(t.dir.path.join("a.log")).unwrap_or_default()
        );
        return 1;
    }
    std::thread::sleep(Duration::from_millis(500));
    println!("\n== both nodes are up. `hbctl status` on a:\n");
    print!("{}", t.hbctl(&t.a, &["status"]));
    println!("\n== `hbctl links` on a:\n");
    print!("{}", t.hbctl(&t.a, &["links"]));

    if a.idle_s > 0 {
        let pid = t.a.proc.as_ref().unwrap().pid();
        let c0 = cpu_ns(pid).unwrap_or(0);
        let w0 = std::time::Instant::now();
        std::thread::sleep(Duration::from_secs(a.idle_s));
        let c1 = cpu_ns(pid).unwrap_or(0);
        let cpu = c1.saturating_sub(c0) as f64 / 1e9 / w0.elapsed().as_secs_f64() * 100.0;
        println!("\n== hbd (node a, pid {pid}) over {} s: CPU {cpu:.2} % of one core, RSS {} kB", a.idle_s, rss_kb(pid).unwrap_or(0));
    }

    let mut took = Vec::new();
    for run in 0..a.runs.max(1) {
        let events = match wait_for(Duration::from_secs(5), || Client::connect(&t.a.run).ok()) {
            Some(c) if c.subscribe().is_ok() => c,
            _ => {
                eprintln!("hb-demo: cannot subscribe to a's events");
                return 1;
            }
        };
        let killed = time::now();
        if let Some(p) = t.b.proc.as_mut() {
            p.kill9();
        }
        let mut at = None;
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while at.is_none() && std::time::Instant::now() < end {
            if let Ok(Some(m)) = events.recv(100) {
                if m.contains("\"event\":\"node-dead\",\"node\":\"b\"") {
                    at = m.split("\"at_ns\":").nth(1).and_then(|r| r.split([',', '}']).next()).and_then(|v| v.parse::<u64>().ok());
                }
            }
        }
        let Some(at) = at else {
            eprintln!("hb-demo: a never declared b dead");
            return 1;
        };
        let ms = Nanos(at).sub(killed).as_millis_f64();
        took.push(ms);
        if run == 0 {
            println!(
                "\n== kill -9 of node b: node a declared it dead {ms:.1} ms later (deadtime {} ms). `hbctl nodes` on a:\n",
                a.deadtime_ms
            );
            print!("{}", t.hbctl(&t.a, &["nodes"]));
        } else {
            println!("   run {}: {ms:.1} ms", run + 1);
        }
        if run + 1 < a.runs {
            t.start('b');
            if wait_for(Duration::from_secs(15), || {
                (peer_state(&t.a.run, "b") == Some(NodeState::Up) && peer_state(&t.b.run, "a") == Some(NodeState::Up)).then_some(())
            })
            .is_none()
            {
                eprintln!("hb-demo: b did not come back");
                return 1;
            }
            // Let the restarted peer settle (and its initial packets age out of any queue).
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    if took.len() > 1 {
        let mut s = took.clone();
        s.sort_by(f64::total_cmp);
        println!(
            "\n== detection of kill -9 over {} runs (ms): min {:.1}  median {:.1}  p99 {:.1}  max {:.1}",
            s.len(),
            s[0],
            percentile(&s, 50.0),
            percentile(&s, 99.0),
            s[s.len() - 1]
        );
    }
    if let Some(p) = t.a.proc.as_mut() {
        p.terminate(Duration::from_secs(5));
    }
    println!("\n== done; stopped node a cleanly{}.", if root { " and removed the namespaces" } else { "" });
    0
}

/// Parses the command line.
pub fn parse(args: Vec<String>) -> Result<Option<DemoArgs>, String> {
    use lexopt::prelude::*;
    let mut a = DemoArgs {
        keepalive_ms: 10,
        deadtime_ms: 50,
        runs: 1,
        idle_s: 0,
        backend: "auto".into(),
        loopback: false,
        rx_wakeup: "auto".into(),
    };
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        let num = |p: &mut lexopt::Parser| -> Result<u64, String> {
            p.value()
                .map_err(|e| e.to_string())?
                .into_string()
                .map_err(|_| "not UTF-8")?
                .parse()
                .map_err(|_| "expected a number".to_string())
        };
        match arg {
            Long("keepalive") => a.keepalive_ms = num(&mut p)?,
            Long("deadtime") => a.deadtime_ms = num(&mut p)?,
            Long("runs") => a.runs = num(&mut p)? as usize,
            Long("idle") => a.idle_s = num(&mut p)?,
            Long("backend") => a.backend = p.value().map_err(|e| e.to_string())?.into_string().map_err(|_| "not UTF-8")?,
            Long("loopback") => a.loopback = true,
            Long("rx-wakeup") => a.rx_wakeup = p.value().map_err(|e| e.to_string())?.into_string().map_err(|_| "not UTF-8")?,
            Short('h') | Long("help") => return Ok(None),
            other => return Err(other.unexpected().to_string()),
        }
    }
    if a.deadtime_ms <= 2 * a.keepalive_ms {
        return Err(format!("--deadtime {} must be more than 2 x --keepalive {}", a.deadtime_ms, a.keepalive_ms));
    }
    Ok(Some(a))
}
