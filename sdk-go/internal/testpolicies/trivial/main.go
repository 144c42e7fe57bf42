// Command trivial is a placement policy that decides without reading its request: the engine
// bench's measure of what a Go module costs per decision before any policy logic (runtime
// initialisation, the SDK decoding the envelope, encoding the answer).
package main

import fleetward "fleetward.dev/sdk-go"

func init() {
	fleetward.Register(fleetward.Policy[struct{}]{Place: place})
}

//go:wasmexport fleetward_place
func placeExport(ptr, size int32) int64 { return fleetward.Export(fleetward.CallPlacement, ptr, size) }

func main() {}

func place(fleetward.Context, *fleetward.PlacementRequest, *struct{}) (*fleetward.PlacementDecision, error) {
	return &fleetward.PlacementDecision{Reason: "trivial"}, nil
}
