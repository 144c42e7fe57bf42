//! What each call's fresh `Store` carries: its resource limiter and the WASI shim's state.
//!
//! A store is created per call and dropped after it, trap or not, so nothing here needs
//! resetting. The limiter wraps wasmtime's `StoreLimits` and remembers whether it ever refused
//! a memory growth: a guest that fails to grow usually traps a moment later (`unreachable` in an
//! allocator's OOM path), and that trap must be reported as "memory limit exceeded".

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

use crate::wasi::WasiState;

/// The data of one call's store.
#[derive(Debug)]
pub(crate) struct StoreData {
    /// Memory and table caps, wired with `store.limiter`.
    pub(crate) limits: RecordingLimiter,
    /// Clock, random stream and captured logs.
    pub(crate) wasi: WasiState,
}

/// `StoreLimits` plus a record of whether a memory growth was denied.
#[derive(Debug)]
pub(crate) struct RecordingLimiter {
    inner: StoreLimits,
    denied_memory: bool,
}

impl RecordingLimiter {
    /// Limits for one instance with one memory of at most `memory_bytes`.
    pub(crate) fn new(memory_bytes: u64) -> Self {
        let memory = usize::try_from(memory_bytes).unwrap_or(usize::MAX);
        RecordingLimiter {
            inner: StoreLimitsBuilder::new()
                .memory_size(memory)
                .table_elements(1 << 20)
                .instances(1)
                .memories(1)
                .tables(4)
                .build(),
            denied_memory: false,
        }
    }

    /// Whether a memory growth (or an initial memory) was refused in this store.
    pub(crate) fn denied_memory(&self) -> bool {
        self.denied_memory
    }
}

impl ResourceLimiter for RecordingLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if !allowed {
            self.denied_memory = true;
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}
