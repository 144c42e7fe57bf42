//! Unit tests of the ordering logic, called as plain Rust.

use fleetward_sdk::Context;
use fleetward_sdk::wire::{
    Approval, ClusterRef, FleetCluster, Health, HoldCause, KubeVersion, PoolState, Signal,
    Timestamp, UpgradeLimits, UpgradeRecord, UpgradeRequest, UpgradeStep, UpgradeTarget,
    VersionState,
};

use super::*;

const NOW: &str = "2026-11-25T17:00:00Z"; // a Wednesday

fn t(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn v(s: &str) -> KubeVersion {
    KubeVersion::parse(s).unwrap()
}

/// A healthy cluster on 1.31.0 that wants 1.32.0, with one pool `workers`.
fn cluster(name: &str, env: &str) -> FleetCluster {
    FleetCluster {
        id: ClusterRef::new("tenant-acme", name),
        labels: [("env".to_string(), env.to_string())].into(),
        seed: Some("eu-1".into()),
        control_plane: VersionState {
            current: v("1.31.0"),
            desired: v("1.32.0"),
        },
        node_pools: vec![PoolState {
            name: "workers".into(),
            current: v("1.31.0"),
            desired: v("1.32.0"),
            replicas: 3,
            ready_replicas: 3,
        }],
        health: Health {
            healthy: true,
            reasons: vec![],
        },
        in_progress: None,
        upgrades_paused: false,
        settled_since: Some(t("2026-11-20T00:00:00Z")),
        signals: Vec::new(),
    }
}

/// The cluster fully on 1.32.0, settled since `since`.
fn done(mut c: FleetCluster, since: &str) -> FleetCluster {
    c.control_plane.current = v("1.32.0");
    c.node_pools[0].current = v("1.32.0");
    c.settled_since = Some(t(since));
    c
}

fn request(clusters: Vec<FleetCluster>) -> UpgradeRequest {
    UpgradeRequest {
        clusters,
        history: vec![],
        limits: UpgradeLimits {
            max_concurrent: 10,
            max_concurrent_per_seed: 3,
        },
        approvals: Vec::new(),
    }
}

fn waves_config() -> Config {
    serde_json::from_value(serde_json::json!({
        "canary": {"match_labels": {"canary": "true"}},
        "waves": [
            {"name": "dev", "selector": {"match_labels": {"env": "dev"}}},
            {"name": "staging", "selector": {"match_labels": {"env": "staging"}}, "bake_minutes": 120},
            {"name": "prod", "selector": {"match_labels": {"env": "prod"}},
             "windows": [{"days": ["sat", "sun"], "start": "01:00", "end": "05:00"}]}
        ],
        "max_concurrent": 5,
        "bake_minutes": 30
    }))
    .unwrap()
}

fn run(req: &UpgradeRequest, config: &Config, now: &str) -> UpgradeDecision {
    order_upgrades(req, config, &Context::new(t(now), "acme")).unwrap()
}

fn names(steps: &[UpgradeStep]) -> Vec<String> {
    steps
        .iter()
        .map(|s| format!("{}:{}:{}", s.cluster.name, s.target, s.to))
        .collect()
}

#[test]
fn canary_then_first_wave_only() {
    let mut canary = cluster("dev-0", "dev");
    canary.labels.insert("canary".into(), "true".into());
    let req = request(vec![
        canary,
        cluster("dev-1", "dev"),
        cluster("prod-1", "prod"),
    ]);
    let d = run(&req, &waves_config(), NOW);
    assert_eq!(names(&d.start), vec!["dev-0:control-plane:1.32.0"]);
    assert_eq!(d.start[0].wave.as_deref(), Some("canary"));
    let held: Vec<_> = d
        .hold
        .iter()
        .map(|h| (h.cluster.name.as_str(), h.reason.as_str()))
        .collect();
    assert_eq!(
        held,
        vec![
            ("dev-1", "waiting for wave canary: dev-0 is still upgrading"),
            (
                "prod-1",
                "waiting for wave canary: dev-0 is still upgrading"
            ),
        ]
    );
    assert_eq!(d.recheck_at, None);
}

#[test]
fn bake_time_holds_next_wave_until_it_ends() {
    let dev = done(cluster("dev-1", "dev"), "2026-11-25T16:45:00Z");
    let req = request(vec![dev, cluster("staging-1", "staging")]);
    let d = run(&req, &waves_config(), NOW);
    assert!(d.start.is_empty());
    assert_eq!(
        d.hold[0].reason,
        "wave dev is baking until 2026-11-25T17:15:00Z"
    );
    assert_eq!(d.hold[0].until, Some(t("2026-11-25T17:15:00Z")));
    assert_eq!(d.recheck_at, Some(t("2026-11-25T17:15:00Z")));
    // History completing later than settled_since extends the bake.
    let mut req = req;
    req.history.push(UpgradeRecord {
        cluster: ClusterRef::new("tenant-acme", "dev-1"),
        target: UpgradeTarget::NodePool {
            pool: "workers".into(),
        },
        from: v("1.31.0"),
        to: v("1.32.0"),
        started_at: t("2026-11-25T16:40:00Z"),
        completed_at: Some(t("2026-11-25T16:50:00Z")),
    });
    let d = run(&req, &waves_config(), NOW);
    assert_eq!(d.hold[0].until, Some(t("2026-11-25T17:20:00Z")));
    // Once baked, staging starts.
    let d = run(&req, &waves_config(), "2026-11-25T17:20:00Z");
    assert_eq!(names(&d.start), vec!["staging-1:control-plane:1.32.0"]);
}

#[test]
fn prod_waits_for_its_window_then_starts() {
    let staging = done(cluster("staging-1", "staging"), "2026-11-20T00:00:00Z");
    let req = request(vec![staging, cluster("prod-1", "prod")]);
    let d = run(&req, &waves_config(), NOW);
    assert_eq!(
        d.hold[0].reason,
        "outside maintenance window (Sat,Sun 01:00-05:00 UTC)"
    );
    assert_eq!(d.hold[0].until, Some(t("2026-11-28T01:00:00Z")));
    assert_eq!(d.recheck_at, Some(t("2026-11-28T01:00:00Z")));
    let d = run(&req, &waves_config(), "2026-11-28T02:00:00Z");
    assert_eq!(names(&d.start), vec!["prod-1:control-plane:1.32.0"]);
}

#[test]
fn pools_follow_the_control_plane_one_at_a_time() {
    let mut c = cluster("dev-1", "dev");
    c.control_plane.current = v("1.32.0");
    c.node_pools.push(PoolState {
        name: "gpu".into(),
        current: v("1.31.0"),
        desired: v("1.32.0"),
        replicas: 1,
        ready_replicas: 1,
    });
    let d = run(&request(vec![c.clone()]), &Config::default(), NOW);
    assert_eq!(names(&d.start), vec!["dev-1:pool/gpu:1.32.0"]);
    // A step running on the cluster: nothing more for it, and it is not "held".
    c.in_progress = Some(d.start[0].clone());
    let d = run(&request(vec![c]), &Config::default(), NOW);
    assert!(d.start.is_empty() && d.hold.is_empty());
    assert_eq!(d.reason, "1 step(s) in progress, nothing else to start");
}

#[test]
fn one_minor_at_a_time_and_no_downgrades() {
    let mut far = cluster("a", "dev");
    far.control_plane.desired = v("1.34.2");
    let mut down = cluster("b", "dev");
    down.control_plane.desired = v("1.30.0");
    let d = run(&request(vec![far, down]), &Config::default(), NOW);
    assert_eq!(names(&d.start), vec!["a:control-plane:1.32.0"]);
    assert!(d.hold[0].reason.contains("downgrades are not supported"));
}

#[test]
fn unhealthy_and_paused_clusters_are_held_with_reasons() {
    let mut sick = cluster("a", "dev");
    sick.health = Health {
        healthy: false,
        reasons: vec!["etcd 1/3 ready".into()],
    };
    let mut paused = cluster("b", "dev");
    paused.upgrades_paused = true;
    let d = run(
        &request(vec![sick, paused, cluster("c", "dev")]),
        &Config::default(),
        NOW,
    );
    assert_eq!(names(&d.start), vec!["c:control-plane:1.32.0"]);
    assert_eq!(d.hold[0].reason, "unhealthy: etcd 1/3 ready");
    assert_eq!(d.hold[1].reason, "upgrades paused");
}

#[test]
fn caps_policy_host_and_seed() {
    let clusters: Vec<_> = (0..5).map(|i| cluster(&format!("c{i}"), "dev")).collect();
    let mut req = request(clusters);
    // Policy default cap is 2.
    let d = run(&req, &Config::default(), NOW);
    assert_eq!(d.start.len(), 2);
    assert_eq!(d.hold[0].reason, "concurrency cap reached (2/2 in flight)");
    // Host cap lower than the policy's.
    req.limits.max_concurrent = 1;
    let config = Config {
        max_concurrent: 4,
        ..Config::default()
    };
    assert_eq!(run(&req, &config, NOW).start.len(), 1);
    // Per-seed cap.
    req.limits.max_concurrent = 10;
    req.limits.max_concurrent_per_seed = 3;
    let d = run(&req, &config, NOW);
    assert_eq!(d.start.len(), 3);
    assert_eq!(d.hold[0].reason, "seed eu-1 cap reached (3/3 in flight)");
}

#[test]
fn unmatched_hold_and_config_validation() {
    let config: Config = serde_json::from_value(serde_json::json!({
        "waves": [{"name": "dev", "selector": {"match_labels": {"env": "dev"}}}],
        "unmatched": "hold"
    }))
    .unwrap();
    let d = run(&request(vec![cluster("x", "qa")]), &config, NOW);
    assert_eq!(d.hold[0].reason, "matches no wave (unmatched: hold)");

    let dup: Config = serde_json::from_value(serde_json::json!({
        "waves": [{"name": "a", "selector": {"match_labels": {}}},
                  {"name": "a", "selector": {"match_labels": {}}}]
    }))
    .unwrap();
    assert_eq!(
        config::validate(&dup).unwrap_err().message,
        "waves[1].name: duplicate wave \"a\""
    );
}

#[test]
fn typo_in_selector_is_reported_with_its_path() {
    let input = r#"{"abi_version":1,"decision":"validate_config","now":"2026-11-25T17:00:00Z","tenant":"acme","config":{"waves":[{"name":"dev","selector":{"match_labels":{}}},{"name":"prod","selector":{"lable":"x"}}]},"request":null}"#;
    let out = dispatch(fleetward_sdk::wire::CallKind::ValidateConfig, input);
    assert_eq!(
        out,
        r#"{"error":{"code":"invalid_config","message":"waves[1].selector: unknown field `lable`, expected `match_labels`"}}"#
    );
}

fn with(mut config: Config, extra: serde_json::Value) -> Config {
    if let Some(list) = extra.get("approval_before") {
        config.approval_before = serde_json::from_value(list.clone()).unwrap();
    }
    if let Some(list) = extra.get("hold_on_signals") {
        config.hold_on_signals = serde_json::from_value(list.clone()).unwrap();
    }
    config
}

fn causes(d: &UpgradeDecision) -> Vec<String> {
    d.hold
        .iter()
        .map(|h| {
            format!(
                "{}:{}:{}:{}",
                h.cluster.name,
                h.cause.map_or("-", HoldCause::as_str),
                h.wave.as_deref().unwrap_or("-"),
                h.gate.as_deref().unwrap_or("-"),
            )
        })
        .collect()
}

/// Staging on 1.32.0 and baked, two prod clusters to go.
fn staging_done_prod_waiting() -> Vec<FleetCluster> {
    vec![
        done(cluster("staging-1", "staging"), "2026-11-20T00:00:00Z"),
        cluster("prod-1", "prod"),
        cluster("prod-2", "prod"),
    ]
}

const SATURDAY: &str = "2026-11-28T02:00:00Z"; // inside prod's window

#[test]
fn approval_gate_holds_the_wave_until_approved_then_the_window_still_applies() {
    let config = with(
        waves_config(),
        serde_json::json!({"approval_before": ["prod"]}),
    );
    let mut req = request(staging_done_prod_waiting());
    // Not yet approved: asked for even while the window is closed, so it can be approved ahead.
    for now in [NOW, SATURDAY] {
        let d = run(&req, &config, now);
        assert!(d.start.is_empty(), "{d:?}");
        assert_eq!(
            causes(&d),
            vec!["prod-1:approval:prod:prod", "prod-2:approval:prod:prod"]
        );
        assert_eq!(d.hold[0].reason, r#"waiting for approval of gate "prod""#);
        assert_eq!(d.recheck_at, None);
    }
    // An approval of another gate changes nothing.
    req.approvals.push(Approval {
        gate: "staging".into(),
        approved_by: "bob".into(),
        approved_at: t("2026-11-25T16:00:00Z"),
    });
    assert_eq!(run(&req, &config, SATURDAY).start, vec![]);
    req.approvals.push(Approval {
        gate: "prod".into(),
        approved_by: "alice".into(),
        approved_at: t("2026-11-25T16:30:00Z"),
    });
    let d = run(&req, &config, NOW);
    assert_eq!(
        causes(&d),
        vec!["prod-1:window:prod:-", "prod-2:window:prod:-"]
    );
    assert_eq!(d.recheck_at, Some(t("2026-11-28T01:00:00Z")));
    let d = run(&req, &config, SATURDAY);
    assert_eq!(
        names(&d.start),
        vec!["prod-1:control-plane:1.32.0", "prod-2:control-plane:1.32.0"]
    );
}

#[test]
fn approval_is_asked_only_once_earlier_waves_are_done_and_baked() {
    let config = with(
        waves_config(),
        serde_json::json!({"approval_before": ["prod"]}),
    );
    let mut clusters = staging_done_prod_waiting();
    clusters[0] = cluster("staging-1", "staging");
    let d = run(&request(clusters), &config, SATURDAY);
    assert_eq!(names(&d.start), vec!["staging-1:control-plane:1.32.0"]);
    assert_eq!(causes(&d), vec!["prod-1:wave:prod:-", "prod-2:wave:prod:-"]);
    // Staging finished 10 minutes ago: the 120-minute bake comes before the approval.
    let mut clusters = staging_done_prod_waiting();
    clusters[0] = done(cluster("staging-1", "staging"), "2026-11-28T01:50:00Z");
    let d = run(&request(clusters), &config, SATURDAY);
    assert_eq!(causes(&d), vec!["prod-1:bake:prod:-", "prod-2:bake:prod:-"]);
    assert_eq!(d.recheck_at, Some(t("2026-11-28T03:50:00Z")));
}

#[test]
fn a_listed_signal_on_any_cluster_stops_every_new_step() {
    let config = with(
        waves_config(),
        serde_json::json!({"hold_on_signals": ["SLOBurn"]}),
    );
    let mut clusters = staging_done_prod_waiting();
    let mut running = cluster("prod-0", "prod");
    running.in_progress = Some(UpgradeStep {
        cluster: running.id.clone(),
        target: UpgradeTarget::ControlPlane,
        to: v("1.32.0"),
        wave: Some("prod".into()),
    });
    clusters.push(running);
    let signal = |name: &str| Signal {
        name: name.into(),
        reason: "BurnRateHigh".into(),
        message: "error budget burning 14x".into(),
        since: Some(t("2026-11-28T01:30:00Z")),
    };
    clusters[2].signals = vec![signal("DiskPressure")];
    // An unlisted signal holds nothing.
    let d = run(&request(clusters.clone()), &config, SATURDAY);
    assert_eq!(names(&d.start).len(), 2, "{d:?}");
    // A listed one, on any cluster, holds every cluster that would start; the running step
    // is not listed as held (the host finishes it).
    clusters[2].signals.push(signal("SLOBurn"));
    clusters[0].signals = vec![signal("SLOBurn")];
    let d = run(&request(clusters.clone()), &config, SATURDAY);
    assert!(d.start.is_empty());
    assert_eq!(
        causes(&d),
        vec!["prod-1:signal:prod:-", "prod-2:signal:prod:-"]
    );
    // The reason names the first cluster (by namespace/name) carrying a listed signal.
    assert_eq!(
        d.hold[0].reason,
        "signal SLOBurn firing on tenant-acme/prod-2"
    );
    // Without the option signals are only information.
    let d = run(&request(clusters), &waves_config(), SATURDAY);
    assert_eq!(names(&d.start).len(), 2);
}

#[test]
fn approval_and_signal_options_are_validated() {
    let bad = |extra: serde_json::Value| {
        config::validate(&with(waves_config(), extra))
            .unwrap_err()
            .message
    };
    assert_eq!(
        bad(serde_json::json!({"approval_before": ["qa"]})),
        "approval_before[0]: no wave is named \"qa\" (the waves are: canary, dev, staging, prod, default)"
    );
    assert!(bad(serde_json::json!({"approval_before": ["Prod"]})).contains("not a DNS label"));
    assert!(bad(serde_json::json!({"approval_before": ["prod", "prod"]})).contains("duplicate"));
    assert!(
        bad(serde_json::json!({"hold_on_signals": ["signal.fleetward.dev/SLOBurn"]}))
            .contains("without the `signal.fleetward.dev/` prefix")
    );
    assert!(bad(serde_json::json!({"hold_on_signals": [""]})).contains("hold_on_signals[0]"));
    let ok = with(
        waves_config(),
        serde_json::json!({"approval_before": ["canary", "default"], "hold_on_signals": ["SLO_burn.v2"]}),
    );
    config::validate(&ok).unwrap();
    // Both spellings of the keys are accepted.
    let camel: Config = serde_json::from_value(
        serde_json::json!({"approvalBefore": ["default"], "holdOnSignals": ["SLOBurn"]}),
    )
    .unwrap();
    assert_eq!(camel.approval_before, vec!["default"]);
    assert_eq!(camel.hold_on_signals, vec!["SLOBurn"]);
}

#[test]
fn every_hold_says_its_cause_and_wave() {
    let mut sick = cluster("dev-1", "dev");
    sick.health.healthy = false;
    let mut paused = cluster("dev-2", "dev");
    paused.upgrades_paused = true;
    let config = Config {
        max_concurrent: 1,
        ..waves_config()
    };
    let d = run(
        &request(vec![
            sick,
            paused,
            cluster("dev-3", "dev"),
            cluster("dev-4", "dev"),
            cluster("staging-1", "staging"),
            cluster("prod-1", "prod"),
        ]),
        &config,
        NOW,
    );
    assert_eq!(names(&d.start), vec!["dev-3:control-plane:1.32.0"]);
    assert_eq!(
        causes(&d),
        vec![
            "dev-1:health:dev:-",
            "dev-2:health:dev:-",
            "dev-4:concurrency:dev:-",
            "staging-1:wave:staging:-",
            "prod-1:wave:prod:-",
        ]
    );
}

#[test]
fn fixtures() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
    let report = fleetward_sdk::testing::assert_fixture_dir(dir, &EXPORTS);
    assert!(report.passed() >= 6);
}
