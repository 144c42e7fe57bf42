//! What `apps/v1` Deployment and StatefulSet share: the same field names for `spec.replicas`,
//! `spec.template` and the status counts, in two unrelated k8s-openapi structs.
//!
//! No k8s-openapi trait covers those fields, so [`apps_workload_fields!`] writes the
//! [`Workload`](super::workloads::Workload) methods that read them once, for both kinds; each
//! kind's module keeps only what really differs (its kind name, the extra condition for
//! "settled", and the status its controller writes).

use serde::Serialize;
use serde_json::Value;

/// `spec.replicas`, defaulting to 1 and treating negatives as 0.
pub(crate) fn replicas(spec: Option<i32>) -> u32 {
    u32::try_from(spec.unwrap_or(1)).unwrap_or(0)
}

/// `value` as JSON, `Null` when absent (or, which a k8s-openapi type never does, unserialisable).
pub(crate) fn json_or_null<T: Serialize>(value: Option<&T>) -> Value {
    value
        .and_then(|v| serde_json::to_value(v).ok())
        .unwrap_or(Value::Null)
}

/// Writes `replicas`, `template`, `status_value` and `settled` of
/// [`Workload`](super::workloads::Workload) for an `apps/v1` kind.
///
/// `settled` holds once the status has observed the current generation with every replica
/// ready and updated; `apps_workload_fields!(settled also when |s| extra)` adds a kind's own
/// condition, an expression over its status struct `s`.
macro_rules! apps_workload_fields {
    () => {
        $crate::infra::apps::apps_workload_fields!(settled also when |status| true);
    };
    (settled also when |$status:ident| $extra:expr) => {
        fn replicas(&self) -> u32 {
            $crate::infra::apps::replicas(self.spec.as_ref().and_then(|s| s.replicas))
        }

        fn template(&self) -> serde_json::Value {
            $crate::infra::apps::json_or_null(self.spec.as_ref().map(|s| &s.template))
        }

        fn status_value(&self) -> serde_json::Value {
            $crate::infra::apps::json_or_null(self.status.as_ref())
        }

        fn settled(&self) -> bool {
            let want = i64::from(self.replicas());
            self.status.as_ref().is_some_and(|$status| {
                $status.observed_generation.is_some()
                    && $status.observed_generation == self.metadata.generation
                    && $status.ready_replicas.map(i64::from) == Some(want)
                    && $status.updated_replicas.map(i64::from) == Some(want)
                    && $extra
            })
        }
    };
}
pub(crate) use apps_workload_fields;

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::{
        Deployment, DeploymentSpec, DeploymentStatus, StatefulSet, StatefulSetSpec,
        StatefulSetStatus,
    };
    use kube::api::ObjectMeta;
    use serde_json::json;

    use super::super::workloads::Workload;
    use super::*;

    #[test]
    fn replicas_default_to_one_and_negative_is_zero() {
        assert_eq!(replicas(None), 1);
        assert_eq!(replicas(Some(-2)), 0);
        assert_eq!(replicas(Some(5)), 5);
    }

    fn deployment(status: Option<DeploymentStatus>) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                generation: Some(2),
                ..ObjectMeta::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(2),
                ..DeploymentSpec::default()
            }),
            status,
        }
    }

    #[test]
    fn missing_spec_and_status_read_as_defaults_and_null() {
        let d = Deployment::default();
        assert_eq!(d.replicas(), 1);
        assert_eq!(d.template(), Value::Null);
        assert_eq!(d.status_value(), Value::Null);
        assert!(!d.settled());
    }

    #[test]
    fn deployment_is_settled_only_at_the_current_generation_with_all_replicas() {
        let status = |generation, ready, updated| DeploymentStatus {
            observed_generation: Some(generation),
            ready_replicas: Some(ready),
            updated_replicas: Some(updated),
            ..DeploymentStatus::default()
        };
        assert!(deployment(Some(status(2, 2, 2))).settled());
        assert!(
            !deployment(Some(status(1, 2, 2))).settled(),
            "old generation"
        );
        assert!(
            !deployment(Some(status(2, 1, 2))).settled(),
            "one not ready"
        );
        assert!(
            !deployment(Some(status(2, 2, 1))).settled(),
            "one not updated"
        );
        assert_eq!(
            deployment(Some(status(2, 2, 2))).status_value()["readyReplicas"],
            json!(2)
        );
    }

    #[test]
    fn statefulset_also_needs_one_revision_to_be_settled() {
        let set = |current: &str, update: &str| StatefulSet {
            metadata: ObjectMeta {
                generation: Some(1),
                ..ObjectMeta::default()
            },
            spec: Some(StatefulSetSpec {
                replicas: Some(1),
                ..StatefulSetSpec::default()
            }),
            status: Some(StatefulSetStatus {
                observed_generation: Some(1),
                ready_replicas: Some(1),
                updated_replicas: Some(1),
                current_revision: Some(current.to_owned()),
                update_revision: Some(update.to_owned()),
                ..StatefulSetStatus::default()
            }),
        };
        assert!(set("db-a", "db-a").settled());
        assert!(!set("db-a", "db-b").settled());
        assert!(set("db-a", "db-a").template().is_object());
    }
}
