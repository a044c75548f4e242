//! `hb-stonith`: thin wrapper over [`hb_tools::stonith_cli::run`].

fn main() -> std::process::ExitCode {
    use std::io::Write;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (out, err, code) = hb_tools::stonith_cli::run(args, &|name| std::env::var(name).ok());
    let _ = std::io::stdout().write_all(out.as_bytes());
    let _ = std::io::stderr().write_all(err.as_bytes());
    std::process::ExitCode::from(code)
}
