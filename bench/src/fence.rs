//! `hb-bench fence`: the time from `hbctl fence NODE` to a confirmed result, through hbd's
//! fencing thread and a native driver: `ipmilan` against a real BMC simulator (OpenIPMI's
//! `ipmi_sim` on loopback, `hb_hwtest::ipmi::IpmiSim`) and `apcmastersnmp` against an
//! emulated APC PDU (net-snmp's `snmpd` with an outlet backend, `hb_hwtest::pdu::ApcPdu`,
//! whose reboot keeps an outlet off for 1 s). Node a of a loopback pair runs the device; each trial powers the simulated chassis on, runs `hbctl fence b`, and
//! takes two times: the wall time of the `hbctl` process (connect, request, every event,
//! exit) and hbd's own `duration_ns` of the fencing (request taken to result, which for an
//! off includes reading the power back as off).

use crate::hist::Hist;
use crate::twonode::{Settings, TwoNodes};
use hb_core::ipc::proto::{Event, EventMsg};
use hb_hwtest::ipmi::IpmiSim;
use hb_hwtest::pdu::ApcPdu;
use std::time::{Duration, Instant};

/// The devices measured: a name, the driver and its parameters (the simulator's address is
/// added).
pub const MODES: &[(&str, &str, &str)] = &[
    ("IPMI lanplus cipher 3", "ipmilan", "hostname=b login=admin password=secret lanplus=1 cipher=3"),
    ("IPMI 1.5 MD5", "ipmilan", "hostname=b login=admin password=secret auth=md5"),
    ("APC PDU SNMP v1", "apcmastersnmp", "community=private hostmap=b:1"),
    ("APC PDU SNMP v2c", "apcmastersnmp", "community=private snmp_version=2c hostmap=b:1"),
];

/// A running simulator of either kind.
enum Sim {
    Ipmi(IpmiSim),
    Apc(ApcPdu),
}

impl Sim {
    fn port(&self) -> u16 {
        match self {
            Sim::Ipmi(s) => s.port(),
            Sim::Apc(p) => p.port(),
        }
    }
    /// Whether b is powered.
    fn on(&self) -> bool {
        match self {
            Sim::Ipmi(s) => s.power(),
            Sim::Apc(p) => p.on(1),
        }
    }
}

/// One mode and action's samples, ns.
pub struct Samples {
    /// The IPMI mode.
    pub mode: &'static str,
    /// `off` or `reboot`.
    pub action: &'static str,
    /// `hbctl fence` from start to exit.
    pub hbctl: Hist,
    /// hbd's duration of the fencing.
    pub hbd: Hist,
}

/// Runs `trials` fences per mode and action (`off`, then `reboot`).
pub fn measure(trials: usize, progress: &dyn Fn(usize, usize)) -> Result<Vec<Samples>, String> {
    let mut out = Vec::new();
    let total = MODES.len() * 2 * trials;
    let mut done = 0;
    for (mode, driver, params) in MODES {
        let sim = if *driver == "ipmilan" { Sim::Ipmi(IpmiSim::start()?) } else { Sim::Apc(ApcPdu::start()?) };
        let extra = format!(
            "stonith_device dev {driver} ipaddr=127.0.0.1 port={} {params}\nstonith_level b 1 dev\nstonith_timeout 10s\n",
            sim.port()
        );
        let settings = Settings { loopback: true, keepalive_ms: 10, deadtime_ms: 50, extra_a: extra, ..Settings::default() };
        let mut t = TwoNodes::create(&settings)?;
        t.start('a');
        t.start('b');
        if !t.wait_up(Duration::from_secs(15)) {
            return Err(format!("the nodes did not see each other\n{}", t.log('a')));
        }
        for action in ["off", "reboot"] {
            let (mut hbctl, mut hbd) = (Hist::new(), Hist::new());
            for _ in 0..trials {
                if !sim.on() {
                    // Power b back on through hbd (an `on` of its own), outside the timing.
                    t.hbctl('a', &["fence", "b", "--action", "on", "--timeout", "20"]);
                }
                let start = Instant::now();
                let o = t.hbctl('a', &["--json", "fence", "b", "--action", action, "--timeout", "20"]);
                let wall = start.elapsed();
                let result = o
                    .lines()
                    .filter_map(|l| serde_json::from_str::<EventMsg>(l).ok())
                    .find_map(|m| match m.event {
                        Event::FenceResult { ok, duration_ns, message, .. } => Some((ok, duration_ns, message)),
                        _ => None,
                    })
                    .ok_or_else(|| format!("hbctl fence printed no result: {o}\n{}", t.log('a')))?;
                if !result.0 {
                    return Err(format!("{mode} {action}: the fencing failed: {}", result.2));
                }
                if action == "off" && sim.on() {
                    return Err(format!("{mode}: hbd reported b off, but the chassis is on"));
                }
                hbctl.record(wall.as_nanos() as u64);
                hbd.record(result.1 .0);
                done += 1;
                progress(done, total);
            }
            out.push(Samples { mode, action, hbctl, hbd });
        }
        t.stop_a();
    }
    Ok(out)
}
