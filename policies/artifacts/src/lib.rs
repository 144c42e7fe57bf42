//! Builds the reference policies to wasm32-wasip1 and exposes their paths.
