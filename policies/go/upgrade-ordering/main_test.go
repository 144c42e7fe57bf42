package main

import (
	"testing"

	"fleetward.dev/sdk-go/fleetwardtest"
)

// The Rust policy's fixtures, unchanged: both policies must give the same answers.
func TestRustFixtures(t *testing.T) {
	fleetwardtest.RunFixtures(t, "../../upgrade-ordering/fixtures")
}
