// Command upgrade-ordering is the reference upgrade-ordering policy written in Go: a port of
// policies/upgrade-ordering (Rust) that gives byte-identical answers on the same fixtures, to
// show that a policy in ordinary Go (encoding/json, sort, fmt) is a first-class citizen.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o upgrade-ordering.wasm .
// Test:  go test ./...   (the Rust policy's fixtures, natively), then
//
//	fleetward policy test ../../upgrade-ordering/fixtures --module upgrade-ordering.wasm
//
// Decides which clusters of a tenant start an upgrade step now: canaries first, then the
// configured waves, then the rest as "default"; a wave starts when every earlier cluster is
// upgraded, healthy and baked; maintenance windows per wave or global; the policy's and the
// host's concurrency caps, per tenant, wave and seed; per cluster the control plane first, one
// minor at a time, then pools in name order; approval gates before the waves approval_before
// names; no new step while a signal hold_on_signals lists fires on any cluster. Every hold says
// its cause and wave. docs/policies.md describes the config.
package main

import (
	"fmt"
	"strings"

	"fleetward.dev/sdk-go"
)

func init() {
	fleetward.Register(fleetward.Policy[Config]{
		DefaultConfig:  defaultConfig,
		ValidateConfig: validate,
		OrderUpgrades:  orderUpgrades,
	})
}

// The host reads which decisions a module makes from its exports, so each one is declared here.
//
//go:wasmexport fleetward_order_upgrades
func orderUpgradesExport(ptr, size int32) int64 {
	return fleetward.Export(fleetward.CallUpgradeOrdering, ptr, size)
}

// main is never called in a reactor module; the Go toolchain still requires it.
func main() {}

func orderUpgrades(ctx fleetward.Context, req *fleetward.UpgradeRequest, cfg *Config) (*fleetward.UpgradeDecision, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	now := ctx.Now
	limit := cfg.MaxConcurrent
	if req.Limits.MaxConcurrent < limit {
		limit = req.Limits.MaxConcurrent
	}
	seedCap := req.Limits.MaxConcurrentPerSeed
	var inFlight uint32
	perSeed := map[string]uint32{}
	for _, c := range req.Clusters {
		if c.InProgress != nil {
			inFlight++
			if c.Seed != nil {
				perSeed[*c.Seed]++
			}
		}
	}
	running := inFlight

	signalHold := firingSignal(req, cfg)
	groups, unmatched := group(req.Clusters, cfg)
	d := &fleetward.UpgradeDecision{Start: []fleetward.UpgradeStep{}, Hold: []fleetward.Hold{}}
	var startedWaves []string
	for i, wave := range groups {
		g := gate(groups[:i], req.History, now)
		approvalGate := ""
		if contains(cfg.ApprovalBefore, wave.name) && !approved(req.Approvals, wave.name) {
			approvalGate = wave.name
		}
		var waveInFlight uint32
		for _, c := range wave.members {
			if c.InProgress != nil {
				waveInFlight++
			}
		}
		for _, c := range wave.members {
			if !c.NeedsUpgrade() || c.InProgress != nil {
				continue
			}
			waveName := wave.name
			held := func(cause fleetward.HoldCause, reason string, until *fleetward.Timestamp) *fleetward.Hold {
				d.Hold = append(d.Hold, fleetward.Hold{Cluster: c.ID, Reason: reason, Until: until,
					Cause: cause, Wave: &waveName})
				return &d.Hold[len(d.Hold)-1]
			}
			if c.UpgradesPaused {
				held(fleetward.HoldHealth, "upgrades paused", nil)
				continue
			}
			if !c.Health.Healthy {
				held(fleetward.HoldHealth, unhealthyReason(c), nil)
				continue
			}
			if signalHold != "" {
				held(fleetward.HoldSignal, signalHold, nil)
				continue
			}
			if g.closed {
				held(g.cause, g.reason, g.until)
				continue
			}
			if approvalGate != "" {
				h := held(fleetward.HoldApproval, fmt.Sprintf("waiting for approval of gate %q", approvalGate), nil)
				gateName := approvalGate
				h.Gate = &gateName
				continue
			}
			if !anyOpen(wave.windows, now) {
				names := make([]string, len(wave.windows))
				for i, w := range wave.windows {
					names[i] = w.String()
				}
				held(fleetward.HoldWindow, fmt.Sprintf("outside maintenance window (%s)", strings.Join(names, "; ")),
					nextOpening(wave.windows, now))
				continue
			}
			target, to, holdReason := nextStep(c)
			if holdReason != "" {
				held(fleetward.HoldOther, holdReason, nil)
				continue
			}
			if target == nil {
				continue
			}
			if inFlight >= limit {
				held(fleetward.HoldConcurrency, fmt.Sprintf("concurrency cap reached (%d/%d in flight)", inFlight, limit), nil)
				continue
			}
			if wave.maxConcurrent != nil && waveInFlight >= *wave.maxConcurrent {
				held(fleetward.HoldConcurrency,
					fmt.Sprintf("wave %s cap reached (%d/%d)", wave.name, waveInFlight, *wave.maxConcurrent), nil)
				continue
			}
			if c.Seed != nil {
				n := perSeed[*c.Seed]
				if n >= seedCap {
					held(fleetward.HoldConcurrency, fmt.Sprintf("seed %s cap reached (%d/%d in flight)", *c.Seed, n, seedCap), nil)
					continue
				}
				perSeed[*c.Seed]++
			}
			inFlight++
			waveInFlight++
			if len(startedWaves) == 0 || startedWaves[len(startedWaves)-1] != wave.name {
				startedWaves = append(startedWaves, wave.name)
			}
			name := wave.name
			d.Start = append(d.Start, fleetward.UpgradeStep{Cluster: c.ID, Target: *target, To: to, Wave: &name})
		}
	}
	for _, c := range unmatched {
		if c.NeedsUpgrade() && c.InProgress == nil {
			d.Hold = append(d.Hold, fleetward.Hold{Cluster: c.ID, Reason: "matches no wave (unmatched: hold)",
				Cause: fleetward.HoldOther})
		}
	}
	for _, h := range d.Hold {
		if h.Until != nil && h.Until.After(now) && (d.RecheckAt == nil || h.Until.Before(*d.RecheckAt)) {
			until := *h.Until
			d.RecheckAt = &until
		}
	}
	d.Reason = summary(len(d.Start), len(d.Hold), running, startedWaves)
	return d, nil
}

// firingSignal is the first listed signal firing on a cluster of the tenant (clusters by
// namespace/name, then signals by name) as a hold reason, or "" when none fires.
func firingSignal(req *fleetward.UpgradeRequest, cfg *Config) string {
	var first *fleetward.ClusterRef
	name := ""
	for i := range req.Clusters {
		c := &req.Clusters[i]
		for _, s := range c.Signals {
			if !contains(cfg.HoldOnSignals, s.Name) {
				continue
			}
			if first == nil || c.ID.Less(*first) || (c.ID == *first && s.Name < name) {
				first, name = &c.ID, s.Name
			}
		}
	}
	if first == nil {
		return ""
	}
	return fmt.Sprintf("signal %s firing on %s", name, first.String())
}

func approved(approvals []fleetward.Approval, gate string) bool {
	for _, a := range approvals {
		if a.Gate == gate {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func unhealthyReason(c *fleetward.FleetCluster) string {
	if len(c.Health.Reasons) == 0 {
		return "unhealthy"
	}
	return "unhealthy: " + strings.Join(c.Health.Reasons, "; ")
}

func summary(start, hold int, running uint32, waves []string) string {
	switch {
	case start == 0 && hold == 0 && running == 0:
		return "all clusters are up to date"
	case start == 0 && hold == 0:
		return fmt.Sprintf("%d step(s) in progress, nothing else to start", running)
	case start == 0:
		return fmt.Sprintf("nothing to start: %d cluster(s) held, %d step(s) in progress", hold, running)
	default:
		return fmt.Sprintf("starting %d step(s) in wave %s; %d cluster(s) held, %d step(s) in progress",
			start, strings.Join(waves, ", "), hold, running)
	}
}
