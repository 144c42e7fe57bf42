//! Signals (issue 11, docs/rollout.md "Signals"): a `signal.fleetward.dev/<name>` condition that
//! an alert bridge sets on a ManagedCluster's status reaches the tenant's upgrade-ordering
//! policy; the reference policy configured with `hold_on_signals` starts no step while the signal
//! fires; the controller's own status writes keep the condition it does not own; once the signal
//! turns `False` the rollout goes on and completes.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Result, bail};
use fleetward_controller::crd::{Condition, ConditionStatus};
use fleetward_controller::decision_log::{
    DecisionEntry, DecisionLog, LineSink, LogLine, read_lines,
};
use fleetward_controller::metrics::Metrics;
use fleetward_sdk::wire::{DecisionKind, InputEnvelope, Signal, Timestamp, UpgradeRequest};
use fleetward_tests::{Backend, Harness, PolicySpec, TenantPolicies};
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

const SLO_BURN: &str = "signal.fleetward.dev/SLOBurn";

/// A decision-log sink that keeps its lines in memory, for reading while the controller runs.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl LineSink for Lines {
    fn write_line(&mut self, line: &str) -> io::Result<()> {
        self.0.lock().unwrap().push(line.to_string());
        Ok(())
    }
}

impl Lines {
    /// The upgrade-ordering decisions of `tenant`'s module logged so far.
    fn upgrade_decisions(&self, tenant: &str) -> Vec<DecisionEntry> {
        let text = self.0.lock().unwrap().join("\n");
        read_lines(text.as_bytes())
            .filter_map(|l| match l {
                Ok(LogLine::Decision(d)) => Some(*d),
                _ => None,
            })
            .filter(|d| {
                d.kind == DecisionKind::UpgradeOrdering
                    && d.tenant == tenant
                    && d.module.starts_with("sha256:")
            })
            .collect()
    }
}

/// The signals of `cluster` in a decision's input.
fn signals_in(entry: &DecisionEntry, cluster: &str) -> Vec<Signal> {
    let env: InputEnvelope<UpgradeRequest> =
        serde_json::from_str(entry.input.get()).expect("an upgrade-ordering envelope");
    env.request
        .clusters
        .into_iter()
        .find(|c| c.id.name == cluster)
        .map(|c| c.signals)
        .unwrap_or_default()
}

/// Sets the SLOBurn signal of `tenant-acme/<cluster>` as an alert bridge would: a status patch
/// of the conditions list, guarded by the resourceVersion it read (retried on conflict).
async fn set_slo_burn(h: &Harness, cluster: &str, firing: bool, at: &str) -> Result<()> {
    let api = h.clusters_in("acme");
    for _ in 0..20 {
        let mc = api.get_status(cluster).await?;
        let mut conditions: Vec<Condition> = mc
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        conditions.retain(|c| c.type_ != SLO_BURN);
        conditions.push(Condition {
            type_: SLO_BURN.into(),
            status: if firing {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            reason: if firing { "BurnRateHigh" } else { "Resolved" }.into(),
            message: "error budget burning 14x (alertmanager)".into(),
            last_transition_time: at.into(),
        });
        let patch = json!({
            "metadata": {"resourceVersion": mc.resource_version()},
            "status": {"conditions": conditions},
        });
        match api
            .patch_status(cluster, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    bail!("setting {SLO_BURN} on {cluster}: 20 conflicts in a row")
}

/// The SLOBurn condition of `tenant-acme/<cluster>` and the object's resourceVersion.
async fn slo_burn(h: &Harness, cluster: &str) -> Result<(Option<Condition>, String)> {
    let mc = h.clusters_in("acme").get(cluster).await?;
    let cond = mc
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == SLO_BURN).cloned());
    Ok((cond, mc.resource_version().unwrap_or_default()))
}

crate::on_both_backends!(a_firing_signal_holds_the_rollout_until_it_clears);

/// On the emulator the signal fires for an hour of virtual time; on the real API server (real
/// time, a real merge patch of the status subresource) for half a minute.
async fn a_firing_signal_holds_the_rollout_until_it_clears(backend: Backend) -> Result<()> {
    crate::init_tracing();
    let Some(mut h) =
        Harness::on(backend, "a_firing_signal_holds_the_rollout_until_it_clears").await?
    else {
        return Ok(());
    };
    let (provision, held_for, rollout) = if backend.has_virtual_time() {
        (
            Duration::from_secs(1800),
            Duration::from_secs(3600),
            Duration::from_secs(4 * 3600),
        )
    } else {
        (
            Duration::from_secs(120),
            Duration::from_secs(30),
            Duration::from_secs(240),
        )
    };
    h.seed("seed-0", "eu-west", 10).await?;
    h.tenant(
        "acme",
        TenantPolicies {
            upgrade_ordering: Some(PolicySpec::file(
                fleetward_test_policies::UPGRADE_ORDERING,
                json!({
                "waves": [{"name": "dev", "selector": {"match_labels": {"env": "dev"}}},
                          {"name": "prod", "selector": {"match_labels": {"env": "prod"}}}],
                "bake_minutes": 0, "max_concurrent": 2, "hold_on_signals": ["SLOBurn"]}),
            )),
            ..Default::default()
        },
    )
    .await?;
    for (name, env) in [("acme-0", "dev"), ("acme-1", "prod"), ("acme-2", "prod")] {
        h.cluster("acme", name, "1.31.4", json!({"env": env}))
            .await?;
    }
    let lines = Lines::default();
    let metrics = Arc::new(Metrics::new());
    let (log, writer) = DecisionLog::start(lines.clone(), 1 << 16, metrics.clone())?;
    {
        let log = log.clone();
        h.configure = Some(Box::new(move |cfg| {
            cfg.decision_log = log.clone();
            cfg.metrics = metrics.clone();
        }));
    }
    h.start_controller();
    h.wait_all_at("1.31.4", 3, provision).await?;

    // The alert fires on the dev cluster, then the fleet is bumped.
    set_slo_burn(&h, "acme-0", true, "2026-01-01T00:00:00Z").await?;
    let (_, rv_after_patch) = slo_burn(&h, "acme-0").await?;
    let moves_before = h.version_changes().len();
    h.bump_all("1.31.5").await?;

    // The policy's input carries the signal, and its answer holds every cluster for it.
    let held = h
        .wait_for(
            "a decision holding the rollout for SLOBurn",
            provision,
            || async {
                Ok(lines.upgrade_decisions("acme").into_iter().find(|d| {
                    d.output.as_ref().is_some_and(|o| {
                        o.get()
                            .contains("signal SLOBurn firing on tenant-acme/acme-0")
                    })
                }))
            },
        )
        .await?;
    assert_eq!(
        signals_in(&held, "acme-0"),
        vec![Signal {
            name: "SLOBurn".into(),
            reason: "BurnRateHigh".into(),
            message: "error budget burning 14x (alertmanager)".into(),
            since: Some(Timestamp::parse("2026-01-01T00:00:00Z")?),
        }]
    );
    assert_eq!(signals_in(&held, "acme-1"), vec![]);
    let output: Value = serde_json::from_str(held.output.as_ref().unwrap().get())?;
    let holds = output["hold"].as_array().cloned().unwrap_or_default();
    assert_eq!(holds.len(), 3, "{output}");
    assert!(
        holds.iter().all(|h| h["cause"] == "signal"),
        "every hold's cause is the signal: {output}"
    );
    assert_eq!(output["start"], json!([]), "{output}");

    // A while with the signal firing: no step starts, and the condition the controller does
    // not own survives its status writes.
    let until = tokio::time::Instant::now() + held_for;
    let rv_seen = h
        .wait_for(
            "the held period to pass",
            held_for + Duration::from_secs(60),
            || async {
                assert_eq!(
                    h.version_changes().len(),
                    moves_before,
                    "a step ran while SLOBurn fired: {:?}",
                    h.version_changes()
                );
                let (cond, rv) = slo_burn(&h, "acme-0").await?;
                let cond = cond.expect("the controller dropped the SLOBurn condition");
                assert_eq!(cond.status, ConditionStatus::True);
                assert_eq!(cond.reason, "BurnRateHigh");
                Ok((tokio::time::Instant::now() >= until).then_some(rv))
            },
        )
        .await?;
    assert_ne!(
        rv_seen, rv_after_patch,
        "the controller wrote acme-0's status while the signal fired (else nothing was tested)"
    );
    assert_eq!(h.max_in_flight("tenant-acme"), 0);

    // The alert resolves: the rollout goes on and completes, every write within the invariants.
    set_slo_burn(&h, "acme-0", false, "2026-01-01T01:00:00Z").await?;
    h.wait_all_at("1.31.5", 3, rollout).await?;
    let violations = h.violations()?;
    assert!(violations.is_empty(), "{violations:#?}");
    let order = h.cp_upgrade_order("tenant-acme");
    assert_eq!(
        order.first().map(String::as_str),
        Some("acme-0"),
        "{order:?}"
    );
    let (cond, _) = slo_burn(&h, "acme-0").await?;
    assert_eq!(
        cond.map(|c| c.status),
        Some(ConditionStatus::False),
        "the resolved signal stays on the cluster"
    );
    // A decision after the signal cleared saw no signal and started the dev wave.
    let decisions = lines.upgrade_decisions("acme");
    let after = decisions
        .iter()
        .find(|d| d.seq > held.seq && signals_in(d, "acme-0").is_empty())
        .expect("a decision without the signal");
    assert!(
        after
            .output
            .as_ref()
            .is_some_and(|o| o.get().contains("\"wave\":\"dev\"")),
        "{:?}",
        after.output
    );
    h.stop_controller().await;
    log.close();
    tokio::task::spawn_blocking(move || writer.join()).await?;
    Ok(())
}
