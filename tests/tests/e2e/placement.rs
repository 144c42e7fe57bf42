//! Tenants + seeds + clusters ⇒ placed per each tenant's policy and provisioned.

use std::time::Duration;

use anyhow::Result;
use fleetward_controller::crd::{ConditionStatus, Phase};
use fleetward_controller::decision::DecisionOutcome;
use fleetward_sdk::wire::DecisionKind;
use fleetward_tests::{Backend, Harness, PolicySpec, TenantPolicies};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use serde_json::json;

crate::on_both_backends!(clusters_are_placed_per_policy_and_provisioned);

async fn clusters_are_placed_per_policy_and_provisioned(backend: Backend) -> Result<()> {
    crate::init_tracing();
    let Some(mut h) =
        Harness::on(backend, "clusters_are_placed_per_policy_and_provisioned").await?
    else {
        return Ok(());
    };
    h.seed("eu-1", "eu-west", 10).await?;
    h.seed("eu-2", "eu-west", 10).await?;
    h.seed("us-1", "us-east", 10).await?;
    // acme's placement policy excludes eu-1 and prefers us-east; globex has no policy (built-in).
    let acme = TenantPolicies {
        placement: Some(PolicySpec::file(
            fleetward_test_policies::PLACEMENT,
            json!({"excluded_seeds": ["eu-1"], "preferred_regions": ["us-east"]}),
        )),
        ..Default::default()
    };
    h.tenant("acme", acme).await?;
    h.tenant("globex", TenantPolicies::default()).await?;
    h.cluster("acme", "a1", "1.31.2", json!({"env": "prod"}))
        .await?;
    h.cluster("acme", "a2", "1.31.2", json!({"env": "dev"}))
        .await?;
    h.cluster("globex", "g1", "1.31.2", json!({})).await?;
    h.start_controller();
    let all = h.wait_all_at("1.31.2", 3, Duration::from_secs(600)).await?;
    for c in &all {
        let st = c.status.as_ref().unwrap();
        let seed = st.seed.as_deref().unwrap();
        if c.spec.tenant == "acme" {
            assert_ne!(seed, "eu-1", "acme's policy excludes eu-1");
        }
        for t in ["Placed", "ControlPlaneReady", "NodesReady"] {
            assert!(
                st.conditions
                    .iter()
                    .any(|x| x.type_ == t && x.status == ConditionStatus::True),
                "{t} on {:?}",
                st.conditions
            );
        }
        assert_eq!(st.phase, Phase::Running);
        assert!(st.last_decisions.iter().any(|d| d.kind == "placement"));
    }
    // Placement decisions came from acme's module (digest) and the built-in for globex.
    let decisions = h.decisions();
    let placements: Vec<_> = decisions
        .iter()
        .filter(|d| d.kind == DecisionKind::Placement)
        .collect();
    assert_eq!(placements.len(), 3, "{placements:#?}");
    for d in &placements {
        assert_eq!(d.outcome, DecisionOutcome::Applied);
        if d.tenant == "acme" {
            assert!(d.digest.starts_with("sha256:"), "{}", d.digest);
            assert_eq!(d.input_sha256.len(), 64);
        } else {
            assert_eq!(d.digest, "builtin");
        }
    }
    // Provisioned: pinned images in the per-cluster namespace on the seed.
    let a1 = all
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("a1"))
        .unwrap();
    let ns = fleetward_controller::core::provision::namespace_name("acme", "tenant-acme", "a1");
    let api: Deployment = Api::namespaced(h.client.clone(), &ns)
        .get("kube-apiserver")
        .await?;
    let image = api.spec.unwrap().template.spec.unwrap().containers[0]
        .image
        .clone()
        .unwrap();
    assert_eq!(image, "registry.k8s.io/kube-apiserver:v1.31.2");
    assert_eq!(
        a1.status.as_ref().unwrap().node_pools[0]
            .version
            .to_string(),
        "1.31.2"
    );
    // A settled fleet writes nothing. First wait for the Seed counts to catch up
    // (a real change, written on the Seed's next reconcile), then watch a quiet window (a long
    // virtual one on the emulator, a few real seconds on the real API server, where watch
    // events from the fake infrastructure's last status writes still arrive) and compare
    // write counts per kind.
    let quiet = if h.backend().has_virtual_time() {
        Duration::from_secs(330)
    } else {
        Duration::from_secs(5)
    };
    h.wait_seed_counts_caught_up(Duration::from_secs(120))
        .await?;
    let writes_by_kind = || {
        h.controller()
            .unwrap()
            .metrics
            .render()
            .lines()
            .filter(|l| l.starts_with("fleetward_writes_total{"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let statuses = || async {
        anyhow::Ok(
            h.all_clusters()
                .await?
                .into_iter()
                .map(|c| serde_json::to_string(&c.status).unwrap_or_default())
                .collect::<Vec<_>>(),
        )
    };
    // Statuses first, counts second: a write landing in between is then counted as before
    // the window, and a write counted in the window shows in the statuses unless it changed
    // nothing (or was refused).
    let (statuses_before, before) = (statuses().await?, writes_by_kind());
    tokio::time::sleep(quiet).await;
    let (after, statuses_after) = (writes_by_kind(), statuses().await?);
    let changed: Vec<_> = statuses_before
        .iter()
        .zip(&statuses_after)
        .filter(|(b, a)| b != a)
        .map(|(b, a)| format!("  before {b}\n  after  {a}"))
        .collect();
    assert_eq!(
        before,
        after,
        "a no-op resync issued writes (per kind, before vs after the quiet window); \
         cluster statuses that changed:\n{}\nreconcile errors:\n{}",
        changed.join("\n"),
        h.controller()
            .unwrap()
            .metrics
            .render()
            .lines()
            .filter(|l| l.starts_with("fleetward_reconcile_errors_total{"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(h.violations()?.is_empty(), "{:?}", h.violations()?);
    h.stop_controller().await;
    Ok(())
}

crate::on_both_backends!(tenant_mismatch_is_rejected_with_a_condition);

async fn tenant_mismatch_is_rejected_with_a_condition(backend: Backend) -> Result<()> {
    crate::init_tracing();
    let Some(mut h) = Harness::on(backend, "tenant_mismatch_is_rejected_with_a_condition").await?
    else {
        return Ok(());
    };
    h.seed("eu-1", "eu-west", 10).await?;
    h.tenant("acme", TenantPolicies::default()).await?;
    h.tenant("globex", TenantPolicies::default()).await?;
    // A cluster in acme's namespace claiming to be globex's.
    let mc = serde_json::from_value(
        json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
        "metadata": {"name": "sneaky", "namespace": "tenant-acme"}, "spec": {"tenant": "globex", "version": "1.31.0"}}),
    )?;
    h.clusters_in("acme")
        .create(&Default::default(), &mc)
        .await?;
    h.start_controller();
    let st = h
        .wait_for("TenantMismatch", Duration::from_secs(60), || async {
            let c = h.clusters_in("acme").get("sneaky").await?;
            Ok(c.status.filter(|s| s.phase == Phase::Rejected))
        })
        .await?;
    let cond = st
        .conditions
        .iter()
        .find(|c| c.type_ == "TenantMismatch")
        .unwrap();
    assert!(
        cond.message.contains("belongs to tenant \"acme\""),
        "{}",
        cond.message
    );
    assert!(st.seed.is_none());
    h.stop_controller().await;
    Ok(())
}
