//! The API server's audit log, read back: who did what to which resource, and the answer.
//!
//! Tests use it to prove least privilege: every request the controller made, grouped into
//! (API group, resource, verb), is compared with the RBAC rules it runs under.

use std::path::Path;

use serde::Deserialize;

use crate::Error;

/// One audit event at `Metadata` level (the fields tests need).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// `ResponseComplete`, `ResponseStarted` (watches), `Panic`.
    pub stage: String,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, …
    pub verb: String,
    /// The request path with query.
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    /// Who made it.
    pub user: AuditUser,
    /// What it was about (absent for non-resource URLs such as `/readyz`).
    #[serde(default)]
    pub object_ref: Option<AuditObjectRef>,
    /// The HTTP answer.
    #[serde(default)]
    pub response_status: Option<AuditStatus>,
    /// `User-Agent`.
    #[serde(default)]
    pub user_agent: Option<String>,
}

/// The authenticated user of an [`AuditEvent`].
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct AuditUser {
    /// User name.
    pub username: String,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The object an [`AuditEvent`] concerned.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AuditObjectRef {
    /// Plural resource name.
    #[serde(default)]
    pub resource: String,
    /// `status`, `scale`, …
    #[serde(default)]
    pub subresource: Option<String>,
    /// API group; empty for the core group.
    #[serde(default)]
    pub api_group: Option<String>,
    /// Namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
}

/// The response code of an [`AuditEvent`].
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct AuditStatus {
    /// HTTP status code.
    #[serde(default)]
    pub code: Option<u16>,
}

impl AuditEvent {
    /// `group/resource[/subresource]`, the way RBAC rules name it (core group: empty).
    pub fn rbac_resource(&self) -> Option<(String, String)> {
        let r = self.object_ref.as_ref()?;
        let resource = match &r.subresource {
            Some(sub) if !sub.is_empty() => format!("{}/{sub}", r.resource),
            _ => r.resource.clone(),
        };
        Some((r.api_group.clone().unwrap_or_default(), resource))
    }

    /// The HTTP status code, if the request completed.
    pub fn code(&self) -> Option<u16> {
        self.response_status.as_ref().and_then(|s| s.code)
    }
}

/// Reads every event in a JSON-lines audit log.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Audit`] for a line that is not an event.
pub fn read_log(path: &Path) -> Result<Vec<AuditEvent>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| Error::Audit {
                message: format!("{e} in {l:.200}"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_metadata_event_and_names_its_rbac_resource() {
        let line = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"x","stage":"ResponseComplete","requestURI":"/apis/fleetward.dev/v1alpha1/namespaces/a/managedclusters/c/status","verb":"patch","user":{"username":"system:serviceaccount:fleetward-system:fleetward","groups":["system:serviceaccounts"]},"objectRef":{"resource":"managedclusters","namespace":"a","name":"c","apiGroup":"fleetward.dev","apiVersion":"v1alpha1","subresource":"status"},"responseStatus":{"metadata":{},"code":200}}"#;
        let ev: AuditEvent = serde_json::from_str(line).unwrap();
        assert_eq!(
            ev.rbac_resource(),
            Some(("fleetward.dev".into(), "managedclusters/status".into()))
        );
        assert_eq!(ev.code(), Some(200));
    }
}
