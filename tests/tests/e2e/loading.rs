//! A tenant whose module is built to take the controller down while it loads, next to a normal
//! tenant's rollout: the hostile modules are refused with typed reasons (condition, Event,
//! metric), are not reloaded in a loop, and the normal rollout finishes at the same virtual
//! time as in a run without them.

use std::time::Duration;

use anyhow::Result;
use fleetward_controller::crd::{ConditionStatus, Tenant};
use fleetward_tests::{Harness, PolicySpec, TenantPolicies};
use kube::Api;
use serde_json::{Value, json};

/// A valid core module of `n` empty functions (about 4 MB for a million), generated here.
fn many_functions(n: u32) -> Vec<u8> {
    fn leb(out: &mut Vec<u8>, mut n: u64) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    fn section(out: &mut Vec<u8>, id: u8, body: &[u8]) {
        out.push(id);
        leb(out, body.len() as u64);
        out.extend_from_slice(body);
    }
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    section(&mut m, 1, &[1, 0x60, 0, 0]);
    let mut funcs = Vec::new();
    leb(&mut funcs, n.into());
    funcs.resize(funcs.len() + n as usize, 0);
    section(&mut m, 3, &funcs);
    let mut code = Vec::new();
    leb(&mut code, n.into());
    for _ in 0..n {
        code.extend_from_slice(&[2, 0, 0x0b]);
    }
    section(&mut m, 10, &code);
    m
}

fn spec(bytes: Vec<u8>) -> PolicySpec {
    PolicySpec {
        bytes,
        config: Value::Null,
        failure_mode: "Fallback",
        limits: Value::Null,
    }
}

/// acme's 4-cluster rollout (dev wave, then prod after a 5-minute bake), optionally next to
/// `mallory`, whose three policies are a million functions, a 10M-entry table and a 16 MiB +
/// 1 byte module. Returns the virtual time the rollout took and the harness.
async fn rollout(hostile: bool) -> Result<(Duration, Harness)> {
    let mut h = Harness::new().await?;
    h.seed("seed-0", "eu-west", 10).await?;
    h.tenant(
        "acme",
        TenantPolicies {
            upgrade_ordering: Some(PolicySpec::file(
                fleetward_test_policies::UPGRADE_ORDERING,
                json!({
                "waves": [{"name": "dev", "selector": {"match_labels": {"env": "dev"}}},
                          {"name": "prod", "selector": {"match_labels": {"env": "prod"}}}],
                "bake_minutes": 5, "max_concurrent": 2}),
            )),
            ..Default::default()
        },
    )
    .await?;
    if hostile {
        let mut too_large = many_functions(10);
        too_large.resize(16 * 1024 * 1024 + 1, 0);
        h.tenant(
            "mallory",
            TenantPolicies {
                placement: Some(spec(many_functions(1_000_000))),
                upgrade_ordering: Some(spec(
                    wat::parse_str("(module (table 10000000 funcref))").unwrap(),
                )),
                remediation: Some(spec(too_large)),
            },
        )
        .await?;
    }
    for i in 0..4 {
        let env = if i < 2 { "dev" } else { "prod" };
        h.cluster("acme", &format!("acme-{i}"), "1.31.4", json!({"env": env}))
            .await?;
    }
    h.start_controller();
    h.wait_all_at("1.31.4", 4, Duration::from_secs(1800))
        .await?;
    let started = tokio::time::Instant::now();
    h.bump_all("1.32.1").await?;
    h.wait_all_at("1.32.1", 4, Duration::from_secs(4 * 3600))
        .await?;
    Ok((started.elapsed(), h))
}

#[tokio::test(start_paused = true)]
async fn hostile_modules_are_refused_without_delaying_another_tenants_rollout() -> Result<()> {
    crate::init_tracing();
    let (alone, mut h) = rollout(false).await?;
    h.stop_controller().await;
    drop(h);
    let (beside, mut h) = rollout(true).await?;
    assert_eq!(
        beside, alone,
        "acme's rollout took {beside:?} of virtual time next to mallory, {alone:?} alone"
    );

    let mallory = Api::<Tenant>::all(h.controller_client().clone())
        .get("mallory")
        .await?;
    let ready = mallory
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "PoliciesReady"))
        .expect("PoliciesReady");
    assert_eq!(ready.status, ConditionStatus::False);
    for says in [
        "declares 1000000 functions, over the cap of 50000",
        "declares 10000000 initial table elements",
        "over the 16777216-byte module size cap",
    ] {
        assert!(ready.message.contains(says), "{says}: {}", ready.message);
    }
    assert!(!ready.message.contains("internal"), "{}", ready.message);

    // Each refusal is counted per attempt, and attempts back off: over the rollout's hours of
    // virtual time, a handful per kind, not one per reconcile.
    let metrics = h.controller().expect("running").metrics.render();
    let attempts = |reason: &str| -> u64 {
        metrics
            .lines()
            .filter(|l| {
                l.starts_with("fleetward_policy_load_rejections_total{")
                    && l.contains("tenant=\"mallory\"")
                    && l.contains(&format!("reason=\"{reason}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    for reason in ["module_over_cap", "module_too_large"] {
        let n = attempts(reason);
        assert!((1..=20).contains(&n), "{reason}: {n} attempts\n{metrics}");
    }
    h.stop_controller().await;
    Ok(())
}
