//! The in-memory map of loaded modules: one slot per digest, single-flight loading, weak
//! references.
//!
//! Why weak: a controller runs for months while tenants keep publishing new module versions.
//! A strong map would keep every version ever loaded (compiled code and bytes) forever, so the
//! map only remembers a module while something else holds it: a `PolicyModule` or a
//! `TenantPolicy` bound to it. When the last one is dropped the module is freed; its slot is
//! then dead (a `Weak` keeps only the small `Arc` allocation, not the code or the bytes) and is
//! pruned at the next load of a new digest. A later load of the same bytes comes from the disk
//! cache if there is one, else compiles again.
//!
//! Why single-flight: compiling a big module costs seconds of CPU, and tenants sharing a module
//! may all be (re)bound at once, e.g. at startup. The first caller for a digest loads it; the
//! others wait for that result instead of compiling it again. The map's lock is held only to
//! look up and update slots, never while loading, so loads of different digests run in
//! parallel.
//!
//! Failures are not shared: a waiter whose leader failed (or panicked) retries with its own
//! load, one caller at a time. Errors are not `Clone` (they carry `io::Error`s), and a
//! transient failure of the leader (e.g. its first instantiation timed out on a loaded
//! machine) should not fail every waiter.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};

use crate::Digest;

/// Loaded values by digest, held weakly, loaded at most once at a time per digest.
pub(crate) struct Registry<T> {
    slots: Mutex<HashMap<Digest, Slot<T>>>,
}

enum Slot<T> {
    /// One caller is loading this digest; the others wait on the flight.
    Loading(Arc<Flight<T>>),
    /// Loaded; alive while anything outside the registry holds it.
    Loaded(Weak<T>),
}

/// One load in progress, and its result once finished.
struct Flight<T> {
    /// `None` while loading; then `Some(Some(value))` on success, `Some(None)` on failure.
    outcome: Mutex<Option<Option<Arc<T>>>>,
    finished: Condvar,
}

/// Whether a caller loads a digest itself or waits for another caller's load.
enum Role<T> {
    Leader(Arc<Flight<T>>),
    Waiter(Arc<Flight<T>>),
}

/// Every lock of this module guards plain data that no panicking code touches, so a poisoned
/// lock still holds consistent data.
fn lock<V>(mutex: &Mutex<V>) -> MutexGuard<'_, V> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T> Flight<T> {
    fn new() -> Flight<T> {
        Flight {
            outcome: Mutex::new(None),
            finished: Condvar::new(),
        }
    }

    /// Blocks until the leader finishes: its value, or `None` if it failed.
    fn wait(&self) -> Option<Arc<T>> {
        let mut outcome = lock(&self.outcome);
        loop {
            if let Some(result) = outcome.as_ref() {
                return result.clone();
            }
            outcome = self
                .finished
                .wait(outcome)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn publish(&self, value: Option<Arc<T>>) {
        *lock(&self.outcome) = Some(value);
        self.finished.notify_all();
    }
}

/// The leader's duty to finish its flight, even if its load panics (then as a failure), so
/// that no waiter blocks forever.
struct Leader<'r, T> {
    registry: &'r Registry<T>,
    digest: &'r Digest,
    flight: Arc<Flight<T>>,
    finished: bool,
}

impl<T> Leader<'_, T> {
    fn finish(mut self, value: Option<Arc<T>>) {
        self.finish_once(value);
    }

    fn finish_once(&mut self, value: Option<Arc<T>>) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        {
            let mut slots = self.registry.lock();
            match &value {
                Some(value) => {
                    slots.insert(self.digest.clone(), Slot::Loaded(Arc::downgrade(value)));
                }
                None => {
                    slots.remove(self.digest);
                }
            }
        }
        self.flight.publish(value);
    }
}

impl<T> Drop for Leader<'_, T> {
    fn drop(&mut self) {
        self.finish_once(None);
    }
}

impl<T> Registry<T> {
    pub(crate) fn new() -> Registry<T> {
        Registry {
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Digest, Slot<T>>> {
        lock(&self.slots)
    }

    /// The live value for `digest`, else the one a concurrent caller is loading, else the one
    /// `load` returns (which the registry then remembers, weakly).
    ///
    /// # Errors
    /// `load`'s error, if this caller had to load and it failed. A caller that waited for a
    /// failed load runs its own `load` instead of sharing that error.
    pub(crate) fn get_or_load<E>(
        &self,
        digest: &Digest,
        load: impl FnOnce() -> Result<Arc<T>, E>,
    ) -> Result<Arc<T>, E> {
        // Each pass either returns or waits for a flight that then finished, and a caller
        // becomes leader at most once (it returns then), so this ends.
        loop {
            match self.role(digest) {
                Ok(value) => return Ok(value),
                Err(Role::Waiter(flight)) => {
                    if let Some(value) = flight.wait() {
                        return Ok(value);
                    }
                }
                Err(Role::Leader(flight)) => {
                    let leader = Leader {
                        registry: self,
                        digest,
                        flight,
                        finished: false,
                    };
                    let result = load();
                    leader.finish(result.as_ref().ok().cloned());
                    return result;
                }
            }
        }
    }

    /// The live value for `digest`, or this caller's role in loading it. Becoming the leader
    /// also prunes dead slots, so the map stays as large as the set of live modules plus the
    /// dead ones since the last new digest.
    fn role(&self, digest: &Digest) -> Result<Arc<T>, Role<T>> {
        let mut slots = self.lock();
        match slots.get(digest) {
            Some(Slot::Loaded(weak)) => {
                if let Some(value) = weak.upgrade() {
                    return Ok(value);
                }
            }
            Some(Slot::Loading(flight)) => return Err(Role::Waiter(Arc::clone(flight))),
            None => {}
        }
        slots.retain(|_, slot| match slot {
            Slot::Loading(_) => true,
            Slot::Loaded(weak) => weak.strong_count() > 0,
        });
        let flight = Arc::new(Flight::new());
        slots.insert(digest.clone(), Slot::Loading(Arc::clone(&flight)));
        Err(Role::Leader(flight))
    }

    /// How many values are loaded and alive (loads in progress not counted).
    pub(crate) fn live(&self) -> usize {
        self.lock()
            .values()
            .filter(|slot| matches!(slot, Slot::Loaded(weak) if weak.strong_count() > 0))
            .count()
    }

    /// How many slots the map holds, dead and in-progress ones included.
    #[cfg(test)]
    fn slots(&self) -> usize {
        self.lock().len()
    }

    /// How many callers wait for the load of `digest` in progress.
    #[cfg(test)]
    fn waiters(&self, digest: &Digest) -> usize {
        match self.lock().get(digest) {
            // The map's and the leader's references, plus one per waiter.
            Some(Slot::Loading(flight)) => Arc::strong_count(flight).saturating_sub(2),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Barrier, mpsc};
    use std::time::{Duration, Instant};

    use super::*;

    fn digest(name: &str) -> Digest {
        Digest::of(name.as_bytes())
    }

    /// Blocks until `n` callers wait for `digest`'s load (a bounded wait on a condition, not a
    /// sleep standing in for synchronisation).
    fn until_waiters(registry: &Registry<String>, digest: &Digest, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while registry.waiters(digest) < n {
            assert!(Instant::now() < deadline, "no waiter arrived");
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_value_lives_as_long_as_a_holder_and_dead_slots_are_pruned() {
        let registry = Registry::new();
        let a = registry
            .get_or_load(&digest("a"), || Ok::<_, ()>(Arc::new("a".to_string())))
            .unwrap();
        let again = registry
            .get_or_load(&digest("a"), || Err("must not load again"))
            .unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        assert_eq!(registry.live(), 1);
        drop((a, again));
        assert_eq!(registry.live(), 0, "the registry alone keeps nothing alive");
        assert_eq!(registry.slots(), 1, "dead until the next new digest");
        let b = registry
            .get_or_load(&digest("b"), || Ok::<_, ()>(Arc::new("b".to_string())))
            .unwrap();
        assert_eq!(registry.slots(), 1, "the dead slot of `a` was pruned");
        assert_eq!(registry.live(), 1);
        let reloaded = registry
            .get_or_load(&digest("a"), || Ok::<_, ()>(Arc::new("a2".to_string())))
            .unwrap();
        assert_eq!(*reloaded, "a2", "a dead value is loaded again");
        assert_eq!((registry.live(), registry.slots()), (2, 2));
        drop(b);
    }

    #[test]
    fn concurrent_callers_of_one_digest_load_once_and_share_the_value() {
        const THREADS: usize = 8;
        let registry = Registry::new();
        let loads = AtomicUsize::new(0);
        let barrier = Barrier::new(THREADS);
        let values: Vec<Arc<String>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        registry
                            .get_or_load(&digest("same"), || {
                                loads.fetch_add(1, Ordering::SeqCst);
                                Ok::<_, ()>(Arc::new("same".to_string()))
                            })
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert!(values.iter().all(|v| Arc::ptr_eq(v, &values[0])));
    }

    #[test]
    fn a_waiter_gets_the_leaders_value() {
        let registry = &Registry::new();
        let d = &digest("slow");
        let (started, is_started) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        std::thread::scope(|s| {
            let leader = s.spawn(move || {
                registry.get_or_load(d, || {
                    started.send(()).unwrap();
                    released.recv().unwrap();
                    Ok::<_, ()>(Arc::new("leader".to_string()))
                })
            });
            is_started.recv().unwrap();
            let waiter = s.spawn(|| registry.get_or_load(d, || Err("the waiter must not load")));
            until_waiters(registry, d, 1);
            release.send(()).unwrap();
            let (leader, waiter) = (leader.join().unwrap(), waiter.join().unwrap());
            assert!(Arc::ptr_eq(&leader.unwrap(), &waiter.unwrap()));
        });
    }

    #[test]
    fn other_digests_load_while_one_is_loading() {
        let registry = &Registry::new();
        let (started, is_started) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        std::thread::scope(|s| {
            let slow = s.spawn(move || {
                registry.get_or_load(&digest("slow"), || {
                    started.send(()).unwrap();
                    released.recv().unwrap();
                    Ok::<_, ()>(Arc::new("slow".to_string()))
                })
            });
            is_started.recv().unwrap();
            // Would deadlock if a load held the map's lock.
            let fast = registry
                .get_or_load(&digest("fast"), || {
                    Ok::<_, ()>(Arc::new("fast".to_string()))
                })
                .unwrap();
            assert_eq!(*fast, "fast");
            assert_eq!(registry.live(), 1, "the slow load is not counted yet");
            release.send(()).unwrap();
            assert_eq!(*slow.join().unwrap().unwrap(), "slow");
        });
    }

    /// A leader that fails (`panic` false) or panics (`panic` true) while one caller waits:
    /// the waiter then loads with its own `load`.
    fn waiter_loads_itself_after_leader(panic: bool) {
        let registry = &Registry::new();
        let d = &digest("flaky");
        let (started, is_started) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        std::thread::scope(|s| {
            let leader = s.spawn(move || {
                registry.get_or_load(d, || {
                    started.send(()).unwrap();
                    released.recv().unwrap();
                    assert!(!panic, "leader panics");
                    Err("leader failed")
                })
            });
            is_started.recv().unwrap();
            let waiter = s.spawn(|| {
                registry.get_or_load(d, || Ok::<_, &str>(Arc::new("waiter".to_string())))
            });
            until_waiters(registry, d, 1);
            release.send(()).unwrap();
            match leader.join() {
                Ok(result) => assert_eq!(result.unwrap_err(), "leader failed"),
                Err(_) => assert!(panic, "only the panicking leader unwinds"),
            }
            let value = waiter.join().unwrap().unwrap();
            assert_eq!(*value, "waiter");
            assert_eq!(registry.live(), 1, "the waiter's value is remembered");
        });
    }

    #[test]
    fn a_waiter_loads_itself_after_the_leader_fails() {
        waiter_loads_itself_after_leader(false);
    }

    #[test]
    fn a_waiter_loads_itself_after_the_leader_panics() {
        waiter_loads_itself_after_leader(true);
    }
}
