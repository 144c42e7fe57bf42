//! Paths of the reference policies, built from this checkout's sources to `wasm32-wasip1`.
//!
//! `build.rs` runs a nested `cargo build --target wasm32-wasip1 --profile policy` for the three
//! reference policies and the test-only `fleetward-policy-misbehaving` (`MISBEHAVING`, which
//! fails on purpose and is not in `all()`) (wasmtime's test-programs pattern), so host tests always load modules
//! compiled from the code next to them, never committed or downloaded blobs.
//!
//! ```no_run
//! let bytes = std::fs::read(fleetward_test_policies::PLACEMENT).unwrap();
//! assert!(bytes.starts_with(b"\0asm"));
//! ```

use fleetward_sdk::wire::DecisionKind;

include!(concat!(env!("OUT_DIR"), "/policies.rs"));
