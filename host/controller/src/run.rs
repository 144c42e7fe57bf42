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
    if let Some(e) = &elector
        && result.is_ok()
    {
        let _ = e.release().await;
    }
    http.abort();
    result
}
