//! Fake kubelet and Cluster API controllers that move workloads and machines through their
//! lifecycles.
//!
//! Nothing in the emulator runs pods or provisions machines, yet Fleetward's controller waits
//! for Deployments to become ready and for MachineDeployments to roll. [`FakeInfra`] plays the
//! missing parts: a kubelet plus deployment/statefulset controllers that write workload status
//! after [`InfraTimings::workload_ready`], and Cluster API's MachineDeployment, MachineSet and
//! Machine controllers (with a fake infrastructure provider) that create, roll and replace
//! Machines. It talks to the API **only through a [`kube::Client`]**, exactly like a real
//! controller, so the same fake works against the in-process emulator, the emulator's HTTP
//! server, or a real cluster without those controllers. Every delay is on the tokio clock, so
//! under a paused runtime a two-minute machine roll takes no real time.
//!
//! Faults are injected through the returned [`FakeInfraHandle`]: a broken workload stops being
//! ready, a broken Machine fails its health check, until healed (or, for a Machine, replaced).
//!
//! ```no_run
//! # async fn demo(client: kube::Client) {
//! use fleetward_emulator::infra::{FakeInfra, InfraTimings};
//! let infra = FakeInfra::start(client, InfraTimings::default());
//! infra.break_workload("tenant-a", "api");
//! // ... the Deployment tenant-a/api now reports readyReplicas 0 and Available=False ...
//! infra.heal_workload("tenant-a", "api");
//! infra.shutdown();
//! # }
//! ```

mod apps;
mod cache;
mod capi;
mod capi_loop;
#[cfg(test)]
mod capi_sim;
mod deployments;
mod faults;
mod hash;
mod machinedeployments;
mod machines;
mod machinesets;
mod rollout;
mod statefulsets;
mod status;
mod timers;
mod timings;
mod wake;
mod workloads;
mod writes;

use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use faults::FaultRegistry;
pub use timings::{InfraClock, InfraTimings};
use writes::Counters;
pub use writes::InfraStats;

/// Field manager recorded for every write the fake makes.
pub const FIELD_MANAGER: &str = "fleetward-fake-infra";

/// Fresh reads after a 409 before an object is left for the backoff timer.
const MAX_REREADS: usize = 3;

/// What every fake controller task shares.
pub(crate) struct Context {
    pub(crate) client: kube::Client,
    pub(crate) timings: InfraTimings,
    pub(crate) clock: InfraClock,
    pub(crate) faults: Arc<FaultRegistry>,
    pub(crate) counters: Arc<Counters>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("timings", &self.timings)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// Starts the fake infrastructure.
#[derive(Debug)]
pub struct FakeInfra;

impl FakeInfra {
    /// Runs the fake kubelet and Cluster API controllers through `client` until the last
    /// [`FakeInfraHandle`] clone is dropped or [`FakeInfraHandle::shutdown`] is called.
    ///
    /// # Panics
    ///
    /// Must be called from within a tokio runtime (it spawns tasks).
    pub fn start(client: kube::Client, timings: InfraTimings) -> FakeInfraHandle {
        let faults = Arc::new(FaultRegistry::default());
        let counters = Arc::new(Counters::default());
        let ctx = Arc::new(Context {
            client,
            clock: timings.clock.anchor(Instant::now()),
            timings,
            faults: faults.clone(),
            counters: counters.clone(),
        });
        let tasks = vec![
            tokio::spawn(workloads::run::<Deployment>(ctx.clone())).abort_handle(),
            tokio::spawn(workloads::run::<StatefulSet>(ctx.clone())).abort_handle(),
            tokio::spawn(capi_loop::run(ctx)).abort_handle(),
        ];
        FakeInfraHandle {
            inner: Arc::new(HandleInner {
                faults,
                counters,
                tasks,
            }),
        }
    }
}

#[derive(Debug)]
struct HandleInner {
    faults: Arc<FaultRegistry>,
    counters: Arc<Counters>,
    tasks: Vec<AbortHandle>,
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Controls a running [`FakeInfra`]: fault injection and shutdown. Cloning is cheap; the fake
/// stops when the last clone is dropped.
///
/// Faults are keyed by namespace and name and may be set before the object exists. They take
/// effect at once (the controllers are woken), and healing restores the healthy status at once
/// if the object's own delay has already passed.
#[derive(Clone, Debug)]
pub struct FakeInfraHandle {
    inner: Arc<HandleInner>,
}

impl FakeInfraHandle {
    /// The Deployment or StatefulSet `namespace/name` stops being ready: `readyReplicas` and
    /// `availableReplicas` 0, Deployment condition `Available=False`. A pod-template change does
    /// not heal it unless [`InfraTimings::restart_heals`] is set.
    pub fn break_workload(&self, namespace: &str, name: &str) {
        self.inner.faults.break_workload(namespace, name);
    }

    /// Undoes [`FakeInfraHandle::break_workload`] (also for one workload inside a broken prefix).
    pub fn heal_workload(&self, namespace: &str, name: &str) {
        self.inner.faults.heal_workload(namespace, name);
    }

    /// The Machine `namespace/name` fails: phase `Failed`, `Ready`, `NodeHealthy` and
    /// `HealthCheckSucceeded` False, until healed or deleted (its replacement is healthy).
    pub fn break_machine(&self, namespace: &str, name: &str) {
        self.inner.faults.break_machine(namespace, name);
    }

    /// Undoes [`FakeInfraHandle::break_machine`].
    pub fn heal_machine(&self, namespace: &str, name: &str) {
        self.inner.faults.heal_machine(namespace, name);
    }

    /// Breaks every workload and Machine in every namespace that starts with `prefix` (a whole
    /// seed going dark), including ones created later.
    pub fn break_seed_namespaces(&self, prefix: &str) {
        self.inner.faults.break_prefix(prefix);
    }

    /// Undoes [`FakeInfraHandle::break_seed_namespaces`]; objects broken individually stay broken.
    pub fn heal_seed_namespaces(&self, prefix: &str) {
        self.inner.faults.heal_prefix(prefix);
    }

    /// Whether the workload `namespace/name` is currently broken (by name or by prefix).
    pub fn is_workload_broken(&self, namespace: &str, name: &str) -> bool {
        self.inner.faults.workload_broken(namespace, name)
    }

    /// Whether the Machine `namespace/name` is currently broken (by name or by prefix).
    pub fn is_machine_broken(&self, namespace: &str, name: &str) -> bool {
        self.inner.faults.machine_broken(namespace, name)
    }

    /// Write counters so far (successes, conflicts, other failures).
    pub fn stats(&self) -> InfraStats {
        self.inner.counters.snapshot()
    }

    /// Stops every fake controller now, whatever other clones of the handle exist.
    pub fn shutdown(self) {
        for task in &self.inner.tasks {
            task.abort();
        }
    }
}
