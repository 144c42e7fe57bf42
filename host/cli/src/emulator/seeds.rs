//! `fleetward emulator --seeds N`: a management API server and N remote seed API servers on
//! 127.0.0.1, each its own [`Emulator`] (own store, own fake kubelet / Cluster API), wired the way
//! an operator wires real seeds: each seed's kubeconfig in a Secret of the management server and
//! a `Seed` whose `spec.location.kubeconfigSecret` names it.
//!
//! `fleetward run --kubeconfig <out-dir>/management.kubeconfig` then connects to every seed
//! server over HTTP, and each cluster's children land on its seed's server, which
//! `kubectl --kubeconfig <out-dir>/seed-K.kubeconfig` shows.

use std::io::Write;
use std::path::{Path, PathBuf};

use fleetward_controller::crd::Seed;
use fleetward_controller::seeds::token_kubeconfig;
use fleetward_emulator::infra::{FakeInfra, FakeInfraHandle, InfraTimings};
use fleetward_emulator::{Emulator, ServerHandle};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use serde_json::json;

use super::EmulatorArgs;
use crate::exit::CliError;

/// The management server's kubeconfig file inside `--out-dir`.
pub const MANAGEMENT_KUBECONFIG: &str = "management.kubeconfig";
/// Namespace of the seeds' kubeconfig Secrets in the management server.
pub const SECRET_NAMESPACE: &str = "fleetward-system";
/// Data key of the kubeconfig in each Secret (the controller's default).
pub const SECRET_KEY: &str = "kubeconfig";
/// Regions given to the seeds in turn.
const REGIONS: [&str; 3] = ["eu-west", "us-east", "ap-south"];

/// The name of the K-th seed (K from 1): its Seed, its kubeconfig file stem.
pub fn seed_name(k: usize) -> String {
    format!("seed-{k}")
}

/// The K-th seed's kubeconfig Secret name.
pub fn secret_name(k: usize) -> String {
    format!("{}-kubeconfig", seed_name(k))
}

/// One served API server.
#[derive(Debug)]
pub struct Server {
    /// `management` or `seed-K`.
    pub name: String,
    /// The emulator behind it.
    pub emulator: Emulator,
    /// The HTTP server.
    pub handle: ServerHandle,
    /// Its kubeconfig file.
    pub kubeconfig: PathBuf,
    _infra: Option<FakeInfraHandle>,
}

impl Server {
    async fn start(
        name: String,
        emulator: Emulator,
        args: &EmulatorArgs,
        addr: std::net::SocketAddr,
        kubeconfig: PathBuf,
    ) -> Result<Server, CliError> {
        let handle = emulator.serve(addr).await.map_err(CliError::runtime)?;
        handle
            .write_kubeconfig(&kubeconfig)
            .map_err(|source| CliError::Write {
                path: kubeconfig.clone(),
                source,
            })?;
        let infra = args
            .fake_infra
            .then(|| FakeInfra::start(emulator.client(), InfraTimings::default()));
        Ok(Server {
            name,
            emulator,
            handle,
            kubeconfig,
            _infra: infra,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.handle.url()
    }
}

/// The management server and the seed servers, running.
#[derive(Debug)]
pub struct Topology {
    /// The management API server (Fleetward's CRDs, Seeds, Secrets, tenants' clusters).
    pub management: Server,
    /// `seeds[K-1]` serves `seed-K`.
    pub seeds: Vec<Server>,
}

impl Topology {
    /// Starts `args.seeds` seed servers and the management server, writes their kubeconfigs
    /// (the management one to `management_kubeconfig`, the others into `args.out_dir`), installs
    /// the CRDs in the management server and creates the Secrets and Seeds there.
    ///
    /// # Errors
    /// [`CliError::Write`] when the directory or a kubeconfig cannot be written,
    /// [`CliError::Runtime`] when a server cannot start or an object cannot be created.
    pub async fn start(
        args: &EmulatorArgs,
        management_kubeconfig: &Path,
    ) -> Result<Topology, CliError> {
        let Some(dir) = args.out_dir.clone() else {
            return Err(CliError::runtime("--seeds needs --out-dir"));
        };
        std::fs::create_dir_all(&dir).map_err(|source| CliError::Write {
            path: dir.clone(),
            source,
        })?;
        let management = Server::start(
            "management".into(),
            super::live_emulator(None),
            args,
            args.addr,
            management_kubeconfig.to_path_buf(),
        )
        .await?;
        let mut seeds = Vec::with_capacity(args.seeds);
        for k in 1..=args.seeds {
            // Distinct uid streams: objects on different servers never share a uid.
            let emulator = super::live_emulator(Some(0x5EED + k as u64));
            let name = seed_name(k);
            let path = dir.join(format!("{name}.kubeconfig"));
            let addr = std::net::SocketAddr::new(args.addr.ip(), 0);
            seeds.push(Server::start(name, emulator, args, addr, path).await?);
        }
        let topology = Topology { management, seeds };
        topology.register_seeds().await?;
        Ok(topology)
    }

    async fn register_seeds(&self) -> Result<(), CliError> {
        super::install_crds(&self.management.emulator).await?;
        let client = self
            .management
            .emulator
            .client_with_user_agent("fleetward-emulator");
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": SECRET_NAMESPACE}}))
            .map_err(CliError::runtime)?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .map_err(CliError::runtime)?;
        let secrets: Api<Secret> = Api::namespaced(client.clone(), SECRET_NAMESPACE);
        let seeds: Api<Seed> = Api::all(client);
        for (i, server) in self.seeds.iter().enumerate() {
            let k = i + 1;
            let kubeconfig = token_kubeconfig(&server.name, &server.url(), "emulator");
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(secret_name(k)),
                    ..ObjectMeta::default()
                },
                data: Some([(SECRET_KEY.to_string(), ByteString(kubeconfig.into_bytes()))].into()),
                ..Secret::default()
            };
            secrets
                .create(&PostParams::default(), &secret)
                .await
                .map_err(CliError::runtime)?;
            let seed: Seed = serde_json::from_value(json!({
                "apiVersion": "fleetward.dev/v1alpha1", "kind": "Seed",
                "metadata": {"name": server.name},
                "spec": {"region": REGIONS[i % REGIONS.len()], "provider": "emulated",
                         "capacity": 100, "minVersion": "1.29", "maxVersion": "1.34",
                         "location": {"kubeconfigSecret": {"namespace": SECRET_NAMESPACE,
                                                           "name": secret_name(k)}}}
            }))
            .map_err(CliError::runtime)?;
            seeds
                .create(&PostParams::default(), &seed)
                .await
                .map_err(CliError::runtime)?;
        }
        Ok(())
    }

    /// Tells the user where everything is; the last line ends with `(Ctrl-C to stop)`.
    ///
    /// # Errors
    /// When `out` cannot be written.
    pub fn describe(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for server in std::iter::once(&self.management).chain(&self.seeds) {
            writeln!(
                out,
                "{:<12} {}  kubeconfig {}",
                server.name,
                server.url(),
                server.kubeconfig.display()
            )?;
        }
        writeln!(
            out,
            "{} Seeds (seed-1..seed-{}) with kubeconfig Secrets in {SECRET_NAMESPACE} created on the management server; \
             run `fleetward run --kubeconfig {}` (Ctrl-C to stop)",
            self.seeds.len(),
            self.seeds.len(),
            self.management.kubeconfig.display()
        )
    }

    /// Stops every server.
    pub async fn shutdown(self) {
        for server in std::iter::once(self.management).chain(self.seeds) {
            server.handle.shutdown().await;
        }
    }
}
