//! Value equality as the API server sees it: JSON numbers compare by value.
//!
//! The real server decodes into Go types, so `5`, `5.0` and `5e0` are one value to it: a CRD
//! created with `minimum: 5.0` (as serde serialises an `f64`) and applied again from a YAML file
//! with `minimum: 5` is unchanged, not a conflict. `serde_json::Value`'s own `==` tells an
//! integer from a float, so field comparisons in apply and managed-fields bookkeeping use
//! [`same`] instead.

use serde_json::{Number, Value};

/// Deep equality where numbers are equal when they denote the same value exactly.
pub(crate) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => same_number(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn same_number(x: &Number, y: &Number) -> bool {
    if x == y {
        return true;
    }
    if !x.is_f64() && !y.is_f64() {
        return false; // two different integers
    }
    match (x.as_f64(), y.as_f64()) {
        (Some(p), Some(q)) => p == q && exact(x) && exact(y),
        _ => false,
    }
}

/// Whether the number survives the trip through `f64` (integers beyond 2^53 may not).
fn exact(n: &Number) -> bool {
    // Through i128, so that a cast that saturates (i64::MAX) is not mistaken for exact.
    if let Some(i) = n.as_i64() {
        return i as f64 as i128 == i128::from(i);
    }
    if let Some(u) = n.as_u64() {
        return u as f64 as i128 == i128::from(u);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value() {
        assert!(same(&json!(5), &json!(5.0)));
        assert!(same(&json!(-3.0), &json!(-3)));
        assert!(same(
            &json!({"minimum": 1.0, "x": [2.0]}),
            &json!({"x": [2], "minimum": 1})
        ));
        assert!(!same(&json!(5), &json!(5.5)));
        assert!(!same(&json!(5), &json!(6)));
        assert!(!same(&json!(5), &json!("5")));
        assert!(!same(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!same(&json!([1, 2]), &json!([1])));
        // 2^53 + 1 is not representable as f64: it is not the float 2^53.
        assert!(!same(
            &json!(9_007_199_254_740_993_i64),
            &json!(9_007_199_254_740_992.0)
        ));
        assert!(same(
            &json!(9_007_199_254_740_992_i64),
            &json!(9_007_199_254_740_992.0)
        ));
        assert!(!same(&json!(u64::MAX), &json!(u64::MAX as f64)));
        assert!(!same(&json!(i64::MAX), &json!(i64::MAX as f64)));
    }
}
