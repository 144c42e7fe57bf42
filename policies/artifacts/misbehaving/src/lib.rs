//! A placement policy that misbehaves on purpose, built to Wasm by `fleetward-test-policies`
//! (constant `MISBEHAVING`) so the engine's tests see what a real Rust policy does when it
//! fails: a panic (through the SDK's panic hook and the `policy` profile) and a huge allocation.
//! The config's `mode` picks the failure; every mode logs a few lines first, so the tests can
//! check the host keeps them. Never use it as an example.

use fleetward_sdk::Context;
use fleetward_sdk::wire::{PlacementDecision, PlacementRequest, PolicyError};
use serde::Deserialize;

/// How to fail.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `panic` (index out of bounds), `trap` (a bare `unreachable` in [`trap_here`]), `alloc`
    /// (1 GiB), anything else answers `seed: null`.
    pub mode: String,
    /// Lines `step 1` … `step N` logged before failing.
    pub log_lines: u32,
}

fleetward_sdk::policy! {
    config: Config,
    place: place,
}

/// Logs `config.log_lines` lines, then fails as `config.mode` says.
///
/// # Errors
/// Never: it panics or aborts instead, on purpose.
pub fn place(
    req: &PlacementRequest,
    config: &Config,
    _ctx: &Context<'_>,
) -> Result<PlacementDecision, PolicyError> {
    for step in 1..=config.log_lines {
        fleetward_sdk::log!("step {step}");
    }
    // Indices come from the request so the compiler cannot see the failure coming.
    let index = 5 + req.seeds.len();
    match config.mode.as_str() {
        "panic" => {
            let empty: Vec<u8> = Vec::new();
            std::hint::black_box(empty[index]); // MISBEHAVING: PANICS HERE
        }
        "trap" => trap_here(),
        "alloc" => {
            let huge = vec![1u8; (1 << 30) + index];
            fleetward_sdk::log!("allocated {}", huge[index]);
        }
        _ => {}
    }
    Ok(PlacementDecision {
        seed: None,
        reason: "nothing to do".to_string(),
        scores: Vec::new(),
    })
}

/// Traps without a panic (no report in the log), so the error shows the trap's frames.
#[inline(never)]
pub fn trap_here() {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
}
