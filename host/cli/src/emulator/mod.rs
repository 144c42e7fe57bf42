//! `fleetward emulator`: serve the in-process Kubernetes API emulator on 127.0.0.1 for `kubectl`.
//!
//! For previews and debugging: point `kubectl` (or `fleetward run`) at the written kubeconfig.
//! With `--seeds N` it serves a whole remote-seed topology: one management API server and N
//! seed API servers, each its own emulator ([`seeds`]). It is never a production backend.

pub mod seeds;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use fleetward_emulator::Emulator;
use fleetward_emulator::infra::{FakeInfra, InfraTimings};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::PostParams;

use crate::exit::{CliError, Status};

/// Arguments of `fleetward emulator`.
#[derive(Clone, Debug, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on; loopback only. With `--seeds`, the management server's address
    /// (the seed servers pick free ports on the same address).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Write a kubeconfig for the (management) server here. Required without `--out-dir`.
    #[arg(long, required_unless_present = "out_dir")]
    pub kubeconfig_out: Option<PathBuf>,
    /// Write every server's kubeconfig into this directory: `management.kubeconfig` (unless
    /// `--kubeconfig-out` names another place) and `seed-K.kubeconfig` for each seed.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Also install Fleetward's CRDs (implied by `--seeds`).
    #[arg(long)]
    pub install_crds: bool,
    /// Also run the fake kubelet / Cluster API so workloads and machines become ready (on every
    /// server with `--seeds`).
    #[arg(long)]
    pub fake_infra: bool,
    /// Also serve N remote seed API servers, and create in the management server a Seed
    /// `seed-K` (K = 1..N) per server with its kubeconfig Secret
    /// (`fleetward-system/seed-K-kubeconfig`). Default 0: one server, no Seeds.
    #[arg(long, default_value_t = 0, requires = "out_dir")]
    pub seeds: usize,
}

impl EmulatorArgs {
    /// Where the (management) server's kubeconfig goes.
    pub fn management_kubeconfig(&self) -> Option<PathBuf> {
        self.kubeconfig_out.clone().or_else(|| {
            self.out_dir
                .as_ref()
                .map(|d| d.join(seeds::MANAGEMENT_KUBECONFIG))
        })
    }
}

/// Serves until Ctrl-C.
///
/// # Errors
/// [`CliError::Runtime`] when the address is not loopback, a server cannot start, or the
/// Seeds cannot be created; [`CliError::Write`] when a kubeconfig cannot be written.
pub fn run(args: &EmulatorArgs, out: &mut dyn Write) -> Result<Status, CliError> {
    if !args.addr.ip().is_loopback() {
        return Err(CliError::runtime(format!(
            "refusing to listen on {}: the emulator binds loopback addresses only",
            args.addr
        )));
    }
    let Some(kubeconfig_out) = args.management_kubeconfig() else {
        return Err(CliError::runtime(
            "--kubeconfig-out or --out-dir is required",
        ));
    };
    let rt = tokio::runtime::Runtime::new().map_err(CliError::runtime)?;
    rt.block_on(async {
        if args.seeds > 0 {
            let topology = seeds::Topology::start(args, &kubeconfig_out).await?;
            topology.describe(out)?;
            out.flush()?;
            tokio::signal::ctrl_c().await.map_err(CliError::runtime)?;
            topology.shutdown().await;
            return Ok(Status::Ok);
        }
        if let Some(dir) = &args.out_dir {
            std::fs::create_dir_all(dir).map_err(|source| CliError::Write {
                path: dir.clone(),
                source,
            })?;
        }
        let emulator = live_emulator(None);
        let server = emulator.serve(args.addr).await.map_err(CliError::runtime)?;
        server
            .write_kubeconfig(&kubeconfig_out)
            .map_err(|source| CliError::Write {
                path: kubeconfig_out.clone(),
                source,
            })?;
        if args.install_crds {
            install_crds(&emulator).await?;
        }
        let _infra = args
            .fake_infra
            .then(|| FakeInfra::start(emulator.client(), InfraTimings::default()));
        writeln!(
            out,
            "emulator listening on http://{}; kubeconfig written to {} (Ctrl-C to stop)",
            server.addr,
            kubeconfig_out.display()
        )?;
        out.flush()?;
        tokio::signal::ctrl_c().await.map_err(CliError::runtime)?;
        server.shutdown().await;
        Ok(Status::Ok)
    })
}

/// An emulator for `fleetward emulator`: on the real wall clock, so `creationTimestamp`s and
/// `kubectl get` ages read as on a cluster (simulations and tests keep the emulator's fixed,
/// deterministic start time). `seed` gives each server of a topology its own uid stream.
pub(crate) fn live_emulator(seed: Option<u64>) -> Emulator {
    let builder = Emulator::builder().wall_clock();
    match seed {
        Some(seed) => builder.seed(seed).build(),
        None => builder.build(),
    }
}

async fn install_crds(emulator: &Emulator) -> Result<(), CliError> {
    let crds: Api<CustomResourceDefinition> = Api::all(emulator.client());
    for crd in fleetward_controller::crd::crds() {
        crds.create(&PostParams::default(), &crd)
            .await
            .map_err(CliError::runtime)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Namespace;

    /// Seconds between a served object's `creationTimestamp` and the system clock.
    async fn age_of_default_namespace(emulator: &Emulator) -> i64 {
        let ns = Api::<Namespace>::all(emulator.client())
            .get("default")
            .await
            .expect("the default namespace");
        let created = ns
            .metadata
            .creation_timestamp
            .expect("a creationTimestamp")
            .0;
        let now = k8s_openapi::jiff::Timestamp::now();
        (now.as_second() - created.as_second()).abs()
    }

    #[tokio::test]
    async fn the_served_emulators_run_on_the_wall_clock() {
        for seed in [None, Some(0x5EED + 1)] {
            let age = age_of_default_namespace(&live_emulator(seed)).await;
            assert!(
                age <= 5,
                "creationTimestamp is {age} s away from now (seed {seed:?})"
            );
        }
    }
}
