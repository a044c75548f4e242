//! `hbd`: the heartbeat core daemon. Parses flags, starts [`hb_core::daemon::Daemon`], waits
//! for SIGTERM/SIGINT/SIGHUP, stops cleanly, and maps every failure to an exit code.

use hb_core::backend::Choice;
use hb_core::daemon::{host_name, load_config, Daemon, Options, StartError};
use std::path::PathBuf;
use std::process::ExitCode;

/// hbd's exit codes (sysexits.h values, so scripts can tell failures apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Exit {
    /// Stopped cleanly, or the configuration is valid (`--check-config`).
    Ok = 0,
    /// Bad command line.
    Usage = 64,
    /// A configuration file is missing or unreadable.
    NoInput = 66,
    /// Start-up failed in the OS (sockets, directories, threads).
    OsErr = 71,
    /// A configuration file is invalid.
    Config = 78,
}

const HELP: &str = "\
hbd - the hb heartbeat core daemon

USAGE
    hbd [OPTIONS]

DESCRIPTION
    Sends heartbeats to the other cluster nodes over every configured medium, declares a node
    dead when it has been silent for `deadtime` on all of them, and reports node and link
    events on its IPC socket and status page. Reads heartbeat 3.0's ha.cf and authkeys.
    Runs in the foreground; SIGTERM or SIGINT stop it cleanly. SIGUSR1 / SIGUSR2 raise / lower
    the debug level. SIGHUP does not stop it; configuration reload is not implemented yet, so
    a changed ha.cf needs a restart (hbd logs this when it receives SIGHUP).

OPTIONS
    -c, --config-dir DIR   directory holding ha.cf and authkeys        [default: /etc/ha.d]
    -n, --node-name NAME   this node's name, as listed in `node`       [default: host name]
    -r, --run-dir DIR      status page and IPC socket (hbd.sock)       [default: /run/hb]
    -s, --state-dir DIR    persisted boot generation                   [default: /var/lib/hb]
    -b, --backend KIND     auto, io_uring or epoll                     [default: auto]
        --no-realtime      no mlockall and no SCHED_FIFO, whatever ha.cf says
        --watchdog-test-mode
                           accept a `watchdog` path that is not a character device (the
                           test bench's FUSE emulator); never for production
        --check-config     validate ha.cf and authkeys for this node, then exit
    -q, --quiet            do not log to standard error
    -h, --help             this text
    -V, --version          the version

HA.CF
    heartbeat 3.0 directives hb implements: keepalive, warntime, deadtime, initdead, udpport,
    bcast (alias udp), mcast, mcast6, ucast, ucast6, serial, baud, ping, ping6, ping_group,
    deadping, node, cluster, logfile,
    debugfile, logfacility, debug, realtime, rtprio, auto_failback (nice_failback), apiauth,
    crm on|respawn|off (hbd starts hb-crmd, the resource manager, next to it; respawn restarts
    it when it exits; a clean stop lets it release every resource group before the last
    heartbeat says this node is leaving, and if it cannot, no leaving mark is sent, so the
    peers fence this node before taking over), watchdog DEVICE (hbd pets it from its
    real-time loop; a clean stop disarms it with the magic close, a crash, kill -9 or hang
    leaves it armed and the node is reset).
    Times are heartbeat's: `2` and `1.5` are seconds, `250ms` milliseconds.
    heartbeat directives not implemented yet (respawn, hopfudge, hbaping, ...) are
    refused by name; hb never ignores a line silently.

STONITH
    Devices are opened at start-up (a bad one stops hbd, naming its line) and driven by a
    fencing thread one SCHED_FIFO priority below the real-time thread. Driver types:
    `hb-stonith -L`; their parameters: `hb-stonith -t TYPE -n`.
    stonith TYPE FILE          heartbeat's: a device every node runs; FILE (root's, mode 0600)
                               holds its parameters in `-n` order, or as name=value words
    stonith_host FROM TYPE PARAMS...
                               heartbeat's: a device node FROM runs (`*`: every node)
    stonith_device NAME TYPE name=value...
                               a named device every node runs, for levels
    stonith_level NODE N DEV[,DEV...]
                               level N (1-9) of NODE's topology: levels are tried in order,
                               and one succeeds only if all its devices do (a reboot across
                               several devices is all off, then all on). Without levels, each
                               device listing NODE is tried in file order (heartbeat's rule)
    stonith_action reboot|off  what fencing a dead peer does            [default: reboot]
    stonith_timeout TIME       one device operation's deadline          [default: 60s]
    stonith_delay TIME         the race delay: node names sorted, the first fences a dead peer
                               at once, the k-th waits k x TIME, so exactly one node of a
                               split fences the other                   [default: 2s]
    stonith_watchdog on|off    watchdog self-fencing (sbd's watchdog-only mode): this node
                               advertises its watchdog timeout T in its heartbeats; if it loses
                               every peer and its name does not sort first, it stops petting
                               for good and the board resets within T; the node whose name
                               sorts first counts such a peer off 2 x T after it last heard it,
                               as the last level after every device. Needs `watchdog` and
                               deadtime <= T / 2. Without a device, the second node also resets
                               when the first really died: safe, not available  [default: off]
    A peer declared dead is fenced; it counts as fenced only once it is confirmed off (a
    device that reads power back must read off, polled until the deadline) or the device
    confirmed the reset. `hbctl fence NODE` fences at once; `hbctl stonith` shows devices and
    levels; a `meatware` device waits for `hbctl fence-confirm NODE`.
    A clean stop (SIGTERM, SIGINT) sends a last heartbeat marked leaving on every link: peers
    report the node as `node-left`, not dead, and do not fence it. A peer running an hb
    release older than the leaving mark still declares it dead after deadtime.

PING NODES
    `ping ADDR...` (IPv4) and `ping6 ADDR...` make each address a pseudo-member, named by the
    address; `ping_group NAME ADDR...` makes one pseudo-member that is up while any of its
    addresses answers. hbd sends an ICMP echo to every address each keepalive (raw sockets:
    needs CAP_NET_RAW) and declares a ping node dead after `deadping` without an answer
    (default: deadtime; like deadtime, more than 2 x keepalive). Ping nodes show in
    `hbctl nodes` and as `ping-up` / `ping-dead` events, for connectivity decisions
    (heartbeat's ipfail); they never count as cluster members. Mind routers that rate-limit
    ICMP: at a 10 ms keepalive each gets 100 echoes a second.

SERIAL LINKS
    `baud N` (9600 ... 460800, default 19200) applies to the `serial DEVICE...` lines after
    it. Each port is opened raw, 8N1, without flow control, locked against other programs
    (TIOCEXCL, flock and the UUCP lock file /run/lock/LCK..NAME); a port in use stops start-up
    with the holder's pid and name. Heartbeats travel as COBS frames with a CRC-32, so the
    receiver resynchronises after noise; frames that fail are counted as `bad-frame` in
    `hbctl links`. A line too slow to carry one heartbeat within keepalive is refused, with the
    baud it needs (a sha256 heartbeat is 106 bytes framed: 9.2 ms at 115200). Each serial link
    joins the two nodes at its ends; hb does not forward heartbeats across serial links. A port
    that hangs up (a USB adapter unplugged) is logged and closed, and reopened (lock and
    settings again) as soon as its device returns, without restarting hbd.

    hb's own directives:
    raw DEV [ETHERTYPE]    heartbeats as broadcast Ethernet frames of EtherType ETHERTYPE
                           (default 0x88b5, IEEE local experimental) on interface DEV, through
                           a packet socket: works on an interface with no IP address, past
                           any IP misconfiguration or firewall. Needs CAP_NET_RAW. Frames that
                           do not parse count as `bad-frame`.
    bind ADDR              bind UDP sockets to ADDR rather than the wildcard; a ucast line
                           naming ADDR is this node's own (several nodes on one host)
    rtcpu N                pin the real-time thread to CPU N
    watchdog_timeout S     the watchdog's timeout, whole seconds, set at open  [default: 5]
    watchdog_interval TIME how often hbd pets it, at most half the timeout
                                                       [default: a third of the timeout]
    apphb_watchdog on|off  a failed application heartbeat (a missed check-in, or the
                           process gone without unregistering) stops the pets: the node
                           resets                                      [default: off]
    watchdog_require_crm on|off
                           pet only while the CRM (application heartbeat 'hb-crmd')
                           checks in                                 [default: off]
    stall_threshold TIME   a wake-up this much later than planned is our own stall, and is
                           discounted from peers' silence  [default: keepalive/2, 1ms..100ms]
    rx_wakeup on|off|auto  on: a received packet wakes the loop at once; off: packets wait
                           for the loop's next tick (at most one keepalive; liveness still
                           uses the kernel's arrival stamp, so detection is unchanged) and
                           idle CPU halves. auto: off when keepalive <= 20ms  [default: auto]

HOSTILE NETWORKS
    Every UDP and raw socket carries a kernel filter (classic BPF) that drops what cannot be
    this cluster's heartbeat: the wrong length, magic, version, cluster or sender, and on ucast
    links any source but a peer's address and udpport. The kernel counts those drops; `hbctl
    links` shows them as `dropped by the kernel`. A forgery that passes (it copies a peer's
    address) costs a MAC check and is counted by reason (`bad-mac`, ...).
    A heartbeat keeps its sender alive only if it echoes a timestamp this hbd sent in this
    life within deadtime (timestamps are salted per generation), so a replayed packet proves
    nothing, even after a restart of this node: it is counted as `stale`. After a partition or
    a restart, a few `stale` packets are normal until both sides hear each other again; a link
    that works one way only is dead for both nodes.
    Under a flood the loop reads at most 1024 datagrams per socket before it judges, sends and
    pets the watchdog, ticks every millisecond while the flood lasts, and judges a flooded link
    only as far as it has read it. Receive buffers are 4 MiB (SO_RCVBUFFORCE: needs
    CAP_NET_ADMIN; otherwise net.core.rmem_max caps them and hbd warns).

EXIT STATUS
    0   stopped cleanly; or, with --check-config, the configuration is valid
    64  bad command line
    66  ha.cf or authkeys missing or unreadable
    71  start-up failed in the operating system (socket, serial port busy or missing,
        directory, thread, io_uring forced)
    78  ha.cf or authkeys invalid (the message names file, line and problem)

FILES
    DIR/ha.cf, DIR/authkeys (mode 0600, owned by root or hbd's user, a regular file)
    RUN/status (a link to /dev/shm/hb-status-* when RUN is not on tmpfs), RUN/hbd.sock
      (the local API, docs/ipc.md; its mode and group follow apiauth)
    STATE/generation (this node's), STATE/peers (each peer's last generation)
    RUN and STATE must not be writable by other users.

SEE ALSO
    hbctl(8), ha.cf(5), authkeys(5)
";

fn exit_for(e: &StartError) -> Exit {
    match e {
        StartError::Config(_) => Exit::Config,
        StartError::ConfigUnreadable { .. } => Exit::NoInput,
        StartError::Stonith(d) if d.source.code == hb_stonith_hw::Code::BadConfig => Exit::Config,
        _ => Exit::OsErr,
    }
}

fn parse_args() -> Result<(Options, bool), String> {
    use lexopt::prelude::*;
    let mut o = Options {
        config_dir: PathBuf::from("/etc/ha.d"),
        node_name: host_name(),
        run_dir: PathBuf::from("/run/hb"),
        state_dir: PathBuf::from("/var/lib/hb"),
        backend: Choice::Auto,
        log_stderr: true,
        no_realtime: false,
        rt_hook: None,
        watchdog_test_mode: false,
    };
    let mut check = false;
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        let val = |p: &mut lexopt::Parser| -> Result<String, String> {
            p.value().map_err(|e| e.to_string())?.into_string().map_err(|_| "not UTF-8".to_string())
        };
        match arg {
            Short('c') | Long("config-dir") => o.config_dir = val(&mut p)?.into(),
            Short('n') | Long("node-name") => o.node_name = val(&mut p)?,
            Short('r') | Long("run-dir") => o.run_dir = val(&mut p)?.into(),
            Short('s') | Long("state-dir") => o.state_dir = val(&mut p)?.into(),
            Short('b') | Long("backend") => {
                o.backend = match val(&mut p)?.as_str() {
                    "auto" => Choice::Auto,
                    "io_uring" | "uring" => Choice::Uring,
                    "epoll" => Choice::Epoll,
                    other => return Err(format!("--backend {other:?}: expected auto, io_uring or epoll")),
                }
            }
            Long("no-realtime") => o.no_realtime = true,
            Long("watchdog-test-mode") => o.watchdog_test_mode = true,
            Long("check-config") => check = true,
            Short('q') | Long("quiet") => o.log_stderr = false,
            Short('h') | Long("help") => {
                print!("{HELP}");
                std::process::exit(0);
            }
            Short('V') | Long("version") => {
                println!("hbd {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok((o, check))
}

fn main() -> ExitCode {
    let (opts, check) = match parse_args() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("hbd: {e}\nTry 'hbd --help'.");
            return ExitCode::from(Exit::Usage as u8);
        }
    };
    if check {
        return match load_config(&opts.config_dir, &opts.node_name) {
            Ok((cfg, keys)) => {
                for w in hb_core::daemon::config_warnings(&cfg, &keys) {
                    eprintln!("hbd: warning: {w}");
                }
                println!("{}", cfg.summary(&opts.node_name));
                ExitCode::from(Exit::Ok as u8)
            }
            Err(e) => {
                eprintln!("hbd: {}", hb_core::daemon::error_text(&e));
                ExitCode::from(exit_for(&e) as u8)
            }
        };
    }
    // Block the handled signals before any thread exists, so only the main thread sees them.
    hb_core::daemon::block_signals();
    let d = match Daemon::start(&opts) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("hbd: {}", hb_core::daemon::error_text(&e));
            return ExitCode::from(exit_for(&e) as u8);
        }
    };
    let sig = d.wait_for_stop();
    d.stop(sig);
    ExitCode::from(Exit::Ok as u8)
}
