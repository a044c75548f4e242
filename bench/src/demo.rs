//! `hb-demo`: a two-node appliance on this one machine, started, shown, and failed.
//!
//! As root the two `hbd` nodes live in two network namespaces joined by a veth pair (the
//! real thing: separate stacks, a cable that can be cut); otherwise they share loopback as
//! 127.0.0.1 and 127.0.0.2. The demo shows both nodes seeing each other (`hbctl status`,
//! `hbctl links`), kills one with SIGKILL, and prints the survivor's verdict with the time from
//! the kill to its `node-dead` event (both on CLOCK_MONOTONIC). `--runs N` repeats the kill N
//! times and prints min/median/p99/max; `--idle S` measures hbd's idle CPU over S seconds and
//! its RSS, then shows `hbctl links` again. `--media` picks the links (ucast, raw Ethernet, a
//! serial null-modem cable emulator, or several).

use crate::twonode::{Media, Settings, TwoNodes};
use hb_hwtest::procstat::{cpu_ns, rss_kb};
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
    /// The links between the nodes.
    pub media: Media,
}

/// Help text.
pub const HELP: &str = "\
hb-demo - a two-node hb appliance on this machine: start, show, kill one, time the verdict

USAGE
    hb-demo [OPTIONS]

    As root: two hbd nodes in two network namespaces joined by veth (ucast by default).
    Otherwise: two hbd nodes on loopback (127.0.0.1 and 127.0.0.2).

OPTIONS
    --keepalive MS   heartbeat interval             [default: 10]
    --deadtime MS    silence that means dead        [default: 50]
    --runs N         kill and restart the peer N times; print min/median/p99/max [default: 1]
    --idle S         measure hbd's idle CPU over S seconds and its RSS [default: 0 = skip]
    --backend KIND   auto, io_uring or epoll        [default: auto]
    --rx-wakeup M    rx_wakeup on, off or auto (see hbd --help) [default: auto]
    --loopback       use loopback even as root
    --media M        the links: ucast, raw (raw Ethernet over the veth pair, root only),
                     serial (a null-modem cable emulator between two ptys), or several
                     joined by +, e.g. ucast+raw+serial            [default: ucast]
    --baud N         the serial line's speed                     [default: 115200]
    -h, --help       this text
";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Runs the demo; returns a process exit code.
pub fn run(a: &DemoArgs) -> u8 {
    let settings = Settings {
        keepalive_ms: a.keepalive_ms,
        deadtime_ms: a.deadtime_ms,
        rx_wakeup: a.rx_wakeup.clone(),
        backend: a.backend.clone(),
        loopback: a.loopback,
        media: a.media,
        watchdog_a: None,
        extra_a: String::new(),
    };
    let mut t = match TwoNodes::create(&settings) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("hb-demo: {e}");
            return 1;
        }
    };
    println!("== hb demo: two nodes, a and b, over {}", t.description);
    println!(
        "   keepalive {}ms, warntime {}ms, deadtime {}ms; configs and logs in {}",
        a.keepalive_ms,
        settings.warntime_ms(),
        a.deadtime_ms,
        t.dir.path.display()
    );
    t.start('a');
    t.start('b');
    if !t.wait_up(Duration::from_secs(15)) {
        eprintln!("hb-demo: the nodes did not see each other within 15 s; log of a:\n{}", t.log('a'));
        return 1;
    }
    std::thread::sleep(Duration::from_millis(500));
    println!("\n== both nodes are up. `hbctl status` on a:\n");
    print!("{}", t.hbctl('a', &["status"]));
    println!("\n== `hbctl links` on a:\n");
    print!("{}", t.hbctl('a', &["links"]));

    if a.idle_s > 0 {
        let pid = t.pid('a').unwrap_or(0);
        let c0 = cpu_ns(pid).unwrap_or(0);
        let w0 = std::time::Instant::now();
        std::thread::sleep(Duration::from_secs(a.idle_s));
        let c1 = cpu_ns(pid).unwrap_or(0);
        let cpu = c1.saturating_sub(c0) as f64 / 1e9 / w0.elapsed().as_secs_f64() * 100.0;
        println!("\n== hbd (node a, pid {pid}) over {} s: CPU {cpu:.2} % of one core, RSS {} kB", a.idle_s, rss_kb(pid).unwrap_or(0));
        println!("\n== `hbctl links` on a after {} s (RTT percentiles from hbd's histograms):\n", a.idle_s);
        print!("{}", t.hbctl('a', &["links"]));
    }

    let mut took = Vec::new();
    for run in 0..a.runs.max(1) {
        let ms = match t.kill_b_and_time() {
            Ok(d) => d.as_millis_f64(),
            Err(e) => {
                eprintln!("hb-demo: {e}");
                return 1;
            }
        };
        took.push(ms);
        if run == 0 {
            println!(
                "\n== kill -9 of node b: node a declared it dead {ms:.1} ms later (deadtime {} ms). `hbctl nodes` on a:\n",
                a.deadtime_ms
            );
            print!("{}", t.hbctl('a', &["nodes"]));
        } else {
            println!("   run {}: {ms:.1} ms", run + 1);
        }
        if run + 1 < a.runs {
            t.start('b');
            if !t.wait_up(Duration::from_secs(15)) {
                eprintln!("hb-demo: b did not come back");
                return 1;
            }
            // Let the restarted peer settle.
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
    t.stop_a();
    println!("\n== done; stopped node a cleanly{}.", if t.namespaces() { " and removed the namespaces" } else { "" });
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
        media: Media::UCAST,
    };
    let mut media = "ucast".to_string();
    let mut baud = 115200u32;
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
            Long("media") => media = p.value().map_err(|e| e.to_string())?.into_string().map_err(|_| "not UTF-8")?,
            Long("baud") => baud = num(&mut p)? as u32,
            Short('h') | Long("help") => return Ok(None),
            other => return Err(other.unexpected().to_string()),
        }
    }
    if a.deadtime_ms <= 2 * a.keepalive_ms {
        return Err(format!("--deadtime {} must be more than 2 x --keepalive {}", a.deadtime_ms, a.keepalive_ms));
    }
    a.media = Media::parse(&media, baud).ok_or(format!("--media {media:?}: expected ucast, raw, serial or a +-joined set"))?;
    Ok(Some(a))
}
