//! `fleetward crds`: print the CustomResourceDefinitions the controller serves.
//!
//! `deploy/crds.yaml` is this output; a test in the controller keeps the two in sync, so
//! installing from either gives the same API.

use std::io::Write;
use std::path::PathBuf;

use crate::exit::{CliError, Status};

/// Arguments of `fleetward crds`.
#[derive(Clone, Debug, clap::Args)]
pub struct CrdsArgs {
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

/// Prints (or writes) the CRD YAML.
///
/// # Errors
/// [`CliError::Write`] when the output file cannot be written.
pub fn run(args: &CrdsArgs, out: &mut dyn Write) -> Result<Status, CliError> {
    let yaml = fleetward_controller::crd::crd_yaml();
    match &args.out {
        Some(path) => std::fs::write(path, yaml).map_err(|source| CliError::Write {
            path: path.clone(),
            source,
        })?,
        None => out.write_all(yaml.as_bytes())?,
    }
    Ok(Status::Ok)
}
