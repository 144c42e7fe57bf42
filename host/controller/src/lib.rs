//! Fleetward controller: the CRDs and the reconcilers that run a fleet of tenant clusters while
//! every tenant-specific decision comes from that tenant's sandboxed Wasm policy.
//!
//! Layout (see `docs/controller.md`):
//! - [`crd`]: `Tenant`, `Seed`, `ManagedCluster` (`fleetward.dev/v1alpha1`), generated into
//!   `deploy/crds.yaml`;
//! - [`core`]: the functional core — placement filters, the upgrade invariants (also usable on
//!   arbitrary observed state: [`core::invariants::check_cluster_state`]), health, remediation
//!   limits and the remediation gate, built-in fallback policies, the provisioning renderer, and
//!   `core::lifecycle` (a cluster's next status, the write to make, the requeue). Pure and
//!   unit-tested;
//! - [`reconcile`]: the kube-runtime shell (cluster, tenant, seed reconcilers; upgrade planner);
//! - [`policy`]: which module serves each tenant's decision and how failures become fallback or
//!   hold; [`wasm`] binds it to `fleetward-engine`;
//! - [`decision_log`]: every decision with its exact input, one JSON line each (docs/audit.md);
//! - [`clock`], [`decision`], [`metrics`], [`leader`], [`http`], [`error`];
//! - [`app::start`] runs the reconcilers on any `kube::Client`; [`run::run`] adds probes, metrics
//!   and leader election around it (`fleetward run`, whose flags live in the CLI crate).
//!
//! # Example: run on a client with a virtual clock and a decision ledger
//!
//! ```no_run
//! use std::sync::Arc;
//! use fleetward_controller::app::{start, ControllerConfig};
//! use fleetward_controller::clock::VirtualClock;
//! use fleetward_controller::wasm::EngineLoader;
//! use fleetward_sdk::wire::Timestamp;
//!
//! # async fn demo(client: kube::Client) -> anyhow::Result<()> {
//! let engine = fleetward_engine::Engine::new(Default::default())?;
//! let (tx, mut ledger) = tokio::sync::mpsc::unbounded_channel();
//! let mut cfg = ControllerConfig::new(Arc::new(EngineLoader::new(engine)));
//! cfg.clock = Arc::new(VirtualClock::starting_at(Timestamp::parse("2026-01-05T00:00:00Z")?));
//! cfg.decision_sink = Some(tx);
//! let handle = start(client, cfg);
//! while let Some(record) = ledger.recv().await {
//!     println!("{} {} {} {}", record.time, record.tenant, record.kind, record.outcome.as_str());
//! #   break;
//! }
//! handle.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod app;
pub mod clock;
pub mod core;
pub mod crd;
pub mod decision;
pub mod decision_log;
pub mod error;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod policy;
pub mod reconcile;
pub mod run;
pub mod seeds;
pub mod wasm;
