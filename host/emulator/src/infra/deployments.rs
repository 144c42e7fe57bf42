//! The fake kubelet's view of an `apps/v1` Deployment: the status the deployment controller
//! would write for the pods the [`Rollout`](super::rollout::Rollout) model says exist.

use k8s_openapi::api::apps::v1::Deployment;

use super::apps::apps_workload_fields;
use super::status::{Condition, ConditionStyle, DesiredStatus};
use super::workloads::{Workload, WorkloadView};

impl Workload for Deployment {
    const KIND: &'static str = "Deployment";

    apps_workload_fields!();

    fn desired_status(view: &WorkloadView<'_>) -> DesiredStatus {
        desired_status(view)
    }
}

fn desired_status(v: &WorkloadView<'_>) -> DesiredStatus {
    let c = v.counts;
    let mut d = DesiredStatus::new(ConditionStyle::Apps);
    if let Some(g) = v.generation {
        d.set("observedGeneration", g);
    }
    d.set("replicas", c.replicas)
        .set("updatedReplicas", c.updated)
        .set("readyReplicas", c.ready)
        .set("availableReplicas", c.ready)
        .set("unavailableReplicas", c.replicas.saturating_sub(c.ready));
    // The fake rolls with maxUnavailable 1, so one missing replica is still "available".
    let available = !v.broken && c.ready >= c.replicas.saturating_sub(1);
    d.condition(if available {
        Condition::new(
            "Available",
            true,
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        Condition::new(
            "Available",
            false,
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    });
    let rs = format!("{}-{}", v.name, v.update_revision);
    d.condition(if v.done {
        Condition::new(
            "Progressing",
            true,
            "NewReplicaSetAvailable",
            &format!("ReplicaSet \"{rs}\" has successfully progressed."),
        )
    } else {
        Condition::new(
            "Progressing",
            true,
            "ReplicaSetUpdated",
            &format!("ReplicaSet \"{rs}\" is progressing."),
        )
    });
    d
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::rollout::Counts;
    use super::*;

    fn view(counts: Counts, broken: bool, done: bool) -> WorkloadView<'static> {
        WorkloadView {
            name: "web",
            generation: Some(4),
            counts,
            broken,
            done,
            update_revision: "abc",
            current_revision: "abc",
        }
    }

    fn counts(replicas: u32, updated: u32, ready: u32) -> Counts {
        Counts {
            replicas,
            updated,
            ready,
        }
    }

    #[test]
    fn ready_deployment_status() {
        let d = desired_status(&view(counts(3, 3, 3), false, true));
        assert_eq!(
            Value::Object(d.fields.clone()),
            json!({"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3,
                   "readyReplicas": 3, "availableReplicas": 3, "unavailableReplicas": 0})
        );
        assert!(d.conditions.iter().all(|c| c.status));
        assert_eq!(d.conditions[1].reason, "NewReplicaSetAvailable");
        assert_eq!(
            d.conditions[1].message,
            "ReplicaSet \"web-abc\" has successfully progressed."
        );
    }

    #[test]
    fn rolling_deployment_stays_available_with_one_missing() {
        let d = desired_status(&view(counts(3, 0, 2), false, false));
        assert!(
            d.conditions[0].status,
            "Available during a maxUnavailable-1 roll"
        );
        assert_eq!(d.conditions[1].reason, "ReplicaSetUpdated");
        assert_eq!(d.fields["unavailableReplicas"], 1);
    }

    #[test]
    fn broken_deployment_is_unavailable_even_with_one_replica() {
        let d = desired_status(&view(counts(1, 1, 1).broken(), true, true));
        assert_eq!(d.fields["readyReplicas"], 0);
        assert!(!d.conditions[0].status);
        assert_eq!(d.conditions[0].reason, "MinimumReplicasUnavailable");
    }
}
