package fleetward

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// KubeVersion is a Kubernetes release major.minor.patch; on the wire "1.31.4" (a leading "v"
// and a missing patch are accepted on input).
type KubeVersion struct {
	Major, Minor, Patch uint32
}

// ParseKubeVersion parses "1.31", "1.31.4" or "v1.31.4".
func ParseKubeVersion(s string) (KubeVersion, error) {
	bad := fmt.Errorf("invalid Kubernetes version %q: expected MAJOR.MINOR or MAJOR.MINOR.PATCH", s)
	parts := strings.Split(strings.TrimPrefix(s, "v"), ".")
	if len(parts) < 2 || len(parts) > 3 {
		return KubeVersion{}, bad
	}
	var nums [3]uint32
	for i, p := range parts {
		if p == "" || strings.TrimLeft(p, "0123456789") != "" {
			return KubeVersion{}, bad
		}
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return KubeVersion{}, bad
		}
		nums[i] = uint32(n)
	}
	return KubeVersion{nums[0], nums[1], nums[2]}, nil
}

// String is the wire form "1.31.4".
func (v KubeVersion) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Compare returns -1, 0 or 1 as v is older than, equal to or newer than w (numeric order).
func (v KubeVersion) Compare(w KubeVersion) int {
	for _, d := range [3][2]uint32{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		if d[0] < d[1] {
			return -1
		}
		if d[0] > d[1] {
			return 1
		}
	}
	return 0
}

// Less reports whether v is older than w.
func (v KubeVersion) Less(w KubeVersion) bool { return v.Compare(w) < 0 }

// MinorDistance is how many minor versions v is ahead of w (negative if behind); a major
// counts 1000 minors, which no skew rule allows.
func (v KubeVersion) MinorDistance(w KubeVersion) int64 {
	return (int64(v.Major)-int64(w.Major))*1000 + int64(v.Minor) - int64(w.Minor)
}

// MarshalJSON writes "major.minor.patch".
func (v KubeVersion) MarshalJSON() ([]byte, error) { return json.Marshal(v.String()) }

// UnmarshalJSON reads a version string.
func (v *KubeVersion) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("expected a Kubernetes version string: %w", err)
	}
	parsed, err := ParseKubeVersion(s)
	if err != nil {
		return err
	}
	*v = parsed
	return nil
}
