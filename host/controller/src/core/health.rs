//! Health evaluation from control-plane workload statuses and Cluster API Machine conditions.
//!
//! Two halves, both pure. *Parsing* turns the live objects the shell read (Deployments,
//! StatefulSets, MachineDeployments, Machines, as JSON) into typed observations: [`Observation`]
//! with its [`Workload`]s, [`Pool`]s and [`MachineHealth`]s, and the rollout rule that says when
//! a workload or pool runs a version ([`Workload::settled_at`], [`Pool::settled_at`]).
//! *Evaluation* turns those into problems: a problem is *observed* as soon as a workload is not
//! fully ready or a Machine reports an unhealthy condition; it becomes *due* for remediation only
//! after it has persisted longer than a threshold, so a rolling update or a slow boot is not
//! "fixed" by restarting it.

use std::borrow::Borrow;

use fleetward_sdk::wire::{Component, Problem, Timestamp};
use serde_json::Value;

use crate::core::provision::{CONTROL_PLANE_COMPONENTS, LABEL_VERSION};
use crate::crd::ProblemStatus;

/// What the shell read about one cluster's children, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    /// Control-plane workloads (Deployments and StatefulSets named in
    /// [`CONTROL_PLANE_COMPONENTS`]), in the order they were read.
    pub workloads: Vec<Workload>,
    /// MachineDeployments, in the order they were read.
    pub pools: Vec<Pool>,
    /// Machines, in the order they were listed.
    pub machines: Vec<MachineHealth>,
}

impl Observation {
    /// Parses the live children (any kinds; the ones that matter are picked out) and the
    /// cluster's Machines (owned, or shared as the seed caches' JSON view hands them out).
    pub fn parse<C: Borrow<Value>, M: Borrow<Value>>(
        children: &[C],
        machines: &[M],
    ) -> Observation {
        Observation {
            workloads: children
                .iter()
                .filter_map(|c| Workload::parse(c.borrow()))
                .collect(),
            pools: children
                .iter()
                .filter_map(|c| Pool::parse(c.borrow()))
                .collect(),
            machines: machines
                .iter()
                .map(|m| MachineHealth::parse(m.borrow()))
                .collect(),
        }
    }
}

/// A control-plane workload (Deployment or StatefulSet) as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Workload name (`etcd`, `kube-apiserver`, …).
    pub name: String,
    /// `spec.replicas` (default 1).
    pub replicas: u32,
    /// `status.readyReplicas` (default 0).
    pub ready_replicas: u32,
    /// The workload's controller has seen its latest spec.
    pub observed_current: bool,
    /// The `fleetward.dev/version` label.
    pub version: Option<String>,
    /// kubectl's rollout-status rule holds (see [`Rollout`]).
    pub rolled_out: bool,
}

impl Workload {
    /// Parses a control-plane workload; `None` for any other object.
    pub fn parse(o: &Value) -> Option<Workload> {
        let is_cp = (o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
            && o["metadata"]["name"]
                .as_str()
                .is_some_and(|n| CONTROL_PLANE_COMPONENTS.contains(&n));
        if !is_cp {
            return None;
        }
        let rollout = Rollout::parse(o);
        Some(Workload {
            name: o["metadata"]["name"].as_str().unwrap_or_default().into(),
            replicas: o["spec"]["replicas"].as_u64().unwrap_or(1) as u32,
            ready_replicas: o["status"]["readyReplicas"].as_u64().unwrap_or(0) as u32,
            observed_current: rollout.observed_current,
            version: o["metadata"]["labels"][LABEL_VERSION]
                .as_str()
                .map(str::to_string),
            rolled_out: rollout.done(),
        })
    }

    /// Runs `version` (label) with every replica updated and ready.
    pub fn settled_at(&self, version: &str) -> bool {
        self.version.as_deref() == Some(version) && self.rolled_out
    }

    /// Its readiness for [`observe`]. While the cluster is still being created (`provisioning`)
    /// a workload that is not ready is expected, not a problem.
    pub fn health(&self, provisioning: bool) -> WorkloadHealth {
        WorkloadHealth {
            name: self.name.clone(),
            replicas: self.replicas,
            ready_replicas: self.ready_replicas,
            observed_current: self.observed_current && !provisioning,
        }
    }
}

/// A worker pool's MachineDeployment as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    /// MachineDeployment (and pool) name.
    pub name: String,
    /// `status.readyReplicas` (default 0).
    pub ready_replicas: u32,
    /// The `fleetward.dev/version` label (empty when missing).
    pub labelled_version: String,
    /// `spec.template.spec.version` without its leading `v`.
    pub template_version: String,
    /// kubectl's rollout-status rule holds (see [`Rollout`]).
    pub rolled_out: bool,
}

impl Pool {
    /// Parses a MachineDeployment; `None` for any other object.
    pub fn parse(o: &Value) -> Option<Pool> {
        if o["kind"] != "MachineDeployment" {
            return None;
        }
        Some(Pool {
            name: o["metadata"]["name"].as_str().unwrap_or_default().into(),
            ready_replicas: o["status"]["readyReplicas"].as_u64().unwrap_or(0) as u32,
            labelled_version: o["metadata"]["labels"][LABEL_VERSION]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            template_version: o["spec"]["template"]["spec"]["version"]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches('v')
                .to_string(),
            rolled_out: Rollout::parse(o).done(),
        })
    }

    /// Runs `version` with every machine updated and ready.
    pub fn settled_at(&self, version: &str) -> bool {
        self.template_version == version && self.rolled_out
    }

    /// Runs the version it is labelled with, every machine updated and ready.
    pub fn settled(&self) -> bool {
        self.settled_at(&self.labelled_version)
    }
}

/// The replica counts kubectl's rollout-status rule reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rollout {
    observed_current: bool,
    want: u64,
    updated: u64,
    total: u64,
    ready: u64,
}

impl Rollout {
    fn parse(o: &Value) -> Rollout {
        let want = o["spec"]["replicas"].as_u64().unwrap_or(1);
        let status = &o["status"];
        let updated = status["updatedReplicas"].as_u64().unwrap_or(want);
        // The controller of the workload has seen its latest spec.
        let observed_current = match (
            o["metadata"]["generation"].as_i64(),
            status["observedGeneration"].as_i64(),
        ) {
            (Some(g), Some(og)) => og >= g,
            (Some(_), None) => false,
            _ => true,
        };
        Rollout {
            observed_current,
            want,
            updated,
            total: status["replicas"].as_u64().unwrap_or(updated),
            ready: status["readyReplicas"].as_u64().unwrap_or(0),
        }
    }

    /// kubectl's rollout-status rule: the controller has seen the latest spec, every wanted
    /// replica is on the new template, no old replica is left (`status.replicas` counts old and
    /// new), and the replicas are ready. Without the "no old replica" part, a one-replica pool
    /// rolling with a surge Machine counted as done the moment its new Machine existed: the old
    /// one was still the ready one.
    fn done(&self) -> bool {
        self.observed_current
            && self.updated >= self.want
            && self.total <= self.updated
            && self.ready >= self.want
    }
}

/// A control-plane workload's readiness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadHealth {
    /// Workload name (`etcd`, `kube-apiserver`, …).
    pub name: String,
    /// Desired replicas.
    pub replicas: u32,
    /// Ready replicas.
    pub ready_replicas: u32,
    /// False while the controller has not yet observed the latest spec.
    pub observed_current: bool,
}

/// A Machine's health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineHealth {
    /// Machine name.
    pub name: String,
    /// Its pool (MachineDeployment).
    pub pool: String,
    /// The first condition that is `False` among `Ready`, `HealthCheckSucceeded`,
    /// `InfrastructureReady`, `NodeHealthy`: `(type, message)`.
    pub failing: Option<(String, String)>,
}

impl MachineHealth {
    /// Parses a Cluster API Machine. A machine still provisioning (or being deleted) is not a
    /// problem, only one that was running and failed.
    pub fn parse(m: &Value) -> MachineHealth {
        let name = m["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let pool = m["metadata"]["labels"]["cluster.x-k8s.io/deployment-name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let failing = m["status"]["conditions"].as_array().and_then(|cs| {
            cs.iter().find(|c| {
                c["status"] == "False"
                    && matches!(
                        c["type"].as_str(),
                        Some(
                            "Ready"
                                | "HealthCheckSucceeded"
                                | "InfrastructureReady"
                                | "NodeHealthy"
                        )
                    )
            })
        });
        let phase = m["status"]["phase"].as_str().unwrap_or_default();
        let failing = failing
            .filter(|_| !matches!(phase, "Pending" | "Provisioning" | "Deleting"))
            .map(|c| {
                (
                    c["type"].as_str().unwrap_or_default().to_string(),
                    c["message"]
                        .as_str()
                        .or(c["reason"].as_str())
                        .unwrap_or_default()
                        .to_string(),
                )
            });
        MachineHealth {
            name,
            pool,
            failing,
        }
    }
}

/// A problem as observed now (no history yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// What is unhealthy.
    pub component: Component,
    /// Failing condition.
    pub condition: String,
    /// Detail.
    pub detail: String,
}

/// Current problems, control plane first then machines, each sorted by name.
pub fn observe(workloads: &[WorkloadHealth], machines: &[MachineHealth]) -> Vec<Observed> {
    let mut out: Vec<Observed> = workloads
        .iter()
        .filter(|w| w.observed_current && w.ready_replicas < w.replicas)
        .map(|w| Observed {
            component: Component::ControlPlane {
                name: w.name.clone(),
            },
            condition: "NotReady".into(),
            detail: format!("{}/{} replicas ready", w.ready_replicas, w.replicas),
        })
        .collect();
    out.extend(machines.iter().filter_map(|m| {
        m.failing.as_ref().map(|(cond, msg)| Observed {
            component: Component::Machine {
                name: m.name.clone(),
                pool: m.pool.clone(),
            },
            condition: cond.clone(),
            detail: msg.clone(),
        })
    }));
    out.sort_by(|a, b| a.component.cmp(&b.component));
    out
}

/// Merges current problems with the previously recorded ones: a problem seen before keeps its
/// `since`; a new one starts now; healed ones drop out.
pub fn track(
    previous: &[ProblemStatus],
    current: &[Observed],
    now: Timestamp,
) -> Vec<ProblemStatus> {
    current
        .iter()
        .map(|o| {
            let since = previous
                .iter()
                .find(|p| p.component == o.component && p.condition == o.condition)
                .map_or(now, |p| p.since);
            ProblemStatus {
                component: o.component.clone(),
                condition: o.condition.clone(),
                detail: o.detail.clone(),
                since,
            }
        })
        .collect()
}

/// Problems unhealthy for at least `threshold_secs`, as policy requests.
pub fn due(
    tracked: &[ProblemStatus],
    current: &[Observed],
    now: Timestamp,
    threshold_secs: i64,
) -> Vec<Problem> {
    current
        .iter()
        .zip(tracked)
        .filter_map(|(o, t)| {
            let since = t.since;
            (now.0 - since.0 >= threshold_secs).then(|| Problem {
                component: o.component.clone(),
                condition: o.condition.clone(),
                detail: o.detail.clone(),
                unhealthy_since: since,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn settled_checks_version_generation_and_readiness() {
        let mut d = json!({"kind": "Deployment", "metadata": {"name": "kube-apiserver", "generation": 2, "labels": {LABEL_VERSION: "1.32.0"}},
            "spec": {"replicas": 2}, "status": {"observedGeneration": 2, "readyReplicas": 2, "updatedReplicas": 2}});
        let w = Workload::parse(&d).unwrap();
        assert!(w.settled_at("1.32.0"));
        assert!(!w.settled_at("1.31.0"));
        d["status"]["observedGeneration"] = json!(1);
        let stale = Workload::parse(&d).unwrap();
        assert!(!stale.settled_at("1.32.0"));
        assert!(!stale.observed_current);
        let md = json!({"kind": "MachineDeployment", "metadata": {"name": "p", "labels": {LABEL_VERSION: "1.32.0"}},
            "spec": {"replicas": 1, "template": {"spec": {"version": "v1.32.0"}}}, "status": {"readyReplicas": 1}});
        let pool = Pool::parse(&md).unwrap();
        assert!(pool.settled_at("1.32.0"));
        assert!(pool.settled());
        // Mid-rollout with a surge Machine: the new Machine exists (updated 1) but the old one
        // is still there (replicas 2) and is the ready one.
        let mut surging = md.clone();
        surging["status"] = json!({"replicas": 2, "updatedReplicas": 1, "readyReplicas": 1});
        assert!(!Pool::parse(&surging).unwrap().settled_at("1.32.0"));
        surging["status"] = json!({"replicas": 1, "updatedReplicas": 1, "readyReplicas": 1});
        assert!(Pool::parse(&surging).unwrap().settled_at("1.32.0"));
    }

    #[test]
    fn parse_picks_control_plane_workloads_and_pools() {
        let children = [
            json!({"kind": "Namespace", "metadata": {"name": "cluster-x"}}),
            json!({"kind": "Deployment", "metadata": {"name": "not-a-component"}}),
            json!({"kind": "StatefulSet", "metadata": {"name": "etcd"}, "spec": {"replicas": 3}, "status": {"readyReplicas": 2}}),
            json!({"kind": "MachineDeployment", "metadata": {"name": "p"}, "status": {"readyReplicas": 4}}),
        ];
        let obs = Observation::parse::<_, Value>(&children, &[]);
        assert_eq!(obs.workloads.len(), 1);
        assert_eq!(obs.workloads[0].name, "etcd");
        assert_eq!(
            (obs.workloads[0].replicas, obs.workloads[0].ready_replicas),
            (3, 2)
        );
        assert_eq!(obs.workloads[0].version, None);
        assert!(!obs.workloads[0].settled_at("1.32.0"));
        assert_eq!(obs.pools.len(), 1);
        assert_eq!(obs.pools[0].ready_replicas, 4);
        // Not ready while provisioning is expected; afterwards it is a problem.
        assert!(observe(&[obs.workloads[0].health(true)], &[]).is_empty());
        assert_eq!(observe(&[obs.workloads[0].health(false)], &[]).len(), 1);
    }

    #[test]
    fn machine_conditions_are_problems_only_once_running() {
        let mut m = json!({"metadata": {"name": "m1", "labels": {"cluster.x-k8s.io/deployment-name": "p"}},
            "status": {"phase": "Running", "conditions": [
                {"type": "BootstrapReady", "status": "False"},
                {"type": "NodeHealthy", "status": "False", "reason": "NodeNotFound"},
                {"type": "Ready", "status": "False", "message": "node gone"}]}});
        let h = MachineHealth::parse(&m);
        assert_eq!((h.name.as_str(), h.pool.as_str()), ("m1", "p"));
        // The first unhealthy condition of the four that count; its reason when no message.
        assert_eq!(
            h.failing,
            Some(("NodeHealthy".to_string(), "NodeNotFound".to_string()))
        );
        m["status"]["phase"] = json!("Provisioning");
        assert_eq!(MachineHealth::parse(&m).failing, None);
    }

    fn w(name: &str, ready: u32) -> WorkloadHealth {
        WorkloadHealth {
            name: name.into(),
            replicas: 1,
            ready_replicas: ready,
            observed_current: true,
        }
    }

    #[test]
    fn problems_persist_and_become_due() {
        let ws = [w("etcd", 0), w("kube-apiserver", 1)];
        let ms = [MachineHealth {
            name: "m1".into(),
            pool: "p".into(),
            failing: Some(("Ready".into(), "no node".into())),
        }];
        let obs = observe(&ws, &ms);
        assert_eq!(obs.len(), 2);
        let t0 = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let tracked = track(&[], &obs, t0);
        assert!(due(&tracked, &obs, t0, 60).is_empty());
        let t1 = Timestamp(t0.0 + 61);
        let again = track(&tracked, &obs, t1);
        assert_eq!(again[0].since, t0);
        let d = due(&again, &obs, t1, 60);
        assert_eq!(d.len(), 2);
        assert_eq!(
            d[0].component,
            Component::ControlPlane {
                name: "etcd".into()
            }
        );
        // healed: drops out
        assert!(track(&again, &[], t1).is_empty());
    }

    #[test]
    fn rollout_in_progress_is_not_a_problem() {
        let mut x = w("etcd", 0);
        x.observed_current = false;
        assert!(observe(&[x], &[]).is_empty());
    }
}
