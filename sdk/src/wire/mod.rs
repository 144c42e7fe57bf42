//! The wire types: every JSON document that crosses the host/policy boundary.
//!
//! They live in the SDK, not the host, so that a policy and the host can never disagree about
//! the shape of a request (kube-rs keeps its types in `kube-core` for the same reason). They
//! compile for `wasm32-wasip1` and natively, with no dependencies beyond serde in a module;
//! natively they also derive their JSON Schemas (`crate::schema`, shipped in `docs/schema/`).
//!
//! Serialisation is deterministic: maps are `BTreeMap`s, scores are integers, times are whole
//! seconds. Same request ⇒ same bytes.

mod common;
mod envelope;
mod parse_str;
mod placement;
mod remediation;
mod time;
mod upgrade;
mod version;

pub use common::{
    ClusterRef, Health, Labels, MAX_SIGNAL_MESSAGE_BYTES, MAX_SIGNALS_PER_CLUSTER, SIGNAL_PREFIX,
    Signal,
};
pub use envelope::{
    ABI_VERSION, CallKind, DecisionKind, InputEnvelope, OutputEnvelope, PolicyError,
};
pub use placement::{
    ClusterToPlace, ExistingPlacement, PlacementConstraints, PlacementDecision, PlacementRequest,
    SeedCandidate, SeedScore,
};
pub use remediation::{
    Component, Problem, RemediationAction, RemediationDecision, RemediationRecord,
    RemediationRequest,
};
pub use time::{DAY, HOUR, MINUTE, Timestamp, TimestampParseError};
pub use upgrade::{
    Approval, FleetCluster, Hold, HoldCause, PoolState, UpgradeDecision, UpgradeLimits,
    UpgradeRecord, UpgradeRequest, UpgradeStep, UpgradeTarget, VersionState,
};
pub use version::{KubeVersion, VersionParseError};

use parse_str::deserialize_parsed;
