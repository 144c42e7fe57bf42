//! The `fleetward` binary: parse flags, run, map the outcome to an exit code (see `--help`).
//!
//! The binary allocates with jemalloc: a week-long simulation of a 1,000-cluster fleet spends
//! about half of its CPU time in glibc's malloc and free on a heap of over a gigabyte, and
//! jemalloc cut the same run to less than half the CPU with byte-identical reports
//! (docs/performance.md, "Simulate at fleet size"). It also works inside the module compiler
//! child, which runs under `RLIMIT_DATA` (mimalloc did not: its thread pool failed to start).

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = fleetward::Cli::parse();
    let result = fleetward::run(&cli, &mut std::io::stdout(), &mut std::io::stderr());
    match result {
        Ok(status) => status.into(),
        Err(err) => {
            let status = err.status();
            let log = err.policy_log().map(str::to_string);
            let err = anyhow::Error::new(err);
            eprintln!("error: {}", fleetward::exit::one_line_chain(err.as_ref()));
            if let Some(log) = log {
                eprintln!("{log}");
            }
            status.into()
        }
    }
}
