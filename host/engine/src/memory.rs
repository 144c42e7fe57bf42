//! Bounds-checked access to a guest's linear memory.
//!
//! Every pointer and length that comes out of a policy is untrusted. All reads and writes of
//! guest memory in this crate go through these functions, which check `ptr + len` against the
//! memory size without overflow and cap how much may be copied, and return an error instead of
//! panicking: a guest must never be able to crash the host.

/// A guest pointer or length was unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MemoryError {
    /// `ptr..ptr+len` is not inside the guest's memory.
    #[error("range {ptr}..{ptr}+{len} is outside guest memory of {size} bytes")]
    OutOfBounds {
        /// Start offset.
        ptr: u64,
        /// Length.
        len: u64,
        /// Memory size in bytes.
        size: usize,
    },
    /// The range is in bounds but longer than the caller allows.
    #[error("{len} bytes requested, over the {cap}-byte cap")]
    TooLarge {
        /// Length asked for.
        len: u64,
        /// The cap.
        cap: usize,
    },
}

/// The byte range `ptr..ptr+len` of `memory`, if in bounds.
fn range(memory_len: usize, ptr: u32, len: u32) -> Result<std::ops::Range<usize>, MemoryError> {
    let start = ptr as usize;
    let end = start.checked_add(len as usize);
    match end {
        Some(end) if end <= memory_len => Ok(start..end),
        _ => Err(MemoryError::OutOfBounds {
            ptr: u64::from(ptr),
            len: u64::from(len),
            size: memory_len,
        }),
    }
}

/// Borrows `len` bytes at `ptr`, refusing more than `cap` bytes.
pub(crate) fn read(memory: &[u8], ptr: u32, len: u32, cap: usize) -> Result<&[u8], MemoryError> {
    if len as usize > cap {
        return Err(MemoryError::TooLarge {
            len: u64::from(len),
            cap,
        });
    }
    let r = range(memory.len(), ptr, len)?;
    memory.get(r).ok_or(MemoryError::OutOfBounds {
        ptr: u64::from(ptr),
        len: u64::from(len),
        size: memory.len(),
    })
}

/// Mutably borrows `len` bytes at `ptr`.
pub(crate) fn slice_mut(memory: &mut [u8], ptr: u32, len: u32) -> Result<&mut [u8], MemoryError> {
    let size = memory.len();
    let r = range(size, ptr, len)?;
    memory.get_mut(r).ok_or(MemoryError::OutOfBounds {
        ptr: u64::from(ptr),
        len: u64::from(len),
        size,
    })
}

/// Copies `bytes` to `ptr`.
pub(crate) fn write(memory: &mut [u8], ptr: u32, bytes: &[u8]) -> Result<(), MemoryError> {
    let len = u32::try_from(bytes.len()).map_err(|_| MemoryError::TooLarge {
        len: bytes.len() as u64,
        cap: u32::MAX as usize,
    })?;
    slice_mut(memory, ptr, len)?.copy_from_slice(bytes);
    Ok(())
}

/// Reads a little-endian `u32` at `ptr`.
pub(crate) fn read_u32(memory: &[u8], ptr: u32) -> Result<u32, MemoryError> {
    let bytes = read(memory, ptr, 4, 4)?;
    let mut buf = [0u8; 4];
    buf.copy_from_slice(bytes);
    Ok(u32::from_le_bytes(buf))
}

/// Writes a little-endian `u32` at `ptr`.
pub(crate) fn write_u32(memory: &mut [u8], ptr: u32, value: u32) -> Result<(), MemoryError> {
    write(memory, ptr, &value.to_le_bytes())
}

/// Writes a little-endian `u64` at `ptr`.
pub(crate) fn write_u64(memory: &mut [u8], ptr: u32, value: u64) -> Result<(), MemoryError> {
    write(memory, ptr, &value.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inside_and_refuses_outside_or_overflowing_ranges() {
        let mem = vec![7u8; 16];
        assert_eq!(read(&mem, 12, 4, 100).unwrap(), &[7, 7, 7, 7]);
        assert_eq!(read(&mem, 16, 0, 100).unwrap(), &[] as &[u8]);
        assert!(matches!(
            read(&mem, 13, 4, 100),
            Err(MemoryError::OutOfBounds { .. })
        ));
        assert!(matches!(
            read(&mem, u32::MAX, u32::MAX, usize::MAX),
            Err(MemoryError::OutOfBounds { .. })
        ));
        assert!(matches!(
            read(&mem, 0, 8, 4),
            Err(MemoryError::TooLarge { len: 8, cap: 4 })
        ));
    }

    #[test]
    fn writes_little_endian_and_refuses_out_of_bounds() {
        let mut mem = vec![0u8; 12];
        write_u32(&mut mem, 0, 0x0403_0201).unwrap();
        write_u64(&mut mem, 4, 0x0807_0605_0403_0201).unwrap();
        assert_eq!(read_u32(&mem, 0).unwrap(), 0x0403_0201);
        assert_eq!(&mem[4..12], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(write_u64(&mut mem, 5, 1).is_err());
        assert!(read_u32(&mem, 9).is_err());
    }
}
