//! Decoding of `application/vnd.kubernetes.protobuf` request bodies for the built-in kinds
//! kubectl creates that way.
//!
//! kubectl's typed commands (`kubectl create namespace`, `kubectl create configmap
//! --from-file`, `kubectl create secret generic`) encode their object as protobuf, with no JSON
//! fallback: a server that cannot read it fails the documented commands with 415. The body is
//! the 4-byte magic `k8s\0` followed by a `runtime.Unknown` envelope whose `typeMeta` names the
//! kind and whose `raw` holds the object's message. This module turns exactly those objects
//! (Namespace, ConfigMap, Secret) into the JSON object the rest of the emulator works with; any
//! other kind stays a 415 that names it and says how to send it instead. Responses are JSON,
//! which kubectl accepts alongside protobuf.
//!
//! A hand-written table-driven decoder ([`messages`]) over a bounds-checked wire reader
//! ([`wire`]) is a few hundred lines; a code generator plus the upstream `.proto` files would
//! be far more for three message types.

pub(crate) mod messages;
pub(crate) mod wire;

use serde_json::Value;

pub use self::messages::DecodeError;

/// The `Content-Type` of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The prefix of every Kubernetes protobuf body.
const MAGIC: &[u8; 4] = b"k8s\0";

/// The kinds whose protobuf bodies are decoded: (apiVersion, kind, message).
const DECODED: &[(&str, &str, &messages::Message)] = &[
    ("v1", "Namespace", &messages::NAMESPACE),
    ("v1", "ConfigMap", &messages::CONFIG_MAP),
    ("v1", "Secret", &messages::SECRET),
];

/// Why a protobuf body was not turned into an object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error("the body does not start with the Kubernetes protobuf magic \"k8s\\0\"")]
    NoMagic,
    /// The envelope or the object could not be decoded.
    #[error("{0}")]
    Malformed(#[from] DecodeError),
    /// The envelope names no kind.
    #[error("the protobuf envelope has no typeMeta kind")]
    NoKind,
    /// The raw object is compressed or not itself protobuf.
    #[error(
        "unsupported protobuf envelope contentEncoding {encoding:?} / contentType {content_type:?}"
    )]
    Envelope {
        /// `contentEncoding` of the envelope.
        encoding: String,
        /// `contentType` of the envelope.
        content_type: String,
    },
    /// A well-formed body of a kind the emulator does not decode.
    #[error(
        "the emulator decodes protobuf bodies only for Namespace, ConfigMap and Secret (v1), not {kind} ({api_version}); send it as JSON instead, e.g. `kubectl apply --server-side -f`"
    )]
    UnsupportedKind {
        /// The envelope's `apiVersion`.
        api_version: String,
        /// The envelope's `kind`.
        kind: String,
    },
}

/// Decodes a Kubernetes protobuf body into the JSON object with its `apiVersion` and `kind`.
///
/// # Errors
/// [`ProtobufError::UnsupportedKind`] for kinds other than v1 Namespace, ConfigMap and Secret;
/// the other variants for bodies that are not well-formed Kubernetes protobuf.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = body.strip_prefix(MAGIC).ok_or(ProtobufError::NoMagic)?;
    let unknown = Envelope::read(envelope)?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    let api_version = text(unknown.type_meta.get("apiVersion"));
    let kind = text(unknown.type_meta.get("kind"));
    if kind.is_empty() {
        return Err(ProtobufError::NoKind);
    }
    if !unknown.encoding.is_empty()
        || !(unknown.content_type.is_empty() || unknown.content_type == CONTENT_TYPE)
    {
        return Err(ProtobufError::Envelope {
            encoding: unknown.encoding,
            content_type: unknown.content_type,
        });
    }
    let Some((_, _, message)) = DECODED
        .iter()
        .find(|(av, k, _)| *av == api_version && *k == kind)
    else {
        return Err(ProtobufError::UnsupportedKind { api_version, kind });
    };
    let mut object = messages::decode(message, unknown.raw)?;
    object.insert("apiVersion".into(), Value::String(api_version));
    object.insert("kind".into(), Value::String(kind));
    Ok(Value::Object(object))
}

/// `runtime.Unknown`: `typeMeta = 1`, `raw = 2`, `contentEncoding = 3`, `contentType = 4`.
struct Envelope<'a> {
    type_meta: serde_json::Map<String, Value>,
    raw: &'a [u8],
    encoding: String,
    content_type: String,
}

impl<'a> Envelope<'a> {
    fn read(buf: &'a [u8]) -> Result<Envelope<'a>, DecodeError> {
        let mut e = Envelope {
            type_meta: serde_json::Map::new(),
            raw: &[],
            encoding: String::new(),
            content_type: String::new(),
        };
        for field in wire::Fields::new(buf) {
            let (number, value) = field.map_err(|source| DecodeError::Wire {
                message: "Unknown",
                source,
            })?;
            let wire::WireValue::Bytes(b) = value else {
                return Err(DecodeError::WrongWireType {
                    message: "Unknown",
                    field: ["typeMeta", "raw", "contentEncoding", "contentType"]
                        .get(number.wrapping_sub(1) as usize)
                        .copied()
                        .unwrap_or("?"),
                    expected: "length-delimited",
                    found: value.wire_name(),
                });
            };
            let text = |field| {
                String::from_utf8(b.to_vec()).map_err(|_| DecodeError::NotUtf8 {
                    message: "Unknown",
                    field,
                })
            };
            match number {
                1 => e.type_meta = messages::decode(&messages::TYPE_META, b)?,
                2 => e.raw = b,
                3 => e.encoding = text("contentEncoding")?,
                4 => e.content_type = text("contentType")?,
                number => {
                    return Err(DecodeError::UnsupportedField {
                        message: "Unknown",
                        number,
                    });
                }
            }
        }
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::wire::encode::{bytes, entry};
    use super::*;
    use serde_json::json;

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = [bytes(1, api_version.as_bytes()), bytes(2, kind.as_bytes())].concat();
        let unknown = [
            bytes(1, &type_meta),
            bytes(2, raw),
            bytes(3, b""),
            bytes(4, b""),
        ]
        .concat();
        [MAGIC.as_slice(), &unknown].concat()
    }

    #[test]
    fn a_config_map_in_its_envelope() {
        let raw = [
            bytes(1, &[bytes(1, b"cfg"), bytes(3, b"default")].concat()),
            entry(2, "policy.yaml", b"a: 1\n"),
        ]
        .concat();
        assert_eq!(
            decode(&envelope("v1", "ConfigMap", &raw)),
            Ok(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "cfg", "namespace": "default"},
                "data": {"policy.yaml": "a: 1\n"}}))
        );
    }

    #[test]
    fn other_kinds_are_named_in_the_refusal() {
        let err = decode(&envelope("apps/v1", "Deployment", b"")).unwrap_err();
        assert_eq!(
            err,
            ProtobufError::UnsupportedKind {
                api_version: "apps/v1".into(),
                kind: "Deployment".into()
            }
        );
        let msg = err.to_string();
        assert!(
            msg.contains("Deployment (apps/v1)") && msg.contains("--server-side"),
            "{msg}"
        );
    }

    #[test]
    fn malformed_envelopes() {
        assert_eq!(decode(b"{\"kind\":\"x\"}"), Err(ProtobufError::NoMagic));
        assert_eq!(decode(b"k8s\0"), Err(ProtobufError::NoKind));
        let gz = [
            MAGIC.as_slice(),
            &bytes(1, &bytes(2, b"Secret")),
            &bytes(3, b"gzip"),
        ]
        .concat();
        assert!(matches!(
            decode(&gz),
            Err(ProtobufError::Envelope { encoding, .. }) if encoding == "gzip"
        ));
        let cut = envelope("v1", "Secret", &bytes(1, b"x"))[..20].to_vec();
        assert!(matches!(decode(&cut), Err(ProtobufError::Malformed(_))));
    }
}
