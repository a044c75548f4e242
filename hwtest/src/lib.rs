//! hb's test bench: real topologies for real processes.
//!
//! - [`Netns`]: a network namespace this test created (deleted on drop), with `lo` up.
//! - [`Pair`]: two namespaces joined by a veth pair, with IPv4 and IPv6 addresses — the two
//!   "nodes" of most cluster tests. [`Pair::cut`] / [`Pair::mend`] take a side's link down and
//!   up; [`Pair::impair`] adds loss, duplication and corruption (and delay, where the kernel
//!   has `tc netem`; without it, nftables rules on the netdev egress hook).
//! - [`Proc`]: a child process killed (SIGKILL) and reaped on drop, never left behind.
//! - [`udp_socket_in`]: a UDP socket created inside a namespace, for injecting packets.
//! - [`require_root`]: tests that need root fail loudly in CI and skip elsewhere.
//! - [`deny_io_uring`]: a process that sees a kernel without io_uring (seccomp).
//! - [`as_attacker`]: a closure run as an unprivileged local user, for attack tests.
//!
//! - [`watchdog::WatchdogEmulator`]: a FUSE file serving the real watchdog API, recording
//!   every pet and the moment the timer would reset the board.
//!
//! - [`nullmodem::NullModem`]: a null-modem cable between two ptys, paced at the baud rate,
//!   with bit flips, dropped bytes, injected garbage and cut/restore; [`nullmodem::SerialCable`]
//!   uses a real looped cable instead when `HB_HWTEST_SERIAL` names one.
//!
//! - [`flood::Flood`]: forged frames at a paced rate from a third host on a segment, any
//!   source address included (a packet socket), for the flood tests and `hb-bench flood`.
//!
//! - Fencing devices for the STONITH drivers: [`relay::LcusBoard`] (an LCUS-style USB relay
//!   board on a pty), [`serialpower`] (serial power switches and an APC Smart-UPS on ptys),
//!   [`ipmi::IpmiSim`] (OpenIPMI's `ipmi_sim`), [`pdu::ApcPdu`] (net-snmp's `snmpd` as an APC
//!   PDU), and the telnet-menu switches on [`telnetd`]: [`wti::WtiNps`], [`apc::ApcMaster`],
//!   [`baytech::Baytech`]. Each is checked with third-party clients in its tests.
//! - [`forbid_forks`]: a seccomp filter that stops this process starting programs.
//!
//! - [`procstat`]: CPU time and wake-ups per thread, and RSS, of a running process.
//!
//! Only addresses inside namespaces created here are ever used (10.77.0.0/24, fd77::/64),
//! and loopback.

pub mod apc;
pub mod baytech;
pub mod flood;
pub mod ipmi;
pub mod nullmodem;
pub mod pdu;
pub mod procstat;
pub mod relay;
pub mod serialpower;
mod sys;
pub mod telnetd;
pub mod watchdog;
pub mod wti;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Forbids this test process, every thread of it, to fork or exec from now on (a seccomp
/// filter; threads may still be made): what proves a driver needs no other program. The test
/// binary's own process only — nextest runs each test in one of its own.
pub fn forbid_forks() -> std::io::Result<()> {
    sys::forbid_forks()
}

/// Whether we run as root.
pub fn is_root() -> bool {
    sys::euid() == 0
}

/// Returns whether a root-only test can run. Under CI (env `CI` set) a non-root run panics:
/// CI runs as root, and a root test must never be skipped there.
pub fn require_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test} needs root, and CI must run it");
    }
    eprintln!("skipping {test}: needs root (network namespaces)");
    false
}

/// The unprivileged local user the attack tests act as: a uid and gid that no account uses.
pub const ATTACKER: (u32, u32) = (4242, 4242);

/// Runs `f` on a fresh thread that has the credentials of `uid`/`gid` (no supplementary
/// groups, no capabilities): a local user, for tests that make an attack. Only that thread
/// changes; the test keeps root. Needs root to switch.
pub fn as_user<T: Send>(uid: u32, gid: u32, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            sys::become_user_on_this_thread(uid, gid).unwrap_or_else(|e| panic!("cannot become uid {uid} gid {gid}: {e}"));
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// [`as_user`] as [`ATTACKER`].
pub fn as_attacker<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    as_user(ATTACKER.0, ATTACKER.1, f)
}

/// Runs a command, panicking with its output if it fails.
pub fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{}: {e}", args.join(" ")));
    if !out.status.success() {
        panic!("{} failed: {}{}", args.join(" "), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    format!("{prefix}{:x}{}", std::process::id() & 0xffff, SEQ.fetch_add(1, Ordering::Relaxed))
}

/// A network namespace this process created; deleted (with everything in it) on drop.
#[derive(Debug)]
pub struct Netns {
    /// Its name under /run/netns.
    pub name: String,
}

impl Netns {
    /// Creates a fresh namespace with `lo` up.
    pub fn create() -> Netns {
        let name = unique("hbt");
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }
    /// `ip -n NAME args…`.
    pub fn ip(&self, args: &[&str]) {
        let mut v = vec!["ip", "-n", &self.name];
        v.extend_from_slice(args);
        sh(&v);
    }
    /// A command run inside the namespace (`ip netns exec NAME program`).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
    /// Runs a command inside the namespace, panicking on failure.
    pub fn exec(&self, args: &[&str]) {
        let mut v = vec!["ip", "netns", "exec", &self.name];
        v.extend_from_slice(args);
        sh(&v);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Two namespaces joined by a veth pair.
#[derive(Debug)]
pub struct Pair {
    /// Node A's namespace.
    pub a: Netns,
    /// Node B's namespace.
    pub b: Netns,
    /// A's end of the veth.
    pub a_if: String,
    /// B's end of the veth.
    pub b_if: String,
}

/// A's IPv4 address.
pub const A4: &str = "10.77.0.1";
/// B's IPv4 address.
pub const B4: &str = "10.77.0.2";
/// A's IPv6 address.
pub const A6: &str = "fd77::1";
/// B's IPv6 address.
pub const B6: &str = "fd77::2";

impl Pair {
    /// Two namespaces, a veth between them, addresses 10.77.0.1/24 + fd77::1/64 on A and
    /// .2 / ::2 on B (IPv6 without DAD, kept while the link is down).
    pub fn create() -> Pair {
        let (a, b) = (Netns::create(), Netns::create());
        let base = unique("v");
        let (a_if, b_if) = (format!("{base}a"), format!("{base}b"));
        sh(&["ip", "link", "add", &a_if, "netns", &a.name, "type", "veth", "peer", "name", &b_if, "netns", &b.name]);
        for (ns, ifc, v4, v6) in [(&a, &a_if, A4, A6), (&b, &b_if, B4, B6)] {
            ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.keep_addr_on_down=1"]);
            ns.exec(&["sysctl", "-qw", &format!("net.ipv6.conf.{ifc}.keep_addr_on_down=1")]);
            ns.ip(&["addr", "add", &format!("{v4}/24"), "dev", ifc]);
            ns.ip(&["addr", "add", &format!("{v6}/64"), "dev", ifc, "nodad"]);
            ns.ip(&["link", "set", ifc, "up"]);
        }
        Pair { a, b, a_if, b_if }
    }
    /// The MAC address of interface `dev` in namespace `ns`.
    pub fn mac(ns: &Netns, dev: &str) -> [u8; 6] {
        let out = Command::new("ip").args(["-n", &ns.name, "-o", "link", "show", "dev", dev]).output().expect("ip link show");
        let text = String::from_utf8_lossy(&out.stdout);
        let word = text.split_whitespace().skip_while(|w| *w != "link/ether").nth(1).unwrap_or_default();
        flood::parse_mac(word).unwrap_or_else(|| panic!("no MAC for {dev} in {:?}", text))
    }
    /// Takes A's end of the link down (a cut cable, as `ip link set down` does it).
    pub fn cut(&self) {
        self.a.ip(&["link", "set", &self.a_if, "down"]);
    }
    /// Brings A's end back up.
    pub fn mend(&self) {
        self.a.ip(&["link", "set", &self.a_if, "up"]);
    }
    /// Impairs what A sends: random loss, duplication and corruption, and delay where the
    /// kernel can. With `sch_netem` (`tc netem`) everything is netem; without it (this
    /// project's VMs: no netem, no tc classifiers) loss, duplicates and corrupted bytes are
    /// nftables rules on A's netdev egress hook, and a delay is refused. Returns what was
    /// applied, for the test's log.
    pub fn impair(&self, i: &Impairment) -> Result<String, String> {
        if netem_available() {
            let mut p: Vec<String> = Vec::new();
            if let Some((d, j)) = i.delay {
                p.extend(["delay".into(), format!("{}us", d.as_micros()), format!("{}us", j.as_micros())]);
            }
            for (what, pct) in [("loss", i.loss_pct), ("duplicate", i.duplicate_pct), ("corrupt", i.corrupt_pct)] {
                if pct > 0.0 {
                    p.extend([what.into(), format!("{pct}%")]);
                }
            }
            let refs: Vec<&str> = p.iter().map(String::as_str).collect();
            self.netem(&refs);
            return Ok(format!("tc netem {}", p.join(" ")));
        }
        if i.delay.is_some() {
            return Err("this kernel has no netem (sch_netem): a delay cannot be emulated here".into());
        }
        let per_mille = |pct: f64| (pct * 10.0).round() as u32;
        let mut rules = String::new();
        if i.loss_pct > 0.0 {
            rules.push_str(&format!("    numgen random mod 1000 < {} drop\n", per_mille(i.loss_pct)));
        }
        if i.duplicate_pct > 0.0 {
            rules.push_str(&format!("    numgen random mod 1000 < {} dup to \"{}\"\n", per_mille(i.duplicate_pct), self.a_if));
        }
        if i.corrupt_pct > 0.0 {
            // Byte 80 of the frame: inside the heartbeat of a UDP or raw Ethernet frame.
            rules.push_str(&format!("    numgen random mod 1000 < {} @ll,640,8 set 0x55\n", per_mille(i.corrupt_pct)));
        }
        let script = format!(
            "table netdev hbimpair {{\n  chain egress {{\n    type filter hook egress device \"{}\" priority 0; policy accept;\n{rules}  }}\n}}\n",
            self.a_if
        );
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.a.name, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("nft: {e}"))?;
        use std::io::Write;
        child.stdin.take().expect("piped stdin").write_all(script.as_bytes()).map_err(|e| format!("nft: {e}"))?;
        let out = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
        if !out.status.success() {
            return Err(format!("nft -f failed: {}\n{script}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(format!("nftables on {}'s egress: loss {}%, duplicate {}%, corrupt {}%", self.a_if, i.loss_pct, i.duplicate_pct, i.corrupt_pct))
    }

    /// Applies `tc netem` parameters (e.g. `["loss", "10%"]`) to A's end. Needs `sch_netem`
    /// in the kernel ([`netem_available`]); [`Pair::impair`] works without it.
    pub fn netem(&self, params: &[&str]) {
        let mut v = vec!["qdisc", "replace", "dev", &self.a_if, "root", "netem"];
        v.extend_from_slice(params);
        let mut full = vec!["tc", "-n", &self.a.name];
        full.extend(v);
        sh(&full);
    }
}

/// What [`Pair::impair`] does to A's packets.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Impairment {
    /// Percent of packets dropped.
    pub loss_pct: f64,
    /// Percent of packets sent twice.
    pub duplicate_pct: f64,
    /// Percent of packets with a corrupted byte.
    pub corrupt_pct: f64,
    /// Delay and jitter (needs `sch_netem`).
    pub delay: Option<(Duration, Duration)>,
}

/// Whether this kernel has `tc netem` (probed once, in a scratch namespace).
pub fn netem_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let ns = Netns::create();
        Command::new("tc")
            .args(["-n", &ns.name, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    })
}

/// A child process, killed with SIGKILL and reaped when dropped.
#[derive(Debug)]
pub struct Proc {
    child: Option<Child>,
}

impl Proc {
    /// Spawns `cmd` with stdin closed (panics if it cannot start: for tests).
    pub fn spawn(cmd: Command) -> Proc {
        let desc = format!("{cmd:?}");
        Proc::spawn_checked(cmd).unwrap_or_else(|e| panic!("spawning {desc}: {e}"))
    }
    /// Spawns `cmd` with stdin closed, or says why it could not.
    pub fn spawn_checked(mut cmd: Command) -> std::io::Result<Proc> {
        Ok(Proc { child: Some(cmd.stdin(Stdio::null()).spawn()?) })
    }
    /// The pid (of `ip netns exec`, which execs the program, so it is the program's).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }
    /// `kill -9` and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let c = self.child.as_mut()?;
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(Some(st)) = c.try_wait() {
                self.child = None;
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
    /// Sends SIGTERM and waits up to `timeout` for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.signal(libc::SIGTERM);
        self.wait_exit(timeout)
    }
    /// Sends `sig` (e.g. `libc::SIGSTOP`, `libc::SIGCONT`).
    pub fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            sys::kill(c.id(), sig);
        }
    }
    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Makes `cmd`'s process see a kernel without io_uring (`io_uring_setup` fails with ENOSYS,
/// through a seccomp filter), to test the epoll fall-back for real.
pub fn deny_io_uring(cmd: &mut Command) {
    sys::deny_io_uring(cmd)
}

/// Makes `cmd`'s process start with every signal at its default disposition, as under init
/// or systemd. Without it, a program spawned from a multi-threaded Rust process inherits
/// SIG_IGN for glibc's internal signals 32 and 33 — which slowed heartbeat 3.0.6's verdicts
/// by about two seconds in `hb-bench compare`.
pub fn default_signals(cmd: &mut Command) {
    sys::default_signals(cmd)
}

/// Polls `f` every 5 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A UDP port free on every local address right now (for tests and tools that run several
/// nodes on loopback; a fixed or pid-derived port collides with other tests).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind(("0.0.0.0", 0)).and_then(|s| s.local_addr()).map(|a| a.port()).expect("a free UDP port")
}

/// A UDP socket bound to `bind` inside namespace `ns` (it stays in that namespace).
pub fn udp_socket_in(ns: &Netns, bind: SocketAddr) -> std::io::Result<UdpSocket> {
    in_netns(ns, || UdpSocket::bind(bind))?
}

/// Runs `f` on a thread inside `ns` (sockets it creates stay in that namespace).
pub fn in_netns<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    let path = format!("/run/netns/{}", ns.name);
    std::thread::scope(|s| {
        s.spawn(|| -> std::io::Result<T> {
            sys::enter_netns(&path)?;
            Ok(f())
        })
        .join()
        .expect("netns thread")
    })
}

/// xorshift64*: a small deterministic, seedable PRNG for simulations and fault injection.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; zero is mapped to a non-zero state).
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A scratch directory removed on drop.
#[derive(Debug)]
pub struct TempDir {
    /// Its path.
    pub path: std::path::PathBuf,
}

/// A file removed on drop: something a test had to put in a system directory (a plugin, an
/// agent), gone again however the test ends.
#[derive(Debug)]
pub struct RemoveOnDrop(pub std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl TempDir {
    /// Creates `/tmp/<prefix>-<unique>`.
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique(&format!("{prefix}-")));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir { path }
    }
}

/// Removes the `/dev/shm` status pages that symlinks below `dir` point to (left behind by
/// daemons the tests killed with SIGKILL).
fn remove_shm_targets(dir: &std::path::Path) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                if let Ok(t) = std::fs::read_link(&p) {
                    if t.to_string_lossy().starts_with("/dev/shm/hb-status-") {
                        let _ = std::fs::remove_file(t);
                    }
                }
            }
            Ok(m) if m.is_dir() => remove_shm_targets(&p),
            _ => {}
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("HB_KEEP_TEST_DIRS").is_none() {
            remove_shm_targets(&self.path);
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
