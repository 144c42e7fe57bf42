package main

import (
	"fmt"
	"sort"

	"fleetward.dev/sdk-go"
)

// The next step of one cluster: control plane first, then node pools one at a time, one minor
// version per step, never a downgrade, never a pool ahead of its control plane.

// toward is one minor version towards desired from current (X.Y+1.0 when desired is further).
func toward(current, desired fleetward.KubeVersion) fleetward.KubeVersion {
	if desired.MinorDistance(current) > 1 {
		return fleetward.KubeVersion{Major: current.Major, Minor: current.Minor + 1}
	}
	return desired
}

// nextStep is the step to start next for c (nil: none), or why none can start (holdReason).
func nextStep(c *fleetward.FleetCluster) (target *fleetward.UpgradeTarget, to fleetward.KubeVersion, holdReason string) {
	cp := c.ControlPlane
	if cp.Desired.Less(cp.Current) {
		return nil, to, fmt.Sprintf(
			"control plane desired %s is older than current %s: downgrades are not supported",
			cp.Desired, cp.Current)
	}
	if cp.Current != cp.Desired {
		t := fleetward.ControlPlane()
		return &t, toward(cp.Current, cp.Desired), ""
	}
	var pools []fleetward.PoolState
	for _, p := range c.NodePools {
		if p.Current != p.Desired {
			pools = append(pools, p)
		}
	}
	if len(pools) == 0 {
		return nil, to, ""
	}
	sort.SliceStable(pools, func(i, j int) bool { return pools[i].Name < pools[j].Name })
	pool := pools[0]
	if pool.Desired.Less(pool.Current) {
		return nil, to, fmt.Sprintf(
			"pool %s desired %s is older than current %s: downgrades are not supported",
			pool.Name, pool.Desired, pool.Current)
	}
	to = toward(pool.Current, pool.Desired)
	if cp.Current.Less(to) {
		return nil, to, fmt.Sprintf("pool %s would reach %s ahead of the control plane (%s)",
			pool.Name, to, cp.Current)
	}
	t := fleetward.NodePool(pool.Name)
	return &t, to, ""
}
