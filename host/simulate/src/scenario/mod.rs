//! The scenario: what fleet exists, how fast its infrastructure is, and what happens when.
//!
//! A scenario is a YAML file (see `docs/simulate.md`). [`load`] reads it, validates every value
//! and resolves every policy module to bytes and a digest, so that the run itself can never fail
//! on bad input: every mistake is reported up front with the line and column that caused it.
//!
//! The types here are the validated model; `parse` holds the raw YAML shapes and the
//! conversion, `timeline` the time expressions and the actions, `modules` module resolution.

mod modules;
pub mod objects;
mod parse;
mod timeline;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fleetward_sdk::wire::{ClusterRef, DecisionKind, KubeVersion, Labels, Timestamp};

pub(crate) use modules::short_hex;
pub use modules::{BUILTIN_MODULES, Module, ModuleSource};
pub use parse::{load, parse_str};
pub use timeline::{Action, ApiOutage, Selector, TimedAction, format_duration, parse_duration};

/// Why a scenario could not be loaded. Every variant that concerns the file's content names the
/// line and column (1-based) of the offending YAML node.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The scenario file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or does not have the scenario's shape (unknown field, wrong type).
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file (or `<string>`).
        path: String,
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
        /// What the YAML parser said.
        message: String,
    },
    /// Well-formed YAML with a value that makes no sense (bad duration, unknown cluster,
    /// module that does not load, event after the end of the run, …).
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file (or `<string>`).
        path: String,
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl ScenarioError {
    /// The (line, column) the error points at, if it concerns the file's content.
    pub fn line_column(&self) -> Option<(u64, u64)> {
        match self {
            ScenarioError::Read { .. } => None,
            ScenarioError::Syntax { line, column, .. }
            | ScenarioError::Invalid { line, column, .. } => Some((*line, *column)),
        }
    }
}

/// A validated scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Short name (defaults to the file stem).
    pub name: String,
    /// One paragraph for the report header.
    pub description: String,
    /// Virtual time at which the run starts.
    pub start: Timestamp,
    /// How long the run lasts at most, in seconds (it ends early once the fleet has settled and
    /// no event is pending).
    pub duration: i64,
    /// Granularity of the driver loop and of progress lines, in seconds.
    pub step: i64,
    /// How fast the fake infrastructure moves.
    pub infra: InfraTimings,
    /// The controller's tunables the scenario overrides (`controller:`).
    pub controller: ControllerTunables,
    /// Tenants in name order.
    pub tenants: Vec<Tenant>,
    /// Seeds in name order.
    pub seeds: Vec<Seed>,
    /// Clusters sorted by namespace and name.
    pub clusters: Vec<Cluster>,
    /// Extra Kubernetes objects applied verbatim before the run (Namespaces, ConfigMaps, …).
    pub objects: Vec<serde_json::Value>,
    /// Events sorted by time (stable for equal times: file order).
    pub timeline: Vec<TimedAction>,
    /// Directory module paths are relative to.
    pub base_dir: PathBuf,
    /// Whether each seed is its own API server (default) or all share the management server.
    pub topology: Topology,
}

/// The host's settings a scenario may override (`controller:`); `None`: the controller's
/// default (`fleetward_controller::reconcile::Settings::default`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControllerTunables {
    /// Periodic resync, seconds.
    pub resync: Option<i64>,
    /// Upgrade steps in flight across the fleet (`upgrades.maxConcurrent`).
    pub max_concurrent: Option<u32>,
    /// Upgrade steps in flight per seed (`upgrades.maxConcurrentPerSeed`).
    pub max_concurrent_per_seed: Option<u32>,
    /// Remediation rate-limit window, seconds (`remediation.window`).
    pub remediation_window: Option<i64>,
    /// Remediation actions per cluster per window (`remediation.perCluster`).
    pub remediation_per_cluster: Option<u32>,
    /// Remediation actions per seed per window (`remediation.perSeed`).
    pub remediation_per_seed: Option<u32>,
    /// Remediation actions per tenant per window (`remediation.perTenant`).
    pub remediation_per_tenant: Option<u32>,
}

/// Where the seeds' API servers are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Topology {
    /// Each seed is its own emulated API server, reached through a kubeconfig Secret named by
    /// its `Seed` (`spec.location.kubeconfigSecret`), with its own fake kubelet and Cluster API.
    #[default]
    Seeds,
    /// Every seed is the management server itself (Seeds without a location).
    Single,
}

impl Topology {
    /// The spelling in the scenario file.
    pub fn as_str(self) -> &'static str {
        match self {
            Topology::Seeds => "seeds",
            Topology::Single => "single",
        }
    }
}

impl Scenario {
    /// The end of the run.
    pub fn end(&self) -> Timestamp {
        Timestamp(self.start.0 + self.duration)
    }

    /// The tenant owning a namespace.
    pub fn tenant_of_namespace(&self, namespace: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.namespace == namespace)
    }

    /// A tenant by name.
    pub fn tenant(&self, name: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.name == name)
    }

    /// Replaces the module of one tenant's decision(s) (what-if runs). `kind = None` replaces
    /// every decision the new module implements that the tenant binds.
    ///
    /// # Errors
    /// [`ScenarioError::Invalid`] (line 0) when the tenant is unknown.
    pub fn override_policy(
        &mut self,
        tenant: &str,
        module: &Module,
        kind: Option<DecisionKind>,
    ) -> Result<(), ScenarioError> {
        let Some(t) = self.tenants.iter_mut().find(|t| t.name == tenant) else {
            return Err(ScenarioError::Invalid {
                path: "--policy".into(),
                line: 0,
                column: 0,
                message: format!(
                    "unknown tenant {tenant:?}: the scenario defines {}",
                    self.tenants
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        };
        let kinds: Vec<DecisionKind> = match kind {
            Some(k) => vec![k],
            None => t.policies.keys().copied().collect(),
        };
        for k in kinds {
            match t.policies.get_mut(&k) {
                Some(binding) => binding.module = module.clone(),
                None => {
                    t.policies.insert(
                        k,
                        PolicyBinding {
                            module: module.clone(),
                            config: serde_json::Value::Null,
                            limits: serde_json::Value::Null,
                            failure_mode: FailureMode::Fallback,
                        },
                    );
                }
            }
        }
        Ok(())
    }
}

/// How long the fake infrastructure takes for each step (seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InfraTimings {
    /// A control-plane workload (Deployment/StatefulSet) becoming ready after a change.
    pub workload_ready: i64,
    /// A Machine becoming ready after creation.
    pub machine_ready: i64,
    /// A Machine disappearing after deletion.
    pub machine_delete: i64,
}

impl Default for InfraTimings {
    fn default() -> Self {
        InfraTimings {
            workload_ready: 30,
            machine_ready: 120,
            machine_delete: 10,
        }
    }
}

/// What the controller does when a tenant's policy fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureMode {
    /// Use the built-in default behaviour.
    Fallback,
    /// Change nothing and report.
    Hold,
}

impl FailureMode {
    /// The spelling in the Tenant resource.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureMode::Fallback => "Fallback",
            FailureMode::Hold => "Hold",
        }
    }
}

/// A tenant and its policy bindings.
#[derive(Clone, Debug)]
pub struct Tenant {
    /// Tenant name (cluster-scoped Tenant resource).
    pub name: String,
    /// The namespace holding its ManagedClusters.
    pub namespace: String,
    /// One binding per decision kind it customises.
    pub policies: BTreeMap<DecisionKind, PolicyBinding>,
}

/// A module plus the tenant's config, limits and failure mode for it.
#[derive(Clone, Debug)]
pub struct PolicyBinding {
    /// The module.
    pub module: Module,
    /// Config JSON handed to the policy verbatim (`null`: none).
    pub config: serde_json::Value,
    /// Sandbox limits as the Tenant resource spells them (`{"timeoutMs": 100, "fuel": …}`;
    /// `null`: engine defaults).
    pub limits: serde_json::Value,
    /// What happens when this policy fails.
    pub failure_mode: FailureMode,
}

/// A seed: where control planes run.
#[derive(Clone, Debug)]
pub struct Seed {
    /// Name.
    pub name: String,
    /// Region, e.g. `eu-west`.
    pub region: String,
    /// Provider, e.g. `aws`.
    pub provider: String,
    /// Zone, optional.
    pub zone: Option<String>,
    /// Labels.
    pub labels: Labels,
    /// Maximum clusters.
    pub capacity: u32,
    /// Oldest version it can host.
    pub min_version: KubeVersion,
    /// Newest version it can host.
    pub max_version: KubeVersion,
}

/// A node pool of a cluster.
#[derive(Clone, Debug)]
pub struct Pool {
    /// Pool name.
    pub name: String,
    /// Machines.
    pub replicas: u32,
}

/// A managed cluster.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// Namespace and name.
    pub id: ClusterRef,
    /// Owning tenant.
    pub tenant: String,
    /// Initial Kubernetes version.
    pub version: KubeVersion,
    /// Labels policies read.
    pub labels: Labels,
    /// Control-plane replicas.
    pub control_plane_replicas: u32,
    /// Node pools.
    pub pools: Vec<Pool>,
    /// Allowed regions (empty: any).
    pub regions: Vec<String>,
    /// Allowed providers (empty: any).
    pub providers: Vec<String>,
}

/// Returns `path`'s parent directory, or `.`.
pub(crate) fn dir_of(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
