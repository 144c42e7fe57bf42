package fleetward

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The Rust wire types write one sample of every document, every optional field present and
// every enum variant used, into testdata/wire (sdk/tests/wire_samples.rs fails when they are
// stale). Each must decode into its Go type with no unknown field and re-encode to the same
// JSON: a field the Go types lack, misname or mistype fails here.
func TestWireSamplesRoundTrip(t *testing.T) {
	types := map[string]func() any{
		"placement_request":       func() any { return new(PlacementRequest) },
		"placement_decision":      func() any { return new(PlacementDecision) },
		"placement_decision_none": func() any { return new(PlacementDecision) },
		"upgrade_request":         func() any { return new(UpgradeRequest) },
		"upgrade_decision":        func() any { return new(UpgradeDecision) },
		"upgrade_decision_empty":  func() any { return new(UpgradeDecision) },
		"remediation_request":     func() any { return new(RemediationRequest) },
		"remediation_decision":    func() any { return new(RemediationDecision) },
		"error_envelope":          func() any { return new(outputEnvelope) },
	}
	files, err := filepath.Glob("testdata/wire/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no wire samples in testdata/wire (%v): run FLEETWARD_BLESS=1 cargo test -p fleetward-sdk --test wire_samples", err)
	}
	seen := map[string]bool{}
	for _, file := range files {
		name := filepath.Base(file[:len(file)-len(".json")])
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			newValue, ok := types[name]
			if !ok {
				t.Fatalf("sample %s has no Go type in this test: a new wire document needs one in types.go", name)
			}
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			v := newValue()
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(v); err != nil {
				t.Fatalf("the Go type does not accept the Rust sample: %v", err)
			}
			back, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			_ = json.Unmarshal(raw, &want)
			_ = json.Unmarshal(back, &got)
			if !reflect.DeepEqual(want, got) {
				t.Errorf("re-encoded differently from the Rust sample\nrust: %s\ngo:   %s", raw, back)
			}
		})
	}
	for name := range types {
		if !seen[name] {
			t.Errorf("no sample %s.json in testdata/wire", name)
		}
	}
}
