// Command hogs is a placement policy that allocates 1 GiB: the host's memory limit must stop
// it and say so.
package main

import fleetward "fleetward.dev/sdk-go"

func init() {
	fleetward.Register(fleetward.Policy[struct{}]{Place: place})
}

//go:wasmexport fleetward_place
func placeExport(ptr, size int32) int64 { return fleetward.Export(fleetward.CallPlacement, ptr, size) }

func main() {}

var keep [][]byte

func place(_ fleetward.Context, _ *fleetward.PlacementRequest, _ *struct{}) (*fleetward.PlacementDecision, error) {
	for i := 0; i < 64; i++ {
		b := make([]byte, 16<<20)
		b[len(b)-1] = 1
		keep = append(keep, b)
	}
	return &fleetward.PlacementDecision{Reason: "allocated 1 GiB"}, nil
}
