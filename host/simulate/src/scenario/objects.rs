//! Turns the scenario's shorthand into the Kubernetes objects the controller reads.
//!
//! The shapes follow `fleetward-controller`'s CRDs (`fleetward.dev/v1alpha1`): a namespace per
//! tenant labelled `fleetward.dev/tenant`, one ConfigMap per tenant holding its modules under
//! `binaryData` (key = `<kind>-<digest prefix>.wasm`) and Tenant bindings naming key + digest.
//! Objects come out in apply order (namespaces, ConfigMaps, Tenants, with `topology: seeds` the
//! seeds' kubeconfig Secrets, Seeds, ManagedClusters), then the scenario's verbatim `objects:`.

use base64::Engine as _;
use fleetward_sdk::wire::{DecisionKind, KubeVersion};
use serde_json::{Value, json};

use fleetward_controller::seeds::token_kubeconfig;

use super::{Cluster, PolicyBinding, Scenario, Seed, Tenant, Topology};
use crate::record::seed_server;

/// Label mapping a namespace to its tenant (the controller's `TENANT_LABEL`).
pub const TENANT_LABEL: &str = "fleetward.dev/tenant";
/// Name of the per-tenant ConfigMap holding module bytes.
pub const MODULES_CONFIGMAP: &str = "fleetward-policies";
/// API version of Fleetward's resources.
pub const API_VERSION: &str = "fleetward.dev/v1alpha1";

/// Every object of the scenario, in apply order.
pub fn initial_objects(s: &Scenario) -> Vec<Value> {
    let mut out = Vec::new();
    for t in &s.tenants {
        out.push(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": t.namespace, "labels": {TENANT_LABEL: t.name}},
        }));
    }
    for t in &s.tenants {
        if !t.policies.is_empty() {
            out.push(modules_configmap(
                t,
                t.policies.iter().map(|(k, b)| (*k, b)),
            ));
        }
    }
    for t in &s.tenants {
        out.push(tenant(t));
    }
    if s.topology == Topology::Seeds && !s.seeds.is_empty() {
        out.push(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": SEED_SECRETS_NAMESPACE},
        }));
        for seed in &s.seeds {
            out.push(kubeconfig_secret(seed));
        }
    }
    for seed in &s.seeds {
        let mut obj = seed_object(seed, false);
        if s.topology == Topology::Seeds {
            obj["spec"]["location"] = json!({"kubeconfigSecret": {
                "namespace": SEED_SECRETS_NAMESPACE, "name": kubeconfig_secret_name(seed),
            }});
        }
        out.push(obj);
    }
    for c in &s.clusters {
        out.push(managed_cluster(c));
    }
    out.extend(s.objects.iter().cloned());
    out
}

/// Namespace of the seeds' kubeconfig Secrets in the management server (`topology: seeds`):
/// the controller's own namespace, the only one whose Secrets it reads
/// (`Settings::seed_secret_namespace`; a test checks the two agree).
pub const SEED_SECRETS_NAMESPACE: &str = "fleetward-system";

/// Name of a seed's kubeconfig Secret.
pub fn kubeconfig_secret_name(seed: &Seed) -> String {
    format!("{}-kubeconfig", seed.name)
}

/// The Secret holding the kubeconfig of a seed's own emulated API server (key `kubeconfig`).
pub fn kubeconfig_secret(seed: &Seed) -> Value {
    let kubeconfig = token_kubeconfig(&seed.name, &seed_server(&seed.name), "simulate");
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": kubeconfig_secret_name(seed), "namespace": SEED_SECRETS_NAMESPACE},
        "type": "Opaque",
        "data": {"kubeconfig": base64::engine::general_purpose::STANDARD.encode(kubeconfig)},
    })
}

/// The ConfigMap key a module is stored under.
pub fn module_key(kind: DecisionKind, binding: &PolicyBinding) -> String {
    format!(
        "{}-{}.wasm",
        kind.as_str().replace('_', "-"),
        binding.module.short_digest()
    )
}

/// The tenant's module ConfigMap holding the given bindings' bytes.
pub fn modules_configmap<'a>(
    t: &Tenant,
    bindings: impl IntoIterator<Item = (DecisionKind, &'a PolicyBinding)>,
) -> Value {
    let mut data = serde_json::Map::new();
    for (kind, b) in bindings {
        data.insert(
            module_key(kind, b),
            Value::String(base64::engine::general_purpose::STANDARD.encode(&b.module.bytes)),
        );
    }
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": MODULES_CONFIGMAP, "namespace": t.namespace},
        "binaryData": data,
    })
}

/// The Tenant resource for the tenant's current bindings.
pub fn tenant(t: &Tenant) -> Value {
    let mut spec = serde_json::Map::new();
    for (kind, b) in &t.policies {
        let field = match kind {
            DecisionKind::Placement => "placement",
            DecisionKind::UpgradeOrdering => "upgradeOrdering",
            DecisionKind::Remediation => "remediation",
        };
        spec.insert(field.into(), binding(t, *kind, b));
    }
    json!({
        "apiVersion": API_VERSION, "kind": "Tenant",
        "metadata": {"name": t.name},
        "spec": spec,
    })
}

fn binding(t: &Tenant, kind: DecisionKind, b: &PolicyBinding) -> Value {
    let mut v = json!({
        "module": {"configMap": {"namespace": t.namespace, "name": MODULES_CONFIGMAP,
                                 "key": module_key(kind, b)}},
        "sha256": b.module.digest,
        "failureMode": b.failure_mode.as_str(),
    });
    if !b.config.is_null() {
        v["config"] = b.config.clone();
    }
    if !b.limits.is_null() {
        v["limits"] = b.limits.clone();
    }
    v
}

/// A Seed resource. `unschedulable` takes it out of placement (used while it is down).
pub fn seed_object(s: &Seed, unschedulable: bool) -> Value {
    let mut spec = json!({
        "region": s.region, "provider": s.provider, "capacity": s.capacity,
        "minVersion": s.min_version.to_string(), "maxVersion": s.max_version.to_string(),
        "unschedulable": unschedulable,
    });
    if let Some(z) = &s.zone {
        spec["zone"] = json!(z);
    }
    if !s.labels.is_empty() {
        spec["labels"] = json!(s.labels);
    }
    json!({"apiVersion": API_VERSION, "kind": "Seed", "metadata": {"name": s.name}, "spec": spec})
}

/// A ManagedCluster resource.
pub fn managed_cluster(c: &Cluster) -> Value {
    let pools: Vec<Value> = c
        .pools
        .iter()
        .map(|p| json!({"name": p.name, "replicas": p.replicas}))
        .collect();
    let mut placement = serde_json::Map::new();
    if !c.regions.is_empty() {
        placement.insert("regions".into(), json!(c.regions));
    }
    if !c.providers.is_empty() {
        placement.insert("providers".into(), json!(c.providers));
    }
    let mut spec = json!({
        "tenant": c.tenant,
        "version": c.version.to_string(),
        "controlPlane": {"replicas": c.control_plane_replicas},
        "nodePools": pools,
        "placement": placement,
    });
    if !c.labels.is_empty() {
        spec["labels"] = json!(c.labels);
    }
    json!({
        "apiVersion": API_VERSION, "kind": "ManagedCluster",
        "metadata": {"name": c.id.name, "namespace": c.id.namespace, "labels": c.labels},
        "spec": spec,
    })
}

/// The merge patch that sets a cluster's desired version.
pub fn version_patch(version: KubeVersion) -> Value {
    json!({"spec": {"version": version.to_string()}})
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_secrets_live_where_the_controller_reads_secrets() {
        assert_eq!(
            super::SEED_SECRETS_NAMESPACE,
            fleetward_controller::reconcile::Settings::default().seed_secret_namespace
        );
    }
}
