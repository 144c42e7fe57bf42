//! A control plane process that cannot outlive the test process.
//!
//! Each process is started with `FLEETWARD_TESTCP_LIFELINE=stdin` and a pipe on its standard
//! input that only this process holds: when the test process ends — normally, by panic, by
//! SIGKILL — the pipe closes and the child exits by itself. [`Drop`] kills and reaps it too, so
//! a component that goes out of scope is gone before the next test starts. Output goes to a log
//! file whose tail is quoted in start-up errors.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::Error;

/// A running `fleetward-testcp` program.
#[derive(Debug)]
pub struct ManagedProcess {
    child: Child,
    // Held only so the child's stdin stays open while we live.
    _lifeline: ChildStdin,
    log: PathBuf,
}

impl ManagedProcess {
    /// Starts `binary program args…`, logging to `log`.
    ///
    /// # Errors
    /// [`Error::Io`] if the log cannot be created or the binary cannot be started.
    pub fn spawn(
        name: &str,
        binary: &Path,
        program: &str,
        args: &[String],
        log: PathBuf,
    ) -> Result<ManagedProcess, Error> {
        let out =
            File::create(&log).map_err(|e| Error::io(format!("creating {}", log.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| Error::io(format!("cloning {}", log.display()), e))?;
        let mut child = Command::new(binary)
            .arg(program)
            .args(args)
            .env("FLEETWARD_TESTCP_LIFELINE", "stdin")
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| Error::io(format!("starting {} {program}", binary.display()), e))?;
        let lifeline = child.stdin.take().ok_or_else(|| Error::Io {
            what: format!("taking the stdin pipe of {name}"),
            source: std::io::Error::other("no stdin pipe"),
        })?;
        Ok(ManagedProcess {
            child,
            _lifeline: lifeline,
            log,
        })
    }

    /// The exit status, if the process has ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Where the log is.
    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released: the window is small and start-up errors
/// name the port).
///
/// # Errors
/// [`Error::Io`] if no port can be bound.
pub fn free_port() -> Result<u16, Error> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::io("binding a free port on 127.0.0.1", e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::io("reading a bound port", e))
}
