//! The engine: one wasmtime `Engine` and `Linker` (plus a fuel-metered pair for tenants with a
//! fuel limit, so nobody else pays for metering), the compiled-module caches and the call
//! semaphore, shared by every policy of the process.
//!
//! The in-memory cache ([`Registry`]) holds modules weakly and loads each digest once at a
//! time: a module lives as long as a `PolicyModule` or `TenantPolicy` holds it, because tenants
//! replace their modules over the controller's lifetime and old versions must be freed.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::Semaphore;
use wasmtime::{Enabled, InstanceAllocationStrategy, Linker, PoolingAllocationConfig};

use crate::cache::{self, CachedInfo, DiskCache};
use crate::call::Target;
use crate::compile::Compile;
use crate::config::MAX_WASM_STACK;
use crate::epoch::Ticker;
use crate::module::{Exports, ModuleInner, Variant};
use crate::registry::Registry;
use crate::store::StoreData;
use crate::validate::{ModuleInfo, inspect_with_caps};
use crate::{
    Digest, EngineConfig, EngineError, Limits, PolicyError, PolicyErrorKind, PolicyModule,
    TenantPolicy, call, wasi,
};

/// The policy engine. One per process; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    /// Compiles without fuel metering: every tenant without a fuel limit runs here.
    wasmtime: wasmtime::Engine,
    linker: Linker<StoreData>,
    /// With fuel metering on (the default), a second engine whose code counts fuel, for tenants
    /// with `Limits::fuel`. Metering costs 8-45% of guest time, so only they pay it.
    metered: Option<(wasmtime::Engine, Linker<StoreData>)>,
    config: EngineConfig,
    pooling: bool,
    /// Loaded modules by digest, held weakly: see [`Registry`].
    modules: Registry<ModuleInner>,
    /// Modules compiled from their bytes by `load` (misses of both caches).
    compiles: AtomicU64,
    disk: Option<DiskCache>,
    semaphore: Arc<Semaphore>,
    /// One compile at a time (see `compile.rs`).
    compile_gate: Arc<Mutex<()>>,
    /// Digests (and metered flag) whose compile was refused, with the refusal: the same bytes
    /// under the same budget fail the same way, so a reload answers at once instead of spending
    /// the budget again. Bounded by [`MAX_REMEMBERED_REFUSALS`].
    refused: Mutex<HashMap<(Digest, bool), PolicyErrorKind>>,
    _ticker: Ticker,
}

/// How many compile refusals the engine remembers (cleared when full: forgetting one only
/// costs one more budgeted compile).
const MAX_REMEMBERED_REFUSALS: usize = 256;

/// Bytes of a pool slot's memory and table kept resident on reuse: their dirty pages are reset
/// by copying/zeroing instead of being decommitted. A Rust policy touches a few MiB per call;
/// decommitting them would make the next call page-fault every one back in (measured: ~50x
/// slower decisions on this VM). Bounded in total by [`warm_slots`].
const KEEP_RESIDENT: usize = 8 * 1024 * 1024;

/// Set (to anything) to have wasmtime write `/tmp/perf-PID.map` so `perf report` names the
/// guest's functions (modules built with their name section; docs/perf/engine.md). Profiling
/// only: it costs a file write per compiled module.
const PERFMAP_ENV: &str = "FLEETWARD_WASM_PERFMAP";

/// wasmtime settings shared by the pooled and on-demand variants and the compiler child
/// (`compile.rs`): an artifact is only accepted by an engine with the same settings.
pub(crate) fn base_config(fuel: bool) -> wasmtime::Config {
    let mut c = wasmtime::Config::new();
    c.epoch_interruption(true)
        .consume_fuel(fuel)
        .max_wasm_stack(MAX_WASM_STACK)
        .wasm_multi_memory(false)
        .wasm_memory64(false)
        .wasm_relaxed_simd(false)
        // Same input, same bytes: NaN bit patterns must not depend on the CPU.
        .cranelift_nan_canonicalization(true);
    c
}

/// Slots of the instance pool: enough for every concurrent call plus blocking callers.
fn pool_slots(config: &EngineConfig) -> u32 {
    u32::try_from(config.max_concurrent_calls.saturating_mul(4))
        .unwrap_or(u32::MAX)
        .max(128)
}

/// Idle pool slots kept warm (resident, affine to their module): at most
/// `warm_slots × KEEP_RESIDENT` bytes stay resident while idle (64 MiB on two cores).
fn warm_slots(config: &EngineConfig) -> u32 {
    u32::try_from(config.max_concurrent_calls.saturating_mul(4))
        .unwrap_or(u32::MAX)
        .clamp(4, 64)
}

fn create_wasmtime(
    config: &EngineConfig,
    fuel: bool,
) -> Result<(wasmtime::Engine, bool), EngineError> {
    if config.pooling {
        let slots = pool_slots(config);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(slots)
            .total_memories(slots)
            .total_tables(slots)
            .max_memory_size(usize::try_from(config.max_memory_per_instance).unwrap_or(usize::MAX))
            // Policies use a few MiB: zeroing that much on reuse beats madvise + page faults.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT)
            .max_unused_warm_slots(warm_slots(config))
            // Reset only the pages a call dirtied (Linux ≥ 6.7; elsewhere wasmtime falls back
            // to resetting the whole kept-resident prefix). Without it every call memset the
            // instance's whole accessible memory (≥ 1.06 MiB for a Rust policy: 17 pages, its 1 MiB
            // stack included) on return to the pool: about half of a 100-cluster upgrade-ordering
            // decision on the 2-vCPU VM (docs/perf/engine.md).
            .pagemap_scan(Enabled::Auto);
        let mut c = base_config(fuel);
        if std::env::var_os(PERFMAP_ENV).is_some() {
            c.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        match wasmtime::Engine::new(&c) {
            Ok(engine) => return Ok((engine, true)),
            Err(e) => tracing::warn!(
                error = %e,
                "cannot create the pooling instance allocator; falling back to on-demand allocation"
            ),
        }
    }
    let mut c = base_config(fuel);
    c.allocation_strategy(InstanceAllocationStrategy::OnDemand);
    let engine = wasmtime::Engine::new(&c).map_err(|e| EngineError::Wasmtime {
        message: format!("{e:#}"),
    })?;
    Ok((engine, false))
}

impl Engine {
    /// Creates the engine, its linker and epoch ticker, and opens the cache directory.
    ///
    /// # Errors
    /// [`EngineError::Wasmtime`] if wasmtime rejects the configuration even without pooling,
    /// [`EngineError::CacheDir`] if the cache directory cannot be created or opened,
    /// [`EngineError::Ticker`] if the epoch thread cannot start.
    pub fn new(config: EngineConfig) -> Result<Engine, EngineError> {
        let (wasmtime, pooling) = create_wasmtime(&config, false)?;
        let link = |engine: &wasmtime::Engine| {
            let mut linker: Linker<StoreData> = Linker::new(engine);
            wasi::add_to_linker(&mut linker, |data: &mut StoreData| &mut data.wasi)
                .map(|()| linker)
                .map_err(|e| EngineError::Wasmtime {
                    message: format!("{e:#}"),
                })
        };
        let linker = link(&wasmtime)?;
        let metered = if config.fuel_metering {
            let (engine, _) = create_wasmtime(&config, true)?;
            let linker = link(&engine)?;
            Some((engine, linker))
        } else {
            None
        };
        let disk = match &config.cache_dir {
            None => None,
            Some(path) => {
                let cache_err = |source| EngineError::CacheDir {
                    path: path.display().to_string(),
                    source,
                };
                std::fs::create_dir_all(path).map_err(cache_err)?;
                let dir = cap_std::fs::Dir::open_ambient_dir(path, cap_std::ambient_authority())
                    .map_err(cache_err)?;
                Some(DiskCache::new(dir, cache::fingerprint(&wasmtime)))
            }
        };
        let mut engines = vec![&wasmtime];
        if let Some((engine, _)) = &metered {
            engines.push(engine);
        }
        let ticker = Ticker::start(&engines).map_err(|source| EngineError::Ticker { source })?;
        tracing::debug!(pooling, "fleetward policy engine started");
        Ok(Engine {
            inner: Arc::new(EngineInner {
                wasmtime,
                linker,
                metered,
                semaphore: Arc::new(Semaphore::new(config.max_concurrent_calls)),
                compile_gate: Arc::new(Mutex::new(())),
                refused: Mutex::new(HashMap::new()),
                config,
                pooling,
                modules: Registry::new(),
                compiles: AtomicU64::new(0),
                disk,
                _ticker: ticker,
            }),
        })
    }

    /// Whether the pooling allocator is in use (false after a fallback to on-demand).
    pub fn is_pooling(&self) -> bool {
        self.inner.pooling
    }

    /// Validates and compiles a module, once per digest: from the in-memory map, else the
    /// on-disk cache, else by compiling within the compile budget (and then writing the
    /// cache). Blocks for up to the budget's time: call it from a blocking context (the
    /// controller uses `spawn_blocking`), never on an async worker.
    ///
    /// The in-memory map does not keep a module alive: it is freed when the last
    /// [`PolicyModule`] and [`TenantPolicy`] using it are dropped, and a later load of the same
    /// bytes reads the disk cache (if configured) or compiles again. Concurrent loads of the
    /// same digest load it once and share the module; if that load fails, each waiting caller
    /// retries on its own (errors are not shared). Loads of different digests run in parallel.
    ///
    /// Nothing of the module runs here: `_initialize` and `fleetward_abi_version` run at
    /// [`Engine::bind`], under the tenant's limits.
    ///
    /// # Errors
    /// [`PolicyErrorKind::ModuleTooLarge`], [`PolicyErrorKind::InvalidModule`],
    /// [`PolicyErrorKind::ModuleOverCap`] (before compiling); [`PolicyErrorKind::ModuleRejected`]
    /// listing every ABI-shape problem (forbidden imports by `module::name`, missing or
    /// mistyped exports); [`PolicyErrorKind::CompileTimedOut`],
    /// [`PolicyErrorKind::CompileMemoryExceeded`], [`PolicyErrorKind::CompileFailed`] from the
    /// compiler, [`PolicyErrorKind::CompilerUnavailable`] if it cannot be started.
    pub fn load(&self, bytes: &[u8]) -> Result<PolicyModule, PolicyError> {
        let digest = Digest::of(bytes);
        let inner = self
            .inner
            .modules
            .get_or_load(&digest, || -> Result<_, PolicyError> {
                let module = match self.load_from_disk(&digest, bytes) {
                    Some(module) => module,
                    None => self.load_uncached(&digest, bytes)?,
                };
                Ok(module.inner)
            })?;
        Ok(PolicyModule { inner })
    }

    /// How many modules are loaded and alive: held by a [`PolicyModule`] or [`TenantPolicy`]
    /// somewhere (a gauge for metrics; the in-memory map keeps no module alive by itself).
    pub fn loaded_modules(&self) -> usize {
        self.inner.modules.live()
    }

    /// How many times [`Engine::load`] compiled a module from its bytes since the engine
    /// started (neither in memory nor in the disk cache; counted once inspection passed, even
    /// if compiling or the ABI probe then failed). The fuel-metered variant compiled at a
    /// fuel-limited tenant's first bind is not counted.
    pub fn compiles(&self) -> u64 {
        self.inner.compiles.load(Ordering::Relaxed)
    }

    /// Inspects and compiles a module, then writes the disk cache entry.
    fn load_uncached(&self, digest: &Digest, bytes: &[u8]) -> Result<PolicyModule, PolicyError> {
        let err = |kind| PolicyError::new(kind).with_digest(digest);
        let config = &self.inner.config;
        let info = inspect_with_caps(
            bytes,
            config.max_module_size,
            config.max_memory_per_instance,
        )?;
        if !info.problems.is_empty() {
            return Err(err(PolicyErrorKind::ModuleRejected {
                reasons: info.problems,
            }));
        }
        let compiled = self.compile(digest, bytes, false).map_err(err)?;
        let pre = self.inner.linker.instantiate_pre(&compiled).map_err(|e| {
            err(PolicyErrorKind::ModuleRejected {
                reasons: vec![crate::text::untrusted(&format!("cannot link: {e:#}"))],
            })
        })?;
        let exports = Exports::resolve(&compiled).map_err(err)?;
        self.store_on_disk(digest, &info, &compiled);
        Ok(PolicyModule::new(info, pre, exports, bytes))
    }

    /// Compiles `bytes` for the plain (`fuel` false) or metered engine through the configured
    /// compiler, within the budget, unless the same compile was already refused.
    fn compile(
        &self,
        digest: &Digest,
        bytes: &[u8],
        fuel: bool,
    ) -> Result<wasmtime::Module, PolicyErrorKind> {
        let key = (digest.clone(), fuel);
        if let Some(refusal) = lock(&self.inner.refused).get(&key).and_then(remembered) {
            return Err(refusal);
        }
        let engine = match (&self.inner.metered, fuel) {
            (Some((metered, _)), true) => metered,
            _ => &self.inner.wasmtime,
        };
        self.inner.compiles.fetch_add(1, Ordering::Relaxed);
        let compile = Compile {
            compiler: &self.inner.config.compiler,
            budget: self.inner.config.compile_budget,
            fuel: engine.get_consume_fuel(),
            gate: &self.inner.compile_gate,
        };
        let artifact = compile.run(bytes).inspect_err(|kind| {
            if let Some(copy) = remembered(kind) {
                let mut refused = lock(&self.inner.refused);
                if refused.len() >= MAX_REMEMBERED_REFUSALS {
                    refused.clear();
                }
                refused.insert(key.clone(), copy);
            }
        })?;
        if let Some(rss) = artifact.peak_rss {
            tracing::debug!(%digest, peak_rss = rss, "module compiled in a child process");
        }
        cache::deserialize_verified(engine, &artifact.bytes).map_err(|e| {
            PolicyErrorKind::CompileFailed {
                message: format!("the compiler's artifact does not load: {e:#}"),
            }
        })
    }

    /// The module from a disk cache entry, if there is a usable one. The entry records what
    /// the first load checked (static inspection passed, the ABI version), so neither is
    /// repeated. Any problem is logged and treated as a miss: the module is then compiled.
    fn load_from_disk(&self, digest: &Digest, bytes: &[u8]) -> Option<PolicyModule> {
        let disk = self.inner.disk.as_ref()?;
        let size = bytes.len();
        if size > self.inner.config.max_module_size {
            // Over the cap: let the full path explain why.
            return None;
        }
        let (compiled, cached) = match disk.get(&self.inner.wasmtime, digest) {
            Ok(Some(entry)) => entry,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring unusable module cache entry");
                return None;
            }
        };
        let linked = self
            .inner
            .linker
            .instantiate_pre(&compiled)
            .map_err(|e| format!("{e:#}"))
            .and_then(|pre| {
                let exports = Exports::resolve(&compiled).map_err(|e| e.to_string())?;
                Ok((pre, exports))
            });
        let (pre, exports) = match linked {
            Ok(linked) => linked,
            Err(e) => {
                tracing::warn!(error = %e, "cached module does not link; recompiling");
                return None;
            }
        };
        let info = ModuleInfo {
            digest: digest.clone(),
            size,
            abi_version: cached.abi_version,
            decisions: cached.decisions,
            imports: cached.imports,
            validates_config: cached.validates_config,
            initial_memory_bytes: cached.initial_memory_bytes,
            problems: Vec::new(),
        };
        Some(PolicyModule::new(info, pre, exports, bytes))
    }

    /// Writes the disk cache entry for a module that passed every load check.
    fn store_on_disk(&self, digest: &Digest, info: &ModuleInfo, compiled: &wasmtime::Module) {
        let Some(disk) = &self.inner.disk else {
            return;
        };
        let cached = CachedInfo {
            abi_version: info.abi_version,
            decisions: info.decisions.clone(),
            imports: info.imports.clone(),
            validates_config: info.validates_config,
            initial_memory_bytes: info.initial_memory_bytes,
        };
        match compiled.serialize() {
            Ok(artifact) => {
                if let Err(e) = disk.put(digest, &cached, &artifact) {
                    tracing::warn!(error = %e, "cannot write module cache entry");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot serialise compiled module"),
        }
    }

    /// Reads a module through a directory handle the host opened on purpose, then [`load`]s it.
    /// `relative_path` cannot escape `dir` (cap-std refuses `..` and absolute paths).
    ///
    /// Reads at most the module size cap plus one byte, so a huge file or a device costs no
    /// more than a module may.
    ///
    /// # Errors
    /// [`PolicyErrorKind::Io`] if the file cannot be read, `ModuleTooLarge` if it is over the
    /// size cap, then everything [`Engine::load`] returns.
    ///
    /// [`load`]: Engine::load
    pub fn load_file(
        &self,
        dir: &cap_std::fs::Dir,
        relative_path: &str,
    ) -> Result<PolicyModule, PolicyError> {
        let io = |source| {
            PolicyError::new(PolicyErrorKind::Io {
                path: relative_path.to_string(),
                source,
            })
        };
        let file = dir.open(relative_path).map_err(io)?;
        let cap = self.inner.config.max_module_size;
        let mut bytes = Vec::new();
        file.take(cap as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() > cap {
            return Err(PolicyError::new(PolicyErrorKind::ModuleTooLarge {
                size: bytes.len(),
                limit: cap,
            }));
        }
        self.load(&bytes)
    }

    /// Binds a module to a tenant, its config and limits: checks the limits, checks the
    /// module's initial memory against the tenant's memory limit, instantiates it once under
    /// the tenant's limits (`_initialize`, `fleetward_abi_version`) and runs
    /// `fleetward_validate_config` on the config if it exports one.
    ///
    /// # Errors
    /// [`PolicyErrorKind::LimitOutOfRange`] for a memory limit under 64 KiB or above
    /// [`EngineConfig::max_memory_per_instance`], a timeout under 1 ms or above
    /// [`crate::MAX_TIMEOUT`], or a fuel limit of 0; [`PolicyErrorKind::ConfigTooLarge`] over
    /// 256 KiB; [`PolicyErrorKind::InitialMemoryOverLimit`]; [`PolicyErrorKind::AbiMismatch`];
    /// [`PolicyErrorKind::ConfigRejected`] with the policy's code and message; any call failure
    /// of the probe or the validation call (a looping `_initialize` is `TimedOut` at the
    /// tenant's timeout).
    pub fn bind(
        &self,
        module: &PolicyModule,
        tenant: &str,
        config: Value,
        limits: Limits,
    ) -> Result<TenantPolicy, PolicyError> {
        TenantPolicy::bind(self.clone(), module, tenant, config, limits)
    }

    /// Instantiates `module` once under `limits` (`_initialize`, `fleetward_abi_version`), as
    /// [`Engine::bind`] does, and returns the ABI version it speaks: for tools that inspect a
    /// module without a tenant config.
    ///
    /// # Errors
    /// [`PolicyErrorKind::AbiMismatch`], or how the instantiation failed under `limits`.
    pub fn probe(&self, module: &PolicyModule, limits: &Limits) -> Result<u32, PolicyError> {
        let target = self.target(module, false).map_err(|k| module.error(k))?;
        call::probe(target, limits).map_err(|k| module.error(k))?;
        Ok(fleetward_sdk::wire::ABI_VERSION)
    }

    /// Where the calls of a tenant run: the metered engine if it has a fuel limit (and the
    /// engine meters fuel at all), compiling the module for it on first need; else the plain one.
    ///
    /// # Errors
    /// The compile refusals of [`Engine::load`] if the metered compilation fails (within the
    /// same budget; it passed unmetered, so only the budget can make it fail).
    pub(crate) fn target<'m>(
        &'m self,
        module: &'m PolicyModule,
        metered: bool,
    ) -> Result<Target<'m>, PolicyErrorKind> {
        let Some((engine, linker)) = self.inner.metered.as_ref().filter(|_| metered) else {
            return Ok(Target {
                engine: &self.inner.wasmtime,
                pre: &module.inner.pre,
                exports: &module.inner.exports,
            });
        };
        let variant = match module.inner.metered.get() {
            Some(variant) => variant,
            None => {
                let compiled = self.compile(module.digest(), &module.inner.wasm, true)?;
                let pre = linker.instantiate_pre(&compiled).map_err(|e| {
                    PolicyErrorKind::ModuleRejected {
                        reasons: vec![crate::text::untrusted(&format!(
                            "fuel-metered variant cannot link: {e:#}"
                        ))],
                    }
                })?;
                let exports = Exports::resolve(&compiled)?;
                // A concurrent first bind may have won the race; either result is equivalent.
                let _ = module.inner.metered.set(Variant { pre, exports });
                module
                    .inner
                    .metered
                    .get()
                    .ok_or_else(|| PolicyErrorKind::internal("metered variant vanished"))?
            }
        };
        Ok(Target {
            engine,
            pre: &variant.pre,
            exports: &variant.exports,
        })
    }

    pub(crate) fn semaphore(&self) -> &Arc<Semaphore> {
        &self.inner.semaphore
    }

    pub(crate) fn fuel_metering(&self) -> bool {
        self.inner.metered.is_some()
    }

    pub(crate) fn max_memory_per_instance(&self) -> u64 {
        self.inner.config.max_memory_per_instance
    }
}

/// Locks a mutex, recovering from poisoning (the guarded data is a cache: still usable).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A copy of a compile refusal worth remembering: one the same bytes and budget would meet
/// again. A host-side failure (compiler missing, internal error) is not remembered.
fn remembered(kind: &PolicyErrorKind) -> Option<PolicyErrorKind> {
    match kind {
        PolicyErrorKind::CompileTimedOut { limit } => {
            Some(PolicyErrorKind::CompileTimedOut { limit: *limit })
        }
        PolicyErrorKind::CompileMemoryExceeded { limit } => {
            Some(PolicyErrorKind::CompileMemoryExceeded { limit: *limit })
        }
        PolicyErrorKind::InvalidModule { message } => Some(PolicyErrorKind::InvalidModule {
            message: message.clone(),
        }),
        _ => None,
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .field("pooling", &self.inner.pooling)
            .finish_non_exhaustive()
    }
}
