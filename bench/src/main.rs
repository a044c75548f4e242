//! `hb-bench`: parses the command line, runs one measurement, prints the table, writes the
//! `.hgrm` and JSON files. The measurements live in the library.

use hb_bench::compare::{Peer, PeerSettings};
use hb_bench::floor;
use hb_bench::hist::round3;
use hb_bench::hist::{Hist, Unit};
use hb_bench::report::{progress, Env, Out};
use hb_bench::twonode::{Media, Settings};
use hb_media::serial::BAUD_RATES;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const HELP: &str = "\
hb-bench - measure hb: latency histograms, detection times, idle cost, this machine's floor

USAGE
    hb-bench [OPTIONS] COMMAND

COMMANDS
    floor     this machine's timer wake-up latency at SCHED_FIFO (what cyclictest measures)
              and the CPU that merely waking at that interval costs
    detect    time from kill -9 of a node to the survivor's node-dead event, over N trials
    cost      idle CPU % and RSS of hbd in a running pair; then, for as long, a bare
              heartbeat over the same path (two threads that wake, drain a socket and send
              100 bytes each keepalive: what the kernel charges any heartbeat here) and the
              floor's CPU for waking at the same interval
    soak      run the pair for a while under load and count false deaths (every node-dead
              verdict, since nothing is killed), link deaths, late warnings and own stalls
    jitter    keepalive send times against the schedule (|interval - keepalive|) of one hbd,
              with real time (mlockall + SCHED_FIFO) and without; add --load for stress-ng
    compare   detect's kill -9 scenario on hb, then on Debian's heartbeat 3.0.6 and corosync
              3.1.7 in the same kind of namespaces (installed with apt-get if missing), each
              at its own settings; prints each table and the ratios of their detection
              times to hb's from the one run
    rtt       round trips per link (ucast, raw Ethernet, serial through the cable emulator),
              as hbd measures them from its heartbeats' echoes: every sample node a takes in
              --seconds, one histogram per link, all on one chart. Without --media: every
              link this machine can run (raw Ethernet needs root)
    reject    what hbd's engine spends per packet it refuses (bad MAC, replay, unknown node,
              not hb at all) next to an accepted heartbeat: the RT thread's cost of a flood
              of forged packets, in-process, without the kernel's share
    flood     a third host on the segment floods node a with forged heartbeats claiming to be
              b (b's id, generation, address and port; a key the cluster lacks) on --media
              (ucast, bcast, mcast or raw; default: each in turn) at --rate packets/s for
              --seconds, while a pets a watchdog emulator: false deaths, real heartbeats
              lost, longest pet gap, hbd's CPU. --rate 0 sends as fast as this machine can;
              --find-max raises the rate until a trial is not clean (root)
    fence     the time from `hbctl fence b` to its confirmed result, through hbd's fencing
              thread and a native driver: ipmilan against OpenIPMI's ipmi_sim (RMCP+ cipher
              suite 3, IPMI 1.5 MD5) and apcmastersnmp against an emulated APC PDU (net-snmp's
              snmpd; SNMP v1, v2c), on loopback; off, then reboot, --trials each [default: 10]:
              hbctl's wall time and hbd's own duration of the fencing
    failover  not implemented yet: it needs the CRM; says so and exits 2

OPTIONS
    --out DIR          where the result files go               [default: hb-bench-results]
    --quick            small counts (finishes in well under two minutes)
    --seconds S        floor/cost/soak/jitter duration
                                  [default: 60 / 30 / 600 / 30 per mode; quick: 5/5/10/5]
    --load ARGS        soak: stress-ng arguments, or none   [default: --cpu N --vm 1 --io 1,
                       N = CPUs]
    --loss PCT         soak: drop PCT % of a's packets (tc netem, or nftables where the
                       kernel has no netem), e.g. 1%            [default: none]
    --interval-us N    floor wake interval                     [default: 1000]
    --prio P           floor SCHED_FIFO priority                [default: 90]
    --trials N         detect/compare trials per system        [default: 20; quick: 5]
    --peers LIST       compare: heartbeat,corosync or one of them [default: both]
    --heartbeat-keepalive MS, --heartbeat-deadtime MS
                       compare: heartbeat's timing (warntime 2/3 of deadtime) [default: 20, 60]
    --heartbeat-debug N
                       compare: heartbeat's debug level; its verdicts come much sooner with
                       debug 3 than with its default 0 (see docs/bench/README.md) [default: 0]
    --corosync-token MS
                       compare: corosync's totem token (consensus 1.2 x) [default: 1000]
    --keepalive MS     cluster keepalive                       [default: 10]
    --deadtime MS      cluster deadtime                        [default: 50]
    --rx-wakeup M      on, off or auto                         [default: auto]
    --backend KIND     auto, io_uring or epoll                 [default: auto]
    --loopback         two nodes on loopback even as root (otherwise namespaces over veth)
    --media M          detect/cost/soak: the links, any of ucast, raw (raw Ethernet, root)
                       and serial (the null-modem cable emulator) joined by +
                                                               [default: ucast]
    --baud N           the serial line's speed                 [default: 115200]
    --rate PPS         flood: forged packets per second, 0 = as fast as possible
                                                               [default: 200000]
    --source S         flood: peer (b's own address and port: only the MAC gives them
                       away) or third (the attacker's own: a's socket filter drops them
                       on unicast links)                       [default: peer]
    --find-max         flood: 50k, 100k, 200k, ... pps, then the sender's maximum, until
                       a trial has a false death, a lost heartbeat or a late pet
    -h, --help         this text

OUTPUT
    A percentile table (min p50 p90 p99 p99.9 p99.99 max count) on the terminal, the
    environment (hb version, kernel, CPUs, whether real time was allowed), and in --out:
    COMMAND.hgrm (HdrHistogram percentile distribution; its plotter reads it),
    COMMAND.hlog (HdrHistogram interval log, one histogram per second; HistogramLogAnalyzer
    and HistogramLogProcessor read it),
    COMMAND.svg (latency by percentile), COMMAND.png from it when rsvg-convert (Debian's
    librsvg2-bin) is installed, and COMMAND.json (settings, environment, summary).

EXIT STATUS
    0 measured; 1 the measurement failed; 2 not implemented; 64 bad command line
";

struct Args {
    cmd: String,
    out: PathBuf,
    quick: bool,
    seconds: Option<u64>,
    interval_us: u64,
    prio: u8,
    trials: Option<usize>,
    settings: Settings,
    load: Option<String>,
    loss: Option<f64>,
    media_given: bool,
    baud: u32,
    peers: Vec<Peer>,
    peer_settings: PeerSettings,
    rate: u64,
    find_max: bool,
    source: hb_bench::flood::Source,
}

fn parse() -> Result<Option<Args>, String> {
    use lexopt::prelude::*;
    let mut a = Args {
        cmd: String::new(),
        out: "hb-bench-results".into(),
        quick: false,
        seconds: None,
        interval_us: 1000,
        prio: 90,
        trials: None,
        settings: Settings::default(),
        load: None,
        loss: None,
        media_given: false,
        baud: 115_200,
        peers: vec![Peer::Heartbeat, Peer::Corosync],
        peer_settings: PeerSettings::default(),
        rate: 200_000,
        find_max: false,
        source: hb_bench::flood::Source::Peer,
    };
    let (mut media, mut baud) = ("ucast".to_string(), 115_200u32);
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        let val = |p: &mut lexopt::Parser| -> Result<String, String> {
            p.value().map_err(|e| e.to_string())?.into_string().map_err(|_| "not UTF-8".to_string())
        };
        let num = |p: &mut lexopt::Parser| -> Result<u64, String> { val(p)?.parse().map_err(|_| "expected a number".to_string()) };
        match arg {
            Long("out") => a.out = val(&mut p)?.into(),
            Long("quick") => a.quick = true,
            Long("seconds") => a.seconds = Some(num(&mut p)?),
            Long("interval-us") => a.interval_us = num(&mut p)?.max(10),
            Long("prio") => a.prio = num(&mut p)?.clamp(1, 99) as u8,
            Long("trials") => a.trials = Some(num(&mut p)? as usize),
            Long("keepalive") => a.settings.keepalive_ms = num(&mut p)?,
            Long("deadtime") => a.settings.deadtime_ms = num(&mut p)?,
            Long("rx-wakeup") => a.settings.rx_wakeup = val(&mut p)?,
            Long("backend") => a.settings.backend = val(&mut p)?,
            Long("loopback") => a.settings.loopback = true,
            Long("media") => {
                media = val(&mut p)?;
                a.media_given = true;
            }
            Long("baud") => baud = u32::try_from(num(&mut p)?).map_err(|_| "--baud: too large")?,
            Long("load") => a.load = Some(val(&mut p)?),
            Long("rate") => a.rate = num(&mut p)?,
            Long("find-max") => a.find_max = true,
            Long("source") => {
                a.source = match val(&mut p)?.as_str() {
                    "peer" => hb_bench::flood::Source::Peer,
                    "third" => hb_bench::flood::Source::Third,
                    other => return Err(format!("--source {other:?}: peer or third")),
                }
            }
            Long("loss") => {
                let v = val(&mut p)?;
                a.loss = Some(
                    v.trim_end_matches('%')
                        .parse::<f64>()
                        .ok()
                        .filter(|l| (0.0..=100.0).contains(l))
                        .ok_or(format!("--loss {v:?}: a percentage, e.g. 1%"))?,
                )
            }
            Long("peers") => {
                a.peers = val(&mut p)?
                    .split(',')
                    .map(|n| Peer::parse(n.trim()).ok_or(format!("--peers: unknown system {n:?} (heartbeat or corosync)")))
                    .collect::<Result<_, _>>()?
            }
            Long("heartbeat-keepalive") => a.peer_settings.heartbeat_keepalive_ms = num(&mut p)?.max(1),
            Long("heartbeat-deadtime") => a.peer_settings.heartbeat_deadtime_ms = num(&mut p)?,
            Long("heartbeat-debug") => a.peer_settings.heartbeat_debug = num(&mut p)?.min(255) as u8,
            Long("corosync-token") => a.peer_settings.corosync_token_ms = num(&mut p)?.max(1),
            Short('h') | Long("help") => return Ok(None),
            Value(v) if a.cmd.is_empty() => a.cmd = v.into_string().map_err(|_| "not UTF-8")?,
            other => return Err(other.unexpected().to_string()),
        }
    }
    if a.cmd.is_empty() {
        return Err("no command given".into());
    }
    a.baud = baud;
    a.settings.media = Media::parse(&media, baud).ok_or(format!("--media {media:?}: expected ucast, raw, serial or a +-joined set"))?;
    if !BAUD_RATES.contains(&baud) {
        return Err(format!("--baud {baud}: expected one of {BAUD_RATES:?}"));
    }
    if a.settings.deadtime_ms <= 2 * a.settings.keepalive_ms {
        return Err(format!("--deadtime {} must be more than 2 x --keepalive {}", a.settings.deadtime_ms, a.settings.keepalive_ms));
    }
    if a.peer_settings.heartbeat_deadtime_ms <= 2 * a.peer_settings.heartbeat_keepalive_ms {
        return Err(format!(
            "--heartbeat-deadtime {} must be more than 2 x --heartbeat-keepalive {}",
            a.peer_settings.heartbeat_deadtime_ms, a.peer_settings.heartbeat_keepalive_ms
        ));
    }
    Ok(Some(a))
}

fn settings_json(s: &Settings) -> Value {
    json!({
        "keepalive_ms": s.keepalive_ms,
        "deadtime_ms": s.deadtime_ms,
        "rx_wakeup": s.rx_wakeup,
        "backend": s.backend,
        "loopback": s.loopback,
        "media": s.media.name(),
        "baud": s.media.serial,
    })
}

/// A report's JSON file: one object and a newline.
fn report(v: &Value) -> String {
    let mut text = v.to_string();
    text.push('\n');
    text
}

fn run(a: &Args) -> Result<(), String> {
    let env = Env::read();
    let out = Out::new(&a.out).map_err(|e| format!("cannot create {}: {e}", a.out.display()))?;
    println!("{}", env.line());
    let write_log = |name: &str, h: &hb_bench::hist::Hist, unit: Unit| -> Result<(), String> {
        match h.interval_log(Duration::from_secs(1), unit, name.trim_end_matches(".hlog")) {
            Some(log) => {
                let p = out.write(name, &log).map_err(|e| format!("writing {name}: {e}"))?;
                println!("wrote {}", p.display());
                Ok(())
            }
            None => Ok(()),
        }
    };
    let write = |name: &str, text: &str| -> Result<(), String> {
        let p = out.write(name, text).map_err(|e| format!("writing {name}: {e}"))?;
        println!("wrote {}", p.display());
        if name.ends_with(".svg") {
            if let Some(png) = hb_bench::report::png_from_svg(&p) {
                println!("wrote {}", png.display());
            }
        }
        Ok(())
    };
    match a.cmd.as_str() {
        "rtt" => {
            let secs = a.seconds.unwrap_or(if a.quick { 5 } else { 30 });
            let mut settings = a.settings.clone();
            if !a.media_given {
                settings.media =
                    Media { ucast: true, raw: hb_hwtest::is_root() && !settings.loopback, serial: Some(a.baud), ..Media::default() };
            }
            let (links, topo) = hb_bench::cluster::rtt(&settings, secs, &|i| progress(i, secs as usize, "seconds"))?;
            println!("rtt: {secs} s, keepalive {} ms, over {topo}", settings.keepalive_ms);
            let mut series = Vec::new();
            let mut rows = Vec::new();
            for l in &links {
                let kind = l.link.split_whitespace().next().unwrap_or("link");
                print!(
                    "{}{}\n{}",
                    l.link,
                    if l.missed > 0 { format!(" ({} samples not caught)", l.missed) } else { String::new() },
                    l.hist.table(Unit::Micros)
                );
                write(&format!("rtt-{kind}.hgrm"), &l.hist.hgrm(Unit::Micros))?;
                write_log(&format!("rtt-{kind}.hlog"), &l.hist, Unit::Micros)?;
                series.push((kind, &l.hist));
                rows.push(json!({"link": l.link, "missed": l.missed, "rtt": l.hist.json(Unit::Micros)}));
            }
            write(
                "rtt.svg",
                &hb_bench::plot::percentile_svg(
                    &format!("round trip per link, keepalive {} ms", settings.keepalive_ms),
                    &series,
                    Unit::Micros,
                ),
            )?;
            write(
                "rtt.json",
                &report(&json!({
                    "command": "rtt",
                    "env": env.json(),
                    "settings": settings_json(&settings),
                    "seconds": secs,
                    "topology": topo,
                    "links": rows,
                })),
            )?;
            Ok(())
        }
        "floor" => {
            let secs = a.seconds.unwrap_or(if a.quick { 5 } else { 60 });
            let interval = Duration::from_micros(a.interval_us);
            println!("floor: waking every {} us for {secs} s at SCHED_FIFO {}", a.interval_us, a.prio);
            let f = floor::measure(interval, Duration::from_secs(secs), a.prio, &|x| progress((x * 100.0) as usize, 100, "floor"));
            if !f.fifo {
                println!("note: SCHED_FIFO was refused; this is the floor at normal priority");
            }
            print!("wake-up latency\n{}", f.wake.table(Unit::Micros));
            println!("CPU of waking alone: {:.3} % of one core", f.cpu_percent);
            write("floor.hgrm", &f.wake.hgrm(Unit::Micros))?;
            write_log("floor.hlog", &f.wake, Unit::Micros)?;
            write(
                "floor.svg",
                &hb_bench::plot::percentile_svg(
                    &format!("timer wake-up latency, SCHED_FIFO {}, every {} us", a.prio, a.interval_us),
                    &[("this machine", &f.wake)],
                    Unit::Micros,
                ),
            )?;
            write(
                "floor.json",
                &report(&json!({
                    "command": "floor",
                    "env": env.json(),
                    "interval_us": a.interval_us,
                    "seconds": secs,
                    "sched_fifo": f.fifo,
                    "prio": f.prio,
                    "cpu_percent": round4(f.cpu_percent),
                    "wake_latency": f.wake.json(Unit::Micros),
                })),
            )
        }
        "detect" => {
            let trials = a.trials.unwrap_or(if a.quick { 5 } else { 20 });
            let (h, topo) = hb_bench::cluster::detect(&a.settings, trials, &|i| progress(i, trials, "kill -9 trials"))?;
            println!(
                "detect: kill -9 of b, {trials} trials, keepalive {} ms, deadtime {} ms, over {topo}",
                a.settings.keepalive_ms, a.settings.deadtime_ms
            );
            print!("{}", h.table(Unit::Millis));
            write("detect.hgrm", &h.hgrm(Unit::Millis))?;
            write_log("detect.hlog", &h, Unit::Millis)?;
            let title = format!("kill -9 to verdict, keepalive {} ms, deadtime {} ms", a.settings.keepalive_ms, a.settings.deadtime_ms);
            write("detect.svg", &hb_bench::plot::percentile_svg(&title, &[("hb", &h)], Unit::Millis))?;
            write(
                "detect.json",
                &report(&json!({
                    "command": "detect",
                    "env": env.json(),
                    "settings": settings_json(&a.settings),
                    "trials": trials,
                    "topology": topo,
                    "detection": h.json(Unit::Millis),
                })),
            )
        }
        "cost" => {
            let secs = a.seconds.unwrap_or(if a.quick { 5 } else { 30 });
            println!(
                "cost: hbd idle for {secs} s, then a bare heartbeat and the floor of waking every {} ms, each for as long",
                a.settings.keepalive_ms
            );
            let (c, topo) = hb_bench::cluster::cost(&a.settings, secs, &|i| progress(i, secs as usize, "seconds idle"))?;
            let f = floor::measure(Duration::from_millis(a.settings.keepalive_ms), Duration::from_secs(secs), 50, &|_| {});
            println!("over {topo}:");
            println!("  hbd:   CPU {:.3} % of one core, RSS {} kB", c.cpu_percent, c.rss_kb);
            for t in &c.threads {
                println!("         {:<16} {:.3} %, runs {:.1}/s", t.name, t.cpu_percent, t.runs_per_s);
            }
            println!(
                "  bare:  CPU {:.3} % of one core for a bare heartbeat over the same path (wake, drain, send {} bytes)",
                c.bare_cpu_percent,
                hb_bench::floor::BARE_BYTES
            );
            println!("  floor: CPU {:.3} % of one core for waking every {} ms and doing nothing", f.cpu_percent, a.settings.keepalive_ms);
            write(
                "cost.json",
                &report(&json!({
                    "command": "cost",
                    "env": env.json(),
                    "settings": settings_json(&a.settings),
                    "seconds": secs,
                    "topology": topo,
                    "hbd_cpu_percent": round4(c.cpu_percent),
                    "hbd_threads": c.threads.iter().map(|t| json!({
                        "name": t.name,
                        "cpu_percent": round4(t.cpu_percent),
                        "runs_per_s": (t.runs_per_s * 100.0).round() / 100.0,
                    })).collect::<Vec<_>>(),
                    "hbd_rss_kb": c.rss_kb,
                    "bare_cpu_percent": round4(c.bare_cpu_percent),
                    "floor_cpu_percent": round4(f.cpu_percent),
                })),
            )
        }
        "soak" => {
            let secs = a.seconds.unwrap_or(if a.quick { 10 } else { 600 });
            let load: Vec<String> = match a.load.as_deref() {
                Some("none") => Vec::new(),
                Some(l) => l.split_whitespace().map(String::from).collect(),
                None => vec!["--cpu".into(), env.cpus.to_string(), "--vm".into(), "1".into(), "--io".into(), "1".into()],
            };
            println!(
                "soak: {secs} s, load: {}, loss: {}",
                if load.is_empty() { "none".into() } else { format!("stress-ng {}", load.join(" ")) },
                a.loss.map_or("none".into(), |l| format!("{l}% of a's packets"))
            );
            let (f, topo) = hb_bench::cluster::soak(&a.settings, secs, &load, a.loss, &|i| progress(i, secs as usize, "soak seconds"))?;
            println!("over {topo}, keepalive {} ms, deadtime {} ms:", a.settings.keepalive_ms, a.settings.deadtime_ms);
            println!(
                "  false deaths {}   link deaths {}   late warnings {}   own stalls {} (worst {:.1} ms)",
                f.false_deaths,
                f.link_deaths,
                f.warnings,
                f.stalls,
                f.worst_stall_ns as f64 / 1e6
            );
            write(
                "soak.json",
                &report(&json!({
                    "command": "soak",
                    "env": env.json(),
                    "settings": settings_json(&a.settings),
                    "seconds": secs,
                    "load": load.join(" "),
                    "loss_pct": a.loss,
                    "topology": topo,
                    "false_deaths": f.false_deaths,
                    "link_deaths": f.link_deaths,
                    "late_warnings": f.warnings,
                    "stalls": f.stalls,
                    "worst_stall_ms": round3(f.worst_stall_ns as f64 / 1e6),
                })),
            )
        }
        "jitter" => {
            let secs = a.seconds.unwrap_or(if a.quick { 5 } else { 30 });
            let load: Vec<String> =
                a.load.as_deref().filter(|l| *l != "none").map(|l| l.split_whitespace().map(String::from).collect()).unwrap_or_default();
            let mut stress = None;
            if !load.is_empty() {
                let mut cmd = std::process::Command::new("stress-ng");
                cmd.args(&load).args(["--timeout", &format!("{}s", 2 * secs + 10), "--quiet"]);
                stress = Some(hb_hwtest::Proc::spawn_checked(cmd).map_err(|e| format!("cannot run stress-ng: {e}"))?);
            }
            println!(
                "jitter: keepalive {} ms, {secs} s per mode, load: {}",
                a.settings.keepalive_ms,
                if load.is_empty() { "none".to_string() } else { load.join(" ") }
            );
            let rt =
                hb_bench::cluster::jitter(a.settings.keepalive_ms, secs, true, &|i| progress(i, secs as usize, "seconds, realtime on"))?;
            let nort =
                hb_bench::cluster::jitter(a.settings.keepalive_ms, secs, false, &|i| progress(i, secs as usize, "seconds, realtime off"))?;
            if let Some(mut p) = stress.take() {
                p.terminate(Duration::from_secs(10));
            }
            print!("|send interval - keepalive|, realtime on (mlockall, SCHED_FIFO)\n{}", rt.table(Unit::Micros));
            print!("|send interval - keepalive|, realtime off\n{}", nort.table(Unit::Micros));
            write("jitter-rt.hgrm", &rt.hgrm(Unit::Micros))?;
            write("jitter-nort.hgrm", &nort.hgrm(Unit::Micros))?;
            write_log("jitter-rt.hlog", &rt, Unit::Micros)?;
            write_log("jitter-nort.hlog", &nort, Unit::Micros)?;
            let title = format!(
                "keepalive send jitter, every {} ms{}",
                a.settings.keepalive_ms,
                if load.is_empty() { String::new() } else { format!(", stress-ng {}", load.join(" ")) }
            );
            write("jitter.svg", &hb_bench::plot::percentile_svg(&title, &[("realtime on", &rt), ("realtime off", &nort)], Unit::Micros))?;
            write(
                "jitter.json",
                &report(&json!({
                    "command": "jitter",
                    "env": env.json(),
                    "keepalive_ms": a.settings.keepalive_ms,
                    "seconds": secs,
                    "load": load.join(" "),
                    "realtime_on": rt.json(Unit::Micros),
                    "realtime_off": nort.json(Unit::Micros),
                })),
            )
        }
        "reject" => {
            let n = if a.quick { 20_000 } else { 200_000 };
            println!("reject: {n} packets of each kind through a fresh engine");
            let costs = hb_bench::reject::measure(n);
            println!("{:<40} {:>12} {:>16}", "packet", "ns/packet", "packets/s/core");
            for c in &costs {
                println!("{:<40} {:>12.0} {:>16.0}", c.what, c.ns_per_packet, 1e9 / c.ns_per_packet);
            }
            let rows: Vec<Value> = costs.iter().map(|c| json!({"packet": c.what, "ns_per_packet": round3(c.ns_per_packet)})).collect();
            write("reject.json", &report(&json!({"command": "reject", "env": env.json(), "packets": n, "costs": rows})))
        }
        "compare" => compare(a, &env, &write, &write_log),
        "flood" => flood(a, &env, &write),
        "fence" => fence(a, &env, &write),
        other => Err(format!("unknown command {other:?}; try 'hb-bench --help'")),
    }
}

/// `fence`: `hbctl fence` through the ipmilan driver against ipmi_sim, per mode and action.
fn fence(a: &Args, env: &Env, write: &dyn Fn(&str, &str) -> Result<(), String>) -> Result<(), String> {
    let trials = a.trials.unwrap_or(10);
    println!(
        "fence: hbctl fence b through hbd's native drivers against simulated devices on loopback, {trials} trials per mode and action"
    );
    let total = hb_bench::fence::MODES.len() * 2 * trials;
    let samples = hb_bench::fence::measure(trials, &|i, _| progress(i, total, "fences"))?;
    println!("\n{:<22} {:<7} {:>12} {:>12} {:>12} {:>12}", "mode", "action", "hbctl p50", "hbctl max", "hbd p50", "hbd max");
    let ms = |h: &Hist, p: f64| h.at(p) as f64 / 1e6;
    let mut rows = Vec::new();
    for s in &samples {
        println!(
            "{:<22} {:<7} {:>9.2} ms {:>9.2} ms {:>9.2} ms {:>9.2} ms",
            s.mode,
            s.action,
            ms(&s.hbctl, 50.0),
            ms(&s.hbctl, 100.0),
            ms(&s.hbd, 50.0),
            ms(&s.hbd, 100.0)
        );
        rows.push(json!({"mode": s.mode, "action": s.action, "hbctl": s.hbctl.json(Unit::Millis), "hbd": s.hbd.json(Unit::Millis)}));
    }
    write("fence.json", &report(&json!({"command": "fence", "env": env.json(), "trials": trials, "results": rows})))
}

/// `compare`: hb's detect, then each peer's, one table each and the ratios.
fn compare(
    a: &Args,
    env: &Env,
    write: &dyn Fn(&str, &str) -> Result<(), String>,
    write_log: &dyn Fn(&str, &Hist, Unit) -> Result<(), String>,
) -> Result<(), String> {
    use hb_bench::compare::{detect_peer, ensure_installed, package_version};
    let trials = a.trials.unwrap_or(if a.quick { 5 } else { 20 });
    if !hb_hwtest::is_root() || a.settings.loopback {
        return Err("compare runs every system in network namespaces: it needs root (and no --loopback)".into());
    }
    ensure_installed(&a.peers)?;
    let s = &a.settings;
    let mut rows: Vec<(String, String, String, Hist)> = Vec::new();
    println!("compare: kill -9 of node b, {trials} trials per system, two namespaces over veth each");
    let (h, _) = hb_bench::cluster::detect(s, trials, &|i| progress(i, trials, "hb: kill -9 trials"))?;
    let hb_settings = format!("keepalive {} ms, warntime {} ms, deadtime {} ms, ucast", s.keepalive_ms, s.warntime_ms(), s.deadtime_ms);
    rows.push(("hb".into(), env.version.to_string(), hb_settings, h));
    for &peer in &a.peers {
        let version = package_version(peer.package()).unwrap_or_else(|| "unknown".into());
        let label = format!("{}: kill -9 trials", peer.name());
        let h = detect_peer(peer, &a.peer_settings, trials, &|i| progress(i, trials, &label))?;
        rows.push((peer.name().into(), version, a.peer_settings.describe(peer), h));
    }
    for (name, version, settings, h) in &rows {
        print!("\n{name} {version} ({settings}): kill -9 to verdict\n{}", h.table(Unit::Millis));
    }
    let ours = rows[0].3.at(50.0) as f64;
    println!("\n{:<10} {:>10} {:>10} {:>10} {:>10}  settings", "system", "p50 ms", "p99 ms", "max ms", "p50 / hb");
    for (name, _, settings, h) in &rows {
        let ms = |p: f64| h.at(p) as f64 / 1e6;
        println!("{name:<10} {:>10.1} {:>10.1} {:>10.1} {:>9.1}x  {settings}", ms(50.0), ms(99.0), ms(100.0), h.at(50.0) as f64 / ours);
    }
    for (name, _, _, h) in &rows {
        write(&format!("compare-{name}.hgrm"), &h.hgrm(Unit::Millis))?;
        write_log(&format!("compare-{name}.hlog"), h, Unit::Millis)?;
    }
    let series: Vec<(String, &Hist)> = rows.iter().map(|(n, v, _, h)| (format!("{n} {v}"), h)).collect();
    let series: Vec<(&str, &Hist)> = series.iter().map(|(n, h)| (n.as_str(), *h)).collect();
    write(
        "compare.svg",
        &hb_bench::plot::percentile_svg("kill -9 to the survivor's verdict, two nodes in namespaces", &series, Unit::Millis),
    )?;
    let systems: Vec<Value> = rows
        .iter()
        .map(|(n, v, st, h)| {
            json!({
                "system": n,
                "version": v,
                "settings": st,
                "p50_ratio_to_hb": round3(h.at(50.0) as f64 / ours),
                "detection": h.json(Unit::Millis),
            })
        })
        .collect();
    write(
        "compare.json",
        &report(&json!({"command": "compare", "env": env.json(), "settings": settings_json(s), "trials": trials, "systems": systems})),
    )
}

/// `x` to four decimals (CPU percentages).
fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn main() -> ExitCode {
    let a = match parse() {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("hb-bench: {e}\nTry 'hb-bench --help'.");
            return ExitCode::from(64);
        }
    };
    if a.cmd == "failover" {
        eprintln!("hb-bench: failover needs the CRM (hb-crmd), which does not exist yet");
        return ExitCode::from(2);
    }
    match run(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hb-bench: {e}");
            ExitCode::from(1)
        }
    }
}

/// `flood`: one trial per medium (or a rising-rate search), one line each.
fn flood(a: &Args, env: &Env, write: &dyn Fn(&str, &str) -> Result<(), String>) -> Result<(), String> {
    use hb_bench::flood::{trial, Target, Trial};
    if !hb_hwtest::is_root() || a.settings.loopback {
        return Err("flood needs root: network namespaces, a packet socket and the FUSE watchdog emulator".into());
    }
    let media = a.settings.media;
    let targets: Vec<Target> = if !a.media_given {
        Target::ALL.to_vec()
    } else {
        Target::ALL.into_iter().filter(|t| Media::parse(t.name(), a.baud) == Some(media)).collect()
    };
    if targets.is_empty() {
        return Err("--media: flood one of ucast, bcast, mcast or raw".into());
    }
    let seconds = a.seconds.unwrap_or(if a.quick { 5 } else { 30 });
    let s = &a.settings;
    println!(
        "flood: keepalive {} ms, deadtime {} ms, rx_wakeup {}, {seconds} s per trial, forged heartbeats claiming to be b",
        s.keepalive_ms, s.deadtime_ms, s.rx_wakeup
    );
    let json_of = |t: &Trial| {
        json!({
            "media": t.target.name(), "pps": round3(t.flood.pps()), "sent": t.flood.sent, "seconds": round3(t.flood.elapsed.as_secs_f64()),
            "false_deaths": t.false_deaths, "link_deaths": t.link_deaths, "real_sent": t.real_sent, "real_lost": t.real_lost,
            "rejected": t.rejected, "kernel_dropped": t.kernel_dropped, "source": format!("{:?}", a.source), "hbd_cpu_pct": round3(t.hbd_cpu_pct), "rt_cpu_pct": round3(t.rt_cpu_pct),
            "max_pet_gap_ms": round3(t.max_pet_gap_ms), "watchdog_expired": t.watchdog_expired, "stalls": t.stalls, "clean": t.clean(),
        })
    };
    let mut rows = Vec::new();
    let mut best = Vec::new();
    for &target in &targets {
        let rates: Vec<u64> = if a.find_max { vec![50_000, 100_000, 200_000, 300_000, 400_000, 0] } else { vec![a.rate] };
        let mut last_clean = None;
        for rate in rates {
            let label = format!("{} at {} pps", target.name(), if rate == 0 { "max".into() } else { rate.to_string() });
            let t = trial(s, target, a.source, rate, seconds, &|i| progress(i, seconds as usize, &label))?;
            println!("{}", t.line());
            rows.push(json_of(&t));
            let (clean, pps) = (t.clean() && t.real_lost == 0, t.flood.pps());
            if clean {
                last_clean = Some(pps);
            }
            // A sender that cannot reach the asked rate has found this machine's maximum.
            if !clean || (rate > 0 && pps < rate as f64 * 0.9) {
                break;
            }
        }
        if a.find_max {
            match last_clean {
                Some(p) => println!("{}: highest clean flood {p:.0} pps", target.name()),
                None => println!("{}: no clean rate found", target.name()),
            }
            best.push(json!({"media": target.name(), "highest_clean_pps": last_clean.map(round3)}));
        }
    }
    write(
        "flood.json",
        &report(&json!({"command": "flood", "env": env.json(), "settings": settings_json(s), "trials": rows, "highest_clean": best})),
    )
}
