//! The controller as deployed: probes and metrics, leader election, then [`start`] until the
//! caller's shutdown future resolves or leadership is lost.
//!
//! Flags, environment variables, logging and signal handling belong to the binary
//! (`fleetward run` in the CLI crate); this module takes a ready [`RunConfig`] and a
//! `shutdown` future, so it can run under any front end or test.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use fleetward_engine::{Engine, EngineConfig, EngineError};

use crate::app::{ControllerConfig, start};
use crate::decision_log::file::RotatingFile;
use crate::decision_log::sink::{DEFAULT_CAPACITY, Tee, TracingSink};
use crate::decision_log::{DecisionLog, LineSink, WriterThread};
use crate::http::{Health, serve};
use crate::leader::{LeaderElector, LeaseConfig};
use crate::metrics::Metrics;
use crate::wasm::EngineLoader;

/// What `fleetward run` runs with. Every field says its default in the CLI.
#[derive(Clone)]
pub struct RunConfig {
    /// The API server to reconcile against.
    pub client: kube::Client,
    /// The controller's namespace: its leader-election Lease, and the only namespace whose
    /// Secrets (seed kubeconfigs) it reads (CLI default `fleetward-system`).
    pub namespace: String,
    /// Directory tenant policy modules may be read from (`module.file`), opened as a
    /// capability (default: none, so `module.file` bindings fail to load).
    pub module_dir: Option<PathBuf>,
    /// Directory for the engine's compiled-module cache (default: no disk cache).
    pub cache_dir: Option<PathBuf>,
    /// Concurrent reconciles per controller (CLI default 16).
    pub concurrency: u16,
    /// Address of `/metrics`, `/healthz`, `/readyz` (CLI default `127.0.0.1:8080`).
    pub metrics_addr: SocketAddr,
    /// Take part in leader election under this identity (default: none, run at once).
    pub leader_identity: Option<String>,
    /// The decision log (default [`DecisionLogConfig::default`]: off).
    pub decision_log: DecisionLogConfig,
}

/// Where the decision log goes (`--decision-log*`, docs/audit.md). Off unless a path or stdout
/// is given.
#[derive(Clone, Debug)]
pub struct DecisionLogConfig {
    /// The log file; rotated to `PATH.1`… (default: none).
    pub path: Option<PathBuf>,
    /// Size of one file in bytes (default 100 MiB).
    pub max_bytes: u64,
    /// Files kept, the current one included (default 5).
    pub files: u32,
    /// Also emit each record on the `fleetward::decision_log` tracing target (stdout; default
    /// off).
    pub stdout: bool,
    /// Records queued before new ones are dropped (default 4096).
    pub queue: usize,
}

impl Default for DecisionLogConfig {
    fn default() -> Self {
        DecisionLogConfig {
            path: None,
            max_bytes: crate::decision_log::file::DEFAULT_MAX_BYTES,
            files: crate::decision_log::file::DEFAULT_FILES,
            stdout: false,
            queue: DEFAULT_CAPACITY,
        }
    }
}

impl DecisionLogConfig {
    /// Starts the log this asks for (an off handle and no writer when it asks for none).
    ///
    /// # Errors
    /// [`RunError::DecisionLog`]: the file cannot be opened, or the writer thread not started.
    pub fn start(
        &self,
        metrics: Arc<Metrics>,
    ) -> Result<(DecisionLog, Option<WriterThread>), RunError> {
        let err = |source| RunError::DecisionLog {
            path: self.path.clone().unwrap_or_else(|| "stdout".into()),
            source,
        };
        let mut sinks: Vec<Box<dyn LineSink>> = Vec::new();
        if let Some(path) = &self.path {
            sinks.push(Box::new(
                RotatingFile::open(path, self.max_bytes, self.files).map_err(err)?,
            ));
        }
        if self.stdout {
            sinks.push(Box::new(TracingSink));
        }
        if sinks.is_empty() {
            return Ok((DecisionLog::off(), None));
        }
        let sink: Box<dyn LineSink> = if sinks.len() == 1 {
            sinks.remove(0)
        } else {
            Box::new(Tee(sinks))
        };
        let (log, writer) = DecisionLog::start(sink, self.queue, metrics).map_err(err)?;
        Ok((log, Some(writer)))
    }
}

impl std::fmt::Debug for RunConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunConfig")
            .field("namespace", &self.namespace)
            .field("module_dir", &self.module_dir)
            .field("cache_dir", &self.cache_dir)
            .field("concurrency", &self.concurrency)
            .field("metrics_addr", &self.metrics_addr)
            .field("leader_identity", &self.leader_identity)
            .field("decision_log", &self.decision_log)
            .finish_non_exhaustive()
    }
}

/// Why the controller could not start, or stopped without being asked to.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The policy engine rejected its configuration or could not open its cache directory.
    #[error("starting the policy engine: {0}")]
    EngineStart(#[source] EngineError),
    /// `--module-dir` cannot be opened; check the path and the pod's volume mounts.
    #[error("opening module dir {path}: {source}")]
    ModuleDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The metrics address is taken or not bindable; pick another `--metrics-addr`.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The decision log cannot be opened: check `--decision-log` (the directory must exist and
    /// be writable: a volume in the pod).
    #[error("opening the decision log {path}: {source}")]
    DecisionLog {
        /// The log file (or `stdout`).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Another replica took the Lease; exit so the pod restarts and rejoins the election.
    #[error("lost leadership; exiting so another replica takes over")]
    LostLeadership,
}

/// Runs the controller until `shutdown` resolves (graceful: the Lease is released) or until
/// leadership is lost.
///
/// # Errors
/// [`RunError`]: engine, module directory or metrics address set-up failures; lost leadership.
pub async fn run(config: RunConfig, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let mut engine_cfg = EngineConfig::default();
    if let Some(dir) = &config.cache_dir {
        engine_cfg = engine_cfg.cache_dir(dir.clone());
    }
    let engine = Engine::new(engine_cfg).map_err(RunError::EngineStart)?;
    let module_dir = match &config.module_dir {
        Some(p) => Some(
            cap_std::fs::Dir::open_ambient_dir(p, cap_std::ambient_authority()).map_err(
                |source| RunError::ModuleDir {
                    path: p.clone(),
                    source,
                },
            )?,
        ),
        None => None,
    };
    let metrics = Arc::new(Metrics::new());
    // Opened before anything runs: a log that cannot be written is a start-up error, not a
    // silent audit gap.
    let (decision_log, log_writer) = config.decision_log.start(metrics.clone())?;
    let health = Arc::new(Health::default());
    let (addr, http) = serve(config.metrics_addr, metrics.clone(), health.clone())
        .await
        .map_err(|source| RunError::Bind {
            addr: config.metrics_addr,
            source,
        })?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
    let client = config.client;
    let elector = config.leader_identity.as_ref().map(|identity| {
        LeaderElector::new(
            client.clone(),
            LeaseConfig::new(&config.namespace, identity),
        )
    });
    tokio::pin!(shutdown);
    if let Some(e) = &elector {
        // A follower is healthy and ready: it only waits.
        health.set_ready(true);
        tracing::info!(identity = ?config.leader_identity, "waiting for leadership");
        metrics.set_leader(false);
        tokio::select! {
            _ = e.acquire(&health) => tracing::info!(identity = ?config.leader_identity, "acquired leadership"),
            _ = &mut shutdown => { http.abort(); return Ok(()); }
        }
    }
    metrics.set_leader(true);
    let mut cfg = ControllerConfig::new(Arc::new(EngineLoader::new(engine)));
    cfg.concurrency = config.concurrency;
    cfg.module_dir = module_dir;
    cfg.metrics = metrics.clone();
    cfg.settings.seed_secret_namespace = config.namespace.clone();
    cfg.decision_log = decision_log.clone();
    let handle = start(client, cfg);
    health.set_ready(true);
    let lost = async {
        match &elector {
            Some(e) => e.hold().await,
            None => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        _ = &mut shutdown => { tracing::info!("shutting down"); Ok(()) }
        _ = lost => Err(RunError::LostLeadership),
    };
    health.set_ready(false);
    metrics.set_leader(false);
    handle.shutdown().await;
    // Every record queued so far is written before the process ends.
    decision_log.close();
    if let Some(w) = log_writer {
        let _ = tokio::task::spawn_blocking(move || w.join()).await;
    }
    if let Some(e) = &elector
        && result.is_ok()
    {
        let _ = e.release().await;
    }
    http.abort();
    result
}
