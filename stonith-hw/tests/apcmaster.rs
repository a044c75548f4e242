//! The native `apcmaster` driver against an emulated APC MasterSwitch
//! (`hb_hwtest::apc::ApcMaster`), in both of its dialogs. The emulator is checked with the
//! unmodified third-party clients first — cluster-glue's `stonith -t apcmaster` on the menus
//! (it only ever connects to port 23, so that switch listens on 127.0.0.3:23 — its own address,
//! as the WTI and Baytech tests use .2 and .4, so they can run at once: root) and
//! `fence_apc` on the AOS command line (through Debian's `telnet`) — then our driver drives
//! the same switch, and each reads what the other did.

use hb_hwtest::apc::{ApcMaster, Dialect, PASSWORD, USER};
use hb_stonith_hw::{registry, Action, Code, Params, Power};
use std::process::Command;
use std::time::{Duration, Instant};

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

fn driver(port: u16, extra: &[&str]) -> Box<dyn hb_stonith_hw::Driver> {
    let mut p = vec!["ipaddr=127.0.0.1".to_string(), format!("port={port}"), format!("login={USER}"), format!("password={PASSWORD}")];
    p.extend(extra.iter().map(|s| s.to_string()));
    let p = Params::parse_pairs(&p.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    registry::open("apcmaster", &p).unwrap()
}

#[test]
fn the_menus_speak_as_cluster_glue_expects_and_our_driver_agrees_with_it() {
    if !hb_hwtest::require_root("the_menus_speak_as_cluster_glue_expects_and_our_driver_agrees_with_it") {
        return;
    }
    let sw = ApcMaster::start("127.0.0.3:23", Dialect::Menus).expect("the emulated switch on 127.0.0.3:23");
    let glue = |cmd: &[&str]| {
        let out = Command::new("stonith")
            .args(["-t", "apcmaster", "ipaddr=127.0.0.3", &format!("login={USER}"), &format!("password={PASSWORD}")])
            .args(cmd)
            .output()
            .expect("cluster-glue's stonith");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let (rc, hosts) = glue(&["-l"]);
    assert_eq!(rc, Some(0), "{hosts}");
    assert_eq!(hosts.lines().collect::<Vec<_>>(), ["node1", "node2", "node2", "spare"]);
    assert_eq!(glue(&["-S"]).0, Some(0));
    // cluster-glue's plugin controls one outlet per host: the last one named after it.
    let (rc, out) = glue(&["-T", "off", "node2"]);
    assert_eq!(rc, Some(0), "{out}");
    assert!(sw.on(2) && !sw.on(3), "{:?}", sw.commands());
    let (rc, out) = glue(&["-T", "reset", "node1"]);
    assert_eq!(rc, Some(0), "{out}");
    assert!(sw.commands().contains(&"reboot 1".to_string()) && sw.on(1));
    // Our driver on the same switch, every outlet of a host.
    let p = Params::parse_pairs(&["ipaddr=127.0.0.3", &format!("login={USER}"), &format!("password={PASSWORD}")]).unwrap();
    let mut d = registry::open("apcmaster", &p).unwrap();
    assert_eq!(d.hosts(), ["node1", "node2", "spare"]);
    d.status(soon()).unwrap();
    assert_eq!(d.power("node2", soon()).unwrap(), Power::On, "outlet 2 still on");
    d.act(Action::Off, "node2", soon()).unwrap();
    assert!(!sw.on(2) && !sw.on(3) && sw.on(1));
    assert_eq!(d.power("node2", soon()).unwrap(), Power::Off);
    assert_eq!(glue(&["-T", "on", "node2"]).0, Some(0));
    assert_eq!(d.power("node2", soon()).unwrap(), Power::On, "we read what cluster-glue did (outlet 3 on)");
    d.act(Action::Reset, "node2", soon()).unwrap();
    assert!(sw.on(2) && sw.on(3));
    assert_eq!(d.act(Action::Off, "node9", soon()).unwrap_err().code, Code::BadHost);
}

#[test]
fn the_command_line_speaks_as_fence_apc_expects_and_our_driver_agrees_with_it() {
    let sw = ApcMaster::start("127.0.0.1:0", Dialect::Cli).unwrap();
    let port = sw.addr().port();
    let fence_apc = |action: &str, plug: &str| {
        let out = Command::new("fence_apc")
            .args(["--ip", "127.0.0.1", "--ipport", &port.to_string(), "--username", USER, "--password", PASSWORD])
            .args(["--plug", plug, "--action", action])
            .output()
            .expect("fence_apc (Debian fence-agents; it needs the telnet package)");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let (rc, out) = fence_apc("list", "1");
    assert_eq!(rc, Some(0), "{out}");
    assert!(out.contains("2,node2"), "{out}");
    let (rc, out) = fence_apc("off", "3");
    assert_eq!(rc, Some(0), "{out}");
    assert!(!sw.on(3));
    assert_eq!(fence_apc("status", "3").0, Some(2), "fence_apc reads outlet 3 off");
    let mut d = driver(port, &[]);
    assert_eq!(d.hosts(), ["node1", "node2", "spare"]);
    assert_eq!(d.power("node2", soon()).unwrap(), Power::On, "outlet 2 is on");
    d.act(Action::Off, "node2", soon()).unwrap();
    assert!(!sw.on(2) && !sw.on(3));
    assert_eq!(fence_apc("status", "2").0, Some(2), "fence_apc reads what we did");
    assert_eq!(fence_apc("reboot", "2").0, Some(0));
    assert_eq!(d.power("node2", soon()).unwrap(), Power::On, "we read what fence_apc did");
    d.act(Action::Reset, "node1", soon()).unwrap();
    assert!(sw.on(1) && sw.commands().contains(&"off 1".to_string()), "{:?}", sw.commands());
    d.act(Action::On, "node2", soon()).unwrap();
    assert!(sw.on(2) && sw.on(3));
}

#[test]
fn a_wrong_password_is_refused_and_a_silent_switch_times_out() {
    for dialect in [Dialect::Menus, Dialect::Cli] {
        let sw = ApcMaster::start("127.0.0.1:0", dialect).unwrap();
        let port = sw.addr().port().to_string();
        let p =
            Params::parse_pairs(&["ipaddr=127.0.0.1", &format!("port={port}"), "login=apc", "password=wrong", "hostmap=node1:1"]).unwrap();
        let mut d = registry::open("apcmaster", &p).unwrap();
        let e = d.act(Action::Off, "node1", soon()).unwrap_err();
        assert_eq!(e.code, Code::Access, "{dialect:?}: {e}");
        assert!(sw.on(1));
    }
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = mute.local_addr().unwrap().port().to_string();
    let p = Params::parse_pairs(&["ipaddr=127.0.0.1", &format!("port={port}"), "login=a", "password=x", "hostmap=n:1"]).unwrap();
    let mut d = registry::open("apcmaster", &p).unwrap();
    let start = Instant::now();
    let e = d.act(Action::Off, "n", Instant::now() + Duration::from_millis(500)).unwrap_err();
    assert_eq!(e.code, Code::Timeout, "{e}");
    assert!(start.elapsed() < Duration::from_millis(1500));
}
