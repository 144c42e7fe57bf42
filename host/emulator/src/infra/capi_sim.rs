//! A pure, in-memory run of the three Cluster API plans together, without an API server.
//!
//! It applies every write one at a time, as the API server would commit them, and checks the
//! rollout invariants after each one, so the roll algorithm is verified independently of the
//! watch/cache shell in `capi_loop`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::DynamicObject;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::capi::{CapiKind, controller_name, machine_available, status};
use super::machinedeployments::{self, DeploymentAction, OwnedSet};
use super::machines::{self, FinalizerChange, MachineTrack, finalizers_after};
use super::machinesets::{self, SetAction};
use super::status::status_patch;

const READY: Duration = Duration::from_secs(120);
const DRAIN: Duration = Duration::from_secs(10);

#[derive(Default)]
struct World {
    md: Option<DynamicObject>,
    sets: BTreeMap<String, DynamicObject>,
    machines: BTreeMap<String, DynamicObject>,
    tracks: HashMap<String, MachineTrack>,
    seq: HashMap<String, u64>,
    uid: u64,
    created: u32,
    max_total: usize,
    min_available: usize,
}

impl World {
    fn next_uid(&mut self) -> String {
        self.uid += 1;
        format!("uid-{}", self.uid)
    }

    /// Called after every committed write.
    fn check(&mut self) {
        let total = self.machines.len();
        let available = self
            .machines
            .values()
            .filter(|m| machine_available(m))
            .count();
        self.max_total = self.max_total.max(total);
        self.min_available = self.min_available.min(available);
    }

    fn apply_status(obj: &mut DynamicObject, patch: &Value) {
        let status = obj.data["status"].as_object().cloned().unwrap_or_default();
        let mut merged = status;
        if let Some(p) = patch["status"].as_object() {
            for (k, v) in p {
                if v.is_null() {
                    merged.remove(k);
                } else {
                    merged.insert(k.clone(), v.clone());
                }
            }
        }
        obj.data["status"] = Value::Object(merged);
    }

    fn step_machines(&mut self, now: Instant) {
        let names: Vec<String> = self.machines.keys().cloned().collect();
        for name in names {
            let Some(m) = self.machines.get(&name).cloned() else {
                continue;
            };
            let track = self
                .tracks
                .entry(name.clone())
                .or_insert_with(|| MachineTrack::first_seen(&m, now, READY));
            track.observe(&m, now);
            let plan = machines::plan(&m, track, false, now, DRAIN);
            if let Some(change) = &plan.finalizer {
                let list = finalizers_after(&m, change);
                if *change == FinalizerChange::Remove && m.metadata.deletion_timestamp.is_some() {
                    self.machines.remove(&name);
                    self.check();
                    continue;
                }
                if let Some(m) = self.machines.get_mut(&name) {
                    m.metadata.finalizers = Some(list);
                }
                self.check();
            }
            if let Some(m) = self.machines.get_mut(&name)
                && let Some(p) = status_patch(status(m), &plan.status, "t")
            {
                Self::apply_status(m, &p);
                self.check();
            }
        }
    }

    fn step_sets(&mut self) {
        let names: Vec<String> = self.sets.keys().cloned().collect();
        for name in names {
            let Some(ms) = self.sets.get(&name).cloned() else {
                continue;
            };
            let children: Vec<DynamicObject> = self
                .machines
                .values()
                .filter(|m| controller_name(&m.metadata, CapiKind::MachineSet) == Some(&name))
                .cloned()
                .collect();
            let refs: Vec<&DynamicObject> = children.iter().collect();
            let seq = self.seq.entry(name.clone()).or_insert(0);
            let plan = machinesets::plan(&ms, &refs, seq);
            for action in plan.actions {
                match action {
                    SetAction::Create(m) => {
                        let mut m = *m;
                        m.metadata.uid = Some(self.next_uid());
                        m.metadata.generation = Some(1);
                        let key = m.metadata.name.clone().unwrap_or_default();
                        assert!(!self.machines.contains_key(&key), "name reuse: {key}");
                        self.machines.insert(key, m);
                        self.created += 1;
                        self.check();
                    }
                    SetAction::Delete(victim) => {
                        if let Some(m) = self.machines.get_mut(&victim) {
                            if m.metadata
                                .finalizers
                                .as_ref()
                                .is_some_and(|f| !f.is_empty())
                            {
                                m.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
                            } else {
                                self.machines.remove(&victim);
                            }
                            self.check();
                        }
                    }
                }
            }
            if let Some(ms) = self.sets.get_mut(&name)
                && let Some(p) = status_patch(status(ms), &plan.status, "t")
            {
                Self::apply_status(ms, &p);
            }
        }
    }

    fn step_deployment(&mut self) {
        let Some(md) = self.md.clone() else {
            return;
        };
        let machines: Vec<DynamicObject> = self.machines.values().cloned().collect();
        let sets: Vec<DynamicObject> = self.sets.values().cloned().collect();
        let owned: Vec<OwnedSet<'_>> = sets
            .iter()
            .map(|s| OwnedSet {
                set: s,
                machines: machines
                    .iter()
                    .filter(|m| {
                        controller_name(&m.metadata, CapiKind::MachineSet)
                            == s.metadata.name.as_deref()
                    })
                    .collect(),
            })
            .collect();
        let plan = machinedeployments::plan(&md, &owned);
        for action in plan.actions {
            match action {
                DeploymentAction::CreateSet(s) => {
                    let mut s = *s;
                    s.metadata.uid = Some(self.next_uid());
                    self.sets
                        .insert(s.metadata.name.clone().unwrap_or_default(), s);
                }
                DeploymentAction::ScaleSet { name, replicas } => {
                    if let Some(s) = self.sets.get_mut(&name) {
                        s.data["spec"]["replicas"] = json!(replicas);
                    }
                }
            }
        }
        if let Some(md) = self.md.as_mut()
            && let Some(p) = status_patch(status(md), &plan.status, "t")
        {
            Self::apply_status(md, &p);
        }
    }

    /// Runs one-second ticks until `done` or `max_ticks`; returns the ticks used.
    fn run(&mut self, t0: Instant, max_ticks: u64, done: impl Fn(&World) -> bool) -> Option<u64> {
        for tick in 0..max_ticks {
            let now = t0 + Duration::from_secs(tick);
            // Several rounds per tick, like the shell's bounded rounds per wake-up.
            for _ in 0..4 {
                self.step_machines(now);
                self.step_sets();
                self.step_deployment();
            }
            if done(self) {
                return Some(tick);
            }
        }
        None
    }
}

fn md(replicas: u32, version: &str, surge: u32, unavailable: u32) -> DynamicObject {
    let strategy = json!({"rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}});
    machinedeployments::test_md(replicas, version, strategy)
}

fn all_on(w: &World, n: usize, version: &str) -> bool {
    w.machines.len() == n
        && w.machines
            .values()
            .all(|m| machine_available(m) && m.data["spec"]["version"] == version)
}

fn roll(replicas: u32, surge: u32, unavailable: u32) -> World {
    let t0 = Instant::now();
    let mut w = World {
        md: Some(md(replicas, "v1", surge, unavailable)),
        min_available: usize::MAX,
        ..World::default()
    };
    let n = replicas as usize;
    let ticks = w.run(t0, 1000, |w| all_on(w, n, "v1"));
    assert_eq!(
        ticks,
        Some(READY.as_secs()),
        "initial machines run after machine_ready"
    );
    assert_eq!(w.created, replicas);
    w.max_total = 0;
    w.min_available = usize::MAX;
    w.created = 0;
    w.md = Some(md(replicas, "v2", surge, unavailable));
    let t1 = t0 + Duration::from_secs(1000);
    let ticks = w.run(t1, 10_000, |w| all_on(w, n, "v2"));
    assert!(ticks.is_some(), "roll finished");
    assert_eq!(w.created, replicas, "each machine replaced exactly once");
    w
}

#[test]
fn surge_one_unavailable_zero_keeps_capacity() {
    let w = roll(3, 1, 0);
    assert_eq!(w.max_total, 4);
    assert_eq!(w.min_available, 3);
    assert_eq!(w.sets.len(), 2);
}

#[test]
fn surge_zero_unavailable_one_never_exceeds_replicas() {
    let w = roll(3, 0, 1);
    assert_eq!(w.max_total, 3);
    assert_eq!(w.min_available, 2);
}

#[test]
fn surge_two_rolls_two_at_a_time() {
    let w = roll(4, 2, 0);
    assert_eq!(w.max_total, 6);
    assert!(w.min_available >= 4);
}

#[test]
fn second_change_mid_roll_converges_to_the_latest_template() {
    let t0 = Instant::now();
    let mut w = World {
        md: Some(md(3, "v1", 1, 0)),
        min_available: usize::MAX,
        ..World::default()
    };
    w.run(t0, 1000, |w| all_on(w, 3, "v1"));
    w.min_available = usize::MAX;
    w.md = Some(md(3, "v2", 1, 0));
    let t1 = t0 + Duration::from_secs(1000);
    w.run(t1, 150, |_| false);
    w.md = Some(md(3, "v3", 1, 0));
    let ticks = w.run(t1 + Duration::from_secs(150), 10_000, |w| {
        all_on(w, 3, "v3")
    });
    assert!(ticks.is_some());
    assert!(w.max_total <= 4);
    assert!(w.min_available >= 3);
    assert_eq!(w.sets.len(), 3);
}
