// Command spins is a placement policy whose goroutine never yields while the decision waits
// for it: only the host's deadline can stop it (wasm has no preemption of Go goroutines).
package main

import fleetward "fleetward.dev/sdk-go"

func init() {
	fleetward.Register(fleetward.Policy[struct{}]{Place: place})
}

//go:wasmexport fleetward_place
func placeExport(ptr, size int32) int64 { return fleetward.Export(fleetward.CallPlacement, ptr, size) }

func main() {}

var sink int

func place(_ fleetward.Context, _ *fleetward.PlacementRequest, _ *struct{}) (*fleetward.PlacementDecision, error) {
	done := make(chan int)
	go func() {
		n := 0
		for {
			n++
			sink = n
		}
	}()
	<-done
	return &fleetward.PlacementDecision{Reason: "unreachable"}, nil
}
