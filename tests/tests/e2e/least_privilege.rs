//! Least privilege, proven on the real API server: the controller runs a whole lifecycle —
//! leader election, placement by a tenant policy, provisioning, a rollout, remediation (restart,
//! escalation, machine recreation), Events, finalizer-driven deletion — as the ServiceAccount
//! `deploy/rbac.yaml` binds. The audit log then shows every request it made: none may be
//! refused, each must be allowed by a rule, and each rule must be used or be listed below with
//! the reason it is kept.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context as _, Result};
use fleetward_controller::core::provision::namespace_name;
use fleetward_controller::crd::Tenant;
use fleetward_controller::leader::{LeaderElector, LeaseConfig};
use fleetward_controller::reconcile::Settings;
use fleetward_sdk::wire::{Component, RemediationAction};
use fleetward_tests::rbac::{self, Permission};
use fleetward_tests::{
    Backend, CONTROLLER_SERVICE_ACCOUNT, Harness, PolicySpec, TenantPolicies, repo_root,
};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use serde_json::json;

/// Rules in deploy/rbac.yaml that this lifecycle does not exercise, and why each stays.
/// (verb, group, resource); a rule that is unused and not here fails the test, and so does an
/// entry here that the controller did use (the list must stay true).
const KEPT_UNUSED: &[(&str, &str, &str, &str)] = &[
    (
        "get",
        "",
        "secrets",
        "reads a remote seed's kubeconfig; this lifecycle has local seeds only (seeds.rs covers remote ones)",
    ),
    (
        "update",
        "fleetward.dev",
        "rolloutapprovals/status",
        "writes a RolloutApproval's Accepted condition; this lifecycle approves nothing (rollout.rs covers approvals)",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_needs_exactly_the_rbac_in_deploy() -> Result<()> {
    crate::init_tracing();
    let settings = Settings {
        unhealthy_threshold: Duration::from_secs(2),
        ..Settings::default()
    };
    let Some(mut h) = Harness::on_with_settings(
        Backend::RealApiServer,
        "the_controller_needs_exactly_the_rbac_in_deploy",
        settings,
    )
    .await?
    else {
        return Ok(());
    };
    // Leader election as `fleetward run` does it: create, renew, release the Lease.
    let elector = LeaderElector::new(
        h.controller_client().clone(),
        LeaseConfig::new("fleetward-system", "least-privilege"),
    );
    assert!(elector.try_acquire_or_renew().await?, "creates the lease");
    assert!(elector.try_acquire_or_renew().await?, "renews it");
    elector.release().await?;

    h.seed("seed-0", "eu-west", 10).await?;
    h.seed("seed-1", "us-east", 10).await?;
    h.tenant(
        "acme",
        TenantPolicies {
            placement: Some(PolicySpec::file(
                fleetward_test_policies::PLACEMENT,
                json!({"preferred_regions": ["us-east"]}),
            )),
            remediation: Some(PolicySpec::file(
                fleetward_test_policies::REMEDIATION,
                json!({"grace_minutes": 0, "max_restarts": 1, "backoff_base_minutes": 0,
                    "backoff_max_minutes": 0, "escalate_after_minutes": null}),
            )),
            ..Default::default()
        },
    )
    .await?;
    h.cluster("acme", "a1", "1.31.0", json!({})).await?;
    h.start_controller();
    let budget = Duration::from_secs(90);
    h.wait_all_at("1.31.0", 1, budget).await?;
    // The same cause again is counted on its Event (a patch of series.count): a config change
    // reloads the same module, and 'PolicyLoaded placement: <digest>' happens a second time.
    Api::<Tenant>::all(h.client.clone())
        .patch(
            "acme",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"placement": {"config": {"preferred_regions": ["eu-west"]}}}}),
            ),
        )
        .await?;
    h.wait_for(
        "PolicyLoaded counted twice on one Event",
        budget,
        || async {
            let events = Api::<Event>::all(h.client.clone())
                .list(&ListParams::default())
                .await?
                .items;
            Ok(events
                .iter()
                .any(|e| {
                    e.reason.as_deref() == Some("PolicyLoaded")
                        && e.series.as_ref().is_some_and(|s| s.count >= 2)
                })
                .then_some(()))
        },
    )
    .await?;
    h.bump_all("1.31.1").await?;
    h.wait_all_at("1.31.1", 1, budget).await?;

    let ns = namespace_name("acme", "tenant-acme", "a1");
    let machines: Api<DynamicObject> = Api::namespaced_with(
        h.client.clone(),
        &ns,
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "cluster.x-k8s.io",
            "v1beta1",
            "Machine",
        )),
    );
    // The rollout replaced the pool's Machines; pick one of the new ones once the old are gone.
    let failed = h
        .wait_for("the rolled pool's two Machines", budget, || async {
            let items = machines.list(&ListParams::default()).await?.items;
            let settled = items.len() == 2
                && items
                    .iter()
                    .all(|m| m.metadata.deletion_timestamp.is_none());
            Ok(settled.then(|| items[0].name_any()))
        })
        .await?;
    // A broken Machine first, so the ladder recreates it (get + delete of a Machine) before
    // etcd's restarts run out and the escalation pauses everything else.
    h.infra.break_machine(&ns, &failed);
    h.wait_for("the broken machine recreated", budget, || async {
        let c = h.clusters_in("acme").get("a1").await?;
        let recreated = c.status.as_ref().is_some_and(|s| {
            s.remediation_history.iter().any(|r| {
                matches!(r.action, RemediationAction::RecreateMachine { .. })
                    && matches!(&r.component, Component::Machine { name, .. } if *name == failed)
            })
        });
        let gone = machines
            .get_opt(&failed)
            .await?
            .is_none_or(|m| m.metadata.deletion_timestamp.is_some());
        Ok((recreated && gone).then_some(()))
    })
    .await?;
    h.infra.break_workload(&ns, "etcd");
    h.wait_for("etcd restarted, then escalated", budget, || async {
        let c = h.clusters_in("acme").get("a1").await?;
        Ok(c.status
            .as_ref()
            .is_some_and(|s| s.upgrades_paused)
            .then_some(()))
    })
    .await?;

    h.clusters_in("acme")
        .delete("a1", &DeleteParams::default())
        .await?;
    h.wait_for("a1 and its namespace deleted", budget, || async {
        let gone = h.clusters_in("acme").get_opt("a1").await?.is_none();
        let ns_going = Api::<Namespace>::all(h.client.clone())
            .get_opt(&ns)
            .await?
            .is_none_or(|n| n.metadata.deletion_timestamp.is_some());
        Ok((gone && ns_going).then_some(()))
    })
    .await?;
    h.stop_controller().await;

    let (sa_ns, sa_name) = CONTROLLER_SERVICE_ACCOUNT;
    let user = format!("system:serviceaccount:{sa_ns}:{sa_name}");
    let events = h
        .real_cluster()
        .context("a real API server")?
        .server()
        .audit_events()?;
    let mine: Vec<_> = events
        .iter()
        .filter(|e| e.user.username == user && e.stage != "RequestReceived")
        .collect();
    assert!(
        mine.len() > 50,
        "the audit log holds the controller's requests ({} found)",
        mine.len()
    );
    let refused: Vec<String> = mine
        .iter()
        .filter(|e| e.code() == Some(403))
        .map(|e| format!("{} {}", e.verb, e.request_uri))
        .collect();
    assert!(
        refused.is_empty(),
        "requests deploy/rbac.yaml does not allow:\n{}",
        refused.join("\n")
    );
    let grants = rbac::granted(&repo_root().join("deploy/rbac.yaml"))?;
    let used: BTreeSet<Permission> = mine.iter().flat_map(|e| rbac::needed(e)).collect();
    let not_granted: Vec<String> = used
        .iter()
        .filter(|p| !rbac::allows(&grants, p))
        .map(ToString::to_string)
        .collect();
    assert!(
        not_granted.is_empty(),
        "allowed by the server but by no rule in deploy/rbac.yaml (another binding?):\n{}",
        not_granted.join("\n")
    );
    let unused: Vec<&Permission> = rbac::unused(&grants, &used);
    let listed = |p: &Permission| {
        KEPT_UNUSED.iter().any(|(verb, group, resource, _)| {
            p.verb == *verb && p.group == *group && p.resource == *resource
        })
    };
    let unexplained: Vec<String> = unused
        .iter()
        .filter(|p| !listed(p))
        .map(ToString::to_string)
        .collect();
    eprintln!(
        "least privilege: {} requests by {user}, {} distinct permissions used, {} of {} rules unused:\n  {}",
        mine.len(),
        used.len(),
        unused.len(),
        grants.len(),
        unused
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    assert!(
        unexplained.is_empty(),
        "rules in deploy/rbac.yaml the controller never used: remove them, or list them in \
         KEPT_UNUSED with the reason they stay:\n{}",
        unexplained.join("\n")
    );
    let stale: Vec<String> = KEPT_UNUSED
        .iter()
        .filter(|(verb, group, resource, _)| {
            !unused
                .iter()
                .any(|p| p.verb == *verb && p.group == *group && p.resource == *resource)
        })
        .map(|(verb, group, resource, _)| format!("{verb} {group}/{resource}"))
        .collect();
    assert!(
        stale.is_empty(),
        "KEPT_UNUSED lists rules the controller did use: {stale:?}"
    );
    Ok(())
}
