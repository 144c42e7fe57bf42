//! In-process Kubernetes API emulator and fake infrastructure for tests and simulation.
