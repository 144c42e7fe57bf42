//! A deterministic WASI preview 1 subset, implemented here rather than with `wasmtime-wasi`.
//!
//! Policies must decide from their input alone, and language runtimes still import a handful of
//! WASI functions (stdout for logs, a clock, randomness for hash seeds). Each function below
//! behaves exactly as the table in `docs/abi.md` says: clocks read the envelope's `now`,
//! randomness is a SHA-256 stream over the input, the environment and arguments are empty, no
//! file exists and stdout/stderr go to a capped per-call log. Nothing here can reach the host's
//! files, environment, clock or network, and every guest pointer goes through [`crate::memory`].
//! Anything not in [`ALLOWED_IMPORTS`] is rejected at load, so the linker defines nothing else.
//!
//! The shim does not know what else a store carries: [`add_to_linker`] takes an accessor from the
//! store's data to its [`WasiState`] (wasmtime-wasi's `add_to_linker(linker, |t| &mut t.wasi)`
//! pattern), so this module depends on nothing of `store.rs` and the engine composes the two.

use sha2::{Digest as _, Sha256};
use wasmtime::{Caller, Extern, Linker};

use crate::config::MAX_LOG_BYTES;
use crate::memory;

/// The only import module a policy may use.
pub(crate) const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// Allowed imports of [`WASI_MODULE`] with their signatures: `i` is i32, `I` is i64.
pub(crate) const ALLOWED_IMPORTS: &[(&str, &str)] = &[
    ("fd_write", "iiii->i"),
    ("fd_read", "iiii->i"),
    ("fd_close", "i->i"),
    ("fd_seek", "iIii->i"),
    ("fd_fdstat_get", "ii->i"),
    ("fd_prestat_get", "ii->i"),
    ("fd_prestat_dir_name", "iii->i"),
    ("environ_sizes_get", "ii->i"),
    ("environ_get", "ii->i"),
    ("args_sizes_get", "ii->i"),
    ("args_get", "ii->i"),
    ("clock_time_get", "iIi->i"),
    ("clock_res_get", "ii->i"),
    ("random_get", "ii->i"),
    ("sched_yield", "->i"),
    ("proc_exit", "i->"),
    // Standard Go (`GOOS=wasip1`) imports these two even in a reactor: the runtime sleeps and
    // idles through `poll_oneoff`, and `os` marks stdio non-blocking at start-up.
    ("poll_oneoff", "iiii->i"),
    ("fd_fdstat_set_flags", "ii->i"),
];

const ESUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EFAULT: i32 = 21;
const EINVAL: i32 = 28;
/// `clockid::realtime`: the only clock that stays at the envelope's `now`.
const CLOCK_REALTIME: i32 = 0;
/// `eventtype::clock`, `eventtype::fd_read`, `eventtype::fd_write`.
const EVENTTYPE_CLOCK: u8 = 0;
const EVENTTYPE_FD_READ: u8 = 1;
const EVENTTYPE_FD_WRITE: u8 = 2;
/// `subclockflags::subscription_clock_abstime`.
const SUBCLOCK_ABSTIME: u16 = 1;
/// `eventrwflags::fd_readwrite_hangup`: stdin is empty and stays empty.
const EVENTRW_HANGUP: u16 = 1;
/// Size of a `subscription` and of an `event` in WASI preview 1.
const SUBSCRIPTION_SIZE: u32 = 48;
const EVENT_SIZE: u32 = 32;
/// Most subscriptions one `poll_oneoff` may pass; bounds host work per guest call.
const MAX_SUBSCRIPTIONS: u32 = 1024;
/// `filetype::character_device`.
const FILETYPE_CHARACTER_DEVICE: u8 = 2;
/// `rights::fd_read` and `rights::fd_write`.
const RIGHT_FD_READ: u64 = 1 << 1;
const RIGHT_FD_WRITE: u64 = 1 << 6;
/// Most iovecs one `fd_write` may pass (POSIX `IOV_MAX`).
const MAX_IOVS: u32 = 1024;
/// Most bytes one `random_get` may ask for; bounds host work per guest call.
const MAX_RANDOM_PER_CALL: u32 = 1024 * 1024;
/// Appended once when the log cap is reached.
const TRUNCATED_NOTE: &str = "\n[fleetward: policy log truncated at 65536 bytes]\n";

/// The guest called `proc_exit`; carried out of wasmtime as the call's error and downcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("policy called proc_exit({code})")]
pub(crate) struct ProcExit {
    /// The exit code.
    pub(crate) code: i32,
}

/// Per-call state of the shim.
#[derive(Debug)]
pub(crate) struct WasiState {
    now_ns: u64,
    /// Virtual time the guest has slept through `poll_oneoff` in this call; the monotonic
    /// clocks read `now_ns + slept_ns`, the realtime clock stays at `now_ns`.
    slept_ns: u64,
    /// SHA-256 state after absorbing the input envelope; cloned per random block.
    seed: Sha256,
    block: u64,
    buffer: [u8; 32],
    buffered: usize,
    log: Vec<u8>,
    log_truncated: bool,
}

impl WasiState {
    /// State for one call: `seed` has absorbed the input envelope, `now_ns` is the envelope's
    /// `now` in nanoseconds.
    pub(crate) fn new(seed: Sha256, now_ns: u64) -> Self {
        WasiState {
            now_ns,
            slept_ns: 0,
            seed,
            block: 0,
            buffer: [0; 32],
            buffered: 0,
            log: Vec::new(),
            log_truncated: false,
        }
    }

    /// The captured stdout/stderr, lossily decoded (deterministically) as UTF-8.
    pub(crate) fn take_log(&mut self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut self.log)).into_owned()
    }

    fn append_log(&mut self, bytes: &[u8]) {
        if self.log_truncated {
            return;
        }
        let room = MAX_LOG_BYTES.saturating_sub(self.log.len());
        if bytes.len() <= room {
            self.log.extend_from_slice(bytes);
        } else {
            self.log.extend_from_slice(&bytes[..room]);
            self.log.extend_from_slice(TRUNCATED_NOTE.as_bytes());
            self.log_truncated = true;
        }
    }

    /// What clock `id` reads: the realtime clock is always the envelope's `now`; every other
    /// clock (monotonic, CPU time) starts there and advances only by virtual sleeps, and never
    /// reads 0 (Go's runtime refuses to start on a zero monotonic clock, and the load-time ABI
    /// probe runs at `now` = the epoch).
    fn clock(&self, id: i32) -> u64 {
        if id == CLOCK_REALTIME {
            self.now_ns
        } else {
            self.now_ns.saturating_add(self.slept_ns).max(1)
        }
    }

    /// Fills `out` from the stream SHA-256(input ‖ block LE u64), block = 0, 1, 2, …
    fn fill_random(&mut self, out: &mut [u8]) {
        let mut written = 0;
        while written < out.len() {
            if self.buffered == 0 {
                let mut hasher = self.seed.clone();
                hasher.update(self.block.to_le_bytes());
                self.buffer.copy_from_slice(&hasher.finalize());
                self.block = self.block.wrapping_add(1);
                self.buffered = 32;
            }
            let start = 32 - self.buffered;
            let n = self.buffered.min(out.len() - written);
            out[written..written + n].copy_from_slice(&self.buffer[start..start + n]);
            self.buffered -= n;
            written += n;
        }
    }
}

/// Picks the shim's state out of a store's data `T`.
pub(crate) type GetWasi<T> = fn(&mut T) -> &mut WasiState;

/// The guest's exported memory, if it has one.
fn guest_memory<T>(caller: &mut Caller<'_, T>) -> Option<wasmtime::Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Some(m),
        _ => None,
    }
}

/// Runs `f` on the guest memory and the shim's state; `EFAULT` if there is no memory or `f`
/// fails.
fn with_memory<T: 'static>(
    caller: &mut Caller<'_, T>,
    get: GetWasi<T>,
    f: impl FnOnce(&mut [u8], &mut WasiState) -> Result<i32, memory::MemoryError>,
) -> i32 {
    let Some(mem) = guest_memory(caller) else {
        return EFAULT;
    };
    let (bytes, data) = mem.data_and_store_mut(caller);
    f(bytes, get(data)).unwrap_or(EFAULT)
}

/// Writes two zero `u32`s (an empty environment or argument list).
fn write_two_zeros<T: 'static>(caller: &mut Caller<'_, T>, get: GetWasi<T>, a: i32, b: i32) -> i32 {
    with_memory(caller, get, |mem, _| {
        memory::write_u32(mem, a as u32, 0)?;
        memory::write_u32(mem, b as u32, 0)?;
        Ok(ESUCCESS)
    })
}

fn fd_write<T: 'static>(
    caller: &mut Caller<'_, T>,
    get: GetWasi<T>,
    fd: i32,
    iovs: i32,
    n: i32,
    nwritten: i32,
) -> i32 {
    if fd != 1 && fd != 2 {
        return EBADF;
    }
    if n as u32 > MAX_IOVS {
        return EINVAL;
    }
    with_memory(caller, get, |mem, wasi| {
        let mut total: u32 = 0;
        for i in 0..n as u32 {
            let at = (iovs as u32).wrapping_add(i * 8);
            let ptr = memory::read_u32(mem, at)?;
            let len = memory::read_u32(mem, at.wrapping_add(4))?;
            let bytes = memory::read(mem, ptr, len, usize::MAX)?;
            wasi.append_log(bytes);
            total = total.saturating_add(len);
        }
        memory::write_u32(mem, nwritten as u32, total)?;
        Ok(ESUCCESS)
    })
}

fn fd_read<T: 'static>(caller: &mut Caller<'_, T>, get: GetWasi<T>, fd: i32, nread: i32) -> i32 {
    if fd != 0 {
        return EBADF;
    }
    // stdin is empty: every read returns 0 bytes.
    with_memory(caller, get, |mem, _| {
        memory::write_u32(mem, nread as u32, 0)?;
        Ok(ESUCCESS)
    })
}

fn fd_fdstat_get<T: 'static>(
    caller: &mut Caller<'_, T>,
    get: GetWasi<T>,
    fd: i32,
    buf: i32,
) -> i32 {
    let rights = match fd {
        0 => RIGHT_FD_READ,
        1 | 2 => RIGHT_FD_WRITE,
        _ => return EBADF,
    };
    with_memory(caller, get, |mem, _| {
        let mut stat = [0u8; 24];
        stat[0] = FILETYPE_CHARACTER_DEVICE;
        stat[8..16].copy_from_slice(&rights.to_le_bytes());
        memory::write(mem, buf as u32, &stat)?;
        Ok(ESUCCESS)
    })
}

fn random_get<T: 'static>(caller: &mut Caller<'_, T>, get: GetWasi<T>, buf: i32, len: i32) -> i32 {
    if len as u32 > MAX_RANDOM_PER_CALL {
        return EINVAL;
    }
    with_memory(caller, get, |mem, wasi| {
        let out = memory::slice_mut(mem, buf as u32, len as u32)?;
        wasi.fill_random(out);
        Ok(ESUCCESS)
    })
}

/// One `poll_oneoff` subscription, decoded.
enum Subscription {
    /// Wake at this value of the monotonic clock (absolute, in nanoseconds).
    Clock { deadline: u64 },
    /// Readiness of an fd for reading (`read: true`) or writing.
    Fd { fd: u32, read: bool },
}

/// `poll_oneoff` without waiting: the host never blocks a policy. Stdio subscriptions are ready
/// at once (fd 0 reports end of input, fd 1 and 2 are writable), other fds get `EBADF` in their
/// event. With only clock subscriptions, virtual time jumps to the earliest deadline and every
/// subscription due by then fires: a `time.Sleep` returns immediately, the monotonic clock shows
/// the time slept, and the result depends on nothing but the guest's own calls.
fn poll_oneoff<T: 'static>(
    caller: &mut Caller<'_, T>,
    get: GetWasi<T>,
    subs: i32,
    events: i32,
    n: i32,
    nevents: i32,
) -> i32 {
    let n = n as u32;
    if n == 0 || n > MAX_SUBSCRIPTIONS {
        return EINVAL;
    }
    with_memory(caller, get, |mem, wasi| {
        let mut decoded = Vec::with_capacity(n as usize);
        for i in 0..n {
            let at = (subs as u32).wrapping_add(i * SUBSCRIPTION_SIZE);
            let sub = memory::read(mem, at, SUBSCRIPTION_SIZE, usize::MAX)?;
            let userdata = u64::from_le_bytes(sub[0..8].try_into().unwrap_or_default());
            let field_u32 = u32::from_le_bytes(sub[16..20].try_into().unwrap_or_default());
            let kind = match sub[8] {
                EVENTTYPE_CLOCK => {
                    let timeout = u64::from_le_bytes(sub[24..32].try_into().unwrap_or_default());
                    let flags = u16::from_le_bytes(sub[40..42].try_into().unwrap_or_default());
                    let deadline = if flags & SUBCLOCK_ABSTIME != 0 {
                        timeout
                    } else {
                        wasi.clock(field_u32 as i32).saturating_add(timeout)
                    };
                    Subscription::Clock { deadline }
                }
                EVENTTYPE_FD_READ => Subscription::Fd {
                    fd: field_u32,
                    read: true,
                },
                EVENTTYPE_FD_WRITE => Subscription::Fd {
                    fd: field_u32,
                    read: false,
                },
                _ => return Ok(EINVAL),
            };
            decoded.push((userdata, sub[8], kind));
        }
        let any_fd = decoded
            .iter()
            .any(|(_, _, k)| matches!(k, Subscription::Fd { .. }));
        let wake = if any_fd {
            None
        } else {
            decoded
                .iter()
                .filter_map(|(_, _, k)| match k {
                    Subscription::Clock { deadline } => Some(*deadline),
                    Subscription::Fd { .. } => None,
                })
                .min()
        };
        if let Some(wake) = wake {
            let now = wasi.clock(1);
            wasi.slept_ns = wasi.slept_ns.saturating_add(wake.saturating_sub(now));
        }
        let now = wasi.clock(1);
        let mut count: u32 = 0;
        for (userdata, tag, kind) in &decoded {
            let (error, nbytes, flags) = match kind {
                Subscription::Clock { deadline } if *deadline <= now => (0u16, 0u64, 0u16),
                Subscription::Clock { .. } => continue,
                Subscription::Fd { fd: 0, read: true } => (0, 0, EVENTRW_HANGUP),
                Subscription::Fd {
                    fd: 1 | 2,
                    read: false,
                } => (0, MAX_LOG_BYTES as u64, 0),
                Subscription::Fd { .. } => (EBADF as u16, 0, 0),
            };
            let mut event = [0u8; EVENT_SIZE as usize];
            event[0..8].copy_from_slice(&userdata.to_le_bytes());
            event[8..10].copy_from_slice(&error.to_le_bytes());
            event[10] = *tag;
            event[16..24].copy_from_slice(&nbytes.to_le_bytes());
            event[24..26].copy_from_slice(&flags.to_le_bytes());
            memory::write(
                mem,
                (events as u32).wrapping_add(count * EVENT_SIZE),
                &event,
            )?;
            count += 1;
        }
        memory::write_u32(mem, nevents as u32, count)?;
        Ok(ESUCCESS)
    })
}

/// Defines the shim, and nothing else, in `l`; `get` finds the shim's state in the store data.
///
/// # Errors
/// Only if wasmtime refuses a definition (a bug here, not a guest problem).
pub(crate) fn add_to_linker<T: 'static>(
    l: &mut Linker<T>,
    get: GetWasi<T>,
) -> wasmtime::Result<()> {
    let m = WASI_MODULE;
    l.func_wrap(
        m,
        "fd_write",
        move |mut c: Caller<'_, T>, fd: i32, iovs: i32, n: i32, out: i32| {
            fd_write(&mut c, get, fd, iovs, n, out)
        },
    )?;
    l.func_wrap(
        m,
        "fd_read",
        move |mut c: Caller<'_, T>, fd: i32, _iovs: i32, _n: i32, out: i32| {
            fd_read(&mut c, get, fd, out)
        },
    )?;
    l.func_wrap(m, "fd_close", |_fd: i32| EBADF)?;
    l.func_wrap(m, "fd_seek", |_fd: i32, _off: i64, _wh: i32, _out: i32| {
        EBADF
    })?;
    l.func_wrap(
        m,
        "fd_fdstat_get",
        move |mut c: Caller<'_, T>, fd: i32, buf: i32| fd_fdstat_get(&mut c, get, fd, buf),
    )?;
    l.func_wrap(m, "fd_prestat_get", |_fd: i32, _buf: i32| EBADF)?;
    l.func_wrap(m, "fd_prestat_dir_name", |_fd: i32, _p: i32, _l: i32| EBADF)?;
    for name in ["environ_sizes_get", "args_sizes_get"] {
        l.func_wrap(m, name, move |mut c: Caller<'_, T>, a: i32, b: i32| {
            write_two_zeros(&mut c, get, a, b)
        })?;
    }
    for name in ["environ_get", "args_get"] {
        l.func_wrap(m, name, |_a: i32, _b: i32| ESUCCESS)?;
    }
    l.func_wrap(
        m,
        "clock_time_get",
        move |mut c: Caller<'_, T>, id: i32, _precision: i64, out: i32| {
            with_memory(&mut c, get, |mem, wasi| {
                memory::write_u64(mem, out as u32, wasi.clock(id))?;
                Ok(ESUCCESS)
            })
        },
    )?;
    l.func_wrap(
        m,
        "clock_res_get",
        move |mut c: Caller<'_, T>, _id: i32, out: i32| {
            with_memory(&mut c, get, |mem, _| {
                memory::write_u64(mem, out as u32, 1_000_000_000)?;
                Ok(ESUCCESS)
            })
        },
    )?;
    l.func_wrap(
        m,
        "random_get",
        move |mut c: Caller<'_, T>, buf: i32, len: i32| random_get(&mut c, get, buf, len),
    )?;
    l.func_wrap(m, "sched_yield", || ESUCCESS)?;
    l.func_wrap(
        m,
        "poll_oneoff",
        move |mut c: Caller<'_, T>, subs: i32, events: i32, n: i32, nevents: i32| {
            poll_oneoff(&mut c, get, subs, events, n, nevents)
        },
    )?;
    // Flags (non-blocking, append) change nothing on the captured stdio: accepted, ignored.
    l.func_wrap(m, "fd_fdstat_set_flags", |fd: i32, _flags: i32| {
        if (0..=2).contains(&fd) {
            ESUCCESS
        } else {
            EBADF
        }
    })?;
    l.func_wrap(m, "proc_exit", |code: i32| -> wasmtime::Result<()> {
        Err(wasmtime::Error::new(ProcExit { code }))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_stream_is_sha256_of_input_and_counter_across_calls() {
        let mut seed = Sha256::new();
        seed.update(b"input");
        let mut state = WasiState::new(seed, 0);
        let mut a = [0u8; 20];
        let mut b = [0u8; 30];
        state.fill_random(&mut a);
        state.fill_random(&mut b);
        let mut expected = Vec::new();
        for block in 0u64..2 {
            let mut h = Sha256::new();
            h.update(b"input");
            h.update(block.to_le_bytes());
            expected.extend_from_slice(&h.finalize());
        }
        assert_eq!(&a[..], &expected[..20]);
        assert_eq!(&b[..], &expected[20..50]);
    }

    #[test]
    fn log_is_capped_with_a_single_note() {
        let mut state = WasiState::new(Sha256::new(), 0);
        state.append_log(&vec![b'x'; MAX_LOG_BYTES - 1]);
        state.append_log(b"yz");
        state.append_log(b"dropped");
        let log = state.take_log();
        assert_eq!(log.len(), MAX_LOG_BYTES + TRUNCATED_NOTE.len());
        assert!(log.ends_with(TRUNCATED_NOTE));
        assert!(!log.contains("dropped"));
    }

    #[test]
    fn every_allowed_import_is_defined_and_nothing_else() {
        // Any store data works: the shim reaches its state only through the accessor.
        let engine = wasmtime::Engine::default();
        let mut l: Linker<WasiState> = Linker::new(&engine);
        add_to_linker(&mut l, |w| w).unwrap();
        let mut store = wasmtime::Store::new(&engine, WasiState::new(Sha256::new(), 0));
        let mut defined: Vec<String> = l
            .iter(&mut store)
            .map(|(module, name, _)| format!("{module}::{name}"))
            .collect::<Vec<_>>();
        defined.sort();
        let mut allowed: Vec<String> = ALLOWED_IMPORTS
            .iter()
            .map(|(name, _)| format!("{WASI_MODULE}::{name}"))
            .collect();
        allowed.sort();
        assert_eq!(defined, allowed);
    }
}
