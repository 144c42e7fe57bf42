//! The fake kubelet loop for Deployments and StatefulSets in every namespace.
//!
//! One task per kind watches its objects, keeps a [`Rollout`] model per object, and writes the
//! status that model implies through the `/status` subresource whenever it differs from what the
//! object shows. Deadlines ("ready 30 s after the template changed") live in a
//! [`TimerQueue`]; the task sleeps on the tokio clock until the next one, a watch event, or a
//! change in the fault registry, whichever comes first.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::Instant;

use super::cache::{Cache, ObjectKey};
use super::hash::template_hash;
use super::rollout::{Change, Counts, Rollout};
use super::status::{DesiredStatus, status_patch};
use super::timers::TimerQueue;
use super::wake;
use super::writes::{Backoff, Outcome, WriteError, earliest};
use super::{Context, FIELD_MANAGER, MAX_REREADS};

/// What a status computation needs to know about one workload at one instant.
#[derive(Clone, Debug)]
pub(crate) struct WorkloadView<'a> {
    pub(crate) name: &'a str,
    pub(crate) generation: Option<i64>,
    /// Counts with faults already applied.
    pub(crate) counts: Counts,
    pub(crate) broken: bool,
    /// Whether the pods have caught up with the latest template and replica count.
    pub(crate) done: bool,
    /// Template hash the pods are moving to.
    pub(crate) update_revision: &'a str,
    /// Template hash that is fully rolled out.
    pub(crate) current_revision: &'a str,
}

/// A workload kind the fake kubelet serves.
pub(crate) trait Workload:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    const KIND: &'static str;
    /// `spec.replicas` with the API default applied.
    fn replicas(&self) -> u32;
    /// `spec.template` as JSON (what a template change is detected on).
    fn template(&self) -> Value;
    /// `.status` as JSON, `Null` when absent.
    fn status_value(&self) -> Value;
    /// Whether the status already shows the current spec fully rolled out.
    fn settled(&self) -> bool;
    /// The status the real controller would write for `view`.
    fn desired_status(view: &WorkloadView<'_>) -> DesiredStatus;
}

/// Everything one workload task remembers.
#[derive(Debug)]
struct WorkloadState<W> {
    cache: Cache<W>,
    rollouts: HashMap<ObjectKey, Rollout>,
    timers: TimerQueue<ObjectKey>,
    backoff: Backoff<ObjectKey>,
}

/// Runs the fake kubelet for kind `W` until the task is aborted.
pub(crate) async fn run<W: Workload>(ctx: Arc<Context>) {
    let api: Api<W> = Api::all(ctx.client.clone());
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut faults = ctx.faults.subscribe();
    let mut state = WorkloadState::<W> {
        cache: Cache::default(),
        rollouts: HashMap::new(),
        timers: TimerQueue::default(),
        backoff: Backoff::new(ctx.timings.retry_backoff),
    };
    // A watch error ends the drain; what follows waits for the next wake-up.
    let is_err = |event: &Result<_, _>| event.is_err();
    while let Some(wake) = wake::next(
        &mut faults,
        &mut events,
        state.timers.next_deadline(),
        is_err,
    )
    .await
    {
        let mut dirty = BTreeSet::new();
        if wake.faults_changed {
            dirty.extend(state.cache.keys().cloned());
        }
        for event in wake.items {
            match event {
                Ok(event) => dirty.extend(state.cache.apply(event).iter().map(ObjectKey::of)),
                Err(error) => {
                    tracing::warn!(kind = W::KIND, %error, "fake infrastructure watch failed; retrying");
                }
            }
        }
        dirty.extend(state.timers.pop_due(Instant::now()));
        for key in dirty {
            state.reconcile(&ctx, &key).await;
        }
    }
}

impl<W: Workload> WorkloadState<W> {
    async fn reconcile(&mut self, ctx: &Context, key: &ObjectKey) {
        let now = Instant::now();
        let delay = ctx.timings.workload_ready;
        let api: Api<W> = Api::namespaced(ctx.client.clone(), &key.namespace);
        let mut retry_at = None;
        for _ in 0..MAX_REREADS {
            let Some(obj) = self.cache.get(key) else {
                self.rollouts.remove(key);
                self.timers.set(key, None);
                self.backoff.succeeded(key);
                return;
            };
            let hash = template_hash(&obj.template());
            let replicas = obj.replicas();
            let rollout = match self.rollouts.entry(key.clone()) {
                Entry::Occupied(e) => {
                    let rollout = e.into_mut();
                    let change = rollout.observe(&hash, replicas, now, delay);
                    if change == Change::Template
                        && ctx.timings.restart_heals
                        && ctx.faults.workload_broken(&key.namespace, &key.name)
                    {
                        tracing::info!(kind = W::KIND, %key, "pod template changed: healing the broken workload");
                        ctx.faults.heal_workload(&key.namespace, &key.name);
                    }
                    rollout
                }
                Entry::Vacant(e) => {
                    e.insert(Rollout::first_seen(hash, replicas, now, obj.settled()))
                }
            };
            let broken = ctx.faults.workload_broken(&key.namespace, &key.name);
            let healthy = rollout.counts(now, delay);
            let (update_revision, current_revision) = rollout.revisions(now, delay);
            let view = WorkloadView {
                name: &key.name,
                generation: obj.meta().generation,
                counts: if broken { healthy.broken() } else { healthy },
                broken,
                done: rollout.done(now, delay),
                update_revision,
                current_revision,
            };
            let desired = W::desired_status(&view);
            let next_change = rollout.next_change(now, delay);
            self.timers.set(key, next_change);
            let Some(body) =
                status_patch(&obj.status_value(), &desired, &ctx.clock.rfc3339_at(now))
            else {
                self.backoff.succeeded(key);
                return;
            };
            let params = PatchParams {
                field_manager: Some(FIELD_MANAGER.to_owned()),
                ..PatchParams::default()
            };
            let result = api
                .patch_status(&key.name, &params, &Patch::Merge(&body))
                .await;
            match ctx.counters.count(Outcome::of(result)) {
                Outcome::Done(written) => {
                    self.cache.upsert(written);
                    self.backoff.succeeded(key);
                    return;
                }
                Outcome::Conflict => match Outcome::of(api.get(&key.name).await) {
                    Outcome::Done(fresh) => {
                        self.cache.upsert(fresh);
                    }
                    Outcome::NotFound => {
                        self.cache.forget_deleted(key);
                    }
                    Outcome::Conflict | Outcome::Failed(_) => {
                        retry_at = Some(self.backoff.failed(key, now));
                        break;
                    }
                },
                Outcome::NotFound => {
                    self.cache.forget_deleted(key);
                }
                Outcome::Failed(source) => {
                    WriteError::Rejected {
                        verb: "patch status of",
                        kind: W::KIND,
                        key: key.clone(),
                        source,
                    }
                    .log();
                    retry_at = Some(self.backoff.failed(key, now));
                    break;
                }
            }
        }
        if retry_at.is_none() && self.cache.get(key).is_some() {
            // Still conflicting after every re-read: try again later.
            retry_at = Some(self.backoff.failed(key, now));
        }
        let next = self
            .rollouts
            .get(key)
            .and_then(|r| r.next_change(now, delay));
        self.timers.set(key, earliest(next, retry_at));
    }
}
