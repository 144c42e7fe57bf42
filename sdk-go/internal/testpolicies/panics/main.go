// Command panics is a placement policy that indexes past the end of a slice: the host must
// report the panic message and the goroutine's stack as the decision's error.
package main

import fleetward "fleetward.dev/sdk-go"

func init() {
	fleetward.Register(fleetward.Policy[struct{}]{Place: place})
}

//go:wasmexport fleetward_place
func placeExport(ptr, size int32) int64 { return fleetward.Export(fleetward.CallPlacement, ptr, size) }

func main() {}

func place(_ fleetward.Context, req *fleetward.PlacementRequest, _ *struct{}) (*fleetward.PlacementDecision, error) {
	return &fleetward.PlacementDecision{Reason: pickSeed(req.Seeds, len(req.Seeds)+2)}, nil
}

func pickSeed(seeds []fleetward.SeedCandidate, i int) string {
	return seeds[i].Name
}
