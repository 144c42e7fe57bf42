//! The one path a decision outcome takes.
//!
//! A policy decision (or the built-in standing in for one) ends in one or more outcomes: the
//! planner's single call can start steps on some clusters while others are vetoed.
//! [`Context::record`] sends each outcome everywhere it is reported, so the reports cannot
//! disagree:
//! - the ledger ([`crate::decision::DecisionSink`]: the simulation's and the audit's record);
//! - the tenant's counters (`Tenant.status.decisions`; `fleetward_upgrade_vetoes_total` for a
//!   veto, `fleetward_upgrade_waits_total` for a step that waits);
//! - the tenant's degraded state, which the `PolicyDegraded` condition shows;
//! - a Warning Event on the object concerned for an outcome the operator must see
//!   ([`decisions::announcement`]: `PolicyFallback`, `PolicyHeld`, `DecisionVetoed`,
//!   `PolicyError`), once per change: a hold re-asked every minute is one Event, and an applied
//!   decision of the same kind re-arms it;
//! - the `status.lastDecisions` entry, returned for the caller to add to the status it writes
//!   with [`decisions::push`].
//!
//! The decision log takes the decision whole: once every outcome of a call is recorded, the
//! caller hands them all to [`Context::log`], which sends ONE record (the call's input, output
//! and every outcome, [`crate::decision_log::entry`]) to `ctx.decision_log`.
//!
//! [`StatusWrites`] is the upgrade planner's memory for the status side: how often each veto
//! repeated ([`decisions::Repeats`]) and the status-write budget
//! ([`crate::core::write_budget`]), which [`Context::spend_write_budget`] applies to a plan.

use std::collections::HashMap;
use std::sync::Mutex;

use fleetward_sdk::wire::{ClusterRef, DecisionKind, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;

use super::Context;
use crate::core::decisions::{self, Repeats};
use crate::core::planning::{self, Plan};
use crate::core::write_budget::{Rates, WriteBudget};
use crate::crd::DecisionRecordStatus;
use crate::decision::{DecisionOutcome, DecisionRecord};
use crate::decision_log::{Role, entry};
use crate::policy::Decided;

/// One outcome of a decision.
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    /// What was decided.
    pub kind: DecisionKind,
    /// The clusters it concerns (the ledger's `clusters`).
    pub clusters: Vec<ClusterRef>,
    /// What became of it.
    pub outcome: DecisionOutcome,
    /// The policy's reason, the veto or the failure.
    pub reason: String,
}

/// The last announced outcome per object and decision kind, so a repeat is not announced again.
#[derive(Debug, Default)]
pub(crate) struct Announced(Mutex<HashMap<(String, DecisionKind), String>>);

impl Announced {
    /// Whether `note` is news for (`object`, `kind`); remembers it. `None` (an applied
    /// outcome) forgets the last one, so the next failure is announced again.
    fn is_news(&self, object: &ObjectReference, kind: DecisionKind, note: Option<&str>) -> bool {
        let key = (object_key(object), kind);
        let Ok(mut last) = self.0.lock() else {
            return note.is_some();
        };
        match note {
            None => {
                last.remove(&key);
                false
            }
            Some(n) if last.get(&key).is_some_and(|l| l == n) => false,
            Some(n) => {
                last.insert(key, n.to_string());
                true
            }
        }
    }
}

/// The planner's status-write state (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct StatusWrites {
    /// Veto repeats seen since their count was last written.
    pub(crate) repeats: Mutex<Repeats>,
    budget: Mutex<WriteBudget>,
}

impl StatusWrites {
    /// Fresh state with the budget's rates.
    pub(crate) fn new(rates: Rates) -> Self {
        StatusWrites {
            repeats: Mutex::default(),
            budget: Mutex::new(WriteBudget::new(rates)),
        }
    }
}

fn object_key(o: &ObjectReference) -> String {
    format!(
        "{}/{}/{}",
        o.kind.as_deref().unwrap_or_default(),
        o.namespace.as_deref().unwrap_or_default(),
        o.name.as_deref().unwrap_or_default()
    )
}

/// A reference to a Tenant for Events about tenant-wide decisions (the upgrade plan).
pub(crate) fn tenant_ref(tenant: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some(format!("{}/v1alpha1", crate::crd::GROUP)),
        kind: Some("Tenant".into()),
        name: Some(tenant.into()),
        ..Default::default()
    }
}

impl Context {
    /// Records one outcome of decision `d` for `tenant` at `now` (see the module doc).
    /// `about` is the object an Event would concern; `None` for outcomes that are routine
    /// (cap back-pressure) and never announced. Returns the `status.lastDecisions` entry.
    pub(crate) async fn record<T>(
        &self,
        d: &Decided<T>,
        tenant: &str,
        now: Timestamp,
        about: Option<&ObjectReference>,
        o: Outcome,
    ) -> DecisionRecordStatus {
        self.set_degraded(tenant, o.kind, d.failure.clone());
        self.policies.count(tenant, o.kind, &o.outcome);
        match &o.outcome {
            DecisionOutcome::Vetoed { invariant } => self.metrics.veto(tenant, invariant),
            DecisionOutcome::Waiting { cause } => self.metrics.wait(tenant, cause.as_str()),
            _ => {}
        }
        let entry = decisions::entry(o.kind, &d.digest, now, &o.outcome, &o.reason);
        if let Some(object) = about {
            let announce = decisions::announcement(&o.outcome);
            let note = announce.map(|_| format!("{}: {}", o.kind, o.reason));
            if self.announced.is_news(object, o.kind, note.as_deref())
                && let (Some(reason), Some(note)) = (announce, note)
            {
                tracing::warn!(
                    tenant = %tenant,
                    object = %object_key(object),
                    kind = %o.kind,
                    event = reason,
                    "policy decision {}: {}",
                    o.outcome.as_str(),
                    o.reason
                );
                self.event_about(object, true, reason, note).await;
            }
        }
        if let Some(sink) = &self.sink {
            let _ = sink.send(DecisionRecord {
                time: now,
                tenant: tenant.into(),
                clusters: o.clusters,
                kind: o.kind,
                digest: d.digest.clone(),
                input_sha256: d.input_sha256.clone(),
                output_json: d.output_json.clone(),
                reason: o.reason,
                outcome: o.outcome,
            });
        }
        entry
    }
}

impl Context {
    /// Sends decision `d`'s one decision-log record, with every outcome recorded for it (in the
    /// order recorded). Never waits; does nothing without a decision log.
    pub(crate) fn log<T>(
        &self,
        d: &Decided<T>,
        tenant: &str,
        now: Timestamp,
        kind: DecisionKind,
        outcomes: &[Outcome],
    ) {
        if !self.decision_log.is_on() {
            return;
        }
        let outcomes = outcomes
            .iter()
            .map(|o| entry::outcome(&o.clusters, &o.outcome, &o.reason))
            .collect();
        self.decision_log.send(entry::decision(
            &d.call,
            now,
            tenant,
            kind,
            Role::Live,
            outcomes,
        ));
    }

    /// Applies the status-write budget to `plan` ([`planning::spend_write_budget`]) and counts
    /// each deferred write in `fleetward_status_writes_deferred_total`.
    pub(crate) fn spend_write_budget(&self, tenant: &str, now: Timestamp, plan: &mut Plan) {
        let deferred = match self.status_writes.budget.lock() {
            Ok(mut budget) => planning::spend_write_budget(plan, &mut budget, tenant, now),
            Err(_) => return,
        };
        for (cluster, d) in deferred {
            tracing::debug!(
                tenant = %tenant,
                cluster = %cluster,
                reason = d.scope.as_str(),
                "decision-record status write deferred by the write budget"
            );
            self.metrics.write_deferred(tenant, d.scope.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outcome_is_announced_once_per_change_and_rearmed_by_success() {
        let a = Announced::default();
        let c1 = ObjectReference {
            kind: Some("ManagedCluster".into()),
            namespace: Some("ns".into()),
            name: Some("c1".into()),
            ..Default::default()
        };
        let t = tenant_ref("acme");
        let held = Some("upgrade_ordering: holding: trap");
        assert!(a.is_news(&t, DecisionKind::UpgradeOrdering, held));
        assert!(!a.is_news(&t, DecisionKind::UpgradeOrdering, held));
        // Another object or kind is news of its own.
        assert!(a.is_news(&c1, DecisionKind::UpgradeOrdering, held));
        assert!(a.is_news(&t, DecisionKind::Placement, held));
        // A new cause is news; success re-arms.
        assert!(a.is_news(&t, DecisionKind::UpgradeOrdering, Some("other")));
        assert!(!a.is_news(&t, DecisionKind::UpgradeOrdering, None));
        assert!(a.is_news(&t, DecisionKind::UpgradeOrdering, Some("other")));
    }
}
