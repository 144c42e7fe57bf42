//! Prometheus metrics: the set operators expect of a kube-runtime / controller-runtime style
//! controller (reconciles by controller and result, their duration, errors, work in flight, the
//! plan queue's depth, leadership), and Fleetward's own (decisions by tenant/kind/outcome,
//! decision latency, fallbacks, vetoes, waits, module refusals, seed health, writes and writes
//! the status-write budget deferred). Served on
//! `/metrics` by [`crate::http`].
//!
//! Counters are per process (they start at zero when a replica starts): Prometheus' `rate()`
//! and `increase()` handle restarts and leader changes. kube-runtime does not expose its
//! scheduler's queue, so "in flight" stands in for a work-queue depth.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// The controller's metrics. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    decisions: Family<Labels, Counter>,
    latency: Family<Labels, Histogram>,
    reconcile_errors: Family<Labels, Counter>,
    fallbacks: Family<Labels, Counter>,
    vetoes: Family<Labels, Counter>,
    waits: Family<Labels, Counter>,
    writes: Family<Labels, Counter>,
    writes_deferred: Family<Labels, Counter>,
    load_rejections: Family<Labels, Counter>,
    seed_reachable: Family<Labels, Gauge>,
    seed_requests_failed: Family<Labels, Counter>,
    reconciles: Family<Labels, Counter>,
    reconcile_duration: Family<Labels, Histogram>,
    in_flight: Family<Labels, Gauge>,
    plan_queue_depth: Gauge,
    leader: Gauge,
    // Decision log (issue 10).
    decision_log_dropped: Family<Labels, Counter>,
    // Shadow bindings (issue 10).
    shadow_decisions: Family<Labels, Counter>,
}

/// One reconcile being measured: started by [`Metrics::reconcile_started`], recorded by
/// [`ReconcileTimer::finish`]. Dropped unfinished (the reconcile was cancelled at shutdown), it
/// only leaves the in-flight count.
#[derive(Debug)]
#[must_use = "finish() records the reconcile"]
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    controller: &'static str,
    started: std::time::Instant,
}

impl ReconcileTimer<'_> {
    /// Records the reconcile's result (`ok`: `success`, else `error`) and duration.
    pub fn finish(self, ok: bool) {
        let labels = vec![("controller", self.controller.to_string())];
        self.metrics
            .reconcile_duration
            .get_or_create(&labels)
            .observe(self.started.elapsed().as_secs_f64());
        self.metrics
            .reconciles
            .get_or_create(&vec![
                ("controller", self.controller.to_string()),
                ("result", if ok { "success" } else { "error" }.to_string()),
            ])
            .inc();
    }
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .in_flight
            .get_or_create(&vec![("controller", self.controller.to_string())])
            .dec();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every family registered under the `fleetward_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("fleetward");
        let decisions = Family::<Labels, Counter>::default();
        let latency = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 14))
        });
        let reconcile_errors = Family::<Labels, Counter>::default();
        let fallbacks = Family::<Labels, Counter>::default();
        let vetoes = Family::<Labels, Counter>::default();
        let waits = Family::<Labels, Counter>::default();
        let writes = Family::<Labels, Counter>::default();
        let writes_deferred = Family::<Labels, Counter>::default();
        let load_rejections = Family::<Labels, Counter>::default();
        let seed_reachable = Family::<Labels, Gauge>::default();
        let seed_requests_failed = Family::<Labels, Counter>::default();
        let reconciles = Family::<Labels, Counter>::default();
        let reconcile_duration = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 15))
        });
        let in_flight = Family::<Labels, Gauge>::default();
        let plan_queue_depth = Gauge::default();
        let leader = Gauge::default();
        let decision_log_dropped = Family::<Labels, Counter>::default();
        registry.register(
            "decision_log_dropped",
            "Decision-log records dropped, by reason (queue_full: the sink could not keep up; write_failed: the write failed); each gap is noted by a `dropped` line in the log",
            decision_log_dropped.clone(),
        );
        registry.register(
            "reconciles",
            "Reconciles finished, by controller (cluster, tenant, seed, planner) and result (success, error)",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile took, by controller",
            reconcile_duration.clone(),
        );
        registry.register(
            "reconciles_in_flight",
            "Reconciles running now, by controller (at --concurrency the controller is saturated)",
            in_flight.clone(),
        );
        registry.register(
            "plan_queue_depth",
            "Tenants waiting for their upgrade plan",
            plan_queue_depth.clone(),
        );
        registry.register(
            "is_leader",
            "1 while this replica holds the leader Lease (or runs without leader election), else 0",
            leader.clone(),
        );
        registry.register(
            "seed_reachable",
            "1 when the seed's API server answered the last probe, 0 when it failed (by seed; the management cluster is seed=\"\")",
            seed_reachable.clone(),
        );
        registry.register(
            "seed_requests_failed",
            "Requests and watches to a seed's API server that failed for a seed-level reason (transport, timeout, 401/403, 5xx), by seed",
            seed_requests_failed.clone(),
        );
        registry.register(
            "policy_load_rejections",
            "Tenant policy modules refused at load, by tenant, kind and reason (one per attempt)",
            load_rejections.clone(),
        );
        registry.register(
            "decisions",
            "Policy decisions by tenant, kind and outcome",
            decisions.clone(),
        );
        registry.register(
            "decision_duration_seconds",
            "Policy call latency by kind",
            latency.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconcile errors by controller and reason",
            reconcile_errors.clone(),
        );
        registry.register(
            "policy_fallbacks",
            "Decisions made by built-ins because a policy failed",
            fallbacks.clone(),
        );
        registry.register(
            "upgrade_vetoes",
            "Upgrade steps vetoed by host invariants (real breaches; cap back-pressure is a wait)",
            vetoes.clone(),
        );
        registry.register(
            "upgrade_waits",
            "Legal upgrade steps the host held back, by tenant and cause (cap, seed_unavailable)",
            waits.clone(),
        );
        registry.register(
            "status_writes_deferred",
            "Decision-record status writes the write budget deferred, by tenant and reason (cluster_budget, tenant_budget)",
            writes_deferred.clone(),
        );
        registry.register(
            "writes",
            "Writes issued to the API server by kind",
            writes.clone(),
        );
        // Shadow bindings (issue 10): how each tenant's shadow compared with the live decisions.
        let shadow_decisions = Family::<Labels, Counter>::default();
        registry.register(
            "shadow_decisions",
            "Shadow policy evaluations by tenant, kind and result (agreed, disagreed, failed, skipped: the shadow queue was full)",
            shadow_decisions.clone(),
        );
        Metrics {
            registry,
            shadow_decisions,
            decisions,
            latency,
            reconcile_errors,
            fallbacks,
            vetoes,
            waits,
            writes,
            writes_deferred,
            load_rejections,
            seed_reachable,
            seed_requests_failed,
            reconciles,
            reconcile_duration,
            in_flight,
            plan_queue_depth,
            leader,
            decision_log_dropped,
        }
    }

    /// Counts `n` decision-log records dropped for `reason` (`queue_full`, `write_failed`).
    pub fn decision_log_dropped(&self, reason: &str, n: u64) {
        self.decision_log_dropped
            .get_or_create(&vec![("reason", reason.into())])
            .inc_by(n);
    }

    /// Starts measuring one reconcile of `controller` (counted in flight until the timer is
    /// finished or dropped).
    pub fn reconcile_started(&self, controller: &'static str) -> ReconcileTimer<'_> {
        self.in_flight
            .get_or_create(&vec![("controller", controller.to_string())])
            .inc();
        ReconcileTimer {
            metrics: self,
            controller,
            started: std::time::Instant::now(),
        }
    }

    /// Sets how many tenants wait for their upgrade plan.
    pub fn plan_queue_depth(&self, depth: usize) {
        self.plan_queue_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// Sets whether this replica leads.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Sets whether a seed answered its last probe.
    pub fn seed_reachable(&self, seed: &str, reachable: bool) {
        self.seed_reachable
            .get_or_create(&vec![("seed", seed.into())])
            .set(i64::from(reachable));
    }

    /// Counts a request or watch to a seed that failed for a seed-level reason.
    pub fn seed_request_failed(&self, seed: &str) {
        self.seed_requests_failed
            .get_or_create(&vec![("seed", seed.into())])
            .inc();
    }

    /// Counts a refused load attempt of a tenant's module (`reason` is the
    /// `PolicyErrorKind` metric label, e.g. `module_over_cap`, `compile_timed_out`).
    pub fn load_rejection(&self, tenant: &str, kind: &str, reason: &str) {
        self.load_rejections
            .get_or_create(&vec![
                ("tenant", tenant.into()),
                ("kind", kind.into()),
                ("reason", reason.into()),
            ])
            .inc();
    }

    /// Counts a decision.
    pub fn decision(&self, tenant: &str, kind: &str, outcome: &str, seconds: f64) {
        self.decisions
            .get_or_create(&vec![
                ("tenant", tenant.into()),
                ("kind", kind.into()),
                ("outcome", outcome.into()),
            ])
            .inc();
        self.latency
            .get_or_create(&vec![("kind", kind.into())])
            .observe(seconds);
    }

    /// Counts a policy failure answered by a built-in (or a hold).
    pub fn fallback(&self, tenant: &str, kind: &str, error: &str) {
        self.fallbacks
            .get_or_create(&vec![
                ("tenant", tenant.into()),
                ("kind", kind.into()),
                ("error", error.into()),
            ])
            .inc();
    }

    /// Counts a vetoed upgrade step.
    pub fn veto(&self, tenant: &str, invariant: &str) {
        self.vetoes
            .get_or_create(&vec![
                ("tenant", tenant.into()),
                ("invariant", invariant.into()),
            ])
            .inc();
    }

    /// Counts a legal upgrade step held back (`cause`: [`crate::decision::WaitCause::as_str`]).
    pub fn wait(&self, tenant: &str, cause: &str) {
        self.waits
            .get_or_create(&vec![("tenant", tenant.into()), ("cause", cause.into())])
            .inc();
    }

    /// Counts a decision-record status write the write budget deferred (`reason`:
    /// [`crate::core::write_budget::Scope::as_str`]).
    pub fn write_deferred(&self, tenant: &str, reason: &str) {
        self.writes_deferred
            .get_or_create(&vec![("tenant", tenant.into()), ("reason", reason.into())])
            .inc();
    }

    /// Counts one shadow evaluation (`result`: `agreed`, `disagreed`, `failed`, `skipped`).
    pub fn shadow_decision(&self, tenant: &str, kind: &str, result: &str) {
        self.shadow_decisions
            .get_or_create(&vec![
                ("tenant", tenant.into()),
                ("kind", kind.into()),
                ("result", result.into()),
            ])
            .inc();
    }

    /// Counts a reconcile error.
    pub fn reconcile_error(&self, controller: &str, reason: &str) {
        self.reconcile_errors
            .get_or_create(&vec![
                ("controller", controller.into()),
                ("reason", reason.into()),
            ])
            .inc();
    }

    /// Counts a write (apply, patch, delete, status update).
    pub fn write(&self, kind: &str) {
        self.writes
            .get_or_create(&vec![("kind", kind.into())])
            .inc();
    }

    /// Total writes counted so far (for the no-op-resync benchmark).
    pub fn total_writes(&self) -> u64 {
        let text = self.render();
        text.lines()
            .filter(|l| l.starts_with("fleetward_writes_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// Text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_families() {
        let m = Metrics::new();
        m.decision("acme", "placement", "applied", 0.002);
        m.veto("acme", "ControlPlaneFirst");
        m.wait("acme", "cap");
        m.write_deferred("mallory", "tenant_budget");
        m.write("Deployment");
        m.write("Deployment");
        let t = m.render();
        assert!(
            t.contains(
                r#"fleetward_decisions_total{tenant="acme",kind="placement",outcome="applied"} 1"#
            ),
            "{t}"
        );
        assert!(t.contains("fleetward_decision_duration_seconds_bucket"));
        assert!(t.contains(
            r#"fleetward_upgrade_vetoes_total{tenant="acme",invariant="ControlPlaneFirst"} 1"#
        ));
        assert!(t.contains(r#"fleetward_upgrade_waits_total{tenant="acme",cause="cap"} 1"#));
        assert!(t.contains(
            r#"fleetward_status_writes_deferred_total{tenant="mallory",reason="tenant_budget"} 1"#
        ));
        assert_eq!(m.total_writes(), 2);
    }

    #[test]
    fn reconciles_are_counted_by_result_timed_and_in_flight_while_running() {
        let m = Metrics::new();
        let running = m.reconcile_started("cluster");
        let other = m.reconcile_started("cluster");
        assert!(
            m.render()
                .contains(r#"fleetward_reconciles_in_flight{controller="cluster"} 2"#)
        );
        running.finish(true);
        other.finish(false);
        // Cancelled at shutdown: leaves the in-flight count, records no result.
        drop(m.reconcile_started("seed"));
        m.reconcile_started("tenant").finish(true);
        m.plan_queue_depth(3);
        m.set_leader(true);
        let t = m.render();
        for line in [
            r#"fleetward_reconciles_total{controller="cluster",result="success"} 1"#,
            r#"fleetward_reconciles_total{controller="cluster",result="error"} 1"#,
            r#"fleetward_reconciles_total{controller="tenant",result="success"} 1"#,
            r#"fleetward_reconcile_duration_seconds_count{controller="cluster"} 2"#,
            r#"fleetward_reconciles_in_flight{controller="cluster"} 0"#,
            r#"fleetward_reconciles_in_flight{controller="seed"} 0"#,
            "fleetward_plan_queue_depth 3",
            "fleetward_is_leader 1",
        ] {
            assert!(t.contains(line), "{line}\n{t}");
        }
        assert!(!t.contains(r#"controller="seed",result"#), "{t}");
        m.set_leader(false);
        assert!(m.render().contains("fleetward_is_leader 0"));
    }
}
