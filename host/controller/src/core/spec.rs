//! What a ManagedCluster must satisfy before the controller touches its children, checked here
//! whatever the API server accepted.
//!
//! The CRD says most of it (node pool names are DNS labels, unique within the cluster), but its
//! CEL rule holds only on a server that evaluates CEL, for a CRD that still carries the rule: an
//! older server, an emulator or an edited CRD lets through a spec the controller cannot render.
//! Two node pools of one name render two MachineDeployments of one name with different
//! replicas; applying both on every reconcile flips the object, every flip is a watch event and
//! every event another reconcile — a write loop (issue 16 measured ~87 writes a second). So the
//! controller checks the spec ([`check`]), the children it rendered ([`distinct_children`]) and
//! the seed namespace it is about to write into ([`namespace_owner`]), and while any check fails
//! it writes no child: the cluster gets `SpecValid=False` naming what is wrong and what to do,
//! and waits for the spec to change.
//!
//! Every check is about what would make two desired objects share one identity (kind, namespace,
//! name), the one shape that makes a reconcile fight itself; anything else the API server refuses
//! on apply is an ordinary reconcile error.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::core::provision::{LABEL_CLUSTER_NAME, LABEL_CLUSTER_NAMESPACE};
use crate::crd::ManagedClusterSpec;

/// Longest node pool name (the CRD's limit: it names a MachineDeployment and, with the cluster's
/// name, its machine template and bootstrap Secret).
pub const MAX_POOL_NAME: usize = 40;

/// Why the controller will not act on a cluster's spec as stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecProblem {
    /// Two or more node pools share a name.
    #[error(
        "node pool name {name:?} appears {count} times in spec.nodePools; each pool is one MachineDeployment named after it, so pool names must be unique: rename or remove the duplicates (nothing on the seed is changed until then)"
    )]
    DuplicateNodePool {
        /// The shared name.
        name: String,
        /// How many pools carry it.
        count: usize,
    },
    /// A node pool name cannot name a Kubernetes object.
    #[error(
        "node pool name {name:?} is not a DNS label of at most {MAX_POOL_NAME} characters (lower-case letters, digits and '-', starting and ending with a letter or digit): rename the pool (nothing on the seed is changed until then)"
    )]
    InvalidNodePoolName {
        /// The name as stored.
        name: String,
    },
    /// Two rendered children share kind, namespace and name.
    #[error(
        "the cluster's desired children collide ({which}): applying both would rewrite the object on every reconcile; change the spec so each child has its own name (nothing on the seed is changed until then)"
    )]
    ConflictingChildren {
        /// `Kind namespace/name`, each colliding identity.
        which: String,
    },
    /// The seed namespace this cluster renders into belongs to another ManagedCluster.
    #[error(
        "seed namespace {namespace} is labelled for ManagedCluster {owner}, not this one: both would rewrite the same children; delete or rename one of the two clusters (nothing on the seed is changed until then)"
    )]
    NamespaceTaken {
        /// The seed namespace.
        namespace: String,
        /// `namespace/name` of the cluster it belongs to.
        owner: String,
    },
}

impl SpecProblem {
    /// The `SpecValid` condition's reason.
    pub fn reason(&self) -> &'static str {
        match self {
            SpecProblem::DuplicateNodePool { .. } => "DuplicateNodePool",
            SpecProblem::InvalidNodePoolName { .. } => "InvalidNodePoolName",
            SpecProblem::ConflictingChildren { .. } => "ConflictingChildren",
            SpecProblem::NamespaceTaken { .. } => "SeedNamespaceTaken",
        }
    }
}

/// A DNS-1123 label of at most [`MAX_POOL_NAME`] characters (the CRD's pattern).
fn is_pool_name(name: &str) -> bool {
    let b = name.as_bytes();
    let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    !b.is_empty()
        && b.len() <= MAX_POOL_NAME
        && b.iter().all(inner)
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// The spec's node pools: names valid and unique.
///
/// # Errors
/// The first problem found, pools in spec order.
pub fn check(spec: &ManagedClusterSpec) -> Result<(), SpecProblem> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &spec.node_pools {
        *counts.entry(p.name.as_str()).or_default() += 1;
    }
    for p in &spec.node_pools {
        if !is_pool_name(&p.name) {
            return Err(SpecProblem::InvalidNodePoolName {
                name: p.name.clone(),
            });
        }
        if let Some(&count) = counts.get(p.name.as_str()).filter(|n| **n > 1) {
            return Err(SpecProblem::DuplicateNodePool {
                name: p.name.clone(),
                count,
            });
        }
    }
    Ok(())
}

/// The rendered children have pairwise distinct identities (kind, namespace, name): the guard
/// behind [`check`] for any other way a spec could make two children one.
///
/// # Errors
/// [`SpecProblem::ConflictingChildren`] naming every shared identity.
pub fn distinct_children(objects: &[Value]) -> Result<(), SpecProblem> {
    let mut seen: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for o in objects {
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        *seen
            .entry((
                s(&o["kind"]),
                s(&o["metadata"]["namespace"]),
                s(&o["metadata"]["name"]),
            ))
            .or_default() += 1;
    }
    let which: Vec<String> = seen
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|((kind, ns, name), n)| {
            let at = if ns.is_empty() {
                name
            } else {
                format!("{ns}/{name}")
            };
            format!("{kind} {at} ×{n}")
        })
        .collect();
    if which.is_empty() {
        Ok(())
    } else {
        Err(SpecProblem::ConflictingChildren {
            which: which.join(", "),
        })
    }
}

/// Whether the seed namespace `namespace`, as it exists now with `labels` (`None`: it does not
/// exist yet), may take this cluster's children: it must not be labelled for another cluster.
///
/// # Errors
/// [`SpecProblem::NamespaceTaken`] naming its owner.
pub fn namespace_owner(
    namespace: &str,
    labels: Option<&BTreeMap<String, String>>,
    cluster_namespace: &str,
    cluster_name: &str,
) -> Result<(), SpecProblem> {
    let Some(labels) = labels else {
        return Ok(());
    };
    let (ns, name) = (
        labels.get(LABEL_CLUSTER_NAMESPACE),
        labels.get(LABEL_CLUSTER_NAME),
    );
    match (ns, name) {
        (Some(ns), Some(name)) if ns != cluster_namespace || name != cluster_name => {
            Err(SpecProblem::NamespaceTaken {
                namespace: namespace.to_string(),
                owner: format!("{ns}/{name}"),
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::provision::{PoolRender, ProvisionInput};
    use fleetward_sdk::wire::KubeVersion;

    fn spec(pools: Value) -> ManagedClusterSpec {
        serde_json::from_value(serde_json::json!({
            "tenant": "acme", "version": "1.31.0", "nodePools": pools,
        }))
        .unwrap()
    }

    #[test]
    fn unique_valid_pool_names_pass() {
        let s = spec(serde_json::json!([
            {"name": "workers", "replicas": 2}, {"name": "gpu-1", "replicas": 1}
        ]));
        assert_eq!(check(&s), Ok(()));
        assert_eq!(check(&spec(serde_json::json!([]))), Ok(()));
    }

    #[test]
    fn duplicate_pool_names_are_named_with_their_count_and_the_fix() {
        let s = spec(serde_json::json!([
            {"name": "a", "replicas": 1}, {"name": "workers", "replicas": 1},
            {"name": "workers", "replicas": 2}, {"name": "workers", "replicas": 3}
        ]));
        let e = check(&s).unwrap_err();
        assert_eq!(
            e,
            SpecProblem::DuplicateNodePool {
                name: "workers".into(),
                count: 3
            }
        );
        assert_eq!(e.reason(), "DuplicateNodePool");
        let msg = e.to_string();
        assert!(msg.contains("\"workers\" appears 3 times"), "{msg}");
        assert!(msg.contains("rename or remove the duplicates"), "{msg}");
    }

    #[test]
    fn pool_names_that_cannot_name_an_object_are_refused() {
        for bad in [
            "Workers",
            "-a",
            "a-",
            "",
            "a_b",
            "a.b",
            &"x".repeat(MAX_POOL_NAME + 1),
        ] {
            let s = spec(serde_json::json!([{"name": bad, "replicas": 1}]));
            assert_eq!(
                check(&s),
                Err(SpecProblem::InvalidNodePoolName { name: bad.into() }),
                "{bad:?}"
            );
        }
        let s = spec(serde_json::json!([{"name": "x".repeat(MAX_POOL_NAME), "replicas": 1}]));
        assert_eq!(check(&s), Ok(()));
    }

    fn input(pools: &[(&str, u32)]) -> ProvisionInput {
        ProvisionInput {
            tenant: "acme".into(),
            cluster_namespace: "tenant-acme".into(),
            cluster_name: "c".into(),
            control_plane_version: KubeVersion::new(1, 31, 0),
            control_plane_replicas: 1,
            pools: pools
                .iter()
                .map(|(n, r)| PoolRender {
                    name: (*n).into(),
                    replicas: *r,
                    version: KubeVersion::new(1, 31, 0),
                    machine_template: None,
                })
                .collect(),
        }
    }

    #[test]
    fn rendered_children_must_not_share_an_identity() {
        assert_eq!(
            distinct_children(&input(&[("a", 1), ("b", 2)]).objects()),
            Ok(())
        );
        // A pool named like a control-plane workload is another kind: no collision.
        assert_eq!(distinct_children(&input(&[("etcd", 1)]).objects()), Ok(()));
        let objs = input(&[("w", 1), ("w", 2)]).objects();
        let e = distinct_children(&objs).unwrap_err();
        let ns = objs[0]["metadata"]["name"].as_str().unwrap();
        assert_eq!(
            e,
            SpecProblem::ConflictingChildren {
                which: format!("MachineDeployment {ns}/w ×2")
            }
        );
        assert_eq!(e.reason(), "ConflictingChildren");
    }

    #[test]
    fn a_seed_namespace_labelled_for_another_cluster_is_not_written() {
        let labels = |ns: &str, name: &str| {
            BTreeMap::from([
                (LABEL_CLUSTER_NAMESPACE.to_string(), ns.to_string()),
                (LABEL_CLUSTER_NAME.to_string(), name.to_string()),
            ])
        };
        assert_eq!(namespace_owner("fw-x", None, "tenant-acme", "c"), Ok(()));
        assert_eq!(
            namespace_owner(
                "fw-x",
                Some(&labels("tenant-acme", "c")),
                "tenant-acme",
                "c"
            ),
            Ok(())
        );
        // Unlabelled (created by someone else, or before labels existed): not ours to judge.
        assert_eq!(
            namespace_owner("fw-x", Some(&BTreeMap::new()), "tenant-acme", "c"),
            Ok(())
        );
        let e = namespace_owner("fw-x", Some(&labels("tenant-b", "c")), "tenant-acme", "c")
            .unwrap_err();
        assert_eq!(e.reason(), "SeedNamespaceTaken");
        assert!(e.to_string().contains("ManagedCluster tenant-b/c"), "{e}");
    }
}
