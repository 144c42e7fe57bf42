//! What the tests that start the built `fleetward` binary as a child process share.

use std::path::{Path, PathBuf};
use std::process::Child;

/// A child process (the emulator, the controller), killed when the test ends however it ends.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh, empty scratch path for the test `name` under Cargo's test tmpdir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fleetward-cli-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
