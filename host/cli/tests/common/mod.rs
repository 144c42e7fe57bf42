//! What the tests that start the built `fleetward` binary as a child process share.
// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, Result};

/// How long `fleetward emulator` may take to print its ready line.
pub const EMULATOR_START: Duration = Duration::from_secs(90);

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

/// `fleetward emulator --kubeconfig-out DIR/kubeconfig --install-crds --fake-infra` (the README
/// quick-start), once it has printed its ready line (bounded).
pub fn serve(dir: &Path) -> Result<(Running, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let kubeconfig = dir.join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetward"))
        .args([
            "emulator",
            "--install-crds",
            "--fake-infra",
            "--kubeconfig-out",
        ])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("run fleetward emulator")?;
    let stdout = child.stdout.take().context("stdout")?;
    let running = Running(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = rx
            .recv_timeout(EMULATOR_START)
            .context("no ready line from fleetward emulator")??;
        if line.ends_with("(Ctrl-C to stop)") {
            return Ok((running, kubeconfig));
        }
    }
}
