//! Unit tests of the placement logic, called as plain Rust.

use fleetward_sdk::Context;
use fleetward_sdk::wire::{
    ClusterRef, ClusterToPlace, ExistingPlacement, KubeVersion, PlacementConstraints,
    PlacementRequest, SeedCandidate, Timestamp,
};

use super::*;

fn seed(name: &str, region: &str, zone: &str, clusters: u32, capacity: u32) -> SeedCandidate {
    SeedCandidate {
        name: name.into(),
        region: region.into(),
        provider: "aws".into(),
        zone: Some(zone.into()),
        labels: Default::default(),
        capacity,
        clusters,
        ready: true,
        min_version: KubeVersion::new(1, 30, 0),
        max_version: KubeVersion::new(1, 33, 0),
    }
}

fn request(seeds: Vec<SeedCandidate>) -> PlacementRequest {
    PlacementRequest {
        cluster: ClusterToPlace {
            id: ClusterRef::new("tenant-acme", "prod-1"),
            labels: Default::default(),
            version: KubeVersion::new(1, 31, 0),
            constraints: PlacementConstraints::default(),
        },
        seeds,
        tenant_placements: vec![],
    }
}

fn ctx() -> Context<'static> {
    Context::new(Timestamp(0), "acme")
}

#[test]
fn least_loaded_wins() {
    let req = request(vec![
        seed("a", "eu", "1", 50, 100),
        seed("b", "eu", "2", 10, 100),
    ]);
    let d = place(&req, &Config::default(), &ctx()).unwrap();
    assert_eq!(d.seed.as_deref(), Some("b"));
    assert_eq!(d.scores.len(), 2);
    assert!(d.scores[1].score > d.scores[0].score);
}

#[test]
fn ties_break_by_name_regardless_of_input_order() {
    let req = request(vec![
        seed("zz", "eu", "1", 5, 10),
        seed("aa", "eu", "2", 5, 10),
    ]);
    let d = place(&req, &Config::default(), &ctx()).unwrap();
    assert_eq!(d.seed.as_deref(), Some("aa"));
    assert_eq!(d.scores[0].seed, "aa", "scores are sorted by seed name");
}

#[test]
fn spreads_away_from_tenant_clusters_and_zones() {
    let mut req = request(vec![
        seed("a", "eu", "1", 10, 100),
        seed("b", "eu", "1", 10, 100),
        seed("c", "eu", "2", 12, 100),
    ]);
    req.tenant_placements = vec![ExistingPlacement {
        cluster: ClusterRef::new("tenant-acme", "prod-0"),
        seed: "a".into(),
    }];
    let d = place(&req, &Config::default(), &ctx()).unwrap();
    // a has the tenant's cluster, b shares its zone: c wins despite being fuller.
    assert_eq!(d.seed.as_deref(), Some("c"));
    assert!(d.scores[0].reason.contains("1 on seed"));
    assert!(d.scores[1].reason.contains("1 in zone"));
}

#[test]
fn hard_filters_exclude_with_reasons() {
    let mut not_ready = seed("a", "eu", "1", 0, 10);
    not_ready.ready = false;
    let full = seed("b", "eu", "1", 10, 10);
    let mut old = seed("c", "eu", "1", 0, 10);
    old.max_version = KubeVersion::new(1, 30, 9);
    let wrong_region = seed("d", "us", "1", 0, 10);
    let mut req = request(vec![not_ready, full, old, wrong_region]);
    req.cluster.constraints.regions = vec!["eu".into()];
    let d = place(&req, &Config::default(), &ctx()).unwrap();
    assert_eq!(d.seed, None);
    let reasons: Vec<_> = d
        .scores
        .iter()
        .map(|s| (s.score, s.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (-1, "excluded: not ready"),
            (-1, "excluded: full (10/10)"),
            (
                -1,
                "excluded: version 1.31.0 outside supported 1.30.0..=1.30.9"
            ),
            (-1, "excluded: region us not in eu"),
        ]
    );
    assert!(
        d.reason
            .starts_with("no acceptable seed: a: not ready; b: full")
    );
}

#[test]
fn config_filters_and_utilisation_cap() {
    let mut labelled = seed("a", "eu", "1", 0, 10);
    labelled.labels.insert("tier".into(), "gold".into());
    let req = request(vec![
        labelled,
        seed("b", "eu", "1", 0, 10),
        seed("c", "eu", "1", 7, 10),
    ]);
    let config = Config {
        seed_labels: [("tier".to_string(), "gold".to_string())].into(),
        ..Config::default()
    };
    let d = place(&req, &config, &ctx()).unwrap();
    assert_eq!(d.seed.as_deref(), Some("a"));
    assert_eq!(d.scores[1].reason, "excluded: lacks label tier=gold");

    let config = Config {
        max_utilization_percent: 70,
        excluded_seeds: vec!["a".into(), "b".into()],
        ..Config::default()
    };
    let d = place(&req, &config, &ctx()).unwrap();
    assert_eq!(d.seed, None);
    assert_eq!(
        d.scores[2].reason,
        "excluded: would exceed 70% utilisation (8/10)"
    );
}

#[test]
fn preferred_regions_can_outweigh_load() {
    let req = request(vec![
        seed("eu-1", "eu", "1", 40, 100),
        seed("us-1", "us", "1", 0, 100),
    ]);
    let config = Config {
        preferred_regions: vec!["eu".into()],
        weights: config::Weights {
            load: 10,
            spread: 0,
            preferred_region: 100,
        },
        ..Config::default()
    };
    let d = place(&req, &config, &ctx()).unwrap();
    assert_eq!(d.seed.as_deref(), Some("eu-1"));
    assert_eq!(d.scores[0].score, 10 * 59 + 100 * 100);
}

#[test]
fn empty_candidates_decline_and_bad_config_is_rejected() {
    let err = place(&request(vec![]), &Config::default(), &ctx()).unwrap_err();
    assert_eq!(err.code, "no_candidate");
    let bad = Config {
        max_utilization_percent: 0,
        ..Config::default()
    };
    assert_eq!(config::validate(&bad).unwrap_err().code, "invalid_config");
    let dup = Config {
        preferred_regions: vec!["eu".into(), "eu".into()],
        ..Config::default()
    };
    let err = config::validate(&dup).unwrap_err();
    assert_eq!(err.message, "preferred_regions[1]: duplicate region \"eu\"");
}

#[test]
fn dispatch_reports_typed_config_errors_with_path() {
    let input = r#"{"abi_version":1,"decision":"validate_config","now":"2026-11-25T17:00:00Z","tenant":"acme","config":{"weights":{"lod":1}},"request":null}"#;
    let out = dispatch(fleetward_sdk::wire::CallKind::ValidateConfig, input);
    assert!(
        out.starts_with(r#"{"error":{"code":"invalid_config","message":"weights: unknown field `lod`, expected one of"#),
        "{out}"
    );
}

#[test]
fn fixtures() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
    let report = fleetward_sdk::testing::assert_fixture_dir(dir, &EXPORTS);
    assert!(report.passed() >= 6);
}
