//! Measurements on a real two-node cluster: detection of a killed peer, idle cost, false
//! deaths under load (soak), round trips per link (rtt); and jitter of one hbd's sends.

use crate::hist::Hist;
use crate::twonode::{Settings, TwoNodes};
use hb_hwtest::procstat::{rss_kb, threads_cpu, ThreadCpu};
use std::time::Duration;

/// Detection times of `kill -9` over `trials`, from just before the kill to the survivor's
/// `node-dead` event on its IPC stream (both CLOCK_MONOTONIC). Returns the histogram and the
/// topology's description.
pub fn detect(s: &Settings, trials: usize, progress: &dyn Fn(usize)) -> Result<(Hist, String), String> {
    let mut t = TwoNodes::create(s)?;
    t.start('a');
    t.start('b');
    if !t.wait_up(Duration::from_secs(15)) {
        return Err(format!("the nodes did not see each other within 15 s; log of a:\n{}", t.log('a')));
    }
    let mut h = Hist::new();
    for i in 0..trials {
        // Let the pair settle (and any start-up transient pass) before each kill.
        std::thread::sleep(Duration::from_millis(300));
        let killed = hb_core::time::now().0;
        h.record_at(t.kill_b_and_time()?.0, killed);
        progress(i + 1);
        if i + 1 < trials {
            t.start('b');
            if !t.wait_up(Duration::from_secs(15)) {
                return Err("b did not come back".into());
            }
        }
    }
    t.stop_a();
    Ok((h, t.description.clone()))
}

/// One thread's share of [`Cost`].
#[derive(Debug, Clone)]
pub struct ThreadCost {
    /// Thread name (`hbd-rt`, `hbd-log`, ...).
    pub name: String,
    /// CPU, % of one core.
    pub cpu_percent: f64,
    /// Times it ran, per second (its wake-ups).
    pub runs_per_s: f64,
}

/// Idle cost of one hbd of a running pair.
#[derive(Debug, Clone)]
pub struct Cost {
    /// CPU, % of one core, all threads (schedstat).
    pub cpu_percent: f64,
    /// The same, thread by thread (threads alive for the whole window), busiest first.
    pub threads: Vec<ThreadCost>,
    /// RSS, kB.
    pub rss_kb: u64,
    /// A bare heartbeat's CPU over the same path, right after (see [`crate::floor::bare_heartbeat`]).
    pub bare_cpu_percent: f64,
}

/// Runs the pair for `seconds` and measures node a, then a bare heartbeat over the same path
/// for as long; `progress` gets the seconds done.
pub fn cost(s: &Settings, seconds: u64, progress: &dyn Fn(usize)) -> Result<(Cost, String), String> {
    let mut t = TwoNodes::create(s)?;
    t.start('a');
    t.start('b');
    if !t.wait_up(Duration::from_secs(15)) {
        return Err("the nodes did not see each other within 15 s".into());
    }
    std::thread::sleep(Duration::from_millis(500));
    let pid = t.pid('a').ok_or("no pid")?;
    let t0 = threads_cpu(pid).ok_or("cannot read schedstat")?;
    let w0 = std::time::Instant::now();
    for i in 0..seconds {
        std::thread::sleep(Duration::from_secs(1));
        progress(i as usize + 1);
    }
    let t1 = threads_cpu(pid).ok_or("cannot read schedstat")?;
    let wall = w0.elapsed().as_secs_f64();
    let sum = |v: &[ThreadCpu]| v.iter().map(|t| t.cpu_ns).sum::<u64>();
    let cpu_percent = sum(&t1).saturating_sub(sum(&t0)) as f64 / 1e9 / wall * 100.0;
    let mut threads: Vec<ThreadCost> = t1
        .iter()
        .filter_map(|b| {
            let a = t0.iter().find(|a| a.tid == b.tid)?;
            Some(ThreadCost {
                name: b.name.clone(),
                cpu_percent: b.cpu_ns.saturating_sub(a.cpu_ns) as f64 / 1e9 / wall * 100.0,
                runs_per_s: b.slices.saturating_sub(a.slices) as f64 / wall,
            })
        })
        .collect();
    threads.sort_by(|x, y| y.cpu_percent.total_cmp(&x.cpu_percent));
    let rss = rss_kb(pid).unwrap_or(0);
    t.stop('a');
    t.stop('b');
    let ends = t.udp_pair(hb_hwtest::free_udp_port()).map_err(|e| format!("cannot open the bare heartbeat's sockets: {e}"))?;
    let bare_cpu_percent = crate::floor::bare_heartbeat(ends, Duration::from_millis(s.keepalive_ms), Duration::from_secs(seconds), 50);
    Ok((Cost { cpu_percent, threads, rss_kb: rss, bare_cpu_percent }, t.description.clone()))
}

/// What a soak found.
#[derive(Debug, Clone, Default)]
pub struct Soak {
    /// Node-dead verdicts while both nodes were alive: false deaths.
    pub false_deaths: u64,
    /// Link-dead verdicts.
    pub link_deaths: u64,
    /// Late-heartbeat warnings.
    pub warnings: u64,
    /// Own stalls reported by the two nodes.
    pub stalls: u64,
    /// The worst own stall, ns.
    pub worst_stall_ns: u64,
}

/// Runs the pair for `seconds` under `load` (stress-ng arguments, empty for none) and an
/// optional loss of a's packets (percent), counting every verdict on both nodes' event streams.
/// Nothing is killed, so every node-dead event is a false death. Returns the findings and the
/// topology, with how the loss was applied.
pub fn soak(
    s: &Settings,
    seconds: u64,
    load: &[String],
    loss_pct: Option<f64>,
    progress: &dyn Fn(usize),
) -> Result<(Soak, String), String> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let mut t = TwoNodes::create(s)?;
    t.start('a');
    t.start('b');
    if !t.wait_up(Duration::from_secs(15)) {
        return Err("the nodes did not see each other within 15 s".into());
    }
    let mut topology = t.description.clone();
    if let Some(pct) = loss_pct {
        topology = format!("{topology}; loss by {}", t.lose(pct)?);
    }
    let found = Arc::new(Mutex::new(Soak::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for which in ['a', 'b'] {
        let mut c = hb_core::ipc::Client::connect(t.run_dir(which)).map_err(|e| e.to_string())?;
        c.subscribe().map_err(|e| e.to_string())?;
        let (found, stop) = (found.clone(), stop.clone());
        readers.push(std::thread::spawn(move || {
            use hb_core::ipc::proto::Event;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(Some(m)) = c.next_event(Duration::from_millis(200)) {
                    let mut f = found.lock().unwrap();
                    match m.event {
                        Event::NodeDead { .. } => f.false_deaths += 1,
                        Event::LinkDead { .. } => f.link_deaths += 1,
                        Event::LinkWarn { .. } => f.warnings += 1,
                        Event::Stall { late_ns, .. } => {
                            f.stalls += 1;
                            f.worst_stall_ns = f.worst_stall_ns.max(late_ns.0);
                        }
                        _ => {}
                    }
                }
            }
        }));
    }
    let mut stress = None;
    if !load.is_empty() {
        let mut cmd = std::process::Command::new("stress-ng");
        cmd.args(load).args(["--timeout", &format!("{}s", seconds + 5), "--quiet"]).stdout(std::process::Stdio::null());
        stress = Some(
            hb_hwtest::Proc::spawn_checked(cmd)
                .map_err(|e| format!("cannot run stress-ng ({e}); install it with apt-get install stress-ng"))?,
        );
    }
    for i in 0..seconds {
        std::thread::sleep(Duration::from_secs(1));
        progress(i as usize + 1);
    }
    if let Some(mut p) = stress.take() {
        // SIGTERM: stress-ng then stops its workers (SIGKILL would orphan them).
        p.terminate(Duration::from_secs(10));
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        let _ = r.join();
    }
    t.stop_a();
    let f = found.lock().unwrap().clone();
    Ok((f, topology))
}

/// Keepalive send-time jitter of one hbd: |interval between consecutive heartbeats −
/// keepalive|, timed by the kernel's arrival stamps at a receiver on loopback (delivery
/// happens inside the sender's sendto, so arrival is send time). `realtime` sets ha.cf's
/// `realtime` (mlockall + SCHED_FIFO, or neither).
pub fn jitter(keepalive_ms: u64, seconds: u64, realtime: bool, progress: &dyn Fn(usize)) -> Result<Hist, String> {
    use std::os::fd::AsRawFd;
    let (hbd, _) = crate::twonode::sibling_binaries()?;
    let dir = hb_hwtest::TempDir::new("hb-jitter");
    let port = hb_hwtest::free_udp_port();
    let sock = std::net::UdpSocket::bind(("127.0.0.2", port)).map_err(|e| format!("binding 127.0.0.2:{port}: {e}"))?;
    sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    hb_media::enable_rx_timestamps(sock.as_raw_fd()).map_err(|e| e.to_string())?;
    std::fs::write(
        dir.path.join("ha.cf"),
        format!(
            "keepalive {keepalive_ms}ms\ndeadtime {}ms\ninitdead 3600\nudpport {port}\nbind 127.0.0.1\nucast lo 127.0.0.2\nnode a b\nrealtime {}\n",
            keepalive_ms * 100,
            if realtime { "on" } else { "off" }
        ),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(dir.path.join("authkeys"), hb_core::auth::generate_authkeys().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path.join("authkeys"), std::fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())?;
    let d = dir.path.to_str().unwrap_or_default();
    let mut cmd = std::process::Command::new(hbd);
    cmd.args(["-c", d, "-n", "a", "-r", &format!("{d}/run"), "-s", &format!("{d}/state"), "-q"]);
    let mut p = hb_hwtest::Proc::spawn_checked(cmd).map_err(|e| e.to_string())?;
    let mut h = Hist::new();
    let mut buf = [0u8; 2048];
    let mut prev: Option<u64> = None;
    let target = keepalive_ms * 1_000_000;
    let start = std::time::Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut shown = 0;
    while std::time::Instant::now() < end {
        let done = start.elapsed().as_secs() as usize;
        if done > shown {
            shown = done;
            progress(done);
        }
        std::thread::sleep(Duration::from_millis(keepalive_ms.clamp(1, 100) * 5));
        while let Ok((_, Some(stamp))) = hb_core::backend::recv_stamped(sock.as_raw_fd(), &mut buf) {
            if let Some(pv) = prev {
                h.record_at(stamp.saturating_sub(pv).abs_diff(target).max(1), hb_core::time::now().0);
            }
            prev = Some(stamp);
        }
    }
    progress(seconds as usize);
    p.terminate(Duration::from_secs(5));
    if h.len() < 10 {
        return Err(format!("only {} heartbeats arrived", h.len()));
    }
    Ok(h)
}

/// Round trips per link, as hbd measures them (a heartbeat's echo of the peer's timestamp,
/// minus the time the peer held it), sampled from node a's status page.
pub struct LinkRtt {
    /// The link's name (`ucast vX`, `raw vX`, `serial /…`).
    pub link: String,
    /// One sample per round trip hbd measured.
    pub hist: Hist,
    /// Round trips hbd measured between two looks at its page (not sampled; 0 when every
    /// one was caught).
    pub missed: u64,
}

/// Runs the pair for `seconds` over `s.media` and records every round trip node a measures on
/// each link: the status page is read every 200 µs, and each new RTT sample (the count went
/// up by one) goes into that link's histogram. A skipped sample (the count went up by more)
/// is counted, never guessed.
pub fn rtt(s: &Settings, seconds: u64, progress: &dyn Fn(usize)) -> Result<(Vec<LinkRtt>, String), String> {
    let mut t = TwoNodes::create(s)?;
    t.start('a');
    t.start('b');
    if !t.wait_up(Duration::from_secs(15)) {
        return Err(format!("the nodes did not see each other within 15 s; log of a:\n{}", t.log('a')));
    }
    let reader = hb_core::status::StatusReader::open(t.run_dir('a')).map_err(|e| e.to_string())?;
    let first = reader.snapshot().map_err(|e| e.to_string())?;
    let b = first.node("b").ok_or("node b is not on a's status page")?;
    let mut out: Vec<LinkRtt> = b.links.iter().map(|l| LinkRtt { link: l.link.clone(), hist: Hist::new(), missed: 0 }).collect();
    let mut counts: Vec<u64> = b.links.iter().map(|l| l.rtt.samples).collect();
    let start = std::time::Instant::now();
    let mut shown = 0;
    while start.elapsed() < Duration::from_secs(seconds) {
        let snap = reader.snapshot().map_err(|e| e.to_string())?;
        if let Some(b) = snap.node("b") {
            for (i, l) in b.links.iter().enumerate() {
                let new = l.rtt.samples.saturating_sub(counts[i]);
                if new >= 1 {
                    out[i].hist.record_at(l.rtt.last.0, snap.now.0);
                    out[i].missed += new - 1;
                    counts[i] = l.rtt.samples;
                }
            }
        }
        let secs = start.elapsed().as_secs() as usize;
        if secs != shown {
            shown = secs;
            progress(secs);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    t.stop_a();
    Ok((out, t.description.clone()))
}
