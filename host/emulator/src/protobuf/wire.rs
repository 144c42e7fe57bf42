//! The protobuf wire format, read-only: varints, tags and length-delimited fields.
//!
//! Just enough of <https://protobuf.dev/programming-guides/encoding/> to walk the messages
//! kubectl sends. Every read is bounds-checked; malformed input is a [`WireError`], never a
//! panic, because the bytes come straight from the network.

/// Why a protobuf byte string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ended inside a varint, a fixed-width value or a length-delimited field.
    #[error("the message is truncated")]
    Truncated,
    /// A varint ran over 10 bytes (more than 64 bits).
    #[error("a varint is longer than 64 bits")]
    VarintTooLong,
    /// A tag with field number 0, or a deprecated group / unknown wire type.
    #[error("invalid tag {tag:#x} (field {field}, wire type {wire_type})")]
    InvalidTag {
        /// The whole tag.
        tag: u64,
        /// Its field number.
        field: u64,
        /// Its wire type (0, 1, 2 and 5 are valid).
        wire_type: u8,
    },
}

/// One field's value as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireValue<'a> {
    /// Wire type 0: int32/int64/uint*/bool/enum.
    Varint(u64),
    /// Wire type 1: fixed64/sfixed64/double.
    Fixed64(u64),
    /// Wire type 2: string, bytes, embedded message, packed repeated.
    Bytes(&'a [u8]),
    /// Wire type 5: fixed32/sfixed32/float.
    Fixed32(u32),
}

impl WireValue<'_> {
    /// The name of the wire type, for error messages.
    pub fn wire_name(&self) -> &'static str {
        match self {
            WireValue::Varint(_) => "varint",
            WireValue::Fixed64(_) => "fixed64",
            WireValue::Bytes(_) => "length-delimited",
            WireValue::Fixed32(_) => "fixed32",
        }
    }
}

/// Iterates over the fields of one message, in wire order.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    buf: &'a [u8],
    failed: bool,
}

impl<'a> Fields<'a> {
    /// The fields of the message encoded in `buf`.
    pub fn new(buf: &'a [u8]) -> Fields<'a> {
        Fields { buf, failed: false }
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for i in 0..10 {
            let (&b, rest) = self.buf.split_first().ok_or(WireError::Truncated)?;
            self.buf = rest;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(WireError::VarintTooLong)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.buf.len() {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn field(&mut self) -> Result<(u32, WireValue<'a>), WireError> {
        let tag = self.varint()?;
        let field = tag >> 3;
        let wire_type = (tag & 7) as u8;
        let invalid = WireError::InvalidTag {
            tag,
            field,
            wire_type,
        };
        let number = u32::try_from(field)
            .ok()
            .filter(|f| *f != 0)
            .ok_or(invalid.clone())?;
        let value = match wire_type {
            0 => WireValue::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                WireValue::Fixed64(u64::from_le_bytes(b.try_into().map_err(|_| invalid)?))
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| WireError::Truncated)?;
                WireValue::Bytes(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                WireValue::Fixed32(u32::from_le_bytes(b.try_into().map_err(|_| invalid)?))
            }
            _ => return Err(invalid),
        };
        Ok((number, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, WireValue<'a>), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() || self.failed {
            return None;
        }
        let r = self.field();
        self.failed = r.is_err();
        Some(r)
    }
}

/// Test helpers that write the wire format (the inverse of [`Fields`]).
#[cfg(test)]
pub(crate) mod encode {
    /// A varint.
    pub fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    /// A length-delimited field.
    pub fn bytes(field: u32, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(u64::from(field) << 3 | 2, &mut out);
        varint(value.len() as u64, &mut out);
        out.extend_from_slice(value);
        out
    }

    /// A varint field.
    pub fn uint(field: u32, value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        varint(u64::from(field) << 3, &mut out);
        varint(value, &mut out);
        out
    }

    /// A map entry field (`key = 1`, `value = 2`).
    pub fn entry(field: u32, key: &str, value: &[u8]) -> Vec<u8> {
        bytes(field, &[bytes(1, key.as_bytes()), bytes(2, value)].concat())
    }
}

#[cfg(test)]
mod tests {
    use super::encode::*;
    use super::*;

    fn all(buf: &[u8]) -> Result<Vec<(u32, WireValue<'_>)>, WireError> {
        Fields::new(buf).collect()
    }

    #[test]
    fn reads_every_wire_type() {
        let mut buf = uint(1, 300);
        buf.extend(bytes(2, b"abc"));
        buf.extend([0x19, 1, 0, 0, 0, 0, 0, 0, 0]); // field 3, fixed64 = 1
        buf.extend([0x25, 2, 0, 0, 0]); // field 4, fixed32 = 2
        assert_eq!(
            all(&buf),
            Ok(vec![
                (1, WireValue::Varint(300)),
                (2, WireValue::Bytes(b"abc")),
                (3, WireValue::Fixed64(1)),
                (4, WireValue::Fixed32(2)),
            ])
        );
        let mut big = Vec::new();
        varint(u64::MAX, &mut big);
        assert_eq!(big.len(), 10);
        let mut field = vec![0x08];
        field.extend(big);
        assert_eq!(all(&field), Ok(vec![(1, WireValue::Varint(u64::MAX))]));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        // A length beyond the end, a varint cut short, an 11-byte varint, field 0, a group.
        assert_eq!(all(&[0x12, 5, b'a']), Err(WireError::Truncated));
        assert_eq!(all(&[0x08, 0x80]), Err(WireError::Truncated));
        assert_eq!(
            all(&[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1
            ]),
            Err(WireError::VarintTooLong)
        );
        assert!(matches!(
            all(&[0x02, 0]),
            Err(WireError::InvalidTag { field: 0, .. })
        ));
        assert!(matches!(
            all(&[0x0b]),
            Err(WireError::InvalidTag { wire_type: 3, .. })
        ));
        assert_eq!(
            all(&[0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            Err(WireError::Truncated)
        );
        // The iterator stops after the first error.
        assert_eq!(Fields::new(&[0x12, 5]).count(), 1);
    }
}
