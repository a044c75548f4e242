//! The native `apcmastersnmp` driver against an emulated APC rack PDU: Debian's real net-snmp
//! `snmpd` with a `pass_persist` backend holding the outlet state (`hb_hwtest::pdu::ApcPdu`;
//! `scripts/test.sh` installs snmpd). Hosts from outlet names, off/on/reset on every outlet of
//! a host, read-back, the command-pending refusal, a wrong community, an unreachable PDU; and
//! the same outlets driven by the third-party `fence_apc_snmp` agree with ours.

use hb_hwtest::pdu::ApcPdu;
use hb_stonith_hw::{registry, Action, Code, Driver, Params, Power};
use std::time::{Duration, Instant};

fn open(port: u16, extra: &[&str]) -> Result<Box<dyn Driver>, hb_stonith_hw::StonithError> {
    let mut words = vec!["ipaddr=127.0.0.1".to_string(), format!("port={port}")];
    words.extend(extra.iter().map(|s| s.to_string()));
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    registry::open("apcmastersnmp", &Params::parse_pairs(&words).unwrap())
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

#[test]
fn hosts_come_from_outlet_names_and_every_outlet_of_a_host_is_switched() {
    let pdu = ApcPdu::start().expect("the emulated PDU (snmpd)");
    for version in ["1", "2c"] {
        let v = format!("snmp_version={version}");
        let mut d = open(pdu.port(), &["community=private", &v]).unwrap_or_else(|e| panic!("{e}\n{}", pdu.log()));
        assert_eq!(d.hosts(), ["node1", "node2"], "outlet names; the unnamed outlet is nobody's");
        d.status(soon()).unwrap();
        assert_eq!(d.power("node2", soon()).unwrap(), Power::On);
        d.act(Action::Off, "node2", soon()).unwrap();
        assert!(!pdu.on(2) && !pdu.on(3) && pdu.on(1), "both of node2's outlets, and only those");
        assert_eq!(d.power("node2", soon()).unwrap(), Power::Off);
        assert_eq!(pdu.snmpget("1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.2").as_deref(), Some("2"), "net-snmp's client agrees");
        d.act(Action::On, "node2", soon()).unwrap();
        assert!(pdu.on(2) && pdu.on(3));
        let start = Instant::now();
        d.act(Action::Reset, "node1", soon()).unwrap();
        assert!(pdu.on(1), "back on when the reset returns");
        assert!(start.elapsed() >= Duration::from_secs_f64(hb_hwtest::pdu::REBOOT_S * 0.9), "it waited for the reboot");
        assert_eq!(d.act(Action::Off, "node9", soon()).unwrap_err().code, Code::BadHost);
    }
    assert!(pdu.calls().iter().any(|c| c == "set 1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.1 3"), "{:?}", pdu.calls());
}

#[test]
fn a_pending_command_is_not_overridden_and_bad_communities_and_silence_are_errors() {
    let pdu = ApcPdu::start().expect("the emulated PDU (snmpd)");
    let mut d = open(pdu.port(), &["community=private", "hostmap=node1:1"]).unwrap();
    pdu.hold_pending(1, true);
    let e = d.act(Action::Off, "node1", soon()).unwrap_err();
    assert_eq!(e.code, Code::ResetFail, "{e}");
    assert!(pdu.on(1), "the outlet was left alone");
    pdu.hold_pending(1, false);
    d.act(Action::Off, "node1", soon()).unwrap();
    assert!(!pdu.on(1));
    // The read-only community: snmpd refuses the SET.
    let mut ro = open(pdu.port(), &["community=public", "table=rpdu", "hostmap=node1:1"]).unwrap();
    let e = ro.act(Action::On, "node1", soon()).unwrap_err();
    assert!(matches!(e.code, Code::Access | Code::BadConfig | Code::ResetFail), "{e}");
    assert!(!pdu.on(1));
    // A community snmpd does not know gets no answer at all.
    let mut wrong = open(pdu.port(), &["community=nope", "table=rpdu", "hostmap=node1:1"]).unwrap();
    let start = Instant::now();
    let e = wrong.act(Action::On, "node1", Instant::now() + Duration::from_millis(800)).unwrap_err();
    assert_eq!(e.code, Code::Timeout, "{e}");
    assert!(start.elapsed() < Duration::from_millis(1500));
    // Configuration that must ask the PDU fails at once, naming the way around it.
    let e = open(hb_hwtest::free_udp_port(), &["community=private"]).err().expect("nobody there");
    assert!(e.code == Code::BadConfig && e.what.contains("give table= and hostmap="), "{e}");
}

/// `fence_apc_snmp` (fence-agents) and our driver read and switch the same outlets the same way.
#[test]
fn fence_apc_snmp_sees_what_we_did_and_we_see_what_it_did() {
    let pdu = ApcPdu::start().expect("the emulated PDU (snmpd)");
    let agent = |action: &str, plug: &str| {
        let out = std::process::Command::new("fence_apc_snmp")
            .args(["--ip", "127.0.0.1", "--ipport", &pdu.port().to_string(), "--community", "private", "--snmp-version", "1"])
            .args(["--plug", plug, "--action", action])
            .output()
            .expect("fence_apc_snmp (Debian fence-agents)");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let mut d = open(pdu.port(), &["community=private"]).unwrap();
    d.act(Action::Off, "node1", soon()).unwrap();
    assert_eq!(agent("status", "1").0, Some(2), "fence_apc_snmp reads outlet 1 off: {:?}", agent("status", "1"));
    let (rc, text) = agent("on", "1");
    assert_eq!(rc, Some(0), "{text}");
    assert_eq!(d.power("node1", soon()).unwrap(), Power::On, "we read what fence_apc_snmp did");
}

/// SNMPv3 (USM): authPriv with SHA and AES, authNoPriv with MD5, a wrong password refused at
/// once through the agent's report; and `fence_apc_snmp` over v3 reads what we did.
#[test]
fn snmp_v3_users_switch_outlets_and_a_wrong_password_is_refused() {
    let pdu = ApcPdu::start().expect("the emulated PDU (snmpd)");
    let sha = [
        "snmp_version=3",
        "username=fenceuser",
        "password=fencepass1",
        "snmp_auth_prot=SHA",
        "snmp_sec_level=authPriv",
        "snmp_priv_prot=AES",
        "snmp_priv_passwd=fencepriv1",
    ];
    let mut d = open(pdu.port(), &sha).unwrap_or_else(|e| panic!("{e}\n{}", pdu.log()));
    assert_eq!(d.hosts(), ["node1", "node2"]);
    d.act(Action::Off, "node1", soon()).unwrap();
    assert!(!pdu.on(1));
    let status = std::process::Command::new("fence_apc_snmp")
        .args(["--ip", "127.0.0.1", "--ipport", &pdu.port().to_string(), "--snmp-version", "3", "--username", "fenceuser"])
        .args(["--password", "fencepass1", "--snmp-auth-prot", "SHA", "--snmp-sec-level", "authPriv"])
        .args(["--snmp-priv-prot", "AES", "--snmp-priv-passwd", "fencepriv1", "--plug", "1", "--action", "status"])
        .output()
        .expect("fence_apc_snmp");
    assert_eq!(status.status.code(), Some(2), "fence_apc_snmp over v3 reads outlet 1 off: {}", String::from_utf8_lossy(&status.stdout));
    d.act(Action::On, "node1", soon()).unwrap();
    assert_eq!(d.power("node1", soon()).unwrap(), Power::On);
    let mut md5 =
        open(pdu.port(), &["snmp_version=3", "username=md5user", "password=fencepass1", "table=rpdu", "hostmap=node1:1"]).unwrap();
    md5.act(Action::Off, "node1", soon()).unwrap();
    assert!(!pdu.on(1));
    let mut wrong =
        open(pdu.port(), &["snmp_version=3", "username=md5user", "password=wrongpass1", "table=rpdu", "hostmap=node1:1"]).unwrap();
    let start = Instant::now();
    let e = wrong.act(Action::On, "node1", soon()).unwrap_err();
    assert_eq!(e.code, Code::Access, "{e}");
    assert!(e.what.contains("wrong digest"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(2), "refused at once, not at the deadline");
    assert!(!pdu.on(1));
    let e = open(pdu.port(), &["snmp_version=3", "username=u", "password=short"]).err().expect("refused");
    assert_eq!(e.code, Code::BadConfig);
}
