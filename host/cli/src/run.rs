//! `fleetward run`: the controller itself, as deployed (see docs/operating.md).
//!
//! Flags and their environment variables are defined next to the controller
//! (`fleetward_controller::cli::RunOptions`) so the Deployment manifest and `--help` agree.

use fleetward_controller::cli::RunOptions;

use crate::exit::{CliError, Status};

/// Runs the controller until SIGTERM/SIGINT.
///
/// # Errors
/// [`CliError::Runtime`] when the client, engine, module directory or metrics address cannot be
/// set up, or leadership is lost (the pod restarts and rejoins the election).
pub fn run(opts: &RunOptions) -> Result<Status, CliError> {
    let rt = tokio::runtime::Runtime::new().map_err(CliError::runtime)?;
    rt.block_on(fleetward_controller::cli::run(opts.clone()))
        .map_err(CliError::runtime)?;
    Ok(Status::Ok)
}
