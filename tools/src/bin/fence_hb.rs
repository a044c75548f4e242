//! `fence_hb`: thin wrapper over [`hb_tools::fence_cli::run`]; reads `key=value` lines from
//! standard input unless it is a terminal or the command line names an action.

fn main() -> std::process::ExitCode {
    use std::io::{IsTerminal, Read, Write};
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut stdin = String::new();
    let has_action = args.iter().any(|a| a == "-o" || a.starts_with("--action"));
    if !has_action && !std::io::stdin().is_terminal() {
        // Bounded: fenced writes a few lines; anything longer is not a fence request.
        let _ = std::io::stdin().take(64 * 1024).read_to_string(&mut stdin);
    }
    let (out, err, code) = hb_tools::fence_cli::run(&stdin, &args);
    let _ = std::io::stdout().write_all(out.as_bytes());
    let _ = std::io::stderr().write_all(err.as_bytes());
    std::process::ExitCode::from(code)
}
