//! The operator-control actions (issue 11) as the API sees them: what an operator, GitOps or an
//! alert bridge would write for a pause, a resume, an approval, an abort or a signal.
//!
//! The simulator does not tell the controller anything directly: each action is a write to the
//! Tenant, the ManagedCluster or a new RolloutApproval, exactly the write `fleetward rollout …`
//! or `kubectl` would make, so the run exercises the controller's real watch and planning path.
//! The functions here build those writes (pure, unit-tested); `emulated.rs` sends them.

use fleetward_sdk::wire::{
    ClusterRef, FleetCluster, Health, KubeVersion, SIGNAL_PREFIX, UpgradeLimits, UpgradeRequest,
    VersionState,
};
use serde_json::{Value, json};

use crate::scenario::objects::API_VERSION;

/// The merge patch that pauses a tenant's rollout.
pub fn pause_patch(reason: &str, by: &str) -> Value {
    let reason = (!reason.is_empty()).then_some(reason);
    json!({"spec": {"rollout": {"paused": true, "pauseReason": reason, "pausedBy": by}}})
}

/// The merge patch that resumes it (the reason and who paused are removed with the pause).
pub fn resume_patch() -> Value {
    json!({"spec": {"rollout": {"paused": false, "pauseReason": null, "pausedBy": null}}})
}

/// The merge patch that aborts rollout `rollout`.
pub fn abort_patch(rollout: &str, by: &str, reason: &str) -> Value {
    json!({"spec": {"rollout": {"abort": {"rollout": rollout, "by": by, "reason": reason}}}})
}

/// The merge patch that pauses or resumes one cluster's upgrades.
pub fn cluster_pause_patch(paused: bool) -> Value {
    json!({"spec": {"pauseUpgrades": paused}})
}

/// A RolloutApproval, as `fleetward rollout approve` creates it.
pub fn approval(
    name: &str,
    namespace: &str,
    tenant: &str,
    gate: &str,
    rollout: &str,
    approver: &str,
    comment: &str,
) -> Value {
    let mut spec =
        json!({"tenant": tenant, "gate": gate, "rollout": rollout, "approver": approver});
    if !comment.is_empty() {
        spec["comment"] = json!(comment);
    }
    json!({
        "apiVersion": API_VERSION, "kind": "RolloutApproval",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    })
}

/// The approval's object name: `<gate>-<n>`, `n` counting this run's approvals created in its
/// namespace, so names are unique there and the same in every run.
pub fn approval_name(gate: &str, n: usize) -> String {
    let suffix = format!("-{n}");
    let keep = 63usize.saturating_sub(suffix.len()).min(gate.len());
    format!("{}{suffix}", gate[..keep].trim_end_matches('-'))
}

/// The rollout id the controller computes from these desired versions (control planes' and
/// pools'), by the controller's own function (`core::rollout::rollout_id`: distinct versions
/// sorted, joined by `,`, hashed when long), so the two can never disagree. Used when the
/// Tenant's `status.rollout.id` is not written yet.
pub fn rollout_id(versions: impl IntoIterator<Item = KubeVersion>) -> String {
    let clusters = versions
        .into_iter()
        .enumerate()
        .map(|(i, v)| FleetCluster {
            id: ClusterRef::new("-", i.to_string()),
            labels: Default::default(),
            seed: None,
            control_plane: VersionState {
                current: v,
                desired: v,
            },
            node_pools: Vec::new(),
            health: Health {
                healthy: true,
                reasons: Vec::new(),
            },
            in_progress: None,
            upgrades_paused: false,
            settled_since: None,
            signals: Vec::new(),
        })
        .collect();
    fleetward_controller::core::rollout::rollout_id(&UpgradeRequest {
        clusters,
        history: Vec::new(),
        limits: UpgradeLimits {
            max_concurrent: 1,
            max_concurrent_per_seed: 1,
        },
        approvals: Vec::new(),
    })
}

/// The desired versions a ManagedCluster asks for: `spec.version` and any pinned pool version.
pub fn desired_versions(cluster: &Value) -> Vec<KubeVersion> {
    let spec = &cluster["spec"];
    std::iter::once(spec["version"].as_str())
        .chain(
            spec["nodePools"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| p["version"].as_str()),
        )
        .flatten()
        .filter_map(|v| KubeVersion::parse(v).ok())
        .collect()
}

/// `status.conditions` with the signal condition set: `True` while `firing`, `False` once
/// resolved. `lastTransitionTime` moves only when the status changes (as every condition
/// writer must); every other condition is kept as it was.
pub fn with_signal(
    conditions: &[Value],
    name: &str,
    firing: bool,
    reason: &str,
    message: &str,
    now: &str,
) -> Vec<Value> {
    let type_ = format!("{SIGNAL_PREFIX}{name}");
    let status = if firing { "True" } else { "False" };
    let mut out: Vec<Value> = conditions.to_vec();
    let previous = out.iter().position(|c| c["type"] == type_.as_str());
    let since = match previous {
        Some(i) if out[i]["status"] == status => out[i]["lastTransitionTime"].clone(),
        _ => json!(now),
    };
    let condition = json!({
        "type": type_, "status": status, "reason": reason, "message": message,
        "lastTransitionTime": since,
    });
    match previous {
        Some(i) => out[i] = condition,
        None => out.push(condition),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubeVersion {
        KubeVersion::parse(s).unwrap()
    }

    #[test]
    fn pause_and_resume_patches_name_the_fields_the_controller_reads() {
        assert_eq!(
            pause_patch("incident INC-7", "alice"),
            json!({"spec": {"rollout": {"paused": true, "pauseReason": "incident INC-7", "pausedBy": "alice"}}})
        );
        // No reason: the field is removed, not set to "".
        assert_eq!(
            pause_patch("", "bob")["spec"]["rollout"]["pauseReason"],
            Value::Null
        );
        let r = resume_patch();
        assert_eq!(r["spec"]["rollout"]["paused"], false);
        assert!(
            r["spec"]["rollout"]
                .get("pausedBy")
                .is_some_and(Value::is_null)
        );
        assert_eq!(
            abort_patch("1.32.0", "carol", "bad release")["spec"]["rollout"]["abort"],
            json!({"rollout": "1.32.0", "by": "carol", "reason": "bad release"})
        );
        assert_eq!(
            cluster_pause_patch(true),
            json!({"spec": {"pauseUpgrades": true}})
        );
    }

    #[test]
    fn approval_object_matches_the_crd() {
        let a = approval(
            "prod-1",
            "tenant-acme",
            "acme",
            "prod",
            "1.32.0",
            "dana",
            "",
        );
        assert_eq!(a["kind"], "RolloutApproval");
        assert_eq!(a["apiVersion"], "fleetward.dev/v1alpha1");
        assert_eq!(a["metadata"]["namespace"], "tenant-acme");
        assert_eq!(
            a["spec"],
            json!({"tenant": "acme", "gate": "prod", "rollout": "1.32.0", "approver": "dana"})
        );
        // The spec must deserialize as the controller's type.
        let spec: fleetward_controller::crd::RolloutApprovalSpec =
            serde_json::from_value(a["spec"].clone()).unwrap();
        assert_eq!(spec.approver, "dana");
        let c = approval("x-1", "ns", "acme", "x", "1", "d", "looked at staging");
        assert_eq!(c["spec"]["comment"], "looked at staging");
        assert_eq!(approval_name("prod", 2), "prod-2");
        assert!(approval_name(&"g".repeat(63), 10).len() <= 63);
    }

    #[test]
    fn rollout_id_follows_the_controllers_rule() {
        assert_eq!(rollout_id([v("1.32.0"), v("1.32.0")]), "1.32.0");
        assert_eq!(rollout_id([v("1.32.0"), v("1.31.4")]), "1.31.4,1.32.0");
        // Sorted by version, not by text.
        assert_eq!(rollout_id([v("1.10.0"), v("1.9.0")]), "1.9.0,1.10.0");
        let long: Vec<KubeVersion> = (0..12).map(|m| v(&format!("1.{m}.0"))).collect();
        let id = rollout_id(long);
        assert!(id.starts_with("sha256:") && id.len() == 7 + 12, "{id}");
        let mc = json!({"spec": {"version": "1.32.0", "nodePools": [
            {"name": "a", "replicas": 1}, {"name": "b", "replicas": 1, "version": "1.31.0"}]}});
        assert_eq!(desired_versions(&mc), vec![v("1.32.0"), v("1.31.0")]);
    }

    #[test]
    fn signal_keeps_other_conditions_and_its_transition_time() {
        let others = vec![json!({"type": "Ready", "status": "True", "reason": "Ok"})];
        let on = with_signal(&others, "SLOBurn", true, "Firing", "burn 14x", "T1");
        assert_eq!(on.len(), 2);
        assert_eq!(on[0], others[0]);
        assert_eq!(on[1]["type"], "signal.fleetward.dev/SLOBurn");
        assert_eq!(on[1]["status"], "True");
        assert_eq!(on[1]["lastTransitionTime"], "T1");
        // Still firing, new message: same transition time.
        let again = with_signal(&on, "SLOBurn", true, "Firing", "burn 20x", "T2");
        assert_eq!(again.len(), 2);
        assert_eq!(again[1]["lastTransitionTime"], "T1");
        assert_eq!(again[1]["message"], "burn 20x");
        // Resolved: status False, new transition time, not removed.
        let off = with_signal(&again, "SLOBurn", false, "Resolved", "", "T3");
        assert_eq!(off[1]["status"], "False");
        assert_eq!(off[1]["lastTransitionTime"], "T3");
    }
}
