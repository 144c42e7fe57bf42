//! A 20-cluster, 3-tenant fleet bumped one minor version: each tenant's order and batches
//! follow its policy, and no write ever breaks an upgrade invariant.

use std::time::Duration;

use anyhow::Result;
use fleetward_sdk::wire::DecisionKind;
use fleetward_tests::{Backend, Harness, PolicySpec, TenantPolicies};
use serde_json::json;

pub(crate) async fn fleet(h: &Harness) -> Result<()> {
    for (i, region) in ["eu-west", "eu-west", "us-east", "us-east"]
        .iter()
        .enumerate()
    {
        h.seed(&format!("seed-{i}"), region, 10).await?;
    }
    let upgrades = |cfg| {
        Some(PolicySpec::file(
            fleetward_test_policies::UPGRADE_ORDERING,
            cfg,
        ))
    };
    // acme: dev wave, then prod after a 5-minute bake, two at a time.
    h.tenant("acme", TenantPolicies {
        upgrade_ordering: upgrades(json!({
            "waves": [{"name": "dev", "selector": {"match_labels": {"env": "dev"}}}, {"name": "prod", "selector": {"match_labels": {"env": "prod"}}}],
            "bake_minutes": 5, "max_concurrent": 2})),
        ..Default::default()
    })
    .await?;
    // globex: a canary first, then the rest, three at a time.
    h.tenant("globex", TenantPolicies {
        upgrade_ordering: upgrades(json!({"canary": {"match_labels": {"canary": "true"}}, "bake_minutes": 5, "max_concurrent": 3})),
        ..Default::default()
    })
    .await?;
    // initech: no policy, the built-in (one cluster at a time).
    h.tenant("initech", TenantPolicies::default()).await?;
    for i in 0..8 {
        let env = if i < 3 { "dev" } else { "prod" };
        h.cluster("acme", &format!("acme-{i}"), "1.31.4", json!({"env": env}))
            .await?;
    }
    for i in 0..6 {
        let labels = if i == 4 {
            json!({"canary": "true"})
        } else {
            json!({})
        };
        h.cluster("globex", &format!("globex-{i}"), "1.31.4", labels)
            .await?;
        h.cluster("initech", &format!("initech-{i}"), "1.31.4", json!({}))
            .await?;
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn fleet_minor_upgrade_follows_each_tenants_policy_without_violations() -> Result<()> {
    crate::init_tracing();
    let mut h = Harness::new().await?;
    fleet(&h).await?;
    h.start_controller();
    h.wait_all_at("1.31.4", 20, Duration::from_secs(1800))
        .await?;
    h.bump_all("1.32.1").await?;
    h.wait_all_at("1.32.1", 20, Duration::from_secs(4 * 3600))
        .await?;

    let violations = h.violations()?;
    assert!(
        violations.is_empty(),
        "invariant violations on writes: {violations:#?}"
    );
    // acme: every dev cluster's control plane moved before any prod one.
    let acme = h.cp_upgrade_order("tenant-acme");
    assert_eq!(acme.len(), 8, "{acme:?}");
    let first_prod = acme
        .iter()
        .position(|n| ["acme-0", "acme-1", "acme-2"].iter().all(|d| d != n))
        .unwrap();
    assert_eq!(first_prod, 3, "dev wave first: {acme:?}");
    assert!(
        h.max_in_flight("tenant-acme") <= 2,
        "acme's policy caps at 2"
    );
    // globex: the canary first.
    let globex = h.cp_upgrade_order("tenant-globex");
    assert_eq!(
        globex.first().map(String::as_str),
        Some("globex-4"),
        "{globex:?}"
    );
    assert!(h.max_in_flight("tenant-globex") <= 3);
    // initech: the built-in moves one cluster at a time, in name order.
    let initech = h.cp_upgrade_order("tenant-initech");
    assert_eq!(
        initech,
        (0..6).map(|i| format!("initech-{i}")).collect::<Vec<_>>()
    );
    assert_eq!(h.max_in_flight("tenant-initech"), 1);
    // Each control plane and pool moved exactly once (no repeated or skipped step).
    let changes = h.version_changes();
    for c in h.all_clusters().await? {
        let name = c.metadata.name.clone().unwrap();
        let moves = changes
            .iter()
            .filter(|(id, t, _, _)| {
                id.name == name && (t == "control-plane/kube-apiserver" || t == "pool/workers")
            })
            .count();
        assert_eq!(moves, 2, "{name}: {changes:?}");
        let hist = &c.status.as_ref().unwrap().upgrade_history;
        assert!(hist.iter().all(|e| e.completed_at.is_some()), "{hist:?}");
    }
    // Decisions came from the tenants' modules (digests), and the built-in for initech.
    let d = h.decisions();
    assert!(d.iter().any(|r| r.kind == DecisionKind::UpgradeOrdering
        && r.tenant == "acme"
        && r.digest.starts_with("sha256:")));
    assert!(
        d.iter()
            .filter(|r| r.kind == DecisionKind::UpgradeOrdering && r.tenant == "initech")
            .all(|r| r.digest == "builtin")
    );
    h.stop_controller().await;
    Ok(())
}

crate::on_both_backends!(a_short_bake_rollout_follows_waves_and_caps);

/// A small fleet bumped one patch version with a zero-minute bake, so it also runs in real time
/// on the real API server: acme's dev wave moves before its prod wave, at most two at a time;
/// initech's clusters (no policy) move one at a time, in name order; every control plane and
/// pool moves exactly once, and no write breaks an upgrade invariant.
async fn a_short_bake_rollout_follows_waves_and_caps(backend: Backend) -> Result<()> {
    crate::init_tracing();
    let Some(mut h) = Harness::on(backend, "a_short_bake_rollout_follows_waves_and_caps").await?
    else {
        return Ok(());
    };
    h.seed("seed-0", "eu-west", 10).await?;
    h.seed("seed-1", "eu-west", 10).await?;
    h.tenant("acme", TenantPolicies {
        upgrade_ordering: Some(PolicySpec::file(
            fleetward_test_policies::UPGRADE_ORDERING,
            json!({
                "waves": [{"name": "dev", "selector": {"match_labels": {"env": "dev"}}}, {"name": "prod", "selector": {"match_labels": {"env": "prod"}}}],
                "bake_minutes": 0, "max_concurrent": 2}),
        )),
        ..Default::default()
    })
    .await?;
    h.tenant("initech", TenantPolicies::default()).await?;
    for (name, env) in [
        ("acme-0", "dev"),
        ("acme-1", "dev"),
        ("acme-2", "prod"),
        ("acme-3", "prod"),
    ] {
        h.cluster("acme", name, "1.31.4", json!({"env": env}))
            .await?;
    }
    for name in ["initech-0", "initech-1"] {
        h.cluster("initech", name, "1.31.4", json!({})).await?;
    }
    h.start_controller();
    // Virtual time on the emulator; on the real server the fake machines take seconds.
    let (provision, rollout) = if backend.has_virtual_time() {
        (Duration::from_secs(1800), Duration::from_secs(4 * 3600))
    } else {
        (Duration::from_secs(120), Duration::from_secs(240))
    };
    h.wait_all_at("1.31.4", 6, provision).await?;
    h.bump_all("1.31.5").await?;
    h.wait_all_at("1.31.5", 6, rollout).await?;

    let violations = h.violations()?;
    assert!(
        violations.is_empty(),
        "invariant violations on writes: {violations:#?}"
    );
    let acme = h.cp_upgrade_order("tenant-acme");
    assert_eq!(acme.len(), 4, "{acme:?}");
    let mut dev_first = acme[..2].to_vec();
    dev_first.sort();
    assert_eq!(dev_first, ["acme-0", "acme-1"], "dev wave first: {acme:?}");
    let in_flight = h.max_in_flight("tenant-acme");
    assert!(
        (1..=2).contains(&in_flight),
        "acme's policy caps at 2, saw {in_flight}"
    );
    assert_eq!(
        h.cp_upgrade_order("tenant-initech"),
        ["initech-0", "initech-1"]
    );
    assert_eq!(h.max_in_flight("tenant-initech"), 1);
    let changes = h.version_changes();
    for c in h.all_clusters().await? {
        let name = c.metadata.name.clone().unwrap_or_default();
        let moves = changes
            .iter()
            .filter(|(id, t, _, _)| {
                id.name == name && (t == "control-plane/kube-apiserver" || t == "pool/workers")
            })
            .count();
        assert_eq!(moves, 2, "{name}: {changes:?}");
        let history = &c
            .status
            .as_ref()
            .map(|s| s.upgrade_history.clone())
            .unwrap_or_default();
        assert!(
            !history.is_empty() && history.iter().all(|e| e.completed_at.is_some()),
            "{name}: {history:?}"
        );
    }
    let d = h.decisions();
    assert!(d.iter().any(|r| r.kind == DecisionKind::UpgradeOrdering
        && r.tenant == "acme"
        && r.digest.starts_with("sha256:")));
    h.stop_controller().await;
    Ok(())
}
