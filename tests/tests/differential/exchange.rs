//! Sending one scripted request to one server and recording what came back: the status code and
//! the JSON body, or for a watch the decoded events. Raw `http::Request`s through
//! `kube::Client::send`, so both servers see exactly the bytes the script wrote (no typed API in
//! between that could smooth a difference away).

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use futures::StreamExt as _;
use http_body_util::BodyExt as _;
use kube::Client;
use serde_json::Value;

/// How long a plain request may take before "no answer" is its outcome (status 0).
const ANSWER_DEADLINE: Duration = Duration::from_secs(10);

/// One HTTP request of the script, after variable substitution.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: http::Method,
    pub path: String,
    pub content_type: Option<&'static str>,
    pub accept: Option<&'static str>,
    pub body: Option<Value>,
}

/// What a server answered.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// A plain request: status code and body (JSON, or the text as a string if not JSON).
    Response { status: u16, body: Value },
    /// A watch: status code, the events read (periodic bookmarks left out, see
    /// [`read_watch`]), and how the reading ended.
    Watch {
        status: u16,
        events: Vec<Value>,
        ended: WatchEnded,
    },
}

impl Outcome {
    /// The status code.
    pub fn status(&self) -> u16 {
        match self {
            Outcome::Response { status, .. } | Outcome::Watch { status, .. } => *status,
        }
    }

    /// The body as one JSON value, for captures and comparison.
    pub fn to_value(&self) -> Value {
        match self {
            Outcome::Response { status, body } => {
                serde_json::json!({"status": status, "body": body})
            }
            Outcome::Watch {
                status,
                events,
                ended,
            } => {
                serde_json::json!({"status": status, "events": events, "ended": format!("{ended:?}")})
            }
        }
    }
}

/// Why reading a watch stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchEnded {
    /// The expected number of change events arrived.
    EnoughEvents,
    /// The `k8s.io/initial-events-end` bookmark arrived.
    InitialEventsEnd,
    /// An `ERROR` event arrived (the server ends the watch after it).
    Error,
    /// The server closed the stream.
    Closed,
    /// Nothing more arrived before the deadline.
    Deadline,
}

fn http_request(req: &Request) -> Result<http::Request<kube::client::Body>> {
    let mut builder = http::Request::builder()
        .method(req.method.clone())
        .uri(&req.path)
        .header(
            http::header::ACCEPT,
            req.accept.unwrap_or("application/json"),
        );
    if let Some(ct) = req.content_type {
        builder = builder.header(http::header::CONTENT_TYPE, ct);
    } else if req.body.is_some() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    let body = match &req.body {
        Some(v) => serde_json::to_vec(v)?,
        None => Vec::new(),
    };
    Ok(builder.body(kube::client::Body::from(body))?)
}

/// Sends `req` and reads the whole body.
///
/// # Errors
/// Transport failures (an HTTP error status is an outcome, not an error).
pub async fn send(client: &Client, req: &Request) -> Result<Outcome> {
    let Ok(response) = tokio::time::timeout(ANSWER_DEADLINE, client.send(http_request(req)?)).await
    else {
        return Ok(Outcome::Response {
            status: 0,
            body: Value::String(format!("no answer within {ANSWER_DEADLINE:?}")),
        });
    };
    let response = response?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Ok(Outcome::Response { status, body })
}

/// Opens a watch and reads events until `expected_events` change events (ADDED, MODIFIED,
/// DELETED) arrived, the initial-events-end bookmark or an ERROR arrived, the stream closed, or
/// `deadline` passed. Bookmarks other than the initial-events-end one are dropped: the real server
/// sends them at its own cadence, so only their meaning (the end of the initial events) is
/// comparable.
///
/// # Errors
/// Transport failures.
pub async fn read_watch(
    client: &Client,
    req: &Request,
    expected_events: usize,
    deadline: Duration,
) -> Result<Outcome> {
    let response = tokio::time::timeout(deadline, client.send(http_request(req)?))
        .await
        .with_context(|| format!("opening watch {} timed out", req.path))??;
    let status = response.status().as_u16();
    if status != 200 {
        let bytes = response.into_body().collect().await?.to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        return Ok(Outcome::Watch {
            status,
            events: vec![body],
            ended: WatchEnded::Closed,
        });
    }
    let mut frames = response.into_body().into_data_stream();
    let mut pending: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    let mut changes = 0;
    let until = tokio::time::Instant::now() + deadline;
    let ended = 'read: loop {
        let frame = match tokio::time::timeout_at(until, frames.next()).await {
            Err(_) => break WatchEnded::Deadline,
            Ok(None) => break WatchEnded::Closed,
            Ok(Some(frame)) => frame?,
        };
        pending.extend_from_slice(&frame);
        while let Some(newline) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=newline).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let event: Value = serde_json::from_slice(&line)
                .with_context(|| format!("watch line {}", String::from_utf8_lossy(&line)))?;
            match event["type"].as_str() {
                Some("BOOKMARK") => {
                    let initial_end = event["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"]
                        == "true";
                    if initial_end {
                        events.push(event);
                        break 'read WatchEnded::InitialEventsEnd;
                    }
                }
                Some("ERROR") => {
                    events.push(event);
                    break 'read WatchEnded::Error;
                }
                Some("ADDED" | "MODIFIED" | "DELETED") => {
                    events.push(event);
                    changes += 1;
                    if changes >= expected_events {
                        break 'read WatchEnded::EnoughEvents;
                    }
                }
                other => bail!("unexpected watch event type {other:?}: {event}"),
            }
        }
    };
    Ok(Outcome::Watch {
        status,
        events,
        ended,
    })
}
