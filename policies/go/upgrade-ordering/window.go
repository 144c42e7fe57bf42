package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"fleetward.dev/sdk-go"
)

// Maintenance windows: weekly time ranges in a fixed UTC offset, e.g. "sat,sun 01:00-05:00
// +01:00". Pure arithmetic on Unix seconds, no time-zone database (offsets are fixed), exactly
// as the Rust policy's window.rs, so both print the same reasons and the same times.

// Day is a day of the week, 0 = Monday ... 6 = Sunday; on the wire "mon" ... "sun".
type Day int

var dayWire = [...]string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
var dayName = [...]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

// UnmarshalJSON reads "mon" ... "sun".
func (d *Day) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	for i, w := range dayWire {
		if s == w {
			*d = Day(i)
			return nil
		}
	}
	return fmt.Errorf("unknown day %q, expected one of mon, tue, wed, thu, fri, sat, sun", s)
}

// TimeOfDay is "HH:MM" ("24:00" allowed as an end), in minutes since midnight.
type TimeOfDay int64

// UnmarshalJSON reads "HH:MM".
func (t *TimeOfDay) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	m, ok := parseHHMM(s)
	if !ok || m > 24*60 {
		return fmt.Errorf("invalid time %q: expected HH:MM", s)
	}
	*t = TimeOfDay(m)
	return nil
}

func (t TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", t/60, t%60) }

// UTCOffset is "Z", "+HH:MM" or "-HH:MM", in seconds.
type UTCOffset int64

// UnmarshalJSON reads the offset.
func (o *UTCOffset) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	bad := fmt.Errorf("invalid UTC offset %q: expected Z, +HH:MM or -HH:MM", s)
	if s == "Z" {
		*o = 0
		return nil
	}
	sign := int64(1)
	switch {
	case strings.HasPrefix(s, "+"):
	case strings.HasPrefix(s, "-"):
		sign = -1
	default:
		return bad
	}
	m, ok := parseHHMM(s[1:])
	if !ok || m > 18*60 {
		return bad
	}
	*o = UTCOffset(sign * m * fleetward.Minute)
	return nil
}

func (o UTCOffset) String() string {
	if o == 0 {
		return "UTC"
	}
	sign, v := '+', int64(o)
	if v < 0 {
		sign, v = '-', -v
	}
	m := v / fleetward.Minute
	return fmt.Sprintf("UTC%c%02d:%02d", sign, m/60, m%60)
}

func parseHHMM(s string) (int64, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.ParseUint(h, 10, 32)
	mm, err2 := strconv.ParseUint(m, 10, 32)
	if err1 != nil || err2 != nil || mm >= 60 {
		return 0, false
	}
	return int64(hh*60 + mm), true
}

// Window is a weekly window; End before Start wraps past midnight (the day is Start's day).
type Window struct {
	Days      []Day     `json:"days"`
	Start     TimeOfDay `json:"start"`
	End       TimeOfDay `json:"end"`
	UTCOffset UTCOffset `json:"utc_offset"`
}

// UnmarshalJSON requires days, start and end.
func (w *Window) UnmarshalJSON(b []byte) error {
	type plain Window
	var aux struct {
		Days      *[]Day     `json:"days"`
		Start     *TimeOfDay `json:"start"`
		End       *TimeOfDay `json:"end"`
		UTCOffset UTCOffset  `json:"utc_offset"`
	}
	if err := strictUnmarshal(b, &aux); err != nil {
		return err
	}
	switch {
	case aux.Days == nil:
		return fmt.Errorf("missing field `days`")
	case aux.Start == nil:
		return fmt.Errorf("missing field `start`")
	case aux.End == nil:
		return fmt.Errorf("missing field `end`")
	}
	*w = Window(plain{Days: *aux.Days, Start: *aux.Start, End: *aux.End, UTCOffset: aux.UTCOffset})
	return nil
}

func (w Window) String() string {
	names := make([]string, len(w.Days))
	for i, d := range w.Days {
		names[i] = dayName[d]
	}
	return fmt.Sprintf("%s %s-%s %s", strings.Join(names, ","), w.Start, w.End, w.UTCOffset)
}

// length in seconds (wrapping windows span midnight).
func (w Window) length() int64 {
	s, e := int64(w.Start), int64(w.End)
	if e > s {
		return (e - s) * fleetward.Minute
	}
	return (e + 24*60 - s) * fleetward.Minute
}

// openingOn is the window's opening (UTC seconds) on the local day starting at local midnight
// localMidnight, if it opens that day.
func (w Window) openingOn(localMidnight int64) (int64, bool) {
	weekday := fleetward.Timestamp{Unix: localMidnight}.Weekday()
	for _, d := range w.Days {
		if int(d) == weekday {
			return localMidnight + int64(w.Start)*fleetward.Minute - int64(w.UTCOffset), true
		}
	}
	return 0, false
}

func (w Window) localMidnight(now fleetward.Timestamp) int64 {
	return floorDiv(now.Unix+int64(w.UTCOffset), fleetward.Day) * fleetward.Day
}

// IsOpen reports whether the window is open at now.
func (w Window) IsOpen(now fleetward.Timestamp) bool {
	m := w.localMidnight(now)
	// An opening today or yesterday (for windows that wrap) may still be running.
	for _, day := range []int64{m - fleetward.Day, m} {
		if open, ok := w.openingOn(day); ok && open <= now.Unix && now.Unix < open+w.length() {
			return true
		}
	}
	return false
}

// NextOpening is the next opening strictly after now, within the coming eight days.
func (w Window) NextOpening(now fleetward.Timestamp) (fleetward.Timestamp, bool) {
	m := w.localMidnight(now)
	for d := int64(0); d <= 8; d++ {
		if open, ok := w.openingOn(m + d*fleetward.Day); ok && open > now.Unix {
			return fleetward.Timestamp{Unix: open}, true
		}
	}
	return fleetward.Timestamp{}, false
}

// anyOpen: an empty list means "always open".
func anyOpen(windows []Window, now fleetward.Timestamp) bool {
	if len(windows) == 0 {
		return true
	}
	for _, w := range windows {
		if w.IsOpen(now) {
			return true
		}
	}
	return false
}

// nextOpening is the earliest next opening among windows.
func nextOpening(windows []Window, now fleetward.Timestamp) *fleetward.Timestamp {
	var best *fleetward.Timestamp
	for _, w := range windows {
		if t, ok := w.NextOpening(now); ok && (best == nil || t.Unix < best.Unix) {
			best = &t
		}
	}
	return best
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
