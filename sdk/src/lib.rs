//! # Fleetward policy SDK
//!
//! Fleetward's host delegates three decisions — placement, upgrade ordering, remediation — to
//! per-tenant WebAssembly policy modules. This crate is what both sides share:
//!
//! - [`wire`]: the request and decision types that cross the boundary (the host depends on
//!   them too, so the two can never drift apart);
//! - [`policy!`]: the glue that turns plain typed Rust functions into an ABI v1 module
//!   (see `docs/abi.md`), plus a native twin of the module for tests;
//! - [`testing`] (native only): runs a fixture directory against that twin under `cargo test`;
//! - [`log!`] / [`mod@log`]: policy logs, one line on stderr each (captured by the host).
//!
//! Policies are deterministic: the only clock is the request's `now`, there is no randomness
//! that is not seeded from the input, and nothing outside the request is visible.
//!
//! ```
//! use fleetward_sdk::Context;
//! use fleetward_sdk::wire::{CallKind, PlacementDecision, PlacementRequest, PolicyError};
//!
//! #[derive(Default, serde::Deserialize)]
//! #[serde(default, deny_unknown_fields)]
//! pub struct Config {
//!     prefer: Option<String>,
//! }
//!
//! pub fn place(
//!     req: &PlacementRequest,
//!     cfg: &Config,
//!     _ctx: &Context,
//! ) -> Result<PlacementDecision, PolicyError> {
//!     let seed = req
//!         .seeds
//!         .iter()
//!         .find(|s| Some(&s.name) == cfg.prefer.as_ref())
//!         .or(req.seeds.first())
//!         .ok_or_else(|| PolicyError::new("no_candidate", "no seed offered"))?;
//!     Ok(PlacementDecision { seed: Some(seed.name.clone()), reason: "first".into(), scores: vec![] })
//! }
//!
//! fleetward_sdk::policy! { config: Config, place: place, validate_config: true }
//!
//! // Natively, the generated `dispatch` runs a whole ABI call on a JSON envelope.
//! let input = r#"{"abi_version":1,"decision":"validate_config","now":"2026-11-25T17:00:00Z",
//!                 "tenant":"acme","config":{"prefer":"eu-1"},"request":null}"#;
//! assert_eq!(dispatch(CallKind::ValidateConfig, input), r#"{"ok":null}"#);
//! ```
//!
//! Build the module with `cargo build --target wasm32-wasip1 --profile policy` (the crate needs
//! `crate-type = ["cdylib", "rlib"]`). A panic becomes a Wasm trap (`panic = "abort"`).

mod context;
pub mod entry;
mod exports;
#[cfg(target_arch = "wasm32")]
pub mod guest;
mod json_path;
pub mod log;
mod macros;
#[cfg(not(target_arch = "wasm32"))]
pub mod schema;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod wire;

pub use context::Context;
pub use entry::NoConfig;
pub use exports::PolicyExports;
