//! `fleetward emulator`: serve the in-process Kubernetes API emulator on 127.0.0.1 for `kubectl`.
//!
//! For previews and debugging: point `kubectl` (or `fleetward run`) at the written kubeconfig.
//! It is never a production backend.

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
    /// Address to listen on; loopback only.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Write a kubeconfig for the server here.
    #[arg(long)]
    pub kubeconfig_out: PathBuf,
    /// Also install Fleetward's CRDs.
    #[arg(long)]
    pub install_crds: bool,
    /// Also run the fake kubelet / Cluster API so workloads and machines become ready.
    #[arg(long)]
    pub fake_infra: bool,
}

/// Serves until Ctrl-C.
///
/// # Errors
/// [`CliError::Runtime`] when the address is not loopback, the server cannot start, or the
/// kubeconfig cannot be written.
pub fn run(args: &EmulatorArgs, out: &mut dyn Write) -> Result<Status, CliError> {
    if !args.addr.ip().is_loopback() {
        return Err(CliError::runtime(format!(
            "refusing to listen on {}: the emulator binds loopback addresses only",
            args.addr
        )));
    }
    let rt = tokio::runtime::Runtime::new().map_err(CliError::runtime)?;
    rt.block_on(async {
        let emulator = Emulator::new();
        let server = emulator.serve(args.addr).await.map_err(CliError::runtime)?;
        server
            .write_kubeconfig(&args.kubeconfig_out)
            .map_err(|source| CliError::Write {
                path: args.kubeconfig_out.clone(),
                source,
            })?;
        if args.install_crds {
            let crds: Api<CustomResourceDefinition> = Api::all(emulator.client());
            for crd in fleetward_controller::crd::crds() {
                crds.create(&PostParams::default(), &crd)
                    .await
                    .map_err(CliError::runtime)?;
            }
        }
        let _infra = args
            .fake_infra
            .then(|| FakeInfra::start(emulator.client(), InfraTimings::default()));
        writeln!(
            out,
            "emulator listening on http://{}; kubeconfig written to {} (Ctrl-C to stop)",
            server.addr,
            args.kubeconfig_out.display()
        )?;
        out.flush()?;
        tokio::signal::ctrl_c().await.map_err(CliError::runtime)?;
        server.shutdown().await;
        Ok(Status::Ok)
    })
}
