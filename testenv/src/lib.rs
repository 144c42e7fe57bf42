//! A real Kubernetes control plane for Fleetward's tests, in the spirit of controller-runtime's
//! envtest: etcd, kube-apiserver and (when a test needs built-in controllers)
//! kube-controller-manager, built from pinned Go modules by `scripts/build-control-plane.sh`
//! and started as child processes on 127.0.0.1.
//!
//! Why: every other test meets only `fleetward-emulator`, written by the same hands as the
//! controller, so a misreading of Kubernetes semantics would show up identically in both. The
//! real API server is the reference; the emulator is held to it by a differential test.
//!
//! Shape:
//! - one **etcd per test binary**, started on first use and shared ([`shared_etcd`]);
//! - one **API server per test** ([`TestCluster::start`]) over that etcd under its own
//!   `--etcd-prefix`: Fleetward's Seeds and Tenants are cluster-scoped and its controller watches
//!   the whole cluster, so tests sharing one API server through namespaces would see each other's
//!   objects; a separate prefix gives each test a cluster of its own for ~3 s of start-up;
//! - identities are client certificates from a per-server CA ([`Identity`]); `admin()` is in
//!   `system:masters`, anything else has only what RBAC grants;
//! - every process dies with the test process (a stdin lifeline, see `process`), and is killed
//!   when its handle drops, so nothing is left behind even when a test panics.
//!
//! ```no_run
//! # async fn demo() -> Result<(), fleetward_testenv::Error> {
//! use fleetward_testenv::{Identity, TestCluster};
//! let Some(cluster) = TestCluster::start_or_skip("my_test").await? else {
//!     return Ok(()); // no Go on this machine: skipped, loudly
//! };
//! let client = cluster.client(&Identity::admin()).await?;
//! # let _ = client; Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod apiserver;
pub mod audit;
pub mod binary;
mod controller_manager;
mod etcd;
mod pki;
mod process;
mod workdir;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use apiserver::ApiServer;
pub use binary::Availability;
pub use controller_manager::ControllerManager;
pub use etcd::Etcd;
pub use pki::{CertifiedKey, Identity, Pki};

/// What can go wrong starting or using the test control plane.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The control plane binary is missing though it could be built (or is required).
    #[error("the test control plane is not built (expected {path}): {hint}")]
    NotBuilt {
        /// Where it was looked for.
        path: PathBuf,
        /// What to do.
        hint: String,
    },
    /// A component exited or did not become ready in time.
    #[error(
        "{component} did not become ready: {detail}\n--- last lines of its log ---\n{log_tail}"
    )]
    NotReady {
        /// `etcd`, `kube-apiserver`, `kube-controller-manager`.
        component: String,
        /// What was seen.
        detail: String,
        /// The end of its log.
        log_tail: String,
    },
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Certificate or key generation failed.
    #[error("generating the {what}: {message}")]
    Pki {
        /// Which item.
        what: String,
        /// rcgen's message.
        message: String,
    },
    /// kube could not build a client.
    #[error("building a kube client for the test API server: {message}")]
    Client {
        /// kube's message.
        message: String,
    },
    /// A line of the audit log is not an audit event.
    #[error("reading the audit log: {message}")]
    Audit {
        /// What was wrong.
        message: String,
    },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// Whether the failure was a port taken between choosing and binding it (worth a retry).
    pub(crate) fn is_port_conflict(&self) -> bool {
        matches!(self, Error::NotReady { log_tail, .. } if log_tail.contains("address already in use"))
    }
}

static SHARED_ETCD: Mutex<Option<Arc<Etcd>>> = Mutex::new(None);

/// The test binary's etcd, started on first use.
///
/// # Errors
/// [`Error::NotReady`] if it cannot start.
pub fn shared_etcd(binary: &Path) -> Result<Arc<Etcd>, Error> {
    let mut guard = SHARED_ETCD.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = guard.as_ref() {
        return Ok(e.clone());
    }
    let etcd = Arc::new(Etcd::start(binary)?);
    *guard = Some(etcd.clone());
    Ok(etcd)
}

/// A Kubernetes cluster of one's own for a test: an API server (with its audit log) over the
/// shared etcd, and optionally kube-controller-manager. Dropping it stops its processes.
#[derive(Debug)]
pub struct TestCluster {
    // Field order is drop order: the controller manager goes before the API server.
    controller_manager: Option<ControllerManager>,
    server: ApiServer,
    binary: PathBuf,
    _etcd: Arc<Etcd>,
}

impl TestCluster {
    /// Starts a cluster, or returns `None` after announcing a skip when the control plane cannot
    /// exist on this machine (no Go, not required).
    ///
    /// # Errors
    /// [`Error::NotBuilt`] when it could be built but is not, or is required (CI); start-up
    /// failures.
    pub async fn start_or_skip(test: &str) -> Result<Option<TestCluster>, Error> {
        match binary::locate()? {
            Availability::Ready(path) => Ok(Some(Self::start_with(path).await?)),
            Availability::Unavailable(reason) => {
                binary::announce_skip(test, &reason);
                Ok(None)
            }
        }
    }

    /// Starts a cluster with the control plane binary at `binary`.
    ///
    /// # Errors
    /// Start-up failures.
    pub async fn start_with(binary: PathBuf) -> Result<TestCluster, Error> {
        let etcd = {
            let b = binary.clone();
            tokio::task::spawn_blocking(move || shared_etcd(&b))
                .await
                .map_err(|e| Error::io("starting etcd", std::io::Error::other(e.to_string())))??
        };
        let server = ApiServer::start(&binary, &etcd).await?;
        Ok(TestCluster {
            controller_manager: None,
            server,
            binary,
            _etcd: etcd,
        })
    }

    /// Starts kube-controller-manager with `controllers` (e.g. `["namespace", "garbagecollector"]`).
    ///
    /// # Errors
    /// Start-up failures.
    pub async fn start_controller_manager(&mut self, controllers: &[&str]) -> Result<(), Error> {
        self.controller_manager =
            Some(ControllerManager::start(&self.binary, &self.server, controllers).await?);
        Ok(())
    }

    /// The API server.
    pub fn server(&self) -> &ApiServer {
        &self.server
    }

    /// A client as `identity` (see [`ApiServer::client`]).
    ///
    /// # Errors
    /// [`Error::Client`].
    pub async fn client(&self, identity: &Identity) -> Result<kube::Client, Error> {
        self.server.client(identity).await
    }

    /// The last `lines` lines of kube-controller-manager's log (empty if it is not running),
    /// for failure messages.
    pub fn controller_manager_log_tail(&self, lines: usize) -> String {
        self.controller_manager
            .as_ref()
            .map(|c| {
                let text = std::fs::read_to_string(c.log_path()).unwrap_or_default();
                let all: Vec<&str> = text
                    .lines()
                    .filter(|l| !l.contains("extension-apiserver-authentication"))
                    .collect();
                all[all.len().saturating_sub(lines)..].join("\n")
            })
            .unwrap_or_default()
    }

    /// The control plane binary in use.
    pub fn binary(&self) -> &Path {
        &self.binary
    }
}
