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

/// An ABI-complete placement module with `n` extra empty functions: under the function cap, so
/// it reaches the compiler, and costs it seconds and ~270 MiB at 45,000 (docs/perf/engine.md).
fn expensive(n: usize) -> Vec<u8> {
    let out = r#"{"ok":{"seed":null,"reason":"r","scores":[]}}"#;
    wat::parse_str(format!(
        r#"(module
  (memory (export "memory") 1)
  (func (export "fleetward_abi_version") (result i32) (i32.const 1))
  (func (export "fleetward_alloc") (param i32) (result i32) (i32.const 4096))
  (data (i32.const 1024) "{esc}")
  (func (export "fleetward_place") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const {len})))
  {funcs})"#,
        esc = out.replace('"', "\\\""),
        len = out.len(),
        funcs = "(func)\n".repeat(n),
    ))
    .expect("valid wat")
}

/// acme's 4-cluster rollout (dev wave, then prod after a 5-minute bake), optionally next to
/// `mallory`, whose three policies are a million functions, a 10M-entry table, and the most
/// expensive module the caps let through to the compiler (this test binary compiles
/// in-process: `Compiler::from_env`). Returns the virtual time the rollout took and the harness.
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
        h.tenant(
            "mallory",
            TenantPolicies {
                placement: Some(spec(many_functions(1_000_000))),
                upgrade_ordering: Some(spec(
                    wat::parse_str("(module (table 10000000 funcref))").unwrap(),
                )),
                remediation: Some(spec(expensive(45_000))),
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
    let n = attempts("module_over_cap");
    assert!(
        (2..=40).contains(&n),
        "{n} attempts for two refused kinds\n{metrics}"
    );
    // The expensive module was compiled (within the budget) and serves mallory's remediation.
    let loaded = &mallory.status.as_ref().expect("status").loaded;
    assert!(loaded.contains_key("remediation"), "{loaded:?}");
    h.stop_controller().await;
    Ok(())
}
