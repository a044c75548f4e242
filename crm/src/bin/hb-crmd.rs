//! `hb-crmd`: hb's cluster resource manager. See `hb-crmd --help`.

use hb_crm::config::{Config, Settings};
use hb_crm::daemon::{log, Crmd};
use hb_crm::policy::NoFencing;
use std::path::PathBuf;
use std::time::Duration;

const HELP: &str = "\
hb-crmd - hb's cluster resource manager

USAGE:
    hb-crmd [OPTIONS]

Runs the resource groups of haresources on this node of an hb cluster and fails them over:
it talks to the local hbd through its IPC socket, learns which peers are alive, dead, fenced
or gone, tells the peers' CRMs (through hbd's heartbeats) which groups it holds, and never
starts a group that a peer may still run. Groups start left to right and stop right to
left; auto_failback comes from ha.cf. SIGTERM or SIGINT stops every group before exiting.

Its own settings are in CONFIG-DIR/crm.cf (optional): no_fencing refuse|r1,
monitor_interval TIME, op_timeout TIME, migration_threshold N. The options below override it.

OPTIONS:
    -c, --config-dir DIR        ha.cf, haresources and crm.cf         [default: /etc/ha.d]
    -r, --run-dir DIR           hbd's run directory (hbd.sock)        [default: /run/hb]
    -n, --node-name NAME        this node's name                      [default: host name]
        --resource-dir DIR      heartbeat resource scripts   [default: CONFIG-DIR/resource.d]
        --init-dir DIR          LSB init scripts                      [default: /etc/init.d]
        --no-fencing MODE       a dead peer that cannot be fenced: refuse (wait for an
                                operator's hbctl fence-confirm) or r1 (take over at once,
                                as heartbeat R1 did)                  [default: refuse]
        --monitor-interval MS   how often running resources are checked [default: 5000]
        --op-timeout S          each start, stop and monitor's deadline [default: 20]
        --migration-threshold N failures after which a group leaves this node
                                (0: never)                            [default: 3]
        --rtprio N              lock memory and run at SCHED_FIFO priority N (reset on
                                fork: agents run at the normal policy), so a loaded machine
                                does not delay a takeover; hbd passes its own rtprio - 10
        --check-config          validate the configuration, then exit
    -h, --help                  this text

EXIT STATUS:
    0   --check-config: the configuration is valid
    0   stopped by SIGTERM or SIGINT after releasing every resource group
    1   hbd went away, the CRM could not act on it, or a resource would not stop
    2   bad command line
    78  the configuration is invalid (the message names file and line)
";

/// The option's value, as text.
fn value(p: &mut lexopt::Parser) -> String {
    match p.value().map(|v| v.into_string()) {
        Ok(Ok(v)) => v,
        Ok(Err(_)) => usage("an option's value is not UTF-8".into()),
        Err(e) => usage(e.to_string()),
    }
}

/// `--rtprio`: memory locked and SCHED_FIFO at `prio` for the CRM's own thread, reset on
/// fork so its agents and other threads run at the normal policy. Where refused, the CRM
/// runs at the normal policy and says so.
fn real_time(prio: u8) {
    let limits = hb_realtime::check_limits();
    if let Err(e) = hb_realtime::lock_memory(&limits) {
        log("WARN", &format!("memory not locked: {e}"));
    }
    match hb_realtime::set_fifo_reset_on_fork(prio, &limits) {
        Ok(()) => log("info", &format!("SCHED_FIFO priority {prio}, memory locked: the takeover path is not delayed by stress")),
        Err(e) => log("WARN", &format!("normal scheduling: {e}")),
    }
}

fn usage(e: String) -> ! {
    eprintln!("hb-crmd: {e} (see hb-crmd --help)");
    std::process::exit(2)
}

fn main() {
    let mut p = lexopt::Parser::from_env();
    let mut config_dir = PathBuf::from("/etc/ha.d");
    let mut run_dir = PathBuf::from("/run/hb");
    let mut node = None;
    let mut resource_dir = None;
    let mut init_dir = None;
    let mut no_fencing = None;
    let mut monitor_ms = None;
    let mut op_timeout_s = None;
    let mut threshold = None;
    let mut check = false;
    let mut rtprio: Option<u8> = None;
    loop {
        use lexopt::prelude::*;
        let arg = match p.next() {
            Ok(Some(a)) => a,
            Ok(None) => break,
            Err(e) => usage(e.to_string()),
        };
        let num = |v: String, what: &str| -> u64 { v.parse().unwrap_or_else(|_| usage(format!("{what}: {v:?} is not a number"))) };
        match arg {
            Short('c') | Long("config-dir") => config_dir = value(&mut p).into(),
            Short('r') | Long("run-dir") => run_dir = value(&mut p).into(),
            Short('n') | Long("node-name") => node = Some(value(&mut p)),
            Long("resource-dir") => resource_dir = Some(PathBuf::from(value(&mut p))),
            Long("init-dir") => init_dir = Some(PathBuf::from(value(&mut p))),
            Long("no-fencing") => {
                no_fencing = Some(match value(&mut p).as_str() {
                    "refuse" => NoFencing::Refuse,
                    "r1" => NoFencing::R1,
                    other => usage(format!("--no-fencing {other:?}: refuse or r1")),
                })
            }
            Long("monitor-interval") => monitor_ms = Some(num(value(&mut p), "--monitor-interval").max(100)),
            Long("op-timeout") => op_timeout_s = Some(num(value(&mut p), "--op-timeout").max(1)),
            Long("migration-threshold") => threshold = Some(num(value(&mut p), "--migration-threshold") as u32),
            Long("check-config") => check = true,
            Long("rtprio") => rtprio = Some(num(value(&mut p), "--rtprio").clamp(1, 99) as u8),
            Short('h') | Long("help") => {
                print!("{HELP}");
                return;
            }
            other => usage(other.unexpected().to_string()),
        }
    }
    let node = node.unwrap_or_else(hb_core::daemon::host_name);
    let mut settings = Settings::defaults(config_dir, node);
    settings.run_dir = run_dir.clone();
    if let Err(e) = settings.read_crm_cf() {
        eprintln!("hb-crmd: {e}");
        std::process::exit(78);
    }
    settings.resource_dir = resource_dir.unwrap_or(settings.resource_dir);
    settings.init_dir = init_dir.unwrap_or(settings.init_dir);
    settings.no_fencing = no_fencing.unwrap_or(settings.no_fencing);
    settings.monitor_interval = monitor_ms.map_or(settings.monitor_interval, Duration::from_millis);
    settings.op_timeout = op_timeout_s.map_or(settings.op_timeout, Duration::from_secs);
    settings.migration_threshold = threshold.unwrap_or(settings.migration_threshold);
    let cfg = match Config::load(settings) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hb-crmd: {e}");
            std::process::exit(78);
        }
    };
    if check {
        println!("hb-crmd: configuration valid: {} group(s), {} resource(s)", cfg.policy.groups.len(), cfg.resources.len());
        return;
    }
    if let Err(e) = hb_crm::sys::catch_stop_signals() {
        log("ERROR", &format!("cannot catch SIGTERM: {e}"));
        std::process::exit(1);
    }
    if let Some(prio) = rtprio {
        real_time(prio);
    }
    log("info", &format!("starting on {}: {} group(s)", cfg.settings.node, cfg.policy.groups.len()));
    let result = Crmd::start(cfg, &run_dir, Duration::from_secs(30)).and_then(|mut c| c.run_forever());
    if let Err(e) = result {
        log("ERROR", &e);
        std::process::exit(1);
    }
}
