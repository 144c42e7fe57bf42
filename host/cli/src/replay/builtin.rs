//! Re-running a `module: builtin` decision: the controller's own built-ins
//! (`core::fallback`) on the request inside the recorded envelope.

use fleetward_controller::core::fallback;
use fleetward_sdk::wire::{DecisionKind, PlacementRequest, RemediationRequest, UpgradeRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::compare::Rerun;

/// The built-in's answer to `request`, serialised as the controller records it
/// (`serde_json::to_string` of the typed decision: fields in declaration order); a request
/// that is not one of its kind fails as `invalid_request`.
pub fn rerun(kind: DecisionKind, request: &Value) -> Rerun {
    match kind {
        DecisionKind::Placement => answer(request, |r: &PlacementRequest| fallback::place(r)),
        DecisionKind::UpgradeOrdering => {
            answer(request, |r: &UpgradeRequest| fallback::order_upgrades(r))
        }
        DecisionKind::Remediation => {
            answer(request, |r: &RemediationRequest| fallback::remediate(r))
        }
    }
}

fn answer<R: DeserializeOwned, D: Serialize>(request: &Value, decide: impl Fn(&R) -> D) -> Rerun {
    let req = match R::deserialize(request) {
        Ok(req) => req,
        Err(e) => {
            return Rerun::Failed {
                label: "invalid_request".into(),
                message: format!("the recorded request is not one of its kind: {e}"),
            };
        }
    };
    match serde_json::to_string(&decide(&req)) {
        Ok(output) => Rerun::Answered { output, fuel: None },
        Err(e) => Rerun::Failed {
            label: "internal".into(),
            message: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_builtin_places_on_the_least_loaded_seed_in_canonical_json() {
        let req = json!({
            "cluster": {"id": {"namespace": "t", "name": "c"}, "labels": {},
                "version": "1.31.0", "constraints": {}},
            "seeds": [
                {"name": "b", "region": "eu", "zone": "eu-1", "provider": "x", "labels": {},
                 "capacity": 10, "clusters": 1, "ready": true,
                 "min_version": "1.30.0", "max_version": "1.40.0"},
                {"name": "a", "region": "eu", "zone": "eu-1", "provider": "x", "labels": {},
                 "capacity": 10, "clusters": 5, "ready": true,
                 "min_version": "1.30.0", "max_version": "1.40.0"}
            ],
            "tenant_placements": []
        });
        let Rerun::Answered { output, .. } = rerun(DecisionKind::Placement, &req) else {
            panic!("{:?}", rerun(DecisionKind::Placement, &req))
        };
        let v: Value = serde_json::from_str(&output).unwrap();
        assert_eq!(v["seed"], "b");
        // The typed decision's own serialisation, as the controller records it.
        let req: PlacementRequest = serde_json::from_value(req).unwrap();
        assert_eq!(
            output,
            serde_json::to_string(&fallback::place(&req)).unwrap()
        );
    }

    #[test]
    fn a_request_of_another_kind_fails_clearly() {
        let Rerun::Failed { label, message } = rerun(DecisionKind::Remediation, &json!({"x": 1}))
        else {
            panic!("expected a failure")
        };
        assert_eq!(label, "invalid_request");
        assert!(message.contains("not one of its kind"), "{message}");
    }
}
