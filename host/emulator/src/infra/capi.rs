//! Cluster API vocabulary shared by the fake MachineDeployment, MachineSet and Machine
//! controllers: the resources (`cluster.x-k8s.io/v1beta1`, served as `DynamicObject`s so no
//! Cluster API crate is needed), the well-known labels, and small readers of their fields.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::core::ObjectMeta;
use serde_json::Value;

pub(crate) const GROUP: &str = "cluster.x-k8s.io";
pub(crate) const VERSION: &str = "v1beta1";
pub(crate) const API_VERSION: &str = "cluster.x-k8s.io/v1beta1";

/// Label naming the MachineDeployment a MachineSet or Machine belongs to.
pub(crate) const DEPLOYMENT_NAME_LABEL: &str = "cluster.x-k8s.io/deployment-name";
/// Label naming the MachineSet a Machine belongs to.
pub(crate) const SET_NAME_LABEL: &str = "cluster.x-k8s.io/set-name";
/// Label naming the Cluster.
pub(crate) const CLUSTER_NAME_LABEL: &str = "cluster.x-k8s.io/cluster-name";
/// Label carrying the MachineDeployment template hash a MachineSet was made from.
pub(crate) const TEMPLATE_HASH_LABEL: &str = "machine-template-hash";
/// Annotation that makes a Machine the first to go when its MachineSet scales down.
pub(crate) const DELETE_MACHINE_ANNOTATION: &str = "cluster.x-k8s.io/delete-machine";
/// Finalizer the fake holds on a Machine while it "drains" (see `InfraTimings::machine_delete`).
pub(crate) const MACHINE_FINALIZER: &str = "machine.cluster.x-k8s.io";

/// The three Cluster API kinds the fake serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum CapiKind {
    MachineDeployment,
    MachineSet,
    Machine,
}

impl CapiKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            CapiKind::MachineDeployment => "MachineDeployment",
            CapiKind::MachineSet => "MachineSet",
            CapiKind::Machine => "Machine",
        }
    }

    pub(crate) fn resource(self) -> ApiResource {
        let plural = match self {
            CapiKind::MachineDeployment => "machinedeployments",
            CapiKind::MachineSet => "machinesets",
            CapiKind::Machine => "machines",
        };
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(GROUP, VERSION, self.name()),
            plural,
        )
    }
}

/// `spec.<field>` of a dynamic object.
pub(crate) fn spec(obj: &DynamicObject) -> &Value {
    obj.data.get("spec").unwrap_or(&Value::Null)
}

/// `status.<field>` of a dynamic object.
pub(crate) fn status(obj: &DynamicObject) -> &Value {
    obj.data.get("status").unwrap_or(&Value::Null)
}

/// `spec.replicas` with the Cluster API default of 1; negatives and non-numbers count as 0/1.
pub(crate) fn spec_replicas(obj: &DynamicObject) -> u32 {
    match spec(obj).get("replicas") {
        None | Some(Value::Null) => 1,
        Some(v) => v.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
    }
}

/// Whether the object has a deletion timestamp.
pub(crate) fn deleting(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

/// The status of condition `type_` (`Some(true)` for "True").
pub(crate) fn condition_true(obj: &DynamicObject, type_: &str) -> Option<bool> {
    status(obj)
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
        .and_then(|c| c.get("status").and_then(Value::as_str))
        .map(|s| s == "True")
}

/// Whether a Machine counts as ready and available: `Running`, `Ready=True`, not deleting.
pub(crate) fn machine_available(m: &DynamicObject) -> bool {
    !deleting(&m.metadata)
        && status(m).get("phase").and_then(Value::as_str) == Some("Running")
        && condition_true(m, "Ready") == Some(true)
}

/// An owner reference to `owner` marking it as the controller.
pub(crate) fn controller_ref(owner: &DynamicObject, kind: CapiKind) -> OwnerReference {
    OwnerReference {
        api_version: API_VERSION.to_owned(),
        kind: kind.name().to_owned(),
        name: owner.metadata.name.clone().unwrap_or_default(),
        uid: owner.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The name of the controlling owner of kind `kind`, if any.
pub(crate) fn controller_name(meta: &ObjectMeta, kind: CapiKind) -> Option<&str> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true) && r.kind == kind.name())
        .map(|r| r.name.as_str())
}

/// A string map (labels, annotations, matchLabels) read from JSON; non-strings are skipped.
pub(crate) fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// A label selector string (`a=b,c=d`) from matchLabels.
pub(crate) fn selector_string(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Resolves an int-or-percent rollout bound against `replicas` (percent rounds up for surge,
/// down for unavailability, as in Kubernetes).
pub(crate) fn int_or_percent(
    v: Option<&Value>,
    replicas: u32,
    default: u32,
    round_up: bool,
) -> u32 {
    match v {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(default),
        Some(Value::String(s)) => {
            let Some(pct) = s
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<u64>().ok())
            else {
                return default;
            };
            let scaled = u64::from(replicas) * pct;
            let value = if round_up {
                scaled.div_ceil(100)
            } else {
                scaled / 100
            };
            u32::try_from(value).unwrap_or(default)
        }
        _ => default,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(data: Value) -> DynamicObject {
        DynamicObject {
            types: None,
            metadata: ObjectMeta::default(),
            data,
        }
    }

    #[test]
    fn replicas_default_and_invalid() {
        assert_eq!(spec_replicas(&obj(json!({"spec": {}}))), 1);
        assert_eq!(spec_replicas(&obj(json!({"spec": {"replicas": 3}}))), 3);
        assert_eq!(spec_replicas(&obj(json!({"spec": {"replicas": -1}}))), 0);
    }

    #[test]
    fn int_or_percent_rounds_like_kubernetes() {
        assert_eq!(int_or_percent(None, 3, 1, true), 1);
        assert_eq!(int_or_percent(Some(&json!(2)), 3, 1, true), 2);
        assert_eq!(int_or_percent(Some(&json!("25%")), 3, 1, true), 1);
        assert_eq!(int_or_percent(Some(&json!("25%")), 3, 0, false), 0);
        assert_eq!(int_or_percent(Some(&json!("50%")), 5, 0, false), 2);
        assert_eq!(int_or_percent(Some(&json!("x%")), 5, 7, false), 7);
    }

    #[test]
    fn available_needs_running_ready_and_not_deleting() {
        let ready = json!({"status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(machine_available(&obj(ready.clone())));
        let mut deleting = obj(ready);
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        assert!(!machine_available(&deleting));
        let provisioning = json!({"status": {"phase": "Provisioning"}});
        assert!(!machine_available(&obj(provisioning)));
    }

    #[test]
    fn resources_have_the_right_plurals() {
        assert_eq!(CapiKind::Machine.resource().plural, "machines");
        assert_eq!(
            CapiKind::MachineDeployment.resource().api_version,
            API_VERSION
        );
    }
}
