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

/// How the engine is set up. Builder-style: `EngineConfig::default().cache_dir(dir)`.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) max_concurrent_calls: usize,
    pub(crate) max_module_size: usize,
    pub(crate) max_memory_per_instance: u64,
    pub(crate) pooling: bool,
    pub(crate) fuel_metering: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            cache_dir: None,
            max_concurrent_calls: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2),
            max_module_size: 16 * 1024 * 1024,
            max_memory_per_instance: 128 * 1024 * 1024,
            pooling: true,
            fuel_metering: true,
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
    /// pooling allocator. Default: 128 MiB. A tenant limit above it is clamped to it.
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
    /// Wall-clock limit per call (epoch deadline, 1 ms resolution). Default: 100 ms.
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
