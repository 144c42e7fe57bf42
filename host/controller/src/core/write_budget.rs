//! The status-write budget: token buckets, per cluster and per tenant, that bound how often the
//! controller writes a ManagedCluster status whose only change is a decision record
//! (`status.lastDecisions`: a new veto on a cluster, a repeat count crossing its threshold).
//!
//! Why: a tenant's policy chooses what it answers, so without a bound its answers choose how
//! often the controller writes to the API server. Repeats are already folded into one entry
//! (`core::decisions`); the budget is the backstop for whatever a policy finds next, so one
//! tenant's bad policy cannot become API-server and etcd load for its neighbours.
//!
//! What it never blocks: writes that start or finish a step, change the phase or a condition,
//! place a cluster or record a remediation. Safety and progress writes always go through; only
//! decision-record writes spend tokens. A write the budget refuses is *deferred*, not lost: the
//! planner plans again when the bucket has a token (`retry_at`, but not sooner than
//! [`RETRY_NOT_BEFORE_SECS`]), recomputes the status from what is stored, and writes it then.
//!
//! Pure: the clock is passed in. Tokens are counted in token-seconds per hour (one token is
//! 3,600 units and each second adds `per_hour` units), so refills are exact in integers however
//! often the budget is asked.

use std::collections::BTreeMap;

use fleetward_sdk::wire::{ClusterRef, Timestamp};

/// One bucket's shape: it holds at most `burst` tokens and gains `per_hour` tokens an hour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Tokens a full bucket holds (writes allowed at once after a quiet spell).
    pub burst: u32,
    /// Tokens added per hour (the sustained rate).
    pub per_hour: u32,
}

/// The budget's rates (see docs/controller.md, "Status write budget").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rates {
    /// Per cluster (default 3 at once, then 6 an hour: one every 10 minutes).
    pub cluster: Rate,
    /// Per tenant, over all its clusters (default 30 at once, then 120 an hour).
    pub tenant: Rate,
}

impl Default for Rates {
    fn default() -> Self {
        Rates {
            cluster: Rate {
                burst: 3,
                per_hour: 6,
            },
            tenant: Rate {
                burst: 30,
                per_hour: 120,
            },
        }
    }
}

/// A deferred write is retried by planning the tenant again, which asks its policy again: not
/// sooner than this many seconds after the refusal, however soon a token is back, so a policy
/// that keeps the budget empty is not asked every half minute for it.
pub const RETRY_NOT_BEFORE_SECS: i64 = 600;

/// Units per token (see the module doc).
const UNIT: u64 = 3600;

/// Buckets kept before full ones (indistinguishable from fresh ones) are dropped.
const PRUNE_ABOVE: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bucket {
    units: u64,
    at: Timestamp,
}

impl Bucket {
    fn full(rate: Rate, now: Timestamp) -> Self {
        Bucket {
            units: u64::from(rate.burst) * UNIT,
            at: now,
        }
    }

    /// Adds what the time since the last look earned (nothing if the clock went back).
    fn refill(&mut self, rate: Rate, now: Timestamp) {
        let elapsed = u64::try_from(now.0.saturating_sub(self.at.0)).unwrap_or(0);
        let cap = u64::from(rate.burst) * UNIT;
        self.units = self
            .units
            .saturating_add(elapsed.saturating_mul(u64::from(rate.per_hour)))
            .min(cap);
        if now > self.at {
            self.at = now;
        }
    }

    fn has_token(&self) -> bool {
        self.units >= UNIT
    }

    fn is_full(&self, rate: Rate) -> bool {
        self.units >= u64::from(rate.burst) * UNIT
    }

    /// When the bucket will hold a token (`None`: it never refills).
    fn token_at(&self, rate: Rate) -> Option<Timestamp> {
        if self.has_token() {
            return Some(self.at);
        }
        if rate.per_hour == 0 || rate.burst == 0 {
            return None;
        }
        let missing = UNIT - self.units;
        let secs = missing.div_ceil(u64::from(rate.per_hour));
        Some(Timestamp(
            self.at
                .0
                .saturating_add(i64::try_from(secs).unwrap_or(i64::MAX)),
        ))
    }
}

/// Which bucket refused a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The cluster's own bucket.
    Cluster,
    /// The tenant's bucket (all its clusters together).
    Tenant,
}

impl Scope {
    /// The metric label (`reason` of `fleetward_status_writes_deferred_total`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Cluster => "cluster_budget",
            Scope::Tenant => "tenant_budget",
        }
    }
}

/// A decision-record write the budget refused now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deferred {
    /// The bucket that was empty.
    pub scope: Scope,
    /// When to try again (`None`: a zero rate, never).
    pub retry_at: Option<Timestamp>,
}

/// The buckets of every cluster and tenant that wrote recently.
#[derive(Clone, Debug, Default)]
pub struct WriteBudget {
    rates: Rates,
    clusters: BTreeMap<ClusterRef, Bucket>,
    tenants: BTreeMap<String, Bucket>,
}

impl WriteBudget {
    /// An empty budget (every bucket starts full).
    pub fn new(rates: Rates) -> Self {
        WriteBudget {
            rates,
            ..Default::default()
        }
    }

    /// Spends one token of `cluster`'s bucket and one of `tenant`'s for a decision-record write
    /// at `now`, or neither when either is empty.
    ///
    /// # Errors
    /// [`Deferred`]: the bucket that was empty, and when it will hold a token.
    pub fn take(
        &mut self,
        tenant: &str,
        cluster: &ClusterRef,
        now: Timestamp,
    ) -> Result<(), Deferred> {
        let rates = self.rates;
        if self.clusters.len() > PRUNE_ABOVE {
            self.clusters.retain(|_, b| {
                b.refill(rates.cluster, now);
                !b.is_full(rates.cluster)
            });
        }
        if self.tenants.len() > PRUNE_ABOVE {
            self.tenants.retain(|_, b| {
                b.refill(rates.tenant, now);
                !b.is_full(rates.tenant)
            });
        }
        let c = self
            .clusters
            .entry(cluster.clone())
            .or_insert_with(|| Bucket::full(rates.cluster, now));
        c.refill(rates.cluster, now);
        if !c.has_token() {
            return Err(Deferred {
                scope: Scope::Cluster,
                retry_at: c.token_at(rates.cluster),
            });
        }
        let t = self
            .tenants
            .entry(tenant.to_string())
            .or_insert_with(|| Bucket::full(rates.tenant, now));
        t.refill(rates.tenant, now);
        if !t.has_token() {
            return Err(Deferred {
                scope: Scope::Tenant,
                retry_at: t.token_at(rates.tenant),
            });
        }
        t.units -= UNIT;
        if let Some(c) = self.clusters.get_mut(cluster) {
            c.units -= UNIT;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str) -> ClusterRef {
        ClusterRef::new("t", name)
    }

    fn rates(cluster: (u32, u32), tenant: (u32, u32)) -> Rates {
        Rates {
            cluster: Rate {
                burst: cluster.0,
                per_hour: cluster.1,
            },
            tenant: Rate {
                burst: tenant.0,
                per_hour: tenant.1,
            },
        }
    }

    #[test]
    fn a_cluster_spends_its_burst_then_one_token_per_refill() {
        let mut b = WriteBudget::new(rates((3, 6), (100, 100)));
        let t0 = Timestamp(1_000);
        for _ in 0..3 {
            assert_eq!(b.take("acme", &c("a"), t0), Ok(()));
        }
        let refused = b.take("acme", &c("a"), t0).unwrap_err();
        assert_eq!(refused.scope, Scope::Cluster);
        // 6 an hour: the next token in 600 s.
        assert_eq!(refused.retry_at, Some(Timestamp(1_600)));
        assert!(b.take("acme", &c("a"), Timestamp(1_599)).is_err());
        assert_eq!(b.take("acme", &c("a"), Timestamp(1_600)), Ok(()));
        // Another cluster has its own bucket.
        assert_eq!(b.take("acme", &c("b"), Timestamp(1_600)), Ok(()));
    }

    #[test]
    fn refills_are_exact_however_often_the_budget_is_asked() {
        let mut b = WriteBudget::new(rates((1, 7), (100, 100)));
        assert_eq!(b.take("acme", &c("a"), Timestamp(0)), Ok(()));
        // 7 an hour = one token per 514.29 s: asking every second must not lose the fractions.
        let mut granted = None;
        for s in 1..=600 {
            if b.take("acme", &c("a"), Timestamp(s)).is_ok() {
                granted = Some(s);
                break;
            }
        }
        assert_eq!(granted, Some(515));
    }

    #[test]
    fn the_tenant_bucket_bounds_all_its_clusters_and_spares_other_tenants() {
        let mut b = WriteBudget::new(rates((3, 6), (5, 60)));
        let now = Timestamp(0);
        let granted = (0..20)
            .filter(|i| b.take("mallory", &c(&format!("m{i}")), now).is_ok())
            .count();
        assert_eq!(granted, 5);
        let refused = b.take("mallory", &c("m99"), now).unwrap_err();
        assert_eq!(refused.scope, Scope::Tenant);
        assert_eq!(refused.retry_at, Some(Timestamp(60)));
        // A refusal by the tenant bucket spends nothing of the cluster's.
        assert_eq!(b.take("mallory", &c("m99"), Timestamp(60)), Ok(()));
        assert_eq!(b.take("acme", &c("a1"), now), Ok(()));
    }

    #[test]
    fn a_clock_going_back_earns_nothing_and_a_zero_rate_never_refills() {
        let mut b = WriteBudget::new(rates((1, 3600), (10, 0)));
        assert_eq!(b.take("acme", &c("a"), Timestamp(100)), Ok(()));
        assert!(b.take("acme", &c("a"), Timestamp(50)).is_err());
        assert_eq!(b.take("acme", &c("a"), Timestamp(101)), Ok(()));
        let mut z = WriteBudget::new(rates((5, 5), (1, 0)));
        assert_eq!(z.take("acme", &c("a"), Timestamp(0)), Ok(()));
        let refused = z.take("acme", &c("b"), Timestamp(10_000)).unwrap_err();
        assert_eq!((refused.scope, refused.retry_at), (Scope::Tenant, None));
    }

    #[test]
    fn full_buckets_are_forgotten_when_there_are_many() {
        let mut b = WriteBudget::new(rates((3, 6), (100_000, 0)));
        for i in 0..=PRUNE_ABOVE + 1 {
            assert!(b.take("acme", &c(&format!("c{i}")), Timestamp(0)).is_ok());
        }
        assert_eq!(b.clusters.len(), PRUNE_ABOVE + 2, "spent buckets are kept");
        // An hour later every cluster bucket is full again: the next take prunes them.
        b.take("acme", &c("late"), Timestamp(3_600)).ok();
        assert!(b.clusters.len() <= 2, "{}", b.clusters.len());
    }
}
