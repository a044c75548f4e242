//! `hbctl`: thin wrapper over [`hb_tools::hbctl::run`].

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = hb_tools::hbctl::run(args, &mut std::io::stdout().lock());
    std::process::ExitCode::from(code as u8)
}
