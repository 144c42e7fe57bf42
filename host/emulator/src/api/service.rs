//! The in-process transport: a `tower::Service` a `kube::Client` is built on. No sockets, no
//! timers of its own, so it runs under a paused tokio clock.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body_util::BodyExt;

use super::request::ApiRequest;
use super::response::{self, ResponseBody};
use super::{Shared, handle};
use crate::status::ApiError;

/// Serves `kube::Client` requests straight from the emulator.
#[derive(Debug, Clone)]
pub(crate) struct EmulatorService {
    pub shared: Arc<Shared>,
    pub user_agent: Option<String>,
}

type BoxFut = Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, std::io::Error>> + Send>>;

impl<B> tower::Service<Request<B>> for EmulatorService
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: std::fmt::Display,
{
    type Response = Response<ResponseBody>;
    /// Only an [`crate::Outage::Unreachable`] server fails a request at the transport.
    type Error = std::io::Error;
    type Future = BoxFut;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> BoxFut {
        let shared = self.shared.clone();
        let ua = self.user_agent.clone();
        Box::pin(async move {
            if let Some(err) = shared.faults.meet_outage().await? {
                return Ok(response::error(&err));
            }
            let (parts, body) = req.into_parts();
            let bytes = match body.collect().await {
                Ok(c) => c.to_bytes(),
                Err(e) => {
                    return Ok(response::error(&ApiError::bad_request(format!(
                        "reading request body: {e}"
                    ))));
                }
            };
            let req = ApiRequest::from_parts(&parts, bytes, ua.as_deref());
            Ok(handle(&shared, &req))
        })
    }
}
