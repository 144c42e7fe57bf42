//! The byte-level half of ABI v1 inside a Wasm module: memory in, memory out.
//!
//! This is the one place in Fleetward that needs `unsafe`: the host hands the module a pointer
//! and a length into its own linear memory, and turning that into a slice cannot be checked by
//! the compiler. Everything else (allocation, writing the output) is done with safe leaks.
//! The exports themselves are generated in the policy crate by [`policy!`](crate::policy), which
//! calls these functions; the module only exists for `target_arch = "wasm32"`.
//!
//! Memory is never freed: every call gets a fresh instance (see `docs/abi.md`), so leaking is
//! both correct and the cheapest allocator policy.
#![allow(unsafe_code)]

use std::io::Write as _;

use crate::log::panic_line;
use crate::wire::ABI_VERSION;

/// `fleetward_abi_version`: the ABI this SDK speaks.
pub fn abi_version() -> i32 {
    ABI_VERSION as i32
}

/// `fleetward_alloc(len)`: a pointer to `len` writable bytes, or 0 when out of memory (or `len`
/// is negative). The buffer is leaked on purpose; the instance dies after the call.
pub fn alloc(len: i32) -> i32 {
    let Ok(len) = usize::try_from(len) else {
        return 0;
    };
    let mut buf: Vec<u8> = Vec::new();
    if buf.try_reserve_exact(len.max(1)).is_err() {
        return 0;
    }
    let ptr = buf.as_mut_ptr();
    std::mem::forget(buf);
    ptr as usize as i32
}

/// Runs an entry point: reads the input at `(ptr, len)`, calls `handle` on it, writes the output
/// envelope into leaked memory and returns `(out_ptr << 32) | out_len`.
pub fn call(ptr: i32, len: i32, handle: impl FnOnce(&[u8]) -> String) -> i64 {
    install_panic_hook();
    let input: &[u8] = match usize::try_from(len) {
        Ok(0) | Err(_) => &[],
        // SAFETY: per the ABI the host obtained `ptr` from `fleetward_alloc(len)` (so it points
        // to at least `len` bytes of this instance's memory that nothing else references) and
        // wrote `len` bytes of input there before calling the entry point. The slice is only
        // read, and only during this call.
        Ok(len) => unsafe { std::slice::from_raw_parts(ptr as usize as *const u8, len) },
    };
    let output = handle(input);
    write_output(output)
}

/// Leaks `output` and packs its address and length as the ABI's `i64` result.
fn write_output(output: String) -> i64 {
    let bytes: &'static [u8] = Box::leak(output.into_bytes().into_boxed_slice());
    let ptr = bytes.as_ptr() as usize as u64;
    let len = bytes.len() as u64;
    ((ptr << 32) | (len & 0xffff_ffff)) as i64
}

/// Replaces std's panic hook with one that writes `fleetward:panic at FILE:LINE:COL: MESSAGE` as
/// one `fd_write` to stderr, the policy log, just before the `policy` profile's `panic = "abort"`
/// traps. The host turns it into `policy panicked at FILE:LINE:COL: MESSAGE`; std's own hook
/// would print a `thread '<unnamed>' panicked at` text the host does not parse. Installed at the
/// start of every entry point: each call is a fresh instance, and `set_hook` costs no allocation
/// for this zero-sized closure.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload_as_str()
            .unwrap_or("(non-string panic payload)");
        let line = match info.location() {
            Some(at) => panic_line(at, message),
            None => panic_line("(unknown location)", message),
        };
        let _ = std::io::stderr().write_all(line.as_bytes());
    }));
}
