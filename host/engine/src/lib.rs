//! Fleetward policy engine: loads, validates and runs sandboxed Wasm policy modules.
