//! The break/heal registry: which workloads and Machines the fake infrastructure must show as
//! unhealthy.
//!
//! Faults are keyed by namespace and name, not by uid, so a test can break an object before it
//! exists and a replacement Machine (which always gets a new name) starts healthy. A namespace
//! prefix breaks a whole seed at once; healing one object inside a broken prefix exempts it.
//! Every change bumps a generation on a `tokio::sync::watch` channel so the controllers
//! re-evaluate their objects immediately.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::watch;

/// A namespace/name pair.
type Name = (String, String);

#[derive(Debug, Default)]
struct FaultState {
    workloads: BTreeSet<Name>,
    machines: BTreeSet<Name>,
    prefixes: BTreeSet<String>,
    healthy_workloads: BTreeSet<Name>,
    healthy_machines: BTreeSet<Name>,
}

impl FaultState {
    fn prefix_broken(&self, namespace: &str) -> bool {
        self.prefixes
            .iter()
            .any(|p| namespace.starts_with(p.as_str()))
    }
}

/// Shared, thread-safe set of injected infrastructure faults.
#[derive(Debug)]
pub(crate) struct FaultRegistry {
    state: Mutex<FaultState>,
    generation: watch::Sender<u64>,
}

impl Default for FaultRegistry {
    fn default() -> Self {
        FaultRegistry {
            state: Mutex::new(FaultState::default()),
            generation: watch::Sender::new(0),
        }
    }
}

fn key(namespace: &str, name: &str) -> Name {
    (namespace.to_owned(), name.to_owned())
}

impl FaultRegistry {
    fn lock(&self) -> MutexGuard<'_, FaultState> {
        // The state is a set of plain collections; a panic elsewhere cannot leave it torn.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.generation.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// A receiver that changes whenever any fault is added or removed.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    pub(crate) fn break_workload(&self, namespace: &str, name: &str) {
        let k = key(namespace, name);
        {
            let mut s = self.lock();
            s.healthy_workloads.remove(&k);
            s.workloads.insert(k);
        }
        self.bump();
    }

    pub(crate) fn heal_workload(&self, namespace: &str, name: &str) {
        let k = key(namespace, name);
        {
            let mut s = self.lock();
            s.workloads.remove(&k);
            if s.prefix_broken(namespace) {
                s.healthy_workloads.insert(k);
            }
        }
        self.bump();
    }

    pub(crate) fn break_machine(&self, namespace: &str, name: &str) {
        let k = key(namespace, name);
        {
            let mut s = self.lock();
            s.healthy_machines.remove(&k);
            s.machines.insert(k);
        }
        self.bump();
    }

    pub(crate) fn heal_machine(&self, namespace: &str, name: &str) {
        let k = key(namespace, name);
        {
            let mut s = self.lock();
            s.machines.remove(&k);
            if s.prefix_broken(namespace) {
                s.healthy_machines.insert(k);
            }
        }
        self.bump();
    }

    pub(crate) fn break_prefix(&self, prefix: &str) {
        self.lock().prefixes.insert(prefix.to_owned());
        self.bump();
    }

    pub(crate) fn heal_prefix(&self, prefix: &str) {
        {
            let mut s = self.lock();
            s.prefixes.remove(prefix);
            let s = &mut *s;
            let still = |ns: &str, prefixes: &BTreeSet<String>| {
                prefixes.iter().any(|p| ns.starts_with(p.as_str()))
            };
            let prefixes = s.prefixes.clone();
            s.healthy_workloads.retain(|(ns, _)| still(ns, &prefixes));
            s.healthy_machines.retain(|(ns, _)| still(ns, &prefixes));
        }
        self.bump();
    }

    /// Forgets a Machine that no longer exists, so the registry does not grow without bound.
    pub(crate) fn forget_machine(&self, namespace: &str, name: &str) {
        let k = key(namespace, name);
        let mut s = self.lock();
        s.machines.remove(&k);
        s.healthy_machines.remove(&k);
    }

    pub(crate) fn workload_broken(&self, namespace: &str, name: &str) -> bool {
        let s = self.lock();
        let k = key(namespace, name);
        s.workloads.contains(&k)
            || (s.prefix_broken(namespace) && !s.healthy_workloads.contains(&k))
    }

    pub(crate) fn machine_broken(&self, namespace: &str, name: &str) -> bool {
        let s = self.lock();
        let k = key(namespace, name);
        s.machines.contains(&k) || (s.prefix_broken(namespace) && !s.healthy_machines.contains(&k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn break_and_heal_a_workload() {
        let f = FaultRegistry::default();
        assert!(!f.workload_broken("a", "web"));
        f.break_workload("a", "web");
        assert!(f.workload_broken("a", "web"));
        assert!(!f.workload_broken("a", "db"));
        assert!(
            !f.machine_broken("a", "web"),
            "workload faults do not leak to machines"
        );
        f.heal_workload("a", "web");
        assert!(!f.workload_broken("a", "web"));
    }

    #[test]
    fn prefix_breaks_everything_inside_and_individual_heal_exempts() {
        let f = FaultRegistry::default();
        f.break_prefix("seed-eu-1");
        assert!(f.workload_broken("seed-eu-1-tenant-a", "web"));
        assert!(f.machine_broken("seed-eu-1-tenant-a", "m-1"));
        assert!(!f.workload_broken("seed-eu-2", "web"));
        f.heal_workload("seed-eu-1-tenant-a", "web");
        assert!(!f.workload_broken("seed-eu-1-tenant-a", "web"));
        assert!(f.workload_broken("seed-eu-1-tenant-b", "web"));
        f.break_workload("seed-eu-1-tenant-a", "web");
        assert!(f.workload_broken("seed-eu-1-tenant-a", "web"));
        f.heal_prefix("seed-eu-1");
        assert!(
            f.workload_broken("seed-eu-1-tenant-a", "web"),
            "explicit break stays"
        );
        assert!(!f.machine_broken("seed-eu-1-tenant-a", "m-1"));
    }

    #[test]
    fn every_change_bumps_the_generation() {
        let f = FaultRegistry::default();
        let rx = f.subscribe();
        let before = *rx.borrow();
        f.break_machine("ns", "m");
        f.heal_machine("ns", "m");
        assert_eq!(*rx.borrow(), before + 2);
        assert!(!f.machine_broken("ns", "m"));
    }
}
