//! Runs a scenario without the `fleetward` binary:
//! `cargo run -p fleetward-simulate --example simulate -- SCENARIO OUT_DIR [TENANT=MODULE ...] [--compare]`.

use std::io::IsTerminal;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(scenario), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("usage: simulate SCENARIO OUT_DIR [TENANT=MODULE ...] [--compare]");
        std::process::exit(2);
    };
    let mut a = fleetward_simulate::SimulateArgs::new(scenario, out);
    for extra in &args[2..] {
        if extra == "--compare" {
            a.compare = true;
        } else {
            match fleetward_simulate::SimulateArgs::parse_override(extra) {
                Ok(o) => a.policy_overrides.push(o),
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(2);
                }
            }
        }
    }
    let mut err = std::io::stderr();
    let tty = err.is_terminal();
    let started = std::time::Instant::now();
    match fleetward_simulate::run(&a, &mut err, tty) {
        Ok(exit) => {
            if let Err(e) = exit.write_results(&mut std::io::stdout()) {
                eprintln!("error: cannot write the results: {e}");
                std::process::exit(2);
            }
            eprintln!("(real time {:.1}s)", started.elapsed().as_secs_f64());
            std::process::exit(exit.exit_code());
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
