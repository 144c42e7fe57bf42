//! A policy that traps or times out: fallback or hold per tenant, other tenants unaffected.

use std::time::Duration;

use anyhow::Result;
use fleetward_controller::crd::{ConditionStatus, ManagedCluster};
use fleetward_controller::decision::DecisionOutcome;
use fleetward_sdk::wire::DecisionKind;
use fleetward_tests::{Harness, PolicySpec, TenantPolicies};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use serde_json::json;

/// A hand-written ABI v1 module whose upgrade entry point runs `body`.
fn module(body: &str) -> Vec<u8> {
    let wat = format!(
        r#"(module
          (memory (export "memory") 2)
          (global $next (mut i32) (i32.const 1024))
          (func (export "fleetward_abi_version") (result i32) i32.const 1)
          (func (export "fleetward_alloc") (param $n i32) (result i32)
            (local $p i32) global.get $next local.set $p
            global.get $next local.get $n i32.add global.set $next local.get $p)
          (func (export "fleetward_order_upgrades") (param i32 i32) (result i64) {body}))"#
    );
    wat::parse_str(wat).expect("valid wat")
}

fn degraded(c: &ManagedCluster) -> Option<(String, String)> {
    c.status
        .as_ref()?
        .conditions
        .iter()
        .find(|x| x.type_ == "PolicyDegraded" && x.status == ConditionStatus::True)
        .map(|x| (x.reason.clone(), x.message.clone()))
}

#[tokio::test(start_paused = true)]
async fn trapping_and_spinning_policies_fall_back_or_hold_per_tenant() -> Result<()> {
    crate::init_tracing();
    let mut h = Harness::new().await?;
    h.seed("seed-0", "eu-west", 20).await?;
    let trap = PolicySpec {
        bytes: module("unreachable"),
        config: json!({}),
        failure_mode: "Fallback",
        limits: json!(null),
    };
    let spin = PolicySpec {
        bytes: module("(loop br 0) i64.const 0"),
        config: json!({}),
        failure_mode: "Hold",
        limits: json!({"timeoutMs": 20}),
    };
    h.tenant(
        "trapper",
        TenantPolicies {
            upgrade_ordering: Some(trap),
            ..Default::default()
        },
    )
    .await?;
    h.tenant(
        "spinner",
        TenantPolicies {
            upgrade_ordering: Some(spin),
            ..Default::default()
        },
    )
    .await?;
    let good = PolicySpec::file(
        fleetward_test_policies::UPGRADE_ORDERING,
        json!({"bake_minutes": 0, "max_concurrent": 2}),
    );
    h.tenant(
        "healthy",
        TenantPolicies {
            upgrade_ordering: Some(good),
            ..Default::default()
        },
    )
    .await?;
    for t in ["trapper", "spinner", "healthy"] {
        for i in 0..2 {
            h.cluster(t, &format!("{t}-{i}"), "1.31.0", json!({}))
                .await?;
        }
    }
    h.start_controller();
    h.wait_all_at("1.31.0", 6, Duration::from_secs(1800))
        .await?;
    h.bump_all("1.32.0").await?;
    // Trapper (Fallback) and healthy upgrade; spinner (Hold) stays put and says why.
    h.wait_for(
        "trapper and healthy at 1.32.0, spinner degraded",
        Duration::from_secs(3 * 3600),
        || async {
            let all = h.all_clusters().await?;
            let done = all.iter().all(|c| {
                let st = c.status.as_ref();
                let v = st
                    .and_then(|s| s.control_plane_version)
                    .map(|v| v.to_string());
                let pools_done = st.is_some_and(|s| {
                    s.node_pools
                        .iter()
                        .all(|p| p.version.to_string() == "1.32.0")
                        && s.in_progress.is_none()
                });
                match c.spec.tenant.as_str() {
                    "spinner" => degraded(c).is_some(),
                    _ => v.as_deref() == Some("1.32.0") && pools_done,
                }
            });
            Ok(done.then_some(()))
        },
    )
    .await?;
    let all = h.all_clusters().await?;
    for c in &all {
        let v = c
            .status
            .as_ref()
            .and_then(|s| s.control_plane_version)
            .map(|v| v.to_string());
        match c.spec.tenant.as_str() {
            "spinner" => {
                assert_eq!(v.as_deref(), Some("1.31.0"), "held tenant must not move");
                let (reason, msg) = degraded(c).unwrap();
                assert_eq!(reason, "TimedOut", "{msg}");
            }
            "trapper" => {
                let (reason, msg) = degraded(c).unwrap();
                assert_eq!(reason, "Trap", "{msg}");
            }
            _ => assert!(
                degraded(c).is_none(),
                "healthy tenant unaffected: {:?}",
                c.status
            ),
        }
    }
    let d = h.decisions();
    let outcomes = |t: &str| {
        d.iter()
            .filter(|r| r.tenant == t && r.kind == DecisionKind::UpgradeOrdering)
            .map(|r| r.outcome.clone())
            .collect::<Vec<_>>()
    };
    // Steps beyond the seed cap, or beyond the tenant's fair share of it, wait (routine
    // back-pressure, not a veto); every other decision is a fallback.
    let capped = |o: &DecisionOutcome| {
        use fleetward_controller::decision::WaitCause;
        matches!(
            o,
            DecisionOutcome::Waiting {
                cause: WaitCause::Cap | WaitCause::FairShare
            }
        )
    };
    assert!(
        outcomes("trapper")
            .iter()
            .all(|o| *o == DecisionOutcome::Fallback || capped(o)),
        "{:?}",
        outcomes("trapper")
    );
    assert!(outcomes("trapper").contains(&DecisionOutcome::Fallback));
    assert!(
        outcomes("spinner")
            .iter()
            .all(|o| *o == DecisionOutcome::Held)
    );
    assert!(!outcomes("spinner").is_empty());
    assert!(
        outcomes("healthy")
            .iter()
            .all(|o| *o == DecisionOutcome::Applied || capped(o)),
        "{:?}",
        outcomes("healthy")
    );
    // Fallbacks and holds are announced on the Tenant, once per cause, not once per retry.
    let events: Api<Event> = Api::all(h.client.clone());
    let events = events.list(&ListParams::default()).await?.items;
    let announced = |tenant: &str, reason: &str| {
        events
            .iter()
            .filter(|e| {
                e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some("Tenant")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(tenant)
                    && e.reason.as_deref() == Some(reason)
            })
            .map(|e| (e.type_.clone(), e.note.clone().unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    let held = announced("spinner", "PolicyHeld");
    assert!(
        outcomes("spinner").len() > 1,
        "the hold must have been retried"
    );
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].0.as_deref(), Some("Warning"));
    assert!(held[0].1.contains("upgrade_ordering: holding"), "{held:?}");
    let fell_back = announced("trapper", "PolicyFallback");
    assert_eq!(fell_back.len(), 1, "{fell_back:?}");
    assert!(
        fell_back[0].1.contains("fallback to built-in"),
        "{fell_back:?}"
    );
    for reason in [
        "PolicyHeld",
        "PolicyFallback",
        "DecisionVetoed",
        "PolicyError",
    ] {
        assert!(announced("healthy", reason).is_empty(), "{reason}");
    }
    let metrics = h.controller().unwrap().metrics.render();
    assert!(metrics.contains(r#"fleetward_policy_fallbacks_total{tenant="trapper",kind="upgrade_ordering",error="trap"}"#), "{metrics}");
    assert!(metrics.contains(r#"fleetward_policy_fallbacks_total{tenant="spinner",kind="upgrade_ordering",error="timed_out"}"#));
    assert!(h.violations()?.is_empty());
    h.stop_controller().await;
    Ok(())
}
