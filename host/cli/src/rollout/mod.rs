//! `fleetward rollout`: see and steer a tenant's upgrade rollout (docs/rollout.md,
//! "`fleetward rollout`").
//!
//! `kubectl rollout status|pause|resume` is the habit operators have; these commands give the same
//! verbs for a tenant's fleet rollout. They only read and write API objects (the Tenant's
//! `spec.rollout`, a ManagedCluster's `spec.pauseUpgrades`, RolloutApproval objects), exactly what
//! GitOps or `kubectl` could write, so the CLI has no powers of its own and the controller stays
//! the only thing that acts. Modules: [`view`] renders the status report (pure), [`actions`]
//! checks and writes, [`watch`] re-renders on change.
//!
//! Also a kubectl plugin: a copy or symlink named `kubectl-fleetward` on the `PATH` makes
//! `kubectl fleetward rollout status TENANT` work (the command name is fixed in [`crate::Cli`],
//! so the binary's file name does not matter).

pub mod actions;
pub mod view;
pub mod watch;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use fleetward_controller::crd::{ManagedCluster, RolloutApproval};
use kube::api::ListParams;
use kube::{Api, Client};

use crate::exit::{CliError, Status};

/// `--help` text for the exit codes of `rollout`.
pub const ROLLOUT_EXIT_CODES: &str = "\
Exit codes:
  0  success (status printed; the object was patched or created)
  1  the API server failed or could not be reached; status --watch --until-done timed out
  2  refused, nothing changed: unknown tenant, cluster or gate, gate already approved, no rollout
     in progress, a namespace of another tenant, bad flags or an unreadable kubeconfig";

/// `fleetward rollout` arguments.
#[derive(Clone, Debug, clap::Args)]
pub struct RolloutArgs {
    /// Kubeconfig file (default: `$KUBECONFIG`, then `~/.kube/config`, then in-cluster config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: RolloutCommand,
}

/// Output format of `rollout status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Tables.
    #[default]
    Table,
    /// One JSON document (with --watch: one compact document per line per frame).
    Json,
}

impl Format {
    /// The report in this format.
    pub fn render(self, report: &view::Report) -> String {
        match self {
            Format::Table => view::table(report),
            Format::Json => view::json(report),
        }
    }
}

/// `fleetward rollout` subcommands.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum RolloutCommand {
    /// Where the tenant's rollout stands: state, waves, gates, what each waiting cluster waits
    /// for and until when, what is upgrading now.
    Status {
        /// Tenant name.
        tenant: String,
        /// Print a new report whenever it changes.
        #[arg(long)]
        watch: bool,
        /// With --watch: stop after this long (`90s`, `5m`, `1h`, or seconds). Default: never.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "watch")]
        timeout: Option<Duration>,
        /// With --watch: stop once the rollout is Complete or Aborted.
        #[arg(long, requires = "watch")]
        until_done: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Pause the tenant's rollout (spec.rollout.paused), or one cluster (--cluster): no new
    /// upgrade step starts; a step in flight finishes.
    Pause {
        /// Tenant name.
        tenant: String,
        /// Pause only this cluster (NAMESPACE/NAME; sets its spec.pauseUpgrades).
        #[arg(long, value_name = "NS/NAME")]
        cluster: Option<String>,
        /// Why (shown in status).
        #[arg(long, conflicts_with = "cluster")]
        reason: Option<String>,
        /// Who pauses (default: $USER, else "unknown").
        #[arg(long, value_name = "WHO", conflicts_with = "cluster")]
        by: Option<String>,
    },
    /// Resume the tenant's rollout, or one cluster (--cluster), where it stopped.
    Resume {
        /// Tenant name.
        tenant: String,
        /// Resume only this cluster (NAMESPACE/NAME).
        #[arg(long, value_name = "NS/NAME")]
        cluster: Option<String>,
    },
    /// Approve a gate the tenant's policy is waiting on (creates a RolloutApproval).
    Approve {
        /// Tenant name.
        tenant: String,
        /// Gate name (status.rollout.gates[].name).
        gate: String,
        /// Who approves (default: $USER, else "unknown").
        #[arg(long, value_name = "WHO")]
        by: Option<String>,
        /// Namespace for the RolloutApproval (default: that of a cluster waiting on the gate, else
        /// the first namespace labelled fleetward.dev/tenant=TENANT).
        #[arg(long, short = 'n', value_name = "NS")]
        namespace: Option<String>,
        /// Free text: a ticket, what was checked.
        #[arg(long, default_value = "")]
        comment: String,
        /// The rollout to approve (default: the current one, status.rollout.id). Another id
        /// approves ahead of time and skips the check that the gate was requested.
        #[arg(long, value_name = "ID")]
        rollout: Option<String>,
    },
    /// Abort the tenant's current rollout: no new step starts, steps in flight finish, clusters
    /// stay on the versions they reached.
    Abort {
        /// Tenant name.
        tenant: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
        /// Who aborts (default: $USER, else "unknown").
        #[arg(long, value_name = "WHO")]
        by: Option<String>,
    },
}

/// `90s`, `5m`, `1h`, `250ms` or a number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s}: expected e.g. 90s, 5m, 1h"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("{s}: expected e.g. 90s, 5m, 1h")),
    }
}

/// `--by`, else `$USER`, else `unknown`.
fn who(by: &Option<String>) -> String {
    by.clone()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

async fn client(kubeconfig: &Option<PathBuf>) -> Result<Client, CliError> {
    let usage = CliError::Usage;
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| usage(format!("cannot read kubeconfig {}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .map_err(|e| usage(format!("invalid kubeconfig {}: {e}", path.display())))?
        }
        None => kube::Config::infer().await.map_err(|e| {
            usage(format!(
                "no kubeconfig ({e}): pass --kubeconfig, set KUBECONFIG or run in a cluster"
            ))
        })?,
    };
    Client::try_from(config).map_err(|e| usage(format!("cannot build a client: {e}")))
}

/// Reads the tenant and its objects and builds the report.
pub(crate) async fn snapshot(client: &Client, tenant: &str) -> Result<view::Report, CliError> {
    let t = actions::tenant(client, tenant).await?;
    let lp = ListParams::default();
    let clusters = Api::<ManagedCluster>::all(client.clone())
        .list(&lp)
        .await
        .map_err(|e| CliError::runtime(format!("cannot list ManagedClusters: {e}")))?;
    let approvals = Api::<RolloutApproval>::all(client.clone())
        .list(&lp)
        .await
        .map_err(|e| CliError::runtime(format!("cannot list RolloutApprovals: {e}")))?;
    Ok(view::report(&t, &clusters.items, &approvals.items))
}

/// Runs `fleetward rollout`.
///
/// # Errors
/// [`CliError::Usage`] (exit 2) when the command is refused and nothing was changed;
/// [`CliError::Runtime`] (exit 1) when the API server fails.
pub fn run(args: &RolloutArgs, out: &mut dyn Write) -> Result<Status, CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Output)?;
    rt.block_on(async {
        let client = client(&args.kubeconfig).await?;
        let line = match &args.command {
            RolloutCommand::Status {
                tenant,
                watch,
                timeout,
                until_done,
                format,
            } => {
                if *watch {
                    return watch::watch(&client, tenant, *format, *timeout, *until_done, out)
                        .await;
                }
                let report = snapshot(&client, tenant).await?;
                out.write_all(format.render(&report).as_bytes())?;
                return Ok(Status::Ok);
            }
            RolloutCommand::Pause {
                tenant,
                cluster: Some(c),
                ..
            } => actions::pause_cluster(&client, tenant, c, true).await?,
            RolloutCommand::Pause {
                tenant,
                cluster: None,
                reason,
                by,
            } => {
                let by = who(by);
                actions::pause_tenant(&client, tenant, Some((reason.as_deref(), &by))).await?
            }
            RolloutCommand::Resume {
                tenant,
                cluster: Some(c),
            } => actions::pause_cluster(&client, tenant, c, false).await?,
            RolloutCommand::Resume {
                tenant,
                cluster: None,
            } => actions::pause_tenant(&client, tenant, None).await?,
            RolloutCommand::Approve {
                tenant,
                gate,
                by,
                namespace,
                comment,
                rollout,
            } => {
                let by = who(by);
                let a = actions::ApproveArgs {
                    tenant,
                    gate,
                    by: &by,
                    namespace: namespace.as_deref(),
                    comment,
                    rollout: rollout.as_deref(),
                };
                actions::approve(&client, &a).await?
            }
            RolloutCommand::Abort { tenant, reason, by } => {
                actions::abort(&client, tenant, &who(by), reason).await?
            }
        };
        writeln!(out, "{line}")?;
        Ok(Status::Ok)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<crate::Cli, clap::Error> {
        use clap::Parser as _;
        crate::Cli::try_parse_from(["kubectl-fleetward", "rollout"].iter().chain(args))
    }

    #[test]
    fn flags() {
        assert!(parse(&["status", "t1"]).is_ok());
        assert!(parse(&["status", "t1", "--watch", "--timeout", "5m", "--until-done"]).is_ok());
        assert!(
            parse(&["status", "t1", "--timeout", "5m"]).is_err(),
            "--timeout needs --watch"
        );
        assert!(parse(&["pause", "t1", "--cluster", "a/b", "--reason", "r"]).is_err());
        assert!(parse(&["pause", "t1", "--cluster", "a/b", "--by", "me"]).is_err());
        assert!(parse(&["approve", "t1"]).is_err(), "GATE is required");
        let cli = parse(&["abort", "t1", "--kubeconfig", "/k"]).unwrap();
        let crate::Command::Rollout(args) = cli.command else {
            panic!("not rollout")
        };
        assert_eq!(args.kubeconfig, Some(PathBuf::from("/k")));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("12"), Ok(Duration::from_secs(12)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
    }
}
