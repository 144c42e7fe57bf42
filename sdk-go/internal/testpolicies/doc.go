// Package testpolicies holds small Go policies the host's tests load to check how the engine
// treats standard Go: a panic (panics), a goroutine that never yields (spins), a huge
// allocation (hogs), a policy that decides without reading its request (trivial, for the
// engine bench), and the clock, sleep, random and map behaviour the WASI shim serves
// (clock). scripts/build-go-policies.sh builds each to target/go-policies/NAME.wasm.
package testpolicies
