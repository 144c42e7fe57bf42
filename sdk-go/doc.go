// Package fleetward is the Go SDK for Fleetward policy modules.
//
// A Fleetward policy is a WebAssembly module the controller calls for three decisions
// (placement, upgrade ordering, remediation); docs/abi.md is the contract. This package lets a
// policy be ordinary Go, built by the standard toolchain as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o policy.wasm .
//
// so encoding/json, sort, strings, time and the rest of the standard library work as usual
// (TinyGo is not needed, and not supported).
//
// The package holds three things:
//
//   - the wire types of every decision (types.go), plain structs with json tags, checked
//     against the JSON Schemas the Rust side exports (schema/), so the two cannot drift;
//   - the call glue: [Register] declares the policy's functions, [Dispatch] runs one call on a
//     JSON input envelope, and on wasip1 the exports fleetward_abi_version, fleetward_alloc and
//     fleetward_validate_config (glue_wasip1.go). Decision exports are declared by the policy's
//     main package, one three-line function each, because the host reads which decisions a
//     module implements from its exports;
//   - typed helpers: [Context], [Errorf], [InvalidConfig], [InvalidRequest], [Logf].
//
// The subpackage fleetwardtest runs a policy's fixture directory (the files `fleetward policy
// test` reads) under plain `go test`, through the same [Dispatch] the module runs.
//
// Determinism: a decision must depend only on its input. [Context.Now] is the only clock (the
// host's WASI clock reads the same value), and the host's random stream is derived from the
// input, but Go's map iteration order is still not something to print: sort before you emit.
package fleetward
