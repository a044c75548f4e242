//! The native `baytech` driver against an emulated Baytech RPC-5 (`hb_hwtest::baytech`). The
//! emulator is checked with the unmodified third-party client first — cluster-glue's
//! `stonith -t baytech`, which only ever connects to port 23, so the controller listens on
//! 127.0.0.4:23 (root) — then our driver drives the same controller, and each reads what the
//! other did.

use hb_hwtest::baytech::{Baytech, PASSWORD, USER};
use hb_stonith_hw::{registry, Action, Code, Params, Power};
use std::process::Command;
use std::time::{Duration, Instant};

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

#[test]
fn the_controller_speaks_as_cluster_glue_expects_and_our_driver_agrees_with_it() {
    if !hb_hwtest::require_root("the_controller_speaks_as_cluster_glue_expects_and_our_driver_agrees_with_it") {
        return;
    }
    let rpc = Baytech::start("127.0.0.4:23").expect("the emulated controller on 127.0.0.4:23");
    let glue = |cmd: &[&str]| {
        let out = Command::new("stonith")
            .args(["-t", "baytech", "ipaddr=127.0.0.4", &format!("login={USER}"), &format!("password={PASSWORD}")])
            .args(cmd)
            .output()
            .expect("cluster-glue's stonith");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let (rc, hosts) = glue(&["-l"]);
    assert_eq!(rc, Some(0), "{hosts}");
    assert_eq!(hosts.lines().collect::<Vec<_>>(), ["node1", "node2", "node2", "spare"]);
    assert_eq!(glue(&["-S"]).0, Some(0));
    let (rc, out) = glue(&["-T", "off", "node2"]);
    assert_eq!(rc, Some(0), "{out}");
    assert!(!rpc.on(2) && !rpc.on(3) && rpc.on(1), "{:?}", rpc.commands());
    // Our driver on the same controller.
    let p = Params::parse_pairs(&["ipaddr=127.0.0.4", &format!("login={USER}"), &format!("password={PASSWORD}")]).unwrap();
    let mut d = registry::open("baytech", &p).unwrap();
    assert_eq!(d.hosts(), ["node1", "node2", "spare"]);
    d.status(soon()).unwrap();
    assert_eq!(d.power("node2", soon()).unwrap(), Power::Off, "we read what cluster-glue did");
    d.act(Action::On, "node2", soon()).unwrap();
    assert!(rpc.on(2) && rpc.on(3));
    let (rc, out) = glue(&["-T", "reset", "node2"]);
    assert_eq!(rc, Some(0), "{out}");
    assert!(rpc.commands().contains(&"reboot 3".to_string()), "{:?}", rpc.commands());
    d.act(Action::Off, "node1", soon()).unwrap();
    assert!(!rpc.on(1));
    assert_eq!(glue(&["-T", "on", "node1"]).0, Some(0), "cluster-glue turns on what we turned off");
    d.act(Action::Reset, "node1", soon()).unwrap();
    let tail: Vec<String> = rpc.commands().into_iter().rev().take(2).collect();
    assert_eq!(tail, ["on 1", "off 1"], "a reset is an off, then an on");
    assert!(rpc.on(1));
    assert_eq!(d.act(Action::Off, "node9", soon()).unwrap_err().code, Code::BadHost);
}

#[test]
fn a_wrong_password_is_refused_and_a_silent_controller_times_out() {
    let rpc = Baytech::start("127.0.0.1:0").unwrap();
    let port = rpc.addr().port().to_string();
    let p = Params::parse_pairs(&["ipaddr=127.0.0.1", &format!("port={port}"), "login=root", "password=wrong", "hostmap=node1:1"]).unwrap();
    let mut d = registry::open("baytech", &p).unwrap();
    let e = d.act(Action::Off, "node1", soon()).unwrap_err();
    assert_eq!(e.code, Code::Access, "{e}");
    assert!(rpc.on(1));
    // Configured without a hostmap, the names come from the controller.
    let p = Params::parse_pairs(&["ipaddr=127.0.0.1", &format!("port={port}"), "login=root", &format!("password={PASSWORD}")]).unwrap();
    assert_eq!(registry::open("baytech", &p).unwrap().hosts(), ["node1", "node2", "spare"]);
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = mute.local_addr().unwrap().port().to_string();
    let p = Params::parse_pairs(&["ipaddr=127.0.0.1", &format!("port={port}"), "login=a", "password=x", "hostmap=n:1"]).unwrap();
    let mut d = registry::open("baytech", &p).unwrap();
    let start = Instant::now();
    let e = d.act(Action::Off, "n", Instant::now() + Duration::from_millis(500)).unwrap_err();
    assert_eq!(e.code, Code::Timeout, "{e}");
    assert!(start.elapsed() < Duration::from_millis(1500));
}
