//! One policy call in a fresh store: instantiate, initialise, check the ABI version, write the
//! input, run the entry point, read the output back, classify any failure.
//!
//! The store lives exactly as long as this call. Whatever happens inside (a trap, a timeout, a
//! memory blow-up), the store is dropped at the end and the next call starts clean; there is
//! no state to leak between tenants or between a tenant's calls.

use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use wasmtime::{
    Extern, Func, Instance, InstancePre, ModuleExport, Store, Trap, WasmBacktrace, WasmParams,
    WasmResults,
};

use fleetward_sdk::wire::{ABI_VERSION, Timestamp};

use crate::config::MAX_OUTPUT_BYTES;
use crate::digest::to_hex;
use crate::epoch::deadline_ticks;
use crate::error::{LogTail, PolicyErrorKind};
use crate::module::Exports;
use crate::store::{RecordingLimiter, StoreData};
use crate::wasi::{ProcExit, WasiState};
use crate::{Limits, failure, memory, output};

/// What a successful call produced, before typing.
#[derive(Debug)]
pub(crate) struct RawOutcome {
    /// The `ok` value of the output envelope.
    pub(crate) ok: Value,
    pub(crate) logs: String,
    pub(crate) fuel_consumed: Option<u64>,
    pub(crate) duration: Duration,
    pub(crate) input_sha256: String,
}

/// A started instance in its own store.
struct Session<'m> {
    store: Store<StoreData>,
    instance: Instance,
    exports: &'m Exports,
    limits: &'m Limits,
}

/// What to instantiate: a wasmtime engine and a module compiled for it.
#[derive(Clone, Copy)]
pub(crate) struct Target<'m> {
    pub(crate) engine: &'m wasmtime::Engine,
    pub(crate) pre: &'m InstancePre<StoreData>,
    pub(crate) exports: &'m Exports,
}

/// Runs `entry` of `module` on `input` (the serialised input envelope) under `limits`.
pub(crate) fn run(
    target: Target<'_>,
    limits: &Limits,
    entry: &ModuleExport,
    input: &[u8],
    now: Timestamp,
) -> Result<RawOutcome, CallFailure> {
    let started = Instant::now();
    let mut seed = Sha256::new();
    seed.update(input);
    let input_sha256 = to_hex(&seed.clone().finalize());
    let mut session = Session::start(target, limits, seed, now).map_err(CallFailure::bare)?;
    let result = session.invoke(entry, input);
    let raw_logs = session.store.data_mut().wasi.take_log();
    let ok = match result {
        Ok(ok) => ok,
        Err(kind) => return Err(CallFailure::with_log(kind, &raw_logs)),
    };
    // Logs are module-written text: escaped (line breaks kept) before anyone shows them. The
    // WASI shim kept at most `MAX_LOG_BYTES` of it; an escape is at most 8 bytes per character
    // of at least one byte, so this bound never cuts what the shim kept.
    let logs = crate::text::untrusted_log(&raw_logs, 8 * (crate::MAX_LOG_BYTES + 1024));
    // Ask only a metering engine: on the unmetered one `get_fuel` builds an error value on
    // every call, which showed up as several µs of fixed overhead per decision.
    let fuel_consumed = if session.store.engine().get_consume_fuel() {
        session
            .store
            .get_fuel()
            .ok()
            .map(|left| limits.fuel.unwrap_or(u64::MAX).saturating_sub(left))
    } else {
        None
    };
    Ok(RawOutcome {
        ok,
        logs,
        fuel_consumed,
        duration: started.elapsed(),
        input_sha256,
    })
}

/// A failed call: how it failed, and the last lines the policy logged.
#[derive(Debug)]
pub(crate) struct CallFailure {
    pub(crate) kind: PolicyErrorKind,
    pub(crate) log: Option<LogTail>,
}

impl CallFailure {
    /// A failure before the module could log anything worth showing (instantiation).
    fn bare(kind: PolicyErrorKind) -> Self {
        CallFailure { kind, log: None }
    }

    /// A failure with the call's log: a trap after the module reported a panic becomes
    /// [`PolicyErrorKind::Panicked`], and the lines logged before it come along (except for a declined decision or
    /// config, whose message is the policy's own answer).
    fn with_log(kind: PolicyErrorKind, raw_log: &str) -> Self {
        let (before, reported) = failure::split_panic(raw_log);
        let (kind, shown) = match (kind, reported) {
            (PolicyErrorKind::Trap { frames, .. }, Some(report)) => {
                (PolicyErrorKind::Panicked { report, frames }, before)
            }
            (kind, _) => (kind, raw_log),
        };
        let log = match kind {
            PolicyErrorKind::Declined { .. } | PolicyErrorKind::ConfigRejected { .. } => None,
            _ => failure::log_tail(shown),
        };
        CallFailure { kind, log }
    }
}

/// Instantiates the module once under the tenant's `limits`: `_initialize` and the ABI
/// version check, as every call starts (the bind-time probe).
pub(crate) fn probe(target: Target<'_>, limits: &Limits) -> Result<(), PolicyErrorKind> {
    Session::start(target, limits, Sha256::new(), Timestamp(0)).map(drop)
}

impl<'m> Session<'m> {
    /// Fresh store, instance, `_initialize`, and the ABI version check.
    fn start(
        target: Target<'m>,
        limits: &'m Limits,
        seed: Sha256,
        now: Timestamp,
    ) -> Result<Self, PolicyErrorKind> {
        let mut session = Session::start_unchecked(target, limits, seed, now)?;
        let export = target.exports.abi_version;
        let found = session.call::<(), i32>(&export, ())?;
        if u32::try_from(found) != Ok(ABI_VERSION) {
            return Err(PolicyErrorKind::AbiMismatch {
                found: i64::from(found),
            });
        }
        Ok(session)
    }

    fn start_unchecked(
        target: Target<'m>,
        limits: &'m Limits,
        seed: Sha256,
        now: Timestamp,
    ) -> Result<Self, PolicyErrorKind> {
        let now_ns = u64::try_from(now.unix_seconds())
            .unwrap_or(0)
            .saturating_mul(1_000_000_000);
        let data = StoreData {
            limits: RecordingLimiter::new(limits.memory_bytes),
            wasi: WasiState::new(seed, now_ns),
        };
        let engine = target.engine;
        let mut store = Store::new(engine, data);
        store.limiter(|d| &mut d.limits);
        store.set_epoch_deadline(deadline_ticks(limits.timeout));
        store.epoch_deadline_trap();
        if engine.get_consume_fuel() {
            store
                .set_fuel(limits.fuel.unwrap_or(u64::MAX))
                .map_err(PolicyErrorKind::internal)?;
        }
        let instance = match target.pre.instantiate(&mut store) {
            Ok(instance) => instance,
            Err(err) => return Err(classify(&err, &store, limits)),
        };
        let mut session = Session {
            store,
            instance,
            exports: target.exports,
            limits,
        };
        if let Some(init) = target.exports.initialize {
            session.call::<(), ()>(&init, ())?;
        }
        Ok(session)
    }

    fn func(&mut self, export: &ModuleExport) -> Result<Func, PolicyErrorKind> {
        match self.instance.get_module_export(&mut self.store, export) {
            Some(Extern::Func(f)) => Ok(f),
            _ => Err(PolicyErrorKind::internal(
                "validated export is not a function",
            )),
        }
    }

    /// Calls a typed export, classifying a failure.
    fn call<P: WasmParams, R: WasmResults>(
        &mut self,
        export: &ModuleExport,
        params: P,
    ) -> Result<R, PolicyErrorKind> {
        let func = self.func(export)?;
        let typed = func
            .typed::<P, R>(&self.store)
            .map_err(PolicyErrorKind::internal)?;
        typed
            .call(&mut self.store, params)
            .map_err(|err| classify(&err, &self.store, self.limits))
    }

    fn memory(&mut self) -> Result<wasmtime::Memory, PolicyErrorKind> {
        match self
            .instance
            .get_module_export(&mut self.store, &self.exports.memory)
        {
            Some(Extern::Memory(m)) => Ok(m),
            _ => Err(PolicyErrorKind::internal(
                "validated `memory` export is not a memory",
            )),
        }
    }

    /// Writes `input` into guest memory, runs `entry`, decodes the output envelope.
    fn invoke(&mut self, entry: &ModuleExport, input: &[u8]) -> Result<Value, PolicyErrorKind> {
        let len = i32::try_from(input.len()).map_err(|_| PolicyErrorKind::InputTooLarge {
            size: input.len(),
            limit: i32::MAX as usize,
        })?;
        let alloc = self.exports.alloc;
        let ptr = self.call::<i32, i32>(&alloc, len)?;
        let mem = self.memory()?;
        if ptr == 0 && len != 0 {
            // Out of memory as the module's allocator sees it: the limit, if a growth was
            // refused; else the allocator failed on its own, and the error says how much
            // memory the instance had.
            if self.store.data().limits.denied_memory() {
                return Err(PolicyErrorKind::MemoryLimitExceeded {
                    limit: self.limits.memory_bytes,
                });
            }
            return Err(PolicyErrorKind::AllocFailed {
                requested: u64::from(len.unsigned_abs()),
                memory_bytes: mem.data_size(&self.store) as u64,
                limit: self.limits.memory_bytes,
            });
        }
        memory::write(mem.data_mut(&mut self.store), ptr as u32, input).map_err(|e| {
            PolicyErrorKind::InvalidOutput {
                path: "fleetward_alloc".to_string(),
                message: format!("returned a pointer the input does not fit at: {e}"),
            }
        })?;
        let packed = self.call::<(i32, i32), i64>(entry, (ptr, len))?;
        let out_ptr = ((packed as u64) >> 32) as u32;
        let out_len = packed as u32;
        let data = mem.data(&self.store);
        let bytes = memory::read(data, out_ptr, out_len, usize::MAX).map_err(|e| {
            PolicyErrorKind::InvalidOutput {
                path: "$".to_string(),
                message: format!("output pointer/length out of bounds: {e}"),
            }
        })?;
        if bytes.len() > MAX_OUTPUT_BYTES {
            return Err(PolicyErrorKind::OutputTooLarge {
                size: bytes.len(),
                limit: MAX_OUTPUT_BYTES,
            });
        }
        output::decode_envelope(bytes)
    }
}

/// Turns a wasmtime error into a typed failure by downcasting, never by reading messages.
fn classify(err: &wasmtime::Error, store: &Store<StoreData>, limits: &Limits) -> PolicyErrorKind {
    // A runtime that cannot grow its heap may exit rather than trap (Go prints "fatal error:
    // out of memory" and calls proc_exit(2)): the refused growth is still the cause.
    if let Some(exit) = err.downcast_ref::<ProcExit>() {
        if store.data().limits.denied_memory() {
            return PolicyErrorKind::MemoryLimitExceeded {
                limit: limits.memory_bytes,
            };
        }
        return PolicyErrorKind::PolicyExited { code: exit.code };
    }
    let trap = err.downcast_ref::<Trap>().copied();
    match trap {
        // A refused memory growth is the cause of whatever trap or failure follows it, a
        // timeout or fuel exhaustion included: a runtime that cannot grow its heap may spin in
        // its collector until the deadline (Go does), and "timed out" would hide the cause.
        _ if store.data().limits.denied_memory() => PolicyErrorKind::MemoryLimitExceeded {
            limit: limits.memory_bytes,
        },
        Some(Trap::Interrupt) => PolicyErrorKind::TimedOut {
            limit: limits.timeout,
        },
        Some(Trap::OutOfFuel) => PolicyErrorKind::OutOfFuel {
            limit: limits.fuel.unwrap_or(u64::MAX),
        },
        Some(Trap::StackOverflow) => PolicyErrorKind::StackExhausted,
        Some(trap) => PolicyErrorKind::Trap {
            message: trap.to_string(),
            frames: frames(err),
        },
        None => PolicyErrorKind::Internal {
            message: crate::text::untrusted(&format!("{err:#}")),
        },
    }
}

/// Most frames kept in a trap error (a deep recursion would otherwise list thousands).
const MAX_FRAMES: usize = 16;

/// Guest function names from the error's backtrace, innermost first.
fn frames(err: &wasmtime::Error) -> Vec<String> {
    err.downcast_ref::<WasmBacktrace>()
        .map(|bt| {
            bt.frames()
                .iter()
                .take(MAX_FRAMES)
                .map(|f| match f.func_name() {
                    // The name section is the module's text; Rust's names are mangled (`{:#}`
                    // drops the hash: `my_policy::decide`). Other names pass through.
                    Some(name) => {
                        crate::text::untrusted(&format!("{:#}", rustc_demangle::demangle(name)))
                    }
                    None => format!("wasm-function[{}]", f.func_index()),
                })
                .collect()
        })
        .unwrap_or_default()
}
