//! The zero-fork check: every native driver powers a host off and on, reads it back and asks
//! for its device's status in a process that cannot start another program (a seccomp filter,
//! `hb_hwtest::forbid_forks`: fork, exec and non-thread clones fail). Each emulator is started
//! first, since some are real programs (`ipmi_sim`, `snmpd`); the drivers are configured
//! first too, as hbd configures them at start-up. A forking driver (`fence_agent`) fails under
//! the same filter, which shows the filter bites.

use hb_hwtest::apc::{ApcMaster, Dialect};
use hb_hwtest::baytech::Baytech;
use hb_hwtest::ipmi::IpmiSim;
use hb_hwtest::pdu::ApcPdu;
use hb_hwtest::relay::LcusBoard;
use hb_hwtest::serialpower::{Rpc100s, Rps10, SmartUps};
use hb_hwtest::wti::WtiNps;
use hb_stonith_hw::{registry, Action, Driver, Params, Power};
use std::time::{Duration, Instant};

fn open(kind: &str, pairs: &[String]) -> Box<dyn Driver> {
    let p = Params::parse_pairs(&pairs.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    registry::open(kind, &p).unwrap_or_else(|e| panic!("{kind}: {e}"))
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn native_drivers_act_without_forking_and_a_forking_one_cannot() {
    let ipmi = IpmiSim::start().expect("ipmi_sim");
    let pdu = ApcPdu::start().expect("snmpd");
    let wti = WtiNps::start("127.0.0.1:0").unwrap();
    let apc = ApcMaster::start("127.0.0.1:0", Dialect::Menus).unwrap();
    let bay = Baytech::start("127.0.0.1:0").unwrap();
    let (rps, rpc, ups, lcus) =
        (Rps10::start().unwrap(), Rpc100s::start().unwrap(), SmartUps::start().unwrap(), LcusBoard::start().unwrap());
    let tcp = |addr: std::net::SocketAddr| vec![format!("ipaddr={}", addr.ip()), format!("port={}", addr.port())];
    let mut drivers: Vec<(&str, Box<dyn Driver>)> = vec![
        (
            "ipmilan",
            open(
                "ipmilan",
                &[s(&["hostname=node1", "ipaddr=127.0.0.1", "login=admin", "password=secret"]), vec![format!("port={}", ipmi.port())]]
                    .concat(),
            ),
        ),
        (
            "apcmastersnmp",
            open("apcmastersnmp", &[s(&["ipaddr=127.0.0.1", "community=private"]), vec![format!("port={}", pdu.port())]].concat()),
        ),
        ("wti_nps", open("wti_nps", &[tcp(wti.addr()), s(&["password=nps"])].concat())),
        ("apcmaster", open("apcmaster", &[tcp(apc.addr()), s(&["login=apc", "password=apc"])].concat())),
        ("baytech", open("baytech", &[tcp(bay.addr()), s(&["login=root", "password=baytech"])].concat())),
        ("rps10", open("rps10", &[format!("serial_to_targets={} node1 0", rps.path().display())])),
        ("nw_rpc100s", open("nw_rpc100s", &[format!("ttydev={}", rpc.path().display()), "hostlist=node1".into()])),
        ("apcsmart", open("apcsmart", &[format!("ttydev={}", ups.path().display()), "hostlist=node1".into()])),
        ("lcus", open("lcus", &[format!("ttydev={}", lcus.path().display()), "hostmap=node1:1".into()])),
    ];
    let agent = std::env::temp_dir().join(format!("hb-no-fork-agent-{}", std::process::id()));
    std::fs::write(&agent, "#!/bin/sh\ncat >/dev/null\nexit 0\n").unwrap();
    std::fs::set_permissions(&agent, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut forking = open("fence_agent", &[format!("agent={}", agent.display()), "hostlist=node1".into()]);

    hb_hwtest::forbid_forks().expect("a seccomp filter");
    assert!(std::process::Command::new("/bin/true").status().is_err(), "the filter forbids starting programs");
    for (kind, d) in &mut drivers {
        assert!(!d.info().forks, "{kind}");
        let deadline = || Instant::now() + Duration::from_secs(15);
        let host = d.hosts().into_iter().next().unwrap_or_else(|| panic!("{kind}: no host"));
        d.status(deadline()).unwrap_or_else(|e| panic!("{kind}: status: {e}"));
        d.act(Action::Off, &host, deadline()).unwrap_or_else(|e| panic!("{kind}: off: {e}"));
        if d.info().confirms {
            assert_eq!(d.power(&host, deadline()).unwrap_or_else(|e| panic!("{kind}: power: {e}")), Power::Off, "{kind}");
        }
        d.act(Action::On, &host, deadline()).unwrap_or_else(|e| panic!("{kind}: on: {e}"));
    }
    let e = forking.act(Action::Off, "node1", Instant::now() + Duration::from_secs(5)).expect_err("fence_agent must fork");
    assert!(e.to_string().contains("ermission") || e.to_string().contains("EPERM") || e.to_string().contains("not permitted"), "{e}");
    let _ = std::fs::remove_file(&agent);
}
