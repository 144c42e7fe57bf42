//! The desired child objects of a placed cluster, as plain JSON.
//!
//! Kubermatic-style layout on the seed: one namespace per cluster holding the hosted control plane
//! (etcd StatefulSet; kube-apiserver, kube-controller-manager, kube-scheduler Deployments;
//! Services) and one Cluster API MachineDeployment per node pool. Every object carries labels
//! naming its ManagedCluster (owner references cannot cross namespaces, so the controller maps
//! child events back to the cluster through these labels) and a `fleetward.dev/version` label the
//! invariant checker reads.

use std::collections::BTreeMap;

use fleetward_sdk::wire::KubeVersion;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::crd::MachineTemplateRef;

/// Label: namespace of the owning ManagedCluster.
pub const LABEL_CLUSTER_NAMESPACE: &str = "fleetward.dev/cluster-namespace";
/// Label: name of the owning ManagedCluster.
pub const LABEL_CLUSTER_NAME: &str = "fleetward.dev/cluster-name";
/// Label: owning tenant.
pub const LABEL_TENANT: &str = "fleetward.dev/tenant";
/// Label: Kubernetes version a workload or pool is rendered at.
pub const LABEL_VERSION: &str = "fleetward.dev/version";
/// Label: control-plane component name.
pub const LABEL_COMPONENT: &str = "fleetward.dev/component";
/// Label: `app.kubernetes.io/managed-by`.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Pod-template annotation bumped by a rollout restart.
pub const RESTARTED_AT: &str = "fleetward.dev/restartedAt";

/// Control-plane workloads, in rollout order.
pub const CONTROL_PLANE_COMPONENTS: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// A node pool to render.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolRender {
    /// Pool name.
    pub name: String,
    /// Machines.
    pub replicas: u32,
    /// Kubelet version.
    pub version: KubeVersion,
    /// Infrastructure template.
    pub machine_template: Option<MachineTemplateRef>,
}

/// Everything the renderer needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvisionInput {
    /// Tenant.
    pub tenant: String,
    /// ManagedCluster namespace.
    pub cluster_namespace: String,
    /// ManagedCluster name.
    pub cluster_name: String,
    /// Control-plane version to render.
    pub control_plane_version: KubeVersion,
    /// kube-apiserver replicas.
    pub control_plane_replicas: u32,
    /// Pools.
    pub pools: Vec<PoolRender>,
}

/// The seed namespace hosting a cluster's control plane: `fw-<tenant>-<cluster>`, shortened with
/// a hash when it would exceed 63 characters. The ManagedCluster's namespace is hashed in as well
/// when the tenant owns several namespaces, so two clusters never share one.
pub fn namespace_name(tenant: &str, cluster_namespace: &str, cluster_name: &str) -> String {
    let plain = format!("fw-{tenant}-{cluster_name}");
    let hash =
        hex::encode(&Sha256::digest(format!("{cluster_namespace}/{cluster_name}").as_bytes())[..4]);
    if plain.len() <= 54 {
        format!("{plain}-{hash}")
    } else {
        format!("{}-{hash}", &plain[..54].trim_end_matches('-'))
    }
}

/// etcd release for a Kubernetes minor (what kubeadm pins).
pub fn etcd_version(v: KubeVersion) -> &'static str {
    match v.minor {
        0..=28 => "3.5.9-0",
        29..=30 => "3.5.12-0",
        31..=32 => "3.5.16-0",
        _ => "3.5.21-0",
    }
}

impl ProvisionInput {
    /// The namespace on the seed.
    pub fn namespace(&self) -> String {
        namespace_name(&self.tenant, &self.cluster_namespace, &self.cluster_name)
    }

    fn labels(&self, extra: &[(&str, String)]) -> BTreeMap<String, String> {
        let mut l: BTreeMap<String, String> = [
            (LABEL_MANAGED_BY, "fleetward".to_string()),
            (LABEL_TENANT, self.tenant.clone()),
            (LABEL_CLUSTER_NAMESPACE, self.cluster_namespace.clone()),
            (LABEL_CLUSTER_NAME, self.cluster_name.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        l.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        l
    }

    /// All desired objects: Namespace first, then Services, control-plane workloads, and
    /// MachineDeployments.
    pub fn objects(&self) -> Vec<Value> {
        let ns = self.namespace();
        let mut out = vec![json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": self.labels(&[])},
        })];
        out.push(self.service("etcd", &[("client", 2379), ("peer", 2380)], true));
        out.push(self.service("kube-apiserver", &[("https", 6443)], false));
        out.extend(CONTROL_PLANE_COMPONENTS.iter().map(|c| self.workload(c)));
        out.extend(self.pools.iter().map(|p| self.machine_deployment(p)));
        out
    }

    fn service(&self, name: &str, ports: &[(&str, u16)], headless: bool) -> Value {
        let ports: Vec<Value> = ports
            .iter()
            .map(|(n, p)| json!({"name": n, "port": p, "targetPort": p, "protocol": "TCP"}))
            .collect();
        let mut spec = json!({"selector": {"app": name}, "ports": ports});
        if headless {
            spec["clusterIP"] = json!("None");
        }
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": self.namespace(), "labels": self.labels(&[(LABEL_COMPONENT, name.to_string())])},
            "spec": spec,
        })
    }

    fn workload(&self, name: &str) -> Value {
        let v = self.control_plane_version;
        let (kind, replicas, image) = match name {
            "etcd" => (
                "StatefulSet",
                if self.control_plane_replicas > 1 {
                    3
                } else {
                    1
                },
                format!("registry.k8s.io/etcd:{}", etcd_version(v)),
            ),
            "kube-apiserver" => (
                "Deployment",
                self.control_plane_replicas,
                format!("registry.k8s.io/kube-apiserver:v{v}"),
            ),
            other => ("Deployment", 1, format!("registry.k8s.io/{other}:v{v}")),
        };
        let labels = self.labels(&[
            (LABEL_COMPONENT, name.to_string()),
            (LABEL_VERSION, v.to_string()),
        ]);
        let mut pod_labels = BTreeMap::from([("app".to_string(), name.to_string())]);
        pod_labels.insert(LABEL_CLUSTER_NAME.into(), self.cluster_name.clone());
        let mut spec = json!({
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        });
        if kind == "StatefulSet" {
            spec["serviceName"] = json!("etcd");
        }
        json!({
            "apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": name, "namespace": self.namespace(), "labels": labels},
            "spec": spec,
        })
    }

    fn machine_deployment(&self, p: &PoolRender) -> Value {
        let labels = self.labels(&[
            ("fleetward.dev/pool", p.name.clone()),
            (LABEL_VERSION, p.version.to_string()),
        ]);
        let infra = match &p.machine_template {
            Some(t) => json!({"apiVersion": t.api_version, "kind": t.kind, "name": t.name}),
            None => {
                json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "DockerMachineTemplate", "name": format!("{}-{}", self.cluster_name, p.name)})
            }
        };
        json!({
            "apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "MachineDeployment",
            "metadata": {"name": p.name, "namespace": self.namespace(), "labels": labels},
            "spec": {
                "clusterName": self.cluster_name,
                "replicas": p.replicas,
                "selector": {"matchLabels": {"cluster.x-k8s.io/deployment-name": p.name}},
                "template": {
                    "metadata": {"labels": {"cluster.x-k8s.io/deployment-name": p.name}},
                    "spec": {
                        "clusterName": self.cluster_name,
                        "version": format!("v{}", p.version),
                        "bootstrap": {"dataSecretName": format!("{}-{}-bootstrap", self.cluster_name, p.name)},
                        "infrastructureRef": infra,
                    },
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ProvisionInput {
        ProvisionInput {
            tenant: "acme".into(),
            cluster_namespace: "tenant-acme".into(),
            cluster_name: "prod-1".into(),
            control_plane_version: KubeVersion::new(1, 31, 4),
            control_plane_replicas: 3,
            pools: vec![PoolRender {
                name: "workers".into(),
                replicas: 2,
                version: KubeVersion::new(1, 30, 2),
                machine_template: None,
            }],
        }
    }

    #[test]
    fn renders_pinned_images_and_pools() {
        let objs = input().objects();
        let kinds: Vec<_> = objs.iter().map(|o| o["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "Service",
                "Service",
                "StatefulSet",
                "Deployment",
                "Deployment",
                "Deployment",
                "MachineDeployment"
            ]
        );
        let api = &objs[4];
        assert_eq!(
            api["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.k8s.io/kube-apiserver:v1.31.4"
        );
        assert_eq!(api["spec"]["replicas"], 3);
        assert_eq!(objs[3]["spec"]["replicas"], 3);
        assert_eq!(objs[7]["spec"]["template"]["spec"]["version"], "v1.30.2");
        assert_eq!(objs[7]["metadata"]["labels"][LABEL_VERSION], "1.30.2");
        let ns = objs[0]["metadata"]["name"].as_str().unwrap();
        assert!(ns.starts_with("fw-acme-prod-1-"));
        assert!(
            objs.iter()
                .skip(1)
                .all(|o| o["metadata"]["namespace"] == ns)
        );
    }

    #[test]
    fn namespace_names_are_bounded_and_distinct() {
        let long = "x".repeat(60);
        let n = namespace_name(&long, "a", &long);
        assert!(n.len() <= 63, "{n}");
        assert_ne!(
            namespace_name("t", "ns1", "c"),
            namespace_name("t", "ns2", "c")
        );
    }
}
