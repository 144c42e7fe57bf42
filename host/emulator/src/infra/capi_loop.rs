//! The I/O shell around the three fake Cluster API controllers.
//!
//! One task watches MachineDeployments, MachineSets and Machines in every namespace, so the three
//! controllers share one consistent cache: a MachineSet never decides on a Machine list older
//! than the one its MachineDeployment saw. Nothing is reconciled until all three initial lists
//! have arrived (deciding on a partial list would create duplicate Machines). Each wake-up runs
//! bounded rounds of Machines, then MachineSets, then MachineDeployments; a write marks the
//! owner for the next round, and the plans are pure functions in `machines`, `machinesets` and
//! `machinedeployments`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use futures::{StreamExt, stream};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::watcher::Event;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::cache::{Cache, ObjectKey};
use super::capi::{CapiKind, controller_name, status};
use super::machinedeployments::{self, DeploymentAction, OwnedSet};
use super::machines::{self, FinalizerChange, MachineTrack, finalizers_after};
use super::machinesets::{self, SetAction};
use super::status::status_patch;
use super::timers::TimerQueue;
use super::wake;
use super::writes::{Backoff, Outcome, WriteError, earliest};
use super::{Context, FIELD_MANAGER};

/// Reconcile rounds per wake-up; work left after that is retried after the backoff.
const MAX_ROUNDS: usize = 6;

type Key = (CapiKind, ObjectKey);
type WatchItem = (CapiKind, Result<Event<DynamicObject>, watcher::Error>);

#[derive(Debug)]
struct CapiState {
    resources: [ApiResource; 3],
    deployments: Cache<DynamicObject>,
    sets: Cache<DynamicObject>,
    machines: Cache<DynamicObject>,
    tracks: HashMap<ObjectKey, MachineTrack>,
    name_seq: HashMap<ObjectKey, u64>,
    timers: TimerQueue<Key>,
    backoff: Backoff<Key>,
    dirty: BTreeSet<Key>,
}

fn index(kind: CapiKind) -> usize {
    match kind {
        CapiKind::MachineDeployment => 0,
        CapiKind::MachineSet => 1,
        CapiKind::Machine => 2,
    }
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

/// Runs the fake Cluster API controllers until the task is aborted.
pub(crate) async fn run(ctx: Arc<Context>) {
    let kinds = [
        CapiKind::MachineDeployment,
        CapiKind::MachineSet,
        CapiKind::Machine,
    ];
    let streams = kinds.map(|kind| {
        let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &kind.resource());
        watcher(api, watcher::Config::default())
            .default_backoff()
            .map(move |item| (kind, item))
            .boxed()
    });
    let mut events = stream::select_all(streams);
    let mut faults = ctx.faults.subscribe();
    let mut state = CapiState {
        resources: kinds.map(CapiKind::resource),
        deployments: Cache::default(),
        sets: Cache::default(),
        machines: Cache::default(),
        tracks: HashMap::new(),
        name_seq: HashMap::new(),
        timers: TimerQueue::default(),
        backoff: Backoff::new(ctx.timings.retry_backoff),
        dirty: BTreeSet::new(),
    };
    // Every item goes to `on_event` (which logs watch errors), so draining never stops early.
    let never = |_: &WatchItem| false;
    while let Some(wake) = wake::next(
        &mut faults,
        &mut events,
        state.timers.next_deadline(),
        never,
    )
    .await
    {
        if wake.faults_changed {
            let all: Vec<Key> = state
                .machines
                .keys()
                .map(|k| (CapiKind::Machine, k.clone()))
                .collect();
            state.dirty.extend(all);
        }
        for item in wake.items {
            state.on_event(item);
        }
        let due = state.timers.pop_due(Instant::now());
        state.dirty.extend(due);
        state.settle(&ctx).await;
    }
}

impl CapiState {
    fn cache(&mut self, kind: CapiKind) -> &mut Cache<DynamicObject> {
        match kind {
            CapiKind::MachineDeployment => &mut self.deployments,
            CapiKind::MachineSet => &mut self.sets,
            CapiKind::Machine => &mut self.machines,
        }
    }

    fn api(&self, ctx: &Context, kind: CapiKind, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(ctx.client.clone(), namespace, &self.resources[index(kind)])
    }

    fn on_event(&mut self, (kind, item): WatchItem) {
        match item {
            Ok(event) => {
                let touched = self.cache(kind).apply(event);
                for obj in &touched {
                    self.mark(kind, obj);
                }
            }
            Err(error) => {
                tracing::warn!(kind = kind.name(), %error, "fake Cluster API watch failed; retrying");
            }
        }
    }

    /// Marks `obj` and its controlling owner for reconciliation.
    fn mark(&mut self, kind: CapiKind, obj: &DynamicObject) {
        let key = ObjectKey::of(obj);
        let owner_kind = match kind {
            CapiKind::Machine => Some(CapiKind::MachineSet),
            CapiKind::MachineSet => Some(CapiKind::MachineDeployment),
            CapiKind::MachineDeployment => None,
        };
        if let Some(owner_kind) = owner_kind
            && let Some(owner) = controller_name(&obj.metadata, owner_kind)
        {
            self.dirty
                .insert((owner_kind, ObjectKey::new(&key.namespace, owner)));
        }
        self.dirty.insert((kind, key));
    }

    fn mark_owner_of(&mut self, kind: CapiKind, key: &ObjectKey) {
        let obj = match kind {
            CapiKind::Machine => self.machines.get(key),
            CapiKind::MachineSet => self.sets.get(key),
            CapiKind::MachineDeployment => None,
        };
        let owner_kind = match kind {
            CapiKind::Machine => CapiKind::MachineSet,
            _ => CapiKind::MachineDeployment,
        };
        if let Some(owner) = obj.and_then(|o| controller_name(&o.metadata, owner_kind)) {
            let owner = ObjectKey::new(&key.namespace, owner);
            self.dirty.insert((owner_kind, owner));
        }
    }

    async fn settle(&mut self, ctx: &Context) {
        if !(self.deployments.synced() && self.sets.synced() && self.machines.synced()) {
            return;
        }
        for _ in 0..MAX_ROUNDS {
            if self.dirty.is_empty() {
                return;
            }
            let dirty = std::mem::take(&mut self.dirty);
            for kind in [
                CapiKind::Machine,
                CapiKind::MachineSet,
                CapiKind::MachineDeployment,
            ] {
                for (_, key) in dirty.iter().filter(|(k, _)| *k == kind) {
                    match kind {
                        CapiKind::Machine => self.reconcile_machine(ctx, key).await,
                        CapiKind::MachineSet => self.reconcile_set(ctx, key).await,
                        CapiKind::MachineDeployment => self.reconcile_deployment(ctx, key).await,
                    }
                }
            }
        }
        let now = Instant::now();
        for key in std::mem::take(&mut self.dirty) {
            let at = self.backoff.failed(&key, now);
            self.timers.set(&key, Some(at));
        }
    }

    /// Re-reads an object after a conflict and marks it for the next round.
    /// Returns whether the re-read itself failed (the caller backs off).
    async fn reread(&mut self, ctx: &Context, kind: CapiKind, key: &ObjectKey) -> bool {
        match Outcome::of(self.api(ctx, kind, &key.namespace).get(&key.name).await) {
            Outcome::Done(fresh) => {
                self.cache(kind).upsert(fresh);
                self.dirty.insert((kind, key.clone()));
                false
            }
            Outcome::NotFound => {
                self.cache(kind).forget_deleted(key);
                false
            }
            Outcome::Conflict | Outcome::Failed(_) => true,
        }
    }

    /// Deals with an unsuccessful write of `kind`/`key`: a conflict re-reads, a missing object
    /// is forgotten, anything else is logged. Returns whether the caller must back off.
    async fn recover<T>(
        &mut self,
        ctx: &Context,
        outcome: Outcome<T>,
        verb: &'static str,
        kind: CapiKind,
        key: &ObjectKey,
    ) -> bool {
        match outcome {
            Outcome::Done(_) => false,
            Outcome::Conflict => self.reread(ctx, kind, key).await,
            Outcome::NotFound => {
                self.cache(kind).forget_deleted(key);
                false
            }
            Outcome::Failed(source) => {
                WriteError::Rejected {
                    verb,
                    kind: kind.name(),
                    key: key.clone(),
                    source,
                }
                .log();
                true
            }
        }
    }

    /// Schedules the retry of `tkey` after a failure, or clears its backoff after success.
    fn retry_after(&mut self, tkey: &Key, failed: bool, now: Instant) -> Option<Instant> {
        if failed {
            Some(self.backoff.failed(tkey, now))
        } else {
            self.backoff.succeeded(tkey);
            None
        }
    }

    /// Patches `.status`; returns (written, failed).
    async fn patch_status(
        &mut self,
        ctx: &Context,
        kind: CapiKind,
        key: &ObjectKey,
        body: &Value,
    ) -> (bool, bool) {
        let api = self.api(ctx, kind, &key.namespace);
        let result = api
            .patch_status(&key.name, &params(), &Patch::Merge(body))
            .await;
        match ctx.counters.count(Outcome::of(result)) {
            Outcome::Done(obj) => {
                self.cache(kind).upsert(obj);
                (true, false)
            }
            other => (
                false,
                self.recover(ctx, other, "patch status of", kind, key).await,
            ),
        }
    }

    async fn reconcile_machine(&mut self, ctx: &Context, key: &ObjectKey) {
        let now = Instant::now();
        let tkey = (CapiKind::Machine, key.clone());
        let Some(m) = self.machines.get(key) else {
            self.tracks.remove(key);
            self.timers.set(&tkey, None);
            self.backoff.succeeded(&tkey);
            ctx.faults.forget_machine(&key.namespace, &key.name);
            return;
        };
        let track = self
            .tracks
            .entry(key.clone())
            .or_insert_with(|| MachineTrack::first_seen(m, now, ctx.timings.machine_ready));
        track.observe(m, now);
        let broken = ctx.faults.machine_broken(&key.namespace, &key.name);
        let plan = machines::plan(m, track, broken, now, ctx.timings.machine_delete);
        let finalizer_body = plan.finalizer.as_ref().map(|change| {
            json!({"metadata": {
                "finalizers": finalizers_after(m, change),
                "resourceVersion": m.metadata.resource_version,
            }})
        });
        let mut wrote = false;
        let mut failed = false;
        if let Some(body) = finalizer_body {
            let api = self.api(ctx, CapiKind::Machine, &key.namespace);
            let result = api.patch(&key.name, &params(), &Patch::Merge(&body)).await;
            match ctx.counters.count(Outcome::of(result)) {
                Outcome::Done(obj) => {
                    self.machines.upsert(obj);
                    wrote = true;
                    if plan.finalizer == Some(FinalizerChange::Remove) {
                        // The server deletes the Machine now; its watch event removes it.
                        self.mark_owner_of(CapiKind::Machine, key);
                        self.timers.set(&tkey, None);
                        self.backoff.succeeded(&tkey);
                        return;
                    }
                }
                other => {
                    failed |= self
                        .recover(ctx, other, "patch finalizers of", CapiKind::Machine, key)
                        .await;
                }
            }
        }
        let body = self
            .machines
            .get(key)
            .and_then(|m| status_patch(status(m), &plan.status, &ctx.clock.rfc3339_at(now)));
        if let Some(body) = body {
            let (ok, f) = self.patch_status(ctx, CapiKind::Machine, key, &body).await;
            wrote |= ok;
            failed |= f;
        }
        if wrote {
            self.mark_owner_of(CapiKind::Machine, key);
        }
        let retry = self.retry_after(&tkey, failed, now);
        self.timers.set(&tkey, earliest(plan.next_wake, retry));
    }

    async fn reconcile_set(&mut self, ctx: &Context, key: &ObjectKey) {
        let now = Instant::now();
        let tkey = (CapiKind::MachineSet, key.clone());
        let (plan, current_status) = {
            let Some(ms) = self.sets.get(key) else {
                self.name_seq.remove(key);
                self.timers.set(&tkey, None);
                self.backoff.succeeded(&tkey);
                return;
            };
            let children =
                self.machines
                    .children(&key.namespace, CapiKind::MachineSet.name(), &key.name);
            let seq = self.name_seq.entry(key.clone()).or_insert(0);
            (machinesets::plan(ms, &children, seq), status(ms).clone())
        };
        let mut failed = false;
        let machines_api = self.api(ctx, CapiKind::Machine, &key.namespace);
        for action in plan.actions {
            match action {
                SetAction::Create(machine) => {
                    let mkey = ObjectKey::of(machine.as_ref());
                    let pp = PostParams {
                        field_manager: Some(FIELD_MANAGER.to_owned()),
                        ..PostParams::default()
                    };
                    let result = machines_api.create(&pp, &machine).await;
                    match ctx.counters.count(Outcome::of(result)) {
                        Outcome::Done(created) => {
                            self.machines.upsert(created);
                            self.dirty.insert((CapiKind::Machine, mkey));
                        }
                        Outcome::Conflict => {
                            // The generated name is taken (the fake restarted): try the next one.
                            self.dirty.insert(tkey.clone());
                        }
                        other => {
                            failed |= self
                                .recover(ctx, other, "create", CapiKind::Machine, &mkey)
                                .await;
                        }
                    }
                }
                SetAction::Delete(name) => {
                    let mkey = ObjectKey::new(&key.namespace, &name);
                    let result = machines_api
                        .delete(&name, &DeleteParams::default())
                        .await
                        .map(|either| either.left());
                    match ctx.counters.count(Outcome::of(result)) {
                        // With finalizers the server answers with the object, now deleting.
                        Outcome::Done(Some(deleting))
                            if deleting.metadata.deletion_timestamp.is_some() =>
                        {
                            self.machines.upsert(deleting);
                            self.dirty.insert((CapiKind::Machine, mkey));
                        }
                        // Gone at once: the answer is a Status or the object as it was.
                        Outcome::Done(_) | Outcome::NotFound => {
                            self.machines.forget_deleted(&mkey);
                        }
                        other => {
                            failed |= self
                                .recover(ctx, other, "delete", CapiKind::Machine, &mkey)
                                .await;
                        }
                    }
                }
            }
        }
        if let Some(body) = status_patch(&current_status, &plan.status, &ctx.clock.rfc3339_at(now))
        {
            failed |= self
                .patch_status(ctx, CapiKind::MachineSet, key, &body)
                .await
                .1;
        }
        self.mark_owner_of(CapiKind::MachineSet, key);
        let retry = self.retry_after(&tkey, failed, now);
        self.timers.set(&tkey, retry);
    }

    async fn reconcile_deployment(&mut self, ctx: &Context, key: &ObjectKey) {
        let now = Instant::now();
        let tkey = (CapiKind::MachineDeployment, key.clone());
        let (plan, current_status) = {
            let Some(md) = self.deployments.get(key) else {
                self.timers.set(&tkey, None);
                self.backoff.succeeded(&tkey);
                return;
            };
            let mut sets = self.sets.children(
                &key.namespace,
                CapiKind::MachineDeployment.name(),
                &key.name,
            );
            sets.sort_by(|a, b| {
                let ka = (
                    a.metadata.creation_timestamp.as_ref().map(|t| t.0),
                    &a.metadata.name,
                );
                let kb = (
                    b.metadata.creation_timestamp.as_ref().map(|t| t.0),
                    &b.metadata.name,
                );
                ka.cmp(&kb)
            });
            let owned: Vec<OwnedSet<'_>> = sets
                .into_iter()
                .map(|set| OwnedSet {
                    set,
                    machines: self.machines.children(
                        &key.namespace,
                        CapiKind::MachineSet.name(),
                        set.metadata.name.as_deref().unwrap_or_default(),
                    ),
                })
                .collect();
            (machinedeployments::plan(md, &owned), status(md).clone())
        };
        let mut failed = false;
        let sets_api = self.api(ctx, CapiKind::MachineSet, &key.namespace);
        for action in plan.actions {
            match action {
                DeploymentAction::CreateSet(set) => {
                    let skey = ObjectKey::of(set.as_ref());
                    let pp = PostParams {
                        field_manager: Some(FIELD_MANAGER.to_owned()),
                        ..PostParams::default()
                    };
                    let result = sets_api.create(&pp, &set).await;
                    match ctx.counters.count(Outcome::of(result)) {
                        Outcome::Done(created) => {
                            self.sets.upsert(created);
                            self.dirty.insert((CapiKind::MachineSet, skey));
                        }
                        other => {
                            // A conflict means it exists already: it is read, and we decide again.
                            failed |= self
                                .recover(ctx, other, "create", CapiKind::MachineSet, &skey)
                                .await;
                            self.dirty.insert(tkey.clone());
                        }
                    }
                }
                DeploymentAction::ScaleSet { name, replicas } => {
                    let skey = ObjectKey::new(&key.namespace, &name);
                    let body = json!({"spec": {"replicas": replicas}});
                    let result = sets_api.patch(&name, &params(), &Patch::Merge(&body)).await;
                    match ctx.counters.count(Outcome::of(result)) {
                        Outcome::Done(scaled) => {
                            self.sets.upsert(scaled);
                            self.dirty.insert((CapiKind::MachineSet, skey));
                        }
                        other => {
                            failed |= self
                                .recover(ctx, other, "scale", CapiKind::MachineSet, &skey)
                                .await;
                        }
                    }
                }
            }
        }
        if let Some(body) = status_patch(&current_status, &plan.status, &ctx.clock.rfc3339_at(now))
        {
            failed |= self
                .patch_status(ctx, CapiKind::MachineDeployment, key, &body)
                .await
                .1;
        }
        let retry = self.retry_after(&tkey, failed, now);
        self.timers.set(&tkey, retry);
    }
}
