//! A read-only root (issue 18): every directory hbd writes may be read-only on an embedded
//! image. A read-only state or run directory is a clear start-up error naming the path (exit
//! status 71); a log file that cannot be opened is a warning naming it, and hbd runs on. Never
//! a crash. Root only (a read-only tmpfs mount); CI runs it.

use hb_hwtest::{require_root, TempDir};
use std::path::Path;
use std::process::Command;

/// A read-only tmpfs at `path`, unmounted on drop.
struct ReadOnly(std::path::PathBuf);

impl ReadOnly {
    fn mount(path: &Path) -> ReadOnly {
        std::fs::create_dir_all(path).unwrap();
        let ok = Command::new("mount").args(["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs"]).arg(path).status().unwrap();
        assert!(ok.success(), "mount a read-only tmpfs at {}", path.display());
        ReadOnly(path.to_path_buf())
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn hbd(cfg: &Path, run: &Path, state: &Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hbd"))
        .args(["-c", cfg.to_str().unwrap(), "-n", "a", "--no-realtime", "-r", run.to_str().unwrap(), "-s", state.to_str().unwrap()])
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn read_only_directories_are_named_at_start_up() {
    if !require_root("read_only_directories_are_named_at_start_up") {
        return;
    }
    let dir = TempDir::new("hb-readonly");
    let cfg = dir.path.join("cfg");
    std::fs::create_dir_all(&cfg).unwrap();
    let ro = ReadOnly::mount(&dir.path.join("ro"));
    let write_cfg = |extra: &str| {
        std::fs::write(
            cfg.join("ha.cf"),
            format!("keepalive 1\ndeadtime 10\nudpport 6997\nbind 127.0.0.1\nucast lo 127.0.0.2\nnode a b\n{extra}"),
        )
        .unwrap();
        std::fs::write(cfg.join("authkeys"), "auth 1\n1 sha256 a-secret-of-twenty-bytes\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(cfg.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    write_cfg("");
    let (run, state) = (dir.path.join("run"), dir.path.join("state"));
    let (code, err) = hbd(&cfg, &run, &ro.0.join("state"));
    assert_eq!(code, Some(71), "{err}");
    assert!(err.contains(&format!("cannot use {} as the state directory: Read-only file system", ro.0.join("state").display())), "{err}");
    let (code, err) = hbd(&cfg, &ro.0.join("run"), &state);
    assert_eq!(code, Some(71), "{err}");
    assert!(err.contains("as the run directory: Read-only file system"), "{err}");
    // A log file that cannot be written is a warning naming it; hbd runs on, logging to
    // standard error (the heartbeats matter more than the log).
    write_cfg(&format!("logfile {}\n", ro.0.join("hb.log").display()));
    let log = dir.path.join("stderr");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hbd"));
    cmd.args(["-c", cfg.to_str().unwrap(), "-n", "a", "--no-realtime", "-r", run.to_str().unwrap(), "-s", state.to_str().unwrap()]);
    cmd.stderr(std::fs::File::create(&log).unwrap());
    let mut p = hb_hwtest::Proc::spawn(cmd);
    let want = format!("WARN: cannot open logfile {}: Read-only file system", ro.0.join("hb.log").display());
    let warned =
        hb_hwtest::wait_for(std::time::Duration::from_secs(10), || std::fs::read_to_string(&log).ok().filter(|t| t.contains(&want)));
    assert!(warned.is_some(), "{:?}", std::fs::read_to_string(&log));
    assert!(p.alive(), "hbd stopped: {:?}", std::fs::read_to_string(&log));
    p.terminate(std::time::Duration::from_secs(5));
}
