//! Reconcile errors: what went wrong talking to the API server or with a resource, with a metric
//! label each.

/// Why a reconcile failed. Policy failures are *not* errors: they are handled per failure mode
/// and reported in status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API request failed (transient: conflict, 5xx, timeout, dropped connection).
    #[error("kubernetes API call failed while {action}: {}", short(source))]
    Kube {
        /// What the controller was doing.
        action: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// A resource's content cannot be used as written (bad version string, …).
    #[error("invalid {what}: {message}")]
    Invalid {
        /// Which resource/field.
        what: String,
        /// Why.
        message: String,
    },
    /// Serialising an object failed (a bug, not an input problem).
    #[error("serialising {what}: {source}")]
    Serialize {
        /// What.
        what: String,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
}

/// A kube error in one line: for an API refusal its code, reason and message (kube's own
/// `Display` appends the whole `Status` in `Debug` form, a kilobyte per log line).
pub fn short(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, s.message),
        other => other.to_string(),
    }
}

impl Error {
    /// Whether this is a 409 Conflict: the object changed since it was read (optimistic
    /// concurrency). Expected under concurrent writers and retried at once; not a warning.
    pub fn is_conflict(&self) -> bool {
        self.metric_label() == "conflict"
    }

    /// Label for the `reconcile_errors_total` metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube {
                source: kube::Error::Api(s),
                ..
            } if s.code == 409 => "conflict",
            Error::Kube {
                source: kube::Error::Api(s),
                ..
            } if s.code >= 500 => "server_error",
            Error::Kube { .. } => "api",
            Error::Invalid { .. } => "invalid",
            Error::Serialize { .. } => "serialize",
        }
    }
}

/// Wraps a kube error with the action that failed.
pub(crate) fn kube_err(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let action = action.into();
    move |source| Error::Kube { action, source }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str, message: &str) -> kube::Error {
        let mut status = kube::core::Status::failure(message, reason);
        status.code = code;
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn an_api_error_is_one_short_line() {
        let e = kube_err("writing status")(api(
            409,
            "Conflict",
            "Operation cannot be fulfilled on managedclusters.fleetward.dev \"a1\": the object has been modified",
        ));
        assert!(e.is_conflict());
        assert_eq!(e.metric_label(), "conflict");
        let text = e.to_string();
        assert_eq!(
            text,
            "kubernetes API call failed while writing status: 409 Conflict: Operation cannot be \
             fulfilled on managedclusters.fleetward.dev \"a1\": the object has been modified"
        );
        assert!(!text.contains("Status {"), "{text}");
        let e = kube_err("listing")(api(503, "ServiceUnavailable", "etcd down"));
        assert!(!e.is_conflict());
        assert_eq!(e.metric_label(), "server_error");
    }
}
