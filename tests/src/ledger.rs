//! The write checker: every committed write to a ManagedCluster, control-plane workload or
//! MachineDeployment, checked against the upgrade invariants as it happened.
//!
//! On the emulator the feed is its write subscription (every commit, in commit order). On the
//! real API server it is one watch per kind (`backend::watch_writes`): every change of a kind in
//! order; across kinds, changes the controller makes at least the fake infrastructure's
//! readiness delay apart (a control plane finishing before its pools move) arrive in order too.

use std::collections::BTreeMap;

use fleetward_controller::core::invariants::{self, ObservedCluster, Violation};
use fleetward_controller::core::provision::{
    LABEL_CLUSTER_NAME, LABEL_CLUSTER_NAMESPACE, LABEL_COMPONENT, LABEL_VERSION,
};
use fleetward_emulator::{Verb, WriteEvent};
use fleetward_sdk::wire::{ClusterRef, KubeVersion, UpgradeLimits};
use serde_json::Value;

/// One committed change of an object, whichever server reported it.
#[derive(Clone, Debug)]
pub struct ObservedWrite {
    /// `ManagedCluster`, `Deployment`, `StatefulSet`, `MachineDeployment`, …
    pub kind: String,
    /// Namespace.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Whether the object was deleted (then `object` is its last state).
    pub deleted: bool,
    /// The object after the change.
    pub object: Value,
}

impl From<&WriteEvent> for ObservedWrite {
    fn from(ev: &WriteEvent) -> Self {
        ObservedWrite {
            kind: ev.kind.clone(),
            namespace: ev.namespace.clone(),
            name: ev.name.clone(),
            deleted: matches!(ev.verb, Verb::Delete),
            object: ev.object.clone(),
        }
    }
}

/// Every write the API server committed, checked against the upgrade invariants as it happened.
#[derive(Debug, Default)]
pub struct WriteLedger {
    /// Observed versions per cluster.
    pub clusters: BTreeMap<ClusterRef, ObservedCluster>,
    /// Clusters with a step in flight, and their seed.
    pub in_flight: BTreeMap<ClusterRef, Option<String>>,
    /// Invariant violations seen, in order.
    pub violations: Vec<Violation>,
    /// Writes seen.
    pub writes: u64,
    /// Version changes seen: (cluster, target, from, to), in commit order.
    pub version_changes: Vec<(ClusterRef, String, KubeVersion, KubeVersion)>,
    /// Most steps in flight at once per tenant namespace.
    pub max_in_flight_per_namespace: BTreeMap<String, usize>,
    /// Set when the subscription lagged (the check would be incomplete: tests must fail).
    pub lagged: bool,
}

impl WriteLedger {
    /// Records one committed write and checks the invariants it could break.
    pub fn apply(&mut self, ev: &ObservedWrite, limits: &UpgradeLimits) {
        self.writes += 1;
        let labels = &ev.object["metadata"]["labels"];
        let deleted = ev.deleted;
        if ev.kind == "ManagedCluster" {
            let id = ClusterRef::new(ev.namespace.clone().unwrap_or_default(), ev.name.clone());
            let st = &ev.object["status"];
            if !deleted && !st["inProgress"].is_null() {
                self.in_flight
                    .insert(id.clone(), st["seed"].as_str().map(String::from));
                let n = self
                    .in_flight
                    .keys()
                    .filter(|k| k.namespace == id.namespace)
                    .count();
                let m = self
                    .max_in_flight_per_namespace
                    .entry(id.namespace.clone())
                    .or_default();
                *m = (*m).max(n);
                let up: Vec<_> = self
                    .in_flight
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                self.violations
                    .extend(invariants::check_concurrency(&up, limits));
            } else {
                self.in_flight.remove(&id);
            }
            return;
        }
        let (Some(ns), Some(name)) = (
            labels[LABEL_CLUSTER_NAMESPACE].as_str(),
            labels[LABEL_CLUSTER_NAME].as_str(),
        ) else {
            return;
        };
        let id = ClusterRef::new(ns, name);
        let (target, version) = match ev.kind.as_str() {
            "Deployment" | "StatefulSet" => {
                let Some(c) = labels[LABEL_COMPONENT].as_str() else {
                    return;
                };
                (format!("control-plane/{c}"), labels[LABEL_VERSION].as_str())
            }
            "MachineDeployment" => (
                format!("pool/{}", ev.name),
                ev.object["spec"]["template"]["spec"]["version"].as_str(),
            ),
            _ => return,
        };
        let Some(version) = version.and_then(|v| KubeVersion::parse(v).ok()) else {
            return;
        };
        let before = self
            .clusters
            .entry(id.clone())
            .or_insert_with(|| ObservedCluster {
                id: id.clone(),
                control_plane: BTreeMap::new(),
                pools: BTreeMap::new(),
            })
            .clone();
        let mut after = before.clone();
        let (map, key) = match target.split_once('/') {
            Some(("control-plane", c)) => (&mut after.control_plane, c.to_string()),
            Some((_, p)) => (&mut after.pools, p.to_string()),
            None => return,
        };
        if deleted {
            map.remove(&key);
        } else {
            let prev = map.insert(key, version);
            if let Some(prev) = prev.filter(|p| *p != version) {
                self.version_changes
                    .push((id.clone(), target, prev, version));
            }
        }
        self.violations
            .extend(invariants::check_transition(&before, &after));
        self.violations
            .extend(invariants::check_cluster_state(&after));
        self.clusters.insert(id, after);
    }
}
