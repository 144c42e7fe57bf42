//! The fake MachineSet controller: keep `spec.replicas` live Machines, made from the template.
//!
//! Machines being deleted do not count, so deleting a Machine gets it replaced at once (under a
//! new name). When there are too many, the ones to go are chosen as Cluster API's default
//! policy would: marked with the delete annotation first, then unhealthy or not yet running, then
//! by name (deterministic).

use std::collections::BTreeMap;

use kube::api::{DynamicObject, ObjectMeta, TypeMeta};
use serde_json::{Map, Value, json};

use super::capi::{
    API_VERSION, CLUSTER_NAME_LABEL, CapiKind, DELETE_MACHINE_ANNOTATION, SET_NAME_LABEL,
    controller_ref, deleting, machine_available, selector_string, spec, spec_replicas, string_map,
};
use super::hash::template_hash;
use super::status::{ConditionStyle, DesiredStatus};

/// A change the MachineSet controller makes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SetAction {
    /// Create this Machine.
    Create(Box<DynamicObject>),
    /// Delete the Machine with this name.
    Delete(String),
}

/// What the MachineSet controller should do now.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SetPlan {
    pub(crate) actions: Vec<SetAction>,
    pub(crate) status: DesiredStatus,
}

/// The plan for MachineSet `ms` owning `machines`. `next_seq` numbers new Machine names; it is
/// advanced past every name it hands out.
pub(crate) fn plan(ms: &DynamicObject, machines: &[&DynamicObject], next_seq: &mut u64) -> SetPlan {
    let want = spec_replicas(ms);
    let live: Vec<&DynamicObject> = machines
        .iter()
        .copied()
        .filter(|m| !deleting(&m.metadata))
        .collect();
    let have = u32::try_from(live.len()).unwrap_or(u32::MAX);
    let mut actions = Vec::new();
    if have < want {
        for _ in have..want {
            actions.push(SetAction::Create(Box::new(new_machine(ms, *next_seq))));
            *next_seq += 1;
        }
    } else if have > want {
        let mut victims = live.clone();
        victims.sort_by_key(|m| {
            let marked = m
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(DELETE_MACHINE_ANNOTATION));
            (!marked, machine_available(m), m.metadata.name.clone())
        });
        let excess = usize::try_from(have - want).unwrap_or(usize::MAX);
        for m in victims.into_iter().take(excess) {
            actions.push(SetAction::Delete(
                m.metadata.name.clone().unwrap_or_default(),
            ));
        }
    }
    let ready =
        u32::try_from(live.iter().filter(|m| machine_available(m)).count()).unwrap_or(u32::MAX);
    let mut status = DesiredStatus::new(ConditionStyle::ClusterApi);
    if let Some(g) = ms.metadata.generation {
        status.set("observedGeneration", g);
    }
    status
        .set("replicas", have)
        .set("fullyLabeledReplicas", have)
        .set("readyReplicas", ready)
        .set("availableReplicas", ready)
        .set(
            "selector",
            selector_string(&string_map(spec(ms).pointer("/selector/matchLabels"))),
        );
    SetPlan { actions, status }
}

/// A Machine for `ms`, named `<ms>-<5 safe characters>` from the set's uid and `seq`.
fn new_machine(ms: &DynamicObject, seq: u64) -> DynamicObject {
    let ms_name = ms.metadata.name.clone().unwrap_or_default();
    let uid = ms.metadata.uid.clone().unwrap_or_default();
    let suffix: String = template_hash(&json!([ms_name, uid, seq]))
        .chars()
        .take(5)
        .collect();
    let template = spec(ms).get("template").unwrap_or(&Value::Null);
    let cluster = spec(ms)
        .get("clusterName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut labels: BTreeMap<String, String> = string_map(template.pointer("/metadata/labels"));
    labels.insert(SET_NAME_LABEL.to_owned(), ms_name.clone());
    if !cluster.is_empty() {
        labels.insert(CLUSTER_NAME_LABEL.to_owned(), cluster.to_owned());
    }
    let annotations = string_map(template.pointer("/metadata/annotations"));
    let mut machine_spec = template
        .get("spec")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_else(Map::new);
    if !cluster.is_empty() {
        machine_spec
            .entry("clusterName")
            .or_insert_with(|| Value::from(cluster));
    }
    DynamicObject {
        types: Some(TypeMeta {
            api_version: API_VERSION.to_owned(),
            kind: CapiKind::Machine.name().to_owned(),
        }),
        metadata: ObjectMeta {
            name: Some(format!("{ms_name}-{suffix}")),
            namespace: ms.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![controller_ref(ms, CapiKind::MachineSet)]),
            ..ObjectMeta::default()
        },
        data: json!({ "spec": Value::Object(machine_spec) }),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    use super::*;

    fn ms(replicas: u32) -> DynamicObject {
        DynamicObject {
            types: None,
            metadata: ObjectMeta {
                name: Some("md-h1".into()),
                namespace: Some("ns".into()),
                uid: Some("ms-uid".into()),
                generation: Some(2),
                ..ObjectMeta::default()
            },
            data: json!({"spec": {
                "replicas": replicas, "clusterName": "c1",
                "selector": {"matchLabels": {"machine-template-hash": "h1"}},
                "template": {"metadata": {"labels": {"machine-template-hash": "h1"}},
                             "spec": {"version": "v1.30.0", "bootstrap": {"dataSecretName": "x"}}}}}),
        }
    }

    fn machine(name: &str, running: bool, deleting: bool) -> DynamicObject {
        let status = if running {
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]})
        } else {
            json!({"phase": "Provisioning"})
        };
        DynamicObject {
            types: None,
            metadata: ObjectMeta {
                name: Some(name.into()),
                deletion_timestamp: deleting.then_some(Time(Timestamp::UNIX_EPOCH)),
                ..ObjectMeta::default()
            },
            data: json!({"status": status}),
        }
    }

    #[test]
    fn creates_missing_machines_from_the_template() {
        let mut seq = 0;
        let p = plan(&ms(3), &[], &mut seq);
        assert_eq!(p.actions.len(), 3);
        assert_eq!(seq, 3);
        let SetAction::Create(m) = &p.actions[0] else {
            panic!("expected a create");
        };
        let name = m.metadata.name.clone().unwrap_or_default();
        assert!(
            name.starts_with("md-h1-") && name.len() == "md-h1-".len() + 5,
            "{name}"
        );
        assert_eq!(m.data["spec"]["version"], "v1.30.0");
        assert_eq!(m.data["spec"]["clusterName"], "c1");
        let labels = m.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get(SET_NAME_LABEL).map(String::as_str),
            Some("md-h1")
        );
        assert_eq!(
            labels.get("machine-template-hash").map(String::as_str),
            Some("h1")
        );
        let owner = &m.metadata.owner_references.clone().unwrap_or_default()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("MachineSet", "ms-uid", Some(true))
        );
        let names: std::collections::BTreeSet<_> = p
            .actions
            .iter()
            .filter_map(|a| match a {
                SetAction::Create(m) => m.metadata.name.clone(),
                SetAction::Delete(_) => None,
            })
            .collect();
        assert_eq!(names.len(), 3, "names are distinct");
    }

    #[test]
    fn deleting_machines_do_not_count_so_they_are_replaced() {
        let a = machine("a", true, false);
        let b = machine("b", true, true);
        let mut seq = 10;
        let p = plan(&ms(2), &[&a, &b], &mut seq);
        assert!(matches!(p.actions.as_slice(), [SetAction::Create(_)]));
        assert_eq!(p.status.fields["replicas"], 1);
        assert_eq!(p.status.fields["readyReplicas"], 1);
    }

    #[test]
    fn scale_down_removes_unready_then_by_name() {
        let a = machine("a", true, false);
        let b = machine("b", false, false);
        let c = machine("c", true, false);
        let mut seq = 0;
        let p = plan(&ms(1), &[&a, &b, &c], &mut seq);
        assert_eq!(
            p.actions,
            vec![SetAction::Delete("b".into()), SetAction::Delete("a".into())]
        );
        assert_eq!(p.status.fields["selector"], "machine-template-hash=h1");
    }

    #[test]
    fn steady_state_has_no_actions() {
        let a = machine("a", true, false);
        let mut seq = 0;
        let p = plan(&ms(1), &[&a], &mut seq);
        assert!(p.actions.is_empty());
        assert_eq!(seq, 0);
    }
}
