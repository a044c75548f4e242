//! `hbctl apphb` against a real hbd (in-process, on loopback, unprivileged).

use hb_core::backend::Choice;
use hb_core::daemon::{Daemon, Options};
use hb_tools::hbctl::{run, Exit};
use std::time::Duration;

fn hbctl(args: &[&str]) -> (Exit, String) {
    let mut out = Vec::new();
    let code = run(args.iter().map(|s| s.to_string()).collect(), &mut out);
    (code, String::from_utf8(out).unwrap())
}

#[test]
fn scripts_register_check_in_miss_and_unregister() {
    let root = std::env::temp_dir().join(format!("hbctl-apphb-{}", std::process::id()));
    let cfg = root.join("a");
    std::fs::create_dir_all(&cfg).unwrap();
    let port = hb_hwtest::free_udp_port();
    std::fs::write(
        cfg.join("ha.cf"),
        format!("keepalive 100ms\ndeadtime 1\ninitdead 2\nudpport {port}\nbind 127.0.0.1\nucast lo 127.0.0.2\nnode a b\nrealtime off\n"),
    )
    .unwrap();
    std::fs::write(cfg.join("authkeys"), "auth 1\n1 sha256 x\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(cfg.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let opts = Options {
        config_dir: cfg.clone(),
        node_name: "a".into(),
        run_dir: cfg.join("run"),
        state_dir: cfg.join("state"),
        backend: Choice::Auto,
        log_stderr: false,
        no_realtime: true,
        rt_hook: None,
        watchdog_test_mode: false,
    };
    let d = Daemon::start(&opts).unwrap();
    let r = opts.run_dir.to_str().unwrap();
    let (code, out) = hbctl(&["-r", r, "apphb", "register", "nightly", "--interval", "300ms"]);
    assert_eq!(code, Exit::Ok, "{out}");
    let reply: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(reply["reply"] == "registered" && reply["persistent"] == true, "{out}");
    assert_eq!(hbctl(&["-r", r, "apphb", "register", "nightly", "--interval", "300ms"]).0, Exit::Usage, "a name is registered once");
    assert_eq!(hbctl(&["-r", r, "apphb", "checkin", "nightly"]).0, Exit::Ok);
    let (_, st) = hbctl(&["-r", r, "apphb", "status"]);
    assert!(st.contains("nightly") && st.contains(" ok"), "{st}");
    std::thread::sleep(Duration::from_millis(600));
    let (_, st) = hbctl(&["-r", r, "apphb", "status"]);
    assert!(st.contains("missed"), "{st}");
    let (_, js) = hbctl(&["-r", r, "--json", "apphb", "status"]);
    let reply: serde_json::Value = serde_json::from_str(&js).unwrap();
    assert_eq!(reply["apps"][0]["name"], "nightly", "{js}");
    assert_eq!(hbctl(&["-r", r, "apphb", "checkin", "nightly"]).0, Exit::Ok);
    assert_eq!(hbctl(&["-r", r, "apphb", "unregister", "nightly"]).0, Exit::Ok);
    assert_eq!(hbctl(&["-r", r, "apphb", "checkin", "nightly"]).0, Exit::Usage);
    assert_eq!(hbctl(&["-r", r, "apphb", "frob"]).0, Exit::Usage);
    d.stop("test");
    let _ = std::fs::remove_dir_all(&root);
}
