//! The engine's typed errors.
//!
//! A failed policy call must say *which* policy failed for *which* tenant in *which* call, and
//! *how* (a timeout is retried differently from a config the module rejects), so [`PolicyError`]
//! carries that context around a [`PolicyErrorKind`] that callers match on and turn into status
//! conditions and metric labels. Kinds are decided by downcasting wasmtime errors, never by
//! reading their messages.

use std::fmt;
use std::time::Duration;

use fleetward_sdk::wire::{CallKind, DecisionKind};

use crate::Digest;

/// Setting up the engine failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// wasmtime refused the configuration (e.g. an unsupported platform).
    #[error("cannot create the wasmtime engine: {message}")]
    Wasmtime {
        /// wasmtime's explanation.
        message: String,
    },
    /// The compiled-module cache directory could not be created or opened.
    #[error("cannot open the module cache directory {path}: {source}")]
    CacheDir {
        /// The directory.
        path: String,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The epoch ticker thread could not be started.
    #[error("cannot start the epoch ticker thread: {source}")]
    Ticker {
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
}

/// A policy failed to load, bind or decide. Names the tenant, module and call when known.
#[derive(Debug, thiserror::Error)]
pub struct PolicyError {
    /// The tenant the module was bound to, if it was.
    pub tenant: Option<String>,
    /// The module's digest, if the bytes were read.
    pub digest: Option<Digest>,
    /// The call that failed, if any.
    pub call: Option<CallKind>,
    /// What happened.
    #[source]
    pub kind: PolicyErrorKind,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("policy")?;
        if let Some(digest) = &self.digest {
            write!(f, " {digest}")?;
        }
        if let Some(tenant) = &self.tenant {
            write!(f, " for tenant {tenant:?}")?;
        }
        if let Some(call) = self.call {
            write!(f, " in call {}", call_name(call))?;
        }
        write!(f, ": {}", self.kind)
    }
}

/// The snake_case name of a call, as on the wire.
pub(crate) fn call_name(call: CallKind) -> &'static str {
    match call {
        CallKind::Placement => "placement",
        CallKind::UpgradeOrdering => "upgrade_ordering",
        CallKind::Remediation => "remediation",
        CallKind::ValidateConfig => "validate_config",
    }
}

impl PolicyError {
    /// A stable label for metrics and status reasons, e.g. `"timed_out"`.
    pub fn metric_label(&self) -> &'static str {
        self.kind.metric_label()
    }

    pub(crate) fn new(kind: PolicyErrorKind) -> Self {
        PolicyError {
            tenant: None,
            digest: None,
            call: None,
            kind,
        }
    }

    pub(crate) fn with_digest(mut self, digest: &Digest) -> Self {
        self.digest = Some(digest.clone());
        self
    }

    pub(crate) fn with_tenant(mut self, tenant: &str) -> Self {
        self.tenant = Some(tenant.to_string());
        self
    }

    pub(crate) fn with_call(mut self, call: CallKind) -> Self {
        self.call = Some(call);
        self
    }
}

/// How a policy failed.
#[derive(Debug, thiserror::Error)]
pub enum PolicyErrorKind {
    /// The module cannot be used: too large, not a core Wasm module, forbidden imports (each
    /// named `module::name`), missing or mistyped exports.
    #[error("module rejected: {}", reasons.join("; "))]
    ModuleRejected {
        /// One line per problem.
        reasons: Vec<String>,
    },
    /// `fleetward_abi_version` returned something other than the ABI version this host speaks.
    #[error(
        "module speaks ABI version {found}, this host speaks {}",
        fleetward_sdk::wire::ABI_VERSION
    )]
    AbiMismatch {
        /// What the module returned.
        found: i64,
    },
    /// The module's `fleetward_validate_config` rejected the tenant's config.
    #[error("config rejected by the policy ({code}): {message}")]
    ConfigRejected {
        /// The policy's error code.
        code: String,
        /// The policy's explanation.
        message: String,
    },
    /// The tenant's config is larger than the config cap.
    #[error("config is {size} bytes, over the {limit}-byte cap")]
    ConfigTooLarge {
        /// Serialised config size.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The input envelope is larger than the input cap; the module was not run.
    #[error("input is {size} bytes, over the {limit}-byte cap")]
    InputTooLarge {
        /// Input envelope size.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The call ran past its wall-clock limit and was interrupted.
    #[error("timed out after {limit:?}")]
    TimedOut {
        /// The tenant's timeout.
        limit: Duration,
    },
    /// The call used up its fuel (instruction budget).
    #[error("out of fuel ({limit} units)")]
    OutOfFuel {
        /// The tenant's fuel budget.
        limit: u64,
    },
    /// The module tried to grow its memory past the tenant's limit.
    #[error("memory limit exceeded ({limit} bytes)")]
    MemoryLimitExceeded {
        /// The tenant's memory limit in bytes.
        limit: u64,
    },
    /// The module overflowed its wasm stack (deep or unbounded recursion).
    #[error("call stack exhausted")]
    StackExhausted,
    /// The module trapped (e.g. a Rust panic compiled to `unreachable`).
    #[error("trap: {message}{}", frames_suffix(frames))]
    Trap {
        /// wasmtime's description of the trap.
        message: String,
        /// Guest function names, innermost first.
        frames: Vec<String>,
    },
    /// The module called `proc_exit`.
    #[error("policy exited with code {code}")]
    PolicyExited {
        /// The exit code it passed.
        code: i32,
    },
    /// The output is unusable: out of bounds, not UTF-8, not JSON, or not the decision's shape.
    #[error("invalid output at {path}: {message}")]
    InvalidOutput {
        /// JSON path of the bad field (`ok.seed`), or `$` for the document as a whole.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The output is larger than the output cap.
    #[error("output is {size} bytes, over the {limit}-byte cap")]
    OutputTooLarge {
        /// Output size the module claimed.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The module does not export this decision's entry point.
    #[error("module does not implement the {kind} decision")]
    DecisionNotImplemented {
        /// The decision asked for.
        kind: DecisionKind,
    },
    /// The policy returned `{"error": ...}` instead of a decision.
    #[error("policy declined ({code}): {message}")]
    Declined {
        /// The policy's error code.
        code: String,
        /// The policy's explanation.
        message: String,
    },
    /// Reading a module file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path, relative to the directory handle.
        path: String,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// A host-side failure that is not the policy's fault (e.g. the instance pool is exhausted).
    #[error("internal engine error: {message}")]
    Internal {
        /// What failed.
        message: String,
    },
}

fn frames_suffix(frames: &[String]) -> String {
    if frames.is_empty() {
        String::new()
    } else {
        format!(" (in {})", frames.join(" <- "))
    }
}

impl PolicyErrorKind {
    /// A stable label for metrics and status reasons.
    pub fn metric_label(&self) -> &'static str {
        match self {
            PolicyErrorKind::ModuleRejected { .. } => "module_rejected",
            PolicyErrorKind::AbiMismatch { .. } => "abi_mismatch",
            PolicyErrorKind::ConfigRejected { .. } => "config_rejected",
            PolicyErrorKind::ConfigTooLarge { .. } => "config_too_large",
            PolicyErrorKind::InputTooLarge { .. } => "input_too_large",
            PolicyErrorKind::TimedOut { .. } => "timed_out",
            PolicyErrorKind::OutOfFuel { .. } => "out_of_fuel",
            PolicyErrorKind::MemoryLimitExceeded { .. } => "memory_limit_exceeded",
            PolicyErrorKind::StackExhausted => "stack_exhausted",
            PolicyErrorKind::Trap { .. } => "trap",
            PolicyErrorKind::PolicyExited { .. } => "policy_exited",
            PolicyErrorKind::InvalidOutput { .. } => "invalid_output",
            PolicyErrorKind::OutputTooLarge { .. } => "output_too_large",
            PolicyErrorKind::DecisionNotImplemented { .. } => "decision_not_implemented",
            PolicyErrorKind::Declined { .. } => "declined",
            PolicyErrorKind::Io { .. } => "io",
            PolicyErrorKind::Internal { .. } => "internal",
        }
    }

    pub(crate) fn internal(message: impl fmt::Display) -> Self {
        PolicyErrorKind::Internal {
            message: message.to_string(),
        }
    }
}

impl From<PolicyErrorKind> for PolicyError {
    fn from(kind: PolicyErrorKind) -> Self {
        PolicyError::new(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_digest_tenant_and_call() {
        let err = PolicyError::new(PolicyErrorKind::TimedOut {
            limit: Duration::from_millis(100),
        })
        .with_digest(&Digest::of(b"m"))
        .with_tenant("acme")
        .with_call(CallKind::Placement);
        let text = err.to_string();
        assert!(text.contains(&Digest::of(b"m").to_string()), "{text}");
        assert!(text.contains("\"acme\""), "{text}");
        assert!(text.contains("placement"), "{text}");
        assert!(text.contains("timed out after 100ms"), "{text}");
        assert_eq!(err.metric_label(), "timed_out");
    }
}
