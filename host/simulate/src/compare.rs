//! What-if: the same scenario with and without policy overrides, side by side.
//!
//! Clusters are matched by identity and compared on completion time; decisions are matched on
//! (tenant, kind, clusters, time) and compared on outcome and output. Everything is sorted, so
//! the comparison is as deterministic as the runs.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::record::{LedgerEntry, Recording, relative};
use crate::scenario::format_duration;

/// How one cluster's completion moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClusterDelta {
    /// `namespace/name`.
    pub cluster: String,
    /// Tenant.
    pub tenant: String,
    /// Completion in the baseline (seconds since the epoch), if it completed.
    pub baseline: Option<i64>,
    /// Completion with the overrides.
    pub variant: Option<i64>,
}

impl ClusterDelta {
    /// Variant minus baseline in seconds (negative: earlier), when both completed.
    pub fn delta(&self) -> Option<i64> {
        Some(self.variant? - self.baseline?)
    }

    /// `12h earlier`, `3d later`, `same time`, `no longer completes`, `now completes`.
    pub fn describe(&self) -> String {
        match (self.baseline, self.variant) {
            (Some(_), Some(_)) => match self.delta().unwrap_or(0) {
                0 => "same time".into(),
                d if d < 0 => format!("{} earlier", format_duration(-d)),
                d => format!("{} later", format_duration(d)),
            },
            (Some(_), None) => "no longer completes".into(),
            (None, Some(_)) => "now completes".into(),
            (None, None) => "completes in neither".into(),
        }
    }
}

/// A decision that differs between the runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecisionChange {
    /// Time (seconds since the epoch).
    pub at: i64,
    /// Tenant.
    pub tenant: String,
    /// Decision kind.
    pub kind: String,
    /// Clusters concerned.
    pub clusters: Vec<String>,
    /// Baseline entry (`None`: only in the variant).
    pub baseline: Option<LedgerEntry>,
    /// Variant entry (`None`: only in the baseline).
    pub variant: Option<LedgerEntry>,
}

/// The comparison of two runs.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// The overrides, as given (`TENANT=MODULE`).
    pub overrides: Vec<String>,
    /// Clusters whose completion moved (or that complete in only one run), sorted.
    pub moved: Vec<ClusterDelta>,
    /// Clusters that complete at the same time in both.
    pub unchanged: usize,
    /// Decisions that changed, in time order.
    pub decisions: Vec<DecisionChange>,
}

type Key = (i64, String, String, Vec<String>);

fn key(e: &LedgerEntry) -> Key {
    (e.at, e.tenant.clone(), e.kind.clone(), e.clusters.clone())
}

/// Compares a baseline run with a variant run.
pub fn compare(baseline: &Recording, variant: &Recording, overrides: Vec<String>) -> Comparison {
    let mut moved = Vec::new();
    let mut unchanged = 0;
    for b in &baseline.clusters {
        let v = variant.clusters.iter().find(|c| c.id == b.id);
        let d = ClusterDelta {
            cluster: b.id.to_string(),
            tenant: b.tenant.clone(),
            baseline: b.completed_at,
            variant: v.and_then(|v| v.completed_at),
        };
        if d.baseline == d.variant {
            unchanged += 1;
        } else {
            moved.push(d);
        }
    }
    moved.sort_by(|a, b| (&a.tenant, &a.cluster).cmp(&(&b.tenant, &b.cluster)));

    // Several decisions can share a key (same instant); pair them up in order.
    let mut by_key: BTreeMap<Key, (Vec<&LedgerEntry>, Vec<&LedgerEntry>)> = BTreeMap::new();
    for e in &baseline.ledger {
        by_key.entry(key(e)).or_default().0.push(e);
    }
    for e in &variant.ledger {
        by_key.entry(key(e)).or_default().1.push(e);
    }
    let mut decisions = Vec::new();
    for ((at, tenant, kind, clusters), (bs, vs)) in by_key {
        for i in 0..bs.len().max(vs.len()) {
            let (b, v) = (bs.get(i).copied(), vs.get(i).copied());
            let same = match (b, v) {
                (Some(b), Some(v)) => b.output_json == v.output_json && b.outcome == v.outcome,
                _ => false,
            };
            if !same {
                decisions.push(DecisionChange {
                    at,
                    tenant: tenant.clone(),
                    kind: kind.clone(),
                    clusters: clusters.clone(),
                    baseline: b.cloned(),
                    variant: v.cloned(),
                });
            }
        }
    }
    Comparison {
        overrides,
        moved,
        unchanged,
        decisions,
    }
}

/// The comparison as terminal text.
pub fn text(c: &Comparison, start: i64) -> String {
    let mut out = format!("what-if: {}\n", c.overrides.join(", "));
    if c.moved.is_empty() {
        out.push_str(&format!(
            "  no cluster finishes at a different time ({} unchanged)\n",
            c.unchanged
        ));
    } else {
        out.push_str(&format!(
            "  {} cluster(s) move, {} unchanged:\n",
            c.moved.len(),
            c.unchanged
        ));
        for d in &c.moved {
            let at = |t: Option<i64>| t.map_or_else(|| "never".into(), |t| relative(start, t));
            out.push_str(&format!(
                "    {:<40} {} → {}  {}\n",
                d.cluster,
                at(d.baseline),
                at(d.variant),
                d.describe()
            ));
        }
    }
    out.push_str(&format!("  {} decision(s) changed", c.decisions.len()));
    let only_b = c.decisions.iter().filter(|d| d.variant.is_none()).count();
    let only_v = c.decisions.iter().filter(|d| d.baseline.is_none()).count();
    out.push_str(&format!(
        " ({} differ, {only_b} only in the baseline, {only_v} only with the override)\n",
        c.decisions.len() - only_b - only_v
    ));
    out
}
