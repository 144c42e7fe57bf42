//! Per-tenant numbers for the terminal table, `summary.json` and the report header.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::conditions::ConditionEpisode;
use crate::record::{Recording, SeedTrack};
use crate::rollout_spans::RolloutControl;
use crate::scenario::format_duration;

/// One tenant's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TenantSummary {
    /// Tenant.
    pub tenant: String,
    /// Clusters it owns.
    pub clusters: usize,
    /// Clusters that were asked to change version.
    pub requested: usize,
    /// Clusters that reached their new version.
    pub upgraded: usize,
    /// Waves: distinct wave labels of the steps (or distinct control-plane start times when
    /// the policy labels none).
    pub waves: usize,
    /// Seconds from the first version request to the last cluster done (`None`: not all done).
    pub time_to_complete: Option<i64>,
    /// Remediation actions carried out.
    pub remediations: u32,
    /// Hold spans (a cluster waiting for a stated reason).
    pub holds: usize,
    /// Decisions where the policy failed (error, fallback or held); a failure repeated
    /// unchanged counts once.
    pub policy_errors: usize,
    /// Of those, decisions served by the built-in fallback.
    pub fallbacks: usize,
    /// Decisions the host vetoed (partly or fully) because a proposed step broke an invariant:
    /// real breaches only (a well-behaved policy has none).
    pub vetoes: usize,
    /// Decisions in which a legal step waited: held back by a concurrency cap or a seed that
    /// could not be worked on (routine back-pressure, not a breach).
    pub waiting: usize,
    /// Decisions recorded (answers that changed; unchanged re-asks are not new decisions).
    pub decisions: usize,
    /// ManagedCluster writes to the tenant's clusters (terminal and tests only, like
    /// [`Summary::writes`]).
    #[serde(skip)]
    pub writes: u64,
}

/// The whole run in numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Simulated seconds.
    pub simulated_seconds: i64,
    /// Per tenant, in name order.
    pub tenants: Vec<TenantSummary>,
    /// Invariant violations in written state (non-zero ⇒ non-zero exit).
    pub violations: usize,
    /// Per seed, in name order: its API server, clusters, injected API outages, `Ready` over
    /// time and the writes its server served.
    pub seeds: Vec<SeedTrack>,
    /// Condition episodes (tenant `PolicyDegraded`, seed faults, …) with their reasons; the
    /// raw changes are in `conditions.json`.
    pub conditions: Vec<ConditionEpisode>,
    /// Operator control of each tenant's rollout: paused, waiting-for-approval and aborted
    /// spans and who approved which gate (left out when there was none, so scenarios without
    /// it keep their `summary.json`).
    #[serde(skip_serializing_if = "RolloutControl::is_empty")]
    pub rollouts: RolloutControl,
    /// ManagedCluster writes observed. Terminal only: how many status writes a controller
    /// makes can vary by one or two with conflict retries, so it stays out of the files that
    /// must be identical between runs.
    #[serde(skip)]
    pub writes: u64,
    /// Decision records received, unchanged re-asks included (terminal only).
    #[serde(skip)]
    pub raw_decisions: u64,
}

/// Computes the summary of a recording.
pub fn summarize(r: &Recording) -> Summary {
    let tenants = r
        .tenants
        .iter()
        .map(|t| {
            let clusters: Vec<_> = r.clusters.iter().filter(|c| &c.tenant == t).collect();
            let requested: Vec<_> = clusters
                .iter()
                .filter(|c| c.requested_at.is_some())
                .collect();
            let upgraded = requested
                .iter()
                .filter(|c| c.completed_at.is_some())
                .count();
            let labels: BTreeSet<&String> = clusters.iter().flat_map(|c| c.waves.iter()).collect();
            let waves = if labels.is_empty() {
                clusters
                    .iter()
                    .flat_map(|c| c.spans.iter())
                    .filter(|s| s.kind == crate::record::SpanKind::ControlPlane)
                    .map(|s| s.start)
                    .collect::<BTreeSet<_>>()
                    .len()
            } else {
                labels.len()
            };
            let first = requested.iter().filter_map(|c| c.requested_at).min();
            let last = requested.iter().filter_map(|c| c.completed_at).max();
            let time_to_complete = match (first, last) {
                (Some(f), Some(l)) if upgraded == requested.len() => Some(l - f),
                _ => None,
            };
            let ledger: Vec<_> = r.ledger.iter().filter(|e| &e.tenant == t).collect();
            TenantSummary {
                tenant: t.clone(),
                clusters: clusters.len(),
                requested: requested.len(),
                upgraded,
                waves,
                time_to_complete,
                remediations: clusters.iter().map(|c| c.remediations).sum(),
                holds: clusters
                    .iter()
                    .flat_map(|c| c.spans.iter())
                    .filter(|s| s.kind == crate::record::SpanKind::Hold)
                    .count(),
                policy_errors: ledger
                    .iter()
                    .filter(|e| matches!(e.outcome.as_str(), "error" | "fallback" | "held"))
                    .count(),
                fallbacks: ledger.iter().filter(|e| e.outcome == "fallback").count(),
                vetoes: ledger.iter().filter(|e| e.outcome == "vetoed").count(),
                waiting: ledger.iter().filter(|e| e.outcome == "waiting").count(),
                decisions: ledger.len(),
                writes: r.tenant_writes.get(t).copied().unwrap_or(0),
            }
        })
        .collect();
    Summary {
        scenario: r.scenario.clone(),
        simulated_seconds: r.end - r.start,
        tenants,
        violations: r.violations.len(),
        seeds: r.seeds.clone(),
        conditions: crate::conditions::episodes(&r.conditions),
        rollouts: r.rollouts.clone(),
        writes: r.writes,
        raw_decisions: r.raw_decisions,
    }
}

/// The summary as a fixed-width text table (one line per tenant plus header and footer).
pub fn table(s: &Summary) -> String {
    let headers = [
        "tenant",
        "clusters",
        "upgraded",
        "waves",
        "complete in",
        "remediations",
        "holds",
        "policy errors",
        "fallbacks",
        "vetoes",
        "waiting",
    ];
    let rows: Vec<[String; 11]> = s
        .tenants
        .iter()
        .map(|t| {
            [
                t.tenant.clone(),
                t.clusters.to_string(),
                format!("{}/{}", t.upgraded, t.requested),
                t.waves.to_string(),
                t.time_to_complete.map_or_else(
                    || {
                        if t.requested == 0 {
                            "-".into()
                        } else {
                            "incomplete".into()
                        }
                    },
                    format_duration,
                ),
                t.remediations.to_string(),
                t.holds.to_string(),
                t.policy_errors.to_string(),
                t.fallbacks.to_string(),
                t.vetoes.to_string(),
                t.waiting.to_string(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut out = String::new();
        for (i, (c, w)) in cells.iter().zip(widths.iter()).enumerate() {
            if i == 0 {
                out.push_str(&format!("{c:<w$}"));
            } else {
                out.push_str(&format!("  {c:>w$}"));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
    out.push('\n');
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out.push_str(&format!(
        "simulated {} · {} cluster writes · {} policy calls · invariant violations: {}\n",
        format_duration(s.simulated_seconds),
        s.writes,
        s.raw_decisions,
        s.violations
    ));
    out
}
