package fleetward

import "encoding/json"

// The wire types: every JSON document that crosses the host/policy boundary, as the Rust SDK
// (sdk/src/wire/) defines them. schema_test.go checks each against the JSON Schema the Rust
// types export (schema/*.json), so a field added on one side fails the other's tests.
//
// Conventions, as on the Rust side: maps serialise with sorted keys (encoding/json does that),
// optional values are pointers with omitempty, enums with data are structs with a tag field
// ("kind", "action") and the variant's fields, absent when another variant is meant.

// Labels are a cluster's or seed's labels.
type Labels map[string]string

// ClusterRef is a ManagedCluster's identity.
type ClusterRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// String is "namespace/name".
func (c ClusterRef) String() string { return c.Namespace + "/" + c.Name }

// Less orders by namespace, then name (the order the host sorts clusters in).
func (c ClusterRef) Less(d ClusterRef) bool {
	if c.Namespace != d.Namespace {
		return c.Namespace < d.Namespace
	}
	return c.Name < d.Name
}

// Health is the host's judgement of a cluster's health.
type Health struct {
	Healthy bool     `json:"healthy"`
	Reasons []string `json:"reasons,omitempty"`
}

// ---- placement ----

// PlacementRequest asks which seed should host a new cluster's control plane.
type PlacementRequest struct {
	Cluster          ClusterToPlace      `json:"cluster"`
	Seeds            []SeedCandidate     `json:"seeds"`
	TenantPlacements []ExistingPlacement `json:"tenant_placements"`
}

// ClusterToPlace is the cluster being placed.
type ClusterToPlace struct {
	ID          ClusterRef           `json:"id"`
	Labels      Labels               `json:"labels"`
	Version     KubeVersion          `json:"version"`
	Constraints PlacementConstraints `json:"constraints"`
}

// PlacementConstraints are a ManagedCluster's placement constraints; empty means "any".
type PlacementConstraints struct {
	Regions    []string `json:"regions,omitempty"`
	Providers  []string `json:"providers,omitempty"`
	SeedLabels Labels   `json:"seed_labels,omitempty"`
}

// SeedCandidate is a seed the cluster could go to.
type SeedCandidate struct {
	Name       string      `json:"name"`
	Region     string      `json:"region"`
	Provider   string      `json:"provider"`
	Zone       *string     `json:"zone,omitempty"`
	Labels     Labels      `json:"labels"`
	Capacity   uint32      `json:"capacity"`
	Clusters   uint32      `json:"clusters"`
	Ready      bool        `json:"ready"`
	MinVersion KubeVersion `json:"min_version"`
	MaxVersion KubeVersion `json:"max_version"`
}

// ExistingPlacement is one of the tenant's clusters that is already placed.
type ExistingPlacement struct {
	Cluster ClusterRef `json:"cluster"`
	Seed    string     `json:"seed"`
}

// PlacementDecision names the chosen seed (nil: none acceptable, the cluster waits).
type PlacementDecision struct {
	Seed   *string     `json:"seed"`
	Reason string      `json:"reason"`
	Scores []SeedScore `json:"scores,omitempty"`
}

// SeedScore is how the policy rated one candidate (higher is better).
type SeedScore struct {
	Seed   string `json:"seed"`
	Score  int64  `json:"score"`
	Reason string `json:"reason,omitempty"`
}

// ---- upgrade ordering ----

// UpgradeRequest asks which of the tenant's clusters start an upgrade step now.
type UpgradeRequest struct {
	Clusters []FleetCluster  `json:"clusters"`
	History  []UpgradeRecord `json:"history"`
	Limits   UpgradeLimits   `json:"limits"`
	// Approvals are the gates an operator approved for the tenant's current rollout, sorted by
	// gate (docs/rollout.md, "Approval gates"): a gate asked for in a [Hold] and listed here
	// may be passed.
	Approvals []Approval `json:"approvals,omitempty"`
}

// Approval is an operator's approval of a gate, as the host recorded it.
type Approval struct {
	Gate       string    `json:"gate"`
	ApprovedBy string    `json:"approved_by"`
	ApprovedAt Timestamp `json:"approved_at"`
}

// SignalPrefix prefixes the ManagedCluster condition types that are signals
// (docs/rollout.md, "Signals"): "signal.fleetward.dev/SLOBurn" is the signal "SLOBurn".
const SignalPrefix = "signal.fleetward.dev/"

// MaxSignalsPerCluster is how many signals of one cluster reach a policy at most (the first
// by name).
const MaxSignalsPerCluster = 8

// MaxSignalMessageBytes is how many bytes of a signal's message reach a policy at most.
const MaxSignalMessageBytes = 256

// Signal is a firing signal: a "signal.fleetward.dev/<name>" condition of the cluster whose
// status is True. Name is the condition type without the prefix; Since its
// lastTransitionTime, when it parses.
type Signal struct {
	Name    string     `json:"name"`
	Reason  string     `json:"reason"`
	Message string     `json:"message"`
	Since   *Timestamp `json:"since,omitempty"`
}

// FleetCluster is one cluster as the upgrade policy sees it.
type FleetCluster struct {
	ID             ClusterRef   `json:"id"`
	Labels         Labels       `json:"labels"`
	Seed           *string      `json:"seed,omitempty"`
	ControlPlane   VersionState `json:"control_plane"`
	NodePools      []PoolState  `json:"node_pools"`
	Health         Health       `json:"health"`
	InProgress     *UpgradeStep `json:"in_progress,omitempty"`
	UpgradesPaused bool         `json:"upgrades_paused"`
	SettledSince   *Timestamp   `json:"settled_since,omitempty"`
	// Signals are the cluster's firing signals, sorted by name, at most MaxSignalsPerCluster.
	Signals []Signal `json:"signals,omitempty"`
}

// NeedsUpgrade reports whether the control plane or any pool is not at its desired version.
func (c *FleetCluster) NeedsUpgrade() bool {
	if c.ControlPlane.Current != c.ControlPlane.Desired {
		return true
	}
	for _, p := range c.NodePools {
		if p.Current != p.Desired {
			return true
		}
	}
	return false
}

// VersionState is the current and desired version of a control plane.
type VersionState struct {
	Current KubeVersion `json:"current"`
	Desired KubeVersion `json:"desired"`
}

// PoolState is a node pool's versions and readiness.
type PoolState struct {
	Name          string      `json:"name"`
	Current       KubeVersion `json:"current"`
	Desired       KubeVersion `json:"desired"`
	Replicas      uint32      `json:"replicas"`
	ReadyReplicas uint32      `json:"ready_replicas"`
}

// Kinds of [UpgradeTarget].
const (
	TargetControlPlane = "control_plane"
	TargetNodePool     = "node_pool"
)

// UpgradeTarget is what a step moves: {"kind": "control_plane"} or
// {"kind": "node_pool", "pool": "workers"}.
type UpgradeTarget struct {
	Kind string `json:"kind"`
	Pool string `json:"pool,omitempty"`
}

// ControlPlane is the target of a control-plane step.
func ControlPlane() UpgradeTarget { return UpgradeTarget{Kind: TargetControlPlane} }

// NodePool is the target of a step of pool.
func NodePool(pool string) UpgradeTarget { return UpgradeTarget{Kind: TargetNodePool, Pool: pool} }

// UpgradeStep moves one target of one cluster to one version.
type UpgradeStep struct {
	Cluster ClusterRef    `json:"cluster"`
	Target  UpgradeTarget `json:"target"`
	To      KubeVersion   `json:"to"`
	Wave    *string       `json:"wave,omitempty"`
}

// UpgradeRecord is a step the host started (and maybe completed).
type UpgradeRecord struct {
	Cluster     ClusterRef    `json:"cluster"`
	Target      UpgradeTarget `json:"target"`
	From        KubeVersion   `json:"from"`
	To          KubeVersion   `json:"to"`
	StartedAt   Timestamp     `json:"started_at"`
	CompletedAt *Timestamp    `json:"completed_at,omitempty"`
}

// UpgradeLimits are the host's concurrency caps.
type UpgradeLimits struct {
	MaxConcurrent        uint32 `json:"max_concurrent"`
	MaxConcurrentPerSeed uint32 `json:"max_concurrent_per_seed"`
}

// UpgradeDecision lists the steps to start now, in order, and the clusters that wait.
type UpgradeDecision struct {
	Start     []UpgradeStep `json:"start"`
	Hold      []Hold        `json:"hold"`
	RecheckAt *Timestamp    `json:"recheck_at,omitempty"`
	Reason    string        `json:"reason"`
}

// MarshalJSON writes empty lists as [] (not null), as the Rust type does.
func (d UpgradeDecision) MarshalJSON() ([]byte, error) {
	type plain UpgradeDecision
	p := plain(d)
	if p.Start == nil {
		p.Start = []UpgradeStep{}
	}
	if p.Hold == nil {
		p.Hold = []Hold{}
	}
	return json.Marshal(p)
}

// Hold is a cluster that needs an upgrade and waits. Cause says what kind of wait it is
// (empty: not said); Gate names the approval gate it waits for (with [HoldApproval]; a DNS
// label, at most 63 characters); Wave the wave the cluster belongs to.
type Hold struct {
	Cluster ClusterRef `json:"cluster"`
	Reason  string     `json:"reason"`
	Until   *Timestamp `json:"until,omitempty"`
	Cause   HoldCause  `json:"cause,omitempty"`
	Gate    *string    `json:"gate,omitempty"`
	Wave    *string    `json:"wave,omitempty"`
}

// HoldCause is why a held cluster waits, as far as the policy says.
type HoldCause string

// The causes of a [Hold].
const (
	HoldBake        HoldCause = "bake"        // an earlier wave has not baked long enough
	HoldWindow      HoldCause = "window"      // outside the maintenance window; Until is the next opening
	HoldApproval    HoldCause = "approval"    // waiting for an operator to approve Gate
	HoldSignal      HoldCause = "signal"      // a signal on the cluster or its fleet holds it
	HoldWave        HoldCause = "wave"        // an earlier wave has not finished
	HoldHealth      HoldCause = "health"      // the cluster is unhealthy or paused
	HoldConcurrency HoldCause = "concurrency" // the policy's own concurrency limit
	HoldOther       HoldCause = "other"       // anything else; Reason says what
)

// ---- remediation ----

// RemediationRequest says a component of a cluster is unhealthy and asks what to do.
type RemediationRequest struct {
	Cluster        ClusterRef          `json:"cluster"`
	Labels         Labels              `json:"labels"`
	Seed           *string             `json:"seed,omitempty"`
	Problem        Problem             `json:"problem"`
	History        []RemediationRecord `json:"history"`
	UpgradesPaused bool                `json:"upgrades_paused"`
	// Signals are the cluster's firing signals, sorted by name, at most MaxSignalsPerCluster.
	Signals []Signal `json:"signals,omitempty"`
}

// Kinds of [Component].
const (
	ComponentControlPlane = "control_plane"
	ComponentMachine      = "machine"
)

// Component is the unhealthy thing: {"kind": "control_plane", "name": "etcd"} or
// {"kind": "machine", "name": "m-1", "pool": "workers"}.
type Component struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	Pool string `json:"pool,omitempty"`
}

// Problem is what the host observed.
type Problem struct {
	Component      Component `json:"component"`
	Condition      string    `json:"condition"`
	Detail         string    `json:"detail"`
	UnhealthySince Timestamp `json:"unhealthy_since"`
}

// Actions of [RemediationAction].
const (
	ActionRestartComponent         = "restart_component"
	ActionRecreateMachine          = "recreate_machine"
	ActionPauseUpgradesAndEscalate = "pause_upgrades_and_escalate"
	ActionWait                     = "wait"
	ActionNone                     = "none"
)

// RemediationAction is what the host should do; Action names the variant and only that
// variant's field is set: restart_component{component}, recreate_machine{machine},
// pause_upgrades_and_escalate{message}, wait{until}, none.
type RemediationAction struct {
	Action    string     `json:"action"`
	Component string     `json:"component,omitempty"`
	Machine   string     `json:"machine,omitempty"`
	Message   string     `json:"message,omitempty"`
	Until     *Timestamp `json:"until,omitempty"`
}

// RemediationRecord is a remediation the host carried out.
type RemediationRecord struct {
	At        Timestamp         `json:"at"`
	Component Component         `json:"component"`
	Action    RemediationAction `json:"action"`
}

// RemediationDecision is the action and why.
type RemediationDecision struct {
	Action RemediationAction `json:"action"`
	Reason string            `json:"reason"`
}
