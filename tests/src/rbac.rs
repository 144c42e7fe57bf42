//! The RBAC rules in `deploy/rbac.yaml`, read the way the API server's authoriser applies them,
//! and the requests an identity made (from the real API server's audit log) checked against
//! them. This is how the tests prove least privilege: every request allowed, every rule used
//! (or listed with a reason).

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use anyhow::{Context as _, Result};
use fleetward_testenv::audit::AuditEvent;
use serde_json::Value;

use crate::backend::read_manifest;

/// One permission: a verb on a resource (`name` or `name/subresource`) of an API group,
/// cluster-wide or in one namespace (a Role's).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    /// API group; empty for the core group.
    pub group: String,
    /// Plural resource, with `/subresource` where there is one.
    pub resource: String,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, …
    pub verb: String,
    /// `Some(ns)` for a Role's rule or a namespaced request, `None` cluster-wide.
    pub namespace: Option<String>,
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        write!(f, "{} {group}/{}", self.verb, self.resource)?;
        if let Some(ns) = &self.namespace {
            write!(f, " in {ns}")?;
        }
        Ok(())
    }
}

/// The rules of every ClusterRole and Role in a manifest, expanded to one [`Permission`] each
/// (a ClusterRole's are cluster-wide; a Role's carry its namespace).
///
/// # Errors
/// An unreadable manifest, or a rule using `*` or `resourceNames` (which this reading does not
/// model: least privilege forbids the first; add support before using the second).
pub fn granted(manifest: &Path) -> Result<BTreeSet<Permission>> {
    let mut out = BTreeSet::new();
    for doc in read_manifest(manifest)? {
        let namespace = match doc["kind"].as_str() {
            Some("ClusterRole") => None,
            Some("Role") => Some(
                doc["metadata"]["namespace"]
                    .as_str()
                    .context("a Role without metadata.namespace")?
                    .to_string(),
            ),
            _ => continue,
        };
        for rule in doc["rules"].as_array().into_iter().flatten() {
            anyhow::ensure!(
                rule.get("resourceNames").is_none(),
                "resourceNames in {rule} is not modelled"
            );
            for group in strings(&rule["apiGroups"])? {
                for resource in strings(&rule["resources"])? {
                    for verb in strings(&rule["verbs"])? {
                        anyhow::ensure!(
                            [&group, &resource, &verb].iter().all(|s| *s != "*"),
                            "wildcard in {rule}: least privilege names each verb and resource"
                        );
                        out.insert(Permission {
                            group: group.clone(),
                            resource: resource.clone(),
                            verb,
                            namespace: namespace.clone(),
                        });
                    }
                }
            }
        }
    }
    Ok(out)
}

fn strings(v: &Value) -> Result<Vec<String>> {
    v.as_array()
        .with_context(|| format!("expected a list, got {v}"))?
        .iter()
        .map(|s| s.as_str().map(str::to_string).context("expected a string"))
        .collect()
}

/// The permissions a resource request needed (none for non-resource URLs such as `/readyz`).
///
/// A patch that created its object (server-side apply of a new object, answered 201) was
/// authorised as `create` as well as `patch` (kube-apiserver's patch handler checks both).
pub fn needed(event: &AuditEvent) -> Vec<Permission> {
    let Some((group, resource)) = event.rbac_resource() else {
        return Vec::new();
    };
    let namespace = event.object_ref.as_ref().and_then(|o| o.namespace.clone());
    let permission = |verb: &str| Permission {
        group: group.clone(),
        resource: resource.clone(),
        verb: verb.to_string(),
        namespace: namespace.clone(),
    };
    let mut out = vec![permission(&event.verb)];
    if event.verb == "patch" && event.code() == Some(201) {
        out.push(permission("create"));
    }
    out
}

/// Whether `grants` allow `request` (a cluster-wide grant covers every namespace).
pub fn allows(grants: &BTreeSet<Permission>, request: &Permission) -> bool {
    grants.contains(request)
        || grants.contains(&Permission {
            namespace: None,
            ..request.clone()
        })
}

/// The grants no request used: a grant is used by a request it allows.
pub fn unused<'a>(
    grants: &'a BTreeSet<Permission>,
    requests: &BTreeSet<Permission>,
) -> Vec<&'a Permission> {
    grants
        .iter()
        .filter(|g| {
            !requests.iter().any(|r| {
                r.group == g.group
                    && r.resource == g.resource
                    && r.verb == g.verb
                    && (g.namespace.is_none() || g.namespace == r.namespace)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(group: &str, resource: &str, verb: &str, ns: Option<&str>) -> Permission {
        Permission {
            group: group.into(),
            resource: resource.into(),
            verb: verb.into(),
            namespace: ns.map(str::to_string),
        }
    }

    #[test]
    fn deploy_rbac_expands_to_named_permissions() {
        let g = granted(&crate::repo_root().join("deploy/rbac.yaml")).unwrap();
        assert!(g.contains(&p(
            "fleetward.dev",
            "managedclusters/status",
            "update",
            None
        )));
        assert!(g.contains(&p(
            "coordination.k8s.io",
            "leases",
            "update",
            Some("fleetward-system")
        )));
        assert!(!g.contains(&p("", "secrets", "get", None)));
    }

    #[test]
    fn a_cluster_grant_covers_namespaces_and_a_role_only_its_own() {
        let grants: BTreeSet<_> = [
            p("", "services", "get", None),
            p("coordination.k8s.io", "leases", "get", Some("sys")),
        ]
        .into();
        assert!(allows(&grants, &p("", "services", "get", Some("x"))));
        assert!(allows(
            &grants,
            &p("coordination.k8s.io", "leases", "get", Some("sys"))
        ));
        assert!(!allows(
            &grants,
            &p("coordination.k8s.io", "leases", "get", Some("x"))
        ));
        assert!(!allows(&grants, &p("", "services", "delete", Some("x"))));
        let used: BTreeSet<_> = [p("", "services", "get", Some("x"))].into();
        assert_eq!(
            unused(&grants, &used),
            [&p("coordination.k8s.io", "leases", "get", Some("sys"))]
        );
    }

    fn event(verb: &str, code: u16) -> AuditEvent {
        serde_json::from_value(serde_json::json!({
            "stage": "ResponseComplete",
            "verb": verb,
            "requestURI": "/apis/apps/v1/namespaces/x/deployments/d?fieldManager=fleetward",
            "user": {"username": "u"},
            "objectRef": {"resource": "deployments", "apiGroup": "apps", "namespace": "x", "name": "d"},
            "responseStatus": {"code": code},
        }))
        .unwrap()
    }

    #[test]
    fn an_apply_that_created_needed_create_too() {
        assert_eq!(
            needed(&event("patch", 201)),
            [
                p("apps", "deployments", "patch", Some("x")),
                p("apps", "deployments", "create", Some("x"))
            ]
        );
        assert_eq!(
            needed(&event("patch", 200)),
            [p("apps", "deployments", "patch", Some("x"))]
        );
    }
}
