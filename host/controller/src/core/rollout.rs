//! The rollout's pure half (issue 11): its id, whether the tenant's operators paused or aborted
//! it, which approvals count, and the `status.rollout` the planner writes (docs/rollout.md).
//!
//! `reconcile/upgrades.rs` is the shell: it reads the Tenant and the RolloutApprovals, calls
//! these functions around the policy call, and writes what they return.

use fleetward_sdk::wire::UpgradeRequest;
use sha2::{Digest as _, Sha256};

/// Longest id written as is; a longer one is hashed.
const MAX_ID_LEN: usize = 63;

/// The rollout's id: the distinct versions the tenant's specs ask for (control planes and
/// pools), sorted by version and joined by `,` (`1.32.0`, `1.31.4,1.32.0`); `sha256:` and 12 hex
/// digits of that string when it is longer than 63 characters. Same desired versions, same
/// rollout: a cluster added at a version already asked for does not start a new one.
pub fn rollout_id(req: &UpgradeRequest) -> String {
    let mut versions: Vec<_> = req
        .clusters
        .iter()
        .flat_map(|c| {
            std::iter::once(c.control_plane.desired).chain(c.node_pools.iter().map(|p| p.desired))
        })
        .collect();
    versions.sort();
    versions.dedup();
    let joined = versions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    if joined.len() <= MAX_ID_LEN {
        return joined;
    }
    let digest = hex::encode(Sha256::digest(joined.as_bytes()));
    format!("sha256:{}", &digest[..12])
}
