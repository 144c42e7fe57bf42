//! The fake kubelet's view of an `apps/v1` StatefulSet: the status the statefulset controller
//! would write, including `currentRevision`/`updateRevision` named after the pod-template hash.
//!
//! The real controller sets no conditions on StatefulSets, so neither does the fake: a broken
//! StatefulSet shows `readyReplicas: 0` and `availableReplicas: 0`.

use k8s_openapi::api::apps::v1::StatefulSet;

use super::apps::apps_workload_fields;
use super::status::{ConditionStyle, DesiredStatus};
use super::workloads::{Workload, WorkloadView};

impl Workload for StatefulSet {
    const KIND: &'static str = "StatefulSet";

    apps_workload_fields!(settled also when |s| s.current_revision.is_some()
        && s.current_revision == s.update_revision);

    fn desired_status(view: &WorkloadView<'_>) -> DesiredStatus {
        desired_status(view)
    }
}

fn desired_status(v: &WorkloadView<'_>) -> DesiredStatus {
    let c = v.counts;
    // Pods on the current revision: all of them once the roll is done, else those not updated.
    let current = if v.done {
        c.replicas
    } else {
        c.replicas.saturating_sub(c.updated)
    };
    let mut d = DesiredStatus::new(ConditionStyle::Apps);
    if let Some(g) = v.generation {
        d.set("observedGeneration", g);
    }
    d.set("replicas", c.replicas)
        .set("updatedReplicas", c.updated)
        .set("currentReplicas", current)
        .set("readyReplicas", c.ready)
        .set("availableReplicas", c.ready)
        .set(
            "updateRevision",
            format!("{}-{}", v.name, v.update_revision),
        )
        .set(
            "currentRevision",
            format!("{}-{}", v.name, v.current_revision),
        );
    d
}

#[cfg(test)]
mod tests {
    use super::super::rollout::Counts;
    use super::*;

    #[test]
    fn rolling_statefulset_reports_both_revisions() {
        let v = WorkloadView {
            name: "db",
            generation: Some(2),
            counts: Counts {
                replicas: 3,
                updated: 0,
                ready: 2,
            },
            broken: false,
            done: false,
            update_revision: "new",
            current_revision: "old",
        };
        let d = desired_status(&v);
        assert_eq!(d.fields["updateRevision"], "db-new");
        assert_eq!(d.fields["currentRevision"], "db-old");
        assert_eq!(d.fields["currentReplicas"], 3);
        assert_eq!(d.fields["readyReplicas"], 2);
        assert!(d.conditions.is_empty());
    }

    #[test]
    fn finished_statefulset_has_one_revision_and_all_current() {
        let v = WorkloadView {
            name: "db",
            generation: Some(2),
            counts: Counts {
                replicas: 3,
                updated: 3,
                ready: 3,
            },
            broken: false,
            done: true,
            update_revision: "new",
            current_revision: "new",
        };
        let d = desired_status(&v);
        assert_eq!(d.fields["currentRevision"], d.fields["updateRevision"]);
        assert_eq!(d.fields["currentReplicas"], 3);
        assert_eq!(d.fields["updatedReplicas"], 3);
    }
}
