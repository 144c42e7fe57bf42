//! The API server proper: routes a request to discovery or to a resource handler, applies
//! request faults, runs the verb under the store lock, and renders the response.

pub mod crd;
pub mod gc;
pub mod objects;
pub mod patching;
pub mod path;
pub mod read;
pub mod request;
pub mod response;
pub mod scale;
pub mod service;
pub mod table;
pub mod write;
pub mod writer;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http::{Method, Response};
use serde_json::json;

use self::gc::{DeleteOptions, DeleteOutcome};
use self::path::{ResourcePath, Route};
use self::request::ApiRequest;
use self::response::ResponseBody;
use self::writer::Writer;
use crate::audit::{Audit, Verb};
use crate::clock::Clock;
use crate::faults::{FaultTarget, Faults};
use crate::registry::ResourceType;
use crate::status::ApiError;
use crate::store::Store;
use crate::store::object::{Rendering, StoredObject};
use crate::watch::{self, WatchParams, WatchTable};

/// State shared by every request of one emulator.
#[derive(Debug)]
pub(crate) struct Shared {
    pub clock: Clock,
    pub store: Arc<Mutex<Store>>,
    pub faults: Faults,
    pub audit: Audit,
    pub requests: crate::requests::Requests,
    pub bookmark_interval: Duration,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Resp = Response<ResponseBody>;

/// Handles one request.
pub(crate) fn handle(shared: &Arc<Shared>, req: &ApiRequest) -> Resp {
    shared.requests.request();
    let result = match path::parse(&req.path) {
        Route::Resource(p) => resource(shared, req, p),
        Route::Unknown => Err(ApiError::path_not_found()),
        _ if req.method != Method::GET => Err(ApiError::method_not_allowed()),
        Route::CoreVersions => Ok(response::value(
            200,
            &crate::discovery::core_versions("127.0.0.1"),
        )),
        Route::Groups => Ok(response::value(
            200,
            &crate::discovery::groups(&shared.lock().registry),
        )),
        Route::Group(g) => crate::discovery::group(&shared.lock().registry, &g)
            .map(|d| response::value(200, &d))
            .ok_or_else(ApiError::path_not_found),
        Route::Resources { group, version } => {
            crate::discovery::resources(&shared.lock().registry, &group, &version)
                .map(|d| response::value(200, &d))
                .ok_or_else(ApiError::path_not_found)
        }
        Route::OpenApiV3Index => Ok(response::value(
            200,
            &crate::discovery::openapi::index(&shared.lock().registry),
        )),
        Route::OpenApiV3 { group, version } => {
            crate::discovery::openapi::group_version(&shared.lock().registry, &group, &version)
                .map(|d| response::value(200, &d))
                .ok_or_else(ApiError::path_not_found)
        }
        Route::Version => Ok(response::value(200, &crate::discovery::version())),
        Route::Health => Ok(response::json(200, "ok")),
        Route::OpenApiV2 => {
            let (body, content_type) =
                crate::discovery::openapi::v2(req.accept.contains("protobuf"));
            Ok(response::with_type(200, content_type, body))
        }
    };
    result.unwrap_or_else(|e| response::error(&e))
}

fn verb_of(req: &ApiRequest, p: &ResourcePath) -> Option<Verb> {
    let named = p.name.is_some();
    Some(match (&req.method, named) {
        (&Method::GET, _) if req.query.flag("watch") => Verb::Watch,
        (&Method::GET, false) => Verb::List,
        (&Method::GET, true) => Verb::Get,
        (&Method::POST, false) => Verb::Create,
        (&Method::PUT, true) => Verb::Update,
        (&Method::PATCH, true) if req.content_type.starts_with("application/apply-patch") => {
            Verb::Apply
        }
        (&Method::PATCH, true) => Verb::Patch,
        (&Method::DELETE, true) => Verb::Delete,
        (&Method::DELETE, false) => Verb::DeleteCollection,
        _ => return None,
    })
}

/// Whether `Accept` lists only protobuf: a JSON answer would be misread, so it is a 406 (kubectl
/// sends `application/vnd.kubernetes.protobuf,application/json` and gets JSON).
fn accepts_protobuf_only(accept: &str) -> bool {
    let mut types = accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or_default().trim())
        .filter(|t| !t.is_empty())
        .peekable();
    types.peek().is_some() && types.all(|t| t.eq_ignore_ascii_case(crate::protobuf::CONTENT_TYPE))
}

fn object_response(code: u16, rt: &ResourceType, obj: &StoredObject) -> Resp {
    response::json(code, obj.json_as(&rt.api_version()))
}

fn resource(shared: &Arc<Shared>, req: &ApiRequest, p: ResourcePath) -> Result<Resp, ApiError> {
    if accepts_protobuf_only(&req.accept) {
        return Err(ApiError::not_acceptable());
    }
    let rt = shared
        .lock()
        .registry
        .get(&p.group, &p.version, &p.plural)
        .ok_or_else(ApiError::path_not_found)?;
    if (!rt.namespaced && p.namespace.is_some())
        || (rt.namespaced && p.name.is_some() && p.namespace.is_none())
    {
        return Err(ApiError::path_not_found());
    }
    let sub = p.subresource.as_deref();
    match sub {
        None => {}
        Some("status") if rt.status_subresource => {}
        Some("scale") if rt.scale.is_some() => {}
        _ => return Err(ApiError::path_not_found()),
    }
    let verb = verb_of(req, &p).ok_or_else(ApiError::method_not_allowed)?;
    shared.requests.resource(verb, &rt.group, &rt.plural);
    if sub.is_some() && !matches!(verb, Verb::Get | Verb::Update | Verb::Patch | Verb::Apply) {
        return Err(ApiError::method_not_allowed());
    }
    let ns = p.namespace.as_deref();
    let name = p.name.as_deref();
    if let Some(e) = shared.faults.check(FaultTarget {
        verb,
        group: &rt.group,
        resource: &rt.plural,
        namespace: ns,
        name,
    }) {
        return Err(e);
    }
    if sub == Some("scale") {
        return scale::handle(shared, req, &rt, verb, ns, name.unwrap_or_default());
    }
    match verb {
        Verb::Get => {
            let name = name.unwrap_or_default();
            let key = (ns.unwrap_or_default().to_string(), name.to_string());
            let obj = shared
                .lock()
                .get(&rt.storage_key(), &key)
                .ok_or_else(|| ApiError::not_found(rt.subject(), name))?;
            if table::wanted(&req.accept) {
                let md = json!({"resourceVersion": obj.meta.rv.to_string()});
                let include = table::Include::parse(req.query.get("includeObject"));
                let t = table::table(&rt, &[obj], shared.clock.now(), md, include, true);
                return Ok(response::value(200, &t));
            }
            let rendering = Rendering::from_accept(&req.accept, rt.api_version());
            Ok(response::json(200, obj.render(&rendering)))
        }
        Verb::List => {
            let filter = read::filter_from_query(&rt, ns, &req.query)?;
            let page = read::list_page(&shared.lock(), &rt, &filter, &req.query)?;
            if table::wanted(&req.accept) {
                let mut md = json!({"resourceVersion": page.rv.to_string()});
                if let Some(c) = &page.continue_token {
                    md["continue"] = json!(c);
                    if let Some(n) = page.remaining {
                        md["remainingItemCount"] = json!(n);
                    }
                }
                let include = table::Include::parse(req.query.get("includeObject"));
                let t = table::table(&rt, &page.items, shared.clock.now(), md, include, true);
                return Ok(response::value(200, &t));
            }
            let rendering = Rendering::from_accept(&req.accept, rt.api_version());
            Ok(response::json(
                200,
                read::render_list(&rt, &rendering, &page),
            ))
        }
        Verb::Watch => watch_response(shared, req, &rt, ns, name),
        Verb::Create => {
            let mut body = objects::parse_object(&req.content_type, &req.body)?;
            let manager = req.manager();
            let obj = if crate::events::is_view(&rt) {
                // Field ownership is recorded in the view's shape, as the real server records
                // it in the request's version; the core form is stored.
                objects::check_type_meta(&rt, &mut body)?;
                let core = core_events(shared)?;
                with_writer(shared, req, verb, |w| {
                    crate::patch::record_update(None, &mut body, &manager, &w.now, None);
                    let body = crate::events::to_core(body);
                    write::create(w, &core, ns, body, write::Fields::Applied)
                })?
            } else {
                with_writer(shared, req, verb, |w| {
                    write::create(w, &rt, ns, body, write::Fields::Update(&manager))
                })?
            };
            Ok(object_response(201, &rt, &obj))
        }
        Verb::Update => {
            let mut body = objects::parse_object(&req.content_type, &req.body)?;
            let target = write_target(shared, &rt, &mut body)?;
            let manager = req.manager();
            let name = name.unwrap_or_default();
            let (obj, created) = with_writer(shared, req, verb, |w| {
                write::replace(w, &target, ns, name, sub, body, &manager)
            })?;
            Ok(object_response(if created { 201 } else { 200 }, &rt, &obj))
        }
        Verb::Patch | Verb::Apply => {
            let name = name.unwrap_or_default();
            let (obj, created) = with_writer(shared, req, verb, |w| {
                patching::patch(w, &rt, ns, name, sub, req)
            })?;
            Ok(object_response(if created { 201 } else { 200 }, &rt, &obj))
        }
        Verb::Delete => {
            let opts = DeleteOptions::parse(&req.body, req.query.get("propagationPolicy"))?;
            let name = name.unwrap_or_default();
            let outcome = with_writer(shared, req, verb, |w| gc::delete(w, &rt, ns, name, &opts))?;
            Ok(delete_response(&rt, outcome))
        }
        Verb::DeleteCollection => {
            let opts = DeleteOptions::parse(&req.body, req.query.get("propagationPolicy"))?;
            let filter = read::filter_from_query(&rt, ns, &req.query)?;
            let deleted = with_writer(shared, req, verb, |w| {
                let (items, _) = w
                    .store
                    .list(&rt.storage_key(), None, None, &filter)
                    .map_err(|c| ApiError::gone(c.requested, c.oldest))?;
                let mut out = Vec::new();
                for item in items {
                    let item_ns =
                        (!item.meta.namespace.is_empty()).then_some(item.meta.namespace.as_str());
                    if let Ok(o) = gc::delete(w, &rt, item_ns, &item.meta.name, &opts) {
                        out.push(match o {
                            DeleteOutcome::Deleted(s) | DeleteOutcome::Pending(s) => s,
                        });
                    }
                }
                Ok(out)
            })?;
            let rv = shared.lock().current_rv();
            let page = read::ListPage {
                items: deleted,
                rv,
                continue_token: None,
                remaining: None,
            };
            let full = Rendering::Full {
                api_version: rt.api_version(),
            };
            Ok(response::json(200, read::render_list(&rt, &full, &page)))
        }
    }
}

/// The type a create or update body is written as: `rt` itself, or for the `events.k8s.io`
/// view the core Event, with `body` checked against the view and converted to the core form
/// ([`crate::events`]).
fn write_target(
    shared: &Shared,
    rt: &Arc<ResourceType>,
    body: &mut serde_json::Value,
) -> Result<Arc<ResourceType>, ApiError> {
    if !crate::events::is_view(rt) {
        return Ok(rt.clone());
    }
    objects::check_type_meta(rt, body)?;
    *body = crate::events::to_core(std::mem::take(body));
    core_events(shared)
}

/// The core Event type, which stores both Event views.
fn core_events(shared: &Shared) -> Result<Arc<ResourceType>, ApiError> {
    shared
        .lock()
        .registry
        .get("", "v1", "events")
        .ok_or_else(ApiError::path_not_found)
}

/// Runs a mutating handler under the store lock; counts it in the audit if it succeeded.
pub(crate) fn with_writer<T>(
    shared: &Shared,
    req: &ApiRequest,
    verb: Verb,
    f: impl FnOnce(&mut Writer<'_>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut store = shared.lock();
    let mut w = Writer {
        store: &mut store,
        audit: &shared.audit,
        now: shared.clock.now_rfc3339(),
        user_agent: req.user_agent.clone(),
        verb,
        dry_run: req.dry_run(),
        strict_fields: req.query.get("fieldValidation") == Some("Strict"),
    };
    let r = f(&mut w);
    if r.is_ok() && !req.dry_run() {
        shared.audit.count_request();
    }
    r
}

fn delete_response(rt: &ResourceType, outcome: DeleteOutcome) -> Resp {
    match outcome {
        DeleteOutcome::Pending(obj) => object_response(200, rt, &obj),
        DeleteOutcome::Deleted(obj) => {
            let mut details =
                json!({"name": obj.meta.name, "kind": rt.plural, "uid": obj.meta.uid});
            if !rt.group.is_empty() {
                details["group"] = json!(rt.group);
            }
            response::value(
                200,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
            )
        }
    }
}

fn watch_response(
    shared: &Arc<Shared>,
    req: &ApiRequest,
    rt: &Arc<ResourceType>,
    ns: Option<&str>,
    name: Option<&str>,
) -> Result<Resp, ApiError> {
    let mut filter = read::filter_from_query(rt, ns, &req.query)?;
    if let Some(name) = name {
        // Legacy `GET …/name?watch=true`: a watch of that one object.
        filter.fields =
            crate::selectors::FieldSelector::parse(&format!("metadata.name={name}"), &[])
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let from = match req.query.non_empty("resourceVersion") {
        None | Some("0") => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version \"{s}\"")))?,
        ),
    };
    let send_initial = req.query.flag("sendInitialEvents");
    let from = if send_initial { None } else { from };
    let timeout = req
        .query
        .non_empty("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let params = WatchParams {
        api_version: rt.api_version(),
        rendering: Rendering::from_accept(&req.accept, rt.api_version()),
        table: table::wanted(&req.accept).then(|| WatchTable {
            rt: rt.clone(),
            clock: shared.clock.clone(),
            include: table::Include::parse(req.query.get("includeObject")),
        }),
        kind: rt.kind.clone(),
        timeout,
        bookmarks: req.query.flag("allowWatchBookmarks"),
        initial_events_end: send_initial,
        bookmark_interval: shared.bookmark_interval,
    };
    let cut = shared.faults.cut_signal();
    let reg = shared.lock().watch(&rt.storage_key(), filter, from);
    match reg {
        Ok(reg) => Ok(response::stream(watch::stream(
            reg,
            shared.store.clone(),
            cut,
            params,
        ))),
        Err(c) => Ok(response::stream(watch::error_stream(&ApiError::gone(
            c.requested,
            c.oldest,
        )))),
    }
}
