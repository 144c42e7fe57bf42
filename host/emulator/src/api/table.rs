//! Server-side printing: `meta.k8s.io/v1` `Table` responses for `kubectl get`.
//!
//! kubectl asks for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints whatever
//! columns the server returns. Columns come from [`ResourceType::printer_columns`] (a CRD's
//! `additionalPrinterColumns`, or built-in approximations); ages are computed against the
//! emulator's clock so they read naturally under virtual time.

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::registry::{PrinterColumn, ResourceType};
use crate::store::object::{Rendering, StoredObject};

/// Whether the client asked for a Table.
pub fn wanted(accept: &str) -> bool {
    accept.contains("as=Table")
}

/// What each row's `object` carries (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    /// No object.
    None,
    /// `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl Include {
    /// Parses the `includeObject` parameter.
    pub fn parse(v: Option<&str>) -> Include {
        match v {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        }
    }
}

/// kubectl's `HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86_400);
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        if s % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", s % 60)
        }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if d < 8 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else if d < 365 * 8 {
        let y = d / 365;
        if d % 365 == 0 {
            format!("{y}y")
        } else {
            format!("{y}y{}d", d % 365)
        }
    } else {
        format!("{}y", d / 365)
    }
}

fn at<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for seg in path
        .trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
    {
        cur = match cur {
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            other => other.get(seg)?,
        };
    }
    Some(cur)
}

fn cell(obj: &Value, col: &PrinterColumn, now: Timestamp) -> Value {
    let p = col.json_path.as_str();
    if let Some(inner) = p.strip_prefix("len(").and_then(|r| r.strip_suffix(')')) {
        let n = match at(obj, inner) {
            Some(Value::Object(m)) => m.len(),
            Some(Value::Array(a)) => a.len(),
            _ => 0,
        };
        return json!(n);
    }
    if let Some((a, b)) = p
        .strip_prefix("ratio(")
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|r| r.split_once(','))
    {
        let num = |p: &str| at(obj, p).and_then(Value::as_i64).unwrap_or(0);
        return json!(format!("{}/{}", num(a), num(b)));
    }
    match (col.type_.as_str(), at(obj, p)) {
        (_, None | Some(Value::Null)) => json!("<none>"),
        ("date", Some(Value::String(t))) => match t.parse::<Timestamp>() {
            Ok(ts) => json!(human_duration(now.as_second() - ts.as_second())),
            Err(_) => json!(t),
        },
        (_, Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_)))) => v.clone(),
        (_, Some(other)) => json!(other.to_string()),
    }
}

fn column_defs(rt: &ResourceType) -> Value {
    let mut defs = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    for c in &rt.printer_columns {
        let type_ = if c.type_ == "date" {
            "string"
        } else {
            c.type_.as_str()
        };
        defs.push(json!({"name": c.name, "type": type_, "format": "", "description": "", "priority": c.priority}));
    }
    Value::Array(defs)
}

/// A Table of `objects`; `headers` false leaves `columnDefinitions` empty (later watch events).
pub fn table(
    rt: &ResourceType,
    objects: &[Arc<StoredObject>],
    now: Timestamp,
    metadata: Value,
    include: Include,
    headers: bool,
) -> Value {
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let v = o.to_value();
            let mut cells = vec![json!(o.meta.name)];
            cells.extend(rt.printer_columns.iter().map(|c| cell(&v, c, now)));
            let mut row = json!({"cells": cells});
            match include {
                Include::None => {}
                Include::Metadata => {
                    let partial = o.render(&Rendering::PartialMetadata);
                    row["object"] = serde_json::from_slice(&partial).unwrap_or(Value::Null);
                }
                Include::Object => row["object"] = v,
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": if headers { column_defs(rt) } else { json!([]) },
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_kubectl() {
        for (s, want) in [
            (5, "5s"),
            (119, "119s"),
            (150, "2m30s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (9 * 3600, "9h"),
            (3 * 86_400, "3d"),
            (400 * 86_400, "400d"),
            (3 * 365 * 86_400, "3y"),
        ] {
            assert_eq!(human_duration(s), want, "{s}");
        }
    }
}
