//! `hb-stonith` as cluster-glue's `stonith` is used: the same options, output and exit codes,
//! run as a process against hb-hwtest's emulated LCUS relay board.

use hb_hwtest::relay::LcusBoard;
use std::process::Command;

fn stonith(args: &[&str], env: &[(&str, &str)]) -> (String, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_hb-stonith")).args(args).envs(env.iter().copied()).output().unwrap();
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned(), out.status.code().unwrap_or(-1))
}

#[test]
fn types_names_and_metadata() {
    // The compiled-in drivers, then every installed cluster-glue external plugin.
    let (types, _, _) = stonith(&["-L"], &[]);
    assert!(
        types.starts_with(
            "apcmaster\napcmastersnmp\napcsmart\nbaytech\nfence_agent\nipmilan\nlcus\nmeatware\nnw_rpc100s\nrcd_serial\nrps10\nwti_nps\n"
        ),
        "{types}"
    );
    assert_eq!(stonith(&["-t", "lcus", "-n"], &[]), ("ttydev  hostmap  \n".into(), String::new(), 0));
    let (xml, _, rc) = stonith(&["-t", "lcus", "-m"], &[]);
    assert_eq!(rc, 0);
    assert!(
        xml.starts_with("<?xml version=\"1.0\"?>") && xml.contains("<parameter name=\"hostmap\"") && xml.ends_with("</resource-agent>\n"),
        "{xml}"
    );
    // As cluster-glue: an unknown type is S_OOPS (8), a command line without an action is 1.
    let (_, err, rc) = stonith(&["-t", "apcmaster9", "-n"], &[]);
    assert_eq!(rc, 8, "{err}");
    assert!(err.contains("no STONITH driver \"apcmaster9\""), "{err}");
    assert_eq!(stonith(&["-t", "lcus"], &[]).2, 1);
    assert_eq!(stonith(&["-q"], &[]).2, 1);
    let (help, _, rc) = stonith(&["-h"], &[]);
    assert!(rc == 0 && help.contains("STONITH Device: lcus - LCUS-style USB relay board"), "{help}");
}

#[test]
fn hosts_status_and_power_through_every_way_of_giving_parameters() {
    let board = LcusBoard::start().unwrap();
    let tty = board.path().display().to_string();
    let p = format!("{tty} node1:1 node2:2");
    assert_eq!(stonith(&["-t", "lcus", "-p", &p, "-l"], &[]), ("node1\nnode2\n".into(), String::new(), 0));
    let pairs = [format!("ttydev={tty}"), "hostmap=node1:1,node2:2".to_string()];
    let (out, err, rc) = stonith(&["-v", "-t", "lcus", &pairs[0], &pairs[1], "-S"], &[]);
    assert_eq!((out.as_str(), rc), ("lcus device OK.\n", 0), "{err}");
    // -T lower-cases the node; -c repeats.
    let (_, err, rc) = stonith(&["-t", "lcus", "-p", &p, "-c", "2", "-T", "off", "NODE2"], &[]);
    assert_eq!(rc, 0, "{err}");
    let file = std::env::temp_dir().join(format!("hb-stonith-{}.cfg", std::process::id()));
    std::fs::write(&file, format!("# the relay board\n{tty}\nnode1:1 node2:2\n")).unwrap();
    assert_eq!(stonith(&["-t", "lcus", "-F", file.to_str().unwrap(), "-T", "on", "node1"], &[]).2, 0);
    std::fs::remove_file(&file).unwrap();
    let env = [("ttydev", tty.as_str()), ("hostmap", "node1:1 node2:2")];
    assert_eq!(stonith(&["-t", "lcus", "-E", "-T", "reset", "node2"], &env).2, 0);
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while board.log().commands.len() < 5 && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let got: Vec<(u8, bool)> = board.log().commands.iter().map(|c| (c.1, c.2)).collect();
    assert_eq!(got, vec![(2, false), (2, false), (1, true), (2, false), (2, true)]);
    // Unknown host: S_BADHOST (4), silent with -s.
    let (_, err, rc) = stonith(&["-t", "lcus", "-p", &p, "-T", "off", "node3"], &[]);
    assert_eq!((rc, err.as_str()), (4, "hb-stonith: S_BADHOST: no relay powers node3\n"));
    assert_eq!(stonith(&["-s", "-t", "lcus", "-p", &p, "-T", "off", "node3"], &[]), (String::new(), String::new(), 4));
    // A missing parameter: S_BADCONFIG (1).
    let (_, err, rc) = stonith(&["-t", "lcus", "-p", &tty, "-l"], &[]);
    assert!(rc == 1 && err.contains("hostmap is missing"), "{rc} {err}");
}

/// The parameter names of a type both have, byte for byte as cluster-glue's `stonith` prints
/// them (scripts parse this output). `scripts/test.sh` installs cluster-glue.
#[test]
fn parameter_names_match_cluster_glues_stonith() {
    for t in ["rcd_serial", "ipmilan"] {
        let theirs = Command::new("stonith").args(["-t", t, "-n"]).output().expect("cluster-glue's stonith (Debian cluster-glue)");
        let (ours, _, rc) = stonith(&["-t", t, "-n"], &[]);
        assert_eq!((ours.as_str(), rc), (String::from_utf8_lossy(&theirs.stdout).as_ref(), theirs.status.code().unwrap()), "{t}");
    }
}

/// `hb-stonith -t ipmilan` and cluster-glue's `stonith -t ipmilan` (built on OpenIPMI) drive
/// the same simulated BMC with the same parameters: the same output and exit status for
/// listing hosts, status, off, on and reset, and the same power on the chassis afterwards.
#[test]
fn ipmilan_behaves_as_under_cluster_glues_stonith() {
    let sim = hb_hwtest::ipmi::IpmiSim::start().expect("the IPMI simulator (openipmi; scripts/test.sh installs it)");
    let port = format!("port={}", sim.port());
    let params = [
        "hostname=node1",
        "ipaddr=127.0.0.1",
        port.as_str(),
        "auth=md5",
        "priv=admin",
        "login=admin",
        "password=secret",
        "reset_method=power_cycle",
    ];
    let run = |ours: bool, cmd: &[&str]| -> (String, i32, bool) {
        let mut args = vec!["-t", "ipmilan"];
        args.extend_from_slice(&params);
        args.extend_from_slice(cmd);
        let out = if ours {
            Command::new(env!("CARGO_BIN_EXE_hb-stonith")).args(&args).output().unwrap()
        } else {
            Command::new("stonith").args(&args).output().expect("cluster-glue's stonith")
        };
        // ipmi_sim carries out a power cycle as off, then on a second later: wait for it.
        if cmd[..] == ["-T", "reset", "node1"] {
            hb_hwtest::wait_for(std::time::Duration::from_secs(5), || sim.power().then_some(()));
        }
        (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code().unwrap_or(-1), sim.power())
    };
    for cmd in [&["-l"][..], &["-S"], &["-T", "off", "node1"], &["-T", "on", "node1"], &["-T", "off", "node1"], &["-T", "reset", "node1"]] {
        sim.set_power(true);
        let theirs = run(false, cmd);
        sim.set_power(true);
        let ours = run(true, cmd);
        assert_eq!(ours, theirs, "{cmd:?}\n{:?}", sim.calls());
    }
}

/// An external plugin driven by both cluster-glue's `stonith` and `hb-stonith` gives the same
/// output and exit status for every command. The plugin is installed in cluster-glue's plugin
/// directory under a unique name for the test (root; removed afterwards).
#[test]
fn external_plugins_behave_as_under_cluster_glues_stonith() {
    if !hb_hwtest::require_root("external_plugins_behave_as_under_cluster_glues_stonith") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let name = format!("hb_probe_{}", std::process::id());
    let plugin = hb_hwtest::RemoveOnDrop(std::path::Path::new("/usr/lib/stonith/plugins/external").join(&name));
    std::fs::write(
        &plugin.0,
        "#!/bin/sh\ncase \"$1\" in\n  getconfignames) echo hostlist; echo mode ;;\n  gethosts) for h in $hostlist; do echo $h; done ;;\n  status) [ \"$mode\" = broken ] && exit 1; exit 0 ;;\n  reset|on|off) [ \"$mode\" = broken ] && { echo \"it broke\" >&2; exit 1; }; exit 0 ;;\n  *) exit 1 ;;\nesac\n",
    )
    .unwrap();
    std::fs::set_permissions(&plugin.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let kind = format!("external/{name}");
    let ok: Vec<String> = vec!["-t".into(), kind.clone(), "hostlist=a b".into(), "mode=ok".into()];
    let broken: Vec<String> = vec!["-t".into(), kind.clone(), "hostlist=a b".into(), "mode=broken".into()];
    let cases: Vec<Vec<String>> = vec![
        vec!["-t".into(), kind.clone(), "-n".into()],
        [ok.clone(), vec!["-l".into()]].concat(),
        [ok.clone(), vec!["-S".into()]].concat(),
        [broken.clone(), vec!["-S".into()]].concat(),
        [ok.clone(), vec!["-T".into(), "off".into(), "a".into()]].concat(),
        [ok.clone(), vec!["-T".into(), "reset".into(), "A".into()]].concat(),
        [broken.clone(), vec!["-T".into(), "off".into(), "b".into()]].concat(),
    ];
    for args in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let theirs = Command::new("stonith").args(&a).output().expect("cluster-glue's stonith");
        let (ours, err, rc) = stonith(&a, &[]);
        assert_eq!(
            (ours.as_str(), rc),
            (String::from_utf8_lossy(&theirs.stdout).as_ref(), theirs.status.code().unwrap()),
            "stonith {a:?}: ours said {err:?}"
        );
    }
}

/// `hb-stonith -t apcmastersnmp` and cluster-glue's `stonith -t apcmastersnmp` drive the same
/// emulated APC PDU (net-snmp's snmpd with an outlet backend) with the same parameters: the
/// same host list, status, off, on and reset results, and the same outlet state afterwards.
/// cluster-glue's plugin only talks to UDP port 161, so the PDU listens on 127.0.0.2:161 (root).
#[test]
fn apcmastersnmp_behaves_as_under_cluster_glues_stonith() {
    if !hb_hwtest::require_root("apcmastersnmp_behaves_as_under_cluster_glues_stonith") {
        return;
    }
    let pdu = hb_hwtest::pdu::ApcPdu::start_at("127.0.0.2", 161).expect("the emulated PDU on 127.0.0.2:161 (snmpd)");
    let params = ["ipaddr=127.0.0.2", "port=161", "community=private"];
    let run = |ours: bool, cmd: &[&str]| -> (String, i32, bool, bool) {
        let mut args = vec!["-t", "apcmastersnmp"];
        args.extend_from_slice(&params);
        args.extend_from_slice(cmd);
        let out = if ours {
            Command::new(env!("CARGO_BIN_EXE_hb-stonith")).args(&args).output().unwrap()
        } else {
            Command::new("stonith").args(&args).output().expect("cluster-glue's stonith")
        };
        // A reset leaves the outlets off for the PDU's reboot time: wait for them.
        if cmd.first() == Some(&"-T") && cmd.get(1) == Some(&"reset") {
            hb_hwtest::wait_for(std::time::Duration::from_secs(5), || (pdu.on(2) && pdu.on(3)).then_some(()));
        }
        // The one difference: cluster-glue lists an unnamed outlet as an empty host name; hb
        // leaves it out (no host can be fenced by the name "").
        let stdout = String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(|l| format!("{l}\n")).collect();
        (stdout, out.status.code().unwrap_or(-1), pdu.on(2), pdu.on(3))
    };
    for cmd in [&["-l"][..], &["-S"], &["-T", "off", "node2"], &["-T", "on", "node2"], &["-T", "reset", "node2"], &["-T", "off", "node9"]] {
        let theirs = run(false, cmd);
        // Back to all on between the two tools.
        let _ = run(false, &["-T", "on", "node2"]);
        let ours = run(true, cmd);
        let _ = run(false, &["-T", "on", "node2"]);
        assert_eq!(ours, theirs, "{cmd:?}\n{:?}", pdu.calls());
    }
}
