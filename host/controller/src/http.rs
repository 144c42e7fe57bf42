//! `/metrics`, `/healthz` and `/readyz` on a small hyper server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// Readiness: set once this replica leads and its caches are synced (or stands by as a healthy
/// follower: followers are ready too, so a rollout can proceed). Not ready, with a reason, while
/// something that will not fix itself keeps it from ever leading (see
/// [`crate::leader::LeaderElector::acquire`]).
#[derive(Debug, Default)]
pub struct Health {
    ready: AtomicBool,
    reason: Mutex<Option<String>>,
}

impl Health {
    /// Marks the process ready or not (clearing any reason given before).
    pub fn set_ready(&self, ready: bool) {
        if let Ok(mut r) = self.reason.lock() {
            *r = None;
        }
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Marks the process not ready because of `reason` (shown in `/readyz`'s body).
    pub fn set_not_ready(&self, reason: impl Into<String>) {
        if let Ok(mut r) = self.reason.lock() {
            *r = Some(reason.into());
        }
        self.ready.store(false, Ordering::SeqCst);
    }

    /// Whether ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Why not ready, when a reason was given.
    pub fn not_ready_reason(&self) -> Option<String> {
        self.reason.lock().ok().and_then(|r| r.clone())
    }
}

fn respond(req: &Request<Incoming>, metrics: &Metrics, health: &Health) -> Response<Full<Bytes>> {
    let (status, body, ctype) = match req.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            metrics.render(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
        "/healthz" => (StatusCode::OK, "ok\n".to_string(), "text/plain"),
        "/readyz" if health.is_ready() => (StatusCode::OK, "ready\n".to_string(), "text/plain"),
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            match health.not_ready_reason() {
                Some(reason) => format!("not ready: {reason}\n"),
                None => "not ready\n".to_string(),
            },
            "text/plain",
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "not found\n".to_string(),
            "text/plain",
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = ctype.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// Binds `addr` and serves until the task is dropped. Returns the bound address.
///
/// # Errors
/// When the address cannot be bound.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (m, h) = (metrics.clone(), health.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let r = respond(&req, &m, &h);
                    async move { Ok::<_, std::convert::Infallible>(r) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok((local, task))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn endpoints() {
        let m = Arc::new(Metrics::new());
        m.decision("t", "placement", "applied", 0.001);
        let h = Arc::new(Health::default());
        let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), m, h.clone())
            .await
            .unwrap();
        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 503"));
        h.set_ready(true);
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
        h.set_not_ready("lease namespace x does not exist");
        let body = get(addr, "/readyz").await;
        assert!(body.starts_with("HTTP/1.1 503"), "{body}");
        assert!(
            body.ends_with("not ready: lease namespace x does not exist\n"),
            "{body}"
        );
        h.set_ready(true);
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
        assert_eq!(h.not_ready_reason(), None);
        let metrics = get(addr, "/metrics").await;
        assert!(metrics.contains("fleetward_decisions_total"), "{metrics}");
        assert!(get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
        task.abort();
    }
}
