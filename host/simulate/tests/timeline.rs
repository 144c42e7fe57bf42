//! Timeline actions that change the controller or the fleet itself: `restartController`,
//! `createCluster`, `deleteCluster`, and the host's caps and rate limits under `controller:`.
//!
//! These run the real controller on the emulator. A wrapper around the emulated fleet sees
//! every ManagedCluster write the recorder sees, so a test can check what the controller wrote
//! (each step's `inProgress` and the final `upgradeHistory`), not only what the report says.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fleetward_sdk::wire::ClusterRef;
use fleetward_simulate::driver::emulated::EmulatedFleet;
use fleetward_simulate::driver::{Driver, DriverError};
use fleetward_simulate::record::{Observation, Recording, SpanKind};
use fleetward_simulate::run_scenario_with;
use fleetward_simulate::scenario::{self, Action, Scenario};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Every ManagedCluster write (time, object), as the driver handed it to the recorder.
type Writes = Arc<Mutex<Vec<(i64, Value)>>>;

/// The emulated fleet, keeping a copy of every ManagedCluster write.
struct Watched {
    inner: EmulatedFleet,
    writes: Writes,
}

impl Watched {
    fn keep(&self, obs: &[Observation]) {
        let mut w = self.writes.lock().unwrap();
        for o in obs {
            if let Observation::Write { at, kind, object } = o
                && kind == "ManagedCluster"
            {
                w.push((*at, object.clone()));
            }
        }
    }
}

impl Driver for Watched {
    async fn setup(&mut self, s: &Scenario) -> Result<(), DriverError> {
        self.inner.setup(s).await
    }
    async fn advance_to(&mut self, at: i64) -> Vec<Observation> {
        let obs = self.inner.advance_to(at).await;
        self.keep(&obs);
        obs
    }
    async fn act(&mut self, a: &Action, affected: &[ClusterRef]) -> Result<(), DriverError> {
        self.inner.act(a, affected).await
    }
    async fn shutdown(self) -> Vec<Observation> {
        let writes = self.writes.clone();
        let obs = self.inner.shutdown().await;
        let mut w = writes.lock().unwrap();
        for o in &obs {
            if let Observation::Write { at, kind, object } = o
                && kind == "ManagedCluster"
            {
                w.push((*at, object.clone()));
            }
        }
        obs
    }
}

fn run(s: &Scenario) -> (Recording, Vec<(i64, Value)>) {
    let writes: Writes = Arc::default();
    let w = writes.clone();
    let mut log: Vec<u8> = Vec::new();
    let rec = run_scenario_with(s, &mut log, false, move |s| Watched {
        inner: EmulatedFleet::new(s),
        writes: w,
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&log)));
    assert!(
        rec.violations.is_empty(),
        "violations: {:?}",
        rec.violations
    );
    let w = writes.lock().unwrap().clone();
    (rec, w)
}

fn id_of(obj: &Value) -> String {
    format!(
        "{}/{}",
        obj.pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        obj.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    )
}

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn ledger_sha(rec: &Recording) -> String {
    hex::encode(Sha256::digest(serde_json::to_vec(&rec.ledger).unwrap()))
}

/// restart.yaml: the controller restarts in the middle of acme's dev wave; the new controller
/// finishes the rollout; every step (cluster, target, version) was started exactly once and
/// appears exactly once in the cluster's upgrade history; the ledger runs on across the restart
/// and the whole run repeats byte for byte.
#[test]
fn a_restart_mid_wave_two_converges_without_repeating_or_skipping_a_step() {
    let sc = scenario::load(&data("restart.yaml")).expect("scenario loads");
    let restart_at = sc
        .timeline
        .iter()
        .find(|e| matches!(e.action, Action::RestartController))
        .expect("restart in the timeline")
        .at
        .0;
    let (rec, writes) = run(&sc);

    // Converged: every cluster reached 1.32.0.
    let (done, total) = rec.progress();
    assert_eq!((done, total), (sc.clusters.len(), sc.clusters.len()));

    // Every (cluster, target, to) started once: one distinct startedAt among all inProgress
    // writes, before and after the restart.
    let mut started: BTreeMap<(String, String, String), BTreeSet<String>> = BTreeMap::new();
    let mut first_start: BTreeMap<(String, String, String), (i64, String)> = BTreeMap::new();
    let mut waves_at_restart: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut in_flight_at_restart: BTreeSet<(String, String)> = BTreeSet::new();
    let mut last: BTreeMap<String, Value> = BTreeMap::new();
    for (at, obj) in &writes {
        let id = id_of(obj);
        if let Some(step) = obj.pointer("/status/inProgress").filter(|v| !v.is_null()) {
            let key = (id.clone(), s(step, "target"), s(step, "to"));
            first_start
                .entry(key.clone())
                .or_insert((*at, s(step, "wave")));
            started.entry(key).or_default().insert(s(step, "startedAt"));
            if *at <= restart_at {
                in_flight_at_restart.insert((id.clone(), s(step, "wave")));
            }
        }
        if *at <= restart_at {
            last.insert(id.clone(), obj.clone());
        }
    }
    // What was in flight exactly at the restart: the last write before it per cluster.
    let mut dev_in_flight = 0;
    for obj in last.values() {
        if let Some(step) = obj.pointer("/status/inProgress").filter(|v| !v.is_null()) {
            let e = waves_at_restart.entry(s(step, "wave")).or_default();
            e.0 += 1;
            if s(step, "wave") == "dev" {
                dev_in_flight += 1;
            }
        }
    }
    // ... and some of the wave was still to start after it.
    let dev_started_after = first_start
        .iter()
        .filter(|((id, _, _), (_, wave))| wave == "dev" && !id.ends_with("/canary"))
        .filter(|(_, (at, _))| *at > restart_at)
        .count();
    assert!(
        dev_in_flight > 0 && dev_started_after > 0,
        "the restart must fall inside the dev wave (steps in flight then: {waves_at_restart:?}, \
         dev steps started after it: {dev_started_after})"
    );
    for (key, starts) in &started {
        assert_eq!(
            starts.len(),
            1,
            "step {key:?} was started {} times: {starts:?}",
            starts.len()
        );
    }

    // The final upgrade history of every cluster: control plane and each pool exactly once.
    let mut finals: BTreeMap<String, Value> = BTreeMap::new();
    for (_, obj) in &writes {
        finals.insert(id_of(obj), obj.clone());
    }
    for c in &sc.clusters {
        let obj = &finals[&c.id.to_string()];
        let history = obj
            .pointer("/status/upgradeHistory")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
        for h in &history {
            *seen.entry((s(h, "target"), s(h, "to"))).or_default() += 1;
        }
        let mut want: BTreeSet<(String, String)> =
            [("control-plane".to_string(), "1.32.0".to_string())].into();
        for p in &c.pools {
            want.insert((format!("pool/{}", p.name), "1.32.0".into()));
        }
        let got: BTreeSet<(String, String)> = seen.keys().cloned().collect();
        assert_eq!(got, want, "{}: history {history:?}", c.id);
        assert!(
            seen.values().all(|n| *n == 1),
            "{}: repeated step in {history:?}",
            c.id
        );
        // And the timeline shows one span per step.
        let track = rec.clusters.iter().find(|t| t.id == c.id).unwrap();
        let steps = track
            .spans
            .iter()
            .filter(|s| matches!(s.kind, SpanKind::ControlPlane | SpanKind::Pool { .. }))
            .count();
        assert_eq!(steps, want.len(), "{}: {:?}", c.id, track.spans);
    }

    // The ledger continues across the restart: decisions before and after it, in time order,
    // and the new controller's first answers are not re-recorded as new decisions.
    assert!(rec.ledger.iter().any(|e| e.at < restart_at));
    assert!(rec.ledger.iter().any(|e| e.at > restart_at));
    assert!(rec.ledger.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(
        rec.events
            .iter()
            .any(|e| e.description == "the controller restarts" && e.at == restart_at),
        "{:?}",
        rec.events
    );

    // Deterministic: the same ledger and spans again.
    let (again, _) = run(&sc);
    assert_eq!(ledger_sha(&rec), ledger_sha(&again));
    assert_eq!(
        serde_json::to_string(&rec.clusters).unwrap(),
        serde_json::to_string(&again.clusters).unwrap()
    );
}

const LIFECYCLE: &str = r#"
name: lifecycle
duration: 12h
infra: {workloadReady: 20s, machineReady: 1m, machineDelete: 5s}
tenants:
  - name: acme
seeds:
  - {name: eu-1, region: eu-west, capacity: 10, minVersion: "1.30", maxVersion: "1.33"}
clusters:
  - {tenant: acme, name: "old-{n}", count: 2, version: 1.31.0, labels: {env: prod}}
timeline:
  - at: T+10m
    createCluster: {tenant: acme, name: "new-{n}", count: 2, version: 1.31.0, labels: {env: prod},
                    pools: [{name: workers, replicas: 1}]}
  - at: T+30m
    deleteCluster: {tenant: acme, name: old-2}
  - at: T+40m
    setVersion: {version: 1.32.0}
  - at: T+45m
    breakWorkload: {cluster: acme/new-1, workload: etcd}
  - at: T+50m
    healWorkload: {cluster: acme/new-1, workload: etcd}
"#;

/// Clusters created mid-run are placed, provisioned and upgraded like the others; a deleted
/// cluster is torn down (its finalizer released) and left out of later actions.
#[test]
fn clusters_created_and_deleted_mid_run() {
    let sc = scenario::parse_str(LIFECYCLE, "<lifecycle>", Path::new(".")).expect("parses");
    let (rec, writes) = run(&sc);
    let track = |name: &str| {
        rec.clusters
            .iter()
            .find(|t| t.id.name == name)
            .unwrap_or_else(|| panic!("no track for {name}"))
    };
    let start = sc.start.0;
    for name in ["new-1", "new-2"] {
        let t = track(name);
        assert_eq!(t.created_at, Some(start + 600), "{name}");
        assert!(t.seed.is_some(), "{name} was never placed: {:?}", t.spans);
        let placement = t
            .spans
            .iter()
            .find(|s| s.kind == SpanKind::Placement)
            .unwrap();
        assert!(placement.start >= start + 600, "{name}: {placement:?}");
        assert!(
            t.completed_at.is_some(),
            "{name} did not reach 1.32: {:?}",
            t.spans
        );
        assert_eq!(t.control_plane_version.as_deref(), Some("1.32.0"));
    }
    assert!(
        track("new-1")
            .spans
            .iter()
            .any(|s| s.kind == SpanKind::Fault),
        "the breakWorkload on a created cluster shows"
    );
    let old2 = track("old-2");
    assert_eq!(old2.deleted_at, Some(start + 1800));
    assert_eq!(
        old2.requested_at, None,
        "setVersion after the delete must skip old-2"
    );
    assert!(track("old-1").completed_at.is_some());
    // The controller tore old-2 down: the delete marked it, and once the controller released
    // its finalizer the server removed it. (The emulator reports a removal with the object as
    // it was stored, finalizer and all: the removal is a second write of the marked object.)
    let marked: Vec<i64> = writes
        .iter()
        .filter(|(_, o)| id_of(o) == "tenant-acme/old-2")
        .filter(|(_, o)| o.pointer("/metadata/deletionTimestamp").is_some())
        .map(|(at, _)| *at)
        .collect();
    assert!(
        marked.len() >= 2 && marked[0] == start + 1800,
        "old-2 was marked for deletion at {marked:?} but never removed"
    );
}

/// The parse side of createCluster/deleteCluster: names must exist at the entry's time.
#[test]
fn cluster_lifetimes_are_checked_in_time_order() {
    let bad = [
        (
            LIFECYCLE.replace("name: old-2}", "name: new-9}"),
            "unknown cluster \"new-9\" of tenant acme",
        ),
        (
            LIFECYCLE.replace("at: T+45m", "at: T+5m"),
            "cluster tenant-acme/new-1 does not exist at T+5m",
        ),
        (
            LIFECYCLE.replace("name: \"new-{n}\"", "name: \"old-{n}\""),
            "cluster tenant-acme/old-1 is already defined",
        ),
        (
            LIFECYCLE.replace(
                "deleteCluster: {tenant: acme, name: old-2}",
                "deleteCluster: {tenant: acme, name: old-2, now: true}",
            ),
            "unknown field `now`",
        ),
        (
            LIFECYCLE.replace(
                "at: T+40m\n    setVersion: {version: 1.32.0}",
                "at: T+40m\n    restartController: {force: true}",
            ),
            "unknown field `force`",
        ),
    ];
    for (yaml, want) in bad {
        let e = scenario::parse_str(&yaml, "<x>", Path::new(".")).expect_err(want);
        assert!(e.to_string().contains(want), "{e} (wanted {want})");
        assert!(e.line_column().is_some_and(|(l, _)| l > 0), "{e}");
    }
}

const CAPS: &str = r#"
name: caps
duration: 12h
infra: {workloadReady: 20s, machineReady: 1m, machineDelete: 5s}
controller:
  upgrades: {maxConcurrent: 1, maxConcurrentPerSeed: 1}
  remediation: {window: 1h, perCluster: 0, perSeed: 5, perTenant: 5}
tenants:
  - name: acme
    policies:
      upgradeOrdering:
        module: builtin:upgrade-ordering
        config: {max_concurrent: 4}
seeds:
  - {name: eu-1, region: eu-west, capacity: 10, minVersion: "1.30", maxVersion: "1.33"}
clusters:
  - {tenant: acme, name: "c-{n}", count: 4, version: 1.31.0, pools: [{name: workers, replicas: 1}]}
timeline:
  - at: T+10m
    setVersion: {version: 1.32.0}
  - at: T+4h
    breakWorkload: {cluster: c-1, workload: etcd}
  - at: T+4h30m
    healWorkload: {cluster: c-1, workload: etcd}
"#;

/// Most step spans open at one instant, over the whole fleet.
fn max_in_flight(rec: &Recording) -> usize {
    let mut edges: Vec<(i64, i32)> = Vec::new();
    for t in &rec.clusters {
        for s in &t.spans {
            if matches!(s.kind, SpanKind::ControlPlane | SpanKind::Pool { .. }) {
                edges.push((s.start, 1));
                edges.push((s.end, -1));
            }
        }
    }
    // Ends before starts at the same second: a step that finished frees its place.
    edges.sort_by_key(|&(t, d)| (t, d));
    let (mut now, mut max) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        max = max.max(now);
    }
    max as usize
}

/// `controller:` caps and rate limits reach the controller: with the host's caps at one step
/// in flight, a policy allowing four gets one at a time; with perCluster 0 a broken etcd is
/// not remediated. The defaults (10 in flight, 3 remediations per cluster) do both.
#[test]
fn controller_caps_and_remediation_limits_take_effect() {
    let capped = scenario::parse_str(CAPS, "<caps>", Path::new(".")).expect("parses");
    assert_eq!(capped.controller.max_concurrent, Some(1));
    assert_eq!(capped.controller.remediation_window, Some(3600));
    assert_eq!(capped.controller.remediation_per_cluster, Some(0));
    let (rec, _) = run(&capped);
    assert_eq!(rec.progress(), (4, 4));
    assert_eq!(max_in_flight(&rec), 1);
    assert_eq!(rec.clusters.iter().map(|c| c.remediations).sum::<u32>(), 0);

    let default_yaml = CAPS.replace(
        "controller:\n  upgrades: {maxConcurrent: 1, maxConcurrentPerSeed: 1}\n  remediation: {window: 1h, perCluster: 0, perSeed: 5, perTenant: 5}\n",
        "",
    );
    let free = scenario::parse_str(&default_yaml, "<free>", Path::new(".")).expect("parses");
    assert_eq!(free.controller, Default::default());
    let (rec, _) = run(&free);
    assert_eq!(rec.progress(), (4, 4));
    assert!(
        max_in_flight(&rec) > 1,
        "without the host cap the policy's 4 apply"
    );
    assert!(rec.clusters.iter().map(|c| c.remediations).sum::<u32>() > 0);
}

/// Bad `controller:` values are rejected with the field's name, line and column.
#[test]
fn controller_settings_are_validated_by_field() {
    let cases = [
        (
            "maxConcurrent: 1,",
            "maxConcurrent: 0,",
            "controller.upgrades.maxConcurrent must be between 1",
        ),
        (
            "maxConcurrentPerSeed: 1",
            "maxConcurrentPerSeed: 0",
            "controller.upgrades.maxConcurrentPerSeed must be between 1",
        ),
        (
            "window: 1h",
            "window: 10s",
            "controller.remediation.window must be between 1m and 1d",
        ),
        (
            "perSeed: 5",
            "perSeed: 1000000",
            "controller.remediation.perSeed must be between 0 and 100000",
        ),
        (
            "perTenant: 5",
            "perTenant: 5, perHour: 3",
            "unknown field `perHour`",
        ),
        ("upgrades: {", "upgrade: {", "unknown field `upgrade`"),
    ];
    for (from, to, want) in cases {
        assert!(CAPS.contains(from), "{from}");
        let yaml = CAPS.replacen(from, to, 1);
        let e = scenario::parse_str(&yaml, "<x>", Path::new(".")).expect_err(want);
        assert!(e.to_string().contains(want), "{e} (wanted {want})");
        assert_eq!(
            e.line_column().map(|(l, _)| l),
            Some(
                if from == "upgrades: {"
                    || from == "maxConcurrent: 1,"
                    || from == "maxConcurrentPerSeed: 1"
                {
                    6
                } else {
                    7
                }
            ),
            "{e}"
        );
    }
}
