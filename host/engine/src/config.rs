//! Engine-wide settings and per-tenant limits, with their documented defaults.
//!
//! The caps that the ABI fixes (input, config, output and log sizes) are constants here so the
//! host and `docs/abi.md` can be checked against one place.

use std::path::PathBuf;
use std::time::Duration;

/// Largest input envelope the host writes into a module (4 MiB).
pub const MAX_INPUT_BYTES: usize = 4 * 1024 * 1024;
/// Largest tenant config, serialised (256 KiB).
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;
/// Largest output envelope the host reads back (1 MiB).
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// Largest policy log kept per call (64 KiB); further writes succeed but are dropped.
pub const MAX_LOG_BYTES: usize = 64 * 1024;
/// Wasm stack available to a policy (512 KiB).
pub const MAX_WASM_STACK: usize = 512 * 1024;
/// How often the epoch ticks: the resolution of every timeout.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Largest module accepted by default (16 MiB): [`EngineConfig::max_module_size`].
pub const MAX_MODULE_BYTES: usize = 16 * 1024 * 1024;
/// Most functions (imported and defined) a module may declare. Compile time and memory grow
/// with the number of functions (a million tiny ones took 62 s and 5.5 GB to compile); real
/// policies have a few thousand (the Rust reference policies ~1,000, Go programs ~10,000).
pub const MAX_FUNCTIONS: u32 = 50_000;
/// Most exports a module may declare (the ABI needs at most eight).
pub const MAX_EXPORTS: u32 = 1_000;
/// Most imports a module may declare (the allowed WASI subset has 20 functions).
pub const MAX_IMPORTS: u32 = 100;
/// Most function types a module may declare.
pub const MAX_TYPES: u32 = 10_000;
/// Most globals a module may declare.
pub const MAX_GLOBALS: u32 = 10_000;
/// Most data segments a module may declare: wasmparser's own limit. Standard Go emits one
/// segment per data symbol (about 40,000 for a policy), so a lower cap would refuse every Go
/// policy; the 16 MiB size cap bounds their total bytes anyway.
pub const MAX_DATA_SEGMENTS: u32 = 100_000;
/// Most element segments a module may declare.
pub const MAX_ELEM_SEGMENTS: u32 = 1_000;
/// Most tables a module may declare (also what a call's store allows).
pub const MAX_TABLES: u32 = 4;
/// Largest initial size, in elements, of any declared table; also how far a call may grow a
/// table (1,048,576).
pub const MAX_TABLE_ELEMENTS: u64 = 1 << 20;
/// Most linear memories a module may declare (the ABI uses exactly one).
pub const MAX_MEMORIES: u32 = 1;
/// Longest module-written text kept in an error field (a policy's error message or code, a
/// trap's frame names, import names, serde's description of bad output): 1 KiB, after
/// escaping; longer text is cut and says how long it was.
pub const MAX_MODULE_TEXT_BYTES: usize = 1024;

/// Most policy log lines a failed call's error shows (the last ones, oldest first).
pub const MAX_LOG_TAIL_LINES: usize = 10;

/// Most bytes of policy log (escaped) a failed call's error shows.
pub const MAX_LOG_TAIL_BYTES: usize = 4 * 1024;
/// Longest timeout a tenant may set (10 s, like the Tenant CRD's `timeoutMs` maximum).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10);
/// Default wall-clock budget for compiling one module: [`CompileBudget::time`].
pub const DEFAULT_COMPILE_TIME: Duration = Duration::from_secs(10);
/// Default memory budget for compiling one module: [`CompileBudget::memory_bytes`].
pub const DEFAULT_COMPILE_MEMORY: u64 = 512 * 1024 * 1024;

/// What compiling one module may use before it is refused
/// ([`crate::PolicyErrorKind::CompileTimedOut`], [`crate::PolicyErrorKind::CompileMemoryExceeded`]).
///
/// With [`Compiler::Subprocess`] both are enforced on a child process (wall clock by the
/// parent, memory by `RLIMIT_DATA`, CPU time by `RLIMIT_CPU` as a backstop); with
/// [`Compiler::InProcess`] only the time is, and only for the caller (see there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompileBudget {
    /// Wall-clock time from spawning the compiler to its result. Default: 10 s.
    pub time: Duration,
    /// Writable private memory of the compiler process (heap, compiled code being built).
    /// Default: 512 MiB, half the controller Deployment's 1 GiB memory limit.
    pub memory_bytes: u64,
}

impl Default for CompileBudget {
    fn default() -> Self {
        CompileBudget {
            time: DEFAULT_COMPILE_TIME,
            memory_bytes: DEFAULT_COMPILE_MEMORY,
        }
    }
}

/// Where modules are compiled. See `docs/architecture.md` ("Loading a module").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compiler {
    /// Re-execute `program` (the `fleetward` binary) as `program __compile-module …`: the
    /// module is compiled in a short-lived child process with the [`CompileBudget`] enforced
    /// by the kernel, and the parent only deserialises the result. A hostile module can exhaust
    /// the child, never the host. Linux (any Unix with `RLIMIT_DATA`) only.
    Subprocess(PathBuf),
    /// Compile on a dedicated thread of this process; the caller waits at most the budget's
    /// time and then gets [`crate::PolicyErrorKind::CompileTimedOut`]. **Weaker**: memory is not
    /// bounded, and a compile that ran over keeps running in the background until it ends
    /// (holding the compile slot, so at most one runs). For tests and embedders without the
    /// `fleetward` binary; the static caps still bound what reaches the compiler.
    InProcess,
}

impl Compiler {
    /// The default: `$FLEETWARD_COMPILER` if set (a path, or `in-process`); else the running
    /// executable if it is the `fleetward` binary; else [`Compiler::InProcess`] (library users
    /// and test binaries, which cannot re-execute themselves as a compiler).
    pub fn from_env() -> Compiler {
        match std::env::var_os("FLEETWARD_COMPILER") {
            Some(v) if v == "in-process" => return Compiler::InProcess,
            Some(v) if !v.is_empty() => return Compiler::Subprocess(PathBuf::from(v)),
            _ => {}
        }
        match std::env::current_exe() {
            Ok(exe) if exe.file_stem().is_some_and(|s| s == "fleetward") => {
                Compiler::Subprocess(exe)
            }
            _ => Compiler::InProcess,
        }
    }
}

/// How the engine is set up. Builder-style: `EngineConfig::default().cache_dir(dir)`.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) max_concurrent_calls: usize,
    pub(crate) max_module_size: usize,
    pub(crate) max_memory_per_instance: u64,
    pub(crate) pooling: bool,
    pub(crate) fuel_metering: bool,
    pub(crate) compiler: Compiler,
    pub(crate) compile_budget: CompileBudget,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            cache_dir: None,
            max_concurrent_calls: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2),
            max_module_size: MAX_MODULE_BYTES,
            max_memory_per_instance: 128 * 1024 * 1024,
            pooling: true,
            fuel_metering: true,
            compiler: Compiler::from_env(),
            compile_budget: CompileBudget::default(),
        }
    }
}

impl EngineConfig {
    /// Directory for compiled-module files, created if missing. Default: none (compiled modules
    /// live in memory only and every process compiles each module once).
    ///
    /// The files contain machine code that is loaded without recompiling, so the directory must
    /// be writable only by the host's user (like the host binary itself): that, not a checksum,
    /// is what makes loading them safe. Files are checked against a header naming the module
    /// digest and engine fingerprint and a CRC-32 of their contents (against truncation and disk
    /// corruption); a mismatching or damaged file is ignored and rewritten. A hit also skips the
    /// static inspection and ABI-version probe, whose results the first load recorded.
    pub fn cache_dir(mut self, dir: PathBuf) -> Self {
        self.cache_dir = Some(dir);
        self
    }

    /// How many policy calls may run at once through the async API. Default: the number of
    /// CPUs. Values below 1 are raised to 1.
    pub fn max_concurrent_calls(mut self, n: usize) -> Self {
        self.max_concurrent_calls = n.max(1);
        self
    }

    /// Largest module accepted by [`crate::Engine::load`]. Default: 16 MiB.
    pub fn max_module_size(mut self, bytes: usize) -> Self {
        self.max_module_size = bytes;
        self
    }

    /// Ceiling for any tenant's [`Limits::memory_bytes`], and the size of each slot of the
    /// pooling allocator. Default: 128 MiB. A tenant limit above it is refused at bind
    /// ([`crate::PolicyErrorKind::LimitOutOfRange`]), never silently lowered.
    pub fn max_memory_per_instance(mut self, bytes: u64) -> Self {
        self.max_memory_per_instance = bytes;
        self
    }

    /// Whether to use wasmtime's pooling instance allocator (fast instantiation, address space
    /// reserved up front). Default: true; if the pool cannot be created the engine falls back to
    /// on-demand allocation and logs a warning.
    pub fn pooling(mut self, enabled: bool) -> Self {
        self.pooling = enabled;
        self
    }
}

impl EngineConfig {
    /// Where modules are compiled. Default: [`Compiler::from_env`].
    pub fn compiler(mut self, compiler: Compiler) -> Self {
        self.compiler = compiler;
        self
    }

    /// What compiling one module may use. Default: [`CompileBudget::default`] (10 s, 512 MiB).
    pub fn compile_budget(mut self, budget: CompileBudget) -> Self {
        self.compile_budget = budget;
        self
    }

    /// Whether [`Limits::fuel`] can be enforced. Default: true. Metering slows guest code down
    /// by 8-45% (see `docs/perf/engine.md`), so only tenants that set a fuel limit pay for it:
    /// the engine keeps a second, fuel-metered wasmtime engine and compiles a module for it at
    /// the first bind of such a tenant (not cached on disk); every other tenant runs unmetered
    /// code and gets [`crate::Outcome::fuel_consumed`] `None`. With this off, there is no
    /// metered engine and a tenant fuel limit is ignored (a warning is logged at bind). The
    /// epoch deadline bounds every call either way.
    pub fn fuel_metering(mut self, enabled: bool) -> Self {
        self.fuel_metering = enabled;
        self
    }
}

/// What one tenant's calls may use. Set per tenant from the Tenant resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory cap in bytes. Default: 64 MiB.
    pub memory_bytes: u64,
    /// Wall-clock limit per call (epoch deadline, 1 ms resolution). Default: 100 ms; at least
    /// 1 ms and at most [`MAX_TIMEOUT`] (checked at bind).
    pub timeout: Duration,
    /// Instruction budget per call, if any. Default: none.
    pub fuel: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 * 1024 * 1024,
            timeout: Duration::from_millis(100),
            fuel: None,
        }
    }
}
