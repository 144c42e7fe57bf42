//! Fleetward policy engine: loads, validates and runs sandboxed Wasm policy modules.
//!
//! Fleetward delegates three decisions (placement, upgrade ordering, remediation) to per-tenant
//! WebAssembly modules speaking the ABI in `docs/abi.md`. A tenant's policy is code the
//! operator did not write, so this crate treats it as hostile:
//!
//! - **Closed by default.** The only imports are a deterministic WASI preview 1 subset
//!   implemented here ([`wasi`](crate) table in `docs/abi.md`): the clock reads the request's
//!   `now`, randomness is a hash of the input, there are no files, no environment, no network.
//!   Any other import rejects the module at [`Engine::load`], naming each one.
//! - **Every call is bounded.** A fresh wasmtime `Store` per call (never reused, so a trap or a
//!   corrupted heap cannot leak into the next decision or another tenant) with a memory limit,
//!   an always-on epoch deadline (a ticker thread advances the epoch every millisecond),
//!   optional fuel, a 512 KiB wasm stack, and caps on input, config, output and log sizes.
//! - **Failures are typed.** [`PolicyErrorKind`] says what happened (timed out, out of fuel,
//!   memory limit, stack exhausted, trap with guest frames, invalid output with a JSON path,
//!   declined…), decided by downcasting wasmtime errors, and [`PolicyError`] says for which
//!   tenant, module digest and call.
//! - **Decisions are deterministic.** The same input envelope gives byte-identical
//!   [`Outcome::output_json`] and logs, across calls and engines; [`Outcome::input_sha256`]
//!   lets the audit ledger prove which input produced a decision.
//! - **It is fast enough to ask often.** One wasmtime engine and linker per process (plus a
//!   fuel-metered pair used only by tenants with a fuel limit), the
//!   pooling instance allocator, one `InstancePre` per module digest, compilation once per
//!   digest in memory (concurrent loads of one digest compile it once) and once per engine
//!   fingerprint on disk (`docs/perf/engine.md`). The in-memory cache holds modules weakly: a
//!   module is freed when no [`PolicyModule`] or [`TenantPolicy`] uses it any more, since
//!   tenants replace their modules over a controller's lifetime.
//! - **Guests never block the runtime.** The async decision methods run guest code on tokio's
//!   blocking pool behind a semaphore, in the caller's tracing span.
//!
//! # Example
//!
//! ```no_run
//! use fleetward_engine::{Engine, EngineConfig, Limits};
//! use fleetward_sdk::wire::{DecisionKind, Timestamp};
//!
//! # async fn demo(request: fleetward_sdk::wire::UpgradeRequest) -> anyhow::Result<()> {
//! let engine = Engine::new(EngineConfig::default().cache_dir("/var/cache/fleetward".into()))?;
//! let dir = cap_std::fs::Dir::open_ambient_dir("/etc/fleetward/policies", cap_std::ambient_authority())?;
//! let module = engine.load_file(&dir, "upgrade-ordering.wasm")?;
//! assert!(module.implements(DecisionKind::UpgradeOrdering));
//! let policy = engine.bind(&module, "acme", serde_json::json!({"waves": ["dev", "prod"]}), Limits::default())?;
//! let now = Timestamp::parse("2026-11-25T17:00:00Z")?;
//! match policy.order_upgrades(&request, now).await {
//!     Ok(outcome) => println!("start {:?} ({} µs)", outcome.decision.start, outcome.duration.as_micros()),
//!     Err(e) => eprintln!("{e} [{}]", e.metric_label()),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Limits and switches worth knowing
//!
//! - [`EngineConfig`] has `max_memory_per_instance` (default 128 MiB: pool slot size and
//!   ceiling of [`Limits::memory_bytes`]; a larger tenant limit is refused at bind with
//!   [`PolicyErrorKind::LimitOutOfRange`], never clamped), `compiler` and `compile_budget`
//!   (where and within what a module is compiled: a `fleetward __compile-module` child with
//!   10 s and 512 MiB by default, see [`Compiler`]),
//!   `pooling` (default on) and `fuel_metering` (default on: tenants with a fuel limit run
//!   fuel-metered code, everyone else unmetered code; off ignores tenant fuel limits).
//! - [`Engine::is_pooling`], [`Engine::loaded_modules`] and [`Engine::compiles`] report what
//!   the engine holds; [`TenantPolicy::limits`] and [`TenantPolicy::module`] what a binding runs.
//! - [`Outcome::fuel_consumed`] is `Some` only for tenants with a fuel limit: metering costs
//!   8-45% of guest time, so tenants without one run unmetered code.
//! - The ABI caps are public constants ([`MAX_INPUT_BYTES`], [`MAX_CONFIG_BYTES`],
//!   [`MAX_OUTPUT_BYTES`], [`MAX_LOG_BYTES`], [`MAX_WASM_STACK`], [`EPOCH_TICK`]).
//! - Loading is bounded before anything runs: the structural caps ([`MAX_FUNCTIONS`] and its
//!   neighbours, all in `docs/abi.md`) are checked from section headers before compiling.
//!   [`inspect`] returns `Err` for a module over the size cap, not a core Wasm module, or over
//!   a structural cap; every ABI-shape problem is listed in [`ModuleInfo::problems`].
//! - Text a module wrote (error messages, logs, names) is escaped and bounded ([`text`]) before
//!   it is stored in an error or outcome, so it is safe to show anywhere.

// `deny`, not `forbid`: `cache::deserialize_verified` is the one audited exception.
#![deny(unsafe_code)]

mod cache;
mod call;
pub mod compile;
mod config;
mod digest;
mod engine;
mod epoch;
mod error;
mod failure;
mod memory;
mod module;
mod output;
mod policy;
mod registry;
mod store;
pub mod text;
mod validate;
mod wasi;

pub use config::{
    CompileBudget, Compiler, DEFAULT_COMPILE_MEMORY, DEFAULT_COMPILE_TIME, EPOCH_TICK,
    EngineConfig, Limits, MAX_CONFIG_BYTES, MAX_DATA_SEGMENTS, MAX_ELEM_SEGMENTS, MAX_EXPORTS,
    MAX_FUNCTIONS, MAX_GLOBALS, MAX_IMPORTS, MAX_INPUT_BYTES, MAX_LOG_BYTES, MAX_LOG_TAIL_BYTES,
    MAX_LOG_TAIL_LINES, MAX_MEMORIES, MAX_MODULE_BYTES, MAX_MODULE_TEXT_BYTES, MAX_OUTPUT_BYTES,
    MAX_TABLE_ELEMENTS, MAX_TABLES, MAX_TIMEOUT, MAX_TYPES, MAX_WASM_STACK,
};
pub use digest::{Digest, DigestParseError};
pub use engine::Engine;
pub use error::{EngineError, LogTail, ModuleCap, PolicyError, PolicyErrorKind};
pub use module::PolicyModule;
pub use policy::{Outcome, TenantPolicy, envelope_bytes};
pub use validate::{ModuleInfo, inspect};
