//! Shadow bindings: a tenant's candidate module, asked the same question as the live policy
//! right after each live decision, compared with it, and never acted on.
//!
//! The live path only *enqueues*: [`Shadows::place`], [`Shadows::order_upgrades`] and
//! [`Shadows::remediate`] look the tenant's shadow up, take a permit of a small bounded queue
//! ([`QUEUE`] places for all tenants) without waiting, clone the request and spawn the
//! evaluation. A full queue skips the shadow and counts `skipped`; it never makes the live
//! decision wait. At most [`RUNNING`] shadow calls run at once, so shadows take at most that
//! many of the engine's call slots whatever they do (a shadow that loops holds one slot for its
//! timeout; live calls keep the others).
//!
//! The evaluation runs the shadow on the same request and `now`, validates its answer as the
//! host would the live one (placement: a candidate seed; remediation: the problem's component;
//! upgrade ordering: each step checked against its cluster's state with
//! `core::invariants::check_step`, counted as `would_veto`), and compares its output bytes (the
//! canonical JSON, `Answer::output_json`) with the live decision's: [`Verdict::Agreed`],
//! [`Verdict::Disagreed`] or [`Verdict::Failed`]. The result goes to the tenant's [`Tally`]
//! (read by the Tenant reconciler for `status.shadows`, at most every 30 s), to the metric
//! `fleetward_shadow_decisions_total{tenant,kind,result}`, and to the decision log as a
//! `role: shadow` record. A shadow that traps, loops or answers nonsense changes nothing but its
//! own counters.

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::sync::{Arc, Mutex, RwLock};

use fleetward_sdk::wire::{
    ClusterRef, DecisionKind, PlacementDecision, PlacementRequest, RemediationDecision,
    RemediationRequest, Timestamp, UpgradeDecision, UpgradeRequest,
};
use futures::future::BoxFuture;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Answer, CallFailed, DecideEnv, Decided, DecisionPolicy, PolicyFailure};
use crate::crd::ShadowDisagreement;
use crate::decision_log::DecisionLog;
use crate::decision_log::record::{
    DecisionEntry, ErrorEntry, FORMAT_VERSION, Role, ShadowEntry, sha256_hex,
};
use crate::metrics::Metrics;

/// Shadow evaluations queued or running at once, all tenants together; one more is skipped.
pub const QUEUE: usize = 8;
/// Shadow calls running at once (each holds one of the engine's call slots while it runs).
pub const RUNNING: usize = 1;
/// Disagreements kept per tenant and kind (`status.shadows.<kind>.lastDisagreements`).
pub const MAX_DISAGREEMENTS: usize = 5;
/// Longest summary of a decision kept in a disagreement, in bytes.
pub const SUMMARY_BYTES: usize = 200;

/// A loaded shadow and where its results go.
#[derive(Clone, Debug)]
pub struct ShadowSlot {
    /// The shadow module, bound with its config and limits.
    pub policy: Arc<dyn DecisionPolicy>,
    /// Where `fleetward_shadow_decisions_total` is counted.
    pub metrics: Arc<Metrics>,
    /// Where its `role: shadow` records go.
    pub log: DecisionLog,
}

/// How a shadow's answer compares with the live decision's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Byte-identical output.
    Agreed,
    /// A valid answer that differs.
    Disagreed,
    /// The call failed (trap, timeout, invalid output): the failure's label.
    Failed(String),
}

impl Verdict {
    /// The metric's `result` label.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Agreed => "agreed",
            Verdict::Disagreed => "disagreed",
            Verdict::Failed(_) => "failed",
        }
    }
}

/// A shadow's valid answer, as the comparison and the log need it.
#[derive(Clone, Debug)]
pub struct Shadowed {
    /// Canonical decision JSON.
    pub output_json: String,
    /// Hex sha256 of the input envelope the shadow read.
    pub input_sha256: String,
    /// Upgrade steps the host would have vetoed (upgrade ordering only).
    pub would_veto: u64,
    /// The input envelope the shadow read, exactly as the engine serialised it.
    pub input: Option<Arc<[u8]>>,
    /// Fuel the call used (shadows with a fuel limit).
    pub fuel: Option<u64>,
}

/// One shadow call as the decision log records it, whatever its result.
#[derive(Clone, Debug, Default)]
pub struct ShadowCall {
    /// The shadow module's digest.
    pub module: String,
    /// Hex SHA-256 of the config it is bound with.
    pub config_sha256: Option<String>,
    /// The input envelope it read (none when the call failed before one was built).
    pub input: Option<Arc<[u8]>>,
    /// Fuel used.
    pub fuel: Option<u64>,
    /// Wall-clock time of the call.
    pub duration: std::time::Duration,
}

/// Compares a shadow's result with the live decision's output (empty when the live policy
/// held: nothing was decided, so any answer differs).
pub fn compare(live_output: &str, shadow: &Result<Shadowed, PolicyFailure>) -> Verdict {
    match shadow {
        Err(f) => Verdict::Failed(f.label.clone()),
        Ok(s) if !live_output.is_empty() && s.output_json == live_output => Verdict::Agreed,
        Ok(_) => Verdict::Disagreed,
    }
}

/// `json` cut to at most `max` bytes at a character boundary (`…` marks a cut); a held live
/// decision (no output) reads `held`.
pub fn summary(json: &str, max: usize) -> String {
    if json.is_empty() {
        return "held (no decision)".into();
    }
    if json.len() <= max {
        return json.to_string();
    }
    let mut end = max;
    while !json.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &json[..end])
}

/// What the shadow of one tenant's decision kind did since its module was loaded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// `sha256:<hex>` of the shadow module counted.
    pub digest: String,
    /// Agreed + disagreed + failed.
    pub evaluated: u64,
    /// Byte-identical answers.
    pub agreed: u64,
    /// Differing answers.
    pub disagreed: u64,
    /// Failed calls.
    pub failed: u64,
    /// Live decisions not shadowed (queue full).
    pub skipped: u64,
    /// Upgrade steps the host would have vetoed.
    pub would_veto: u64,
    /// The last failure (`label: message`).
    pub last_failure: Option<String>,
    /// The last [`MAX_DISAGREEMENTS`] disagreements, oldest first.
    pub last_disagreements: VecDeque<ShadowDisagreement>,
    /// The first disagreement of this digest, until the Tenant reconciler announces it.
    pub unannounced: Option<ShadowDisagreement>,
    /// Whether this digest's first disagreement was announced (one Event per digest).
    pub announced: bool,
}

impl Tally {
    /// A fresh tally for `digest`.
    pub fn new(digest: impl Into<String>) -> Self {
        Tally {
            digest: digest.into(),
            ..Default::default()
        }
    }

    /// Counts one evaluation; a disagreement is kept (the oldest dropped beyond
    /// [`MAX_DISAGREEMENTS`]) and, if it is this digest's first, left to be announced.
    pub fn record(
        &mut self,
        verdict: &Verdict,
        failure: Option<&PolicyFailure>,
        would_veto: u64,
        disagreement: impl FnOnce() -> ShadowDisagreement,
    ) {
        self.evaluated += 1;
        self.would_veto += would_veto;
        match verdict {
            Verdict::Agreed => self.agreed += 1,
            Verdict::Failed(_) => {
                self.failed += 1;
                if let Some(f) = failure {
                    self.last_failure = Some(summary(
                        &format!("{}: {}", f.label, f.message),
                        SUMMARY_BYTES,
                    ));
                }
            }
            Verdict::Disagreed => {
                self.disagreed += 1;
                let d = disagreement();
                if !self.announced && self.unannounced.is_none() {
                    self.unannounced = Some(d.clone());
                }
                self.last_disagreements.push_back(d);
                while self.last_disagreements.len() > MAX_DISAGREEMENTS {
                    self.last_disagreements.pop_front();
                }
            }
        }
    }
}

/// Every tenant's shadows, their queue and their tallies. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Shadows {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    slots: RwLock<HashMap<(String, DecisionKind), ShadowSlot>>,
    tallies: Mutex<HashMap<(String, DecisionKind), Tally>>,
    queue: Arc<Semaphore>,
    running: Arc<Semaphore>,
}

impl Default for Shadows {
    fn default() -> Self {
        Shadows {
            inner: Arc::new(Inner {
                slots: Default::default(),
                tallies: Default::default(),
                queue: Arc::new(Semaphore::new(QUEUE)),
                running: Arc::new(Semaphore::new(RUNNING)),
            }),
        }
    }
}

/// A queue place taken for one evaluation.
struct Ticket {
    slot: ShadowSlot,
    permit: OwnedSemaphorePermit,
}

/// What the spawned evaluation needs of the live decision.
#[derive(Clone, Debug)]
pub struct Live {
    /// Tenant.
    pub tenant: String,
    /// Decision kind.
    pub kind: DecisionKind,
    /// The `now` both were asked at.
    pub now: Timestamp,
    /// The live module's digest (or `builtin`).
    pub digest: String,
    /// The live decision's canonical JSON (empty when held).
    pub output_json: String,
    /// Clusters concerned (`namespace/name`, sorted).
    pub clusters: Vec<String>,
}

impl Shadows {
    /// Installs, replaces or removes a tenant's shadow for `kind`. A different module (digest)
    /// starts a fresh tally; the same digest reloaded (new config or limits) starts fresh counts
    /// but keeps its first disagreement announced.
    pub fn set(&self, tenant: &str, kind: DecisionKind, slot: Option<ShadowSlot>) {
        let key = (tenant.to_string(), kind);
        if let Ok(mut tallies) = self.inner.tallies.lock() {
            match &slot {
                Some(s) => {
                    let digest = s.policy.digest();
                    let announced = tallies
                        .get(&key)
                        .is_some_and(|t| t.digest == digest && t.announced);
                    let unchanged = self
                        .inner
                        .slots
                        .read()
                        .ok()
                        .and_then(|slots| slots.get(&key).map(|old| same(old, s)))
                        .unwrap_or(false);
                    if !unchanged {
                        let mut fresh = Tally::new(digest);
                        fresh.announced = announced;
                        tallies.insert(key.clone(), fresh);
                    }
                }
                None => {
                    tallies.remove(&key);
                }
            }
        }
        if let Ok(mut slots) = self.inner.slots.write() {
            match slot {
                Some(s) => {
                    slots.insert(key, s);
                }
                None => {
                    slots.remove(&key);
                }
            }
        }
    }

    /// The shadow serving a tenant's `kind`, if one is loaded.
    pub fn slot(&self, tenant: &str, kind: DecisionKind) -> Option<ShadowSlot> {
        self.inner
            .slots
            .read()
            .ok()?
            .get(&(tenant.to_string(), kind))
            .cloned()
    }

    /// The tally of a tenant's `kind`, if it has a loaded shadow.
    pub fn tally(&self, tenant: &str, kind: DecisionKind) -> Option<Tally> {
        self.inner
            .tallies
            .lock()
            .ok()?
            .get(&(tenant.to_string(), kind))
            .cloned()
    }

    /// This digest's first disagreement if not announced yet, marking it announced (the
    /// Tenant reconciler publishes `ShadowDisagreed` with it: once per shadow module).
    pub fn take_unannounced(&self, tenant: &str, kind: DecisionKind) -> Option<ShadowDisagreement> {
        let mut tallies = self.inner.tallies.lock().ok()?;
        let t = tallies.get_mut(&(tenant.to_string(), kind))?;
        let first = t.unannounced.take()?;
        t.announced = true;
        Some(first)
    }

    /// Takes a queue place for the tenant's shadow of `kind`, without waiting: `None` when the
    /// tenant has no shadow, or when the queue is full (then counted `skipped`).
    fn ticket(&self, tenant: &str, kind: DecisionKind) -> Option<Ticket> {
        let slot = self.slot(tenant, kind)?;
        match self.inner.queue.clone().try_acquire_owned() {
            Ok(permit) => Some(Ticket { slot, permit }),
            Err(_) => {
                slot.metrics
                    .shadow_decision(tenant, kind.as_str(), "skipped");
                if let Ok(mut tallies) = self.inner.tallies.lock()
                    && let Some(t) = tallies.get_mut(&(tenant.to_string(), kind))
                {
                    t.skipped += 1;
                }
                None
            }
        }
    }

    /// Spawns one evaluation: waits for a running slot, calls the shadow, records the result.
    fn spawn<F>(&self, ticket: Ticket, live: Live, call: F)
    where
        F: FnOnce(Arc<dyn DecisionPolicy>) -> BoxFuture<'static, Result<Shadowed, CallFailed>>
            + Send
            + 'static,
    {
        let shadows = self.clone();
        tokio::spawn(async move {
            let Ticket { slot, permit } = ticket;
            let Ok(_running) = shadows.inner.running.clone().acquire_owned().await else {
                return;
            };
            let started = std::time::Instant::now();
            let called = call(slot.policy.clone()).await;
            let mut record = ShadowCall {
                module: slot.policy.digest(),
                config_sha256: slot.policy.config_sha256(),
                duration: started.elapsed(),
                ..Default::default()
            };
            let result = match called {
                Ok(s) => {
                    record.input = s.input.clone();
                    record.fuel = s.fuel;
                    Ok(s)
                }
                Err(c) => {
                    record.input = c.input;
                    Err(c.failure)
                }
            };
            drop(permit);
            shadows.record(&slot, &record, &live, &result);
        });
    }

    /// Counts one result (unless the shadow changed meanwhile) and logs it.
    fn record(
        &self,
        slot: &ShadowSlot,
        call: &ShadowCall,
        live: &Live,
        result: &Result<Shadowed, PolicyFailure>,
    ) {
        let digest = call.module.as_str();
        let verdict = compare(&live.output_json, result);
        let kind = live.kind;
        slot.metrics
            .shadow_decision(&live.tenant, kind.as_str(), verdict.as_str());
        if let Ok(mut tallies) = self.inner.tallies.lock()
            && let Some(t) = tallies.get_mut(&(live.tenant.clone(), kind))
            && t.digest == digest
        {
            let would_veto = result.as_ref().map_or(0, |s| s.would_veto);
            t.record(&verdict, result.as_ref().err(), would_veto, || {
                ShadowDisagreement {
                    time: live.now.to_string(),
                    clusters: live.clusters.clone(),
                    live_module: live.digest.clone(),
                    live: summary(&live.output_json, SUMMARY_BYTES),
                    shadow: result
                        .as_ref()
                        .map(|s| summary(&s.output_json, SUMMARY_BYTES))
                        .unwrap_or_default(),
                }
            });
        }
        if let Verdict::Failed(label) = &verdict {
            tracing::debug!(tenant = %live.tenant, kind = %kind, digest, label, "shadow policy failed");
        }
        // A record needs the exact input the shadow read: a call that failed before one was
        // built (it cannot happen for a loaded module) has nothing to replay and is not logged.
        if slot.log.is_on()
            && let Some(e) = entry(call, live, result, &verdict)
        {
            slot.log.send(e);
        }
    }

    /// Shadows a placement decision (called right after the live one; only enqueues).
    pub(crate) fn place(
        &self,
        env: &DecideEnv<'_>,
        req: &PlacementRequest,
        live: &Decided<PlacementDecision>,
    ) {
        let kind = DecisionKind::Placement;
        let Some(ticket) = self.ticket(env.tenant, kind) else {
            return;
        };
        let req = req.clone();
        let live = Live::of(env, kind, live, [&req.cluster.id]);
        let now = env.now;
        self.spawn(ticket, live, move |p| {
            Box::pin(async move {
                let a = p.place(&req, now).await?;
                crate::core::placement::validate(&a.decision, &req.seeds)
                    .map_err(|e| invalid(&p, &a, e.to_string()))?;
                Ok(shadowed(a, 0))
            })
        });
    }

    /// Shadows an upgrade-ordering decision (called right after the live one; only enqueues).
    pub(crate) fn order_upgrades(
        &self,
        env: &DecideEnv<'_>,
        req: &UpgradeRequest,
        live: &Decided<UpgradeDecision>,
    ) {
        let kind = DecisionKind::UpgradeOrdering;
        let Some(ticket) = self.ticket(env.tenant, kind) else {
            return;
        };
        let req = req.clone();
        let steps = live.decision.iter().flat_map(|d| d.start.iter());
        let live = Live::of(env, kind, live, steps.map(|s| &s.cluster));
        let now = env.now;
        self.spawn(ticket, live, move |p| {
            Box::pin(async move {
                let a = p.order_upgrades(&req, now).await?;
                let vetoes = would_veto(&req, &a.decision);
                Ok(shadowed(a, vetoes))
            })
        });
    }

    /// Shadows a remediation decision (called right after the live one; only enqueues).
    pub(crate) fn remediate(
        &self,
        env: &DecideEnv<'_>,
        req: &RemediationRequest,
        live: &Decided<RemediationDecision>,
    ) {
        let kind = DecisionKind::Remediation;
        let Some(ticket) = self.ticket(env.tenant, kind) else {
            return;
        };
        let req = req.clone();
        let live = Live::of(env, kind, live, [&req.cluster]);
        let now = env.now;
        self.spawn(ticket, live, move |p| {
            Box::pin(async move {
                let a = p.remediate(&req, now).await?;
                crate::core::remediation::validate(&req.problem, &a.decision.action)
                    .map_err(|e| invalid(&p, &a, e.to_string()))?;
                Ok(shadowed(a, 0))
            })
        });
    }
}

impl Live {
    fn of<'a, T>(
        env: &DecideEnv<'_>,
        kind: DecisionKind,
        d: &Decided<T>,
        clusters: impl IntoIterator<Item = &'a ClusterRef>,
    ) -> Live {
        Live {
            tenant: env.tenant.to_string(),
            kind,
            now: env.now,
            digest: d.digest.clone(),
            output_json: d.output_json.clone(),
            clusters: crate::decision_log::record::cluster_names(clusters),
        }
    }
}

/// Whether two slots hold the same loaded module (a reload is a new one).
fn same(a: &ShadowSlot, b: &ShadowSlot) -> bool {
    Arc::ptr_eq(&a.policy, &b.policy)
}

fn shadowed<T>(a: Answer<T>, would_veto: u64) -> Shadowed {
    Shadowed {
        output_json: a.output_json,
        input_sha256: a.input_sha256,
        would_veto,
        input: Some(a.input),
        fuel: a.fuel,
    }
}

/// An answer the host would refuse, as a failed call (its input kept for the log).
fn invalid<T>(p: &Arc<dyn DecisionPolicy>, a: &Answer<T>, message: String) -> CallFailed {
    CallFailed {
        failure: PolicyFailure {
            label: "invalid_output".into(),
            message: format!("shadow policy {}: {message}", p.digest()),
        },
        input: Some(a.input.clone()),
        duration: a.duration,
    }
}

/// How many of the answer's steps the host would veto: steps for clusters the request does
/// not know, a second step for one cluster, and steps `core::invariants::check_step` refuses
/// (caps are not checked: they make steps wait, they are not breaches).
pub fn would_veto(req: &UpgradeRequest, d: &UpgradeDecision) -> u64 {
    let mut seen = std::collections::BTreeSet::new();
    let mut vetoes = 0;
    for step in &d.start {
        let known = req.clusters.iter().find(|c| c.id == step.cluster);
        let ok = match known {
            None => false,
            Some(c) => {
                seen.insert(&step.cluster) && crate::core::invariants::check_step(c, step).is_ok()
            }
        };
        if !ok {
            vetoes += 1;
        }
    }
    vetoes
}

/// The decision-log record of one shadow evaluation (`role: shadow`): `input` is the envelope
/// the shadow read, byte for byte; `outcomes` is empty (nothing was acted on); `shadow` says
/// how it compares with the live decision. `None` when the call has no input to record.
pub fn entry(
    call: &ShadowCall,
    live: &Live,
    result: &Result<Shadowed, PolicyFailure>,
    verdict: &Verdict,
) -> Option<DecisionEntry> {
    let input = std::str::from_utf8(call.input.as_deref()?).ok()?;
    let input = serde_json::value::RawValue::from_string(input.to_string()).ok()?;
    let (output, error) = match result {
        Ok(s) => (
            serde_json::value::RawValue::from_string(s.output_json.clone()).ok(),
            None,
        ),
        Err(f) => (
            None,
            Some(ErrorEntry {
                label: f.label.clone(),
                message: f.message.clone(),
            }),
        ),
    };
    Some(DecisionEntry {
        v: FORMAT_VERSION,
        record: "decision".into(),
        seq: 0,
        time: live.now,
        tenant: live.tenant.clone(),
        kind: live.kind,
        role: Role::Shadow,
        clusters: live.clusters.clone(),
        module: call.module.clone(),
        config_sha256: call.config_sha256.clone(),
        input_sha256: sha256_hex(input.get().as_bytes()),
        input,
        output,
        error,
        outcomes: Vec::new(),
        fuel: call.fuel,
        duration_us: Some(u64::try_from(call.duration.as_micros()).unwrap_or(u64::MAX)),
        shadow: Some(ShadowEntry {
            agrees: *verdict == Verdict::Agreed,
            live_module: live.digest.clone(),
            live_output_sha256: sha256_hex(live.output_json.as_bytes()),
        }),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::core::placement::tests::{seed, to_place};
    use crate::policy::PolicyRegistry;

    fn ok(output: &str) -> Result<Shadowed, PolicyFailure> {
        Ok(Shadowed {
            output_json: output.into(),
            input_sha256: String::new(),
            would_veto: 0,
            input: None,
            fuel: None,
        })
    }

    #[test]
    fn comparison_is_byte_for_byte_and_a_failure_is_its_own_result() {
        assert_eq!(compare(r#"{"a":1}"#, &ok(r#"{"a":1}"#)), Verdict::Agreed);
        assert_eq!(compare(r#"{"a":1}"#, &ok(r#"{"a":2}"#)), Verdict::Disagreed);
        assert_eq!(
            compare(r#"{"a":1}"#, &ok(r#"{"a": 1}"#)),
            Verdict::Disagreed
        );
        // The live policy held: nothing was decided, any answer differs.
        assert_eq!(compare("", &ok("")), Verdict::Disagreed);
        let trap = PolicyFailure {
            label: "trap".into(),
            message: "unreachable".into(),
        };
        assert_eq!(
            compare(r#"{"a":1}"#, &Err(trap)),
            Verdict::Failed("trap".into())
        );
    }

    #[test]
    fn summaries_are_bounded_at_a_character_boundary() {
        assert_eq!(summary(r#"{"a":1}"#, 200), r#"{"a":1}"#);
        assert_eq!(summary("", 200), "held (no decision)");
        let long = "é".repeat(300);
        let s = summary(&long, 201);
        assert!(s.len() <= 201 + '…'.len_utf8(), "{}", s.len());
        assert!(s.ends_with('…'));
    }

    fn disagreement(n: usize) -> ShadowDisagreement {
        ShadowDisagreement {
            time: format!("t{n}"),
            ..Default::default()
        }
    }

    #[test]
    fn a_tally_keeps_the_last_five_disagreements_and_the_first_for_its_event() {
        let mut t = Tally::new("sha256:s");
        for n in 0..12 {
            t.record(&Verdict::Disagreed, None, 0, || disagreement(n));
        }
        t.record(&Verdict::Agreed, None, 0, || unreachable!("agreed"));
        let trap = PolicyFailure {
            label: "trap".into(),
            message: "x".repeat(1000),
        };
        t.record(&Verdict::Failed("trap".into()), Some(&trap), 2, || {
            unreachable!("failed")
        });
        assert_eq!(
            (t.evaluated, t.agreed, t.disagreed, t.failed, t.would_veto),
            (14, 1, 12, 1, 2)
        );
        let kept: Vec<_> = t
            .last_disagreements
            .iter()
            .map(|d| d.time.clone())
            .collect();
        assert_eq!(kept, ["t7", "t8", "t9", "t10", "t11"]);
        assert_eq!(t.unannounced.as_ref().map(|d| d.time.as_str()), Some("t0"));
        let failure = t.last_failure.as_deref().unwrap();
        assert!(
            failure.starts_with("trap: ") && failure.len() < 300,
            "{failure}"
        );
    }

    #[test]
    fn a_shadow_record_is_a_valid_log_line_that_says_how_it_compares() {
        use crate::decision_log::record::{LogLine, parse_line};
        let live = Live {
            tenant: "acme".into(),
            kind: DecisionKind::UpgradeOrdering,
            now: Timestamp(1_700_000_000),
            digest: "builtin".into(),
            output_json: r#"{"start":[]}"#.into(),
            clusters: vec!["tenant-acme/c1".into()],
        };
        let input = r#"{"abi":1, "request":{"clusters":[]}}"#;
        let call = ShadowCall {
            module: "sha256:shadow".into(),
            config_sha256: Some(sha256_hex(b"{}")),
            input: Some(Arc::from(input.as_bytes())),
            fuel: Some(7),
            duration: Duration::from_micros(1500),
        };
        let result = ok(r#"{"start":[1]}"#);
        let verdict = compare(&live.output_json, &result);
        let line = entry(&call, &live, &result, &verdict)
            .expect("an input to record")
            .to_line();
        let LogLine::Decision(e) = parse_line(1, &line).expect("a valid line") else {
            panic!("not a decision: {line}")
        };
        assert_eq!(e.role, Role::Shadow);
        assert_eq!(e.module, "sha256:shadow");
        assert_eq!(e.input.get(), input, "the input bytes as read");
        assert_eq!(e.output.as_ref().map(|o| o.get()), Some(r#"{"start":[1]}"#));
        assert!(e.outcomes.is_empty(), "nothing was acted on");
        assert_eq!((e.duration_us, e.fuel), (Some(1500), Some(7)));
        assert_eq!(
            e.shadow,
            Some(ShadowEntry {
                agrees: false,
                live_module: "builtin".into(),
                live_output_sha256: sha256_hex(br#"{"start":[]}"#),
            })
        );
        let trap = Err(PolicyFailure {
            label: "trap".into(),
            message: "unreachable".into(),
        });
        let failed = entry(&call, &live, &trap, &compare("", &trap)).expect("input");
        assert!(failed.output.is_none());
        assert_eq!(failed.error.map(|e| e.label).as_deref(), Some("trap"));
        let no_input = ShadowCall {
            input: None,
            ..call
        };
        assert!(entry(&no_input, &live, &trap, &compare("", &trap)).is_none());
    }

    /// A native shadow: answers placement with `seed`, or never answers when `seed` is `None`.
    #[derive(Debug)]
    struct Fixed {
        seed: Option<&'static str>,
        calls: AtomicUsize,
    }

    impl DecisionPolicy for Fixed {
        fn digest(&self) -> String {
            "sha256:shadow".into()
        }
        fn place<'a>(
            &'a self,
            _: &'a PlacementRequest,
            _: Timestamp,
        ) -> BoxFuture<'a, Result<Answer<PlacementDecision>, CallFailed>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let seed = self.seed;
            Box::pin(async move {
                let Some(seed) = seed else {
                    return std::future::pending().await;
                };
                let decision = PlacementDecision {
                    seed: Some(seed.into()),
                    reason: "shadow".into(),
                    scores: vec![],
                };
                Ok(Answer {
                    output_json: serde_json::to_string(&decision).unwrap(),
                    decision,
                    input_sha256: String::new(),
                    input: Arc::from(&b"{}"[..]),
                    fuel: None,
                    duration: None,
                })
            })
        }
        fn order_upgrades<'a>(
            &'a self,
            _: &'a UpgradeRequest,
            _: Timestamp,
        ) -> BoxFuture<'a, Result<Answer<UpgradeDecision>, CallFailed>> {
            unimplemented!("placement only")
        }
        fn remediate<'a>(
            &'a self,
            _: &'a RemediationRequest,
            _: Timestamp,
        ) -> BoxFuture<'a, Result<Answer<RemediationDecision>, CallFailed>> {
            unimplemented!("placement only")
        }
    }

    fn setup(seed: Option<&'static str>) -> (PolicyRegistry, Arc<Metrics>, Arc<Fixed>) {
        setup_logged(seed, DecisionLog::off())
    }

    fn setup_logged(
        seed: Option<&'static str>,
        log: DecisionLog,
    ) -> (PolicyRegistry, Arc<Metrics>, Arc<Fixed>) {
        let reg = PolicyRegistry::default();
        let metrics = Arc::new(Metrics::new());
        let policy = Arc::new(Fixed {
            seed,
            calls: AtomicUsize::new(0),
        });
        reg.shadows.set(
            "t",
            DecisionKind::Placement,
            Some(ShadowSlot {
                policy: policy.clone(),
                metrics: metrics.clone(),
                log,
            }),
        );
        (reg, metrics, policy)
    }

    fn request() -> PlacementRequest {
        PlacementRequest {
            cluster: to_place("1.31.0", &[]),
            seeds: vec![seed("a", "eu", 0, 5), seed("b", "eu", 4, 5)],
            tenant_placements: vec![],
        }
    }

    async fn settled(reg: &PolicyRegistry, evaluated: u64) -> Tally {
        for _ in 0..1000 {
            let t = reg.shadows.tally("t", DecisionKind::Placement).unwrap();
            if t.evaluated >= evaluated {
                return t;
            }
            tokio::task::yield_now().await;
        }
        panic!("the shadow never evaluated {evaluated} decisions");
    }

    #[tokio::test]
    async fn a_shadow_is_compared_with_the_live_decision_and_never_acted_on() {
        // The built-in places on the least-loaded seed `a`; the shadow says `b`; an invalid
        // shadow answer (`nowhere`) is a failure.
        let (log, records) = DecisionLog::memory();
        let (reg, metrics, _) = setup_logged(Some("b"), log);
        let env = DecideEnv {
            tenant: "t",
            now: Timestamp(0),
            metrics: &metrics,
        };
        let d = reg.place(&env, &request()).await;
        assert_eq!(
            d.decision.as_ref().unwrap().seed.as_deref(),
            Some("a"),
            "live acts"
        );
        let t = settled(&reg, 1).await;
        assert_eq!((t.disagreed, t.agreed, t.failed), (1, 0, 0));
        let first = reg
            .shadows
            .take_unannounced("t", DecisionKind::Placement)
            .unwrap();
        assert_eq!(first.clusters, ["t/c"]);
        assert_eq!(first.live_module, "builtin");
        assert!(first.shadow.contains(r#""seed":"b""#), "{first:?}");
        assert!(
            reg.shadows
                .take_unannounced("t", DecisionKind::Placement)
                .is_none(),
            "announced once"
        );
        // Its decision-log record: role shadow, its own module and input, compared with the
        // live output it shadowed.
        let logged = records.take();
        let shadow: Vec<_> = logged.iter().filter(|e| e.role == Role::Shadow).collect();
        assert_eq!(shadow.len(), 1, "{logged:?}");
        assert_eq!(shadow[0].module, "sha256:shadow");
        assert_eq!(shadow[0].input.get(), "{}");
        assert_eq!(
            shadow[0].shadow,
            Some(ShadowEntry {
                agrees: false,
                live_module: "builtin".into(),
                live_output_sha256: sha256_hex(d.output_json.as_bytes()),
            })
        );
        let (bad, metrics, _) = setup(Some("nowhere"));
        let env = DecideEnv {
            tenant: "t",
            now: Timestamp(0),
            metrics: &metrics,
        };
        bad.place(&env, &request()).await;
        let t = settled(&bad, 1).await;
        assert_eq!(t.failed, 1);
        assert!(t.last_failure.unwrap().starts_with("invalid_output"));
        assert!(metrics.render().contains(
            r#"fleetward_shadow_decisions_total{tenant="t",kind="placement",result="failed"} 1"#
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_shadow_that_never_answers_fills_its_queue_and_is_skipped_not_waited_for() {
        let (reg, metrics, policy) = setup(None);
        let env = DecideEnv {
            tenant: "t",
            now: Timestamp(0),
            metrics: &metrics,
        };
        let req = request();
        let n = QUEUE + 3;
        // Every live decision returns at once, though no shadow call ever finishes.
        for _ in 0..n {
            let d = tokio::time::timeout(Duration::from_millis(1), reg.place(&env, &req))
                .await
                .expect("the live decision does not wait for its shadow");
            assert_eq!(d.decision.unwrap().seed.as_deref(), Some("a"));
        }
        tokio::task::yield_now().await;
        let t = reg.shadows.tally("t", DecisionKind::Placement).unwrap();
        assert_eq!(t.skipped, 3, "{t:?}");
        assert_eq!(t.evaluated, 0);
        assert_eq!(
            policy.calls.load(Ordering::SeqCst),
            RUNNING,
            "one call runs, the rest queue"
        );
        assert!(metrics.render().contains(
            r#"fleetward_shadow_decisions_total{tenant="t",kind="placement",result="skipped"} 3"#
        ));
    }
}
