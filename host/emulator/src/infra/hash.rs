//! Stable short hashes of pod and machine templates.
//!
//! The real controllers name a ReplicaSet, ControllerRevision or MachineSet after a hash of the
//! template it was made from. We need the same: the name must be identical across runs, Rust
//! versions and key orders, so this is FNV-1a over a canonical (sorted-key) JSON rendering,
//! encoded in Kubernetes' "safe" alphabet (no vowels, no look-alike digits).

use serde_json::Value;

const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Ten safe characters identifying `value` (for example a `spec.template`).
pub(crate) fn template_hash(value: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(value, &mut canonical);
    let mut h = fnv1a(canonical.as_bytes());
    let base = SAFE_ALPHABET.len() as u64;
    let mut out = String::with_capacity(10);
    for _ in 0..10 {
        let i = (h % base) as usize;
        out.push(char::from(SAFE_ALPHABET[i]));
        h /= base;
    }
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(k) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn key_order_does_not_matter_and_content_does() {
        let a = json!({"spec": {"version": "v1.30.1", "bootstrap": {"x": 1}}, "metadata": {}});
        let b: Value = serde_json::from_str(
            r#"{"metadata":{},"spec":{"bootstrap":{"x":1},"version":"v1.30.1"}}"#,
        )
        .unwrap_or_default();
        assert_eq!(template_hash(&a), template_hash(&b));
        let c = json!({"spec": {"version": "v1.31.0", "bootstrap": {"x": 1}}, "metadata": {}});
        assert_ne!(template_hash(&a), template_hash(&c));
    }

    #[test]
    fn hash_is_ten_safe_characters_and_stable() {
        let h = template_hash(&json!({"a": 1}));
        assert_eq!(h.len(), 10);
        assert!(h.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
        // Pinned: a MachineSet name must not change between releases.
        assert_eq!(h, "vs2rvdfvnh");
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
