//! Measures hbd's watchdog pets on the FUSE emulator: interval jitter over a run, then the
//! time from SIGSTOP of hbd to the watchdog's expiry. Needs root (FUSE) and a release build:
//!
//! ```sh
//! cargo build --release --bins --examples
//! stress-ng --cpu 2 --timeout 70s &   # optional: the loaded case
//! target/release/examples/watchdog_jitter [SECONDS] [INTERVAL_MS]
//! ```
//!
//! Until `hb-bench` grows a `jitter` subcommand, this is the measuring tool for the watchdog.

use hb_hwtest::watchdog::{Features, WatchdogEmulator};
use hb_hwtest::{wait_for, Proc, TempDir};
use std::process::Command;
use std::time::Duration;

fn pct(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(30);
    let interval_ms: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    let exe = std::env::current_exe().unwrap();
    let hbd = exe.parent().unwrap().parent().unwrap().join("hbd");
    let emu = WatchdogEmulator::start(Features::default()).expect("mount the emulator (root?)");
    let dir = TempDir::new("hb-wd-jitter");
    let port = hb_hwtest::free_udp_port();
    std::fs::write(
        dir.path.join("ha.cf"),
        format!(
            "keepalive 10ms\ndeadtime 50ms\ninitdead 30\nudpport {port}\nbind 127.0.0.1\nucast lo 127.0.0.2\nnode a b\nwatchdog {}\nwatchdog_timeout 1\nwatchdog_interval {interval_ms}ms\n",
            emu.path().display()
        ),
    )
    .unwrap();
    std::fs::write(dir.path.join("authkeys"), hb_core::auth::generate_authkeys().unwrap()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let d = dir.path.to_str().unwrap();
    let mut cmd = Command::new(&hbd);
    cmd.args(["-c", d, "-n", "a", "-r", &format!("{d}/run"), "-s", &format!("{d}/state"), "-q", "--watchdog-test-mode"]);
    let p = Proc::spawn(cmd);
    std::thread::sleep(Duration::from_secs(secs));
    let pets = emu.state().pets;
    let target = interval_ms as f64;
    let mut dev: Vec<f64> = pets[2..].windows(2).map(|w| ((w[1] - w[0]) as f64 / 1e6 - target).abs()).collect();
    dev.sort_by(f64::total_cmp);
    println!(
        "pets: {}  interval {interval_ms} ms  |deviation| ms: p50 {:.3}  p99 {:.3}  max {:.3}",
        dev.len() + 1,
        pct(&dev, 50.0),
        pct(&dev, 99.0),
        dev[dev.len() - 1]
    );
    let t0 = hb_core::time::now();
    p.signal(libc::SIGSTOP);
    let at = wait_for(Duration::from_secs(5), || emu.state().expired_at).expect("expiry");
    let last = *emu.state().pets.last().unwrap();
    println!(
        "SIGSTOP -> expiry: {:.1} ms (timeout 1000 ms; last pet {:.1} ms before the SIGSTOP)",
        (at as f64 - t0.0 as f64) / 1e6,
        (t0.0 as f64 - last as f64) / 1e6
    );
    p.signal(libc::SIGCONT);
}
