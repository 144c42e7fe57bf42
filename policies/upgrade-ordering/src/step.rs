//! The next step of one cluster: control plane first, then node pools one at a time, one minor
//! version per step, never a downgrade, never a pool ahead of its control plane.

use fleetward_sdk::wire::{FleetCluster, KubeVersion, UpgradeTarget};

/// One minor version towards `desired` from `current` (`X.Y+1.0` when `desired` is further).
fn toward(current: KubeVersion, desired: KubeVersion) -> KubeVersion {
    if desired.minor_distance(current) > 1 {
        KubeVersion::new(current.major, current.minor + 1, 0)
    } else {
        desired
    }
}

/// The step to start next for `c`, or why none can start.
///
/// # Errors
/// A hold reason for downgrades and pools that would overtake the control plane.
pub fn next_step(c: &FleetCluster) -> Result<Option<(UpgradeTarget, KubeVersion)>, String> {
    let cp = &c.control_plane;
    if cp.desired < cp.current {
        return Err(format!(
            "control plane desired {} is older than current {}: downgrades are not supported",
            cp.desired, cp.current
        ));
    }
    if cp.current != cp.desired {
        return Ok(Some((
            UpgradeTarget::ControlPlane,
            toward(cp.current, cp.desired),
        )));
    }
    let mut pools: Vec<_> = c
        .node_pools
        .iter()
        .filter(|p| p.current != p.desired)
        .collect();
    pools.sort_by(|a, b| a.name.cmp(&b.name));
    let Some(pool) = pools.first() else {
        return Ok(None);
    };
    if pool.desired < pool.current {
        return Err(format!(
            "pool {} desired {} is older than current {}: downgrades are not supported",
            pool.name, pool.desired, pool.current
        ));
    }
    let to = toward(pool.current, pool.desired);
    if to > cp.current {
        return Err(format!(
            "pool {} would reach {} ahead of the control plane ({})",
            pool.name, to, cp.current
        ));
    }
    Ok(Some((
        UpgradeTarget::NodePool {
            pool: pool.name.clone(),
        },
        to,
    )))
}
