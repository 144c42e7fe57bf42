package main

import (
	"fmt"
	"sort"

	"fleetward.dev/sdk-go"
)

// Grouping the fleet into ordered waves, and the gate that keeps a wave waiting until every
// earlier wave is upgraded, healthy and baked.

// waveGroup is one wave with its members (in cluster-id order) and effective settings.
type waveGroup struct {
	name          string
	bake          int64 // seconds
	windows       []Window
	maxConcurrent *uint32
	members       []*fleetward.FleetCluster
}

// group splits the fleet into waves (canary first, configured waves, then "default" when
// unmatched is "last") and returns the waves and the clusters no wave takes.
func group(clusters []fleetward.FleetCluster, cfg *Config) ([]*waveGroup, []*fleetward.FleetCluster) {
	bake := func(m *uint32) int64 {
		if m != nil {
			return int64(*m) * fleetward.Minute
		}
		return int64(cfg.BakeMinutes) * fleetward.Minute
	}
	var waves []*waveGroup
	if cfg.Canary != nil {
		waves = append(waves, &waveGroup{name: "canary", bake: bake(nil), windows: cfg.Windows})
	}
	for _, w := range cfg.Waves {
		windows := cfg.Windows
		if w.Windows != nil {
			windows = *w.Windows
		}
		waves = append(waves, &waveGroup{name: w.Name, bake: bake(w.BakeMinutes), windows: windows,
			maxConcurrent: w.MaxConcurrent})
	}
	defaultIndex := len(waves)
	if cfg.Unmatched == UnmatchedLast {
		waves = append(waves, &waveGroup{name: "default", bake: bake(nil), windows: cfg.Windows})
	}
	offset := 0
	if cfg.Canary != nil {
		offset = 1
	}
	sorted := make([]*fleetward.FleetCluster, len(clusters))
	for i := range clusters {
		sorted[i] = &clusters[i]
	}
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].ID.Less(sorted[j].ID) })
	var unmatched []*fleetward.FleetCluster
	for _, c := range sorted {
		index := -1
		if cfg.Canary != nil && cfg.Canary.Matches(c.Labels) {
			index = 0
		} else {
			for i := range cfg.Waves {
				if cfg.Waves[i].Selector.Matches(c.Labels) {
					index = i + offset
					break
				}
			}
			if index < 0 && cfg.Unmatched == UnmatchedLast {
				index = defaultIndex
			}
		}
		if index < 0 {
			unmatched = append(unmatched, c)
		} else {
			waves[index].members = append(waves[index].members, c)
		}
	}
	return waves, unmatched
}

// gateState says whether a wave may start given all earlier waves: open, or closed with a
// cause (wave or bake), a reason and, when only bake time is missing, until when.
type gateState struct {
	closed bool
	cause  fleetward.HoldCause
	reason string
	until  *fleetward.Timestamp
}

// gate is the gate in front of the wave after earlier.
func gate(earlier []*waveGroup, history []fleetward.UpgradeRecord, now fleetward.Timestamp) gateState {
	var bakeEnd *fleetward.Timestamp
	bakeWave := ""
	for _, wave := range earlier {
		for _, c := range wave.members {
			closed := func(why string) gateState {
				return gateState{closed: true, cause: fleetward.HoldWave,
					reason: fmt.Sprintf("waiting for wave %s: %s %s", wave.name, c.ID.Name, why)}
			}
			if c.InProgress != nil || c.NeedsUpgrade() {
				return closed("is still upgrading")
			}
			if !c.Health.Healthy {
				return closed("is unhealthy")
			}
			if c.SettledSince == nil {
				return closed("has not settled")
			}
			since := *c.SettledSince
			for _, r := range history {
				if r.Cluster == c.ID && r.CompletedAt != nil && r.CompletedAt.After(since) {
					since = *r.CompletedAt
				}
			}
			end := since.Add(wave.bake)
			if end.After(now) && (bakeEnd == nil || end.After(*bakeEnd)) {
				bakeEnd, bakeWave = &end, wave.name
			}
		}
	}
	if bakeEnd != nil {
		return gateState{closed: true, cause: fleetward.HoldBake, reason: fmt.Sprintf("wave %s is baking until %s", bakeWave, bakeEnd),
			until: bakeEnd}
	}
	return gateState{}
}
