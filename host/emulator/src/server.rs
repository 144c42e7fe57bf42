//! The HTTP/1.1 transport on 127.0.0.1, for `kubectl` and out-of-process clients.
//!
//! Plain HTTP (kubectl accepts `server: http://…` in a kubeconfig); watch responses stream as
//! chunked bodies. Connections are served by hyper 1 on the caller's tokio runtime.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::api::request::ApiRequest;
use crate::api::response;
use crate::api::{Shared, handle};
use crate::status::ApiError;

/// Errors of the emulator's fallible operations (starting the HTTP server).
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The address is not a loopback address.
    #[error("refusing to listen on {0}: the emulator only binds 127.0.0.1/::1")]
    NotLoopback(SocketAddr),
    /// Binding failed.
    #[error("binding {addr}")]
    Bind {
        /// The requested address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// A running HTTP server. Dropping it leaves the server running; call [`ServerHandle::shutdown`].
#[derive(Debug)]
pub struct ServerHandle {
    /// The bound address (with the real port when 0 was requested).
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

async fn serve_conn(shared: Arc<Shared>, stream: tokio::net::TcpStream) {
    let svc = service_fn(move |req: http::Request<Incoming>| {
        let shared = shared.clone();
        async move {
            let (parts, body) = req.into_parts();
            let resp = match body.collect().await {
                Ok(c) => handle(&shared, &ApiRequest::from_parts(&parts, c.to_bytes(), None)),
                Err(e) => {
                    response::error(&ApiError::bad_request(format!("reading request body: {e}")))
                }
            };
            Ok::<_, std::convert::Infallible>(resp)
        }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), svc)
        .await
    {
        tracing::debug!(error = %e, "emulator connection ended with an error");
    }
}

/// Binds `addr` and serves until shut down.
pub(crate) async fn start(
    shared: Arc<Shared>,
    addr: SocketAddr,
) -> Result<ServerHandle, EmulatorError> {
    if !addr.ip().is_loopback() {
        return Err(EmulatorError::NotLoopback(addr));
    }
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| EmulatorError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| EmulatorError::Bind { addr, source })?;
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        conns.spawn(serve_conn(shared.clone(), stream));
                    }
                    Err(e) => tracing::warn!(error = %e, "emulator accept failed"),
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        conns.abort_all();
    });
    Ok(ServerHandle {
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}

impl ServerHandle {
    /// The base URL, e.g. `http://127.0.0.1:34567`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig pointing at this server (context `fleetward-emulator`, namespace `default`).
    pub fn kubeconfig(&self) -> kube::config::Kubeconfig {
        crate::kubeconfig::for_server(&self.url())
    }

    /// Writes [`ServerHandle::kubeconfig`] to `path` (JSON, which kubectl reads as YAML).
    ///
    /// # Errors
    /// I/O errors writing the file.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        crate::kubeconfig::write(&self.kubeconfig(), path)
    }

    /// Stops accepting, closes open connections and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
