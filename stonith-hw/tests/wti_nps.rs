//! The native `wti_nps` driver against an emulated WTI Network Power Switch
//! (`hb_hwtest::wti::WtiNps`, its telnet-menu dialog on TCP). The emulator is checked with the
//! unmodified third-party clients first — cluster-glue's `stonith -t wti_nps` (which only ever
//! connects to port 23, so the switch listens on 127.0.0.2:23: root) and `fence_wti` (through
//! Debian's `telnet` client) — then our driver drives the same switch, and each reads what
//! the other did.

use hb_hwtest::wti::{WtiNps, PASSWORD};
use hb_stonith_hw::{registry, Action, Code, Params, Power};
use std::process::Command;
use std::time::{Duration, Instant};

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

fn fence_wti(port: u16, action: &str, plug: &str) -> (Option<i32>, String) {
    let out = Command::new("fence_wti")
        .args(["--ip", "127.0.0.2", "--ipport", &port.to_string(), "--password", PASSWORD, "--plug", plug, "--action", action])
        .output()
        .expect("fence_wti (Debian fence-agents; it needs the telnet package)");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn the_switch_speaks_as_third_party_clients_expect_and_our_driver_agrees_with_them() {
    if !hb_hwtest::require_root("the_switch_speaks_as_third_party_clients_expect_and_our_driver_agrees_with_them") {
        return;
    }
    let sw = WtiNps::start("127.0.0.2:23").expect("the emulated switch on 127.0.0.2:23");
    let glue = |cmd: &[&str]| {
        let out = Command::new("stonith")
            .args(["-t", "wti_nps", "ipaddr=127.0.0.2", &format!("password={PASSWORD}")])
            .args(cmd)
            .output()
            .expect("cluster-glue's stonith");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    // Third-party clients against the emulator.
    let (rc, hosts) = glue(&["-l"]);
    assert_eq!(rc, Some(0));
    assert_eq!(hosts.lines().collect::<Vec<_>>(), ["node1", "node2", "node2", "spare"]);
    assert_eq!(glue(&["-T", "off", "node2"]).0, Some(0));
    assert!(!sw.on(2) && !sw.on(3), "cluster-glue turned both of node2's plugs off");
    assert_eq!(fence_wti(23, "status", "2").0, Some(2), "fence_wti reads plug 2 off");
    assert_eq!(fence_wti(23, "on", "2").0, Some(0));
    assert!(sw.on(2));
    assert_eq!(glue(&["-T", "on", "node2"]).0, Some(0));
    // Our driver on the same switch.
    let p = Params::parse_pairs(&["ipaddr=127.0.0.2", &format!("password={PASSWORD}")]).unwrap();
    let mut d = registry::open("wti_nps", &p).unwrap();
    assert_eq!(d.hosts(), ["node1", "node2", "spare"], "names as the switch lists them, each host once");
    d.status(soon()).unwrap();
    d.act(Action::Off, "node2", soon()).unwrap();
    assert!(!sw.on(2) && !sw.on(3) && sw.on(1));
    assert_eq!(d.power("node2", soon()).unwrap(), Power::Off);
    assert_eq!(fence_wti(23, "status", "3").0, Some(2), "fence_wti reads what we did");
    assert_eq!(fence_wti(23, "on", "3").0, Some(0));
    assert_eq!(d.power("node2", soon()).unwrap(), Power::On, "we read what fence_wti did (plug 3 on)");
    d.act(Action::Reset, "node1", soon()).unwrap();
    assert!(sw.commands().contains(&"boot 1".to_string()), "{:?}", sw.commands());
    assert!(sw.on(1));
    assert_eq!(d.act(Action::Off, "node9", soon()).unwrap_err().code, Code::BadHost);
}

#[test]
fn a_wrong_password_is_refused_and_a_silent_switch_times_out() {
    let sw = WtiNps::start("127.0.0.1:0").unwrap();
    let port = sw.addr().port().to_string();
    let p = Params::parse_pairs(&["ipaddr=127.0.0.1", &format!("port={port}"), "password=wrong", "hostmap=node1:1"]).unwrap();
    let mut d = registry::open("wti_nps", &p).unwrap();
    let e = d.act(Action::Off, "node1", soon()).unwrap_err();
    assert_eq!(e.code, Code::Access, "{e}");
    assert!(sw.on(1));
    // A listener that accepts and never speaks.
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let p = Params::parse_pairs(&["ipaddr=127.0.0.1", &format!("port={}", mute.local_addr().unwrap().port()), "password=x", "hostmap=n:1"])
        .unwrap();
    let mut d = registry::open("wti_nps", &p).unwrap();
    let start = Instant::now();
    let e = d.act(Action::Off, "n", Instant::now() + Duration::from_millis(500)).unwrap_err();
    assert_eq!(e.code, Code::Timeout, "{e}");
    assert!(start.elapsed() < Duration::from_millis(1500));
}
