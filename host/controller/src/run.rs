//! Entry points for the `fleetward` binary: `fleetward crds` and `fleetward run`.
//!
//! The binary parses flags into [`RunOptions`] (a `clap::Args`, so it can be flattened into the
//! CLI's subcommand) and calls [`run`]; `fleetward crds` prints [`crd_yaml`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use fleetward_engine::{Engine, EngineConfig};

use crate::app::{ControllerConfig, start};
use crate::http::{Health, serve};
use crate::leader::{LeaderElector, LeaseConfig};
use crate::metrics::Metrics;
use crate::wasm::EngineLoader;

pub use crate::crd::crd_yaml;

/// Flags and environment of `fleetward run`.
#[derive(Clone, Debug, clap::Args)]
pub struct RunOptions {
    /// Kubeconfig file (default: in-cluster config, then `$KUBECONFIG`, then `~/.kube/config`).
    #[arg(long, env = "FLEETWARD_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace the controller runs in (its leader-election Lease lives there).
    #[arg(long, env = "FLEETWARD_NAMESPACE", default_value = "fleetward-system")]
    pub namespace: String,
    /// Directory tenant policy modules may be read from (`module.file`), opened as a capability.
    #[arg(long, env = "FLEETWARD_MODULE_DIR")]
    pub module_dir: Option<PathBuf>,
    /// Directory for the engine's compiled-module cache.
    #[arg(long, env = "FLEETWARD_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Concurrent reconciles per controller.
    #[arg(long, env = "FLEETWARD_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
    /// Address of `/metrics`, `/healthz`, `/readyz` (use `0.0.0.0:8080` in a pod).
    #[arg(long, env = "FLEETWARD_METRICS_ADDR", default_value = "127.0.0.1:8080")]
    pub metrics_addr: SocketAddr,
    /// Run leader election (needed with more than one replica).
    #[arg(long, env = "FLEETWARD_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Identity in the Lease (default: `$POD_NAME`, else the hostname).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Log as JSON lines.
    #[arg(long, env = "FLEETWARD_LOG_JSON", default_value_t = false)]
    pub log_json: bool,
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn client(opts: &RunOptions) -> anyhow::Result<kube::Client> {
    let config = match &opts.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer()
            .await
            .context("no kubeconfig: pass --kubeconfig or run in a cluster")?,
    };
    Ok(kube::Client::try_from(config)?)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Runs the controller until SIGTERM/SIGINT (graceful) or until leadership is lost (error, so the
/// pod restarts and rejoins the election).
///
/// # Errors
/// Client, engine, module directory or metrics address setup failures; lost leadership.
pub async fn run(opts: RunOptions) -> anyhow::Result<()> {
    init_tracing(opts.log_json);
    let client = client(&opts).await?;
    let mut engine_cfg = EngineConfig::default();
    if let Some(dir) = &opts.cache_dir {
        engine_cfg = engine_cfg.cache_dir(dir.clone());
    }
    let engine = Engine::new(engine_cfg).context("starting the policy engine")?;
    let module_dir = match &opts.module_dir {
        Some(p) => Some(
            cap_std::fs::Dir::open_ambient_dir(p, cap_std::ambient_authority())
                .with_context(|| format!("opening module dir {}", p.display()))?,
        ),
        None => None,
    };
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let (addr, http) = serve(opts.metrics_addr, metrics.clone(), health.clone())
        .await
        .with_context(|| format!("binding {}", opts.metrics_addr))?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
    let identity = opts
        .identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("fleetward-{}", std::process::id()));
    let elector = opts
        .leader_election
        .then(|| LeaderElector::new(client.clone(), LeaseConfig::new(&opts.namespace, &identity)));
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    if let Some(e) = &elector {
        // A follower is healthy and ready: it only waits.
        health.set_ready(true);
        tracing::info!(identity, "waiting for leadership");
        tokio::select! {
            _ = e.acquire() => tracing::info!(identity, "acquired leadership"),
            _ = &mut shutdown => { http.abort(); return Ok(()); }
        }
    }
    let mut cfg = ControllerConfig::new(Arc::new(EngineLoader::new(engine)));
    cfg.concurrency = opts.concurrency;
    cfg.module_dir = module_dir;
    cfg.metrics = metrics;
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
        _ = lost => Err(anyhow::anyhow!("lost leadership; exiting so another replica takes over")),
    };
    health.set_ready(false);
    handle.shutdown().await;
    if let Some(e) = &elector
        && result.is_ok()
    {
        let _ = e.release().await;
    }
    http.abort();
    result
}
