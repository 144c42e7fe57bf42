//! A real kube-apiserver on 127.0.0.1 over the shared etcd, with its own CA, client-certificate
//! identities, ServiceAccount signing key, RBAC authorisation and an audit log.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};

use crate::audit::AuditEvent;
use crate::pki::{Identity, Pki};
use crate::process::{ManagedProcess, free_port};
use crate::workdir::WorkDir;
use crate::{Error, etcd::Etcd};

/// How long kube-apiserver may take to answer `/readyz` with `ok`.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// Poll interval while waiting for readiness.
const POLL: Duration = Duration::from_millis(100);
/// Attempts with a new port when the first one was taken between choosing and binding it.
const START_ATTEMPTS: usize = 3;

static NEXT_PREFIX: AtomicU64 = AtomicU64::new(0);

/// Audit policy: every request's metadata (who, verb, resource, response code), nothing else.
const AUDIT_POLICY: &str = r#"{"apiVersion":"audit.k8s.io/v1","kind":"Policy","omitStages":["RequestReceived"],"rules":[{"level":"Metadata"}]}"#;

/// A running kube-apiserver.
#[derive(Debug)]
pub struct ApiServer {
    process: ManagedProcess,
    port: u16,
    pki: Pki,
    dir: WorkDir,
    audit_log: PathBuf,
    etcd_prefix: String,
}

impl ApiServer {
    /// Starts a kube-apiserver over `etcd` under a key prefix of its own (so several API servers
    /// over one etcd are separate clusters) and waits for `/readyz`.
    ///
    /// # Errors
    /// [`Error::NotReady`] with the log's tail if it exits or is not ready in time.
    pub async fn start(binary: &Path, etcd: &Etcd) -> Result<ApiServer, Error> {
        let mut attempt = 1;
        loop {
            match Self::start_once(binary, etcd).await {
                Err(e) if e.is_port_conflict() && attempt < START_ATTEMPTS => attempt += 1,
                other => return other,
            }
        }
    }

    async fn start_once(binary: &Path, etcd: &Etcd) -> Result<ApiServer, Error> {
        let dir = WorkDir::create("kube-apiserver")?;
        let pki = Pki::generate()?;
        let port = free_port()?;
        let etcd_prefix = format!(
            "/fleetward-{}-{}",
            std::process::id(),
            NEXT_PREFIX.fetch_add(1, Ordering::Relaxed)
        );
        let ca = dir.write("ca.crt", pki.ca_cert_pem())?;
        let cert = dir.write("apiserver.crt", &pki.serving().cert_pem)?;
        let key = dir.write("apiserver.key", &pki.serving().key_pem)?;
        let sa_key = dir.write("sa.key", pki.service_account_key_pem())?;
        let sa_pub = dir.write("sa.pub", pki.service_account_public_pem())?;
        let audit_policy = dir.write("audit-policy.json", AUDIT_POLICY)?;
        let audit_log = dir.path().join("audit.log");
        let p = |p: &Path| p.display().to_string();
        let args = vec![
            format!("--etcd-servers={}", etcd.client_url()),
            format!("--etcd-prefix={etcd_prefix}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", p(dir.path())),
            format!("--tls-cert-file={}", p(&cert)),
            format!("--tls-private-key-file={}", p(&key)),
            format!("--client-ca-file={}", p(&ca)),
            "--authorization-mode=RBAC".into(),
            format!("--service-account-issuer=https://127.0.0.1:{port}"),
            format!("--service-account-key-file={}", p(&sa_pub)),
            format!("--service-account-signing-key-file={}", p(&sa_key)),
            "--service-cluster-ip-range=10.0.0.0/24".into(),
            // No Endpoints for the `kubernetes` Service: nothing routes to 127.0.0.1 here.
            "--endpoint-reconciler-type=none".into(),
            "--profiling=false".into(),
            format!("--audit-policy-file={}", p(&audit_policy)),
            format!("--audit-log-path={}", p(&audit_log)),
            "--audit-log-format=json".into(),
            "--audit-log-mode=blocking".into(),
            "--v=0".into(),
        ];
        let process = ManagedProcess::spawn(
            "kube-apiserver",
            binary,
            "kube-apiserver",
            &args,
            dir.path().join("kube-apiserver.log"),
        )?;
        let mut server = ApiServer {
            process,
            port,
            pki,
            dir,
            audit_log,
            etcd_prefix,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> Result<(), Error> {
        let client = self.client(&Identity::admin()).await?;
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        let mut last;
        loop {
            let req = http::Request::get("/readyz").body(Vec::new());
            match req {
                Ok(req) => match client.request_text(req).await {
                    Ok(body) if body.trim() == "ok" => return Ok(()),
                    Ok(body) => last = body,
                    Err(e) => last = e.to_string(),
                },
                Err(e) => last = e.to_string(),
            }
            if let Some(status) = self.process.exited() {
                return Err(Error::NotReady {
                    component: "kube-apiserver".into(),
                    detail: format!("exited with {status} (port {})", self.port),
                    log_tail: self.process.log_tail(40),
                });
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::NotReady {
                    component: "kube-apiserver".into(),
                    detail: format!("/readyz not ok within {READY_TIMEOUT:?}; last answer: {last}"),
                    log_tail: self.process.log_tail(40),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The etcd key prefix this API server stores under.
    pub fn etcd_prefix(&self) -> &str {
        &self.etcd_prefix
    }

    /// The CA that signed the serving and client certificates.
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// A kubeconfig document for `identity` (client certificate inline).
    ///
    /// # Errors
    /// [`Error::Pki`] if the certificate cannot be made.
    pub fn kubeconfig(&self, identity: &Identity) -> Result<Value, Error> {
        let cert = self.pki.client_certificate(identity)?;
        let b64 = |s: &str| base64_encode(s.as_bytes());
        Ok(json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "testenv", "cluster": {
                "server": self.url(),
                "certificate-authority-data": b64(self.pki.ca_cert_pem()),
            }}],
            "users": [{"name": identity.user, "user": {
                "client-certificate-data": b64(&cert.cert_pem),
                "client-key-data": b64(&cert.key_pem),
            }}],
            "contexts": [{"name": "testenv", "context": {"cluster": "testenv", "user": identity.user}}],
            "current-context": "testenv",
        }))
    }

    /// Writes a kubeconfig file for `identity` (for kubectl or a `fleetward run` process) and
    /// returns its path; it is removed with the API server.
    ///
    /// # Errors
    /// [`Error::Pki`] or [`Error::Io`].
    pub fn kubeconfig_file(&self, identity: &Identity) -> Result<PathBuf, Error> {
        let doc = self.kubeconfig(identity)?;
        let safe: String = identity
            .user
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        self.dir
            .write(&format!("kubeconfig-{safe}.json"), &doc.to_string())
    }

    /// A `kube::Client` authenticated as `identity`. Call it inside the runtime that will use it.
    ///
    /// # Errors
    /// [`Error::Client`] if kube cannot build a client from the kubeconfig.
    pub async fn client(&self, identity: &Identity) -> Result<Client, Error> {
        let doc = self.kubeconfig(identity)?;
        let kc: Kubeconfig = serde_json::from_value(doc).map_err(|e| Error::Client {
            message: format!("kubeconfig: {e}"),
        })?;
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|e| Error::Client {
                message: e.to_string(),
            })?;
        Client::try_from(config).map_err(|e| Error::Client {
            message: e.to_string(),
        })
    }

    /// Every audit event so far (metadata level: user, verb, resource, response code).
    ///
    /// # Errors
    /// [`Error::Io`] if the log cannot be read; [`Error::Audit`] on a malformed line.
    pub fn audit_events(&self) -> Result<Vec<AuditEvent>, Error> {
        crate::audit::read_log(&self.audit_log)
    }

    /// Where the API server logs.
    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    /// The scratch directory (certificates, kubeconfigs, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Standard base64 with padding (kubeconfig `*-data` fields).
fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
