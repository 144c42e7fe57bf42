//go:build wasip1

package fleetward

import "unsafe"

// The module's side of the ABI (docs/abi.md): the host calls fleetward_alloc for the input,
// then an entry point with (ptr, len), and reads the output at the packed pointer/length the
// entry point returns. Each call runs in a fresh instance, so nothing here is ever freed: the
// buffers live in package variables only so the garbage collector keeps them (Go's collector
// does not move objects, so their addresses stay valid).

var (
	inputs [][]byte
	output []byte
)

//go:wasmexport fleetward_abi_version
func abiVersion() int32 { return ABIVersion }

//go:wasmexport fleetward_alloc
func alloc(size int32) int32 {
	if size <= 0 {
		size = 1
	}
	buf := make([]byte, size)
	inputs = append(inputs, buf)
	return int32(uintptr(unsafe.Pointer(&buf[0])))
}

//go:wasmexport fleetward_validate_config
func validateConfig(ptr, size int32) int64 { return Export(CallValidateConfig, ptr, size) }

// Export runs call on the input the host wrote at (ptr, size) and returns the packed output
// pointer and length. A policy's main package calls it from its decision exports:
//
//	//go:wasmexport fleetward_order_upgrades
//	func orderUpgrades(ptr, size int32) int64 {
//		return fleetward.Export(fleetward.CallUpgradeOrdering, ptr, size)
//	}
func Export(call Call, ptr, size int32) int64 {
	output = Dispatch(call, allocated(ptr, size))
	if len(output) == 0 {
		return 0
	}
	return int64(uint64(uintptr(unsafe.Pointer(&output[0])))<<32 | uint64(uint32(len(output))))
}

// allocated finds the buffer fleetward_alloc handed out at ptr (the host calls it just before
// the entry point), so no integer is ever turned back into a pointer. Anything else reads as no
// input, which Dispatch reports as a malformed envelope.
func allocated(ptr, size int32) []byte {
	for i := len(inputs) - 1; i >= 0; i-- {
		buf := inputs[i]
		if int32(uintptr(unsafe.Pointer(&buf[0]))) == ptr && int(size) <= len(buf) {
			return buf[:size]
		}
	}
	return nil
}
