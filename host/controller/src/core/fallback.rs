//! Built-in policies: what a tenant gets without a module for a decision kind, and what a
//! `failureMode: Fallback` tenant gets when its module fails.
//!
//! Deliberately boring: least-loaded placement, one cluster at a time (control plane, then
//! pools), restart once then escalate.

use fleetward_sdk::wire::{
    Component, FleetCluster, Hold, KubeVersion, PlacementDecision, PlacementRequest,
    RemediationAction, RemediationDecision, RemediationRequest, UpgradeDecision, UpgradeRequest,
    UpgradeStep, UpgradeTarget,
};

use super::remediation::is_disruptive;

/// Digest shown for decisions made by a built-in.
pub const BUILTIN_DIGEST: &str = "builtin";

/// Why a `failureMode: Fallback` tenant's decision was made by the built-in: the policy's
/// failure (`failure`, which names the module and what went wrong).
pub fn fallback_reason(failure: &impl std::fmt::Display) -> String {
    format!("fallback to built-in: {failure}")
}

/// Why a `failureMode: Hold` tenant's decision changed nothing: one sentence with the cause
/// (`failure` names the module and what went wrong) and what ends the hold. The recording
/// paths (ledger, Events, simulate's hold spans) show it as is, without adding words of their
/// own.
pub fn hold_reason(failure: &impl std::fmt::Display) -> String {
    format!(
        "holding: {failure}; nothing changes until the module is fixed or replaced, or the \
         Tenant's failureMode is set to Fallback"
    )
}

/// The least-loaded candidate (clusters / capacity), ties broken by name.
pub fn place(req: &PlacementRequest) -> PlacementDecision {
    let best = req.seeds.iter().min_by(|a, b| {
        let la = a.clusters as u64 * b.capacity.max(1) as u64;
        let lb = b.clusters as u64 * a.capacity.max(1) as u64;
        la.cmp(&lb).then_with(|| a.name.cmp(&b.name))
    });
    match best {
        Some(s) => PlacementDecision {
            seed: Some(s.name.clone()),
            reason: format!("built-in: least loaded ({}/{})", s.clusters, s.capacity),
            scores: vec![],
        },
        None => PlacementDecision {
            seed: None,
            reason: "built-in: no candidate seed".into(),
            scores: vec![],
        },
    }
}

/// The next version on the way from `current` to `desired`: `desired` when it is at most one
/// minor ahead, else the next minor's `.0`.
pub fn next_version(current: KubeVersion, desired: KubeVersion) -> KubeVersion {
    if desired.minor_distance(current) <= 1 {
        desired
    } else {
        KubeVersion::new(current.major, current.minor + 1, 0)
    }
}

/// The next step of one cluster: control plane first, then pools (never past the control plane).
pub fn next_step(c: &FleetCluster) -> Option<UpgradeStep> {
    let cp = &c.control_plane;
    let pool_step = c
        .node_pools
        .iter()
        .find(|p| p.current < p.desired && p.current < cp.current);
    let pools_lag = c
        .node_pools
        .iter()
        .any(|p| cp.current.minor_distance(p.current) >= 1);
    // Pools catch up before the control plane moves again, keeping skew small.
    if let Some(p) = pool_step.filter(|_| pools_lag || cp.current >= cp.desired) {
        let to = next_version(p.current, p.desired.min(cp.current));
        return Some(UpgradeStep {
            cluster: c.id.clone(),
            target: UpgradeTarget::NodePool {
                pool: p.name.clone(),
            },
            to,
            wave: None,
        });
    }
    if cp.current < cp.desired {
        return Some(UpgradeStep {
            cluster: c.id.clone(),
            target: UpgradeTarget::ControlPlane,
            to: next_version(cp.current, cp.desired),
            wave: None,
        });
    }
    None
}

/// One cluster at a time, in name order; unhealthy or paused clusters wait.
pub fn order_upgrades(req: &UpgradeRequest) -> UpgradeDecision {
    if let Some(busy) = req.clusters.iter().find(|c| c.in_progress.is_some()) {
        return UpgradeDecision {
            reason: format!("built-in: waiting for {} to finish", busy.id),
            ..Default::default()
        };
    }
    let mut hold = Vec::new();
    for c in req.clusters.iter().filter(|c| c.needs_upgrade()) {
        if c.upgrades_paused || !c.health.healthy {
            hold.push(Hold {
                cluster: c.id.clone(),
                reason: "built-in: paused or unhealthy".into(),
                until: None,
                cause: None,
                gate: None,
                wave: None,
            });
            continue;
        }
        if let Some(step) = next_step(c) {
            let reason = format!(
                "built-in: one at a time, {} {} -> {}",
                c.id, step.target, step.to
            );
            return UpgradeDecision {
                start: vec![step],
                hold,
                recheck_at: None,
                reason,
            };
        }
    }
    UpgradeDecision {
        hold,
        reason: "built-in: nothing to start".into(),
        ..Default::default()
    }
}

/// Restart (or recreate) once; if the same component fails again, pause upgrades and escalate.
pub fn remediate(req: &RemediationRequest) -> RemediationDecision {
    let tried = req
        .history
        .iter()
        .any(|h| h.component == req.problem.component && is_disruptive(&h.action));
    let (action, reason) = match (&req.problem.component, tried) {
        (Component::ControlPlane { name }, false) => (
            RemediationAction::RestartComponent {
                component: name.clone(),
            },
            "built-in: first restart",
        ),
        (Component::Machine { name, .. }, false) => (
            RemediationAction::RecreateMachine {
                machine: name.clone(),
            },
            "built-in: first recreate",
        ),
        (_, true) if !req.upgrades_paused => (
            RemediationAction::PauseUpgradesAndEscalate {
                message: format!(
                    "{} still unhealthy after one attempt",
                    req.problem.component
                ),
            },
            "built-in: escalate after one attempt",
        ),
        (_, true) => (RemediationAction::None, "built-in: already escalated"),
    };
    RemediationDecision {
        action,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::invariants::tests::{cluster, v};
    use crate::core::placement::tests::{seed, to_place};
    use fleetward_sdk::wire::{ClusterRef, Problem, RemediationRecord, Timestamp, UpgradeLimits};

    #[test]
    fn hold_reason_is_one_sentence_with_cause_and_remedy() {
        let failure =
            "policy sha256:ab12 (upgrade_ordering, tenant globex): wasm trap: unreachable";
        let r = hold_reason(&failure);
        assert_eq!(
            r,
            "holding: policy sha256:ab12 (upgrade_ordering, tenant globex): wasm trap: \
             unreachable; nothing changes until the module is fixed or replaced, or the \
             Tenant's failureMode is set to Fallback"
        );
        assert_eq!(r.matches("holding").count(), 1, "{r}");
        assert_eq!(
            fallback_reason(&"trap"),
            "fallback to built-in: trap",
            "the fallback reason keeps its wording"
        );
    }

    #[test]
    fn least_loaded_then_name() {
        let req = PlacementRequest {
            cluster: to_place("1.31.0", &[]),
            seeds: vec![
                seed("b", "eu", 1, 10),
                seed("a", "eu", 2, 20),
                seed("c", "eu", 0, 10),
            ],
            tenant_placements: vec![],
        };
        assert_eq!(place(&req).seed.as_deref(), Some("c"));
        let req = PlacementRequest {
            seeds: vec![seed("b", "eu", 1, 10), seed("a", "eu", 2, 20)],
            ..req
        };
        assert_eq!(place(&req).seed.as_deref(), Some("a"));
    }

    #[test]
    fn one_at_a_time_cp_then_pools() {
        let a = cluster("a", "s", ("1.31.0", "1.32.0"), ("1.31.0", "1.32.0"));
        let b = cluster("b", "s", ("1.31.0", "1.32.0"), ("1.31.0", "1.32.0"));
        let limits = UpgradeLimits {
            max_concurrent: 5,
            max_concurrent_per_seed: 5,
        };
        let req = UpgradeRequest {
            clusters: vec![a.clone(), b],
            history: vec![],
            limits,
            approvals: Vec::new(),
        };
        let d = order_upgrades(&req);
        assert_eq!(d.start.len(), 1);
        assert_eq!(d.start[0].cluster.name, "a");
        assert_eq!(d.start[0].target, UpgradeTarget::ControlPlane);
        let mut a2 = a;
        a2.control_plane.current = v("1.32.0");
        let s = next_step(&a2).unwrap();
        assert_eq!(
            s.target,
            UpgradeTarget::NodePool {
                pool: "workers".into()
            }
        );
        assert_eq!(s.to, v("1.32.0"));
        let far = cluster("f", "s", ("1.30.0", "1.32.0"), ("1.30.0", "1.32.0"));
        assert_eq!(next_step(&far).unwrap().to, v("1.31.0"));
    }

    #[test]
    fn restart_once_then_escalate() {
        let comp = Component::ControlPlane {
            name: "etcd".into(),
        };
        let mut req = RemediationRequest {
            cluster: ClusterRef::new("t", "a"),
            labels: Default::default(),
            seed: None,
            problem: Problem {
                component: comp.clone(),
                condition: "NotReady".into(),
                detail: String::new(),
                unhealthy_since: Timestamp(0),
            },
            history: vec![],
            upgrades_paused: false,
            signals: Vec::new(),
        };
        assert!(matches!(
            remediate(&req).action,
            RemediationAction::RestartComponent { .. }
        ));
        req.history.push(RemediationRecord {
            at: Timestamp(1),
            component: comp,
            action: RemediationAction::RestartComponent {
                component: "etcd".into(),
            },
        });
        assert!(matches!(
            remediate(&req).action,
            RemediationAction::PauseUpgradesAndEscalate { .. }
        ));
        req.upgrades_paused = true;
        assert_eq!(remediate(&req).action, RemediationAction::None);
    }
}
