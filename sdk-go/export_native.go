//go:build !wasip1

package fleetward

// Export is the module's entry-point glue; natively (under go test) there is no host memory,
// so it only exists to keep a policy's decision exports compiling. Tests call [Dispatch] (via
// the fleetwardtest package) instead.
func Export(call Call, ptr, size int32) int64 {
	panic("fleetward.Export is only callable inside a wasip1 module; use fleetward.Dispatch natively")
}
