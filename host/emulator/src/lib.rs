//! In-process Kubernetes API emulator and fake infrastructure for tests and simulation.
//!
//! Fleetward's controller talks to Kubernetes only through a real `kube::Client`. The
//! [`Emulator`] speaks the real REST protocol (paths, query parameters, content types, watch
//! framing, `Status` errors), so an unmodified `kube::Client` — built in-process on a
//! `tower::Service`, no sockets, fine under a paused tokio clock — or `kubectl` against
//! [`Emulator::serve`] cannot tell it from a kube-apiserver for the operations Fleetward uses.
//! `docs/emulator.md` lists every knowing simplification.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use fleetward_emulator::Emulator;
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use kube::api::{Api, PostParams};
//!
//! let emulator = Emulator::new();
//! let client = emulator.client();
//! let cms: Api<ConfigMap> = Api::namespaced(client, "default");
//! let mut cm = ConfigMap::default();
//! cm.metadata.name = Some("x".into());
//! cms.create(&PostParams::default(), &cm).await?;
//! assert_eq!(emulator.object_count(), 5); // 4 initial namespaces + the ConfigMap
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod api;
mod audit;
mod builtin;
mod clock;
mod discovery;
mod events;
mod faults;
mod kubeconfig;
mod protobuf;
mod registry;
mod requests;
mod selectors;
mod server;
mod status;
mod store;
mod watch;

pub mod infra;
pub mod patch;
pub mod schema;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

pub use crate::audit::{Verb, WriteEvent};
pub use crate::faults::{Fault, FaultRule, Faults, Outage};
pub use crate::requests::RequestCounts;
pub use crate::server::{EmulatorError, ServerHandle};

use crate::api::Shared;
use crate::api::service::EmulatorService;
use crate::registry::Registry;
use crate::store::{Store, StoreLimits};

/// An in-memory Kubernetes API server. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct Emulator {
    shared: Arc<Shared>,
}

/// Configures an [`Emulator`].
#[derive(Debug, Clone)]
pub struct EmulatorBuilder {
    start_time: jiff::Timestamp,
    watch_history: usize,
    watch_buffer: usize,
    seed: u64,
    bookmark_interval: Duration,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        EmulatorBuilder {
            start_time: clock::default_start(),
            watch_history: 10_000,
            watch_buffer: 1_024,
            seed: 0x5EED,
            bookmark_interval: Duration::from_secs(60),
        }
    }
}

impl EmulatorBuilder {
    /// Wall-clock time at creation. Default: 2026-01-05T00:00:00Z, so that tests and
    /// `fleetward simulate` (which sets the scenario's start) are deterministic.
    pub fn start_time(mut self, t: jiff::Timestamp) -> Self {
        self.start_time = t;
        self
    }

    /// Starts the emulated clock at the system's current time: on an unpaused tokio runtime it
    /// then reads the real wall-clock time, so `creationTimestamp`s and `kubectl get` ages look
    /// like a cluster's. For servers people use (`fleetward emulator`); tests and simulations
    /// keep the deterministic [`start_time`](Self::start_time).
    pub fn wall_clock(mut self) -> Self {
        self.start_time = clock::system_now();
        self
    }

    /// Changes retained per resource for watch resumption and paged lists; older
    /// resourceVersions get 410 Gone. Default: 10,000.
    pub fn watch_history(mut self, n: usize) -> Self {
        self.watch_history = n.max(1);
        self
    }

    /// Events buffered per watcher before a too-slow watcher is cut off with 410. Default: 1,024.
    pub fn watch_buffer(mut self, n: usize) -> Self {
        self.watch_buffer = n.max(1);
        self
    }

    /// Seed for uids, generated names and fault ratios. Default: 0x5EED.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Period of watch BOOKMARK events (when requested). Default: 60 s.
    pub fn bookmark_interval(mut self, d: Duration) -> Self {
        self.bookmark_interval = d;
        self
    }

    /// Builds the emulator with the built-in kinds and the initial namespaces.
    pub fn build(self) -> Emulator {
        let mut registry = Registry::default();
        for rt in builtin::builtins() {
            registry.insert(rt);
        }
        let limits = StoreLimits {
            history: self.watch_history,
            watch_buffer: self.watch_buffer,
        };
        let store = Arc::new(Mutex::new(Store::new(limits, self.seed, registry)));
        let clock = clock::Clock::new(self.start_time);
        {
            let mut st = store.lock().unwrap_or_else(|e| e.into_inner());
            let ns_key = (String::new(), "namespaces".to_string());
            for ns in builtin::INITIAL_NAMESPACES {
                let uid = st.rng.uuid();
                st.put(
                    &ns_key,
                    json!({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": ns, "uid": uid, "creationTimestamp": clock.now_rfc3339(),
                                     "labels": {"kubernetes.io/metadata.name": ns}},
                        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
                );
            }
        }
        let shared = Shared {
            clock,
            faults: Faults::new(self.seed, store.clone()),
            store,
            audit: audit::Audit::new(65_536),
            requests: requests::Requests::default(),
            bookmark_interval: self.bookmark_interval,
        };
        Emulator {
            shared: Arc::new(shared),
        }
    }
}

impl Default for Emulator {
    fn default() -> Self {
        Emulator::new()
    }
}

impl Emulator {
    /// An emulator with default settings (see [`EmulatorBuilder`]).
    pub fn new() -> Emulator {
        EmulatorBuilder::default().build()
    }

    /// A builder.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// A `kube::Client` served in-process (no sockets). Must be called inside a tokio runtime.
    pub fn client(&self) -> kube::Client {
        kube::Client::new(
            EmulatorService {
                shared: self.shared.clone(),
                user_agent: None,
            },
            "default",
        )
    }

    /// Like [`Emulator::client`], with a `User-Agent` that attributes its writes in the audit
    /// log and names its default field manager (the part before the first `/`).
    pub fn client_with_user_agent(&self, ua: &str) -> kube::Client {
        kube::Client::new(
            EmulatorService {
                shared: self.shared.clone(),
                user_agent: Some(ua.to_string()),
            },
            "default",
        )
    }

    /// Serves the API over HTTP/1.1 on a loopback address (`127.0.0.1:0` picks a port).
    ///
    /// # Errors
    /// [`EmulatorError::NotLoopback`] for other addresses, [`EmulatorError::Bind`] if binding fails.
    pub async fn serve(&self, addr: SocketAddr) -> Result<ServerHandle, EmulatorError> {
        server::start(self.shared.clone(), addr).await
    }

    /// The emulated wall-clock time: start time plus tokio time elapsed since creation.
    pub fn now(&self) -> jiff::Timestamp {
        self.shared.clock.now()
    }

    /// Request fault injection.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Number of stored objects (all kinds, including namespaces).
    pub fn object_count(&self) -> usize {
        self.shared.lock().object_count()
    }

    /// Successful mutating requests so far (dry runs excluded; no-op updates included).
    pub fn write_count(&self) -> u64 {
        self.shared.audit.write_count()
    }

    /// Requests answered so far: every verb (watch starts, not watch events), discovery and
    /// health checks, over HTTP and in-process. A few relaxed atomic loads.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.total()
    }

    /// [`Emulator::request_count`] broken down by verb and resource; subtract two snapshots
    /// with [`RequestCounts::since`] to measure a window.
    pub fn request_counts(&self) -> RequestCounts {
        self.shared.requests.snapshot()
    }

    /// Every committed object change from now on (bounded broadcast: a receiver that lags
    /// more than 65,536 events sees `RecvError::Lagged`).
    pub fn subscribe_writes(&self) -> tokio::sync::broadcast::Receiver<WriteEvent> {
        self.shared.audit.subscribe()
    }

    /// The latest committed resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.lock().current_rv()
    }
}
