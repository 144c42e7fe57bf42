//! Deleting a Seed or a Tenant that clusters still use (docs/operating.md, "Deleting seeds and
//! tenants"): the deletion waits, behind a finalizer, until the last cluster holding it is gone;
//! the Seed or Tenant says which clusters hold it, each of those clusters says its Seed or
//! Tenant is being deleted within seconds, nothing new is placed on a Seed being deleted, and a
//! cluster's seed never changes. A Seed or Tenant whose finalizer is removed by hand is noticed
//! by its clusters within seconds too.

use std::time::Duration;

use anyhow::Result;
use fleetward_controller::core::provision::namespace_name;
use fleetward_controller::crd::{Condition, ConditionStatus, ManagedCluster, Seed, Tenant};
use fleetward_tests::events::warnings_about;
use fleetward_tests::{Backend, Harness, TenantPolicies};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

const SEED_FINALIZER: &str = "fleetward.dev/seed-in-use";
const TENANT_FINALIZER: &str = "fleetward.dev/tenant-in-use";

/// How long a cluster may take to notice its Seed or Tenant going: seconds, not a resync.
const NOTICE: Duration = Duration::from_secs(10);

fn condition(conditions: &[Condition], type_: &str) -> Option<Condition> {
    conditions.iter().find(|c| c.type_ == type_).cloned()
}

async fn cluster_condition(
    h: &Harness,
    tenant: &str,
    name: &str,
    type_: &str,
) -> Result<Option<Condition>> {
    let mc: ManagedCluster = h.clusters_in(tenant).get(name).await?;
    Ok(mc
        .status
        .and_then(|s| condition(&s.conditions, type_))
        .filter(|c| c.status == ConditionStatus::True || type_ == "SeedReachable"))
}

async fn has_finalizer<K>(api: &Api<K>, name: &str, fin: &str) -> Result<Option<()>>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    Ok(api
        .get(name)
        .await?
        .finalizers()
        .iter()
        .any(|f| f == fin)
        .then_some(()))
}

crate::on_both_backends!(deleting_a_seed_or_tenant_waits_for_its_clusters);

async fn deleting_a_seed_or_tenant_waits_for_its_clusters(backend: Backend) -> Result<()> {
    crate::init_tracing();
    let Some(mut h) =
        Harness::on(backend, "deleting_a_seed_or_tenant_waits_for_its_clusters").await?
    else {
        return Ok(());
    };
    h.seed("seed-0", "eu-west", 10).await?;
    h.tenant("acme", TenantPolicies::default()).await?;
    h.cluster("acme", "a1", "1.31.0", json!({})).await?;
    h.cluster("acme", "a2", "1.31.0", json!({})).await?;
    h.start_controller();
    h.wait_all_at("1.31.0", 2, Duration::from_secs(900)).await?;
    let seeds: Api<Seed> = Api::all(h.client.clone());
    let tenants: Api<Tenant> = Api::all(h.client.clone());
    h.wait_for("finalizers on the Seed and the Tenant", NOTICE, || async {
        Ok(has_finalizer(&seeds, "seed-0", SEED_FINALIZER)
            .await?
            .and(has_finalizer(&tenants, "acme", TENANT_FINALIZER).await?))
    })
    .await?;

    // The Seed: deletion accepted, but it stays while a1 and a2 are placed on it.
    seeds.delete("seed-0", &DeleteParams::default()).await?;
    let blocked = h
        .wait_for("the Seed reports what holds it", NOTICE, || async {
            let s = seeds.get("seed-0").await?;
            Ok(s.status
                .and_then(|st| condition(&st.conditions, "DeletionBlocked"))
                .filter(|c| c.status == ConditionStatus::True))
        })
        .await?;
    assert_eq!(blocked.reason, "ClustersPlaced");
    assert!(
        blocked.message.contains(
            "deletion of Seed seed-0 waits for 2 ManagedCluster(s) placed on it: tenant-acme/a1, tenant-acme/a2;"
        ),
        "{}",
        blocked.message
    );
    for c in ["a1", "a2"] {
        let cond = h
            .wait_for(
                &format!("{c} says its seed is being deleted"),
                NOTICE,
                || cluster_condition(&h, "acme", c, "SeedDeleting"),
            )
            .await?;
        assert!(
            cond.message
                .contains("Seed seed-0 is being deleted and waits for this cluster"),
            "{}",
            cond.message
        );
    }
    assert_eq!(
        warnings_about(&h.client, "Seed", "seed-0", "DeletionBlocked").await?,
        1
    );
    // Nothing new is placed on a Seed being deleted.
    h.cluster("acme", "a3", "1.31.0", json!({})).await?;
    let placed = h
        .wait_for("a3 reports why it is not placed", NOTICE, || async {
            Ok(h.clusters_in("acme")
                .get("a3")
                .await?
                .status
                .and_then(|s| condition(&s.conditions, "Placed"))
                .filter(|c| c.reason == "NoCandidateSeed"))
        })
        .await?;
    assert!(
        placed.message.contains("seed-0 being deleted"),
        "{}",
        placed.message
    );

    // The Tenant: the same, held by its three clusters.
    tenants.delete("acme", &DeleteParams::default()).await?;
    let blocked = h
        .wait_for("the Tenant reports what holds it", NOTICE, || async {
            let t = tenants.get("acme").await?;
            Ok(t.status
                .and_then(|st| condition(&st.conditions, "DeletionBlocked"))
                .filter(|c| c.status == ConditionStatus::True))
        })
        .await?;
    assert_eq!(blocked.reason, "ClustersExist");
    assert!(
        blocked.message.contains(
            "deletion of Tenant acme waits for 3 ManagedCluster(s) of this tenant: tenant-acme/a1, tenant-acme/a2, tenant-acme/a3;"
        ),
        "{}",
        blocked.message
    );
    h.wait_for("a1 says its tenant is being deleted", NOTICE, || {
        cluster_condition(&h, "acme", "a1", "TenantDeleting")
    })
    .await?;
    // The clusters keep their seed meanwhile.
    for c in h.all_clusters().await? {
        if c.name_any() != "a3" {
            assert_eq!(
                c.status.as_ref().and_then(|s| s.seed.as_deref()),
                Some("seed-0"),
                "{}",
                c.name_any()
            );
        }
    }

    // Deleting the clusters lets both go.
    for c in ["a1", "a2", "a3"] {
        h.clusters_in("acme")
            .delete(c, &DeleteParams::default())
            .await?;
    }
    h.wait_for(
        "clusters, Seed and Tenant gone",
        Duration::from_secs(300),
        || async {
            let clusters = h.all_clusters().await?.len();
            let seed = seeds.get_opt("seed-0").await?.is_none();
            let tenant = tenants.get_opt("acme").await?.is_none();
            Ok((clusters == 0 && seed && tenant).then_some(()))
        },
    )
    .await?;
    h.stop_controller().await;
    Ok(())
}

crate::on_both_backends!(clusters_notice_a_seed_or_tenant_removed_by_hand_within_seconds);

async fn clusters_notice_a_seed_or_tenant_removed_by_hand_within_seconds(
    backend: Backend,
) -> Result<()> {
    crate::init_tracing();
    let Some(mut h) = Harness::on(
        backend,
        "clusters_notice_a_seed_or_tenant_removed_by_hand_within_seconds",
    )
    .await?
    else {
        return Ok(());
    };
    h.seed("seed-0", "eu-west", 10).await?;
    h.tenant("acme", TenantPolicies::default()).await?;
    h.cluster("acme", "a1", "1.31.0", json!({})).await?;
    h.start_controller();
    h.wait_all_at("1.31.0", 1, Duration::from_secs(900)).await?;
    let seeds: Api<Seed> = Api::all(h.client.clone());
    let tenants: Api<Tenant> = Api::all(h.client.clone());
    h.wait_for("finalizers on the Seed and the Tenant", NOTICE, || async {
        Ok(has_finalizer(&seeds, "seed-0", SEED_FINALIZER)
            .await?
            .and(has_finalizer(&tenants, "acme", TENANT_FINALIZER).await?))
    })
    .await?;
    let drop_finalizers = Patch::Merge(json!({"metadata": {"finalizers": null}}));

    // The Seed goes by hand: the cluster says so, keeps its seed, and nothing of it is touched.
    seeds.delete("seed-0", &DeleteParams::default()).await?;
    seeds
        .patch("seed-0", &PatchParams::default(), &drop_finalizers)
        .await?;
    h.wait_for("the Seed gone", NOTICE, || async {
        Ok(seeds.get_opt("seed-0").await?.is_none().then_some(()))
    })
    .await?;
    let cond = h
        .wait_for("a1 notices its seed is gone", NOTICE, || async {
            Ok(cluster_condition(&h, "acme", "a1", "SeedReachable")
                .await?
                .filter(|c| c.reason == "SeedNotFound"))
        })
        .await?;
    assert_eq!(cond.status, ConditionStatus::False);
    assert!(
        cond.message.contains("Seed seed-0 no longer exists") && cond.message.contains("recreate"),
        "{}",
        cond.message
    );
    let a1 = h.clusters_in("acme").get("a1").await?;
    assert_eq!(a1.status.and_then(|s| s.seed).as_deref(), Some("seed-0"));
    let ns = namespace_name("acme", "tenant-acme", "a1");
    let deployments: Api<Deployment> = Api::namespaced(h.client.clone(), &ns);
    assert_eq!(
        deployments.list(&ListParams::default()).await?.items.len(),
        3,
        "the control plane stays where it was"
    );

    // The Tenant goes by hand: the cluster notices within seconds, not at the next resync.
    tenants.delete("acme", &DeleteParams::default()).await?;
    tenants
        .patch("acme", &PatchParams::default(), &drop_finalizers)
        .await?;
    let cond = h
        .wait_for("a1 notices its tenant is gone", NOTICE, || {
            cluster_condition(&h, "acme", "a1", "TenantMismatch")
        })
        .await?;
    assert!(
        cond.message.contains("Tenant \"acme\" does not exist"),
        "{}",
        cond.message
    );
    h.stop_controller().await;
    Ok(())
}
