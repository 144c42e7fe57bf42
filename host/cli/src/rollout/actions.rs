//! The writes behind `rollout pause|resume|approve|abort`, and the checks before them.
//!
//! Every command reads first and writes once: the checks (does the tenant exist, does the cluster
//! belong to it, was the gate requested in this rollout, is the namespace the tenant's) are pure
//! functions of what was read, so a refused command has changed nothing. Pause, resume and abort
//! are JSON merge patches of only the fields they own, so they never overwrite a concurrent edit
//! of the rest of the spec (GitOps may own the other fields).

use fleetward_controller::crd::{
    ManagedCluster, RolloutApproval, RolloutApprovalSpec, RolloutState, TENANT_LABEL, Tenant,
};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::exit::CliError;

/// A refusal the operator can fix (exit 2).
fn refuse(message: impl Into<String>) -> CliError {
    CliError::Usage(message.into())
}

/// An API failure (exit 1).
fn api(what: String) -> impl FnOnce(kube::Error) -> CliError {
    move |e| CliError::runtime(format!("{what}: {e}"))
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Reads the Tenant, or refuses with "tenant not found".
pub async fn tenant(client: &Client, name: &str) -> Result<Tenant, CliError> {
    match Api::<Tenant>::all(client.clone()).get(name).await {
        Ok(t) => Ok(t),
        Err(e) if is_not_found(&e) => Err(refuse(format!(
            "tenant \"{name}\" not found (kubectl get tenants lists them)"
        ))),
        Err(e) => Err(api(format!("cannot read tenant \"{name}\""))(e)),
    }
}

/// The patch that pauses (`Some(reason, by)`) or resumes (`None`) the tenant.
pub fn tenant_pause_patch(pause: Option<(Option<&str>, &str)>) -> Value {
    match pause {
        Some((reason, by)) => {
            json!({"spec": {"rollout": {"paused": true, "pauseReason": reason, "pausedBy": by}}})
        }
        None => {
            json!({"spec": {"rollout": {"paused": false, "pauseReason": null, "pausedBy": null}}})
        }
    }
}

/// Pauses or resumes the tenant; returns the line to print.
pub async fn pause_tenant(
    client: &Client,
    name: &str,
    pause: Option<(Option<&str>, &str)>,
) -> Result<String, CliError> {
    tenant(client, name).await?;
    let patch = tenant_pause_patch(pause);
    Api::<Tenant>::all(client.clone())
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api(format!("cannot patch tenant \"{name}\"")))?;
    Ok(match pause {
        Some((_, by)) => format!(
            "tenant {name}: rollout paused by {by} (no new upgrade step starts; steps in flight finish)"
        ),
        None => format!("tenant {name}: rollout resumed"),
    })
}

/// `NS/NAME` split, or a refusal.
pub fn split_cluster(s: &str) -> Result<(&str, &str), CliError> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns, name))
        }
        _ => Err(refuse(format!(
            "--cluster {s}: expected NAMESPACE/NAME of a ManagedCluster"
        ))),
    }
}

/// Pauses (`true`) or resumes one cluster of the tenant (`spec.pauseUpgrades`).
pub async fn pause_cluster(
    client: &Client,
    tenant_name: &str,
    cluster: &str,
    pause: bool,
) -> Result<String, CliError> {
    let (ns, name) = split_cluster(cluster)?;
    tenant(client, tenant_name).await?;
    let clusters: Api<ManagedCluster> = Api::namespaced(client.clone(), ns);
    let mc = match clusters.get(name).await {
        Ok(mc) => mc,
        Err(e) if is_not_found(&e) => {
            return Err(refuse(format!("ManagedCluster {cluster} not found")));
        }
        Err(e) => return Err(api(format!("cannot read ManagedCluster {cluster}"))(e)),
    };
    if mc.spec.tenant != tenant_name {
        return Err(refuse(format!(
            "ManagedCluster {cluster} belongs to tenant \"{}\", not \"{tenant_name}\"",
            mc.spec.tenant
        )));
    }
    let patch = json!({"spec": {"pauseUpgrades": pause}});
    clusters
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api(format!("cannot patch ManagedCluster {cluster}")))?;
    Ok(if pause {
        format!("cluster {cluster}: upgrades paused (a step in flight finishes)")
    } else {
        format!("cluster {cluster}: upgrades resumed")
    })
}

/// What abort checks: the id of the rollout to abort, or why not.
pub fn abort_target(t: &Tenant) -> Result<String, CliError> {
    let name = t.name_any();
    let Some(r) = t.status.as_ref().and_then(|s| s.rollout.as_ref()) else {
        return Err(refuse(format!(
            "tenant \"{name}\" has no rollout in progress (the controller has not written \
             status.rollout yet)"
        )));
    };
    match r.state {
        RolloutState::Complete => Err(refuse(format!(
            "rollout {} of tenant \"{name}\" is complete: nothing to abort",
            r.id
        ))),
        RolloutState::Aborted => Err(refuse(format!(
            "rollout {} of tenant \"{name}\" is already aborted{}",
            r.id,
            r.aborted
                .as_ref()
                .map(|a| format!(" (by {} at {})", a.by, a.at))
                .unwrap_or_default()
        ))),
        RolloutState::Progressing | RolloutState::Paused => match &t.spec.rollout.abort {
            Some(a) if a.rollout == r.id => Err(refuse(format!(
                "rollout {} of tenant \"{name}\" is already being aborted (by {})",
                r.id, a.by
            ))),
            _ => Ok(r.id.clone()),
        },
    }
}

/// Sets `spec.rollout.abort` for the current rollout.
pub async fn abort(
    client: &Client,
    name: &str,
    by: &str,
    reason: &str,
) -> Result<String, CliError> {
    let t = tenant(client, name).await?;
    let id = abort_target(&t)?;
    let patch =
        json!({"spec": {"rollout": {"abort": {"rollout": id, "by": by, "reason": reason}}}});
    Api::<Tenant>::all(client.clone())
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api(format!("cannot patch tenant \"{name}\"")))?;
    Ok(format!(
        "tenant {name}: rollout {id} aborted by {by} (no new step starts; steps in flight finish; \
         no cluster is downgraded)"
    ))
}

/// What `approve` was asked.
#[derive(Clone, Debug)]
pub struct ApproveArgs<'a> {
    /// Tenant.
    pub tenant: &'a str,
    /// Gate.
    pub gate: &'a str,
    /// Approver.
    pub by: &'a str,
    /// `--namespace`.
    pub namespace: Option<&'a str>,
    /// `--comment`.
    pub comment: &'a str,
    /// `--rollout`.
    pub rollout: Option<&'a str>,
}

/// The rollout id to approve and, when the gate is known, the namespace of its first waiting
/// cluster; or why the approval is refused.
pub fn approval_target(
    t: &Tenant,
    a: &ApproveArgs<'_>,
) -> Result<(String, Option<String>), CliError> {
    let name = a.tenant;
    if !is_dns_label(a.gate) {
        return Err(refuse(format!(
            "gate \"{}\" is not a valid gate name (lowercase letters, digits and '-', at most 63, \
             as status.rollout.gates[].name shows it)",
            a.gate
        )));
    }
    let Some(r) = t.status.as_ref().and_then(|s| s.rollout.as_ref()) else {
        return Err(refuse(format!(
            "tenant \"{name}\" has no rollout status yet: no gate has been requested (the \
             controller writes status.rollout when it plans the tenant's upgrades)"
        )));
    };
    let id = a.rollout.unwrap_or(&r.id).to_string();
    if id != r.id {
        // Approving ahead for another rollout: its gates cannot be known yet.
        return Ok((id, None));
    }
    let gate = r.gates.iter().find(|g| g.name == a.gate);
    match gate {
        None => {
            let pending: Vec<&str> = r
                .gates
                .iter()
                .filter(|g| g.approved.is_none())
                .map(|g| g.name.as_str())
                .collect();
            Err(refuse(format!(
                "gate \"{}\" was not requested in rollout {} of tenant \"{name}\" (pending gates: \
                 {}); to approve a gate of another rollout ahead of time, pass --rollout ID",
                a.gate,
                r.id,
                if pending.is_empty() {
                    "none".to_string()
                } else {
                    pending.join(", ")
                }
            )))
        }
        Some(g) => match &g.approved {
            Some(ap) => Err(refuse(format!(
                "gate \"{}\" of rollout {} of tenant \"{name}\" is already approved by {} at {} \
                 ({})",
                g.name, r.id, ap.by, ap.at, ap.approval
            ))),
            None => Ok((
                id,
                g.clusters
                    .first()
                    .and_then(|c| c.split_once('/'))
                    .map(|(ns, _)| ns.to_string()),
            )),
        },
    }
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, at most 63 characters: the CRD's pattern for a gate.
fn is_dns_label(s: &str) -> bool {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| ok(c) || c == '-')
        && s.starts_with(ok)
        && s.ends_with(ok)
}

/// Whether the namespace's tenant label allows an approval for `tenant`.
pub fn check_namespace(ns: &Namespace, tenant: &str) -> Result<(), CliError> {
    let name = ns.name_any();
    match ns.labels().get(TENANT_LABEL) {
        Some(t) if t == tenant => Ok(()),
        Some(other) => Err(refuse(format!(
            "namespace {name} belongs to tenant \"{other}\", not \"{tenant}\": tenants cannot \
             approve for each other"
        ))),
        None => Err(refuse(format!(
            "namespace {name} has no {TENANT_LABEL} label: an approval counts only in a namespace \
             of its tenant"
        ))),
    }
}

/// The approval object's name: `<gate>-<rollout id>`, made a valid object name (`1.32.0` stays,
/// `,` and `:` become `-`), so approving twice is refused by the API server rather than filed
/// twice.
pub fn approval_name(gate: &str, rollout: &str) -> String {
    let raw = format!("{gate}-{rollout}").to_ascii_lowercase();
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.truncate(253);
    name.trim_end_matches(['-', '.']).to_string()
}

/// Creates the RolloutApproval; returns the line to print.
pub async fn approve(client: &Client, a: &ApproveArgs<'_>) -> Result<String, CliError> {
    let t = tenant(client, a.tenant).await?;
    let (rollout, waiting_ns) = approval_target(&t, a)?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = match a.namespace {
        Some(ns) => {
            let obj = match namespaces.get(ns).await {
                Ok(o) => o,
                Err(e) if is_not_found(&e) => {
                    return Err(refuse(format!("namespace {ns} not found")));
                }
                Err(e) => return Err(api(format!("cannot read namespace {ns}"))(e)),
            };
            check_namespace(&obj, a.tenant)?;
            ns.to_string()
        }
        None => match waiting_ns {
            Some(ns) => ns,
            None => {
                let lp = ListParams::default().labels(&format!("{TENANT_LABEL}={}", a.tenant));
                let mut names: Vec<String> = namespaces
                    .list(&lp)
                    .await
                    .map_err(api("cannot list namespaces".into()))?
                    .into_iter()
                    // The label selector is the server's; check again so nothing depends on it.
                    .filter(|n| check_namespace(n, a.tenant).is_ok())
                    .map(|n| n.name_any())
                    .collect();
                names.sort();
                names.into_iter().next().ok_or_else(|| {
                    refuse(format!(
                        "no namespace is labelled {TENANT_LABEL}={}: pass --namespace",
                        a.tenant
                    ))
                })?
            }
        },
    };
    let name = approval_name(a.gate, &rollout);
    let approval = RolloutApproval::new(
        &name,
        RolloutApprovalSpec {
            tenant: a.tenant.to_string(),
            gate: a.gate.to_string(),
            rollout: rollout.clone(),
            approver: a.by.to_string(),
            comment: a.comment.to_string(),
        },
    );
    let api_ns: Api<RolloutApproval> = Api::namespaced(client.clone(), &ns);
    match api_ns.create(&PostParams::default(), &approval).await {
        Ok(_) => Ok(format!(
            "created RolloutApproval {ns}/{name}: gate {} of rollout {rollout} of tenant {} \
             approved by {}",
            a.gate, a.tenant, a.by
        )),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let by = api_ns
                .get(&name)
                .await
                .map(|o| o.spec.approver)
                .unwrap_or_else(|_| "someone".into());
            Err(refuse(format!(
                "RolloutApproval {ns}/{name} already exists (approved by {by}): gate {} of \
                 rollout {rollout} is already approved",
                a.gate
            )))
        }
        Err(e) => Err(api(format!("cannot create RolloutApproval in {ns}"))(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(status: Value) -> Tenant {
        serde_json::from_value(json!({
            "apiVersion": "fleetward.dev/v1alpha1", "kind": "Tenant",
            "metadata": {"name": "t1"}, "spec": {}, "status": status
        }))
        .unwrap()
    }

    fn message(r: Result<impl std::fmt::Debug, CliError>) -> String {
        match r {
            Err(CliError::Usage(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn args<'a>(gate: &'a str, rollout: Option<&'a str>) -> ApproveArgs<'a> {
        ApproveArgs {
            tenant: "t1",
            gate,
            by: "carol",
            namespace: None,
            comment: "",
            rollout,
        }
    }

    #[test]
    fn approval_names_are_valid_object_names() {
        assert_eq!(approval_name("prod", "1.32.0"), "prod-1.32.0");
        assert_eq!(approval_name("prod", "1.31.4,1.32.0"), "prod-1.31.4-1.32.0");
        assert_eq!(
            approval_name("prod", "sha256:abcdef012345"),
            "prod-sha256-abcdef012345"
        );
    }

    #[test]
    fn approval_target_checks_the_gate_of_this_rollout() {
        let t = tenant(
            json!({"rollout": {"id": "1.32.0", "state": "Progressing", "gates": [
                {"name": "prod", "clusters": ["team-b/b1", "team-c/c1"], "since": "x"},
                {"name": "stage", "since": "x", "approved": {"by": "al", "at": "T", "approval": "n/a"}}
            ]}}),
        );
        assert_eq!(
            approval_target(&t, &args("prod", None)).unwrap(),
            ("1.32.0".to_string(), Some("team-b".to_string()))
        );
        let m = message(approval_target(&t, &args("qa", None)));
        assert!(
            m.contains("(pending gates: prod)") && m.contains("--rollout"),
            "{m}"
        );
        let m = message(approval_target(&t, &args("stage", None)));
        assert!(m.contains("already approved by al at T (n/a)"), "{m}");
        // Ahead of time for another rollout: not checked against this one's gates.
        assert_eq!(
            approval_target(&t, &args("qa", Some("1.33.0"))).unwrap(),
            ("1.33.0".to_string(), None)
        );
        let m = message(approval_target(&t, &args("Prod", Some("1.33.0"))));
        assert!(m.contains("not a valid gate name"), "{m}");
        for bad in ["", "-a", "a-", "a_b", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
        assert!(is_dns_label("prod-eu-1"));
        let m = message(approval_target(&tenant(json!({})), &args("prod", None)));
        assert!(m.contains("no rollout status yet"), "{m}");
    }

    #[test]
    fn abort_needs_a_rollout_in_progress() {
        for (state, ok) in [
            ("Progressing", true),
            ("Paused", true),
            ("Complete", false),
            ("Aborted", false),
        ] {
            let t = tenant(json!({"rollout": {"id": "1.32.0", "state": state}}));
            assert_eq!(abort_target(&t).is_ok(), ok, "{state}");
        }
        assert!(message(abort_target(&tenant(json!({})))).contains("no rollout in progress"));
    }

    #[test]
    fn namespaces_of_other_tenants_are_refused() {
        let ns = |labels: Value| -> Namespace {
            serde_json::from_value(json!({"metadata": {"name": "n", "labels": labels}})).unwrap()
        };
        assert!(check_namespace(&ns(json!({TENANT_LABEL: "t1"})), "t1").is_ok());
        let m = message(check_namespace(&ns(json!({TENANT_LABEL: "t2"})), "t1"));
        assert!(m.contains("tenants cannot approve for each other"), "{m}");
        assert!(message(check_namespace(&ns(json!({})), "t1")).contains("no fleetward.dev/tenant"));
    }

    #[test]
    fn cluster_flags_and_patches() {
        assert_eq!(split_cluster("a/b").unwrap(), ("a", "b"));
        for bad in ["a", "/b", "a/", "a/b/c"] {
            assert!(split_cluster(bad).is_err(), "{bad}");
        }
        assert_eq!(
            tenant_pause_patch(None),
            json!({"spec": {"rollout": {"paused": false, "pauseReason": null, "pausedBy": null}}})
        );
        assert_eq!(
            tenant_pause_patch(Some((None, "al"))),
            json!({"spec": {"rollout": {"paused": true, "pauseReason": null, "pausedBy": "al"}}})
        );
    }
}
