//! The native drivers against real fencing hardware, when the environment names it — the
//! emulator tests stand in otherwise:
//!
//! - `HB_HWTEST_IPMI="ipaddr=10.0.0.5 login=admin password=… hostname=node1 [lanplus=1 …]"`: a
//!   BMC, with `ipmilan`'s parameters;
//! - `HB_HWTEST_PDU="ipaddr=10.0.0.6 community=private [snmp_version=3 …]"`: an APC PDU, with
//!   `apcmastersnmp`'s parameters.
//!
//! Each is asked for its status, its hosts and each host's power: nothing is switched. Only
//! when `HB_HWTEST_FENCE=HOST` also names a host that may lose power is that host turned off
//! (and the off read back), then on again.

use hb_stonith_hw::{registry, Action, Params, Power};
use std::time::{Duration, Instant};

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

fn real_device(var: &str, kind: &str) {
    let Ok(spec) = std::env::var(var) else {
        eprintln!("{var} not set: no real {kind} device to test (the emulator tests ran)");
        return;
    };
    let words: Vec<&str> = spec.split_whitespace().collect();
    let params = Params::parse_pairs(&words).unwrap_or_else(|e| panic!("{var}: {e}"));
    let mut d = registry::open(kind, &params).unwrap_or_else(|e| panic!("{var}: {e}"));
    d.status(soon()).unwrap_or_else(|e| panic!("{var}: status: {e}"));
    let hosts = d.hosts();
    eprintln!("{var}: {kind} answers; hosts {hosts:?}");
    for h in &hosts {
        eprintln!("{var}: {h} reads {:?}", d.power(h, soon()));
    }
    let Ok(victim) = std::env::var("HB_HWTEST_FENCE") else { return };
    if !hosts.iter().any(|h| h.eq_ignore_ascii_case(&victim)) {
        eprintln!("{var}: HB_HWTEST_FENCE={victim} is not one of its hosts: nothing switched");
        return;
    }
    let start = Instant::now();
    d.off_confirmed(&victim, soon()).unwrap_or_else(|e| panic!("{var}: off {victim}: {e}"));
    eprintln!("{var}: {victim} confirmed off in {:?}", start.elapsed());
    assert_eq!(d.power(&victim, soon()).unwrap(), Power::Off);
    d.act(Action::On, &victim, soon()).unwrap_or_else(|e| panic!("{var}: on {victim}: {e}"));
}

#[test]
fn a_real_bmc_when_configured() {
    real_device("HB_HWTEST_IPMI", "ipmilan");
}

#[test]
fn a_real_pdu_when_configured() {
    real_device("HB_HWTEST_PDU", "apcmastersnmp");
}
