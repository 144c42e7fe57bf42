//! Health evaluation from control-plane workload statuses and Cluster API Machine conditions.
//!
//! A problem is *observed* as soon as a workload is not fully ready or a Machine reports an
//! unhealthy condition; it becomes *due* for remediation only after it has persisted longer than
//! a threshold, so a rolling update or a slow boot is not "fixed" by restarting it.

use fleetward_sdk::wire::{Component, Problem, Timestamp};

use crate::crd::ProblemStatus;

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
            let key = o.component.to_string();
            let since = previous
                .iter()
                .find(|p| p.component == key && p.condition == o.condition)
                .map(|p| p.since.clone())
                .unwrap_or_else(|| now.to_string());
            ProblemStatus {
                component: key,
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
            let since = Timestamp::parse(&t.since).unwrap_or(now);
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
    use super::*;

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
        assert_eq!(again[0].since, t0.to_string());
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
