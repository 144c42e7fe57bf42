//! Reconcile errors: what went wrong talking to the API server or with a resource, with a metric
//! label each.

/// Why a reconcile failed. Policy failures are *not* errors: they are handled per failure mode
/// and reported in status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API request failed (transient: conflict, 5xx, timeout, dropped connection).
    #[error("kubernetes API call failed while {action}: {source}")]
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

impl Error {
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
