//! The CLI's only contact with `fleetward-engine`: start it, load modules from paths, and turn
//! its errors into exit statuses, one-line messages and fixture results ([`CallError`]s).
//!
//! Keeping the adapter in one file means an engine API change touches one place.

use std::path::Path;

use fleetward_engine::{Engine, EngineConfig, Limits, PolicyError, PolicyErrorKind, PolicyModule};
use fleetward_sdk::testing::CallError;
use fleetward_sdk::wire::{CallKind, DecisionKind, Timestamp};
use serde_json::Value;

use crate::exit::{CliError, Status, one_line_chain};

/// Limit flags shared by `eval` and `test`. Unset flags keep the engine's defaults; values
/// outside the ranges below are usage errors (exit 2) naming the range, not silently adjusted.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct LimitArgs {
    /// Fuel (instruction budget) per call, at least 1 [default: unlimited, the production
    /// default; fuel used is reported either way].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub fuel: Option<u64>,
    /// Wall-clock limit per call in milliseconds, 1 to 10000 (the Tenant CRD's range)
    /// [default: the engine's, 100].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_MS))]
    pub timeout_ms: Option<u64>,
    /// Linear-memory limit per call in MiB, 1 to 4096 (a 32-bit Wasm memory's size)
    /// [default: the engine's, 64].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_MEMORY_MIB))]
    pub memory_mib: Option<u64>,
}

/// Largest `--timeout-ms`: [`fleetward_engine::MAX_TIMEOUT`].
pub const MAX_TIMEOUT_MS: u64 = fleetward_engine::MAX_TIMEOUT.as_millis() as u64;
/// Largest `--memory-mib`: all a 32-bit Wasm memory can address.
pub const MAX_MEMORY_MIB: u64 = 4096;

impl LimitArgs {
    /// The engine limits these flags describe.
    pub fn limits(&self) -> Limits {
        let mut limits = Limits::default();
        if let Some(fuel) = self.fuel {
            limits.fuel = Some(fuel);
        }
        if let Some(ms) = self.timeout_ms {
            limits.timeout = std::time::Duration::from_millis(ms);
        }
        if let Some(mib) = self.memory_mib {
            limits.memory_bytes = mib.saturating_mul(1024 * 1024);
        }
        limits
    }
}

/// Starts an engine for a short-lived process: in-memory module cache, one call at a time, no
/// pooling allocator (nothing to amortise its set-up over), and a per-instance memory ceiling
/// that admits `limits`.
///
/// # Errors
/// [`CliError::Engine`] if wasmtime cannot be configured.
pub fn engine(limits: &Limits) -> Result<Engine, CliError> {
    let config = EngineConfig::default()
        .pooling(false)
        .max_concurrent_calls(1)
        .max_memory_per_instance(limits.memory_bytes.max(DEFAULT_MEMORY_CEILING));
    Engine::new(config).map_err(CliError::Engine)
}

/// The engine's default per-instance memory ceiling (128 MiB); raised when `--memory-mib` asks
/// for more.
const DEFAULT_MEMORY_CEILING: u64 = 128 * 1024 * 1024;

/// Reads a file named on the command line.
///
/// # Errors
/// [`CliError::Read`] naming the path.
pub fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|source| CliError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a module file, at most the engine's module size cap plus one byte: a 200 MB file or
/// `/dev/zero` costs 16 MiB of reading, like the controller's own bounded loader. WAT text
/// (a `.wat` file, or any file that does not start with the Wasm magic but with `(` or a `;;`
/// comment) is assembled to binary first, as `fleetward simulate` does.
///
/// # Errors
/// [`CliError::Read`] naming the path; a module over the cap is refused as
/// [`PolicyErrorKind::ModuleTooLarge`] (exit 3); WAT that does not assemble as
/// [`PolicyErrorKind::InvalidModule`] naming the file and line (exit 3).
pub fn read_module(path: &Path) -> Result<Vec<u8>, CliError> {
    let bytes = read_module_bytes(path)?;
    if !is_wat(path, &bytes) {
        return Ok(bytes);
    }
    match wat::parse_bytes(&bytes) {
        Ok(binary) => Ok(binary.into_owned()),
        Err(mut err) => {
            err.set_path(path);
            Err(CliError::Policy {
                context: format!("module {}", path.display()),
                source: PolicyErrorKind::InvalidModule {
                    message: format!("WAT text does not assemble: {err}"),
                },
                status: Status::Rejected,
                log: None,
            })
        }
    }
}

/// Whether a module file holds WAT text rather than a binary module.
fn is_wat(path: &Path, bytes: &[u8]) -> bool {
    if bytes.starts_with(b"\0asm") {
        return false;
    }
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]);
    let head = text.trim_start();
    path.extension().is_some_and(|e| e == "wat") || head.starts_with('(') || head.starts_with(";;")
}

fn read_module_bytes(path: &Path) -> Result<Vec<u8>, CliError> {
    let cap = fleetward_engine::MAX_MODULE_BYTES;
    let io = |source| CliError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, cap as u64 + 1), &mut bytes)
        .map_err(io)?;
    if bytes.len() > cap {
        return Err(CliError::Policy {
            context: format!("module {}", path.display()),
            source: PolicyErrorKind::ModuleTooLarge {
                size: bytes.len(),
                limit: cap,
            },
            status: Status::Rejected,
            log: None,
        });
    }
    Ok(bytes)
}

/// Reads a JSON file named on the command line (`-` reads stdin).
///
/// # Errors
/// [`CliError::Read`] or [`CliError::Json`] naming the path.
pub fn read_json(path: &Path) -> Result<Value, CliError> {
    let bytes = if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).map_err(|source| {
            CliError::Read {
                path: path.to_path_buf(),
                source,
            }
        })?;
        buf
    } else {
        read(path)?
    };
    serde_json::from_slice(&bytes).map_err(|source| CliError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads and loads (validates + compiles) a module.
///
/// # Errors
/// [`CliError::Read`] or the engine's rejection as [`CliError::Policy`] (exit 3).
pub fn load(engine: &Engine, path: &Path) -> Result<PolicyModule, CliError> {
    let bytes = read_module(path)?;
    engine.load(&bytes).map_err(load_error)
}

/// Binds a module; any refusal is a load refusal (exit 3), whatever its kind: a `_initialize`
/// that times out under the tenant's limits rejects the module just as a forbidden import does.
///
/// # Errors
/// The engine's refusal as [`CliError::Policy`].
pub fn bind(
    engine: &Engine,
    module: &PolicyModule,
    tenant: &str,
    config: Value,
    limits: Limits,
) -> Result<fleetward_engine::TenantPolicy, CliError> {
    engine
        .bind(module, tenant, config, limits)
        .map_err(load_error)
}

/// What a successful call costs besides its latency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Fuel (Wasm instructions, roughly) the call used.
    pub fuel: Option<u64>,
    /// The call's peak linear memory: the smallest memory limit, in whole 64 KiB pages, under
    /// which it still succeeds.
    pub peak_memory_bytes: Option<u64>,
}

/// A Wasm page.
const PAGE: u64 = 64 * 1024;

/// Measures one call: a fuel-metered run (with `limits.fuel`, else an unlimited budget) gives
/// the fuel, and a binary search over the memory limit in pages (about ten more runs for the
/// default 64 MiB) gives the peak memory, since the engine reports neither for unmetered calls.
/// Policies are deterministic, so the smallest limit that succeeds is the memory the call
/// needs. `None` fields when the call does not succeed under `limits` at all.
#[allow(clippy::too_many_arguments)]
pub fn measure(
    engine: &Engine,
    module: &PolicyModule,
    tenant: &str,
    config: &Value,
    kind: DecisionKind,
    request: &Value,
    now: Timestamp,
    limits: &Limits,
) -> Cost {
    let run = |memory_bytes: u64| -> Option<Option<u64>> {
        let mut l = limits.clone();
        l.memory_bytes = memory_bytes;
        l.fuel = Some(l.fuel.unwrap_or(u64::MAX));
        let policy = engine.bind(module, tenant, config.clone(), l).ok()?;
        let outcome = policy.call_json_blocking(kind, request, now).ok()?;
        Some(outcome.fuel_consumed)
    };
    let Some(fuel) = run(limits.memory_bytes) else {
        return Cost::default();
    };
    // Invariant: `lo` pages fail, `hi` pages succeed.
    let (mut lo, mut hi) = (0, limits.memory_bytes / PAGE);
    if run(hi * PAGE).is_none() {
        // A limit that is not a whole number of pages: report the limit itself.
        return Cost {
            fuel,
            peak_memory_bytes: Some(limits.memory_bytes),
        };
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if run(mid * PAGE).is_some() {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Cost {
        fuel,
        peak_memory_bytes: Some(hi * PAGE),
    }
}

/// `256 KiB`, `3.5 MiB`: a memory size for people.
pub fn human_bytes(bytes: u64) -> String {
    if bytes < 1024 * 1024 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}

/// [`policy_error`] for a failure while loading or binding: exit 3 unless the host is at fault
/// (I/O 2, engine-internal or compiler-unavailable 1).
pub fn load_error(err: PolicyError) -> CliError {
    let mut cli = policy_error(err);
    if let CliError::Policy { source, status, .. } = &mut cli {
        *status = match source {
            PolicyErrorKind::Io { .. } => Status::Usage,
            PolicyErrorKind::Internal { .. } | PolicyErrorKind::CompilerUnavailable { .. } => {
                Status::Failed
            }
            _ => Status::Rejected,
        };
    }
    cli
}

/// The wire name of a call.
pub fn call_name(call: CallKind) -> &'static str {
    match call {
        CallKind::Placement => "placement",
        CallKind::UpgradeOrdering => "upgrade_ordering",
        CallKind::Remediation => "remediation",
        CallKind::ValidateConfig => "validate_config",
    }
}

/// The exit status a failure maps to (see [`crate::exit::EXIT_CODES_HELP`]).
pub fn status_of(kind: &PolicyErrorKind) -> Status {
    match kind {
        PolicyErrorKind::ModuleRejected { .. }
        | PolicyErrorKind::ModuleTooLarge { .. }
        | PolicyErrorKind::InvalidModule { .. }
        | PolicyErrorKind::ModuleOverCap { .. }
        | PolicyErrorKind::CompileTimedOut { .. }
        | PolicyErrorKind::CompileMemoryExceeded { .. }
        | PolicyErrorKind::CompileFailed { .. }
        | PolicyErrorKind::InitialMemoryOverLimit { .. }
        | PolicyErrorKind::LimitOutOfRange { .. }
        | PolicyErrorKind::AbiMismatch { .. }
        | PolicyErrorKind::ConfigRejected { .. }
        | PolicyErrorKind::ConfigTooLarge { .. } => Status::Rejected,
        PolicyErrorKind::Io { .. } => Status::Usage,
        _ => Status::Failed,
    }
}

/// `tenant "t" module sha256:… placement`: who and what, for the one-line error.
fn context(err: &PolicyError) -> String {
    let mut parts = Vec::new();
    if let Some(tenant) = &err.tenant {
        parts.push(format!("tenant {tenant:?}"));
    }
    if let Some(digest) = &err.digest {
        parts.push(format!("module {digest}"));
    }
    if let Some(call) = err.call {
        parts.push(call_name(call).to_string());
    }
    if parts.is_empty() {
        "policy".to_string()
    } else {
        parts.join(" ")
    }
}

/// Converts an engine error into the CLI's error, keeping its kind as the source.
pub fn policy_error(err: PolicyError) -> CliError {
    let context = context(&err);
    let status = status_of(&err.kind);
    CliError::Policy {
        context,
        source: err.kind,
        status,
        log: err.log.map(|tail| tail.to_string()),
    }
}

/// The fixture view of a failed call: its metric label, the policy's code, and the one-line
/// message naming tenant, module and call.
pub fn call_error(err: &PolicyError) -> CallError {
    let code = match &err.kind {
        PolicyErrorKind::Declined { code, .. } | PolicyErrorKind::ConfigRejected { code, .. } => {
            Some(code.clone())
        }
        _ => None,
    };
    CallError {
        kind: err.metric_label(),
        code,
        // A failed trap or panic also shows what the policy logged last (at most 10 lines).
        message: match &err.log {
            Some(tail) => format!("{}: {}\n{tail}", context(err), one_line_chain(&err.kind)),
            None => format!("{}: {}", context(err), one_line_chain(&err.kind)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(kind: PolicyErrorKind) -> PolicyError {
        PolicyError {
            tenant: Some("t".into()),
            digest: Some(fleetward_engine::Digest::of(b"m")),
            call: Some(CallKind::Placement),
            kind,
            log: None,
        }
    }

    #[test]
    fn errors_map_to_documented_exit_statuses() {
        let rejected = PolicyErrorKind::ModuleRejected {
            reasons: vec!["forbidden import `env::evil`".into()],
        };
        assert_eq!(status_of(&rejected), Status::Rejected);
        assert_eq!(
            status_of(&PolicyErrorKind::AbiMismatch { found: 2 }),
            Status::Rejected
        );
        let config = PolicyErrorKind::ConfigRejected {
            code: "invalid_config".into(),
            message: "m".into(),
        };
        assert_eq!(status_of(&config), Status::Rejected);
        let timeout = PolicyErrorKind::TimedOut {
            limit: std::time::Duration::from_millis(100),
        };
        assert_eq!(status_of(&timeout), Status::Failed);
        let io = PolicyErrorKind::Io {
            path: "p.wasm".into(),
            source: std::io::Error::other("gone"),
        };
        assert_eq!(status_of(&io), Status::Usage);
    }

    #[test]
    fn policy_errors_render_as_one_line_with_context() {
        let err = policy_error(error(PolicyErrorKind::TimedOut {
            limit: std::time::Duration::from_millis(100),
        }));
        assert_eq!(err.status(), Status::Failed);
        let line = one_line_chain(&err);
        let digest = fleetward_engine::Digest::of(b"m");
        assert_eq!(
            line,
            format!("tenant \"t\" module {digest} placement: timed out after 100ms")
        );
    }

    #[test]
    fn call_error_keeps_label_and_policy_code() {
        let declined = error(PolicyErrorKind::Declined {
            code: "no_candidate".into(),
            message: "nothing fits".into(),
        });
        let CallError {
            kind,
            code,
            message,
        } = call_error(&declined);
        assert_eq!(kind, "declined");
        assert_eq!(code.as_deref(), Some("no_candidate"));
        assert!(message.contains("nothing fits"), "{message}");
        let trap = call_error(&error(PolicyErrorKind::StackExhausted));
        assert_eq!((trap.kind, trap.code), ("stack_exhausted", None));
    }

    #[test]
    fn limit_flags_override_defaults_only_when_set() {
        let d = Limits::default();
        let l = LimitArgs::default().limits();
        assert_eq!(
            (l.memory_bytes, l.timeout, l.fuel),
            (d.memory_bytes, d.timeout, d.fuel)
        );
        let l = LimitArgs {
            fuel: Some(5),
            timeout_ms: Some(7),
            memory_mib: Some(2),
        }
        .limits();
        assert_eq!(l.fuel, Some(5));
        assert_eq!(l.timeout, std::time::Duration::from_millis(7));
        assert_eq!(l.memory_bytes, 2 * 1024 * 1024);
    }
}
