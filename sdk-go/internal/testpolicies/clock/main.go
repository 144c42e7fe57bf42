// Command clock is a placement policy that reports what the Go runtime sees of the host: the
// wall clock, the monotonic clock across a sleep and a timer, random bytes, map iteration and
// a goroutine handing back a value. The host's tests check each is what docs/abi.md says and
// that two calls on the same input give the same bytes.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"

	fleetward "fleetward.dev/sdk-go"
)

func init() {
	fleetward.Register(fleetward.Policy[struct{}]{Place: place})
}

//go:wasmexport fleetward_place
func placeExport(ptr, size int32) int64 { return fleetward.Export(fleetward.CallPlacement, ptr, size) }

func main() {}

func place(ctx fleetward.Context, _ *fleetward.PlacementRequest, _ *struct{}) (*fleetward.PlacementDecision, error) {
	start := time.Now()
	time.Sleep(90 * time.Second)
	<-time.After(30 * time.Second)
	slept := time.Since(start)
	random := make([]byte, 8)
	_, _ = rand.Read(random)
	var order []string
	for k := range map[string]int{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8} {
		order = append(order, k)
	}
	answer := make(chan string)
	go func() { answer <- "from a goroutine" }()
	fleetward.Logf("clock probe for %s", ctx.Tenant)
	fmt.Fprintln(os.Stdout, "stdout works too")
	return &fleetward.PlacementDecision{Reason: strings.Join([]string{
		"now=" + start.UTC().Format(time.RFC3339Nano),
		"ctx=" + ctx.Now.String(),
		"slept=" + slept.String(),
		"after=" + time.Now().UTC().Format(time.RFC3339),
		"random=" + hex.EncodeToString(random),
		"maporder=" + strings.Join(order, ""),
		<-answer,
	}, " ")}, nil
}
