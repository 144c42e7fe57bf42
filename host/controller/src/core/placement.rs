//! Placement hard filters and validation of the policy's answer.
//!
//! The host decides which seeds are *allowed*; the policy only picks among them. Its answer must
//! name one of the candidates (or none), otherwise it is invalid output.

use fleetward_sdk::wire::{
    ClusterRef, ClusterToPlace, KubeVersion, PlacementConstraints, PlacementDecision, SeedCandidate,
};

use crate::crd::{ManagedClusterSpec, SeedSpec};

/// A Seed as a placement candidate, hosting `clusters` clusters now; `None` when its version
/// range does not parse. A seed marked unschedulable, or whose API server cannot be worked on
/// now (`reachable` false), is not ready.
pub fn seed_candidate(
    name: String,
    spec: &SeedSpec,
    clusters: u32,
    reachable: bool,
) -> Option<SeedCandidate> {
    Some(SeedCandidate {
        clusters,
        region: spec.region.clone(),
        provider: spec.provider.clone(),
        zone: spec.zone.clone(),
        labels: spec.labels.clone(),
        capacity: spec.capacity,
        ready: !spec.unschedulable && reachable,
        min_version: KubeVersion::parse(&spec.min_version).ok()?,
        max_version: KubeVersion::parse(&spec.max_version).ok()?,
        name,
    })
}

/// The cluster as the placement policy sees it.
pub fn cluster_to_place(
    id: ClusterRef,
    spec: &ManagedClusterSpec,
    desired: KubeVersion,
) -> ClusterToPlace {
    let p = &spec.placement;
    ClusterToPlace {
        id,
        labels: spec.labels.clone(),
        version: desired,
        constraints: PlacementConstraints {
            regions: p.regions.clone(),
            providers: p.providers.clone(),
            seed_labels: p.seed_labels.clone(),
        },
    }
}

/// A seed the hard filters removed, and why (shown in the `Placed` condition when nothing is left).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// Seed name.
    pub seed: String,
    /// Why it cannot host the cluster.
    pub reason: String,
}

/// The host's reasons for the seeds it filtered out, grouped by reason in seed-name order:
/// `eu-1, eu-2 full (20/20); us-1 lacks label geo=eu`. Empty when none was filtered out.
pub fn explain(rejected: &[Rejected]) -> String {
    let mut sorted: Vec<&Rejected> = rejected.iter().collect();
    sorted.sort_by(|a, b| a.seed.cmp(&b.seed));
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for r in sorted {
        match groups.iter_mut().find(|(reason, _)| *reason == r.reason) {
            Some((_, seeds)) => seeds.push(&r.seed),
            None => groups.push((&r.reason, vec![&r.seed])),
        }
    }
    groups
        .iter()
        .map(|(reason, seeds)| format!("{} {reason}", seeds.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why a cluster stays unplaced after its policy chose no seed (or failed): the policy's
/// `reason` about the candidates it saw, and the host's about the seeds it never saw, so a
/// reader learns e.g. that the region's seeds are full, not only that the one left lacks a
/// label.
pub fn refusal_reason(reason: &str, rejected: &[Rejected]) -> String {
    match (reason.is_empty(), rejected.is_empty()) {
        (_, true) => reason.to_string(),
        (true, false) => format!("filtered out by the host: {}", explain(rejected)),
        (false, false) => format!("{reason}; filtered out by the host: {}", explain(rejected)),
    }
}

/// Why a placement answer is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// The policy named a seed that is not among the candidates it was given.
    #[error("policy chose seed {seed:?}, which is not one of the {candidates} candidate(s)")]
    NotACandidate {
        /// The seed it named.
        seed: String,
        /// How many candidates it had.
        candidates: usize,
    },
}

fn minor_of(v: KubeVersion) -> (u32, u32) {
    (v.major, v.minor)
}

/// Splits `seeds` into candidates that pass every hard filter (ready, under capacity, version in
/// range at minor granularity, region/provider/label constraints) and the rejected rest.
/// Candidates stay sorted by name.
pub fn candidates(
    cluster: &ClusterToPlace,
    seeds: &[SeedCandidate],
) -> (Vec<SeedCandidate>, Vec<Rejected>) {
    let mut ok = Vec::new();
    let mut rejected = Vec::new();
    let c = &cluster.constraints;
    for seed in seeds {
        let reason = if !seed.ready {
            Some("not ready".to_string())
        } else if seed.clusters >= seed.capacity {
            Some(format!("full ({}/{})", seed.clusters, seed.capacity))
        } else if minor_of(cluster.version) < minor_of(seed.min_version)
            || minor_of(cluster.version) > minor_of(seed.max_version)
        {
            Some(format!(
                "hosts {}..{}, not {}",
                seed.min_version, seed.max_version, cluster.version
            ))
        } else if !c.regions.is_empty() && !c.regions.contains(&seed.region) {
            Some(format!("region {} not allowed", seed.region))
        } else if !c.providers.is_empty() && !c.providers.contains(&seed.provider) {
            Some(format!("provider {} not allowed", seed.provider))
        } else {
            c.seed_labels
                .iter()
                .find(|(k, v)| seed.labels.get(*k) != Some(*v))
                .map(|(k, v)| format!("lacks label {k}={v}"))
        };
        match reason {
            Some(reason) => rejected.push(Rejected {
                seed: seed.name.clone(),
                reason,
            }),
            None => ok.push(seed.clone()),
        }
    }
    ok.sort_by(|a, b| a.name.cmp(&b.name));
    (ok, rejected)
}

/// Checks the policy's answer against the candidates it was given.
///
/// # Errors
/// [`PlacementError::NotACandidate`] when it names a seed outside the list.
pub fn validate(
    decision: &PlacementDecision,
    candidates: &[SeedCandidate],
) -> Result<Option<String>, PlacementError> {
    match &decision.seed {
        None => Ok(None),
        Some(s) if candidates.iter().any(|c| &c.name == s) => Ok(Some(s.clone())),
        Some(s) => Err(PlacementError::NotACandidate {
            seed: s.clone(),
            candidates: candidates.len(),
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn seed(name: &str, region: &str, clusters: u32, capacity: u32) -> SeedCandidate {
        SeedCandidate {
            name: name.into(),
            region: region.into(),
            provider: "aws".into(),
            zone: None,
            labels: Default::default(),
            capacity,
            clusters,
            ready: true,
            min_version: KubeVersion::new(1, 29, 0),
            max_version: KubeVersion::new(1, 33, 0),
        }
    }

    pub(crate) fn to_place(version: &str, regions: &[&str]) -> ClusterToPlace {
        ClusterToPlace {
            id: ClusterRef::new("t", "c"),
            labels: Default::default(),
            version: KubeVersion::parse(version).unwrap(),
            constraints: PlacementConstraints {
                regions: regions.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn seeds_become_candidates() {
        let mut spec: SeedSpec = serde_json::from_value(serde_json::json!({
            "region": "eu", "provider": "aws", "capacity": 5,
            "minVersion": "1.30", "maxVersion": "1.33.0", "location": {}
        }))
        .unwrap();
        let c = seed_candidate("s".into(), &spec, 2, true).unwrap();
        assert_eq!((c.clusters, c.capacity, c.ready), (2, 5, true));
        assert_eq!(c.min_version, KubeVersion::new(1, 30, 0));
        assert!(
            !seed_candidate("s".into(), &spec, 2, false).unwrap().ready,
            "an unreachable API server is not ready"
        );
        spec.unschedulable = true;
        assert!(!seed_candidate("s".into(), &spec, 2, true).unwrap().ready);
        spec.max_version = "latest".into();
        assert_eq!(seed_candidate("s".into(), &spec, 2, true), None);
    }

    #[test]
    fn filters_each_hard_rule() {
        let mut not_ready = seed("d", "eu", 0, 10);
        not_ready.ready = false;
        let mut labelled = seed("e", "eu", 0, 10);
        labelled.labels.insert("tier".into(), "gold".into());
        let seeds = vec![
            seed("b", "eu", 10, 10),
            seed("a", "eu", 1, 10),
            seed("c", "us", 0, 10),
            not_ready,
            labelled,
        ];
        let mut c = to_place("1.33.7", &["eu"]);
        let (ok, rej) = candidates(&c, &seeds);
        let names: Vec<_> = ok.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "e"]);
        assert_eq!(rej.len(), 3);
        c.constraints
            .seed_labels
            .insert("tier".into(), "gold".into());
        let (ok, _) = candidates(&c, &seeds);
        assert_eq!(ok.len(), 1);
        let (ok, rej) = candidates(&to_place("1.34.0", &[]), &seeds);
        assert!(ok.is_empty());
        assert!(rej.iter().any(|r| r.reason.contains("hosts")));
    }

    #[test]
    fn host_reasons_are_grouped_by_cause() {
        let mut eu2 = seed("eu-2", "eu", 20, 20);
        eu2.labels.insert("geo".into(), "eu".into());
        let mut eu1 = seed("eu-1", "eu", 20, 20);
        eu1.labels.insert("geo".into(), "eu".into());
        let mut eu3 = seed("eu-3", "eu", 5, 10);
        eu3.ready = false;
        let seeds = vec![
            seed("us-1", "us", 3, 20),
            eu2,
            eu3,
            eu1,
            seed("us-2", "us", 0, 20),
        ];
        let mut c = to_place("1.31.0", &[]);
        c.constraints.seed_labels.insert("geo".into(), "eu".into());
        let (ok, rej) = candidates(&c, &seeds);
        assert!(ok.is_empty());
        assert_eq!(
            explain(&rej),
            "eu-1, eu-2 full (20/20); eu-3 not ready; us-1, us-2 lacks label geo=eu"
        );
        assert_eq!(explain(&[]), "");
    }

    #[test]
    fn a_refusal_says_what_the_host_filtered_out_too() {
        // The case: the full EU seeds never reached the policy, which refused us-1.
        let rejected = vec![
            Rejected {
                seed: "eu-2".into(),
                reason: "full (20/20)".into(),
            },
            Rejected {
                seed: "eu-1".into(),
                reason: "full (20/20)".into(),
            },
        ];
        assert_eq!(
            refusal_reason("no acceptable seed: us-1: lacks label geo=eu", &rejected),
            "no acceptable seed: us-1: lacks label geo=eu; filtered out by the host: \
             eu-1, eu-2 full (20/20)"
        );
        assert_eq!(
            refusal_reason("", &rejected),
            "filtered out by the host: eu-1, eu-2 full (20/20)"
        );
        assert_eq!(refusal_reason("policy said no", &[]), "policy said no");
    }

    #[test]
    fn answer_must_be_a_candidate() {
        let cands = vec![seed("a", "eu", 0, 1)];
        let pick = |s: Option<&str>| PlacementDecision {
            seed: s.map(Into::into),
            reason: String::new(),
            scores: vec![],
        };
        assert_eq!(validate(&pick(Some("a")), &cands), Ok(Some("a".into())));
        assert_eq!(validate(&pick(None), &cands), Ok(None));
        assert!(matches!(
            validate(&pick(Some("zz")), &cands),
            Err(PlacementError::NotACandidate { .. })
        ));
    }
}
