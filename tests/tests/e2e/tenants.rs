//! Tenant module lifecycle (digest verification, last good module kept, reload on ConfigMap
//! change) and cluster deletion through the finalizer.

use std::time::Duration;

use anyhow::Result;
use fleetward_controller::core::provision::namespace_name;
use fleetward_controller::crd::{ConditionStatus, Tenant, TenantStatus};
use fleetward_tests::{Backend, Harness, PolicySpec, TenantPolicies};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;
use sha2::{Digest as _, Sha256};

fn digest(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

async fn status_where(
    h: &Harness,
    what: &str,
    f: impl Fn(&TenantStatus) -> bool,
) -> Result<TenantStatus> {
    let api: Api<Tenant> = Api::all(h.client.clone());
    h.wait_for(what, Duration::from_secs(300), || async {
        Ok(api.get("acme").await?.status.filter(|s| f(s)))
    })
    .await
}

fn ready(s: &TenantStatus) -> Option<(ConditionStatus, String, String)> {
    s.conditions
        .iter()
        .find(|c| c.type_ == "PoliciesReady")
        .map(|c| (c.status, c.reason.clone(), c.message.clone()))
}

crate::on_both_backends!(digest_mismatch_keeps_last_good_module_until_the_configmap_matches);

async fn digest_mismatch_keeps_last_good_module_until_the_configmap_matches(
    backend: Backend,
) -> Result<()> {
    crate::init_tracing();
    let Some(mut h) = Harness::on(
        backend,
        "digest_mismatch_keeps_last_good_module_until_the_configmap_matches",
    )
    .await?
    else {
        return Ok(());
    };
    h.seed("seed-0", "eu-west", 10).await?;
    let v1 = PolicySpec::file(fleetward_test_policies::PLACEMENT, json!({}));
    let d1 = digest(&v1.bytes);
    h.tenant(
        "acme",
        TenantPolicies {
            placement: Some(v1.clone()),
            ..Default::default()
        },
    )
    .await?;
    h.start_controller();
    let st = status_where(&h, "v1 loaded", |s| {
        s.loaded.get("placement").is_some_and(|m| m.digest == d1)
    })
    .await?;
    assert_eq!(ready(&st).map(|r| r.0), Some(ConditionStatus::True));

    // v2: the same module plus a custom section (valid, different digest).
    let mut v2 = v1.bytes.clone();
    v2.extend_from_slice(&[0, 5, 4, b't', b'e', b's', b't']);
    let d2 = digest(&v2);
    let tenants: Api<Tenant> = Api::all(h.client.clone());
    tenants
        .patch(
            "acme",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"placement": {"sha256": d2}}})),
        )
        .await?;
    let st = status_where(&h, "digest mismatch reported", |s| {
        ready(s).is_some_and(|r| r.0 == ConditionStatus::False)
    })
    .await?;
    let (_, reason, message) = ready(&st).unwrap();
    assert_eq!(reason, "DigestMismatch", "{message}");
    assert!(
        message.contains(&format!("still serving last good module {d1}")),
        "{message}"
    );
    let loaded = &st.loaded["placement"];
    assert!(loaded.stale && loaded.digest == d1, "{loaded:?}");
    // Placement keeps working on the last good module meanwhile.
    h.cluster("acme", "a1", "1.31.0", json!({})).await?;
    h.wait_all_at("1.31.0", 1, Duration::from_secs(900)).await?;
    assert!(
        h.decisions()
            .iter()
            .any(|d| d.tenant == "acme" && d.digest == d1)
    );

    // Publishing matching bytes reloads through the ConfigMap watch.
    h.put_module("acme-placement", &v2).await?;
    let st = status_where(&h, "v2 loaded", |s| {
        s.loaded
            .get("placement")
            .is_some_and(|m| m.digest == d2 && !m.stale)
    })
    .await?;
    assert_eq!(ready(&st).map(|r| r.0), Some(ConditionStatus::True));
    h.stop_controller().await;
    Ok(())
}

crate::on_both_backends!(deleting_a_cluster_removes_everything_it_created);

async fn deleting_a_cluster_removes_everything_it_created(backend: Backend) -> Result<()> {
    crate::init_tracing();
    let Some(mut h) =
        Harness::on(backend, "deleting_a_cluster_removes_everything_it_created").await?
    else {
        return Ok(());
    };
    h.seed("seed-0", "eu-west", 10).await?;
    h.tenant("acme", TenantPolicies::default()).await?;
    h.cluster("acme", "a1", "1.31.0", json!({})).await?;
    h.start_controller();
    h.wait_all_at("1.31.0", 1, Duration::from_secs(900)).await?;
    let ns = namespace_name("acme", "tenant-acme", "a1");
    let deployments: Api<Deployment> = Api::namespaced(h.client.clone(), &ns);
    assert_eq!(
        deployments.list(&ListParams::default()).await?.items.len(),
        3
    );
    h.clusters_in("acme")
        .delete("a1", &DeleteParams::default())
        .await?;
    h.wait_for(
        "cluster and children gone",
        Duration::from_secs(900),
        || async {
            let gone = h.clusters_in("acme").get_opt("a1").await?.is_none();
            let left = deployments.list(&ListParams::default()).await?.items.len();
            let nsgone = Api::<k8s_openapi::api::core::v1::Namespace>::all(h.client.clone())
                .get_opt(&ns)
                .await?
                .is_none_or(|n| n.metadata.deletion_timestamp.is_some());
            Ok((gone && left == 0 && nsgone).then_some(()))
        },
    )
    .await?;
    let seed = Api::<fleetward_controller::crd::Seed>::all(h.client.clone());
    h.wait_for("seed count back to 0", Duration::from_secs(60), || async {
        Ok((seed.get("seed-0").await?.status.map(|s| s.clusters) == Some(0)).then_some(()))
    })
    .await?;
    h.stop_controller().await;
    Ok(())
}
