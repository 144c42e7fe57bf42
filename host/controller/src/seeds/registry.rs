//! Every seed connection the controller holds, and the one question the reconcilers ask of it:
//! may I work on this seed now ([`SeedRegistry::access`])?
//!
//! The Seed reconciler is the only writer: it builds a remote seed's connection from its
//! Secret, replaces it when the Secret changes, records probe results and problems, and drops
//! connections of deleted seeds. Cluster reconciles, placement and the upgrade planner only
//! read.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use kube::Client;
use kube::runtime::reflector::ObjectRef;

use super::conn::{
    ClusterTrigger, ConnSettings, ConnWiring, NamespaceIndex, Reach, SeedConn, SeedTrigger,
};
use super::connect::SeedConnector;
use crate::core::seeds::SeedProblem;
use crate::crd::Seed;
use crate::metrics::Metrics;

/// May a reconcile work on a seed now?
#[derive(Clone, Debug)]
pub enum Access {
    /// Yes, through this connection.
    Ready(Arc<SeedConn>),
    /// Not yet: connecting, or its caches are still listing. Its clusters are triggered when
    /// that ends.
    Pending,
    /// No: the problem says why. Its clusters are triggered when it clears.
    Unavailable(SeedProblem),
}

/// The controller's seed connections.
pub struct SeedRegistry {
    /// Builds remote clients from kubeconfigs.
    pub connector: Arc<dyn SeedConnector>,
    local: Arc<SeedConn>,
    remote: RwLock<BTreeMap<String, Arc<SeedConn>>>,
    problems: RwLock<BTreeMap<String, SeedProblem>>,
    settings: ConnSettings,
    clusters: ClusterTrigger,
    seeds: SeedTrigger,
    index: NamespaceIndex,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for SeedRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedRegistry")
            .field("remote", &self.remote.read().map(|r| r.len()).unwrap_or(0))
            .finish_non_exhaustive()
    }
}

impl SeedRegistry {
    /// A registry whose management-cluster connection runs on `management`.
    pub fn new(
        connector: Arc<dyn SeedConnector>,
        management: Client,
        settings: ConnSettings,
        clusters: ClusterTrigger,
        seeds: SeedTrigger,
        index: NamespaceIndex,
        metrics: Arc<Metrics>,
    ) -> SeedRegistry {
        let local = SeedConn::start(
            String::new(),
            management,
            String::new(),
            String::new(),
            settings.clone(),
            ConnWiring {
                clusters: clusters.clone(),
                index: index.clone(),
                suspect: None,
                metrics: metrics.clone(),
            },
        );
        local.set_reach(Reach::Reachable);
        SeedRegistry {
            connector,
            local: Arc::new(local),
            remote: Default::default(),
            problems: Default::default(),
            settings,
            clusters,
            seeds,
            index,
            metrics,
        }
    }

    /// The management cluster's connection (seeds without a location).
    pub fn local(&self) -> Arc<SeedConn> {
        self.local.clone()
    }

    /// A remote seed's current connection.
    pub fn remote(&self, seed: &str) -> Option<Arc<SeedConn>> {
        self.remote.read().ok()?.get(seed).cloned()
    }

    /// Whether work on `seed` may proceed. `None` (the Seed object is gone) and seeds without a
    /// location use the management cluster.
    pub fn access(&self, seed: Option<&Seed>) -> Access {
        let Some(seed) = seed.filter(|s| s.spec.location.kubeconfig_secret.is_some()) else {
            return if self.local.synced() {
                Access::Ready(self.local.clone())
            } else {
                Access::Pending
            };
        };
        let name = seed.metadata.name.clone().unwrap_or_default();
        if let Some(p) = self.problem(&name) {
            return Access::Unavailable(p);
        }
        match self.remote(&name) {
            None => Access::Pending,
            Some(conn) => match conn.reach() {
                Reach::Failing(p) => Access::Unavailable(p),
                Reach::Unknown => Access::Pending,
                Reach::Reachable if conn.synced() => Access::Ready(conn),
                Reach::Reachable => Access::Pending,
            },
        }
    }

    /// Whether placement may pick `seed` now.
    pub fn placeable(&self, seed: &Seed) -> bool {
        matches!(self.access(Some(seed)), Access::Ready(_))
    }

    /// The problem that keeps a remote seed from being connected, if any.
    pub fn problem(&self, seed: &str) -> Option<SeedProblem> {
        self.problems.read().ok()?.get(seed).cloned()
    }

    /// Records (or clears) why a remote seed cannot be connected; true when it changed.
    pub fn set_problem(&self, seed: &str, problem: Option<SeedProblem>) -> bool {
        let Ok(mut p) = self.problems.write() else {
            return false;
        };
        match problem {
            Some(pr) => p.insert(seed.to_string(), pr.clone()).as_ref() != Some(&pr),
            None => p.remove(seed).is_some(),
        }
    }

    /// Starts a connection for a remote seed from a client, replacing (and stopping) the old one.
    pub fn install(
        &self,
        seed: &str,
        client: Client,
        server: String,
        secret_version: String,
    ) -> Arc<SeedConn> {
        let conn = Arc::new(SeedConn::start(
            seed.to_string(),
            client,
            server,
            secret_version,
            self.settings.clone(),
            ConnWiring {
                clusters: self.clusters.clone(),
                index: self.index.clone(),
                suspect: Some((self.seeds.clone(), ObjectRef::new(seed))),
                metrics: self.metrics.clone(),
            },
        ));
        if let Ok(mut r) = self.remote.write() {
            r.insert(seed.to_string(), conn.clone());
        }
        conn
    }

    /// Requeues these clusters (their seed's access changed).
    pub fn trigger_clusters(&self, clusters: Vec<ObjectRef<crate::crd::ManagedCluster>>) {
        for c in clusters {
            let _ = self.clusters.send(c);
        }
    }

    /// Drops a remote seed's connection (its watches stop).
    pub fn remove(&self, seed: &str) {
        if let Ok(mut r) = self.remote.write() {
            r.remove(seed);
        }
    }

    /// Drops connections and problems of seeds not in `existing`.
    pub fn retain(&self, existing: &std::collections::BTreeSet<String>) {
        if let Ok(mut r) = self.remote.write() {
            r.retain(|k, _| existing.contains(k));
        }
        if let Ok(mut p) = self.problems.write() {
            p.retain(|k, _| existing.contains(k));
        }
    }
}
