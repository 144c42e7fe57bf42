//! The `fleetward` binary: parse flags, run, map the outcome to an exit code (see `--help`).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = fleetward::Cli::parse();
    let result = fleetward::run(&cli, &mut std::io::stdout(), &mut std::io::stderr());
    match result {
        Ok(status) => status.into(),
        Err(err) => {
            let status = err.status();
            let err = anyhow::Error::new(err);
            eprintln!("error: {}", fleetward::exit::one_line_chain(err.as_ref()));
            status.into()
        }
    }
}
