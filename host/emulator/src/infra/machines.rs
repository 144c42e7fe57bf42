//! The fake infrastructure provider and node for one Cluster API Machine.
//!
//! A Machine is `Provisioning` from the moment the fake first sees it until `machine_ready` has
//! passed, then `Running` with a `nodeRef`, `nodeInfo.kubeletVersion` = `spec.version` and
//! `Ready`/`HealthCheckSucceeded` True. A broken Machine is `Failed` with both conditions False
//! until healed. While deleting, the fake holds its finalizer for `machine_delete` (the "drain"),
//! which is what keeps a MachineDeployment roll honest about surge.

use std::time::Duration;

use kube::api::DynamicObject;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::capi::{MACHINE_FINALIZER, deleting, spec, status};
use super::status::{Condition, ConditionStyle, DesiredStatus};

/// What the fake remembers about one Machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MachineTrack {
    /// When provisioning finishes.
    pub(crate) ready_at: Instant,
    /// When the fake first saw the deletion timestamp.
    pub(crate) deleting_since: Option<Instant>,
}

impl MachineTrack {
    /// A Machine seen for the first time: already-running ones stay running (the fake may have
    /// restarted), others provision for `machine_ready`.
    pub(crate) fn first_seen(m: &DynamicObject, now: Instant, machine_ready: Duration) -> Self {
        let running = matches!(
            status(m).get("phase").and_then(Value::as_str),
            Some("Running" | "Failed")
        );
        MachineTrack {
            ready_at: if running { now } else { now + machine_ready },
            deleting_since: None,
        }
    }

    /// Notes a deletion timestamp the first time it is seen.
    pub(crate) fn observe(&mut self, m: &DynamicObject, now: Instant) {
        if deleting(&m.metadata) && self.deleting_since.is_none() {
            self.deleting_since = Some(now);
        }
    }
}

/// A change to the Machine's finalizers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FinalizerChange {
    /// Hold deletion until the fake has "drained" the node.
    Add,
    /// The drain is over: let the Machine go.
    Remove,
}

/// What the fake should do to one Machine now.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MachinePlan {
    pub(crate) finalizer: Option<FinalizerChange>,
    pub(crate) status: DesiredStatus,
    /// When the plan will next change by itself.
    pub(crate) next_wake: Option<Instant>,
}

const FAULT_MESSAGE: &str = "node is not ready (fake infrastructure fault)";

fn has_finalizer(m: &DynamicObject) -> bool {
    m.metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|x| x == MACHINE_FINALIZER))
}

/// The plan for Machine `m` at `now`.
pub(crate) fn plan(
    m: &DynamicObject,
    track: &MachineTrack,
    broken: bool,
    now: Instant,
    machine_delete: Duration,
) -> MachinePlan {
    let mut d = DesiredStatus::new(ConditionStyle::ClusterApi);
    if let Some(g) = m.metadata.generation {
        d.set("observedGeneration", g);
    }
    if deleting(&m.metadata) {
        d.set("phase", "Deleting");
        let since = track.deleting_since.unwrap_or(now);
        let done_at = since + machine_delete;
        let (finalizer, next_wake) = match (has_finalizer(m), now >= done_at) {
            (true, true) => (Some(FinalizerChange::Remove), None),
            (true, false) => (None, Some(done_at)),
            (false, _) => (None, None),
        };
        return MachinePlan {
            finalizer,
            status: d,
            next_wake,
        };
    }
    let finalizer =
        (!machine_delete.is_zero() && !has_finalizer(m)).then_some(FinalizerChange::Add);
    let provisioned = now >= track.ready_at;
    d.set("bootstrapReady", true)
        .set("infrastructureReady", provisioned);
    d.condition(Condition::new("BootstrapReady", true, "", ""));
    if provisioned {
        let name = m.metadata.name.clone().unwrap_or_default();
        let version = spec(m)
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let uid = m.metadata.uid.clone().unwrap_or_default();
        d.set(
            "nodeRef",
            json!({"apiVersion": "v1", "kind": "Node", "name": name, "uid": uid}),
        )
        .set(
            "nodeInfo",
            json!({
                "kubeletVersion": version, "kubeProxyVersion": version,
                "architecture": "amd64", "operatingSystem": "linux", "osImage": "Fleetward Fake OS",
                "containerRuntimeVersion": "containerd://1.7.0", "kernelVersion": "6.1.0-fake",
                "machineID": name, "systemUUID": uid, "bootID": uid,
            }),
        )
        .condition(Condition::new("InfrastructureReady", true, "", ""));
        if broken {
            d.set("phase", "Failed");
            d.condition(
                Condition::new("Ready", false, "NodeConditionsFailed", FAULT_MESSAGE)
                    .with_severity("Warning"),
            )
            .condition(
                Condition::new("NodeHealthy", false, "NodeConditionsFailed", FAULT_MESSAGE)
                    .with_severity("Warning"),
            )
            .condition(
                Condition::new(
                    "HealthCheckSucceeded",
                    false,
                    "UnhealthyNode",
                    FAULT_MESSAGE,
                )
                .with_severity("Warning"),
            );
        } else {
            d.set("phase", "Running");
            d.condition(Condition::new("Ready", true, "", ""))
                .condition(Condition::new("NodeHealthy", true, "", ""))
                .condition(Condition::new("HealthCheckSucceeded", true, "", ""));
        }
        return MachinePlan {
            finalizer,
            status: d,
            next_wake: None,
        };
    }
    let waiting = "waiting for the fake infrastructure provider";
    d.set("nodeRef", Value::Null)
        .set("phase", if broken { "Failed" } else { "Provisioning" })
        .condition(
            Condition::new(
                "InfrastructureReady",
                false,
                "WaitingForInfrastructure",
                waiting,
            )
            .with_severity("Info"),
        )
        .condition(if broken {
            Condition::new("Ready", false, "NodeConditionsFailed", FAULT_MESSAGE)
                .with_severity("Warning")
        } else {
            Condition::new("Ready", false, "WaitingForInfrastructure", waiting)
                .with_severity("Info")
        })
        .condition(
            Condition::new("NodeHealthy", false, "WaitingForNodeRef", "").with_severity("Info"),
        );
    MachinePlan {
        finalizer,
        status: d,
        next_wake: Some(track.ready_at),
    }
}

/// The finalizer list after `change`, for a merge patch guarded by `resourceVersion`.
pub(crate) fn finalizers_after(m: &DynamicObject, change: &FinalizerChange) -> Vec<String> {
    let mut list: Vec<String> = m.metadata.finalizers.clone().unwrap_or_default();
    match change {
        FinalizerChange::Add => {
            if !list.iter().any(|f| f == MACHINE_FINALIZER) {
                list.push(MACHINE_FINALIZER.to_owned());
            }
        }
        FinalizerChange::Remove => list.retain(|f| f != MACHINE_FINALIZER),
    }
    list
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;
    use kube::core::ObjectMeta;

    use super::super::capi::machine_available;
    use super::super::status::status_patch;
    use super::*;

    const READY: Duration = Duration::from_secs(120);
    const DRAIN: Duration = Duration::from_secs(10);

    fn machine(finalizer: bool, deleting: bool) -> DynamicObject {
        DynamicObject {
            types: None,
            metadata: ObjectMeta {
                name: Some("md-abc-xyz".into()),
                uid: Some("u1".into()),
                generation: Some(1),
                finalizers: finalizer.then(|| vec![MACHINE_FINALIZER.to_owned()]),
                deletion_timestamp: deleting.then_some(Time(Timestamp::UNIX_EPOCH)),
                ..ObjectMeta::default()
            },
            data: json!({"spec": {"version": "v1.31.2"}}),
        }
    }

    /// The machine after its status patch was applied (what the next reconcile sees).
    fn with_status(m: &DynamicObject, p: &MachinePlan) -> DynamicObject {
        let mut m = m.clone();
        if let Some(patch) = status_patch(&Value::Null, &p.status, "t") {
            m.data["status"] = patch["status"].clone();
        }
        m
    }

    #[test]
    fn provisions_then_runs_with_a_node_of_the_spec_version() {
        let t0 = Instant::now();
        let m = machine(true, false);
        let track = MachineTrack::first_seen(&m, t0, READY);
        let p = plan(
            &m,
            &track,
            false,
            t0 + READY - Duration::from_millis(1),
            DRAIN,
        );
        assert_eq!(p.status.fields["phase"], "Provisioning");
        assert_eq!(p.next_wake, Some(t0 + READY));
        assert!(!machine_available(&with_status(&m, &p)));
        let p = plan(&m, &track, false, t0 + READY, DRAIN);
        assert_eq!(p.status.fields["phase"], "Running");
        assert_eq!(p.status.fields["nodeRef"]["name"], "md-abc-xyz");
        assert_eq!(p.status.fields["nodeInfo"]["kubeletVersion"], "v1.31.2");
        assert_eq!(p.next_wake, None);
        assert!(machine_available(&with_status(&m, &p)));
        assert_eq!(p.finalizer, None);
    }

    #[test]
    fn new_machine_gets_the_finalizer_unless_delete_is_instant() {
        let t0 = Instant::now();
        let m = machine(false, false);
        let track = MachineTrack::first_seen(&m, t0, READY);
        assert_eq!(
            plan(&m, &track, false, t0, DRAIN).finalizer,
            Some(FinalizerChange::Add)
        );
        assert_eq!(plan(&m, &track, false, t0, Duration::ZERO).finalizer, None);
        assert_eq!(
            finalizers_after(&m, &FinalizerChange::Add),
            vec![MACHINE_FINALIZER]
        );
    }

    #[test]
    fn broken_running_machine_fails_health_checks() {
        let t0 = Instant::now();
        let m = machine(true, false);
        let track = MachineTrack::first_seen(&m, t0, READY);
        let p = plan(&m, &track, true, t0 + READY, DRAIN);
        assert_eq!(p.status.fields["phase"], "Failed");
        let hc = p
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == "HealthCheckSucceeded");
        assert_eq!(
            hc.map(|c| (c.status, c.reason.as_str())),
            Some((false, "UnhealthyNode"))
        );
        assert!(!machine_available(&with_status(&m, &p)));
    }

    #[test]
    fn deleting_machine_drains_then_drops_the_finalizer() {
        let t0 = Instant::now();
        let m = machine(true, true);
        let mut track = MachineTrack::first_seen(&m, t0, READY);
        track.observe(&m, t0);
        let p = plan(&m, &track, false, t0 + Duration::from_secs(9), DRAIN);
        assert_eq!((p.finalizer.clone(), p.next_wake), (None, Some(t0 + DRAIN)));
        assert_eq!(p.status.fields["phase"], "Deleting");
        let p = plan(&m, &track, false, t0 + DRAIN, DRAIN);
        assert_eq!(p.finalizer, Some(FinalizerChange::Remove));
        assert!(finalizers_after(&m, &FinalizerChange::Remove).is_empty());
    }

    #[test]
    fn a_running_machine_seen_after_a_restart_stays_running() {
        let t0 = Instant::now();
        let mut m = machine(true, false);
        m.data["status"] = json!({"phase": "Running"});
        let track = MachineTrack::first_seen(&m, t0, READY);
        assert_eq!(
            plan(&m, &track, false, t0, DRAIN).status.fields["phase"],
            "Running"
        );
    }
}
