//! `fleetward policy inspect MODULE`: what a module exports and imports, and whether the host
//! would accept it, without compiling or running it.

use std::io::Write;
use std::path::PathBuf;

use fleetward_engine::ModuleInfo;
use serde_json::json;

use super::runtime;
use crate::exit::{CliError, Status};

/// Arguments of `policy inspect`.
#[derive(Clone, Debug, clap::Args)]
pub struct InspectArgs {
    /// The policy module (.wasm).
    pub module: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `policy inspect`. Exit 0 when the module would load, 3 when it has problems.
///
/// # Errors
/// Unreadable file (2), or bytes the engine cannot even parse (3).
pub fn run(args: &InspectArgs, out: &mut dyn Write) -> Result<Status, CliError> {
    let bytes = runtime::read_module(&args.module)?;
    let mut info = fleetward_engine::inspect(&bytes).map_err(runtime::load_error)?;
    if info.problems.is_empty() {
        // Static inspection cannot run `fleetward_abi_version`; loading (a budgeted compile)
        // and a probe under the default limits do, so a module that passes the static checks
        // reports its real ABI version or why it fails.
        let limits = fleetward_engine::Limits::default();
        let engine = runtime::engine(&limits)?;
        match engine.load(&bytes) {
            Ok(module) => {
                info = module.info().clone();
                match engine.probe(&module, &limits) {
                    Ok(version) => info.abi_version = Some(version),
                    Err(err) => info.problems.push(err.kind.to_string()),
                }
            }
            Err(err) => info.problems.push(err.kind.to_string()),
        }
    }
    if args.json {
        let doc = to_json(&args.module, &info);
        writeln!(out, "{}", super::pretty(&doc))?;
    } else {
        write_text(&args.module, &info, out)?;
    }
    Ok(if info.problems.is_empty() {
        Status::Ok
    } else {
        Status::Rejected
    })
}

/// The `--json` document.
pub fn to_json(path: &std::path::Path, info: &ModuleInfo) -> serde_json::Value {
    json!({
        "module": path.display().to_string(),
        "digest": info.digest.to_string(),
        "size": info.size,
        "abi_version": info.abi_version,
        "decisions": info.decisions.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        "imports": info.imports,
        "validates_config": info.validates_config,
        "problems": info.problems,
        "loadable": info.problems.is_empty(),
    })
}

fn write_text(
    path: &std::path::Path,
    info: &ModuleInfo,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.join(", ")
        }
    };
    writeln!(out, "module:           {}", path.display())?;
    writeln!(out, "digest:           {}", info.digest)?;
    writeln!(out, "size:             {} bytes", info.size)?;
    let abi = info
        .abi_version
        .map_or_else(|| "unknown".to_string(), |v| v.to_string());
    writeln!(out, "abi version:      {abi}")?;
    let decisions = info.decisions.iter().map(|d| d.to_string()).collect();
    writeln!(out, "decisions:        {}", list(decisions))?;
    let validates = if info.validates_config { "yes" } else { "no" };
    writeln!(out, "validates config: {validates}")?;
    writeln!(out, "imports:          {}", list(info.imports.clone()))?;
    if info.problems.is_empty() {
        writeln!(out, "problems:         none (the host would load it)")?;
    } else {
        writeln!(
            out,
            "problems:         {} (the host would reject it)",
            info.problems.len()
        )?;
        for p in &info.problems {
            writeln!(out, "  - {p}")?;
        }
    }
    Ok(())
}
