//! etcd for the test API servers: one per test binary, shared by every API server it starts,
//! each under its own key prefix.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Error;
use crate::process::{ManagedProcess, free_port};
use crate::workdir::WorkDir;

/// How long etcd may take to answer `/health`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Poll interval while waiting for readiness (a bounded loop: at most READY_TIMEOUT / this).
const POLL: Duration = Duration::from_millis(50);

/// A running etcd on 127.0.0.1.
#[derive(Debug)]
pub struct Etcd {
    process: ManagedProcess,
    client_port: u16,
    _dir: WorkDir,
}

impl Etcd {
    /// Starts etcd with a fresh data directory and waits until it is healthy.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot start; [`Error::NotReady`] if it does not become healthy.
    pub fn start(binary: &Path) -> Result<Etcd, Error> {
        let dir = WorkDir::create("etcd")?;
        let client_port = free_port()?;
        let peer_port = free_port()?;
        let client = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let data: PathBuf = dir.path().join("data");
        let args = vec![
            "--name=testenv".to_string(),
            format!("--data-dir={}", data.display()),
            format!("--listen-client-urls={client}"),
            format!("--advertise-client-urls={client}"),
            format!("--listen-peer-urls={peer}"),
            format!("--initial-advertise-peer-urls={peer}"),
            format!("--initial-cluster=testenv={peer}"),
            // Tests write little; do not fsync every write (a test etcd, discarded afterwards).
            "--unsafe-no-fsync=true".to_string(),
            "--log-level=warn".to_string(),
            // A fixed, generous quota so a long test never trips the 2 GiB default alarm.
            "--quota-backend-bytes=4294967296".to_string(),
        ];
        let mut process =
            ManagedProcess::spawn("etcd", binary, "etcd", &args, dir.path().join("etcd.log"))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if healthy(client_port) {
                break;
            }
            if let Some(status) = process.exited() {
                return Err(Error::NotReady {
                    component: "etcd".into(),
                    detail: format!("exited with {status}"),
                    log_tail: process.log_tail(30),
                });
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    component: "etcd".into(),
                    detail: format!("no healthy /health on {client} within {READY_TIMEOUT:?}"),
                    log_tail: process.log_tail(30),
                });
            }
            std::thread::sleep(POLL);
        }
        Ok(Etcd {
            process,
            client_port,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT`, for `--etcd-servers`.
    pub fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// Where etcd logs.
    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }
}

/// One plain HTTP/1.0 request to etcd's `/health`.
fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.contains("\"health\":\"true\"")
}
