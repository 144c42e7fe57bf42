//! `fleetward run`: the controller itself, as deployed (see docs/operating.md).
//!
//! This module owns what only a binary should: flags and their environment variables (so the
//! Deployment manifest and `--help` agree), logging set-up, the kubeconfig, and SIGTERM/SIGINT.
//! It then hands a [`RunConfig`] to [`fleetward_controller::run::run`].

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use fleetward_controller::run::{DecisionLogConfig, RunConfig};

use crate::exit::{CliError, Status};

/// Flags and environment of `fleetward run`.
#[derive(Clone, Debug, clap::Args)]
pub struct RunOptions {
    /// Kubeconfig file (default: in-cluster config, then `$KUBECONFIG`, then `~/.kube/config`).
    #[arg(long, env = "FLEETWARD_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace the controller runs in: its leader-election Lease, and the seed kubeconfig
    /// Secrets (the only Secrets it reads).
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
    /// Write the decision log (every decision with its exact input, docs/audit.md) to this
    /// file, rotated to `PATH.1`, `PATH.2`…; put it on a volume.
    #[arg(long, env = "FLEETWARD_DECISION_LOG")]
    pub decision_log: Option<PathBuf>,
    /// Size of one decision-log file in bytes before it is rotated.
    #[arg(long, env = "FLEETWARD_DECISION_LOG_MAX_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub decision_log_max_bytes: u64,
    /// Decision-log files kept, the current one included (the oldest is deleted).
    #[arg(long, env = "FLEETWARD_DECISION_LOG_FILES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub decision_log_files: u32,
    /// Also emit every decision record on stdout (tracing target `fleetward::decision_log`,
    /// field `record`), for log shippers.
    #[arg(long, env = "FLEETWARD_DECISION_LOG_STDOUT", default_value_t = false)]
    pub decision_log_stdout: bool,
}

/// Runs the controller until SIGTERM/SIGINT.
///
/// # Errors
/// [`CliError::Runtime`] when the client, engine, module directory or metrics address cannot be
/// set up, or leadership is lost (the pod restarts and rejoins the election).
pub fn run(opts: &RunOptions) -> Result<Status, CliError> {
    init_tracing(opts.log_json);
    let rt = tokio::runtime::Runtime::new().map_err(CliError::runtime)?;
    rt.block_on(async {
        let config = RunConfig {
            client: client(opts).await?,
            namespace: opts.namespace.clone(),
            module_dir: opts.module_dir.clone(),
            cache_dir: opts.cache_dir.clone(),
            concurrency: opts.concurrency,
            metrics_addr: opts.metrics_addr,
            leader_identity: opts.leader_election.then(|| identity(opts)),
            decision_log: DecisionLogConfig {
                path: opts.decision_log.clone(),
                max_bytes: opts.decision_log_max_bytes,
                files: opts.decision_log_files,
                stdout: opts.decision_log_stdout,
                ..DecisionLogConfig::default()
            },
        };
        fleetward_controller::run::run(config, shutdown_signal())
            .await
            .map_err(anyhow::Error::new)
    })
    .map_err(CliError::runtime)?;
    Ok(Status::Ok)
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

/// `--identity`, else `$HOSTNAME`, else one made from the process id.
fn identity(opts: &RunOptions) -> String {
    opts.identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("fleetward-{}", std::process::id()))
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
