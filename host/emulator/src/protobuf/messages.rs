//! The few Kubernetes protobuf messages the emulator decodes, as tables, and the walk that
//! turns one into the JSON object the real server's JSON codec would have produced.
//!
//! Field numbers are those of `k8s.io/api/core/v1/generated.proto` and
//! `k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto`. Go's generated marshallers write
//! non-pointer scalars even when they are empty (`selfLink: ""`, `generation: 0`, an empty
//! `creationTimestamp`), so empty strings, zero integers and zero times are left out, as
//! `omitempty` leaves them out of JSON. A field number a table does not list is refused with
//! its message and number rather than dropped: the emulator never stores less than was sent.

use jiff::Timestamp;
use k8s_openapi::ByteString;
use serde_json::{Map, Value};

use super::wire::{Fields, WireError, WireValue};

/// How one field becomes JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    /// `string`; left out when empty.
    String,
    /// `bool` (optional pointer fields: kept when present, even `false`).
    Bool,
    /// `int64`/`int32`; left out when zero.
    Int,
    /// `meta/v1 Time` (`seconds = 1`, `nanos = 2`); RFC 3339, left out when zero.
    Time,
    /// An embedded message, always kept (Go's non-pointer structs: `spec: {}`).
    Message(&'static Message),
    /// `map<string, string>`; left out when empty.
    StringMap,
    /// `map<string, bytes>`, base64 values; left out when empty.
    BytesMap,
    /// `repeated string`; left out when empty.
    StringList,
    /// `repeated` message.
    MessageList(&'static Message),
}

/// One field of a message: its number, its JSON name and its shape.
#[derive(Debug)]
pub(crate) struct FieldDef {
    number: u32,
    json: &'static str,
    shape: Shape,
}

/// A message type: its name (for errors) and its fields.
#[derive(Debug)]
pub(crate) struct Message {
    /// e.g. `ObjectMeta`.
    pub name: &'static str,
    fields: &'static [FieldDef],
}

const fn f(number: u32, json: &'static str, shape: Shape) -> FieldDef {
    FieldDef {
        number,
        json,
        shape,
    }
}

/// `meta/v1 OwnerReference`.
static OWNER_REFERENCE: Message = Message {
    name: "OwnerReference",
    fields: &[
        f(1, "kind", Shape::String),
        f(3, "name", Shape::String),
        f(4, "uid", Shape::String),
        f(5, "apiVersion", Shape::String),
        f(6, "controller", Shape::Bool),
        f(7, "blockOwnerDeletion", Shape::Bool),
    ],
};

/// `meta/v1 ObjectMeta` without `managedFields` (17), which a client does not send on create.
pub(crate) static OBJECT_META: Message = Message {
    name: "ObjectMeta",
    fields: &[
        f(1, "name", Shape::String),
        f(2, "generateName", Shape::String),
        f(3, "namespace", Shape::String),
        f(4, "selfLink", Shape::String),
        f(5, "uid", Shape::String),
        f(6, "resourceVersion", Shape::String),
        f(7, "generation", Shape::Int),
        f(8, "creationTimestamp", Shape::Time),
        f(9, "deletionTimestamp", Shape::Time),
        f(10, "deletionGracePeriodSeconds", Shape::Int),
        f(11, "labels", Shape::StringMap),
        f(12, "annotations", Shape::StringMap),
        f(13, "ownerReferences", Shape::MessageList(&OWNER_REFERENCE)),
        f(14, "finalizers", Shape::StringList),
    ],
};

/// `core/v1 ConfigMap`.
pub(crate) static CONFIG_MAP: Message = Message {
    name: "ConfigMap",
    fields: &[
        f(1, "metadata", Shape::Message(&OBJECT_META)),
        f(2, "data", Shape::StringMap),
        f(3, "binaryData", Shape::BytesMap),
        f(4, "immutable", Shape::Bool),
    ],
};

/// `core/v1 Secret`.
pub(crate) static SECRET: Message = Message {
    name: "Secret",
    fields: &[
        f(1, "metadata", Shape::Message(&OBJECT_META)),
        f(2, "data", Shape::BytesMap),
        f(3, "type", Shape::String),
        f(4, "stringData", Shape::StringMap),
        f(5, "immutable", Shape::Bool),
    ],
};

static NAMESPACE_SPEC: Message = Message {
    name: "NamespaceSpec",
    fields: &[f(1, "finalizers", Shape::StringList)],
};

/// `NamespaceStatus` without `conditions` (2), which only the namespace controller writes.
static NAMESPACE_STATUS: Message = Message {
    name: "NamespaceStatus",
    fields: &[f(1, "phase", Shape::String)],
};

/// `core/v1 Namespace`.
pub(crate) static NAMESPACE: Message = Message {
    name: "Namespace",
    fields: &[
        f(1, "metadata", Shape::Message(&OBJECT_META)),
        f(2, "spec", Shape::Message(&NAMESPACE_SPEC)),
        f(3, "status", Shape::Message(&NAMESPACE_STATUS)),
    ],
};

/// `runtime.TypeMeta` inside the `runtime.Unknown` envelope.
pub(crate) static TYPE_META: Message = Message {
    name: "TypeMeta",
    fields: &[
        f(1, "apiVersion", Shape::String),
        f(2, "kind", Shape::String),
    ],
};

/// Why a message could not be decoded; each names the message (and field) it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not valid protobuf.
    #[error("{message}: {source}")]
    Wire {
        /// The message being read.
        message: &'static str,
        /// What was wrong.
        #[source]
        source: WireError,
    },
    /// A field number the emulator does not decode.
    #[error("{message} field {number} is not supported by the emulator")]
    UnsupportedField {
        /// The message being read.
        message: &'static str,
        /// The field's number.
        number: u32,
    },
    /// A field with the wrong wire type for its declared type.
    #[error("{message}.{field}: expected a {expected} value, got {found}")]
    WrongWireType {
        /// The message being read.
        message: &'static str,
        /// The field's JSON name.
        field: &'static str,
        /// The wire type the field's type needs.
        expected: &'static str,
        /// The wire type sent.
        found: &'static str,
    },
    /// A `string` field (or map key) that is not UTF-8.
    #[error("{message}.{field} is not valid UTF-8")]
    NotUtf8 {
        /// The message being read.
        message: &'static str,
        /// The field's JSON name.
        field: &'static str,
    },
    /// A timestamp outside the range RFC 3339 can express.
    #[error("{message}.{field}: timestamp {seconds}s {nanos}ns is out of range")]
    BadTime {
        /// The message being read.
        message: &'static str,
        /// The field's JSON name.
        field: &'static str,
        /// Seconds since the epoch.
        seconds: i64,
        /// Nanoseconds.
        nanos: i64,
    },
}

/// Decodes `buf` as `msg` into a JSON object.
///
/// # Errors
/// [`DecodeError`] for malformed bytes, unsupported fields, wrong wire types, non-UTF-8
/// strings and out-of-range timestamps.
pub(crate) fn decode(msg: &'static Message, buf: &[u8]) -> Result<Map<String, Value>, DecodeError> {
    let mut out = Map::new();
    for field in Fields::new(buf) {
        let (number, value) = field.map_err(|source| DecodeError::Wire {
            message: msg.name,
            source,
        })?;
        let def = msg.fields.iter().find(|d| d.number == number).ok_or(
            DecodeError::UnsupportedField {
                message: msg.name,
                number,
            },
        )?;
        decode_field(msg, def, value, &mut out)?;
    }
    Ok(out)
}

fn bytes_of<'a>(
    msg: &Message,
    def: &FieldDef,
    value: WireValue<'a>,
) -> Result<&'a [u8], DecodeError> {
    match value {
        WireValue::Bytes(b) => Ok(b),
        other => Err(wrong(msg, def, "length-delimited", other)),
    }
}

fn varint_of(msg: &Message, def: &FieldDef, value: WireValue<'_>) -> Result<u64, DecodeError> {
    match value {
        WireValue::Varint(v) => Ok(v),
        other => Err(wrong(msg, def, "varint", other)),
    }
}

fn wrong(
    msg: &Message,
    def: &FieldDef,
    expected: &'static str,
    found: WireValue<'_>,
) -> DecodeError {
    DecodeError::WrongWireType {
        message: msg.name,
        field: def.json,
        expected,
        found: found.wire_name(),
    }
}

fn utf8(msg: &Message, field: &'static str, b: &[u8]) -> Result<String, DecodeError> {
    String::from_utf8(b.to_vec()).map_err(|_| DecodeError::NotUtf8 {
        message: msg.name,
        field,
    })
}

fn base64(b: &[u8]) -> Value {
    serde_json::to_value(ByteString(b.to_vec())).unwrap_or(Value::Null)
}

/// A map entry (`key = 1`, `value = 2`): the key and the value's bytes.
fn map_entry<'a>(
    msg: &Message,
    def: &FieldDef,
    entry: &'a [u8],
) -> Result<(String, &'a [u8]), DecodeError> {
    let (mut key, mut value) = (String::new(), &[][..]);
    for field in Fields::new(entry) {
        let (number, v) = field.map_err(|source| DecodeError::Wire {
            message: msg.name,
            source,
        })?;
        match number {
            1 => key = utf8(msg, def.json, bytes_of(msg, def, v)?)?,
            2 => value = bytes_of(msg, def, v)?,
            number => {
                return Err(DecodeError::UnsupportedField {
                    message: msg.name,
                    number,
                });
            }
        }
    }
    Ok((key, value))
}

fn time(msg: &Message, def: &FieldDef, buf: &[u8]) -> Result<Option<String>, DecodeError> {
    let (mut seconds, mut nanos) = (0i64, 0i64);
    for field in Fields::new(buf) {
        let (number, v) = field.map_err(|source| DecodeError::Wire {
            message: msg.name,
            source,
        })?;
        // int64 / int32 on the wire: two's complement in 64 bits.
        match number {
            1 => seconds = varint_of(msg, def, v)? as i64,
            2 => nanos = varint_of(msg, def, v)? as i64,
            number => {
                return Err(DecodeError::UnsupportedField {
                    message: "Time",
                    number,
                });
            }
        }
    }
    if seconds == 0 && nanos == 0 {
        return Ok(None);
    }
    let bad = DecodeError::BadTime {
        message: msg.name,
        field: def.json,
        seconds,
        nanos,
    };
    let nanos = i32::try_from(nanos).map_err(|_| bad.clone())?;
    let ts = Timestamp::new(seconds, nanos).map_err(|_| bad)?;
    Ok(Some(ts.to_string()))
}

fn decode_field(
    msg: &Message,
    def: &FieldDef,
    value: WireValue<'_>,
    out: &mut Map<String, Value>,
) -> Result<(), DecodeError> {
    let key = def.json.to_string();
    match def.shape {
        Shape::String => {
            let s = utf8(msg, def.json, bytes_of(msg, def, value)?)?;
            if s.is_empty() {
                out.remove(&key);
            } else {
                out.insert(key, Value::String(s));
            }
        }
        Shape::Bool => {
            out.insert(key, Value::Bool(varint_of(msg, def, value)? != 0));
        }
        Shape::Int => {
            let n = varint_of(msg, def, value)? as i64;
            if n == 0 {
                out.remove(&key);
            } else {
                out.insert(key, Value::from(n));
            }
        }
        Shape::Time => match time(msg, def, bytes_of(msg, def, value)?)? {
            Some(t) => {
                out.insert(key, Value::String(t));
            }
            None => {
                out.remove(&key);
            }
        },
        Shape::Message(inner) => {
            let decoded = decode(inner, bytes_of(msg, def, value)?)?;
            // A message field sent twice is merged, as protobuf does.
            match out.get_mut(&key) {
                Some(Value::Object(existing)) => existing.extend(decoded),
                _ => {
                    out.insert(key, Value::Object(decoded));
                }
            }
        }
        Shape::StringMap | Shape::BytesMap => {
            let (k, v) = map_entry(msg, def, bytes_of(msg, def, value)?)?;
            let v = match def.shape {
                Shape::StringMap => Value::String(utf8(msg, def.json, v)?),
                _ => base64(v),
            };
            entry_object(out, key).insert(k, v);
        }
        Shape::StringList => {
            let s = utf8(msg, def.json, bytes_of(msg, def, value)?)?;
            entry_array(out, key).push(Value::String(s));
        }
        Shape::MessageList(inner) => {
            let item = decode(inner, bytes_of(msg, def, value)?)?;
            entry_array(out, key).push(Value::Object(item));
        }
    }
    Ok(())
}

fn entry_object(out: &mut Map<String, Value>, key: String) -> &mut Map<String, Value> {
    let slot = out.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

fn entry_array(out: &mut Map<String, Value>, key: String) -> &mut Vec<Value> {
    let slot = out.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    match slot {
        Value::Array(a) => a,
        _ => unreachable!("made an array above"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::wire::encode::{bytes, entry, uint};
    use super::*;
    use serde_json::json;

    fn meta() -> Vec<u8> {
        // As Go writes it: every non-pointer field, empty or not.
        [
            bytes(1, b"cm-1"),
            bytes(2, b""),
            bytes(3, b"team-a"),
            bytes(4, b""),
            bytes(5, b""),
            bytes(6, b""),
            uint(7, 0),
            bytes(8, b""),
            entry(11, "app", b"web"),
            entry(11, "tier", b"front"),
            entry(12, "note", b"hi"),
            bytes(14, b"example.com/keep"),
            bytes(
                13,
                &[
                    bytes(1, b"Deployment"),
                    bytes(3, b"web"),
                    bytes(4, b"u-1"),
                    bytes(5, b"apps/v1"),
                    uint(6, 1),
                ]
                .concat(),
            ),
        ]
        .concat()
    }

    #[test]
    fn object_meta_leaves_out_go_zero_values() {
        let got = decode(&OBJECT_META, &meta()).unwrap();
        assert_eq!(
            Value::Object(got),
            json!({
                "name": "cm-1", "namespace": "team-a",
                "labels": {"app": "web", "tier": "front"},
                "annotations": {"note": "hi"},
                "finalizers": ["example.com/keep"],
                "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "u-1",
                    "apiVersion": "apps/v1", "controller": true}],
            })
        );
    }

    #[test]
    fn config_map_and_secret_bodies() {
        let cm = [
            bytes(1, &meta()),
            entry(2, "a.txt", b"hello\n"),
            entry(3, "b.bin", &[0, 255]),
            uint(4, 0),
        ]
        .concat();
        let got = Value::Object(decode(&CONFIG_MAP, &cm).unwrap());
        assert_eq!(got["data"], json!({"a.txt": "hello\n"}));
        assert_eq!(got["binaryData"], json!({"b.bin": "AP8="}));
        assert_eq!(
            got["immutable"],
            json!(false),
            "a present pointer bool is kept"
        );
        assert_eq!(got["metadata"]["name"], json!("cm-1"));

        let secret = [
            bytes(1, &bytes(1, b"s")),
            entry(2, "kubeconfig", b"apiVersion: v1\n"),
            bytes(3, b"Opaque"),
            entry(4, "token", b"abc"),
        ]
        .concat();
        let got = Value::Object(decode(&SECRET, &secret).unwrap());
        assert_eq!(
            got,
            json!({"metadata": {"name": "s"}, "data": {"kubeconfig": "YXBpVmVyc2lvbjogdjEK"},
                "type": "Opaque", "stringData": {"token": "abc"}})
        );
    }

    #[test]
    fn namespace_keeps_empty_spec_and_status() {
        let ns = [bytes(1, &bytes(1, b"team-a")), bytes(2, b""), bytes(3, b"")].concat();
        assert_eq!(
            Value::Object(decode(&NAMESPACE, &ns).unwrap()),
            json!({"metadata": {"name": "team-a"}, "spec": {}, "status": {}})
        );
    }

    #[test]
    fn times_are_rfc3339_and_zero_is_left_out() {
        let t = [uint(1, 1_767_571_200), uint(2, 5)].concat();
        let got = decode(&OBJECT_META, &bytes(9, &t)).unwrap();
        assert_eq!(
            got["deletionTimestamp"],
            json!("2026-01-05T00:00:00.000000005Z")
        );
        let far = [uint(1, i64::MAX as u64)].concat();
        assert!(matches!(
            decode(&OBJECT_META, &bytes(9, &far)),
            Err(DecodeError::BadTime {
                field: "deletionTimestamp",
                ..
            })
        ));
    }

    #[test]
    fn hostile_bodies_get_specific_errors() {
        // managedFields (17) is not decoded: refused, not dropped.
        assert_eq!(
            decode(&OBJECT_META, &bytes(17, b"")),
            Err(DecodeError::UnsupportedField {
                message: "ObjectMeta",
                number: 17
            })
        );
        assert_eq!(
            decode(&OBJECT_META, &uint(1, 5)),
            Err(DecodeError::WrongWireType {
                message: "ObjectMeta",
                field: "name",
                expected: "length-delimited",
                found: "varint"
            })
        );
        assert_eq!(
            decode(&OBJECT_META, &bytes(1, &[0xff, 0xfe])),
            Err(DecodeError::NotUtf8 {
                message: "ObjectMeta",
                field: "name"
            })
        );
        assert!(matches!(
            decode(&CONFIG_MAP, &bytes(1, &[0x0a, 9, b'x'])),
            Err(DecodeError::Wire {
                message: "ObjectMeta",
                source: WireError::Truncated
            })
        ));
        assert!(matches!(
            decode(&CONFIG_MAP, &entry(2, "k", &[0xc3])),
            Err(DecodeError::NotUtf8 { field: "data", .. })
        ));
    }
}
