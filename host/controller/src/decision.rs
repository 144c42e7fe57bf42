//! Decision records: one per policy decision (or built-in stand-in), for the audit ledger.
//!
//! The controller sends every record to an optional [`DecisionSink`]; `fleetward simulate`
//! builds its ledger from it and tests assert on it.

use fleetward_sdk::wire::{ClusterRef, DecisionKind, Timestamp};

/// What became of a decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecisionOutcome {
    /// The tenant's policy (or the built-in, for tenants without one) decided and the host acted.
    Applied,
    /// The policy failed; the built-in default decided instead (`failureMode: Fallback`).
    Fallback,
    /// The policy failed; nothing changed (`failureMode: Hold`).
    Held,
    /// The host refused (part of) the answer: the invariant it would break. A real breach by
    /// the policy's proposal, never routine back-pressure (that is [`Self::Waiting`]).
    Vetoed {
        /// Invariant name (e.g. `ControlPlaneFirst`) or remediation veto.
        invariant: String,
    },
    /// A legal step the host did not start now, for a reason the host knows: it waits. Not a
    /// breach: never announced with a Warning Event, never written to the cluster's status.
    Waiting {
        /// What it waits for.
        cause: WaitCause,
    },
    /// The decision failed and there is nothing to fall back to.
    Error,
}

impl DecisionOutcome {
    /// Label for metrics and status.
    pub fn as_str(&self) -> &'static str {
        match self {
            DecisionOutcome::Applied => "applied",
            DecisionOutcome::Fallback => "fallback",
            DecisionOutcome::Held => "held",
            DecisionOutcome::Vetoed { .. } => "vetoed",
            DecisionOutcome::Waiting { .. } => "waiting",
            DecisionOutcome::Error => "error",
        }
    }
}

/// Why a legal step waits. Only what the host knows for sure: a policy that holds a step for
/// its window or bake time simply does not propose it, so such waits are the policy's `hold`
/// reasons, not outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitCause {
    /// A concurrency cap is full (`GlobalConcurrency`, `SeedConcurrency`): the step waits for a
    /// slot.
    Cap,
    /// The tenant holds its fair share of a full cap while other tenants wait (`FairShare`,
    /// `core/fair_share.rs`): the step waits for its turn.
    FairShare,
    /// The cluster's seed API server cannot be worked on now (`SeedReachable`).
    SeedUnavailable,
    /// The tenant's rollout is paused (`Tenant.spec.rollout.paused`): the policy is not asked.
    Paused,
    /// The tenant's current rollout is aborted (`Tenant.spec.rollout.abort`): the policy is not
    /// asked, and will not be for this rollout.
    Aborted,
}

impl WaitCause {
    /// Label for metrics (`cause` of `fleetward_upgrade_waits_total`).
    pub fn as_str(self) -> &'static str {
        match self {
            WaitCause::Cap => "cap",
            WaitCause::FairShare => "fair_share",
            WaitCause::SeedUnavailable => "seed_unavailable",
            WaitCause::Paused => "paused",
            WaitCause::Aborted => "aborted",
        }
    }
}

/// One decision, as the ledger stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionRecord {
    /// Decision time (the `now` the policy saw).
    pub time: Timestamp,
    /// Tenant.
    pub tenant: String,
    /// Clusters concerned (placement/remediation: one; upgrades: the steps' clusters).
    pub clusters: Vec<ClusterRef>,
    /// Decision kind.
    pub kind: DecisionKind,
    /// Module digest (`sha256:…`) or `builtin`.
    pub digest: String,
    /// Hex sha256 of the input envelope (empty for built-ins).
    pub input_sha256: String,
    /// The decision JSON the host acted on.
    pub output_json: String,
    /// Policy reason, veto message or error.
    pub reason: String,
    /// Outcome.
    pub outcome: DecisionOutcome,
}

/// Where decision records go. Unbounded so the controller never blocks on a slow consumer;
/// dropping the receiver simply discards records.
pub type DecisionSink = tokio::sync::mpsc::UnboundedSender<DecisionRecord>;
