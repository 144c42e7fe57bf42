//! Request fault injection: fail chosen requests, cut watch streams, expire watch history.
//!
//! Every fault is bounded (a count or a `max`) and deterministic (ratios draw from a seeded
//! generator), so a fault test replays identically and always terminates.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::audit::Verb;
use crate::status::{ApiError, Subject};
use crate::store::Store;
use crate::store::rng::Rng;

/// The error a matching request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 409 Conflict (as for a stale resourceVersion).
    Conflict,
    /// 429 TooManyRequests.
    TooManyRequests,
    /// 500 InternalError.
    InternalError,
    /// 504 Timeout.
    Timeout,
}

/// The whole API server failing, as a seed whose API server is down, hung, slow or erroring
/// looks to a client (see [`Faults::begin_outage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// Every request fails to connect (in-process: the transport returns a
    /// `ConnectionRefused` I/O error, as a closed port would).
    Unreachable,
    /// Every request waits, unanswered, until the outage ends (a hung API server or a black-holed
    /// network); only the client's own timeout ends it sooner.
    Hang,
    /// Every request is answered after this extra delay.
    Slow(std::time::Duration),
    /// Every request is answered with this error.
    Errors(Fault),
}

/// Which requests a fault applies to; `None` fields match anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultRule {
    /// Verb to match.
    pub verb: Option<Verb>,
    /// Resource plural to match, e.g. `deployments`.
    pub resource: Option<String>,
    /// Namespace to match.
    pub namespace: Option<String>,
    /// Object name to match.
    pub name: Option<String>,
}

impl FaultRule {
    /// Matches every request.
    pub fn any() -> FaultRule {
        FaultRule::default()
    }

    /// Only this verb.
    pub fn verb(mut self, verb: Verb) -> FaultRule {
        self.verb = Some(verb);
        self
    }

    /// Only this resource plural.
    pub fn resource(mut self, resource: &str) -> FaultRule {
        self.resource = Some(resource.to_string());
        self
    }

    /// Only this namespace.
    pub fn namespace(mut self, namespace: &str) -> FaultRule {
        self.namespace = Some(namespace.to_string());
        self
    }

    /// Only this object name.
    pub fn name(mut self, name: &str) -> FaultRule {
        self.name = Some(name.to_string());
        self
    }

    fn matches(&self, req: &FaultTarget<'_>) -> bool {
        self.verb.is_none_or(|v| v == req.verb)
            && self.resource.as_deref().is_none_or(|r| r == req.resource)
            && self
                .namespace
                .as_deref()
                .is_none_or(|n| Some(n) == req.namespace)
            && self.name.as_deref().is_none_or(|n| Some(n) == req.name)
    }
}

/// The request a fault is checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FaultTarget<'a> {
    pub verb: Verb,
    pub group: &'a str,
    pub resource: &'a str,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

#[derive(Debug)]
struct Armed {
    rule: FaultRule,
    fault: Fault,
    remaining: u32,
    per_mille: Option<u32>,
}

#[derive(Debug)]
struct State {
    armed: Vec<Armed>,
    rng: Rng,
}

/// Request faults of one emulator. Obtain it with `Emulator::faults()`.
#[derive(Debug)]
pub struct Faults {
    state: Mutex<State>,
    store: Arc<Mutex<Store>>,
    cut: watch::Sender<u64>,
    outage: watch::Sender<Option<Outage>>,
}

impl Faults {
    pub(crate) fn new(seed: u64, store: Arc<Mutex<Store>>) -> Faults {
        let (cut, _) = watch::channel(0);
        let (outage, _) = watch::channel(None);
        Faults {
            outage,
            state: Mutex::new(State {
                armed: Vec::new(),
                rng: Rng::new(seed ^ 0xFA17),
            }),
            store,
            cut,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next `times` requests matching `rule` fail with `fault`.
    pub fn fail_next(&self, rule: FaultRule, times: u32, fault: Fault) {
        self.state().armed.push(Armed {
            rule,
            fault,
            remaining: times,
            per_mille: None,
        });
    }

    /// Each request matching `rule` fails with probability `per_mille`/1000 (seeded), at most
    /// `max` times in total.
    pub fn fail_ratio(&self, rule: FaultRule, per_mille: u32, fault: Fault, max: u32) {
        self.state().armed.push(Armed {
            rule,
            fault,
            remaining: max,
            per_mille: Some(per_mille.min(1000)),
        });
    }

    /// Ends every open watch stream now; clients re-watch from their last resourceVersion.
    pub fn cut_watches(&self) {
        self.store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drop_watchers();
        self.cut.send_modify(|g| *g += 1);
    }

    /// Forgets the retained change history: the next watch (or paged list) from any older
    /// resourceVersion gets 410 Gone, so clients relist.
    pub fn expire_watch_history(&self) {
        self.store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .expire_history();
    }

    /// Starts an outage of the whole server: every request from now on — reads, writes, new
    /// watches — meets `outage` until [`Faults::end_outage`]. Open watch streams are cut at once
    /// (their connections would die with the server; for `Slow` they re-watch slowly). Replaces
    /// an outage already running.
    pub fn begin_outage(&self, outage: Outage) {
        self.outage.send_replace(Some(outage));
        self.cut_watches();
    }

    /// Ends the outage: waiting (hung) requests are served now, new ones as usual.
    pub fn end_outage(&self) {
        self.outage.send_replace(None);
    }

    /// The outage running now, if any.
    pub fn outage(&self) -> Option<Outage> {
        *self.outage.borrow()
    }

    /// Applies the running outage to one request: `Err` for an unreachable server, `Ok(Some)`
    /// with the error response's status for an erroring one, `Ok(None)` to serve it (after
    /// waiting out a hang or a slow server's delay).
    pub(crate) async fn meet_outage(&self) -> Result<Option<ApiError>, std::io::Error> {
        let mut rx = self.outage.subscribe();
        loop {
            let current = *rx.borrow_and_update();
            match current {
                None => return Ok(None),
                Some(Outage::Unreachable) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionRefused,
                        "connection refused (emulated API server outage)",
                    ));
                }
                Some(Outage::Errors(f)) => {
                    let subject = Subject {
                        group: "",
                        resource: "",
                    };
                    return Ok(Some(match f {
                        Fault::Conflict => ApiError::conflict(subject, ""),
                        Fault::TooManyRequests => ApiError::too_many_requests(),
                        Fault::InternalError => ApiError::internal("emulated API server outage"),
                        Fault::Timeout => ApiError::timeout(),
                    }));
                }
                Some(Outage::Slow(d)) => {
                    tokio::time::sleep(d).await;
                    return Ok(None);
                }
                Some(Outage::Hang) => {
                    // Wait for the outage to change (end, or turn into another kind).
                    if rx.changed().await.is_err() {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Disarms every request fault.
    pub fn clear(&self) {
        self.state().armed.clear();
    }

    /// A receiver that changes whenever [`Faults::cut_watches`] is called.
    pub(crate) fn cut_signal(&self) -> watch::Receiver<u64> {
        self.cut.subscribe()
    }

    /// The injected error for this request, if a rule fires.
    pub(crate) fn check(&self, target: FaultTarget<'_>) -> Option<ApiError> {
        let mut st = self.state();
        let State { armed, rng } = &mut *st;
        let mut fired = None;
        for a in armed.iter_mut() {
            if a.remaining == 0 || !a.rule.matches(&target) {
                continue;
            }
            if let Some(p) = a.per_mille
                && rng.per_mille() >= p
            {
                continue;
            }
            a.remaining -= 1;
            fired = Some(a.fault);
            break;
        }
        armed.retain(|a| a.remaining > 0);
        let subject = Subject {
            group: target.group,
            resource: target.resource,
        };
        fired.map(|f| match f {
            Fault::Conflict => ApiError::conflict(subject, target.name.unwrap_or_default()),
            Fault::TooManyRequests => ApiError::too_many_requests(),
            Fault::InternalError => ApiError::internal("injected fault"),
            Fault::Timeout => ApiError::timeout(),
        })
    }
}
