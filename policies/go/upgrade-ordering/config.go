package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"fleetward.dev/sdk-go"
)

// Config is the tenant's config: canaries, waves, bake time, windows, caps. Every field is
// optional; null or {} gives one wave "default" with the defaults of defaultConfig.
type Config struct {
	// Canary: clusters matching it upgrade first, as wave "canary".
	Canary *Selector `json:"canary"`
	// Waves in order; a cluster belongs to the first wave whose selector matches.
	Waves []Wave `json:"waves"`
	// Unmatched: what happens to clusters no wave selects, "last" (default) or "hold".
	Unmatched Unmatched `json:"unmatched"`
	// MaxConcurrent: the policy's own cap on steps in flight (the host's caps still apply).
	MaxConcurrent uint32 `json:"max_concurrent"`
	// BakeMinutes: how long every cluster of a wave must have been healthy and settled
	// before the next wave starts. A wave may override it.
	BakeMinutes uint32 `json:"bake_minutes"`
	// Windows: maintenance windows for every wave without its own; empty means always open.
	Windows []Window `json:"windows"`
	// ApprovalBefore: waves that wait, once they could otherwise start, for an operator's
	// approval of the gate named like the wave (the request's approvals). Also spelled
	// approvalBefore.
	ApprovalBefore []string `json:"approval_before"`
	// HoldOnSignals: signal names that stop the rollout: while one fires on any cluster of the
	// tenant, no new step starts anywhere. Also spelled holdOnSignals.
	HoldOnSignals []string `json:"hold_on_signals"`
}

// UnmarshalJSON decodes strictly and accepts the camelCase spellings approvalBefore and
// holdOnSignals as the Rust policy's serde aliases do (both spellings at once is an error).
func (c *Config) UnmarshalJSON(b []byte) error {
	type plain Config
	aux := struct {
		*plain
		ApprovalBeforeCamel *[]string `json:"approvalBefore"`
		HoldOnSignalsCamel  *[]string `json:"holdOnSignals"`
	}{plain: (*plain)(c)}
	snake := struct {
		ApprovalBefore *json.RawMessage `json:"approval_before"`
		HoldOnSignals  *json.RawMessage `json:"hold_on_signals"`
	}{}
	if err := strictUnmarshal(b, &aux); err != nil {
		return err
	}
	_ = json.Unmarshal(b, &snake)
	if aux.ApprovalBeforeCamel != nil {
		if snake.ApprovalBefore != nil {
			return fmt.Errorf("duplicate field `approval_before`")
		}
		c.ApprovalBefore = *aux.ApprovalBeforeCamel
	}
	if aux.HoldOnSignalsCamel != nil {
		if snake.HoldOnSignals != nil {
			return fmt.Errorf("duplicate field `hold_on_signals`")
		}
		c.HoldOnSignals = *aux.HoldOnSignalsCamel
	}
	return nil
}

func defaultConfig() Config {
	return Config{Unmatched: UnmatchedLast, MaxConcurrent: 2, BakeMinutes: 60}
}

// Selector matches clusters carrying every listed label with this value.
type Selector struct {
	MatchLabels fleetward.Labels `json:"match_labels"`
}

// UnmarshalJSON requires match_labels.
func (s *Selector) UnmarshalJSON(b []byte) error {
	var aux struct {
		MatchLabels *fleetward.Labels `json:"match_labels"`
	}
	if err := strictUnmarshal(b, &aux); err != nil {
		return err
	}
	if aux.MatchLabels == nil {
		return fmt.Errorf("missing field `match_labels`")
	}
	s.MatchLabels = *aux.MatchLabels
	return nil
}

// Matches reports whether labels satisfy the selector (an empty selector matches everything).
func (s *Selector) Matches(labels fleetward.Labels) bool {
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Wave is one wave of the rollout.
type Wave struct {
	Name          string    `json:"name"`
	Selector      Selector  `json:"selector"`
	BakeMinutes   *uint32   `json:"bake_minutes"`
	Windows       *[]Window `json:"windows"`
	MaxConcurrent *uint32   `json:"max_concurrent"`
}

// UnmarshalJSON requires name and selector.
func (w *Wave) UnmarshalJSON(b []byte) error {
	var aux struct {
		Name          *string   `json:"name"`
		Selector      *Selector `json:"selector"`
		BakeMinutes   *uint32   `json:"bake_minutes"`
		Windows       *[]Window `json:"windows"`
		MaxConcurrent *uint32   `json:"max_concurrent"`
	}
	if err := strictUnmarshal(b, &aux); err != nil {
		return err
	}
	if aux.Name == nil {
		return fmt.Errorf("missing field `name`")
	}
	if aux.Selector == nil {
		return fmt.Errorf("missing field `selector`")
	}
	*w = Wave{Name: *aux.Name, Selector: *aux.Selector, BakeMinutes: aux.BakeMinutes,
		Windows: aux.Windows, MaxConcurrent: aux.MaxConcurrent}
	return nil
}

// Unmatched is the treatment of clusters no wave selects.
type Unmatched string

// The two treatments.
const (
	UnmatchedLast Unmatched = "last"
	UnmatchedHold Unmatched = "hold"
)

// UnmarshalJSON accepts "last" or "hold".
func (u *Unmatched) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s != string(UnmatchedLast) && s != string(UnmatchedHold) {
		return fmt.Errorf("unknown variant %q, expected `last` or `hold`", s)
	}
	*u = Unmatched(s)
	return nil
}

// validate checks what decoding cannot; the messages are the Rust policy's.
func validate(c *Config) error {
	if c.MaxConcurrent == 0 {
		return fleetward.InvalidConfig("max_concurrent: must be at least 1")
	}
	if err := checkWindows("windows", c.Windows); err != nil {
		return err
	}
	for i, w := range c.Waves {
		if w.Name == "" || w.Name == "canary" || w.Name == "default" {
			return fleetward.InvalidConfig(
				"waves[%d].name: must be non-empty and not `canary` or `default`, got %q", i, w.Name)
		}
		for _, earlier := range c.Waves[:i] {
			if earlier.Name == w.Name {
				return fleetward.InvalidConfig("waves[%d].name: duplicate wave %q", i, w.Name)
			}
		}
		if w.MaxConcurrent != nil && *w.MaxConcurrent == 0 {
			return fleetward.InvalidConfig("waves[%d].max_concurrent: must be at least 1", i)
		}
		if w.Windows != nil {
			if err := checkWindows(fmt.Sprintf("waves[%d].windows", i), *w.Windows); err != nil {
				return err
			}
		}
	}
	waves := waveNames(c)
	for i, name := range c.ApprovalBefore {
		if !isDNSLabel(name) {
			return fleetward.InvalidConfig("approval_before[%d]: %q is not a DNS label (lower-case letters, "+
				"digits and `-`, at most 63 characters); it names the approval gate", i, name)
		}
		if contains(c.ApprovalBefore[:i], name) {
			return fleetward.InvalidConfig("approval_before[%d]: duplicate wave %q", i, name)
		}
		if !contains(waves, name) {
			return fleetward.InvalidConfig("approval_before[%d]: no wave is named %q (the waves are: %s)",
				i, name, strings.Join(waves, ", "))
		}
	}
	for i, name := range c.HoldOnSignals {
		if !isSignalName(name) {
			return fleetward.InvalidConfig("hold_on_signals[%d]: %q is not a signal name (letters, digits, "+
				"`-`, `_` and `.`, at most 63 characters, without the `signal.fleetward.dev/` prefix)", i, name)
		}
	}
	return nil
}

// waveNames are the names of the waves the config gives, in order: "canary" when there are
// canaries, the configured waves, "default" when unmatched clusters form the last wave.
func waveNames(c *Config) []string {
	var names []string
	if c.Canary != nil {
		names = append(names, "canary")
	}
	for _, w := range c.Waves {
		names = append(names, w.Name)
	}
	if c.Unmatched == UnmatchedLast {
		names = append(names, "default")
	}
	return names
}

// isDNSLabel reports whether s is an RFC 1123 label, what the host accepts as a gate name.
func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-') {
			return false
		}
	}
	return true
}

// isSignalName reports whether s is the name part of a Kubernetes condition type:
// alphanumerics, '-', '_', '.', beginning and ending alphanumeric, at most 63 characters.
func isSignalName(s string) bool {
	alnum := func(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' }
	if len(s) == 0 || len(s) > 63 || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; !(alnum(b) || b == '-' || b == '_' || b == '.') {
			return false
		}
	}
	return true
}

func checkWindows(path string, windows []Window) error {
	for i, w := range windows {
		if len(w.Days) == 0 {
			return fleetward.InvalidConfig("%s[%d].days: at least one day is needed", path, i)
		}
		if w.Start == w.End {
			return fleetward.InvalidConfig(
				"%s[%d]: start and end are both %s; the window would be empty", path, i, w.Start)
		}
	}
	return nil
}

// strictUnmarshal decodes b into v, rejecting unknown fields.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
