//! Fair sharing of the host's upgrade slots (the fleet-wide and per-seed caps) between tenants.
//!
//! The caps say how many steps may run at once; they do not say *whose*. Without a rule, the
//! tenant planned first when a slot frees takes it, and a tenant whose step just finished is
//! planned first (its own cluster asked for the plan): a few tenants kept the slots for hours
//! while others never started (issue #15: 20 tenants × 25 clusters, cap 10 — t01–t03 done in
//! 42 min, t13's first step 163 min after the bump). Two pure rules fix that:
//!
//! - **A ceiling per tenant** ([`FleetLoad::allowance`]): the cap is shared max-min fairly
//!   (water-filling) between the tenants that want slots. A tenant's demand is its steps in
//!   flight plus its *waiting* clusters ([`waits_for_slot`]: needs an upgrade, no step in
//!   flight, upgrades not paused). The level is the smallest `L ≥ 1` with
//!   `Σ min(demand, L) ≥ cap`; no tenant may start a step that would take it above `L` steps in
//!   flight. With every tenant's demand large that is `ceil(cap / tenants)`; a tenant that needs
//!   fewer slots lends the rest (demands 1 and 25 under cap 10: levels 9 and 1 are not needed,
//!   `L = 9`); a tenant alone is limited by the cap only. The same rule shares each seed's cap
//!   among the tenants with demand on that seed. Steps above the ceiling are held back with
//!   [`Invariant::FairShare`](super::invariants::Invariant::FairShare), routine back-pressure
//!   like the caps themselves. Never a preemption: a tenant above its ceiling (it started while
//!   alone) keeps its running steps, it just starts no more until it is below.
//! - **Who picks first** ([`FleetLoad::order`]): when a slot is free, the tenants wanting one
//!   are planned in order of fewest steps in flight, then longest since their last step
//!   started (never started first), then name. A step finishing therefore hands its slot to
//!   the tenant that waited longest, not back to its own tenant. Deterministic: the key depends
//!   only on the observed clusters.
//!
//! A tenant's waiting clusters count even when its policy holds them (a closed window, a bake):
//! the clusters do not say what the policy will do. Such a tenant keeps its share reserved, at
//! most `L` slots, and the next tenant in order is planned for any slot it leaves free.

use std::collections::{BTreeMap, BTreeSet};

use fleetward_sdk::wire::{FleetCluster, Timestamp, UpgradeLimits};

use crate::core::invariants::{Admission, Invariant};
use crate::core::planning;
use crate::crd::ManagedCluster;

/// Whether a cluster wants an upgrade slot: it needs an upgrade, has no step in flight, and its
/// upgrades are not paused.
pub fn waits_for_slot(c: &FleetCluster) -> bool {
    c.needs_upgrade() && c.in_progress.is_none() && !c.upgrades_paused
}

/// One tenant's use of and demand for slots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TenantLoad {
    /// Steps in flight.
    pub in_flight: u32,
    /// Steps in flight per seed.
    pub in_flight_per_seed: BTreeMap<String, u32>,
    /// Clusters waiting for a slot ([`waits_for_slot`]).
    pub waiting: u32,
    /// Waiting clusters per seed.
    pub waiting_per_seed: BTreeMap<String, u32>,
    /// When the tenant's most recent step started (`None`: never).
    pub last_start: Option<Timestamp>,
}

impl TenantLoad {
    /// Slots this tenant could use fleet-wide (`asking`: count its waiting clusters).
    fn demand(&self, asking: bool) -> u32 {
        self.in_flight + if asking { self.waiting } else { 0 }
    }

    /// Slots this tenant could use on `seed`.
    fn demand_on(&self, seed: &str, asking: bool) -> u32 {
        self.in_flight_per_seed.get(seed).copied().unwrap_or(0)
            + if asking {
                self.waiting_per_seed.get(seed).copied().unwrap_or(0)
            } else {
                0
            }
    }
}

/// Whether a plan's admission shows the tenant wanted more slots than it got: a step held back
/// by a cap or by its fair share. A tenant that did not is *satisfied* until it asks again.
pub fn wants_more(adm: &Admission) -> bool {
    adm.vetoed.iter().any(|v| {
        matches!(
            v.invariant,
            Invariant::GlobalConcurrency | Invariant::SeedConcurrency | Invariant::FairShare
        )
    })
}

/// Every tenant's load, from one view of all clusters (the planner's view or the cache).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FleetLoad {
    /// Per tenant, by name.
    pub tenants: BTreeMap<String, TenantLoad>,
    /// Tenants whose last plan asked for no more slots than it got (see [`wants_more`]): their
    /// waiting clusters are held by their own policy (a window, a bake, its own cap, a failing
    /// policy on hold), so they lend their share until they ask again.
    pub satisfied: BTreeSet<String>,
}

/// How many steps a tenant may have in flight, fleet-wide and per seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowance {
    /// Ceiling on the tenant's steps in flight (`u32::MAX`: only the cap limits it).
    pub global: u32,
    /// Ceiling per seed (a seed not listed: only its cap limits it).
    pub per_seed: BTreeMap<String, u32>,
    /// Other tenants with waiting clusters (for the message).
    pub others_waiting: u32,
}

impl Allowance {
    /// No ceiling: only the caps apply.
    pub fn unlimited() -> Self {
        Allowance {
            global: u32::MAX,
            per_seed: BTreeMap::new(),
            others_waiting: 0,
        }
    }

    /// The ceiling on `seed`.
    pub fn on_seed(&self, seed: &str) -> u32 {
        self.per_seed.get(seed).copied().unwrap_or(u32::MAX)
    }
}

/// The water-filling level: the smallest `L ≥ 1` with `Σ min(d, L) ≥ cap`, or `u32::MAX` when
/// all demands fit under the cap together.
pub fn level(cap: u32, demands: &[u32]) -> u32 {
    let total: u64 = demands.iter().map(|&d| u64::from(d)).sum();
    if total <= u64::from(cap) {
        return u32::MAX;
    }
    // Σ min(d, L) grows with L and reaches total > cap at L = max(d): a bounded search.
    let filled = |l: u32| -> u64 { demands.iter().map(|&d| u64::from(d.min(l))).sum() };
    let (mut lo, mut hi) = (1u32, demands.iter().copied().max().unwrap_or(1).max(1));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if filled(mid) >= u64::from(cap) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

impl FleetLoad {
    /// Counts every tenant's steps in flight, waiting clusters and last start. Clusters the
    /// policy would not see (not placed, rejected, being deleted) count only their step in
    /// flight, if any.
    pub fn from_clusters<'a>(all: impl IntoIterator<Item = &'a ManagedCluster>) -> Self {
        let mut fleet = FleetLoad::default();
        for mc in all {
            let Some(st) = mc.status.as_ref() else {
                continue;
            };
            // No allocation for the common case (a known tenant, an idle cluster).
            let t = match fleet.tenants.get_mut(&mc.spec.tenant) {
                Some(t) => t,
                None => fleet.tenants.entry(mc.spec.tenant.clone()).or_default(),
            };
            let started = st
                .in_progress
                .iter()
                .map(|s| s.started_at)
                .chain(st.upgrade_history.iter().map(|h| h.started_at))
                .max();
            t.last_start = t.last_start.max(started);
            let seed = || st.seed.clone().unwrap_or_default();
            if st.in_progress.is_some() {
                t.in_flight += 1;
                *t.in_flight_per_seed.entry(seed()).or_default() += 1;
            } else if planning::wants_slot(mc) {
                t.waiting += 1;
                *t.waiting_per_seed.entry(seed()).or_default() += 1;
            }
        }
        fleet
    }

    /// Marks the tenants whose last plan was satisfied ([`wants_more`] false).
    pub fn with_satisfied(mut self, satisfied: BTreeSet<String>) -> Self {
        self.satisfied = satisfied;
        self
    }

    /// Whether `name`'s waiting clusters count as demand: it is `asker` (being planned now) or
    /// it did not say it was satisfied.
    fn asks(&self, name: &str, asker: Option<&str>) -> bool {
        asker == Some(name) || !self.satisfied.contains(name)
    }

    fn total_in_flight(&self) -> u32 {
        self.tenants.values().map(|t| t.in_flight).sum()
    }

    /// Every tenant's fleet-wide ceiling under `limits` while `asker` is planned.
    fn global_level(&self, limits: &UpgradeLimits, asker: Option<&str>) -> u32 {
        let demands: Vec<u32> = self
            .tenants
            .iter()
            .map(|(name, t)| t.demand(self.asks(name, asker)))
            .collect();
        level(limits.max_concurrent, &demands)
    }

    /// The tenant's ceilings under `limits`.
    pub fn allowance(&self, tenant: &str, limits: &UpgradeLimits) -> Allowance {
        let others_waiting = self
            .tenants
            .iter()
            .filter(|(name, t)| {
                name.as_str() != tenant && t.waiting > 0 && self.asks(name, Some(tenant))
            })
            .count() as u32;
        let seeds: BTreeSet<&String> = self
            .tenants
            .get(tenant)
            .map(|t| t.waiting_per_seed.keys().collect())
            .unwrap_or_default();
        let per_seed = seeds
            .into_iter()
            .map(|seed| {
                let demands: Vec<u32> = self
                    .tenants
                    .iter()
                    .map(|(name, t)| t.demand_on(seed, self.asks(name, Some(tenant))))
                    .collect();
                (
                    seed.clone(),
                    level(limits.max_concurrent_per_seed, &demands),
                )
            })
            .collect();
        Allowance {
            global: self.global_level(limits, Some(tenant)),
            per_seed,
            others_waiting,
        }
    }

    /// Tenants that could start a step now: they have waiting clusters, are not satisfied, the
    /// fleet has a free slot and they are below their ceiling. Planning them when a slot frees
    /// hands it on.
    pub fn slot_seekers(&self, limits: &UpgradeLimits) -> Vec<String> {
        if self.total_in_flight() >= limits.max_concurrent {
            return Vec::new();
        }
        let ceiling = self.global_level(limits, None);
        self.tenants
            .iter()
            .filter(|(name, t)| t.waiting > 0 && t.in_flight < ceiling && self.asks(name, None))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// `tenants` (deduplicated) in the order they should pick free slots: fewest steps in
    /// flight, then longest since their last start (never started first), then name.
    pub fn order(&self, tenants: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut out: Vec<String> = tenants
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        out.sort_by_cached_key(|name| {
            let t = self.tenants.get(name);
            (
                t.map_or(0, |t| t.in_flight),
                t.and_then(|t| t.last_start).map_or(i64::MIN, |s| s.0),
                name.clone(),
            )
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: UpgradeLimits = UpgradeLimits {
        max_concurrent: 10,
        max_concurrent_per_seed: 3,
    };

    fn load(in_flight: &[(&str, u32)], waiting: &[(&str, u32)], last: Option<i64>) -> TenantLoad {
        let m = |xs: &[(&str, u32)]| -> BTreeMap<String, u32> {
            xs.iter().map(|(s, n)| (s.to_string(), *n)).collect()
        };
        TenantLoad {
            in_flight: in_flight.iter().map(|x| x.1).sum(),
            in_flight_per_seed: m(in_flight),
            waiting: waiting.iter().map(|x| x.1).sum(),
            waiting_per_seed: m(waiting),
            last_start: last.map(Timestamp),
        }
    }

    fn fleet(tenants: Vec<(&str, TenantLoad)>) -> FleetLoad {
        FleetLoad {
            tenants: tenants
                .into_iter()
                .map(|(n, t)| (n.to_string(), t))
                .collect(),
            satisfied: BTreeSet::new(),
        }
    }

    fn mc(tenant: &str, name: &str, seed: Option<&str>, current: &str) -> ManagedCluster {
        use crate::crd::{ManagedClusterSpec, ManagedClusterStatus};
        let spec: ManagedClusterSpec =
            serde_json::from_value(serde_json::json!({"tenant": tenant, "version": "1.32.0"}))
                .unwrap();
        let mut mc = ManagedCluster::new(name, spec);
        mc.metadata.namespace = Some(format!("tenant-{tenant}"));
        mc.status = Some(ManagedClusterStatus {
            seed: seed.map(String::from),
            control_plane_version: Some(fleetward_sdk::wire::KubeVersion::parse(current).unwrap()),
            ..Default::default()
        });
        mc
    }

    fn started(mut mc: ManagedCluster, at: i64, running: bool) -> ManagedCluster {
        use crate::crd::{InProgressStep, UpgradeHistoryEntry};
        use fleetward_sdk::wire::{KubeVersion, UpgradeTarget};
        let st = mc.status.as_mut().unwrap();
        let (from, to) = (
            KubeVersion::parse("1.31.0").unwrap(),
            KubeVersion::parse("1.32.0").unwrap(),
        );
        st.upgrade_history.push(UpgradeHistoryEntry {
            target: UpgradeTarget::ControlPlane,
            from,
            to,
            started_at: Timestamp(at),
            completed_at: (!running).then_some(Timestamp(at + 60)),
        });
        if running {
            st.in_progress = Some(InProgressStep {
                target: UpgradeTarget::ControlPlane,
                from,
                to,
                started_at: Timestamp(at),
                wave: None,
            });
        }
        mc
    }

    /// Waiting work comes from the clusters: clusters that need an upgrade with no step in flight,
    /// not paused and placed; steps in flight count per seed; the last start is the newest.
    #[test]
    fn the_fleet_load_is_read_from_the_clusters() {
        let mut paused = mc("a", "paused", Some("s1"), "1.31.0");
        paused.spec.pause_upgrades = true;
        let all = vec![
            mc("a", "w1", Some("s1"), "1.31.0"),
            mc("a", "w2", Some("s2"), "1.31.0"),
            mc("a", "done", Some("s1"), "1.32.0"),
            paused,
            mc("a", "unplaced", None, "1.31.0"),
            started(mc("a", "running", Some("s2"), "1.31.0"), 500, true),
            started(mc("a", "finished", Some("s1"), "1.32.0"), 700, false),
            mc("b", "w", Some("s1"), "1.31.0"),
        ];
        let f = FleetLoad::from_clusters(&all);
        let a = &f.tenants["a"];
        assert_eq!(a.waiting, 2);
        assert_eq!(
            a.waiting_per_seed,
            BTreeMap::from([("s1".into(), 1), ("s2".into(), 1)])
        );
        assert_eq!(a.in_flight, 1);
        assert_eq!(a.in_flight_per_seed, BTreeMap::from([("s2".into(), 1)]));
        assert_eq!(a.last_start, Some(Timestamp(700)));
        let b = &f.tenants["b"];
        assert_eq!((b.waiting, b.in_flight, b.last_start), (1, 0, None));
        // b never started: it picks before a.
        assert_eq!(f.order(["a".into(), "b".into()]), ["b", "a"]);
    }

    #[test]
    fn level_is_ceil_of_cap_over_tenants_when_all_want_many() {
        assert_eq!(level(10, &[25; 20]), 1);
        assert_eq!(level(10, &[25; 3]), 4);
        assert_eq!(level(10, &[25; 10]), 1);
        assert_eq!(level(10, &[25; 4]), 3);
        assert_eq!(level(3, &[5, 5]), 2);
    }

    #[test]
    fn small_demands_lend_their_share_and_fitting_demands_are_unlimited() {
        // One tenant needs 1 slot: the other may take the remaining 9.
        assert_eq!(level(10, &[1, 25]), 9);
        assert_eq!(level(10, &[2, 2, 25]), 6);
        // Everyone fits: no ceiling at all.
        assert_eq!(level(10, &[4, 6]), u32::MAX);
        assert_eq!(level(10, &[]), u32::MAX);
    }

    #[test]
    fn a_tenant_waiting_alone_is_limited_by_the_caps_only() {
        let f = fleet(vec![
            ("a", load(&[], &[("s1", 25), ("s2", 25)], None)),
            // b has a step in flight and nothing waiting: it uses one slot, asks no more.
            ("b", load(&[("s1", 1)], &[], Some(5))),
            ("c", TenantLoad::default()),
        ]);
        let a = f.allowance("a", &CAP);
        assert_eq!(a.global, 9, "the cap minus b's one step");
        assert_eq!(a.on_seed("s1"), 2, "s1's cap 3 minus b's step");
        assert_eq!(a.on_seed("s2"), 3);
        assert_eq!(a.others_waiting, 0);
    }

    #[test]
    fn per_seed_share_splits_a_seed_between_the_tenants_waiting_on_it() {
        let f = fleet(vec![
            ("a", load(&[], &[("s1", 10), ("s2", 10)], None)),
            ("b", load(&[], &[("s1", 10)], None)),
            ("c", load(&[], &[("s1", 10)], None)),
            ("d", load(&[], &[("s1", 10)], None)),
        ]);
        let a = f.allowance("a", &CAP);
        assert_eq!(a.global, 3, "ceil(10 / 4)");
        // s1's 3 slots among 4 tenants: at most 1 each; s2 is a's alone.
        assert_eq!(a.on_seed("s1"), 1);
        assert_eq!(a.on_seed("s2"), 3);
        assert_eq!(a.others_waiting, 3);
        assert_eq!(f.allowance("b", &CAP).on_seed("s1"), 1);
        assert_eq!(
            f.allowance("b", &CAP).on_seed("s2"),
            u32::MAX,
            "b waits nowhere on s2"
        );
    }

    #[test]
    fn the_longest_waiting_tenant_picks_first_and_the_order_is_deterministic() {
        let f = fleet(vec![
            ("t01", load(&[], &[("s1", 20)], Some(900))), // just finished a step
            ("t02", load(&[("s1", 1)], &[("s1", 20)], Some(100))),
            ("t13", load(&[], &[("s1", 25)], None)), // never started
            ("t14", load(&[], &[("s1", 25)], None)),
            ("t07", load(&[], &[("s1", 20)], Some(300))),
        ]);
        let want = ["t13", "t14", "t07", "t01", "t02"];
        let names = ["t01", "t02", "t13", "t14", "t07", "t13"].map(String::from);
        assert_eq!(f.order(names.clone()), want);
        let mut reversed = names.to_vec();
        reversed.reverse();
        assert_eq!(f.order(reversed), want);
        // Unknown tenants (nothing observed yet) sort as never started, by name.
        assert_eq!(f.order(["zz".into(), "t07".into()]), ["zz", "t07"]);
    }

    /// A tenant whose policy holds its waiting clusters (a trapping policy on hold, a closed
    /// window) said so in its last plan: it lends its share until it asks again.
    #[test]
    fn a_satisfied_tenant_lends_its_share_until_it_asks_again() {
        let f = fleet(vec![
            ("healthy", load(&[("s1", 1)], &[("s1", 3)], Some(10))),
            ("trapping", load(&[], &[("s1", 4)], None)),
        ]);
        // Both ask: s1's 3 slots are shared (min(4, L) + min(4, L) >= 3 at L = 2).
        assert_eq!(f.allowance("healthy", &CAP).on_seed("s1"), 2);
        assert!(f.slot_seekers(&CAP).contains(&"trapping".to_string()));
        let f = f.with_satisfied(BTreeSet::from(["trapping".to_string()]));
        let healthy = f.allowance("healthy", &CAP);
        assert_eq!(healthy.on_seed("s1"), 3, "s1's whole cap");
        assert_eq!(healthy.others_waiting, 0);
        assert_eq!(f.slot_seekers(&CAP), ["healthy"]);
        // Being planned, the satisfied tenant asks again: its clusters count for itself.
        assert_eq!(f.allowance("trapping", &CAP).on_seed("s1"), 2);
    }

    #[test]
    fn only_capacity_vetoes_mean_a_tenant_wants_more() {
        use crate::core::invariants::Veto;
        use fleetward_sdk::wire::{ClusterRef, KubeVersion, UpgradeStep, UpgradeTarget};
        let veto = |invariant| Veto {
            step: UpgradeStep {
                cluster: ClusterRef::new("t", "a"),
                target: UpgradeTarget::ControlPlane,
                to: KubeVersion::parse("1.32.0").unwrap(),
                wave: None,
            },
            invariant,
            message: String::new(),
        };
        let adm = |vs: Vec<Veto>| Admission {
            admitted: vec![],
            vetoed: vs,
        };
        assert!(!wants_more(&adm(vec![])));
        assert!(!wants_more(&adm(vec![veto(Invariant::OneMinorAtATime)])));
        for i in [
            Invariant::GlobalConcurrency,
            Invariant::SeedConcurrency,
            Invariant::FairShare,
        ] {
            assert!(wants_more(&adm(vec![
                veto(Invariant::KubeletSkew),
                veto(i)
            ])));
        }
    }

    #[test]
    fn slot_seekers_are_tenants_below_their_ceiling_while_a_slot_is_free() {
        // 20 tenants, 9 steps in flight (t01..t09 one each): ceiling 1; a slot is free.
        let mut ts = Vec::new();
        let names: Vec<String> = (1..=20).map(|i| format!("t{i:02}")).collect();
        for (i, n) in names.iter().enumerate() {
            let fl: &[(&str, u32)] = if i < 9 { &[("s1", 1)] } else { &[] };
            ts.push((n.as_str(), load(fl, &[("s2", 20)], Some(i as i64))));
        }
        let f = fleet(ts);
        assert_eq!(f.allowance("t01", &CAP).global, 1);
        let seekers = f.slot_seekers(&CAP);
        assert_eq!(seekers, names[9..].to_vec());
        // The cap is full: nobody seeks.
        let mut full = f.clone();
        full.tenants.get_mut("t10").unwrap().in_flight = 1;
        assert!(full.slot_seekers(&CAP).is_empty());
    }
}
