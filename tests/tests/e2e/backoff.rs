//! Retries on cause, not on a timer (issue 15, item 2): a cluster that cannot be placed because
//! every seed its policy accepts is full is asked about again when a seed changes, not once a
//! minute; and its reason names the full seeds the host filtered out, not only the one the
//! policy refused.

use std::time::Duration;

use anyhow::{Context as _, Result};
use fleetward_controller::crd::{ManagedCluster, Seed};
use fleetward_sdk::wire::{ClusterRef, DecisionKind};
use fleetward_tests::{Harness, PolicySpec, TenantPolicies};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

fn placed_condition(mc: &ManagedCluster) -> Option<(String, String)> {
    mc.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Placed")
        .map(|c| (c.reason.clone(), c.message.clone()))
}

/// Placement asks about `id` so far.
fn asks(h: &Harness, id: &ClusterRef) -> usize {
    h.decisions()
        .iter()
        .filter(|d| d.kind == DecisionKind::Placement && d.clusters.contains(id))
        .count()
}

#[tokio::test(start_paused = true)]
async fn unplaceable_cluster_is_asked_again_only_when_a_seed_changes() -> Result<()> {
    crate::init_tracing();
    let mut h = Harness::new().await?;
    let resync = h.settings.resync;
    // Two EU seeds with room for one cluster each, one US seed with plenty; acme's policy
    // wants seeds labelled geo=eu. The host filters the full EU seeds out, the policy refuses
    // us-1.
    h.seed("eu-1", "eu-west", 1).await?;
    h.seed("eu-2", "eu-west", 1).await?;
    h.seed("us-1", "us-east", 10).await?;
    let seeds: Api<Seed> = Api::all(h.client.clone());
    for eu in ["eu-1", "eu-2"] {
        seeds
            .patch(
                eu,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"labels": {"geo": "eu"}}})),
            )
            .await?;
    }
    let acme = TenantPolicies {
        placement: Some(PolicySpec::file(
            fleetward_test_policies::PLACEMENT,
            json!({"seed_labels": {"geo": "eu"}}),
        )),
        ..Default::default()
    };
    h.tenant("acme", acme).await?;
    for name in ["a1", "a2", "a3"] {
        h.cluster("acme", name, "1.31.2", json!({})).await?;
    }
    h.start_controller();

    // Two placed on the EU seeds; the third waits, saying why.
    let waiting = h
        .wait_for(
            "two placed, one refused",
            Duration::from_secs(300),
            || async {
                let all = h.all_clusters().await?;
                let placed = all
                    .iter()
                    .filter(|c| c.status.as_ref().is_some_and(|s| s.seed.is_some()))
                    .count();
                let refused: Vec<_> = all
                    .iter()
                    .filter(|c| placed_condition(c).is_some_and(|(r, _)| r == "NoSeedChosen"))
                    .cloned()
                    .collect();
                Ok((placed == 2 && refused.len() == 1).then(|| refused[0].clone()))
            },
        )
        .await?;
    let id = ClusterRef::new(waiting.namespace().unwrap_or_default(), waiting.name_any());
    let (_, message) = placed_condition(&waiting).context("Placed condition")?;
    assert!(
        message.contains("us-1: lacks label geo=eu")
            && message.contains("filtered out by the host: eu-1, eu-2 full (1/1)"),
        "the reason names the full seeds the host filtered out and the policy's refusal: \
         {message}"
    );

    // Nothing changes for six resync periods: at most one ask per resync (the safety net),
    // not one a minute (which would be 60 here).
    let before = asks(&h, &id);
    let window = resync * 6;
    tokio::time::sleep(window).await;
    let during = asks(&h, &id) - before;
    let bound = (window.as_secs() / resync.as_secs()) as usize;
    println!("placement asks about {id} in {window:?} with no change: {during} (bound {bound})");
    assert!(
        during <= bound,
        "{during} placement asks about {id} in {window:?} with no change (bound {bound})"
    );

    // Room on eu-1: the Seed's change wakes the cluster, and it is placed promptly.
    let raised = tokio::time::Instant::now();
    seeds
        .patch(
            "eu-1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"capacity": 2}})),
        )
        .await?;
    let api = h.clusters_in("acme");
    let seed = h
        .wait_for(
            "the waiting cluster placed",
            Duration::from_secs(60),
            || async {
                let mc = api.get(&id.name).await?;
                Ok(mc.status.and_then(|s| s.seed))
            },
        )
        .await?;
    assert_eq!(seed, "eu-1");
    let took = raised.elapsed();
    assert!(
        took <= Duration::from_secs(5),
        "placed {took:?} after the capacity change"
    );
    assert!(h.violations()?.is_empty());
    Ok(())
}
