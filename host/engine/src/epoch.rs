//! The epoch ticker: the clock behind every call's deadline.
//!
//! wasmtime's epoch interruption makes compiled code check a counter at loop headers and
//! function entries, which is far cheaper than fuel. A background thread increments the
//! engine's epoch every [`EPOCH_TICK`]; each call's store gets a deadline of "timeout in
//! ticks" beyond the current epoch and traps with `Trap::Interrupt` when it passes. The thread
//! holds only weak references to the engines and stops when they are dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::config::EPOCH_TICK;

/// Stops the ticker thread when dropped.
#[derive(Debug)]
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Ticker {
    /// Starts a thread that increments every one of `engines`' epochs every [`EPOCH_TICK`].
    ///
    /// # Errors
    /// If the thread cannot be spawned.
    pub(crate) fn start(engines: &[&wasmtime::Engine]) -> std::io::Result<Ticker> {
        let stop = Arc::new(AtomicBool::new(false));
        let weak: Vec<_> = engines.iter().map(|e| e.weak()).collect();
        let flag = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("fleetward-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    let mut alive = false;
                    for engine in weak.iter().filter_map(|w| w.upgrade()) {
                        engine.increment_epoch();
                        alive = true;
                    }
                    if !alive {
                        break;
                    }
                }
            })?;
        Ok(Ticker { stop })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The store deadline, in ticks, for a wall-clock `timeout`: rounded up, plus one tick because
/// the current tick may be about to end.
pub(crate) fn deadline_ticks(timeout: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos().max(1);
    let ticks = timeout.as_nanos().div_ceil(tick);
    u64::try_from(ticks)
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_rounds_up_and_adds_one_tick() {
        assert_eq!(deadline_ticks(Duration::from_millis(100)), 101);
        assert_eq!(deadline_ticks(Duration::from_micros(1500)), 3);
        assert_eq!(deadline_ticks(Duration::ZERO), 1);
        assert_eq!(deadline_ticks(Duration::MAX), u64::MAX);
    }
}
