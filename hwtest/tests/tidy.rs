//! The house rules as a test (rust-analyzer's `tidy` in spirit): conventions that were only
//! written down in STYLE.md and ARCHITECTURE.md, checked over every Rust file of the
//! workspace (the fuzz crate included).
//!
//! - every file opens with a `//!` doc, and every crate root's doc names its main items;
//! - `unsafe` lives only in `sys` modules (the zero-allocation test's global allocator
//!   aside), and every unsafe block or impl has a `// SAFETY:` comment just above it;
//! - the sans-I/O modules neither read a clock nor touch a socket or a file;
//! - no file and no function in `core/src` grows past the agreed size without a reason
//!   written here;
//! - no package is named `core`.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if p.is_dir() {
            if !matches!(name.as_ref(), "target" | ".git" | "corpus" | "artifacts" | "coverage" | "docs") {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

fn files() -> Vec<(String, String)> {
    let root = root();
    let mut v = Vec::new();
    rust_files(&root, &mut v);
    v.sort();
    v.into_iter().map(|p| (p.strip_prefix(&root).unwrap().display().to_string(), std::fs::read_to_string(&p).unwrap())).collect()
}

/// The part of a source file before its unit tests.
fn without_tests(text: &str) -> &str {
    text.find("\n#[cfg(test)]\n").map_or(text, |i| &text[..i])
}

/// Lines that are code (not comments).
fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("//")
}

#[test]
fn every_file_opens_with_a_module_doc() {
    let missing: Vec<String> = files().into_iter().filter(|(_, t)| !t.starts_with("//!")).map(|(p, _)| p).collect();
    assert!(missing.is_empty(), "files without a //! doc at the top: {missing:?}");
}

#[test]
fn crate_roots_name_their_main_items() {
    let mut bad = Vec::new();
    for (path, text) in files() {
        if path.ends_with("src/lib.rs") {
            let doc: String = text.lines().take_while(|l| l.starts_with("//!")).collect();
            // A placeholder with no public items has nothing to name.
            let has_items = text.lines().any(|l| l.starts_with("pub "));
            if has_items && !doc.contains("[`") {
                bad.push(path);
            }
        }
    }
    assert!(bad.is_empty(), "crate roots whose doc links none of their main items: {bad:?}");
}

/// `line` without the contents of its string literals.
fn strip_strings(line: &str) -> String {
    let mut out = String::new();
    let mut in_str = false;
    let mut prev = ' ';
    for c in line.chars() {
        if c == '"' && prev != '\\' {
            in_str = !in_str;
        } else if !in_str {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// Where `unsafe` may appear outside a `sys` module, and why.
const UNSAFE_ELSEWHERE: &[(&str, &str)] = &[("core/tests/zero_alloc.rs", "a counting global allocator is unsafe by definition")];

fn in_sys_module(path: &str) -> bool {
    path.split('/').any(|c| c == "sys" || c == "sys.rs")
}

#[test]
fn unsafe_code_lives_in_sys_modules_with_a_safety_comment() {
    let mut outside = Vec::new();
    let mut unexplained = Vec::new();
    for (path, text) in files() {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if is_comment(line) {
                continue;
            }
            let code = strip_strings(line.split("//").next().unwrap_or(""));
            let opens = code.contains("unsafe {") || code.contains("unsafe impl") || code.trim_end().ends_with("unsafe");
            let declares = code.contains("unsafe fn");
            if !(opens || declares) {
                continue;
            }
            if !in_sys_module(&path) && !UNSAFE_ELSEWHERE.iter().any(|(p, _)| *p == path) {
                outside.push(format!("{path}:{}", i + 1));
            }
            // The comment sits above the statement the block belongs to: look back a few lines.
            let above = &lines[i.saturating_sub(8)..i];
            let explained = above.iter().any(|l| l.contains("SAFETY:") || l.contains("# Safety")) || line.contains("SAFETY:");
            if opens && !explained {
                unexplained.push(format!("{path}:{}", i + 1));
            }
        }
    }
    assert!(outside.is_empty(), "unsafe outside a sys module: {outside:?}");
    assert!(unexplained.is_empty(), "unsafe without a // SAFETY: comment above it: {unexplained:?}");
}

/// The protocol logic takes bytes and `now` and returns actions (STYLE habit 3).
const SANS_IO: &[&str] = &[
    "core/src/wire.rs",
    "core/src/liveness.rs",
    "core/src/engine.rs",
    "core/src/replay.rs",
    "core/src/counters.rs",
    "core/src/apphb.rs",
    "core/src/ping.rs",
];

#[test]
fn sans_io_modules_read_no_clock_and_touch_no_socket() {
    let forbidden =
        ["time::now(", "Instant::", "SystemTime::", "std::net::UdpSocket", "libc::", "std::fs::", "std::thread::sleep", "socket2::"];
    let mut bad = Vec::new();
    for (path, text) in files() {
        if !SANS_IO.contains(&path.as_str()) {
            continue;
        }
        for (i, line) in without_tests(&text).lines().enumerate() {
            if is_comment(line) {
                continue;
            }
            for f in forbidden {
                if line.contains(f) {
                    bad.push(format!("{path}:{}: {f}", i + 1));
                }
            }
        }
    }
    assert!(bad.is_empty(), "I/O or clocks in sans-I/O modules: {bad:?}");
}

/// The agreed limits for `core/src` (the daemon), tests excluded.
const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 120;

/// Files allowed past [`MAX_FILE_LINES`], and why. Shrink this list; never grow it silently.
const LONG_FILES: &[(&str, &str)] = &[];

/// Functions allowed past [`MAX_FN_LINES`], and why.
const LONG_FNS: &[(&str, &str, &str)] = &[];

/// `(name, first line, length)` of every `fn` in `text`, by brace matching (strings and
/// chars holding braces are rare enough in this code base not to matter).
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let t = t.strip_prefix("pub(crate) ").or_else(|| t.strip_prefix("pub(super) ")).or_else(|| t.strip_prefix("pub ")).unwrap_or(t);
        let t = t.strip_prefix("const ").unwrap_or(t);
        let Some(rest) = t.strip_prefix("fn ") else { continue };
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let mut depth = 0i32;
        let mut opened = false;
        for (j, l) in lines[i..].iter().enumerate() {
            for c in l.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth <= 0 {
                out.push((name.clone(), i + 1, j + 1));
                break;
            }
            if !opened && l.trim_end().ends_with(';') {
                break; // a declaration without a body
            }
        }
    }
    out
}

#[test]
fn no_file_or_function_in_core_grows_past_the_agreed_size_without_a_reason() {
    let mut long_files = Vec::new();
    let mut long_fns = Vec::new();
    let mut longest = (String::new(), 0);
    let mut largest = (String::new(), 0);
    for (path, text) in files() {
        if !path.starts_with("core/src/") {
            continue;
        }
        let code = without_tests(&text);
        let n = code.lines().count();
        if n > largest.1 {
            largest = (path.clone(), n);
        }
        if n > MAX_FILE_LINES && !LONG_FILES.iter().any(|(p, _)| *p == path) {
            long_files.push(format!("{path}: {n} lines"));
        }
        for (name, line, len) in functions(code) {
            if len > longest.1 {
                longest = (format!("{path}:{line} {name}"), len);
            }
            if len > MAX_FN_LINES && !LONG_FNS.iter().any(|(p, f, _)| *p == path && *f == name) {
                long_fns.push(format!("{path}:{line} {name}: {len} lines"));
            }
        }
    }
    eprintln!("largest file in core/src (tests excluded): {} ({} lines)", largest.0, largest.1);
    eprintln!("longest function in core/src: {} ({} lines)", longest.0, longest.1);
    assert!(long_files.is_empty(), "files over {MAX_FILE_LINES} lines without a reason in LONG_FILES: {long_files:?}");
    assert!(long_fns.is_empty(), "functions over {MAX_FN_LINES} lines without a reason in LONG_FNS: {long_fns:?}");
}

#[test]
fn the_allow_lists_name_only_what_still_needs_them() {
    let all = files();
    for (path, _) in LONG_FILES {
        let text = &all.iter().find(|(p, _)| p == path).unwrap_or_else(|| panic!("{path} is gone: drop it from LONG_FILES")).1;
        assert!(without_tests(text).lines().count() > MAX_FILE_LINES, "{path} is short now: drop it from LONG_FILES");
    }
    for (path, name, _) in LONG_FNS {
        let text = &all.iter().find(|(p, _)| p == path).unwrap_or_else(|| panic!("{path} is gone: drop it from LONG_FNS")).1;
        let len = functions(without_tests(text)).into_iter().filter(|(n, _, _)| n == name).map(|(_, _, l)| l).max();
        assert!(len.is_some_and(|l| l > MAX_FN_LINES), "{path} {name} is short now (or gone): drop it from LONG_FNS");
    }
}

#[test]
fn no_package_is_named_core() {
    let mut manifests = Vec::new();
    for e in std::fs::read_dir(root()).unwrap().flatten() {
        let m = e.path().join("Cargo.toml");
        if m.exists() {
            manifests.push(m);
        }
    }
    assert!(manifests.len() >= 9, "{manifests:?}");
    for m in manifests {
        let text = std::fs::read_to_string(&m).unwrap();
        assert!(!text.lines().any(|l| l.trim() == "name = \"core\""), "{} names a package `core`", m.display());
    }
}
