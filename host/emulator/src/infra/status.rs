//! Desired status documents and the minimal merge patch that brings an object there.
//!
//! Every fake controller computes a [`DesiredStatus`] purely from what it observed, then asks
//! [`status_patch`] whether the object's current status already says that. Only a real
//! difference produces a write, so a resync or the echo of our own write writes nothing and the
//! controllers cannot loop. Condition timestamps are not part of the comparison:
//! `lastTransitionTime` is kept while a condition's status is unchanged, as the real
//! controllers do.

use serde_json::{Map, Value};

/// How conditions of this kind are shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConditionStyle {
    /// `apps/v1`: `lastUpdateTime` and `lastTransitionTime`.
    Apps,
    /// Cluster API v1beta1: `lastTransitionTime` and `severity` on False conditions.
    ClusterApi,
}

/// One condition the fake wants to see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Condition {
    pub(crate) type_: &'static str,
    pub(crate) status: bool,
    pub(crate) reason: String,
    pub(crate) message: String,
    /// Cluster API severity (`Error`, `Warning`, `Info`) for a False condition.
    pub(crate) severity: Option<&'static str>,
}

impl Condition {
    pub(crate) fn new(type_: &'static str, status: bool, reason: &str, message: &str) -> Self {
        Condition {
            type_,
            status,
            reason: reason.to_owned(),
            message: message.to_owned(),
            severity: None,
        }
    }

    pub(crate) fn with_severity(mut self, severity: &'static str) -> Self {
        self.severity = Some(severity);
        self
    }

    fn status_str(&self) -> &'static str {
        if self.status { "True" } else { "False" }
    }

    fn matches(&self, current: &Value) -> bool {
        let s = |k: &str| current.get(k).and_then(Value::as_str).unwrap_or_default();
        s("status") == self.status_str()
            && s("reason") == self.reason
            && s("message") == self.message
            && s("severity") == self.severity.unwrap_or_default()
    }

    fn render(&self, current: Option<&Value>, style: ConditionStyle, now: &str) -> Value {
        let keep = |k: &str| -> Option<Value> { current.and_then(|c| c.get(k)).cloned() };
        let same_status = current
            .and_then(|c| c.get("status"))
            .and_then(Value::as_str)
            .is_some_and(|s| s == self.status_str());
        let unchanged = current.is_some_and(|c| self.matches(c));
        let mut out = Map::new();
        out.insert("type".into(), Value::from(self.type_));
        out.insert("status".into(), Value::from(self.status_str()));
        if !self.reason.is_empty() {
            out.insert("reason".into(), Value::from(self.reason.clone()));
        }
        if !self.message.is_empty() {
            out.insert("message".into(), Value::from(self.message.clone()));
        }
        if let Some(sev) = self.severity {
            out.insert("severity".into(), Value::from(sev));
        }
        let transition = match keep("lastTransitionTime") {
            Some(t) if same_status => t,
            _ => Value::from(now),
        };
        out.insert("lastTransitionTime".into(), transition);
        if style == ConditionStyle::Apps {
            let update = match keep("lastUpdateTime") {
                Some(t) if unchanged => t,
                _ => Value::from(now),
            };
            out.insert("lastUpdateTime".into(), update);
        }
        Value::Object(out)
    }
}

/// The part of `.status` a fake controller owns.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DesiredStatus {
    /// Top-level status fields; `Value::Null` means "absent".
    pub(crate) fields: Map<String, Value>,
    /// Conditions by type; conditions of other types already present are kept.
    pub(crate) conditions: Vec<Condition>,
    pub(crate) style: ConditionStyle,
}

impl DesiredStatus {
    pub(crate) fn new(style: ConditionStyle) -> Self {
        DesiredStatus {
            fields: Map::new(),
            conditions: Vec::new(),
            style,
        }
    }

    pub(crate) fn set(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        self.fields.insert(key.to_owned(), value.into());
        self
    }

    pub(crate) fn condition(&mut self, c: Condition) -> &mut Self {
        self.conditions.push(c);
        self
    }
}

/// The body of a merge patch to `/status` (`{"status": {...}}`) that turns `current` (the
/// object's `.status`, `Null` when absent) into `desired`, or `None` when nothing differs.
/// `now` is the RFC 3339 time written into changed conditions.
pub(crate) fn status_patch(current: &Value, desired: &DesiredStatus, now: &str) -> Option<Value> {
    let mut patch = Map::new();
    for (k, want) in &desired.fields {
        let have = current.get(k).unwrap_or(&Value::Null);
        if have != want {
            patch.insert(k.clone(), want.clone());
        }
    }
    if !desired.conditions.is_empty() {
        let existing: &[Value] = current
            .get("conditions")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let find = |t: &str| {
            existing
                .iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some(t))
        };
        let changed = desired
            .conditions
            .iter()
            .any(|c| !find(c.type_).is_some_and(|cur| c.matches(cur)));
        if changed {
            let mut list: Vec<Value> = desired
                .conditions
                .iter()
                .map(|c| c.render(find(c.type_), desired.style, now))
                .collect();
            let ours = |v: &Value| {
                let t = v.get("type").and_then(Value::as_str).unwrap_or_default();
                desired.conditions.iter().any(|c| c.type_ == t)
            };
            list.extend(existing.iter().filter(|v| !ours(v)).cloned());
            patch.insert("conditions".into(), Value::Array(list));
        }
    }
    if patch.is_empty() {
        None
    } else {
        let mut body = Map::new();
        body.insert("status".into(), Value::Object(patch));
        Some(Value::Object(body))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn desired(ready: i64, cond: bool) -> DesiredStatus {
        let mut d = DesiredStatus::new(ConditionStyle::Apps);
        d.set("readyReplicas", ready).set("gone", Value::Null);
        d.condition(Condition::new("Available", cond, "R", "m"));
        d
    }

    #[test]
    fn equal_status_needs_no_patch() {
        let current = json!({"readyReplicas": 3, "conditions": [
            {"type": "Available", "status": "True", "reason": "R", "message": "m",
             "lastTransitionTime": "t0", "lastUpdateTime": "t0"}]});
        assert_eq!(status_patch(&current, &desired(3, true), "t1"), None);
    }

    #[test]
    fn changed_field_patches_only_that_field() {
        let current = json!({"readyReplicas": 2, "conditions": [
            {"type": "Available", "status": "True", "reason": "R", "message": "m"}]});
        let patch = status_patch(&current, &desired(3, true), "t1");
        assert_eq!(patch, Some(json!({"status": {"readyReplicas": 3}})));
    }

    #[test]
    fn condition_flip_sets_transition_time_and_keeps_foreign_conditions() {
        let current = json!({"readyReplicas": 3, "conditions": [
            {"type": "Available", "status": "True", "reason": "R", "message": "m",
             "lastTransitionTime": "t0", "lastUpdateTime": "t0"},
            {"type": "Foreign", "status": "True"}]});
        let patch = status_patch(&current, &desired(3, false), "t1");
        assert_eq!(
            patch,
            Some(json!({"status": {"conditions": [
                {"type": "Available", "status": "False", "reason": "R", "message": "m",
                 "lastTransitionTime": "t1", "lastUpdateTime": "t1"},
                {"type": "Foreign", "status": "True"}]}}))
        );
    }

    #[test]
    fn message_change_keeps_transition_time() {
        let current = json!({"readyReplicas": 3, "conditions": [
            {"type": "Available", "status": "True", "reason": "R", "message": "old",
             "lastTransitionTime": "t0", "lastUpdateTime": "t0"}]});
        let patch = status_patch(&current, &desired(3, true), "t1");
        let cond = &patch.unwrap_or_default()["status"]["conditions"][0];
        assert_eq!(cond["lastTransitionTime"], "t0");
        assert_eq!(cond["lastUpdateTime"], "t1");
    }

    #[test]
    fn cluster_api_conditions_carry_severity_and_no_update_time() {
        let mut d = DesiredStatus::new(ConditionStyle::ClusterApi);
        d.condition(Condition::new("Ready", false, "Broken", "x").with_severity("Error"));
        let patch = status_patch(&Value::Null, &d, "t1").unwrap_or_default();
        assert_eq!(
            patch,
            json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Broken",
                "message": "x", "severity": "Error", "lastTransitionTime": "t1"}]}})
        );
    }
}
