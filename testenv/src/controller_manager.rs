//! kube-controller-manager against a test API server, running only the controllers a test asks
//! for (namespace deletion and garbage collection, typically). No kubelet runs, so the
//! Deployment and StatefulSet controllers are left off unless a test wants ReplicaSets: status of
//! workloads comes from the fake kubelet in `fleetward-emulator::infra`, as it does on the
//! emulator.

use std::path::Path;
use std::time::Duration;

use crate::Error;
use crate::apiserver::ApiServer;
use crate::pki::Identity;
use crate::process::{ManagedProcess, free_port};

/// How long the controller manager may take to answer `/healthz`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

/// A running kube-controller-manager.
#[derive(Debug)]
pub struct ControllerManager {
    process: ManagedProcess,
}

impl ControllerManager {
    /// Starts kube-controller-manager with `controllers` only, and waits until its secure port
    /// is open.
    ///
    /// It runs as the test administrator: the bootstrap `system:kube-controller-manager` user may
    /// not `deletecollection` in a namespace (a real cluster runs each controller under its own
    /// ServiceAccount with `--use-service-account-credentials`, which needs token plumbing these
    /// tests do not exercise). Its identity is not what the tests are about; Fleetward's is.
    ///
    /// # Errors
    /// [`Error::NotReady`] if it exits or does not become healthy in time.
    pub async fn start(
        binary: &Path,
        server: &ApiServer,
        controllers: &[&str],
    ) -> Result<ControllerManager, Error> {
        let kubeconfig = server.kubeconfig_file(&Identity::admin())?;
        let port = free_port()?;
        let sa_key = server.dir().join("sa.key");
        let ca = server.dir().join("ca.crt");
        let args = vec![
            format!("--kubeconfig={}", kubeconfig.display()),
            format!("--authentication-kubeconfig={}", kubeconfig.display()),
            format!("--authorization-kubeconfig={}", kubeconfig.display()),
            format!("--controllers={}", controllers.join(",")),
            "--leader-elect=false".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", server.dir().join("kcm-certs").display()),
            format!("--service-account-private-key-file={}", sa_key.display()),
            format!("--root-ca-file={}", ca.display()),
            "--use-service-account-credentials=false".into(),
            // Garbage collection and namespace deletion react within a second, not a minute.
            "--concurrent-gc-syncs=5".into(),
            "--profiling=false".into(),
            "--v=0".into(),
        ];
        let mut process = ManagedProcess::spawn(
            "kube-controller-manager",
            binary,
            "kube-controller-manager",
            &args,
            server.dir().join("kube-controller-manager.log"),
        )?;
        // Its secure port opens once configuration and authentication are loaded, just before
        // the controllers start; callers wait on the effects they need (a namespace gone), so a
        // TCP accept is enough here and needs no trust in its self-signed certificate.
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            let listening = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok();
            if listening {
                return Ok(ControllerManager { process });
            }
            if let Some(status) = process.exited() {
                return Err(Error::NotReady {
                    component: "kube-controller-manager".into(),
                    detail: format!("exited with {status}"),
                    log_tail: process.log_tail(40),
                });
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::NotReady {
                    component: "kube-controller-manager".into(),
                    detail: format!("not serving on 127.0.0.1:{port} within {READY_TIMEOUT:?}"),
                    log_tail: process.log_tail(40),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Where it logs.
    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }
}
