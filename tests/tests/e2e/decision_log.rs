//! The decision log (issue 10) of the live controller: a rollout's log holds every decision the
//! controller recorded, each with the exact input its module (or the built-in) read; a sink that
//! cannot keep up drops and counts records while reconciles go on, and says so in the log.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use fleetward_controller::core::provision::namespace_name;
use fleetward_controller::decision_log::file::RotatingFile;
use fleetward_controller::decision_log::record::sha256_hex;
use fleetward_controller::decision_log::{
    DecisionEntry, DecisionLog, LineSink, LogLine, WriterThread, read_lines,
};
use fleetward_controller::metrics::Metrics;
use fleetward_sdk::wire::{
    CallKind, DecisionKind, InputEnvelope, PlacementRequest, RemediationRequest, Timestamp,
    UpgradeRequest,
};
use fleetward_tests::{Harness, PolicySpec, TenantPolicies};
use serde_json::{Value, json};

/// Starts `h`'s controller with `log` (and the metrics registry its drops are counted in).
fn with_log(h: &mut Harness, log: DecisionLog, metrics: Arc<Metrics>) {
    h.configure = Some(Box::new(move |cfg| {
        cfg.decision_log = log.clone();
        cfg.metrics = metrics.clone();
    }));
}

/// Closes the log and waits for its writer to write everything queued.
async fn finish(log: &DecisionLog, writer: WriterThread) -> Result<()> {
    log.close();
    tokio::task::spawn_blocking(move || writer.join()).await?;
    Ok(())
}

fn dropped_metric(metrics: &Metrics, reason: &str) -> u64 {
    let key = format!("fleetward_decision_log_dropped_total{{reason=\"{reason}\"}} ");
    metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(&key).map(|n| n.trim().parse().unwrap_or(0)))
        .unwrap_or(0)
}

/// The call, tenant, time and config of an input that parses as the envelope of `kind`.
fn envelope(kind: DecisionKind, text: &str) -> Result<(CallKind, String, Timestamp, Value)> {
    fn parse<R: serde::de::DeserializeOwned>(text: &str) -> Result<InputEnvelope<R>> {
        serde_json::from_str(text).with_context(|| format!("not an envelope: {text}"))
    }
    Ok(match kind {
        DecisionKind::Placement => {
            let e = parse::<PlacementRequest>(text)?;
            (e.decision, e.tenant, e.now, e.config)
        }
        DecisionKind::UpgradeOrdering => {
            let e = parse::<UpgradeRequest>(text)?;
            (e.decision, e.tenant, e.now, e.config)
        }
        DecisionKind::Remediation => {
            let e = parse::<RemediationRequest>(text)?;
            (e.decision, e.tenant, e.now, e.config)
        }
    })
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fleetward-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test(start_paused = true)]
async fn a_rollout_logs_every_decision_with_its_input() -> Result<()> {
    crate::init_tracing();
    let mut h = Harness::new().await?;
    h.seed("seed-0", "eu-west", 10).await?;
    h.seed("seed-1", "eu-west", 10).await?;
    // acme: a module for every kind; initech: the built-ins.
    h.tenant(
        "acme",
        TenantPolicies {
            placement: Some(PolicySpec::file(
                fleetward_test_policies::PLACEMENT,
                json!({}),
            )),
            upgrade_ordering: Some(PolicySpec::file(
                fleetward_test_policies::UPGRADE_ORDERING,
                json!({"bake_minutes": 0, "max_concurrent": 2}),
            )),
            remediation: Some(PolicySpec::file(
                fleetward_test_policies::REMEDIATION,
                json!({"grace_minutes": 1, "max_restarts": 1, "backoff_base_minutes": 1, "max_actions_per_hour": 5}),
            )),
        },
    )
    .await?;
    h.tenant("initech", TenantPolicies::default()).await?;
    for name in ["acme-0", "acme-1", "acme-2"] {
        h.cluster("acme", name, "1.31.4", json!({})).await?;
    }
    for name in ["initech-0", "initech-1"] {
        h.cluster("initech", name, "1.31.4", json!({})).await?;
    }
    let dir = temp_dir("decision-log");
    let path = dir.join("decisions.jsonl");
    let metrics = Arc::new(Metrics::new());
    let (log, writer) = DecisionLog::start(
        RotatingFile::open(&path, 64 << 20, 2)?,
        1 << 16,
        metrics.clone(),
    )?;
    with_log(&mut h, log.clone(), metrics.clone());
    h.start_controller();
    h.wait_all_at("1.31.4", 5, Duration::from_secs(1800))
        .await?;
    h.bump_all("1.31.5").await?;
    h.wait_all_at("1.31.5", 5, Duration::from_secs(4 * 3600))
        .await?;
    // Remediation, from a module and from the built-in.
    h.infra
        .break_workload(&namespace_name("acme", "tenant-acme", "acme-0"), "etcd");
    h.infra.break_workload(
        &namespace_name("initech", "tenant-initech", "initech-0"),
        "kube-scheduler",
    );
    h.wait_for(
        "a remediation decision for each tenant",
        Duration::from_secs(3600),
        || async {
            let d = h.decisions();
            let asked = |t: &str| {
                d.iter()
                    .any(|r| r.tenant == t && r.kind == DecisionKind::Remediation)
            };
            Ok((asked("acme") && asked("initech")).then_some(()))
        },
    )
    .await?;
    h.stop_controller().await;
    finish(&log, writer).await?;

    // The ledger (the controller's per-outcome record) gets its last records through a channel:
    // wait until it holds every outcome the log does, then compare.
    let text = std::fs::read_to_string(&path)?;
    let mut entries: Vec<DecisionEntry> = Vec::new();
    for line in read_lines(text.as_bytes()) {
        match line? {
            LogLine::Decision(d) => entries.push(*d),
            LogLine::Dropped(d) => bail!("nothing may be dropped here: {d:?}"),
        }
    }
    assert_eq!(dropped_metric(&metrics, "queue_full"), 0);
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=entries.len() as u64).collect::<Vec<_>>());
    let logged: BTreeMap<(String, String), usize> = entries
        .iter()
        .flat_map(|e| e.outcomes.iter().map(move |o| (e, o)))
        .fold(BTreeMap::new(), |mut m, (e, o)| {
            *m.entry((e.kind.as_str().to_string(), o.outcome.clone()))
                .or_default() += 1;
            m
        });
    let ledger = h
        .wait_for("the ledger caught up", Duration::from_secs(60), || async {
            let d = h.decisions();
            let counts: BTreeMap<(String, String), usize> =
                d.iter().fold(BTreeMap::new(), |mut m, r| {
                    *m.entry((r.kind.as_str().to_string(), r.outcome.as_str().to_string()))
                        .or_default() += 1;
                    m
                });
            Ok((counts == logged).then_some(d))
        })
        .await
        .with_context(|| {
            format!(
                "log outcomes {logged:?} vs ledger {:?}",
                h.decisions().len()
            )
        })?;
    // Placement and remediation: one outcome per decision, so as many records as ledger
    // entries; the planner's one call may have several outcomes.
    for kind in DecisionKind::ALL {
        let records = entries.iter().filter(|e| e.kind == kind).count();
        let outcomes = ledger.iter().filter(|r| r.kind == kind).count();
        assert!(records > 0, "{kind}: no records");
        if kind == DecisionKind::UpgradeOrdering {
            assert!(records <= outcomes, "{kind}: {records} > {outcomes}");
        } else {
            assert_eq!(records, outcomes, "{kind}");
        }
    }
    // Every input is its kind's envelope, hashes to its input_sha256, and says who and when;
    // a module's carries the tenant's config, the built-in's `null`.
    for e in &entries {
        assert_eq!(e.input_sha256, sha256_hex(e.input.get().as_bytes()));
        let (call, tenant, now, config) = envelope(e.kind, e.input.get())?;
        assert_eq!(call, e.kind.into());
        assert_eq!((tenant.as_str(), now), (e.tenant.as_str(), e.time));
        if e.module == "builtin" {
            // No module (initech), or acme's not loaded yet: the built-in's envelope.
            assert_eq!(config, Value::Null);
            assert!(
                e.config_sha256.is_none() && e.duration_us.is_none(),
                "{e:?}"
            );
        } else {
            assert_eq!(e.tenant, "acme");
            assert!(e.module.starts_with("sha256:"), "{}", e.module);
            assert!(e.duration_us.is_some(), "{e:?}");
            assert_eq!(
                e.config_sha256.as_deref(),
                Some(sha256_hex(&serde_json::to_vec(&config)?).as_str())
            );
        }
    }
    assert!(
        entries
            .iter()
            .any(|e| e.tenant == "acme" && e.module.starts_with("sha256:")),
        "acme's modules decided"
    );
    assert!(
        entries
            .iter()
            .filter(|e| e.tenant == "initech")
            .all(|e| e.module == "builtin")
    );
    // The ledger's input digests (module decisions) are the log's.
    let hashes: std::collections::BTreeSet<&str> =
        entries.iter().map(|e| e.input_sha256.as_str()).collect();
    for r in ledger.iter().filter(|r| !r.input_sha256.is_empty()) {
        assert!(hashes.contains(r.input_sha256.as_str()), "{r:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A sink that writes nothing until it is opened: a disk or shipper that stalls.
#[derive(Clone, Default)]
struct Stalled {
    open: Arc<(Mutex<bool>, Condvar)>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Stalled {
    fn release(&self) {
        *self.open.0.lock().unwrap() = true;
        self.open.1.notify_all();
    }
}

impl LineSink for Stalled {
    fn write_line(&mut self, line: &str) -> io::Result<()> {
        let (lock, ready) = &*self.open;
        let mut open = lock.lock().unwrap();
        while !*open {
            open = ready.wait(open).unwrap();
        }
        self.lines.lock().unwrap().push(line.to_string());
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_stalled_sink_drops_and_counts_while_reconciles_go_on() -> Result<()> {
    crate::init_tracing();
    let mut h = Harness::new().await?;
    h.seed("seed-0", "eu-west", 10).await?;
    h.tenant(
        "acme",
        TenantPolicies {
            placement: Some(PolicySpec::file(
                fleetward_test_policies::PLACEMENT,
                json!({}),
            )),
            ..Default::default()
        },
    )
    .await?;
    for i in 0..6 {
        h.cluster("acme", &format!("acme-{i}"), "1.31.4", json!({}))
            .await?;
    }
    let sink = Stalled::default();
    let metrics = Arc::new(Metrics::new());
    // Room for one record in the queue (and one in the stalled writer's hands).
    let (log, writer) = DecisionLog::start(sink.clone(), 1, metrics.clone())?;
    with_log(&mut h, log.clone(), metrics.clone());
    h.start_controller();
    // The controller places and provisions every cluster while the log cannot write a line.
    h.wait_all_at("1.31.4", 6, Duration::from_secs(1800))
        .await?;
    h.stop_controller().await;
    assert!(sink.lines.lock().unwrap().is_empty(), "the sink stalled");
    // Every decision but the two the queue and the stalled writer hold was dropped and counted.
    let dropped = dropped_metric(&metrics, "queue_full");
    let decisions = h.decisions().len() as u64;
    assert!(decisions >= 6, "{decisions} decisions");
    assert!(
        dropped + 2 >= decisions,
        "{dropped} dropped of {decisions} decisions"
    );
    // Once the sink writes again, the gap is in the log: every number from 1 is either a
    // record or inside a `dropped` line with the count the metric shows.
    sink.release();
    finish(&log, writer).await?;
    let text = sink.lines.lock().unwrap().join("\n");
    let mut seen = Vec::new();
    let mut noted = 0;
    for line in read_lines(text.as_bytes()) {
        match line? {
            LogLine::Decision(d) => seen.push(d.seq),
            LogLine::Dropped(d) => {
                assert_eq!(d.reason, "queue full");
                noted += d.count;
                seen.extend(d.first_seq..=d.last_seq);
            }
        }
    }
    assert_eq!(noted, dropped_metric(&metrics, "queue_full"));
    assert_eq!(seen, (1..=seen.len() as u64).collect::<Vec<_>>());
    assert!(seen.len() as u64 >= decisions);
    Ok(())
}
