//! # Fleetward policy SDK
//!
//! Fleetward's host delegates three decisions — placement, upgrade ordering, remediation — to
//! per-tenant WebAssembly policy modules. This crate is what both sides share:
//!
//! - [`wire`]: the request and decision types that cross the boundary (the host depends on
//!   them too, so the two can never drift apart);
//! - the glue that turns plain typed Rust functions into an ABI v1 module (see `docs/abi.md`).
//!
//! Policies are deterministic: the only clock is the request's `now`, there is no randomness
//! that is not seeded from the input, and nothing outside the request is visible.

pub mod wire;
