//! Compiling a module within a budget, off the caller's thread and (in production) out of the
//! host's process.
//!
//! Cranelift's time and memory grow with what a module declares, and wasmtime offers no bound
//! on either. The static caps (`validate.rs`) refuse the absurd, but a module just under them can
//! still take seconds and hundreds of MiB, and the controller must not be the process that pays:
//! with the Deployment's 1 GiB limit one tenant's ConfigMap could otherwise OOM-kill the
//! controller for every tenant, again after every restart. So:
//!
//! - [`Compiler::Subprocess`] (what `fleetward run` uses): the module's bytes go to a
//!   short-lived child, the `fleetward` binary re-executed as `fleetward __compile-module`
//!   ([`child_main`]). Before it reads a byte of the module the child limits itself with
//!   `RLIMIT_DATA` (the memory budget: heap and code being built; an allocation past it
//!   aborts the child) and `RLIMIT_CPU` (a backstop); the parent kills it when the budget's
//!   wall-clock time is up. It writes back wasmtime's serialised artifact, which the parent
//!   deserialises (and the engine then writes to its on-disk cache, so a module is compiled
//!   once per digest, not once per restart). Whatever the module does to the compiler, the host
//!   only ever sees an exit status.
//! - [`Compiler::InProcess`]: the same compile on a dedicated thread with only the time bounded
//!   (for tests and embedders without the binary; documented as weaker on [`Compiler`]).
//!
//! One compile runs at a time per engine (`gate`), so a burst of hostile uploads costs one
//! budget at a time, not one per tenant.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use crate::config::{CompileBudget, Compiler, MAX_MODULE_BYTES};
use crate::error::PolicyErrorKind;
use crate::text::untrusted;

/// The hidden subcommand of the `fleetward` binary that runs [`child_main`].
pub const COMPILE_SUBCOMMAND: &str = "__compile-module";

/// First bytes of the child's stdout on success, then the peak RSS (u64 LE), then the artifact.
const OUTPUT_MAGIC: &[u8; 8] = b"FWCOMP01";
/// Largest artifact read back from a child (compiled code is a few times the Wasm size).
const MAX_ARTIFACT_BYTES: u64 = 512 * 1024 * 1024;
/// Most stderr kept from a child (its explanation of a refused module).
const MAX_STDERR_BYTES: u64 = 16 * 1024;
/// Exit status of a child whose module wasmtime refused (invalid Wasm).
const EXIT_INVALID: i32 = 3;
/// Exit status of a child whose compiler panicked or failed for a host reason.
const EXIT_PANIC: i32 = 1;
/// Exit status of a child that could not read its input or arguments.
const EXIT_USAGE: i32 = 2;
/// Signals (Linux numbering) a child can end with.
const SIGABRT: i32 = 6;
const SIGKILL: i32 = 9;
const SIGXCPU: i32 = 24;

/// A compiled artifact, as `Module::serialize` wrote it, from a compiler of this build.
#[derive(Debug)]
pub(crate) struct Artifact {
    pub(crate) bytes: Vec<u8>,
    /// Peak resident memory of the compiling process, if it was a child that reported it.
    pub(crate) peak_rss: Option<u64>,
}

/// What a compile needs: where, how much, and for which of the engine's two configurations.
#[derive(Debug)]
pub(crate) struct Compile<'a> {
    pub(crate) compiler: &'a Compiler,
    pub(crate) budget: CompileBudget,
    pub(crate) fuel: bool,
    /// One compile at a time per engine.
    pub(crate) gate: &'a Arc<Mutex<()>>,
}

impl Compile<'_> {
    /// Compiles `wasm` for the engine configuration `fuel` selects, within the budget.
    ///
    /// # Errors
    /// [`PolicyErrorKind::CompileTimedOut`], [`PolicyErrorKind::CompileMemoryExceeded`],
    /// [`PolicyErrorKind::InvalidModule`] (wasmtime refused the code),
    /// [`PolicyErrorKind::CompileFailed`] (the compiler crashed),
    /// [`PolicyErrorKind::CompilerUnavailable`] (it could not be started).
    pub(crate) fn run(&self, wasm: &[u8]) -> Result<Artifact, PolicyErrorKind> {
        match self.compiler {
            Compiler::Subprocess(program) => {
                let _slot = self.gate.lock().unwrap_or_else(|p| p.into_inner());
                subprocess(program, wasm, self.budget, self.fuel)
            }
            Compiler::InProcess => in_process(wasm, self.budget, self.fuel, Arc::clone(self.gate)),
        }
    }
}

/// Compiles on a dedicated thread; the caller waits at most the budget's time. The thread
/// holds the gate until it ends, so an abandoned compile delays later ones instead of running
/// beside them.
fn in_process(
    wasm: &[u8],
    budget: CompileBudget,
    fuel: bool,
    gate: Arc<Mutex<()>>,
) -> Result<Artifact, PolicyErrorKind> {
    let (tx, rx) = mpsc::channel();
    let wasm = wasm.to_vec();
    let spawned = std::thread::Builder::new()
        .name("fleetward-compile".into())
        .spawn(move || {
            let _slot = gate.lock().unwrap_or_else(|p| p.into_inner());
            let _ = tx.send(compile_here(&wasm, fuel));
        });
    if let Err(e) = spawned {
        return Err(PolicyErrorKind::internal(format!(
            "cannot start a compile thread: {e}"
        )));
    }
    match rx.recv_timeout(budget.time) {
        Ok(result) => result.map(|bytes| Artifact {
            bytes,
            peak_rss: None,
        }),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            tracing::warn!(
                budget = ?budget.time,
                "in-process module compile over its time budget; it keeps running in the \
                 background (configure a subprocess compiler to stop it)"
            );
            Err(PolicyErrorKind::CompileTimedOut { limit: budget.time })
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(PolicyErrorKind::CompileFailed {
            message: "the compile thread panicked".to_string(),
        }),
    }
}

/// Compiles and serialises on this thread (the child's work, and the in-process fallback's).
fn compile_here(wasm: &[u8], fuel: bool) -> Result<Vec<u8>, PolicyErrorKind> {
    let engine = compile_engine(fuel)?;
    let module = wasmtime::Module::from_binary(&engine, wasm).map_err(|e| {
        PolicyErrorKind::InvalidModule {
            message: untrusted(&format!("{e:#}")),
        }
    })?;
    module.serialize().map_err(|e| {
        PolicyErrorKind::internal(format!("cannot serialise a compiled module: {e:#}"))
    })
}

/// A wasmtime engine producing artifacts the host's engine of the same `fuel` setting accepts:
/// the same compilation settings, on-demand allocation (the allocation strategy is not part of
/// an artifact's compatibility, and a child under `RLIMIT_DATA` should not reserve a pool).
fn compile_engine(fuel: bool) -> Result<wasmtime::Engine, PolicyErrorKind> {
    let mut config = crate::engine::base_config(fuel);
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::OnDemand);
    wasmtime::Engine::new(&config)
        .map_err(|e| PolicyErrorKind::internal(format!("cannot create a compile engine: {e:#}")))
}

/// Runs the compiler child and turns how it ended into an artifact or a typed refusal.
fn subprocess(
    program: &Path,
    wasm: &[u8],
    budget: CompileBudget,
    fuel: bool,
) -> Result<Artifact, PolicyErrorKind> {
    let unavailable = |message: String| PolicyErrorKind::CompilerUnavailable {
        program: program.display().to_string(),
        message,
    };
    let cpu_seconds = budget
        .time
        .as_secs()
        .saturating_add(1)
        .saturating_mul(std::thread::available_parallelism().map_or(2, |n| n.get() as u64));
    let mut child = Command::new(program)
        .arg(COMPILE_SUBCOMMAND)
        .arg(format!("--memory-bytes={}", budget.memory_bytes))
        .arg(format!("--cpu-seconds={cpu_seconds}"))
        .arg(format!("--fuel={fuel}"))
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| unavailable(e.to_string()))?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(unavailable("no pipes to the child".to_string()));
    };
    // Both pipes are drained on their own threads so the child never blocks on a full pipe;
    // the stdout thread ends when the child exits or is killed, which is what we wait for.
    let (done, finished) = mpsc::channel();
    let out_reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let read = stdout.take(MAX_ARTIFACT_BYTES + 16).read_to_end(&mut out);
        let _ = done.send(());
        read.map(|_| out)
    });
    let err_reader = std::thread::spawn(move || {
        let mut err = Vec::new();
        let _ = stderr.take(MAX_STDERR_BYTES).read_to_end(&mut err);
        err
    });
    // A child that died early closes its stdin: a broken pipe here is read from its status.
    let _ = stdin.write_all(wasm);
    drop(stdin);
    let timed_out = matches!(
        finished.recv_timeout(budget.time),
        Err(mpsc::RecvTimeoutError::Timeout)
    );
    if timed_out {
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map_err(|e| unavailable(format!("waiting for the child: {e}")))?;
    let out = out_reader
        .join()
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    let stderr_text = || untrusted(String::from_utf8_lossy(&err).trim());
    if timed_out {
        return Err(PolicyErrorKind::CompileTimedOut { limit: budget.time });
    }
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(0), _) => parse_output(out).ok_or_else(|| PolicyErrorKind::CompileFailed {
            message: "the compiler's output is malformed".to_string(),
        }),
        (Some(EXIT_INVALID), _) => Err(PolicyErrorKind::InvalidModule {
            message: stderr_text(),
        }),
        // The child catches panics; Rust aborts only when an allocation fails, which under
        // RLIMIT_DATA means the memory budget was reached.
        (_, Some(SIGABRT)) => Err(PolicyErrorKind::CompileMemoryExceeded {
            limit: budget.memory_bytes,
        }),
        (_, Some(SIGXCPU)) => Err(PolicyErrorKind::CompileTimedOut { limit: budget.time }),
        (_, Some(SIGKILL)) => Err(PolicyErrorKind::CompileFailed {
            message: "the compiler was killed (SIGKILL: the kernel's OOM killer or an operator)"
                .to_string(),
        }),
        (Some(EXIT_USAGE), _) => Err(unavailable(stderr_text())),
        (code, signal) => Err(PolicyErrorKind::CompileFailed {
            message: format!(
                "the compiler ended with {}: {}",
                match (code, signal) {
                    (Some(c), _) => format!("exit status {c}"),
                    (_, Some(s)) => format!("signal {s}"),
                    _ => "an unknown status".to_string(),
                },
                stderr_text()
            ),
        }),
    }
}

fn parse_output(out: Vec<u8>) -> Option<Artifact> {
    let rest = out.strip_prefix(OUTPUT_MAGIC.as_slice())?;
    let (rss, artifact) = rest.split_first_chunk::<8>()?;
    Some(Artifact {
        peak_rss: Some(u64::from_le_bytes(*rss)),
        bytes: artifact.to_vec(),
    })
}

/// The child side: `fleetward __compile-module --memory-bytes=N --cpu-seconds=N --fuel=BOOL`,
/// module on stdin, artifact on stdout. Returns the exit status.
///
/// Limits itself first (`RLIMIT_DATA`, `RLIMIT_CPU`), then reads at most the module size cap,
/// compiles with the host engine's settings and writes `FWCOMP01`, its peak RSS and the
/// artifact. Exit 3 when wasmtime refuses the module (reason on stderr), 1 on a compiler panic,
/// 2 on bad arguments or input; an allocation past the budget aborts (SIGABRT).
pub fn child_main(
    args: &[String],
    input: &mut dyn Read,
    output: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut memory = None;
    let mut cpu = None;
    let mut fuel = None;
    for arg in args {
        if let Some(v) = arg.strip_prefix("--memory-bytes=") {
            memory = v.parse::<u64>().ok();
        } else if let Some(v) = arg.strip_prefix("--cpu-seconds=") {
            cpu = v.parse::<u64>().ok();
        } else if let Some(v) = arg.strip_prefix("--fuel=") {
            fuel = v.parse::<bool>().ok();
        }
    }
    let (Some(memory), Some(cpu), Some(fuel)) = (memory, cpu, fuel) else {
        let _ = writeln!(
            err,
            "usage: {COMPILE_SUBCOMMAND} --memory-bytes=N --cpu-seconds=N --fuel=BOOL"
        );
        return EXIT_USAGE;
    };
    if let Err(e) = limit_self(memory, cpu) {
        let _ = writeln!(err, "cannot set the compile budget: {e}");
        return EXIT_USAGE;
    }
    let mut wasm = Vec::new();
    if let Err(e) = input
        .take(MAX_MODULE_BYTES as u64 + 1)
        .read_to_end(&mut wasm)
    {
        let _ = writeln!(err, "cannot read the module: {e}");
        return EXIT_USAGE;
    }
    let compiled = std::panic::catch_unwind(|| compile_here(&wasm, fuel));
    match compiled {
        Ok(Ok(artifact)) => {
            let mut header = OUTPUT_MAGIC.to_vec();
            header.extend_from_slice(&peak_rss().unwrap_or(0).to_le_bytes());
            match output
                .write_all(&header)
                .and_then(|()| output.write_all(&artifact))
            {
                Ok(()) => 0,
                Err(_) => EXIT_USAGE,
            }
        }
        Ok(Err(PolicyErrorKind::InvalidModule { message })) => {
            let _ = write!(err, "{message}");
            EXIT_INVALID
        }
        Ok(Err(other)) => {
            let _ = write!(err, "{other}");
            EXIT_PANIC
        }
        Err(_) => EXIT_PANIC,
    }
}

fn limit_self(memory: u64, cpu_seconds: u64) -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    setrlimit(
        Resource::Data,
        Rlimit {
            current: Some(memory),
            maximum: Some(memory),
        },
    )?;
    // Soft limit sends SIGXCPU, the hard one a second later SIGKILL.
    setrlimit(
        Resource::Cpu,
        Rlimit {
            current: Some(cpu_seconds),
            maximum: Some(cpu_seconds.saturating_add(1)),
        },
    )?;
    Ok(())
}

/// Peak resident set of this process (`VmHWM` in `/proc/self/status`), in bytes.
pub(crate) fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
