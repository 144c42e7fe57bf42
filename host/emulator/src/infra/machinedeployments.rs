//! The fake MachineDeployment controller: one MachineSet per template, rolled like Cluster API.
//!
//! The MachineSet for the current template is named `<md>-<template hash>`. On a template (for
//! example `spec.template.spec.version`) change a new set is created and the roll obeys
//! `spec.strategy.rollingUpdate`: the new set grows only while the number of Machines that exist
//! (deleting ones included) stays within `replicas + maxSurge`, and old sets shrink only while at
//! least `replicas - maxUnavailable` Machines stay available. Both bounds are checked against
//! what has been observed, never against what was merely requested, so no interleaving of
//! watch events can break them.

use std::collections::BTreeMap;

use kube::api::{DynamicObject, ObjectMeta, TypeMeta};
use serde_json::{Value, json};

use super::capi::{
    API_VERSION, CLUSTER_NAME_LABEL, CapiKind, DEPLOYMENT_NAME_LABEL, TEMPLATE_HASH_LABEL,
    controller_ref, deleting, int_or_percent, machine_available, selector_string, spec,
    spec_replicas, string_map,
};
use super::hash::template_hash;
use super::status::{Condition, ConditionStyle, DesiredStatus};

/// A MachineSet owned by the MachineDeployment, with the Machines it owns.
#[derive(Clone, Debug)]
pub(crate) struct OwnedSet<'a> {
    pub(crate) set: &'a DynamicObject,
    pub(crate) machines: Vec<&'a DynamicObject>,
}

impl OwnedSet<'_> {
    fn name(&self) -> &str {
        self.set.metadata.name.as_deref().unwrap_or_default()
    }
    fn replicas(&self) -> u32 {
        spec_replicas(self.set)
    }
    fn hash(&self) -> Option<&str> {
        self.set
            .metadata
            .labels
            .as_ref()?
            .get(TEMPLATE_HASH_LABEL)
            .map(String::as_str)
    }
    fn live(&self) -> u32 {
        count(self.machines.iter().filter(|m| !deleting(&m.metadata)))
    }
    fn available(&self) -> u32 {
        count(self.machines.iter().filter(|m| machine_available(m)))
    }
    fn existing(&self) -> u32 {
        count(self.machines.iter())
    }
}

fn count<I: Iterator>(it: I) -> u32 {
    u32::try_from(it.count()).unwrap_or(u32::MAX)
}

/// A change the MachineDeployment controller makes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum DeploymentAction {
    /// Create this MachineSet.
    CreateSet(Box<DynamicObject>),
    /// Set `spec.replicas` of the named MachineSet.
    ScaleSet { name: String, replicas: u32 },
}

/// What the MachineDeployment controller should do now.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DeploymentPlan {
    pub(crate) actions: Vec<DeploymentAction>,
    pub(crate) status: DesiredStatus,
}

/// The rollout bounds of a MachineDeployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub(crate) replicas: u32,
    pub(crate) max_surge: u32,
    pub(crate) max_unavailable: u32,
}

impl Bounds {
    /// Reads `spec.replicas` and `spec.strategy.rollingUpdate` (defaults 1 and 0; if both
    /// resolve to 0, maxUnavailable becomes 1 as in Kubernetes, or nothing could ever move).
    pub(crate) fn of(md: &DynamicObject) -> Self {
        let replicas = spec_replicas(md);
        let ru = spec(md).pointer("/strategy/rollingUpdate");
        let max_surge = int_or_percent(ru.and_then(|r| r.get("maxSurge")), replicas, 1, true);
        let mut max_unavailable =
            int_or_percent(ru.and_then(|r| r.get("maxUnavailable")), replicas, 0, false);
        if max_surge == 0 && max_unavailable == 0 {
            max_unavailable = 1;
        }
        Bounds {
            replicas,
            max_surge,
            max_unavailable,
        }
    }
}

/// The template hash (and so the MachineSet name suffix) of `md`'s current template.
pub(crate) fn current_hash(md: &DynamicObject) -> String {
    template_hash(spec(md).get("template").unwrap_or(&Value::Null))
}

/// The plan for `md` given the sets it owns (oldest first).
pub(crate) fn plan(md: &DynamicObject, sets: &[OwnedSet<'_>]) -> DeploymentPlan {
    let b = Bounds::of(md);
    let hash = current_hash(md);
    let (new, old): (Vec<&OwnedSet<'_>>, Vec<&OwnedSet<'_>>) =
        sets.iter().partition(|s| s.hash() == Some(hash.as_str()));
    let new = new.first().copied();
    let existing: u32 = sets.iter().map(OwnedSet::existing).sum();
    let old_spec: u32 = old.iter().map(|s| s.replicas()).sum();
    let available: u32 = sets.iter().map(OwnedSet::available).sum();
    let mut actions = Vec::new();

    // Grow (or create) the new set within the surge budget.
    let new_spec = new.map_or(0, OwnedSet::replicas);
    let total_spec = new_spec + old_spec;
    let room = (b.replicas + b.max_surge).saturating_sub(total_spec.max(existing));
    let target = if new_spec > b.replicas {
        b.replicas
    } else {
        b.replicas.min(new_spec + room)
    };
    match new {
        None => actions.push(DeploymentAction::CreateSet(Box::new(new_set(
            md, &hash, target,
        )))),
        Some(s) if target != new_spec => actions.push(DeploymentAction::ScaleSet {
            name: s.name().to_owned(),
            replicas: target,
        }),
        Some(_) => {}
    }

    // Shrink old sets: unavailable old Machines can go at once; available ones only while
    // enough Machines stay available. New-set Machines not yet available count against it.
    let min_available = b.replicas.saturating_sub(b.max_unavailable);
    let mut budget = available.saturating_sub(min_available);
    for s in &old {
        let current = s.replicas();
        if current == 0 {
            continue;
        }
        let unhealthy = s.live().saturating_sub(s.available()).min(current);
        let after_cleanup = current - unhealthy;
        let take = after_cleanup.min(budget);
        budget -= take;
        let wanted = after_cleanup - take;
        if wanted != current {
            actions.push(DeploymentAction::ScaleSet {
                name: s.name().to_owned(),
                replicas: wanted,
            });
        }
    }

    DeploymentPlan {
        actions,
        status: desired_status(md, &b, sets, new, available),
    }
}

fn desired_status(
    md: &DynamicObject,
    b: &Bounds,
    sets: &[OwnedSet<'_>],
    new: Option<&OwnedSet<'_>>,
    available: u32,
) -> DesiredStatus {
    let live: u32 = sets.iter().map(OwnedSet::live).sum();
    let updated = new.map_or(0, OwnedSet::live);
    let mut d = DesiredStatus::new(ConditionStyle::ClusterApi);
    if let Some(g) = md.metadata.generation {
        d.set("observedGeneration", g);
    }
    let phase = match available.cmp(&b.replicas) {
        std::cmp::Ordering::Less => "ScalingUp",
        std::cmp::Ordering::Equal => "Running",
        std::cmp::Ordering::Greater => "ScalingDown",
    };
    d.set("replicas", live)
        .set("updatedReplicas", updated)
        .set("readyReplicas", available)
        .set("availableReplicas", available)
        .set("unavailableReplicas", b.replicas.saturating_sub(available))
        .set("selector", selector_string(&selector(md)))
        .set("phase", phase);
    let ok = available >= b.replicas.saturating_sub(b.max_unavailable);
    let cond = |type_| {
        if ok {
            Condition::new(type_, true, "", "")
        } else {
            Condition::new(
                type_,
                false,
                "WaitingForAvailableMachines",
                &format!(
                    "Minimum availability requires {} replicas, current {available} available",
                    b.replicas.saturating_sub(b.max_unavailable)
                ),
            )
            .with_severity("Warning")
        }
    };
    d.condition(cond("Ready")).condition(cond("Available"));
    d
}

/// `spec.selector.matchLabels` plus the deployment-name label the real webhook adds.
fn selector(md: &DynamicObject) -> BTreeMap<String, String> {
    let mut labels = string_map(spec(md).pointer("/selector/matchLabels"));
    labels.insert(
        DEPLOYMENT_NAME_LABEL.to_owned(),
        md.metadata.name.clone().unwrap_or_default(),
    );
    labels
}

/// The MachineSet `<md>-<hash>` for the current template with `replicas` Machines.
fn new_set(md: &DynamicObject, hash: &str, replicas: u32) -> DynamicObject {
    let md_name = md.metadata.name.clone().unwrap_or_default();
    let cluster = spec(md)
        .get("clusterName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut template = spec(md)
        .get("template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut template_labels = string_map(template.pointer("/metadata/labels"));
    template_labels.insert(DEPLOYMENT_NAME_LABEL.to_owned(), md_name.clone());
    template_labels.insert(TEMPLATE_HASH_LABEL.to_owned(), hash.to_owned());
    if !cluster.is_empty() {
        template_labels.insert(CLUSTER_NAME_LABEL.to_owned(), cluster.to_owned());
    }
    if !template.is_object() {
        template = json!({});
    }
    template["metadata"] = match template.get("metadata") {
        Some(Value::Object(m)) => Value::Object(m.clone()),
        _ => json!({}),
    };
    template["metadata"]["labels"] = json!(template_labels);
    let mut match_labels = selector(md);
    match_labels.insert(TEMPLATE_HASH_LABEL.to_owned(), hash.to_owned());
    let mut set_labels = string_map(md.metadata.labels.as_ref().map(|l| json!(l)).as_ref());
    set_labels.insert(DEPLOYMENT_NAME_LABEL.to_owned(), md_name.clone());
    set_labels.insert(TEMPLATE_HASH_LABEL.to_owned(), hash.to_owned());
    if !cluster.is_empty() {
        set_labels.insert(CLUSTER_NAME_LABEL.to_owned(), cluster.to_owned());
    }
    DynamicObject {
        types: Some(TypeMeta {
            api_version: API_VERSION.to_owned(),
            kind: CapiKind::MachineSet.name().to_owned(),
        }),
        metadata: ObjectMeta {
            name: Some(format!("{md_name}-{hash}")),
            namespace: md.metadata.namespace.clone(),
            labels: Some(set_labels),
            owner_references: Some(vec![controller_ref(md, CapiKind::MachineDeployment)]),
            ..ObjectMeta::default()
        },
        data: json!({"spec": {
            "clusterName": cluster,
            "replicas": replicas,
            "selector": {"matchLabels": match_labels},
            "template": template,
        }}),
    }
}

/// A test MachineDeployment `ns/pool` (cluster `c1`) with `replicas` Machines of `version`,
/// rolled by `strategy` (`Null` for the defaults); shared with the `capi_sim` run.
#[cfg(test)]
pub(crate) fn test_md(replicas: u32, version: &str, strategy: Value) -> DynamicObject {
    DynamicObject {
        types: None,
        metadata: ObjectMeta {
            name: Some("pool".into()),
            namespace: Some("ns".into()),
            uid: Some("md-uid".into()),
            generation: Some(3),
            ..ObjectMeta::default()
        },
        data: json!({"spec": {"replicas": replicas, "clusterName": "c1", "strategy": strategy,
            "template": {"spec": {"version": version}}}}),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    use super::*;

    fn set(name: &str, hash: &str, replicas: u32) -> DynamicObject {
        DynamicObject {
            types: None,
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some([(TEMPLATE_HASH_LABEL.to_owned(), hash.to_owned())].into()),
                ..ObjectMeta::default()
            },
            data: json!({"spec": {"replicas": replicas}}),
        }
    }

    fn machine(state: &str) -> DynamicObject {
        let (status, deleting) = match state {
            "ready" => (
                json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}),
                false,
            ),
            "deleting" => (json!({"phase": "Deleting"}), true),
            _ => (json!({"phase": "Provisioning"}), false),
        };
        DynamicObject {
            types: None,
            metadata: ObjectMeta {
                deletion_timestamp: deleting.then_some(Time(Timestamp::UNIX_EPOCH)),
                ..ObjectMeta::default()
            },
            data: json!({"status": status}),
        }
    }

    fn machines(states: &[&str]) -> Vec<DynamicObject> {
        states.iter().map(|s| machine(s)).collect()
    }

    fn owned<'a>(set: &'a DynamicObject, machines: &'a [DynamicObject]) -> OwnedSet<'a> {
        OwnedSet {
            set,
            machines: machines.iter().collect(),
        }
    }

    /// The plan's actions when it only scales `name` to `replicas`.
    fn scale(name: &str, replicas: u32) -> Vec<DeploymentAction> {
        vec![DeploymentAction::ScaleSet {
            name: name.to_owned(),
            replicas,
        }]
    }

    #[test]
    fn first_reconcile_creates_a_full_set_named_after_the_template() {
        let d = test_md(3, "v1.30.0", Value::Null);
        let p = plan(&d, &[]);
        let [DeploymentAction::CreateSet(s)] = p.actions.as_slice() else {
            panic!("expected one create: {:?}", p.actions);
        };
        assert_eq!(s.metadata.name, Some(format!("pool-{}", current_hash(&d))));
        assert_eq!(s.data["spec"]["replicas"], 3);
        assert_eq!(s.data["spec"]["template"]["spec"]["version"], "v1.30.0");
        let owner = &s.metadata.owner_references.clone().unwrap_or_default()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("MachineDeployment", "md-uid")
        );
        let sel = &s.data["spec"]["selector"]["matchLabels"];
        let tl = &s.data["spec"]["template"]["metadata"]["labels"];
        assert_eq!(
            sel[TEMPLATE_HASH_LABEL], tl[TEMPLATE_HASH_LABEL],
            "selector matches template"
        );
        assert_eq!(p.status.fields["phase"], "ScalingUp");
    }

    /// Simulates the roll step by step with the default bounds (surge 1, unavailable 0).
    #[test]
    fn version_change_rolls_one_at_a_time_within_bounds() {
        let d = test_md(3, "v1.31.0", Value::Null);
        let h = current_hash(&d);
        let old = set("pool-old", "old", 3);
        let old_m = machines(&["ready", "ready", "ready"]);
        let sets = [owned(&old, &old_m)];
        let p = plan(&d, &sets);
        let [DeploymentAction::CreateSet(s)] = p.actions.as_slice() else {
            panic!("expected create: {:?}", p.actions);
        };
        assert_eq!(s.data["spec"]["replicas"], 1, "surge of one");

        // New machine still provisioning: nothing may shrink, nothing more may grow.
        let new = set(&format!("pool-{h}"), &h, 1);
        let new_m = machines(&["provisioning"]);
        let sets = [owned(&old, &old_m), owned(&new, &new_m)];
        assert!(plan(&d, &sets).actions.is_empty());

        // New machine ready: the old set gives one up; the new set waits for it to be gone.
        let new_m = machines(&["ready"]);
        let sets = [owned(&old, &old_m), owned(&new, &new_m)];
        assert_eq!(plan(&d, &sets).actions, scale("pool-old", 2));

        // Old machine still draining: total existing is 4, so no growth yet.
        let old2 = set("pool-old", "old", 2);
        let old_m2 = machines(&["ready", "ready", "deleting"]);
        let sets = [owned(&old2, &old_m2), owned(&new, &new_m)];
        assert!(plan(&d, &sets).actions.is_empty());

        // Drained: the new set grows by one.
        let old_m3 = machines(&["ready", "ready"]);
        let sets = [owned(&old2, &old_m3), owned(&new, &new_m)];
        assert_eq!(plan(&d, &sets).actions, scale(&format!("pool-{h}"), 2));
    }

    #[test]
    fn unavailable_budget_allows_shrinking_first() {
        let d = test_md(
            3,
            "v2",
            json!({"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}),
        );
        let h = current_hash(&d);
        let old = set("pool-old", "old", 3);
        let old_m = machines(&["ready", "ready", "ready"]);
        let new = set(&format!("pool-{h}"), &h, 0);
        let sets = [owned(&old, &old_m), owned(&new, &[])];
        assert_eq!(plan(&d, &sets).actions, scale("pool-old", 2));
    }

    #[test]
    fn unhealthy_old_machines_are_cleaned_up_without_budget() {
        let d = test_md(2, "v2", Value::Null);
        let h = current_hash(&d);
        let old = set("pool-old", "old", 2);
        let old_m = machines(&["ready", "provisioning"]);
        let new = set(&format!("pool-{h}"), &h, 1);
        let new_m = machines(&["provisioning"]);
        let sets = [owned(&old, &old_m), owned(&new, &new_m)];
        assert_eq!(plan(&d, &sets).actions, scale("pool-old", 1));
    }

    #[test]
    fn steady_state_is_running_with_no_actions() {
        let d = test_md(2, "v1", Value::Null);
        let h = current_hash(&d);
        let s = set(&format!("pool-{h}"), &h, 2);
        let m = machines(&["ready", "ready"]);
        let p = plan(&d, &[owned(&s, &m)]);
        assert!(p.actions.is_empty());
        assert_eq!(p.status.fields["phase"], "Running");
        assert_eq!(p.status.fields["updatedReplicas"], 2);
        assert_eq!(p.status.fields["unavailableReplicas"], 0);
        assert!(p.status.conditions.iter().all(|c| c.status));
    }

    #[test]
    fn scale_down_without_a_roll_shrinks_the_current_set() {
        let d = test_md(1, "v1", Value::Null);
        let h = current_hash(&d);
        let s = set(&format!("pool-{h}"), &h, 3);
        let m = machines(&["ready", "ready", "ready"]);
        let p = plan(&d, &[owned(&s, &m)]);
        assert_eq!(p.actions, scale(&format!("pool-{h}"), 1));
        assert_eq!(p.status.fields["phase"], "ScalingDown");
    }
}
