//! In-process Kubernetes API emulator and fake infrastructure for tests and simulation.

pub mod infra;
pub mod patch;
pub mod schema;
