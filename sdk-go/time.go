package fleetward

import (
	"encoding/json"
	"fmt"
	"time"
)

// Timestamp is a point in time with whole-second precision, on the wire an RFC 3339 string in
// UTC ("2026-11-25T17:00:00Z"). Offsets are accepted on input and normalised to UTC; fractions
// are truncated, as the Rust SDK does.
type Timestamp struct {
	// Unix is seconds since 1970-01-01T00:00:00Z.
	Unix int64
}

// Minute, Hour and Day in seconds, for readable arithmetic on [Timestamp.Unix].
const (
	Minute int64 = 60
	Hour   int64 = 3600
	Day    int64 = 86400
)

// TimestampOf converts a time.Time, dropping fractions of a second.
func TimestampOf(t time.Time) Timestamp { return Timestamp{Unix: t.Unix()} }

// ParseTimestamp parses an RFC 3339 timestamp.
func ParseTimestamp(s string) (Timestamp, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return Timestamp{}, fmt.Errorf("invalid RFC 3339 timestamp: %s", s)
	}
	return TimestampOf(t), nil
}

// Time is the timestamp as a time.Time in UTC.
func (t Timestamp) Time() time.Time { return time.Unix(t.Unix, 0).UTC() }

// Add returns t plus seconds.
func (t Timestamp) Add(seconds int64) Timestamp { return Timestamp{Unix: t.Unix + seconds} }

// Before reports whether t is earlier than u.
func (t Timestamp) Before(u Timestamp) bool { return t.Unix < u.Unix }

// After reports whether t is later than u.
func (t Timestamp) After(u Timestamp) bool { return t.Unix > u.Unix }

// Weekday is 0 for Monday through 6 for Sunday (ISO 8601 minus one), as in the Rust SDK.
func (t Timestamp) Weekday() int {
	d := floorDiv(t.Unix, Day)
	return int(((d+3)%7 + 7) % 7)
}

// String is the wire form, e.g. "2026-11-25T17:00:00Z".
func (t Timestamp) String() string { return t.Time().Format("2006-01-02T15:04:05Z") }

// MarshalJSON writes the wire form.
func (t Timestamp) MarshalJSON() ([]byte, error) { return json.Marshal(t.String()) }

// UnmarshalJSON reads an RFC 3339 string.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("expected an RFC 3339 timestamp string: %w", err)
	}
	parsed, err := ParseTimestamp(s)
	if err != nil {
		return err
	}
	*t = parsed
	return nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
