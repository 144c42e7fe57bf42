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
    /// The last lines the policy logged in the failed call (not for a declined decision or a
    /// rejected config: the policy's own message says why). Shown after the error.
    pub log: Option<Box<LogTail>>,
}

/// The last lines a policy logged before its call failed, escaped and bounded
/// ([`crate::MAX_LOG_TAIL_LINES`], [`crate::MAX_LOG_TAIL_BYTES`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogTail {
    /// The lines, oldest first.
    pub lines: Vec<String>,
    /// How many earlier lines are not shown.
    pub earlier: usize,
}

impl fmt::Display for LogTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy log (last {} lines", self.lines.len())?;
        if self.earlier > 0 {
            write!(f, ", {} earlier not shown", self.earlier)?;
        }
        f.write_str("):")?;
        for line in &self.lines {
            write!(f, "\n  | {line}")?;
        }
        Ok(())
    }
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
        write!(f, ": {}", self.kind)?;
        if let Some(log) = &self.log {
            write!(f, "\n{log}")?;
        }
        Ok(())
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
            log: None,
        }
    }

    pub(crate) fn with_log(mut self, log: Option<LogTail>) -> Self {
        self.log = log.map(Box::new);
        self
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

/// A structural cap a module is checked against before it is compiled (`docs/abi.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModuleCap {
    /// [`crate::MAX_FUNCTIONS`], imported and defined functions together.
    Functions,
    /// [`crate::MAX_EXPORTS`].
    Exports,
    /// [`crate::MAX_IMPORTS`].
    Imports,
    /// [`crate::MAX_TYPES`].
    Types,
    /// [`crate::MAX_GLOBALS`].
    Globals,
    /// [`crate::MAX_DATA_SEGMENTS`].
    DataSegments,
    /// [`crate::MAX_ELEM_SEGMENTS`].
    ElemSegments,
    /// [`crate::MAX_TABLES`].
    Tables,
    /// [`crate::MAX_TABLE_ELEMENTS`], a table's declared initial size.
    TableElements,
    /// [`crate::MAX_MEMORIES`].
    Memories,
    /// The engine's per-instance memory ceiling, in bytes, against a memory's declared initial
    /// size ([`crate::EngineConfig::max_memory_per_instance`]).
    InitialMemory,
}

impl ModuleCap {
    /// What is counted, for messages: "functions", "initial memory bytes", ….
    pub fn noun(self) -> &'static str {
        match self {
            ModuleCap::Functions => "functions",
            ModuleCap::Exports => "exports",
            ModuleCap::Imports => "imports",
            ModuleCap::Types => "types",
            ModuleCap::Globals => "globals",
            ModuleCap::DataSegments => "data segments",
            ModuleCap::ElemSegments => "element segments",
            ModuleCap::Tables => "tables",
            ModuleCap::TableElements => "initial table elements",
            ModuleCap::Memories => "memories",
            ModuleCap::InitialMemory => "initial memory bytes",
        }
    }
}

impl fmt::Display for ModuleCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.noun())
    }
}

/// How a policy failed.
///
/// Every way a module is refused at load or bind has its own kind (so the CLI exits 3 and the
/// controller labels the Tenant condition precisely): [`ModuleTooLarge`], [`InvalidModule`],
/// [`ModuleOverCap`], [`ModuleRejected`] (ABI shape), [`CompileTimedOut`],
/// [`CompileMemoryExceeded`], [`CompileFailed`], [`InitialMemoryOverLimit`],
/// [`LimitOutOfRange`], [`AbiMismatch`], [`ConfigTooLarge`], [`ConfigRejected`], and the call
/// kinds when the load-time probe (`_initialize`, `fleetward_abi_version`) fails under the
/// tenant's limits. Text the module wrote is escaped and bounded
/// ([`crate::MAX_MODULE_TEXT_BYTES`]) before it is stored here.
///
/// [`ModuleTooLarge`]: PolicyErrorKind::ModuleTooLarge
/// [`InvalidModule`]: PolicyErrorKind::InvalidModule
/// [`ModuleOverCap`]: PolicyErrorKind::ModuleOverCap
/// [`ModuleRejected`]: PolicyErrorKind::ModuleRejected
/// [`CompileTimedOut`]: PolicyErrorKind::CompileTimedOut
/// [`CompileMemoryExceeded`]: PolicyErrorKind::CompileMemoryExceeded
/// [`CompileFailed`]: PolicyErrorKind::CompileFailed
/// [`InitialMemoryOverLimit`]: PolicyErrorKind::InitialMemoryOverLimit
/// [`LimitOutOfRange`]: PolicyErrorKind::LimitOutOfRange
/// [`AbiMismatch`]: PolicyErrorKind::AbiMismatch
/// [`ConfigTooLarge`]: PolicyErrorKind::ConfigTooLarge
/// [`ConfigRejected`]: PolicyErrorKind::ConfigRejected
#[derive(Debug, thiserror::Error)]
pub enum PolicyErrorKind {
    /// The module does not have the ABI's shape: forbidden imports (each named
    /// `module::name`), missing or mistyped exports, no decision export.
    #[error("module rejected: {}", reasons.join("; "))]
    ModuleRejected {
        /// One line per problem.
        reasons: Vec<String>,
    },
    /// The module is larger than the engine's module size cap; nothing else was read.
    #[error("module is {size} bytes, over the {limit}-byte module size cap")]
    ModuleTooLarge {
        /// Size of the bytes (or, for a file, at least this much).
        size: usize,
        /// [`crate::EngineConfig::max_module_size`].
        limit: usize,
    },
    /// The bytes are not a valid core Wasm module (not Wasm, a component, or invalid code).
    #[error("not a valid core Wasm module: {message}")]
    InvalidModule {
        /// The parser's or compiler's explanation (escaped, bounded).
        message: String,
    },
    /// The module declares more of something than the host allows; refused before compiling.
    #[error(
        "module declares {found} {cap}, over the cap of {limit}: the host refuses it before \
         compiling (docs/abi.md lists the caps)"
    )]
    ModuleOverCap {
        /// Which cap.
        cap: ModuleCap,
        /// What the module declares.
        found: u64,
        /// The cap.
        limit: u64,
    },
    /// Compiling the module took longer than the compile budget; the compiler was stopped.
    #[error(
        "compiling the module took longer than the {limit:?} compile budget; the module is \
         too expensive to compile (reduce its size or number of functions)"
    )]
    CompileTimedOut {
        /// The budget.
        limit: Duration,
    },
    /// Compiling the module needed more memory than the compile budget; the compiler was
    /// stopped.
    #[error(
        "compiling the module needed more than the {limit}-byte compile memory budget; the \
         module is too expensive to compile (reduce its size or number of functions)"
    )]
    CompileMemoryExceeded {
        /// The budget in bytes.
        limit: u64,
    },
    /// The compiler process ended without a result for another reason (crashed, killed).
    #[error("compiling the module failed: {message}")]
    CompileFailed {
        /// What the compiler reported, or how it ended.
        message: String,
    },
    /// The module could not be compiled because the compiler could not be started: a host
    /// problem, not the module's (check `FLEETWARD_COMPILER` / the engine's compiler path).
    #[error("cannot run the module compiler {program}: {message}")]
    CompilerUnavailable {
        /// The program the engine tried to run.
        program: String,
        /// Why it could not.
        message: String,
    },
    /// The module's declared initial memory is larger than the tenant's memory limit, so no
    /// call could ever start.
    #[error(
        "module declares {declared} bytes of initial memory, over the tenant's memory limit of \
         {limit} bytes: raise the limit or shrink the module's initial memory"
    )]
    InitialMemoryOverLimit {
        /// Initial memory the module declares, in bytes.
        declared: u64,
        /// The tenant's memory limit in bytes.
        limit: u64,
    },
    /// A tenant limit is outside the range the engine enforces.
    #[error("{what} {value} is out of range: it must be between {min} and {max}")]
    LimitOutOfRange {
        /// Which limit and unit, e.g. `"memory limit (bytes)"`.
        what: &'static str,
        /// The value asked for.
        value: u64,
        /// Smallest accepted.
        min: u64,
        /// Largest accepted.
        max: u64,
    },
    /// `fleetward_alloc` returned 0 (out of memory) although the memory limit was not reached.
    #[error(
        "fleetward_alloc returned 0 (no memory) for {requested} bytes; the instance had \
         {memory_bytes} bytes of linear memory, under its {limit}-byte limit: the module's \
         allocator failed on its own"
    )]
    AllocFailed {
        /// Bytes the host asked for.
        requested: u64,
        /// Linear memory size of the instance at that moment.
        memory_bytes: u64,
        /// The tenant's memory limit.
        limit: u64,
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
    /// The module reported a panic and then trapped (the Rust SDK's panic hook does;
    /// `docs/abi.md`, "Panics"). Metric label `trap`, like any trap.
    #[error("policy panicked at {report}")]
    Panicked {
        /// `FILE:LINE:COL: MESSAGE` as the module reported it (escaped, bounded).
        report: String,
        /// Guest function names of the trap, innermost first (std's panic machinery first).
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
            PolicyErrorKind::ModuleTooLarge { .. } => "module_too_large",
            PolicyErrorKind::InvalidModule { .. } => "invalid_module",
            PolicyErrorKind::ModuleOverCap { .. } => "module_over_cap",
            PolicyErrorKind::CompileTimedOut { .. } => "compile_timed_out",
            PolicyErrorKind::CompileMemoryExceeded { .. } => "compile_memory_exceeded",
            PolicyErrorKind::CompileFailed { .. } => "compile_failed",
            PolicyErrorKind::CompilerUnavailable { .. } => "compiler_unavailable",
            PolicyErrorKind::InitialMemoryOverLimit { .. } => "initial_memory_over_limit",
            PolicyErrorKind::LimitOutOfRange { .. } => "limit_out_of_range",
            PolicyErrorKind::AllocFailed { .. } => "alloc_failed",
            PolicyErrorKind::AbiMismatch { .. } => "abi_mismatch",
            PolicyErrorKind::ConfigRejected { .. } => "config_rejected",
            PolicyErrorKind::ConfigTooLarge { .. } => "config_too_large",
            PolicyErrorKind::InputTooLarge { .. } => "input_too_large",
            PolicyErrorKind::TimedOut { .. } => "timed_out",
            PolicyErrorKind::OutOfFuel { .. } => "out_of_fuel",
            PolicyErrorKind::MemoryLimitExceeded { .. } => "memory_limit_exceeded",
            PolicyErrorKind::StackExhausted => "stack_exhausted",
            PolicyErrorKind::Trap { .. } | PolicyErrorKind::Panicked { .. } => "trap",
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
