//! Scratch directories for control plane components, removed when dropped.
//!
//! They live under `$TMPDIR/fleetward-testenv/<pid>-<component>-<n>`. The shared etcd of a test
//! binary is never dropped (it lives in a static), so each new test process first removes the
//! directories of processes that no longer exist.

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Error;

static NEXT: AtomicU64 = AtomicU64::new(0);
static SWEEP: Once = Once::new();

/// A directory removed on drop.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
}

fn root() -> PathBuf {
    std::env::temp_dir().join("fleetward-testenv")
}

/// Removes the directories of test processes that have exited.
fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(root()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.split('-').next()) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl WorkDir {
    /// A fresh directory for `component`.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be created.
    pub fn create(component: &str) -> Result<WorkDir, Error> {
        SWEEP.call_once(sweep_stale);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = root().join(format!("{}-{component}-{n}", std::process::id()));
        std::fs::create_dir_all(&path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        Ok(WorkDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` to `name` inside the directory and returns its path.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn write(&self, name: &str, contents: &str) -> Result<PathBuf, Error> {
        let p = self.path.join(name);
        std::fs::write(&p, contents)
            .map_err(|e| Error::io(format!("writing {}", p.display()), e))?;
        Ok(p)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
