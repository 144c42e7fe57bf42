//! get and list: selectors, `limit`/`continue` paging over a consistent snapshot, and
//! resourceVersion semantics (`""`/`0`/NotOlderThan = latest, `Exact` = that snapshot).

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};

use super::request::Query;
use crate::registry::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::Store;
use crate::store::filter::ObjectFilter;
use crate::store::object::{ObjKey, Rendering, StoredObject};

/// Builds the object filter from `labelSelector`/`fieldSelector` and the path namespace.
///
/// # Errors
/// 400 for selectors that do not parse or name unsupported fields.
pub fn filter_from_query(
    rt: &ResourceType,
    ns: Option<&str>,
    q: &Query,
) -> Result<ObjectFilter, ApiError> {
    let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or_default())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let selector = q.get("fieldSelector").unwrap_or_default();
    let mut fields = FieldSelector::parse(selector, &rt.selectable_fields)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if crate::events::is_view(rt) {
        // Checked against the view's labels above; filtered on the stored core fields.
        let core: Vec<String> = crate::builtin::EVENT_FIELDS
            .iter()
            .map(|f| f.to_string())
            .collect();
        fields = FieldSelector::parse(&crate::events::core_field_selector(selector), &core)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    Ok(ObjectFilter {
        namespace: ns.map(str::to_string),
        labels,
        fields,
    })
}

/// One page of a list, collected under the store lock and rendered outside it.
#[derive(Debug)]
pub struct ListPage {
    /// The items.
    pub items: Vec<Arc<StoredObject>>,
    /// The snapshot resourceVersion.
    pub rv: u64,
    /// Continue token, if more items follow.
    pub continue_token: Option<String>,
    /// Items after this page (`None` with a selector: the real server omits the count then).
    pub remaining: Option<usize>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn encode_continue(rv: u64, key: &ObjKey) -> String {
    hex(json!({"rv": rv, "ns": key.0, "name": key.1})
        .to_string()
        .as_bytes())
}

fn decode_continue(token: &str) -> Result<(u64, ObjKey), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let v: Value = serde_json::from_slice(&unhex(token).ok_or_else(bad)?).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(bad)
    };
    Ok((rv, (s("ns")?, s("name")?)))
}

fn parse_rv(s: &str) -> Result<u64, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version \"{s}\"")))
}

/// Collects a list page (call with the store locked).
///
/// # Errors
/// 400 for bad parameters, 410 for expired continue tokens or compacted exact versions,
/// 504 for a resourceVersion from the future.
pub fn list_page(
    store: &Store,
    rt: &ResourceType,
    filter: &ObjectFilter,
    q: &Query,
) -> Result<ListPage, ApiError> {
    let limit = match q.non_empty("limit") {
        Some(l) => Some(
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit \"{l}\"")))?,
        ),
        None => None,
    }
    .filter(|l| *l > 0);
    let (at, after) = match q.non_empty("continue") {
        Some(token) => {
            let (rv, key) = decode_continue(token)?;
            (Some(rv), Some(key))
        }
        None => {
            let rv = q.non_empty("resourceVersion").map(parse_rv).transpose()?;
            match (rv, q.get("resourceVersionMatch")) {
                (Some(rv), Some("Exact")) => (Some(rv), None),
                (Some(rv), _) if rv > store.current_rv() => {
                    return Err(ApiError::timeout_too_large(rv, store.current_rv()));
                }
                _ => (None, None),
            }
        }
    };
    let continuing = after.is_some();
    let (mut items, rv) = store
        .list(&rt.storage_key(), at, after.as_ref(), filter)
        .map_err(|c| {
            if continuing {
                ApiError::continue_expired()
            } else {
                ApiError::gone(c.requested, c.oldest)
            }
        })?;
    let mut continue_token = None;
    let mut remaining = None;
    // The real server cannot count what a selector would leave, so it does not say.
    let selective =
        q.non_empty("labelSelector").is_some() || q.non_empty("fieldSelector").is_some();
    if let Some(limit) = limit
        && items.len() > limit
    {
        remaining = (!selective).then(|| items.len() - limit);
        items.truncate(limit);
        if let Some(last) = items.last() {
            continue_token = Some(encode_continue(rv, &last.key()));
        }
    }
    Ok(ListPage {
        items,
        rv,
        continue_token,
        remaining,
    })
}

/// Renders a list page as `{Kind}List` JSON by concatenating the stored object bytes.
pub fn render_list(rt: &ResourceType, rendering: &Rendering, page: &ListPage) -> Bytes {
    let (list_kind, api_version) = rendering.list_type(rt.list_kind());
    let mut metadata = json!({"resourceVersion": page.rv.to_string()});
    if let Some(c) = &page.continue_token {
        metadata["continue"] = json!(c);
        if let Some(n) = page.remaining {
            metadata["remainingItemCount"] = json!(n);
        }
    }
    let head =
        json!({"kind": list_kind, "apiVersion": api_version, "metadata": metadata}).to_string();
    let size: usize = page.items.iter().map(|o| o.json.len() + 1).sum();
    let mut out = BytesMut::with_capacity(head.len() + size + 16);
    // `{"kind":…,"metadata":{…}` + `,"items":[` … `]}`
    out.put_slice(&head.as_bytes()[..head.len() - 1]);
    out.put_slice(b",\"items\":[");
    for (i, o) in page.items.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(&o.render(rendering));
    }
    out.put_slice(b"]}");
    out.freeze()
}
