//! Shadow bindings (issue 10): a candidate module evaluated next to the live decisions and never
//! acted on. One that disagrees shows in Tenant status, the metric and one Event; one that traps
//! or loops changes nothing the live controller does, when or what; one whose digest is wrong
//! is reported while the live binding keeps serving.

use std::time::Duration;

use anyhow::{Result, bail};
use fleetward_controller::crd::{ConditionStatus, ShadowStatus, Tenant};
use fleetward_controller::decision::DecisionOutcome;
use fleetward_controller::decision_log::record::sha256_hex;
use fleetward_controller::decision_log::sink::Collected;
use fleetward_controller::decision_log::{DecisionLog, Role};
use fleetward_sdk::wire::DecisionKind;
use fleetward_tests::events::events_about;
use fleetward_tests::{Harness, POLICY_NAMESPACE, PolicySpec, TenantPolicies};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// A hand-written ABI v1 module whose `entry` runs `body` (a trap, a loop).
fn module(entry: &str, body: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
          (memory (export "memory") 2)
          (global $next (mut i32) (i32.const 1024))
          (func (export "fleetward_abi_version") (result i32) i32.const 1)
          (func (export "fleetward_alloc") (param $n i32) (result i32)
            (local $p i32) global.get $next local.set $p
            global.get $next local.get $n i32.add global.set $next local.get $p)
          (func (export "{entry}") (param i32 i32) (result i64) {body}))"#
    ))
    .expect("valid wat")
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A shadow for `field` (`placement`, `upgradeOrdering`, `remediation`) of `tenant`.
struct Shadow {
    field: &'static str,
    bytes: Vec<u8>,
    config: Value,
    limits: Value,
    /// The digest the spec names (the module's own unless a test wants a mismatch).
    sha256: String,
}

impl Shadow {
    fn new(field: &'static str, bytes: Vec<u8>, config: Value) -> Self {
        Shadow {
            field,
            sha256: sha256(&bytes),
            bytes,
            config,
            limits: Value::Null,
        }
    }
}

/// Publishes each shadow's module as a ConfigMap and names it in the Tenant's `spec.shadows`.
async fn add_shadows(h: &Harness, tenant: &str, shadows: &[Shadow]) -> Result<()> {
    let mut spec = serde_json::Map::new();
    for s in shadows {
        let cm = format!("{tenant}-shadow-{}", s.field.to_lowercase());
        h.put_module(&cm, &s.bytes).await?;
        let mut b = json!({
            "module": {"configMap": {"namespace": POLICY_NAMESPACE, "name": cm, "key": "policy.wasm"}},
            "sha256": s.sha256,
            "config": s.config,
        });
        if !s.limits.is_null() {
            b["limits"] = s.limits.clone();
        }
        spec.insert(s.field.into(), b);
    }
    Api::<Tenant>::all(h.client.clone())
        .patch(
            tenant,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"shadows": spec}})),
        )
        .await?;
    Ok(())
}

fn waves() -> Value {
    json!({
        "waves": [{"name": "dev", "selector": {"match_labels": {"env": "dev"}}},
                  {"name": "prod", "selector": {"match_labels": {"env": "prod"}}}],
        "bake_minutes": 5, "max_concurrent": 2})
}

/// acme's 4-cluster rollout (1.31.4 → 1.32.1) with `live` policies and `shadows`. Returns the
/// virtual time the upgrade took, the harness (controller still running) and the decision log
/// (kept in memory).
async fn rollout(
    live: TenantPolicies,
    shadows: &[Shadow],
) -> Result<(Duration, Harness, Collected)> {
    let mut h = Harness::new().await?;
    let (log, collected) = DecisionLog::memory();
    h.configure = Some(Box::new(move |cfg| cfg.decision_log = log.clone()));
    h.seed("seed-0", "eu-west", 10).await?;
    h.tenant("acme", live).await?;
    if !shadows.is_empty() {
        add_shadows(&h, "acme", shadows).await?;
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
    Ok((started.elapsed(), h, collected))
}

fn live_upgrades() -> TenantPolicies {
    TenantPolicies {
        upgrade_ordering: Some(PolicySpec::file(
            fleetward_test_policies::UPGRADE_ORDERING,
            waves(),
        )),
        ..Default::default()
    }
}

/// `status.shadows.<kind>` of acme once `ready` holds for it (bounded wait).
async fn shadow_status(
    h: &Harness,
    kind: &str,
    what: &str,
    ready: impl Fn(&ShadowStatus) -> bool,
) -> Result<(Tenant, ShadowStatus)> {
    h.wait_for(what, Duration::from_secs(600), || async {
        let t = Api::<Tenant>::all(h.client.clone()).get("acme").await?;
        let s = t
            .status
            .as_ref()
            .and_then(|st| st.shadows.get(kind))
            .cloned();
        Ok(s.filter(|s| ready(s)).map(|s| (t, s)))
    })
    .await
}

fn policies_ready(t: &Tenant) -> Option<ConditionStatus> {
    t.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "PoliciesReady")
        .map(|c| c.status)
}

/// The metric `fleetward_shadow_decisions_total` of acme's `kind` with `result`.
fn shadow_metric(h: &Harness, kind: &str, result: &str) -> u64 {
    let text = h.controller().expect("running").metrics.render();
    let prefix = format!(
        r#"fleetward_shadow_decisions_total{{tenant="acme",kind="{kind}",result="{result}"}} "#
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
        .unwrap_or(0)
}

/// A tenant on the built-in upgrade ordering rehearses the reference policy as a shadow: every
/// decision the controller acts on is the built-in's, and the shadow's differing answers show
/// in status (counts and at most five last disagreements), in the metric, and in one Event.
#[tokio::test(start_paused = true)]
async fn a_disagreeing_shadow_shows_in_status_metrics_and_one_event() -> Result<()> {
    crate::init_tracing();
    let candidate = std::fs::read(fleetward_test_policies::UPGRADE_ORDERING)?;
    let digest = sha256(&candidate);
    let shadows = [Shadow::new("upgradeOrdering", candidate, waves())];
    let (_, mut h, log) = rollout(TenantPolicies::default(), &shadows).await?;

    // Nothing acted on came from the shadow.
    let live: Vec<_> = h
        .decisions
        .lock()
        .unwrap()
        .iter()
        .filter(|d| d.kind == DecisionKind::UpgradeOrdering)
        .cloned()
        .collect();
    assert!(!live.is_empty());
    assert!(live.iter().all(|d| d.digest == "builtin"), "{live:#?}");

    let (t, s) = shadow_status(
        &h,
        "upgrade_ordering",
        "shadow disagreements in status",
        |s| s.disagreed >= 2 && s.evaluated == s.agreed + s.disagreed + s.failed,
    )
    .await?;
    assert_eq!(s.digest, digest);
    assert_eq!(s.error, None);
    assert_eq!(s.failed, 0, "{s:?}");
    assert!(
        (1..=5).contains(&s.last_disagreements.len()),
        "{:?}",
        s.last_disagreements
    );
    assert_eq!(
        s.last_disagreements.len() as u64,
        s.disagreed.min(5),
        "{s:?}"
    );
    let last = s.last_disagreements.last().expect("one");
    assert_eq!(last.live_module, "builtin");
    assert!(last.clusters.iter().all(|c| c.starts_with("tenant-acme/")));
    assert_ne!(last.live, last.shadow);
    assert_eq!(policies_ready(&t), Some(ConditionStatus::True));

    // The metric counts at least what status shows (status is refreshed every 30 s).
    assert!(shadow_metric(&h, "upgrade_ordering", "disagreed") >= s.disagreed);
    assert_eq!(shadow_metric(&h, "upgrade_ordering", "failed"), 0);

    // One Event for this shadow module, however many disagreements.
    let events = events_about(&h.client, "Tenant", "acme", "ShadowDisagreed").await?;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "Normal");
    assert!(events[0].1.contains(&digest), "{}", events[0].1);

    // The decision log holds each shadow evaluation as a `role: shadow` record of the shadow
    // module, next to the live record it shadowed (same time, tenant and kind; the live
    // output's hash).
    h.stop_controller().await;
    let records = log.take();
    let (shadowed, live): (Vec<_>, Vec<_>) = records.iter().partition(|r| r.role == Role::Shadow);
    let disagreeing = shadowed
        .iter()
        .filter(|r| r.shadow.as_ref().is_some_and(|s| !s.agrees))
        .count() as u64;
    assert!(
        disagreeing >= s.disagreed,
        "{disagreeing} < {}",
        s.disagreed
    );
    for r in &shadowed {
        assert_eq!(r.module, digest);
        assert_eq!(r.kind, DecisionKind::UpgradeOrdering);
        assert!(r.outcomes.is_empty(), "a shadow is never acted on: {r:?}");
        let shadow = r
            .shadow
            .as_ref()
            .expect("a shadow record says how it compares");
        assert_eq!(shadow.live_module, "builtin");
        assert!(
            live.iter().any(|l| l.time == r.time
                && l.kind == r.kind
                && l.output.as_ref().map(|o| sha256_hex(o.get().as_bytes()))
                    == Some(shadow.live_output_sha256.clone())),
            "no live record matches shadow record {r:?}"
        );
        let agrees = r.output.as_ref().map(|o| sha256_hex(o.get().as_bytes()))
            == Some(shadow.live_output_sha256.clone());
        assert_eq!(agrees, shadow.agrees, "{r:?}");
    }
    Ok(())
}

/// What the controller acted on, comparable between two runs: (time, kind, clusters, module,
/// output, outcome), sorted. A placement is compared by the seed it chose: the built-in's
/// reason counts the clusters placed before it, and the four clusters are placed at the same
/// instant by concurrent reconciles whose order is not fixed from one run to the next.
fn acted(h: &Harness) -> Vec<(String, String, String, String, String, String)> {
    let mut v: Vec<_> = h
        .decisions
        .lock()
        .unwrap()
        .iter()
        .map(|d| {
            let output = match d.kind {
                DecisionKind::Placement => serde_json::from_str::<Value>(&d.output_json)
                    .map(|o| o["seed"].to_string())
                    .unwrap_or_else(|e| format!("unparsable placement: {e}")),
                _ => d.output_json.clone(),
            };
            (
                d.time.to_string(),
                d.kind.as_str().to_string(),
                format!("{:?}", d.clusters),
                d.digest.clone(),
                output,
                d.outcome.as_str().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// A trapping upgrade-ordering shadow and a looping placement shadow: the live decisions, their
/// timing and the rollout are exactly those of a run without shadows; the failures show only
/// in the shadows' own counters (no fallback, no degraded cluster, PoliciesReady stays True).
#[tokio::test(start_paused = true)]
async fn a_trapping_or_looping_shadow_does_not_delay_or_change_live_decisions() -> Result<()> {
    crate::init_tracing();
    let (alone, mut h, _) = rollout(live_upgrades(), &[]).await?;
    let without = acted(&h);
    h.stop_controller().await;
    drop(h);

    let mut spin = Shadow::new(
        "placement",
        module("fleetward_place", "(loop br 0) i64.const 0"),
        json!({}),
    );
    spin.limits = json!({"timeoutMs": 20});
    let shadows = [
        Shadow::new(
            "upgradeOrdering",
            module("fleetward_order_upgrades", "unreachable"),
            json!({}),
        ),
        spin,
    ];
    let (beside, mut h, _) = rollout(live_upgrades(), &shadows).await?;
    assert_eq!(
        beside, alone,
        "the rollout took {beside:?} of virtual time with failing shadows, {alone:?} without"
    );
    let with = acted(&h);
    assert_eq!(with, without, "the live decisions changed");
    assert!(
        with.iter().all(|d| d.5 != "fallback" && d.5 != "held"),
        "{with:#?}"
    );

    let (t, trap) = shadow_status(&h, "upgrade_ordering", "trapping shadow counted", |s| {
        s.failed >= 1
    })
    .await?;
    assert_eq!((trap.agreed, trap.disagreed), (0, 0), "{trap:?}");
    assert!(
        trap.last_failure
            .as_deref()
            .is_some_and(|f| f.starts_with("trap:")),
        "{trap:?}"
    );
    let (_, spun) =
        shadow_status(&h, "placement", "looping shadow counted", |s| s.failed >= 1).await?;
    assert!(
        spun.last_failure
            .as_deref()
            .is_some_and(|f| f.starts_with("timed_out:")),
        "{spun:?}"
    );
    assert_eq!(policies_ready(&t), Some(ConditionStatus::True));
    assert!(shadow_metric(&h, "upgrade_ordering", "failed") >= trap.failed);
    assert!(shadow_metric(&h, "placement", "failed") >= spun.failed);
    let metrics = h.controller().expect("running").metrics.render();
    assert!(
        !metrics.contains("fleetward_policy_fallbacks_total{tenant=\"acme\""),
        "{metrics}"
    );
    for c in h.all_clusters().await? {
        let conditions = c.status.map(|s| s.conditions).unwrap_or_default();
        assert!(
            !conditions
                .iter()
                .any(|x| x.type_ == "PolicyDegraded" && x.status == ConditionStatus::True),
            "{conditions:?}"
        );
    }
    h.stop_controller().await;
    Ok(())
}

/// A shadow whose module does not hash to the digest the spec names is refused and said so
/// (status, a Warning Event), without touching PoliciesReady; the live binding serves the
/// whole rollout.
#[tokio::test(start_paused = true)]
async fn a_shadow_with_a_wrong_digest_is_reported_and_the_live_binding_keeps_serving() -> Result<()>
{
    crate::init_tracing();
    let live_module = std::fs::read(fleetward_test_policies::UPGRADE_ORDERING)?;
    let mut wrong = Shadow::new("upgradeOrdering", live_module.clone(), json!({}));
    wrong.sha256 = format!("sha256:{}", "0".repeat(64));
    let (_, mut h, _) = rollout(live_upgrades(), &[wrong]).await?;

    let (t, s) = shadow_status(&h, "upgrade_ordering", "refused shadow reported", |s| {
        s.error.is_some()
    })
    .await?;
    let error = s.error.as_deref().unwrap_or_default();
    assert!(error.contains("digest_mismatch"), "{error}");
    assert!(error.contains("the live policy is unaffected"), "{error}");
    assert_eq!(s.evaluated, 0);
    assert_eq!(policies_ready(&t), Some(ConditionStatus::True));
    let loaded = &t.status.as_ref().expect("status").loaded;
    assert_eq!(
        loaded.get("upgrade_ordering").map(|l| l.digest.as_str()),
        Some(sha256(&live_module).as_str())
    );
    let live_digest = sha256(&live_module);
    let decisions = h.decisions.lock().unwrap().clone();
    let upgrades: Vec<_> = decisions
        .iter()
        .filter(|d| d.kind == DecisionKind::UpgradeOrdering)
        .collect();
    if upgrades.is_empty()
        || !upgrades
            .iter()
            .all(|d| d.digest == live_digest && d.outcome != DecisionOutcome::Fallback)
    {
        bail!("the live binding did not serve every upgrade decision: {upgrades:#?}");
    }
    let rejected = events_about(&h.client, "Tenant", "acme", "ShadowRejected").await?;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].0, "Warning");
    assert_eq!(shadow_metric(&h, "upgrade_ordering", "failed"), 0);
    assert_eq!(shadow_metric(&h, "upgrade_ordering", "agreed"), 0);
    h.stop_controller().await;
    Ok(())
}
