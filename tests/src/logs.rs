//! The controller's log as a test sees it: what `kubectl logs` would show an operator.
//!
//! [`LogCapture::start`] makes a `tracing` subscriber the current thread's default and keeps
//! what it writes. The controller spawns its tasks (and kube-runtime's reconcile tasks) with the
//! subscriber of the task that started it, so on a multi-threaded runtime every line reaches the
//! capture too.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing::Dispatch;
use tracing::subscriber::DefaultGuard;

/// A shared buffer the subscriber writes into.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Log lines captured until dropped.
pub struct LogCapture {
    buffer: Buffer,
    _default: DefaultGuard,
    _second: Dispatch,
}

impl std::fmt::Debug for LogCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogCapture").finish_non_exhaustive()
    }
}

impl LogCapture {
    /// Captures the lines `filter` (an `EnvFilter` directive, e.g.
    /// `fleetward_controller=debug`) lets through, plain text as `fleetward run` writes them.
    pub fn start(filter: &str) -> LogCapture {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(buffer.clone())
            .with_ansi(false)
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .finish();
        let default = tracing::subscriber::set_default(subscriber);
        // tracing-core caches each call site's interest globally; while only one dispatcher
        // exists it asks the default of whichever thread reaches a call site first, so a test
        // running the controller beside this one without a subscriber would switch these lines
        // off for everyone. A second (silent) dispatcher makes it ask every dispatcher.
        let second = Dispatch::new(tracing::subscriber::NoSubscriber::default());
        LogCapture {
            buffer,
            _default: default,
            _second: second,
        }
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.buffer.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Whether a line at `level` (`INFO`, `WARN`, …) contains every one of `parts`.
    pub fn has(&self, level: &str, parts: &[&str]) -> bool {
        let level = format!(" {level} ");
        self.lines()
            .iter()
            .any(|l| l.contains(&level) && parts.iter().all(|p| l.contains(p)))
    }
}
