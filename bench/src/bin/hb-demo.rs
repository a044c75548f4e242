//! `hb-demo`: thin wrapper over [`hb_bench::demo`].

fn main() -> std::process::ExitCode {
    match hb_bench::demo::parse(std::env::args().skip(1).collect()) {
        Ok(Some(a)) => std::process::ExitCode::from(hb_bench::demo::run(&a)),
        Ok(None) => {
            print!("{}", hb_bench::demo::HELP);
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hb-demo: {e}\nTry 'hb-demo --help'.");
            std::process::ExitCode::from(64)
        }
    }
}
