//! The native `ipmilan` driver against a real BMC simulator (OpenIPMI's `ipmi_sim`, which
//! `scripts/test.sh` installs): status, off, on and reset through IPMI 1.5 (MD5, straight
//! password) and IPMI 2.0 (RMCP+ cipher suite 3), each checked on the simulated chassis and
//! by `ipmitool`; wrong passwords, an unreachable BMC, a BMC that answers garbage, a host the
//! BMC does not power.

use hb_hwtest::ipmi::IpmiSim;
use hb_stonith_hw::{registry, Action, Code, Driver, Power};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

fn open(sim_port: u16, extra: &[&str]) -> Box<dyn Driver> {
    let mut words = vec!["hostname=node1".to_string(), "ipaddr=127.0.0.1".into(), format!("port={sim_port}"), "login=admin".into()];
    words.extend(extra.iter().map(|s| s.to_string()));
    if !extra.iter().any(|w| w.starts_with("password=")) {
        words.push("password=secret".into());
    }
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    registry::open("ipmilan", &hb_stonith_hw::Params::parse_pairs(&words).unwrap()).unwrap()
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

/// What `ipmitool` reads of the chassis power.
fn ipmitool_status(port: u16) -> String {
    let out = std::process::Command::new("ipmitool")
        .args([
            "-I",
            "lanplus",
            "-C",
            "3",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "admin",
            "-P",
            "secret",
            "chassis",
            "power",
            "status",
        ])
        .output()
        .expect("ipmitool (Debian package ipmitool)");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn exercise(mode: &[&str]) {
    let sim = IpmiSim::start().expect("the IPMI simulator");
    let mut d = open(sim.port(), mode);
    d.status(soon()).unwrap_or_else(|e| panic!("{mode:?}: status: {e}\n{}", sim.log()));
    assert_eq!(d.power("node1", soon()).unwrap(), Power::On, "{mode:?}");
    d.act(Action::Off, "node1", soon()).unwrap_or_else(|e| panic!("{mode:?}: off: {e}"));
    assert!(!sim.power(), "{mode:?}: the chassis is off");
    assert_eq!(d.power("node1", soon()).unwrap(), Power::Off);
    assert_eq!(ipmitool_status(sim.port()), "Chassis Power is off", "{mode:?}");
    d.act(Action::On, "node1", soon()).unwrap();
    assert!(sim.power());
    assert_eq!(ipmitool_status(sim.port()), "Chassis Power is on");
    d.act(Action::Reset, "node1", soon()).unwrap();
    assert!(sim.calls().iter().any(|c| c == "set reset 1"), "{mode:?}: a hard reset reached the chassis: {:?}", sim.calls());
    // A reset of a host that is off powers it on.
    sim.set_power(false);
    d.act(Action::Reset, "node1", soon()).unwrap();
    assert!(sim.power(), "{mode:?}");
    assert_eq!(d.act(Action::Off, "node2", soon()).unwrap_err().code, Code::BadHost);
}

#[test]
fn ipmi15_md5_powers_the_chassis() {
    exercise(&["auth=md5"]);
}

#[test]
fn ipmi15_straight_password_powers_the_chassis() {
    exercise(&["auth=straight", "priv=admin"]);
}

#[test]
fn rmcp_plus_cipher_suite_3_powers_the_chassis() {
    exercise(&["lanplus=1", "cipher=3"]);
}

#[test]
fn fence_ipmilan_parameter_names_and_a_power_cycle() {
    let sim = IpmiSim::start().expect("the IPMI simulator");
    let words = [
        "hostname=node1".to_string(),
        "ip=127.0.0.1".into(),
        format!("ipport={}", sim.port()),
        "username=oper".into(),
        "passwd=secret".into(),
        "privlvl=operator".into(),
        "lanplus=1".into(),
        "reset_method=power_cycle".into(),
    ];
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut d = registry::open("ipmilan", &hb_stonith_hw::Params::parse_pairs(&words).unwrap()).unwrap();
    d.act(Action::Reset, "node1", soon()).unwrap();
    // ipmi_sim carries out a cycle as power 0, then power 1 a second later.
    assert!(sim.calls().iter().any(|c| c == "set power 0"), "{:?}", sim.calls());
}

#[test]
fn a_wrong_password_is_an_access_error() {
    let sim = IpmiSim::start().expect("the IPMI simulator");
    for mode in [&["lanplus=1"][..], &["auth=md5"], &["auth=straight"]] {
        let mut extra = mode.to_vec();
        extra.push("password=wrong");
        let mut d = open(sim.port(), &extra);
        let start = Instant::now();
        let e = d.act(Action::Off, "node1", Instant::now() + Duration::from_secs(3)).unwrap_err();
        if mode[0] == "lanplus=1" {
            // RMCP+ proves the password in RAKP 2: refused at once.
            assert_eq!(e.code, Code::Access, "{e}");
            assert!(e.what.contains("wrong password"), "{e}");
        } else {
            // An IPMI 1.5 BMC drops an Activate Session whose auth code is wrong.
            assert_eq!(e.code, Code::Timeout, "{mode:?}: {e}");
            assert!(e.what.contains("does not answer a wrong password"), "{e}");
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{mode:?}: bounded by the deadline");
        assert!(sim.power(), "{mode:?}: nothing reached the chassis");
    }
}

#[test]
fn an_unreachable_or_babbling_bmc_times_out_within_the_deadline() {
    // Nobody at this port.
    let port = hb_hwtest::free_udp_port();
    let mut d = open(port, &["lanplus=1"]);
    let start = Instant::now();
    let e = d.act(Action::Off, "node1", Instant::now() + Duration::from_millis(800)).unwrap_err();
    assert_eq!(e.code, Code::Timeout, "{e}");
    assert!(start.elapsed() < Duration::from_millis(1500));
    // A "BMC" that answers every packet with garbage, truncations of it, or slowly.
    let fake = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = fake.local_addr().unwrap().port();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        fake.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut n = 0u8;
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok((len, from)) = fake.recv_from(&mut buf) {
                n = n.wrapping_add(1);
                let mut reply = buf[..len].to_vec();
                reply.truncate(usize::from(n) % (len + 1));
                reply.extend((0..n).map(|i| i.wrapping_mul(37)));
                if n.is_multiple_of(3) {
                    std::thread::sleep(Duration::from_millis(100));
                }
                let _ = fake.send_to(&reply, from);
            }
        }
    });
    for mode in [&["lanplus=1"][..], &["auth=md5"]] {
        let mut d = open(port, mode);
        let start = Instant::now();
        let e = d.act(Action::Off, "node1", Instant::now() + Duration::from_millis(800)).unwrap_err();
        assert!(matches!(e.code, Code::Timeout | Code::Access), "{mode:?}: {e}");
        assert!(start.elapsed() < Duration::from_millis(1500), "{mode:?}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    t.join().unwrap();
}
