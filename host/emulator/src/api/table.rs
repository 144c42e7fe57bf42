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

/// One step of a printer column's JSON path.
#[derive(Debug, PartialEq)]
enum PathStep<'a> {
    /// `.name`
    Field(&'a str),
    /// `[3]`
    Index(usize),
    /// `[?(@.field=="value")]`: the first array item whose `field` equals `value`.
    Filter(&'a str, &'a str),
}

/// Parses the JSON paths printer columns use: `.a.b`, `[3]`, `[?(@.f=="v")]` (also `'v'`).
fn parse_path(path: &str) -> Option<Vec<PathStep<'_>>> {
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("[?(@.") {
            let close = r.find(")]")?;
            let (field, value) = r[..close].split_once("==")?;
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
            steps.push(PathStep::Filter(field.trim(), value));
            rest = &r[close + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']')?;
            steps.push(PathStep::Index(r[..close].parse().ok()?));
            rest = &r[close + 1..];
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end > 0 {
                steps.push(PathStep::Field(&r[..end]));
            }
            rest = &r[end..];
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            steps.push(PathStep::Field(&rest[..end]));
            rest = &rest[end..];
        }
    }
    Some(steps)
}

fn at<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for step in parse_path(path)? {
        cur = match (step, cur) {
            (PathStep::Field(f), Value::Array(a)) => a.get(f.parse::<usize>().ok()?)?,
            (PathStep::Field(f), other) => other.get(f)?,
            (PathStep::Index(i), Value::Array(a)) => a.get(i)?,
            (PathStep::Filter(field, want), Value::Array(a)) => {
                a.iter().find(|item| match item.get(field) {
                    Some(Value::String(s)) => s == want,
                    // A number or boolean compared with the filter's literal.
                    Some(other) => serde_json::from_str::<Value>(want).is_ok_and(|w| w == *other),
                    None => false,
                })?
            }
            _ => return None,
        };
    }
    Some(cur)
}

fn cell(obj: &Value, col: &PrinterColumn, custom: bool, now: Timestamp) -> Value {
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
    if let Some(args) = p.strip_prefix("join(").and_then(|r| r.strip_suffix(')')) {
        // `join(SEP,.a,.b)`: the values joined by SEP (RoleBinding's `Role/name`).
        let mut args = args.split(',');
        let sep = args.next().unwrap_or_default();
        let parts: Vec<String> = args
            .map(|q| match at(obj, q) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            })
            .collect();
        return json!(parts.join(sep));
    }
    match (col.type_.as_str(), at(obj, p)) {
        // The real server leaves a custom resource's missing cells empty; kubectl prints
        // `<none>` for them. The built-in printers write `<none>` themselves.
        (_, None | Some(Value::Null)) if custom => Value::Null,
        (_, None | Some(Value::Null)) => json!("<none>"),
        ("date", Some(Value::String(t))) => match t.parse::<Timestamp>() {
            Ok(ts) => json!(human_duration(now.as_second() - ts.as_second())),
            Err(_) => json!(t),
        },
        (_, Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_)))) => v.clone(),
        (_, Some(other)) => json!(other.to_string()),
    }
}

/// The real server's description of the `Name` column.
const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// The real server's description of the built-in printers' `Age` column.
pub const CREATION_TIMESTAMP_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

fn column_defs(rt: &ResourceType) -> Value {
    let mut defs = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESCRIPTION, "priority": 0}),
    ];
    for c in &rt.printer_columns {
        // A CRD's columns keep their declared type; the built-in printers render dates as
        // strings ("5m") and say so.
        let type_ = if c.type_ == "date" && !rt.custom {
            "string"
        } else {
            c.type_.as_str()
        };
        defs.push(json!({"name": c.name, "type": type_, "format": "", "description": c.description, "priority": c.priority}));
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
            cells.extend(
                rt.printer_columns
                    .iter()
                    .map(|c| cell(&v, c, rt.custom, now)),
            );
            let mut row = json!({"cells": cells});
            match include {
                // The real server sends `"object": null` rather than leaving it out.
                Include::None => row["object"] = Value::Null,
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
    fn printer_column_paths_with_filters() {
        let obj = json!({"status": {"conditions": [
            {"type": "Ready", "status": "False"},
            {"type": "PoliciesReady", "status": "True"},
        ]}, "a": [{"b": 1}]});
        assert_eq!(
            at(
                &obj,
                ".status.conditions[?(@.type==\"PoliciesReady\")].status"
            ),
            Some(&json!("True"))
        );
        assert_eq!(at(&obj, ".a[0].b"), Some(&json!(1)));
        assert_eq!(at(&obj, ".a.0.b"), Some(&json!(1)));
        assert_eq!(
            at(&obj, ".status.conditions[?(@.type=='Gone')].status"),
            None
        );
    }

    #[test]
    fn built_in_column_functions() {
        let col = |p: &str| PrinterColumn {
            name: "X".into(),
            type_: "string".into(),
            json_path: p.into(),
            priority: 0,
            description: String::new(),
        };
        let obj = json!({"roleRef": {"kind": "Role", "name": "leader"}, "secrets": [{}, {}],
            "status": {"readyReplicas": 1}, "spec": {"replicas": 3}});
        let now = Timestamp::UNIX_EPOCH;
        let got = |p: &str| cell(&obj, &col(p), false, now);
        assert_eq!(
            got("join(/,.roleRef.kind,.roleRef.name)"),
            json!("Role/leader")
        );
        assert_eq!(got("len(.secrets)"), json!(2));
        assert_eq!(got("len(.missing)"), json!(0));
        assert_eq!(
            got("ratio(.status.readyReplicas,.spec.replicas)"),
            json!("1/3")
        );
        assert_eq!(got(".spec.absent"), json!("<none>"));
        assert_eq!(cell(&obj, &col(".spec.absent"), true, now), Value::Null);
    }

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
