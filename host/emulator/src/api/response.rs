//! Response construction: JSON bodies, `Status` errors and streamed watch bodies.

use std::convert::Infallible;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::{Response, StatusCode, header};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};

use crate::status::ApiError;

/// The body type of every emulator response (in-process and HTTP).
pub type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

/// A JSON response with `code`.
pub fn json(code: u16, body: impl Into<Bytes>) -> Response<ResponseBody> {
    let mut r = Response::new(Full::new(body.into()).boxed_unsync());
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

/// A response with `code` and an explicit `Content-Type` (OpenAPI v2 in protobuf).
pub fn with_type(
    code: u16,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<ResponseBody> {
    let mut r = json(code, body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}

/// A JSON response from a value.
pub fn value(code: u16, v: &serde_json::Value) -> Response<ResponseBody> {
    json(code, serde_json::to_vec(v).unwrap_or_default())
}

/// A `Status` error response.
pub fn error(e: &ApiError) -> Response<ResponseBody> {
    let mut r = value(e.code, &e.to_status());
    if let Some(s) = e.details.retry_after_seconds {
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(s));
    }
    r
}

/// A streamed (chunked) 200 response, one chunk per watch event.
pub fn stream(s: impl Stream<Item = Bytes> + Send + 'static) -> Response<ResponseBody> {
    let body = StreamBody::new(s.map(|b| Ok::<_, Infallible>(Frame::data(b))));
    let mut r = Response::new(BodyExt::boxed_unsync(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache, private"),
    );
    r
}
