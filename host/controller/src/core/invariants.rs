//! The upgrade invariants: what the host guarantees whatever a policy answers.
//!
//! Two entry points share one rule set:
//! - [`admit`] checks a policy's proposed steps against the tenant's observed fleet and the
//!   fleet-wide concurrency, admitting steps in order and vetoing the rest with the
//!   [`Invariant`] they would break;
//! - [`check_cluster_state`], [`check_transition`] and [`check_concurrency`] check *arbitrary
//!   observed state* (e.g. every write an emulator saw), so tests and `fleetward simulate` can
//!   assert that no write ever violated an invariant.

use std::collections::{BTreeMap, BTreeSet};

use fleetward_sdk::wire::{
    ClusterRef, FleetCluster, KubeVersion, UpgradeLimits, UpgradeStep, UpgradeTarget,
};

use super::fair_share::Allowance;

/// Oldest kubelet minor a control plane supports behind itself.
pub const KUBELET_SKEW: i64 = 3;

/// An invariant the host enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Invariant {
    /// Only the tenant's own clusters (those in the request) may be named.
    TenantOwnership,
    /// Node pools never run newer than the control plane: the control plane upgrades first.
    ControlPlaneFirst,
    /// A target moves at most one minor version per step, and control-plane components stay
    /// within one minor of each other.
    OneMinorAtATime,
    /// Pools stay within the supported kubelet skew (3 minors) behind the control plane.
    KubeletSkew,
    /// Versions never go down.
    NoDowngrade,
    /// No step beyond the version the spec asks for, and none that changes nothing.
    WithinDesired,
    /// At most one step in flight per cluster.
    OneStepPerCluster,
    /// Fleet-wide cap on steps in flight.
    GlobalConcurrency,
    /// Per-seed cap on steps in flight.
    SeedConcurrency,
    /// No step on a cluster whose upgrades are paused or that is not placed yet.
    UpgradesPaused,
    /// The step names a node pool the cluster does not have.
    UnknownTarget,
    /// No step starts on a cluster whose seed's API server cannot be worked on now.
    SeedReachable,
    /// A tenant takes no more than its fair share of the caps while other tenants wait
    /// ([`super::fair_share`]).
    FairShare,
}

impl Invariant {
    /// Stable name for status, Events, metrics and the decision ledger.
    pub const fn as_str(self) -> &'static str {
        match self {
            Invariant::TenantOwnership => "TenantOwnership",
            Invariant::ControlPlaneFirst => "ControlPlaneFirst",
            Invariant::OneMinorAtATime => "OneMinorAtATime",
            Invariant::KubeletSkew => "KubeletSkew",
            Invariant::NoDowngrade => "NoDowngrade",
            Invariant::WithinDesired => "WithinDesired",
            Invariant::OneStepPerCluster => "OneStepPerCluster",
            Invariant::GlobalConcurrency => "GlobalConcurrency",
            Invariant::SeedConcurrency => "SeedConcurrency",
            Invariant::UpgradesPaused => "UpgradesPaused",
            Invariant::UnknownTarget => "UnknownTarget",
            Invariant::SeedReachable => "SeedReachable",
            Invariant::FairShare => "FairShare",
        }
    }
}

impl std::fmt::Display for Invariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A proposed step the host refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Veto {
    /// The step.
    pub step: UpgradeStep,
    /// The invariant it would break.
    pub invariant: Invariant,
    /// Human-readable detail.
    pub message: String,
}

/// Observed state that breaks an invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The cluster (for fleet-wide caps: the cluster that went over).
    pub cluster: ClusterRef,
    /// Which invariant.
    pub invariant: Invariant,
    /// Detail.
    pub message: String,
}

/// Steps already in flight across the whole fleet (all tenants), for the caps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InFlight {
    /// Total steps running.
    pub total: u32,
    /// Steps running per seed.
    pub per_seed: BTreeMap<String, u32>,
}

/// The result of [`admit`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Admission {
    /// Steps to start, in the policy's order.
    pub admitted: Vec<UpgradeStep>,
    /// Steps refused, with the invariant.
    pub vetoed: Vec<Veto>,
}

/// Checks one step against one cluster's observed state (no caps).
///
/// # Errors
/// The [`Invariant`] the step would break and why.
pub fn check_step(cluster: &FleetCluster, step: &UpgradeStep) -> Result<(), (Invariant, String)> {
    if cluster.upgrades_paused {
        return Err((Invariant::UpgradesPaused, "upgrades are paused".into()));
    }
    if cluster.seed.is_none() {
        return Err((
            Invariant::UpgradesPaused,
            "cluster is not placed yet".into(),
        ));
    }
    if let Some(running) = &cluster.in_progress {
        return Err((
            Invariant::OneStepPerCluster,
            format!("{} -> {} is still in progress", running.target, running.to),
        ));
    }
    let cp = &cluster.control_plane;
    let (current, desired) = match &step.target {
        UpgradeTarget::ControlPlane => (cp.current, cp.desired),
        UpgradeTarget::NodePool { pool } => {
            match cluster.node_pools.iter().find(|p| &p.name == pool) {
                Some(p) => (p.current, p.desired),
                None => return Err((Invariant::UnknownTarget, format!("no node pool {pool:?}"))),
            }
        }
    };
    if step.to < current {
        return Err((
            Invariant::NoDowngrade,
            format!(
                "{} would go down from {current} to {}",
                step.target, step.to
            ),
        ));
    }
    if step.to == current || step.to > desired {
        return Err((
            Invariant::WithinDesired,
            format!(
                "{} is at {current}, desired {desired}; step to {} is not needed",
                step.target, step.to
            ),
        ));
    }
    if step.to.minor_distance(current) > 1 {
        return Err((
            Invariant::OneMinorAtATime,
            format!(
                "{} {current} -> {} skips a minor version",
                step.target, step.to
            ),
        ));
    }
    match &step.target {
        UpgradeTarget::ControlPlane => {
            if let Some(p) = cluster
                .node_pools
                .iter()
                .find(|p| step.to.minor_distance(p.current) > KUBELET_SKEW)
            {
                return Err((
                    Invariant::KubeletSkew,
                    format!(
                        "pool {} at {} would fall more than {KUBELET_SKEW} minors behind {}",
                        p.name, p.current, step.to
                    ),
                ));
            }
        }
        UpgradeTarget::NodePool { pool } => {
            if step.to.minor_distance(cp.current) > 0 || step.to > cp.current {
                return Err((
                    Invariant::ControlPlaneFirst,
                    format!(
                        "pool {pool} to {} would be newer than the control plane at {}",
                        step.to, cp.current
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Admits the policy's proposed steps in order while every invariant and cap holds, and while
/// the tenant stays within its fair `share` of the caps ([`super::fair_share`]).
pub fn admit(
    tenant_clusters: &[FleetCluster],
    proposed: &[UpgradeStep],
    in_flight: &InFlight,
    limits: &UpgradeLimits,
    unavailable_seeds: &BTreeSet<String>,
    share: &Allowance,
) -> Admission {
    let by_id: BTreeMap<&ClusterRef, &FleetCluster> =
        tenant_clusters.iter().map(|c| (&c.id, c)).collect();
    let mut total = in_flight.total;
    let mut per_seed = in_flight.per_seed.clone();
    // The tenant's own steps in flight, for its share.
    let mut mine = 0u32;
    let mut mine_per_seed: BTreeMap<String, u32> = BTreeMap::new();
    for c in tenant_clusters.iter().filter(|c| c.in_progress.is_some()) {
        mine += 1;
        *mine_per_seed
            .entry(c.seed.clone().unwrap_or_default())
            .or_default() += 1;
    }
    let mut started: BTreeSet<&ClusterRef> = BTreeSet::new();
    let mut out = Admission::default();
    for step in proposed {
        let veto = |invariant, message| Veto {
            step: step.clone(),
            invariant,
            message,
        };
        let Some(cluster) = by_id.get(&step.cluster) else {
            out.vetoed.push(veto(
                Invariant::TenantOwnership,
                format!("{} is not one of the tenant's clusters", step.cluster),
            ));
            continue;
        };
        if started.contains(&step.cluster) {
            out.vetoed.push(veto(
                Invariant::OneStepPerCluster,
                "another step of this cluster was admitted in this decision".into(),
            ));
            continue;
        }
        if let Err((inv, msg)) = check_step(cluster, step) {
            out.vetoed.push(veto(inv, msg));
            continue;
        }
        if let Some(seed) = cluster
            .seed
            .as_ref()
            .filter(|s| unavailable_seeds.contains(*s))
        {
            out.vetoed.push(veto(
                Invariant::SeedReachable,
                format!("seed {seed}'s API server cannot be worked on now"),
            ));
            continue;
        }
        if total >= limits.max_concurrent {
            out.vetoed.push(veto(
                Invariant::GlobalConcurrency,
                format!("{total} step(s) in flight, cap {}", limits.max_concurrent),
            ));
            continue;
        }
        let seed = cluster.seed.clone().unwrap_or_default();
        let on_seed = per_seed.get(&seed).copied().unwrap_or(0);
        if on_seed >= limits.max_concurrent_per_seed {
            out.vetoed.push(veto(
                Invariant::SeedConcurrency,
                format!(
                    "{on_seed} step(s) in flight on seed {seed}, cap {}",
                    limits.max_concurrent_per_seed
                ),
            ));
            continue;
        }
        let mine_on_seed = mine_per_seed.get(&seed).copied().unwrap_or(0);
        let seed_ceiling = share.on_seed(&seed);
        let over_share = if mine >= share.global {
            Some(format!(
                "{mine} step(s) in flight; its fair share of the fleet-wide cap {} is {}",
                limits.max_concurrent, share.global
            ))
        } else if mine_on_seed >= seed_ceiling {
            Some(format!(
                "{mine_on_seed} step(s) in flight on seed {seed}; its fair share of the seed's \
                 cap {} is {seed_ceiling}",
                limits.max_concurrent_per_seed
            ))
        } else {
            None
        };
        if let Some(over) = over_share {
            out.vetoed.push(veto(
                Invariant::FairShare,
                format!(
                    "the tenant has {over} while {} other tenant(s) wait",
                    share.others_waiting
                ),
            ));
            continue;
        }
        total += 1;
        mine += 1;
        *mine_per_seed.entry(seed.clone()).or_default() += 1;
        *per_seed.entry(seed).or_default() += 1;
        started.insert(&step.cluster);
        out.admitted.push(step.clone());
    }
    out
}

/// One cluster's versions as observed on the seed (from workload labels and MachineDeployments).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedCluster {
    /// The cluster.
    pub id: ClusterRef,
    /// Version per control-plane component.
    pub control_plane: BTreeMap<String, KubeVersion>,
    /// Kubelet version per node pool.
    pub pools: BTreeMap<String, KubeVersion>,
}

/// Invariants that any single observed state must satisfy.
pub fn check_cluster_state(c: &ObservedCluster) -> Vec<Violation> {
    let mut out = Vec::new();
    let v = |invariant, message| Violation {
        cluster: c.id.clone(),
        invariant,
        message,
    };
    let (Some(cp_min), Some(cp_max)) = (
        c.control_plane.values().min(),
        c.control_plane.values().max(),
    ) else {
        return out;
    };
    if cp_max.minor_distance(*cp_min) > 1 {
        out.push(v(
            Invariant::OneMinorAtATime,
            format!("control-plane components span {cp_min}..{cp_max}"),
        ));
    }
    for (pool, pv) in &c.pools {
        if (pv.major, pv.minor) > (cp_min.major, cp_min.minor) {
            out.push(v(
                Invariant::ControlPlaneFirst,
                format!("pool {pool} at {pv} is newer than control plane {cp_min}"),
            ));
        }
        if cp_max.minor_distance(*pv) > KUBELET_SKEW {
            out.push(v(
                Invariant::KubeletSkew,
                format!("pool {pool} at {pv} is more than {KUBELET_SKEW} minors behind {cp_max}"),
            ));
        }
    }
    out
}

/// Invariants between two consecutive observed states of one cluster.
pub fn check_transition(before: &ObservedCluster, after: &ObservedCluster) -> Vec<Violation> {
    let mut out = Vec::new();
    let pairs = before
        .control_plane
        .iter()
        .filter_map(|(k, b)| {
            after
                .control_plane
                .get(k)
                .map(|a| (format!("control-plane/{k}"), b, a))
        })
        .chain(
            before
                .pools
                .iter()
                .filter_map(|(k, b)| after.pools.get(k).map(|a| (format!("pool/{k}"), b, a))),
        );
    for (what, b, a) in pairs {
        if a < b {
            out.push(Violation {
                cluster: after.id.clone(),
                invariant: Invariant::NoDowngrade,
                message: format!("{what} went down from {b} to {a}"),
            });
        } else if a.minor_distance(*b) > 1 {
            out.push(Violation {
                cluster: after.id.clone(),
                invariant: Invariant::OneMinorAtATime,
                message: format!("{what} jumped from {b} to {a}"),
            });
        }
    }
    out
}

/// Fleet-wide caps over the clusters with a step in flight (`(cluster, seed)`).
pub fn check_concurrency(
    upgrading: &[(ClusterRef, Option<String>)],
    limits: &UpgradeLimits,
) -> Vec<Violation> {
    let mut out = Vec::new();
    if upgrading.len() as u32 > limits.max_concurrent
        && let Some((c, _)) = upgrading.last()
    {
        {
            out.push(Violation {
                cluster: c.clone(),
                invariant: Invariant::GlobalConcurrency,
                message: format!(
                    "{} steps in flight, cap {}",
                    upgrading.len(),
                    limits.max_concurrent
                ),
            });
        }
    }
    let mut per_seed: BTreeMap<&str, Vec<&ClusterRef>> = BTreeMap::new();
    for (c, s) in upgrading {
        per_seed
            .entry(s.as_deref().unwrap_or(""))
            .or_default()
            .push(c);
    }
    for (seed, cs) in per_seed {
        if cs.len() as u32 > limits.max_concurrent_per_seed {
            out.push(Violation {
                cluster: cs[cs.len() - 1].clone(),
                invariant: Invariant::SeedConcurrency,
                message: format!(
                    "{} steps in flight on seed {seed}, cap {}",
                    cs.len(),
                    limits.max_concurrent_per_seed
                ),
            });
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use fleetward_sdk::wire::{Health, PoolState, VersionState};

    pub(crate) fn v(s: &str) -> KubeVersion {
        KubeVersion::parse(s).unwrap()
    }

    pub(crate) fn cluster(
        name: &str,
        seed: &str,
        cp: (&str, &str),
        pool: (&str, &str),
    ) -> FleetCluster {
        FleetCluster {
            id: ClusterRef::new("t", name),
            labels: Default::default(),
            seed: Some(seed.into()),
            control_plane: VersionState {
                current: v(cp.0),
                desired: v(cp.1),
            },
            node_pools: vec![PoolState {
                name: "workers".into(),
                current: v(pool.0),
                desired: v(pool.1),
                replicas: 2,
                ready_replicas: 2,
            }],
            health: Health {
                healthy: true,
                reasons: vec![],
            },
            in_progress: None,
            upgrades_paused: false,
            settled_since: None,
            signals: Vec::new(),
        }
    }

    fn cp_step(name: &str, to: &str) -> UpgradeStep {
        UpgradeStep {
            cluster: ClusterRef::new("t", name),
            target: UpgradeTarget::ControlPlane,
            to: v(to),
            wave: None,
        }
    }

    fn pool_step(name: &str, to: &str) -> UpgradeStep {
        UpgradeStep {
            cluster: ClusterRef::new("t", name),
            target: UpgradeTarget::NodePool {
                pool: "workers".into(),
            },
            to: v(to),
            wave: None,
        }
    }

    const LIMITS: UpgradeLimits = UpgradeLimits {
        max_concurrent: 2,
        max_concurrent_per_seed: 1,
    };

    fn vetoed_by(c: &FleetCluster, s: UpgradeStep) -> Option<Invariant> {
        check_step(c, &s).err().map(|(i, _)| i)
    }

    #[test]
    fn step_rules() {
        let c = cluster("a", "s1", ("1.31.0", "1.33.0"), ("1.31.0", "1.33.0"));
        assert_eq!(vetoed_by(&c, cp_step("a", "1.32.0")), None);
        assert_eq!(
            vetoed_by(&c, cp_step("a", "1.33.0")),
            Some(Invariant::OneMinorAtATime)
        );
        assert_eq!(
            vetoed_by(&c, cp_step("a", "1.30.0")),
            Some(Invariant::NoDowngrade)
        );
        assert_eq!(
            vetoed_by(&c, cp_step("a", "1.34.0")),
            Some(Invariant::WithinDesired)
        );
        assert_eq!(
            vetoed_by(&c, pool_step("a", "1.32.0")),
            Some(Invariant::ControlPlaneFirst)
        );
        let mut p = c.clone();
        p.control_plane.current = v("1.32.0");
        assert_eq!(vetoed_by(&p, pool_step("a", "1.32.0")), None);
        let mut paused = c.clone();
        paused.upgrades_paused = true;
        assert_eq!(
            vetoed_by(&paused, cp_step("a", "1.32.0")),
            Some(Invariant::UpgradesPaused)
        );
        let skew = cluster("b", "s1", ("1.31.0", "1.32.0"), ("1.28.0", "1.32.0"));
        assert_eq!(
            vetoed_by(&skew, cp_step("b", "1.32.0")),
            Some(Invariant::KubeletSkew)
        );
        let mut unknown = pool_step("a", "1.31.0");
        unknown.target = UpgradeTarget::NodePool { pool: "gpu".into() };
        assert_eq!(vetoed_by(&c, unknown), Some(Invariant::UnknownTarget));
    }

    #[test]
    fn admit_enforces_ownership_and_caps_in_order() {
        let fleet = vec![
            cluster("a", "s1", ("1.31.0", "1.32.0"), ("1.31.0", "1.32.0")),
            cluster("b", "s1", ("1.31.0", "1.32.0"), ("1.31.0", "1.32.0")),
            cluster("c", "s2", ("1.31.0", "1.32.0"), ("1.31.0", "1.32.0")),
            cluster("d", "s3", ("1.31.0", "1.32.0"), ("1.31.0", "1.32.0")),
        ];
        let mut foreign = cp_step("x", "1.32.0");
        foreign.cluster.namespace = "other".into();
        let proposed = vec![
            foreign,
            cp_step("a", "1.32.0"),
            cp_step("a", "1.32.0"),
            cp_step("b", "1.32.0"),
            cp_step("c", "1.32.0"),
            cp_step("d", "1.32.0"),
        ];
        let adm = admit(
            &fleet,
            &proposed,
            &InFlight::default(),
            &LIMITS,
            &BTreeSet::new(),
            &Allowance::unlimited(),
        );
        let admitted: Vec<_> = adm
            .admitted
            .iter()
            .map(|s| s.cluster.name.as_str())
            .collect();
        assert_eq!(admitted, ["a", "c"]);
        let vetoes: Vec<_> = adm.vetoed.iter().map(|v| v.invariant).collect();
        assert_eq!(
            vetoes,
            [
                Invariant::TenantOwnership,
                Invariant::OneStepPerCluster,
                Invariant::SeedConcurrency,
                Invariant::GlobalConcurrency
            ]
        );
        let busy = InFlight {
            total: 2,
            per_seed: Default::default(),
        };
        assert!(
            admit(
                &fleet,
                &proposed[1..2],
                &busy,
                &LIMITS,
                &BTreeSet::new(),
                &Allowance::unlimited()
            )
            .admitted
            .is_empty()
        );
    }

    #[test]
    fn no_step_starts_on_a_seed_that_cannot_be_worked_on() {
        let fleet = vec![
            cluster("a", "s1", ("1.31.0", "1.32.0"), ("1.31.0", "1.32.0")),
            cluster("b", "s2", ("1.31.0", "1.32.0"), ("1.31.0", "1.32.0")),
        ];
        let proposed = vec![cp_step("a", "1.32.0"), cp_step("b", "1.32.0")];
        let down = BTreeSet::from(["s1".to_string()]);
        let adm = admit(
            &fleet,
            &proposed,
            &InFlight::default(),
            &LIMITS,
            &down,
            &Allowance::unlimited(),
        );
        let admitted: Vec<_> = adm
            .admitted
            .iter()
            .map(|s| s.cluster.name.as_str())
            .collect();
        assert_eq!(admitted, ["b"]);
        assert_eq!(adm.vetoed.len(), 1);
        assert_eq!(adm.vetoed[0].invariant, Invariant::SeedReachable);
        assert!(adm.vetoed[0].message.contains("seed s1"));
    }

    /// The tenant's share holds back steps the caps would allow; the hard caps are checked
    /// first, and the tenant's own steps in flight count against its share.
    #[test]
    fn admit_keeps_a_tenant_within_its_fair_share() {
        let mut running = cluster("r", "s1", ("1.31.0", "1.32.0"), ("1.31.0", "1.32.0"));
        running.in_progress = Some(cp_step("r", "1.32.0"));
        let fleet = vec![
            running,
            cluster("a", "s1", ("1.31.0", "1.32.0"), ("1.31.0", "1.32.0")),
            cluster("b", "s2", ("1.31.0", "1.32.0"), ("1.31.0", "1.32.0")),
            cluster("c", "s2", ("1.31.0", "1.32.0"), ("1.31.0", "1.32.0")),
        ];
        let proposed = vec![
            cp_step("a", "1.32.0"),
            cp_step("b", "1.32.0"),
            cp_step("c", "1.32.0"),
        ];
        let limits = UpgradeLimits {
            max_concurrent: 10,
            max_concurrent_per_seed: 3,
        };
        let in_flight = InFlight {
            total: 1,
            per_seed: [("s1".to_string(), 1)].into(),
        };
        // Share 3 fleet-wide, 1 on s1: r (running) fills s1, b and c fill the rest.
        let share = Allowance {
            global: 3,
            per_seed: [("s1".to_string(), 1)].into(),
            others_waiting: 4,
        };
        let adm = admit(
            &fleet,
            &proposed,
            &in_flight,
            &limits,
            &BTreeSet::new(),
            &share,
        );
        let admitted: Vec<_> = adm
            .admitted
            .iter()
            .map(|s| s.cluster.name.as_str())
            .collect();
        assert_eq!(admitted, ["b", "c"]);
        assert_eq!(adm.vetoed.len(), 1);
        assert_eq!(adm.vetoed[0].invariant, Invariant::FairShare);
        assert!(
            adm.vetoed[0].message.contains("on seed s1")
                && adm.vetoed[0].message.contains("4 other tenant(s) wait"),
            "{}",
            adm.vetoed[0].message
        );
        // Fleet-wide share 2: r and a; b and c are held by the share, not by the cap.
        let share = Allowance {
            global: 2,
            ..Allowance::unlimited()
        };
        let adm = admit(
            &fleet,
            &proposed,
            &in_flight,
            &limits,
            &BTreeSet::new(),
            &share,
        );
        let admitted: Vec<_> = adm
            .admitted
            .iter()
            .map(|s| s.cluster.name.as_str())
            .collect();
        assert_eq!(admitted, ["a"]);
        let vetoes: Vec<_> = adm.vetoed.iter().map(|v| v.invariant).collect();
        assert_eq!(vetoes, [Invariant::FairShare, Invariant::FairShare]);
        assert!(adm.vetoed[0].message.contains("fleet-wide cap 10 is 2"));
        // A full cap is reported as the cap, whatever the share.
        let full = InFlight {
            total: 10,
            per_seed: Default::default(),
        };
        let adm = admit(
            &fleet,
            &proposed[..1],
            &full,
            &limits,
            &BTreeSet::new(),
            &share,
        );
        assert_eq!(adm.vetoed[0].invariant, Invariant::GlobalConcurrency);
    }

    fn observed(cp: &[&str], pool: &str) -> ObservedCluster {
        ObservedCluster {
            id: ClusterRef::new("t", "a"),
            control_plane: cp
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("c{i}"), v(s)))
                .collect(),
            pools: [("workers".to_string(), v(pool))].into(),
        }
    }

    #[test]
    fn observed_state_checks() {
        assert!(check_cluster_state(&observed(&["1.32.0", "1.31.0"], "1.31.0")).is_empty());
        let bad = check_cluster_state(&observed(&["1.31.0", "1.31.0"], "1.32.0"));
        assert_eq!(bad[0].invariant, Invariant::ControlPlaneFirst);
        let bad = check_cluster_state(&observed(&["1.33.0", "1.31.0"], "1.31.0"));
        assert_eq!(bad[0].invariant, Invariant::OneMinorAtATime);
        let bad = check_cluster_state(&observed(&["1.32.0"], "1.28.0"));
        assert_eq!(bad[0].invariant, Invariant::KubeletSkew);
        let t = check_transition(
            &observed(&["1.31.0"], "1.31.0"),
            &observed(&["1.33.0"], "1.30.0"),
        );
        let kinds: Vec<_> = t.iter().map(|v| v.invariant).collect();
        assert_eq!(kinds, [Invariant::OneMinorAtATime, Invariant::NoDowngrade]);
        let up = vec![
            (ClusterRef::new("t", "a"), Some("s1".into())),
            (ClusterRef::new("t", "b"), Some("s1".into())),
            (ClusterRef::new("t", "c"), Some("s2".into())),
        ];
        let kinds: Vec<_> = check_concurrency(&up, &LIMITS)
            .iter()
            .map(|v| v.invariant)
            .collect();
        assert_eq!(
            kinds,
            [Invariant::GlobalConcurrency, Invariant::SeedConcurrency]
        );
    }
}
