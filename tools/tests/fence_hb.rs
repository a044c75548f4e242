//! `fence_hb` as `pacemaker-fenced` runs a fence agent: `key=value` lines on standard input,
//! the fence-agent actions and exit codes, against hb-hwtest's emulated LCUS relay board.

use hb_hwtest::relay::LcusBoard;
use std::io::Write;
use std::process::{Command, Stdio};

fn agent(stdin: &str, args: &[&str]) -> (String, String, i32) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fence_hb"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned(), out.status.code().unwrap_or(-1))
}

#[test]
fn metadata_is_well_formed_xml_naming_every_action() {
    let (xml, _, rc) = agent("action=metadata\n", &[]);
    assert_eq!(rc, 0);
    assert!(xml.starts_with("<?xml") && xml.contains("<resource-agent name=\"fence_hb\""), "{xml}");
    for a in ["on", "off", "reboot", "status", "monitor", "list", "metadata", "validate-all"] {
        assert!(xml.contains(&format!("<action name=\"{a}\" />")), "{a}: {xml}");
    }
    assert!(xml.contains("<parameter name=\"hostmap\"") && xml.contains("<parameter name=\"msduration\""));
    assert_eq!(agent("", &["-o", "metadata"]).0, xml);
}

#[test]
fn fenced_requests_drive_the_board_with_fence_agent_exit_codes() {
    let board = LcusBoard::start().unwrap();
    let dev = format!("devtype=lcus\nttydev={}\nhostmap=node1:1 node2:2\n", board.path().display());
    let (out, err, rc) = agent(&format!("{dev}action=off\nplug=node2\n"), &[]);
    assert_eq!((out.as_str(), rc), ("Success: Powered OFF\n", 0), "{err}");
    assert_eq!(agent(&format!("{dev}action=reboot\nport=node1\nreset_ms=50\n"), &[]).2, 0);
    assert_eq!(agent(&format!("{dev}action=monitor\n"), &[]).2, 0);
    assert_eq!(agent(&format!("{dev}action=validate-all\n"), &[]).2, 0);
    assert_eq!(agent(&format!("{dev}action=list\n"), &[]).0, "node1,node1\nnode2,node2\n");
    // No read-back on this board: status says so and fails (8), never guesses on (0) or off (2).
    let (_, err, rc) = agent(&format!("{dev}action=status\nplug=node1\n"), &[]);
    assert!(rc == 8 && err.contains("cannot read a host's power state back"), "{rc} {err}");
    // Bad arguments: 2.
    assert_eq!(agent(&format!("{dev}action=off\nplug=node9\n"), &[]).2, 2);
    assert_eq!(agent(&format!("{dev}action=off\n"), &[]).2, 2);
    assert_eq!(agent("action=off\nplug=node1\n", &[]).2, 2);
    assert_eq!(agent(&format!("{dev}action=dance\n"), &[]).2, 2);
    assert_eq!(agent("garbage without equals\n", &[]).2, 2);
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while board.log().commands.len() < 3 && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let got: Vec<(u8, bool)> = board.log().commands.iter().map(|c| (c.1, c.2)).collect();
    assert_eq!(got, vec![(2, false), (1, false), (1, true)]);
}

/// Pacemaker's own tools read the metadata: `stonith_admin --metadata` finds fence agents only
/// in /usr/sbin, so the agent is copied there under a unique name for the test (root; removed
/// afterwards).
#[test]
fn pacemakers_stonith_admin_accepts_the_metadata() {
    if !hb_hwtest::require_root("pacemakers_stonith_admin_accepts_the_metadata") {
        return;
    }
    let name = format!("fence_hb_test_{}", std::process::id());
    let installed = hb_hwtest::RemoveOnDrop(std::path::Path::new("/usr/sbin").join(&name));
    std::fs::copy(env!("CARGO_BIN_EXE_fence_hb"), &installed.0).unwrap();
    let out =
        Command::new("stonith_admin").args(["--metadata", "--agent", &name]).output().expect("stonith_admin (Debian pacemaker-cli-utils)");
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{xml}{}", String::from_utf8_lossy(&out.stderr));
    assert!(xml.contains("<resource-agent name=\"fence_hb\"") && xml.contains("<parameter name=\"devtype\""), "{xml}");
}
