//! The vocabulary of the script: a named step is one request, one watch, or a bounded wait for an
//! object to disappear; a step may capture values from its answer (a uid, a resourceVersion, a
//! continue token) that later steps use as `${name}`. Each server gets its own captures, so a
//! step can refer to "the uid this server gave the owner".

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result};
use http::Method;
use serde_json::Value;

use crate::exchange::Request;

/// `application/merge-patch+json`.
pub const MERGE_PATCH: &str = "application/merge-patch+json";
/// `application/json-patch+json`.
pub const JSON_PATCH: &str = "application/json-patch+json";
/// `application/strategic-merge-patch+json` (kubectl patch's default for built-ins).
pub const STRATEGIC_PATCH: &str = "application/strategic-merge-patch+json";
/// `application/apply-patch+yaml` (server-side apply; JSON is YAML).
pub const APPLY_PATCH: &str = "application/apply-patch+yaml";
/// What `kubectl get` asks for: a server-side Table, falling back to JSON.
pub const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

/// What a step does.
#[derive(Clone, Debug)]
pub enum Action {
    /// One request.
    Send(Request),
    /// A watch, read until `expected_events` change events (or an end, see
    /// [`crate::exchange::read_watch`]).
    Watch {
        request: Request,
        expected_events: usize,
    },
    /// GET `path` until it answers 404, at most `deadline` (garbage collection and namespace
    /// deletion are asynchronous on the real server).
    WaitUntilGone { path: String, deadline: Duration },
}

/// One named step of the script.
#[derive(Clone, Debug)]
pub struct Step {
    pub name: &'static str,
    pub action: Action,
    /// `(variable, JSON pointer into the response body)`.
    pub captures: Vec<(&'static str, &'static str)>,
}

impl Step {
    fn send(
        name: &'static str,
        method: Method,
        path: impl Into<String>,
        content_type: Option<&'static str>,
        body: Option<Value>,
    ) -> Step {
        Step {
            name,
            action: Action::Send(Request {
                method,
                path: path.into(),
                content_type,
                accept: None,
                body,
            }),
            captures: Vec::new(),
        }
    }

    pub fn get(name: &'static str, path: impl Into<String>) -> Step {
        Step::send(name, Method::GET, path, None, None)
    }

    pub fn post(name: &'static str, path: impl Into<String>, body: Value) -> Step {
        Step::send(name, Method::POST, path, None, Some(body))
    }

    pub fn put(name: &'static str, path: impl Into<String>, body: Value) -> Step {
        Step::send(name, Method::PUT, path, None, Some(body))
    }

    pub fn patch(
        name: &'static str,
        path: impl Into<String>,
        content_type: &'static str,
        body: Value,
    ) -> Step {
        Step::send(name, Method::PATCH, path, Some(content_type), Some(body))
    }

    pub fn delete(name: &'static str, path: impl Into<String>, options: Option<Value>) -> Step {
        Step::send(name, Method::DELETE, path, None, options)
    }

    pub fn watch(name: &'static str, path: impl Into<String>, expected_events: usize) -> Step {
        Step {
            name,
            action: Action::Watch {
                request: Request {
                    method: Method::GET,
                    path: path.into(),
                    content_type: None,
                    accept: None,
                    body: None,
                },
                expected_events,
            },
            captures: Vec::new(),
        }
    }

    pub fn wait_until_gone(name: &'static str, path: impl Into<String>) -> Step {
        Step {
            name,
            action: Action::WaitUntilGone {
                path: path.into(),
                deadline: Duration::from_secs(45),
            },
            captures: Vec::new(),
        }
    }

    /// The same step asking for `accept`.
    pub fn accept(mut self, accept: &'static str) -> Step {
        if let Action::Send(r) | Action::Watch { request: r, .. } = &mut self.action {
            r.accept = Some(accept);
        }
        self
    }

    /// The same step capturing `pointer` of its response body as `${var}`.
    pub fn capture(mut self, var: &'static str, pointer: &'static str) -> Step {
        self.captures.push((var, pointer));
        self
    }
}

/// One server's captured variables.
#[derive(Debug, Default)]
pub struct Captures(BTreeMap<&'static str, String>);

impl Captures {
    /// Records the step's captures from `body`.
    ///
    /// # Errors
    /// A capture that is not in the body (the script is wrong for this server).
    pub fn record(&mut self, step: &Step, body: &Value) -> Result<()> {
        for (var, pointer) in &step.captures {
            let value = body
                .pointer(pointer)
                .with_context(|| format!("step {}: no {pointer} to capture as {var}", step.name))?;
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            self.0.insert(var, text);
        }
        Ok(())
    }

    /// `text` with every `${var}` replaced, percent-encoded when `in_query` (continue tokens
    /// are base64).
    pub fn substitute(&self, text: &str, in_query: bool) -> String {
        let mut out = text.to_string();
        for (var, value) in &self.0 {
            let value = if in_query {
                percent_encode(value)
            } else {
                value.clone()
            };
            out = out.replace(&format!("${{{var}}}"), &value);
        }
        out
    }

    /// `request` with every `${var}` in its path and body replaced.
    ///
    /// # Errors
    /// A body that stops being JSON (cannot happen for string values without quotes).
    pub fn resolve(&self, request: &Request) -> Result<Request> {
        let mut r = request.clone();
        r.path = self.substitute(&r.path, true);
        if let Some(body) = &r.body {
            r.body = Some(serde_json::from_str(
                &self.substitute(&serde_json::to_string(body)?, false),
            )?);
        }
        Ok(r)
    }
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
