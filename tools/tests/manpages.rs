//! The man pages in docs/man are each program's `--help`, rendered (issue 18: one source, so
//! they never drift). A difference fails; `HB_UPDATE_MAN=1` rewrites the pages, and `man -l`
//! renders them where man-db is installed.

use hb_tools::manpage::from_help;
use std::path::Path;
use std::process::Command;

#[test]
fn man_pages_are_the_help_texts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin =
        |name: &str| root.join("target").join(if cfg!(debug_assertions) { "debug" } else { "release" }).join(name).display().to_string();
    let programs = [
        (bin("hbd"), "hbd"),
        (bin("hb-crmd"), "hb-crmd"),
        (env!("CARGO_BIN_EXE_hbctl").to_string(), "hbctl"),
        (env!("CARGO_BIN_EXE_hb-stonith").to_string(), "hb-stonith"),
    ];
    let mut stale = Vec::new();
    for (exe, name) in programs {
        let out = Command::new(&exe).arg("--help").output().unwrap_or_else(|e| panic!("{exe} --help: {e} (build the workspace first)"));
        let help = String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap();
        let page = from_help(&help, 8, env!("CARGO_PKG_VERSION"));
        let path = root.join("docs/man").join(format!("{name}.8"));
        if std::env::var_os("HB_UPDATE_MAN").is_some() {
            std::fs::write(&path, &page).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(page.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(stale.is_empty(), "{stale:?} differ from --help: run HB_UPDATE_MAN=1 cargo nextest run -p hb-tools --test manpages");
}
