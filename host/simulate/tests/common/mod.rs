//! A scripted world for testing the driver loop, recorder and report without the controller:
//! it places every cluster on the first seed one minute in, and upgrades clusters one after the
//! other (control plane, then each pool, ten minutes each), holding the rest with a reason.
//! `downgrade_on_upgrade` makes it write an invalid state instead (a control plane that goes
//! down a minor), to test that violations are caught.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fleetward_sdk::wire::{ClusterRef, KubeVersion};
use fleetward_simulate::driver::{Driver, DriverError};
use fleetward_simulate::record::{LedgerEntry, Observation};
use fleetward_simulate::scenario::{Action, Scenario};
use serde_json::{Value, json};

pub const SMALL: &str = r#"
name: small
description: Two tenants, five clusters, one rollout and a broken etcd.
duration: 1d
tenants:
  - name: acme
  - name: globex
seeds:
  - name: eu-1
    region: eu-west
clusters:
  - tenant: acme
    name: prod-{n}
    count: 3
    version: 1.31.0
    pools: [{name: workers, replicas: 2}, {name: gpu, replicas: 1}]
  - tenant: globex
    name: web-{n}
    count: 2
    version: 1.31.0
timeline:
  - at: T+1h
    setVersion: {version: 1.32.0}
  - at: T+2h
    breakWorkload: {cluster: globex/web-1}
  - at: T+3h
    healWorkload: {cluster: globex/web-1}
"#;

pub fn small() -> Scenario {
    fleetward_simulate::scenario::parse_str(SMALL, "small.yaml", std::path::Path::new("."))
        .expect("valid")
}

struct Cluster {
    id: ClusterRef,
    tenant: String,
    desired: String,
    status: Value,
}

pub struct ScriptedFleet {
    pub downgrade_on_upgrade: bool,
    /// Seconds each upgrade step takes (default 600).
    pub step_secs: i64,
    now: i64,
    queue: Vec<(i64, u64, Observation)>,
    seq: u64,
    clusters: BTreeMap<ClusterRef, Cluster>,
    seed: String,
}

impl ScriptedFleet {
    pub fn new() -> Self {
        ScriptedFleet {
            downgrade_on_upgrade: false,
            step_secs: 600,
            now: 0,
            queue: Vec::new(),
            seq: 0,
            clusters: BTreeMap::new(),
            seed: String::new(),
        }
    }

    fn push(&mut self, at: i64, obs: Observation) {
        self.seq += 1;
        self.queue.push((at, self.seq, obs));
    }

    fn write(&mut self, at: i64, id: &ClusterRef) {
        let c = &self.clusters[id];
        let obj = json!({
            "metadata": {"namespace": c.id.namespace, "name": c.id.name},
            "spec": {"tenant": c.tenant, "version": c.desired},
            "status": c.status,
        });
        self.push(
            at,
            Observation::Write {
                at,
                kind: "ManagedCluster".into(),
                object: obj,
            },
        );
    }

    fn set(&mut self, at: i64, id: &ClusterRef, f: impl FnOnce(&mut Value)) {
        if let Some(c) = self.clusters.get_mut(id) {
            f(&mut c.status);
        }
        self.write(at, id);
    }

    fn decision(
        &mut self,
        at: i64,
        tenant: &str,
        kind: &str,
        clusters: Vec<String>,
        output: Value,
        reason: &str,
    ) {
        self.push(
            at,
            Observation::Decision(LedgerEntry {
                at,
                tenant: tenant.into(),
                clusters,
                kind: kind.into(),
                digest: "builtin".into(),
                input_sha256: format!("{:064x}", at),
                output_json: output.to_string(),
                reason: reason.into(),
                outcome: "applied".into(),
            }),
        );
    }
}

impl Driver for ScriptedFleet {
    async fn setup(&mut self, s: &Scenario) -> Result<(), DriverError> {
        self.now = s.start.0;
        self.seed = s.seeds.first().map(|x| x.name.clone()).unwrap_or_default();
        for c in &s.clusters {
            self.clusters.insert(
                c.id.clone(),
                Cluster {
                    id: c.id.clone(),
                    tenant: c.tenant.clone(),
                    desired: c.version.to_string(),
                    status: json!({}),
                },
            );
            let pools: Vec<Value> = c
                .pools
                .iter()
                .map(|p| json!({"name": p.name, "version": c.version.to_string()}))
                .collect();
            let (at, seed, v) = (self.now + 60, self.seed.clone(), c.version.to_string());
            self.write(self.now, &c.id);
            self.decision(
                at,
                &c.tenant,
                "placement",
                vec![c.id.to_string()],
                json!({"seed": seed, "reason": "only seed"}),
                "only seed",
            );
            self.set(at, &c.id, |st| {
                *st = json!({"seed": seed, "controlPlaneVersion": v, "nodePools": pools, "phase": "Running"});
            });
        }
        Ok(())
    }

    async fn advance_to(&mut self, at: i64) -> Vec<Observation> {
        self.now = at;
        self.queue.sort_by_key(|(t, seq, _)| (*t, *seq));
        let split = self.queue.partition_point(|(t, _, _)| *t <= at);
        self.queue.drain(..split).map(|(_, _, o)| o).collect()
    }

    async fn act(&mut self, action: &Action, affected: &[ClusterRef]) -> Result<(), DriverError> {
        let now = self.now;
        match action {
            Action::SetVersion { version, .. } => {
                let to = version.to_string();
                // Tenants upgrade in parallel, each tenant's clusters one after the other.
                let mut clock: BTreeMap<String, i64> = BTreeMap::new();
                let mut by_tenant: BTreeMap<String, Vec<ClusterRef>> = BTreeMap::new();
                for id in affected {
                    by_tenant
                        .entry(self.clusters[id].tenant.clone())
                        .or_default()
                        .push(id.clone());
                }
                for id in affected {
                    if let Some(c) = self.clusters.get_mut(id) {
                        c.desired = to.clone();
                    }
                    self.write(now, id);
                }
                for (tenant, ids) in by_tenant {
                    let holds: Vec<Value> = ids
                        .iter()
                        .skip(1)
                        .map(|id| json!({"cluster": id, "reason": "one at a time"}))
                        .collect();
                    self.decision(
                        now,
                        &tenant,
                        "upgrade_ordering",
                        ids.iter().map(ToString::to_string).collect(),
                        json!({"start": [], "hold": holds, "reason": "serial"}),
                        "serial",
                    );
                }
                for id in affected {
                    let t = clock.entry(self.clusters[id].tenant.clone()).or_insert(now);
                    let mut t = *t;
                    let from = self.clusters[id].status["controlPlaneVersion"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let bad = self.downgrade_on_upgrade;
                    let to2 = if bad {
                        KubeVersion::new(1, 30, 0).to_string()
                    } else {
                        to.clone()
                    };
                    let step = json!({"target": "control-plane", "from": from, "to": to, "startedAt": "x", "wave": "all"});
                    self.set(t, id, |st| st["inProgress"] = step);
                    t += self.step_secs;
                    self.set(t, id, |st| {
                        st["controlPlaneVersion"] = json!(to2);
                    });
                    let pools: Vec<String> = self.clusters[id].status["nodePools"]
                        .as_array()
                        .map(|p| {
                            p.iter()
                                .filter_map(|p| p["name"].as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default();
                    for (i, p) in pools.iter().enumerate() {
                        let step = json!({"target": format!("pool/{p}"), "from": from, "to": to, "startedAt": "x"});
                        self.set(t, id, |st| st["inProgress"] = step);
                        t += self.step_secs;
                        let to = to.clone();
                        self.set(t, id, move |st| {
                            st["nodePools"][i]["version"] = json!(to);
                        });
                    }
                    self.set(t, id, |st| {
                        st.as_object_mut().map(|o| o.remove("inProgress"));
                    });
                    clock.insert(self.clusters[id].tenant.clone(), t);
                }
            }
            Action::BreakWorkload { cluster, .. } => {
                self.set(now + 120, cluster, |st| {
                    st["conditions"] = json!([{"type": "Remediating", "status": "True", "reason": "RestartComponent", "message": "etcd restarted"}]);
                    st["remediationHistory"] = json!([{"at": "x", "component": "control-plane/etcd", "action": "{}"}]);
                });
            }
            Action::HealWorkload { cluster, .. } => {
                self.set(now + 30, cluster, |st| {
                    st["conditions"] =
                        json!([{"type": "Remediating", "status": "False", "reason": "Healthy"}]);
                });
            }
            _ => {}
        }
        Ok(())
    }

    async fn shutdown(self) -> Vec<Observation> {
        Vec::new()
    }
}

/// Runs the scenario in the scripted world on a paused runtime.
pub fn run_scripted(s: &Scenario, fleet: ScriptedFleet) -> fleetward_simulate::record::Recording {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    let mut sink: Vec<u8> = Vec::new();
    rt.block_on(async {
        let mut progress =
            fleetward_simulate::progress::Progress::new(&mut sink, false, s.start.0, s.end().0);
        fleetward_simulate::driver::simulate(s, fleet, &mut progress)
            .await
            .expect("runs")
    })
}

/// Runs `fleetward simulate SCENARIO --out OUT` in-process; panics on an error or an invariant
/// violation (the log is shown).
pub fn simulate_file(scenario: &Path, out: &Path) -> fleetward_simulate::SimulationExit {
    let args = fleetward_simulate::SimulateArgs::new(scenario, out);
    let mut log: Vec<u8> = Vec::new();
    let exit = fleetward_simulate::run(&args, &mut log, false).expect("scenario runs");
    assert!(
        exit.violations.is_empty(),
        "violations: {:?}\n{}",
        exit.violations,
        String::from_utf8_lossy(&log)
    );
    exit
}

/// An empty output directory under the system temp dir, unique to this test process; `name`
/// must be unique among the tests of all binaries (prefix it with the binary's topic).
pub fn out_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fleetward-sim-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The five output files of a run, for byte-for-byte comparisons.
pub fn report_files(dir: &Path) -> Vec<(&'static str, Vec<u8>)> {
    [
        "report.html",
        "ledger.json",
        "summary.json",
        "spans.json",
        "conditions.json",
    ]
    .into_iter()
    .map(|f| (f, std::fs::read(dir.join(f)).expect(f)))
    .collect()
}
