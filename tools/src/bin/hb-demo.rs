//! `hb-demo`: thin wrapper over [`hb_tools::demo`].

fn main() -> std::process::ExitCode {
    match hb_tools::demo::parse(std::env::args().skip(1).collect()) {
        Ok(Some(a)) => std::process::ExitCode::from(hb_tools::demo::run(&a)),
        Ok(None) => {
            print!("{}", hb_tools::demo::HELP);
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hb-demo: {e}\nTry 'hb-demo --help'.");
            std::process::ExitCode::from(64)
        }
    }
}
