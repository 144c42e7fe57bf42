//! The transport-independent request: both the in-process tower service and the HTTP server
//! collect the body and hand one of these to the router.

use std::collections::HashMap;

use bytes::Bytes;
use http::Method;

/// Decoded query parameters (last value wins).
#[derive(Debug, Clone, Default)]
pub struct Query(HashMap<String, String>);

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `application/x-www-form-urlencoded` decoding of one component.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    /// Parses `a=b&c=d`.
    pub fn parse(q: Option<&str>) -> Query {
        let mut map = HashMap::new();
        for pair in q.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(decode(k), decode(v));
        }
        Query(map)
    }

    /// A parameter's value, if present.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// A non-empty parameter's value.
    pub fn non_empty(&self, k: &str) -> Option<&str> {
        self.get(k).filter(|v| !v.is_empty())
    }

    /// A boolean parameter (`true`/`1`).
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }
}

/// One API request with its body already collected.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// HTTP method.
    pub method: Method,
    /// Path without query.
    pub path: String,
    /// Query parameters.
    pub query: Query,
    /// `Content-Type` (parameters stripped, lower-case).
    pub content_type: String,
    /// `Accept`.
    pub accept: String,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// Body bytes.
    pub body: Bytes,
}

impl ApiRequest {
    /// Builds the request from HTTP parts; `default_ua` is used when the client sent none.
    pub fn from_parts(
        parts: &http::request::Parts,
        body: Bytes,
        default_ua: Option<&str>,
    ) -> ApiRequest {
        let header = |name: http::header::HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(http::header::CONTENT_TYPE)
            .map(|c| {
                c.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        ApiRequest {
            method: parts.method.clone(),
            path: parts.uri.path().to_string(),
            query: Query::parse(parts.uri.query()),
            content_type,
            accept: header(http::header::ACCEPT).unwrap_or_default(),
            user_agent: header(http::header::USER_AGENT).or_else(|| default_ua.map(str::to_string)),
            body,
        }
    }

    /// The field manager for a write: `fieldManager`, else the user agent up to its first `/`.
    pub fn manager(&self) -> String {
        if let Some(m) = self.query.non_empty("fieldManager") {
            return m.to_string();
        }
        match &self.user_agent {
            Some(ua) if !ua.is_empty() => ua
                .split('/')
                .next()
                .unwrap_or(ua)
                .chars()
                .take(128)
                .collect(),
            _ => "unknown".to_string(),
        }
    }

    /// `dryRun=All`.
    pub fn dry_run(&self) -> bool {
        self.query.get("dryRun") == Some("All")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_selectors() {
        let q = Query::parse(Some("labelSelector=app%3Dweb%2Ctier+in+%28a%29&watch=1&x"));
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a)"));
        assert!(q.flag("watch"));
        assert_eq!(q.get("x"), Some(""));
        assert_eq!(Query::parse(Some("a=%2")).get("a"), Some("%2"));
    }
}
