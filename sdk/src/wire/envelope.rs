//! The envelopes every ABI v1 call exchanges: what the host sends in, what the policy sends back.
//!
//! See `docs/abi.md` for the byte-level contract. These types are the JSON schema of it.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// The ABI version this crate speaks. A module's `fleetward_abi_version` export must return it.
pub const ABI_VERSION: u32 = 1;

/// The decisions a policy module can implement, one Wasm export each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// Which seed hosts a new cluster's control plane. Export `fleetward_place`.
    Placement,
    /// Which clusters and node pools upgrade now. Export `fleetward_order_upgrades`.
    UpgradeOrdering,
    /// What to do about an unhealthy component or machine. Export `fleetward_remediate`.
    Remediation,
}

impl DecisionKind {
    /// All kinds, in a fixed order.
    pub const ALL: [DecisionKind; 3] = [
        DecisionKind::Placement,
        DecisionKind::UpgradeOrdering,
        DecisionKind::Remediation,
    ];

    /// The Wasm export that implements this decision.
    pub const fn export_name(self) -> &'static str {
        match self {
            DecisionKind::Placement => "fleetward_place",
            DecisionKind::UpgradeOrdering => "fleetward_order_upgrades",
            DecisionKind::Remediation => "fleetward_remediate",
        }
    }

    /// The snake_case name used on the wire, in CLI flags and in metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Placement => "placement",
            DecisionKind::UpgradeOrdering => "upgrade_ordering",
            DecisionKind::Remediation => "remediation",
        }
    }
}

impl std::fmt::Display for DecisionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DecisionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.replace('-', "_").as_str() {
            "placement" | "place" => Ok(DecisionKind::Placement),
            "upgrade_ordering" | "upgrade" | "upgrades" | "order_upgrades" => {
                Ok(DecisionKind::UpgradeOrdering)
            }
            "remediation" | "remediate" => Ok(DecisionKind::Remediation),
            other => Err(format!(
                "unknown decision kind {other:?}: expected placement, upgrade_ordering or remediation"
            )),
        }
    }
}

/// What the call is for: one of the decisions, or the load-time config check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// Placement decision.
    Placement,
    /// Upgrade-ordering decision.
    UpgradeOrdering,
    /// Remediation decision.
    Remediation,
    /// Config validation at load time. Export `fleetward_validate_config`; `request` is null.
    ValidateConfig,
}

impl From<DecisionKind> for CallKind {
    fn from(kind: DecisionKind) -> Self {
        match kind {
            DecisionKind::Placement => CallKind::Placement,
            DecisionKind::UpgradeOrdering => CallKind::UpgradeOrdering,
            DecisionKind::Remediation => CallKind::Remediation,
        }
    }
}

/// The JSON document the host writes into guest memory for every call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct InputEnvelope<R> {
    /// Always [`ABI_VERSION`].
    pub abi_version: u32,
    /// Which call this is.
    pub decision: CallKind,
    /// The decision time. The only clock a policy has: WASI clocks read this value too.
    pub now: Timestamp,
    /// The tenant the decision is for.
    pub tenant: String,
    /// The tenant's config for this policy, verbatim from the Tenant resource (`null` if none).
    pub config: serde_json::Value,
    /// The decision's request; `null` for `validate_config`.
    pub request: R,
}

/// The JSON document a policy returns: exactly one of `ok` or `error`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum OutputEnvelope<D> {
    /// The decision (for `validate_config`: `null`).
    Ok(D),
    /// The policy declined to decide, with a structured reason.
    Error(PolicyError),
}

/// A structured error a policy returns instead of a decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct PolicyError {
    /// A stable, machine-readable code, e.g. `invalid_config`, `no_candidate`, `invalid_request`.
    pub code: String,
    /// A human-readable explanation for the operator.
    pub message: String,
}

impl PolicyError {
    /// Builds an error with a code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        PolicyError {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The policy's config does not fit what it expects.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        PolicyError::new("invalid_config", message)
    }

    /// The request does not make sense to the policy.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        PolicyError::new("invalid_request", message)
    }
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for PolicyError {}
