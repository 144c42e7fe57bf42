//! The on-disk cache of compiled modules.
//!
//! Compiling a policy with Cranelift takes tens to hundreds of milliseconds; loading a
//! precompiled artifact takes well under one. The controller restarts and the CLI runs once per
//! command, so compiled modules are kept in a directory the host opened on purpose (a cap-std
//! handle: nothing here can touch a path outside it).
//!
//! A file is named `<digest hex>-<engine fingerprint>.cwasm`. The fingerprint hashes wasmtime's
//! precompile-compatibility hash (wasmtime version, target, and every compilation setting) with
//! this crate's version, so a file written by a differently configured engine is never even
//! opened. The file starts with a header that repeats the digest and fingerprint and carries a
//! SHA-256 of the artifact, checked before the artifact is handed to wasmtime.

use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use cap_std::fs::Dir;
use sha2::{Digest as _, Sha256};

use crate::Digest;
use crate::digest::to_hex;

const MAGIC: &[u8; 8] = b"FWCWASM1";
/// Largest artifact we will read back (compiled code is a few times the Wasm size).
const MAX_ARTIFACT_BYTES: u64 = 512 * 1024 * 1024;

/// A cache-directory failure. Never fatal to a load: the module is compiled instead.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CacheError {
    /// Reading or writing the file failed.
    #[error("cache file {file}: {source}")]
    Io {
        /// File name inside the cache directory.
        file: String,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The file is not one we wrote for this digest and engine, or it is damaged.
    #[error("cache file {file} is invalid: {reason}")]
    Invalid {
        /// File name inside the cache directory.
        file: String,
        /// What did not match.
        reason: &'static str,
    },
    /// wasmtime refused the artifact.
    #[error("cache file {file} was refused by wasmtime: {message}")]
    Deserialize {
        /// File name inside the cache directory.
        file: String,
        /// wasmtime's explanation.
        message: String,
    },
}

/// A `Hasher` that feeds SHA-256, so the fingerprint is stable across processes and builds.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let d = self.0.clone().finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        u64::from_le_bytes(b)
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// The engine fingerprint: 16 hex digits over wasmtime's compatibility hash and our version.
pub(crate) fn fingerprint(engine: &wasmtime::Engine) -> String {
    let mut h = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    h.write(b"fleetward-engine ");
    h.write(env!("CARGO_PKG_VERSION").as_bytes());
    to_hex(&h.0.finalize()[..8])
}

/// The cache directory plus the fingerprint of the engine that uses it.
#[derive(Debug)]
pub(crate) struct DiskCache {
    dir: Dir,
    fingerprint: String,
    tmp_counter: AtomicU64,
}

impl DiskCache {
    pub(crate) fn new(dir: Dir, fingerprint: String) -> Self {
        DiskCache {
            dir,
            fingerprint,
            tmp_counter: AtomicU64::new(0),
        }
    }

    fn file_name(&self, digest: &Digest) -> String {
        format!("{}-{}.cwasm", digest.hex(), self.fingerprint)
    }

    fn header(&self, digest: &Digest, artifact: &[u8]) -> Vec<u8> {
        let mut h = Vec::with_capacity(8 + 64 + 16 + 32);
        h.extend_from_slice(MAGIC);
        h.extend_from_slice(digest.hex().as_bytes());
        h.extend_from_slice(self.fingerprint.as_bytes());
        h.extend_from_slice(&Sha256::digest(artifact));
        h
    }

    /// The compiled module for `digest`, if a valid file exists. `Ok(None)` when absent.
    pub(crate) fn get(
        &self,
        engine: &wasmtime::Engine,
        digest: &Digest,
    ) -> Result<Option<wasmtime::Module>, CacheError> {
        let file = self.file_name(digest);
        let io = |source| CacheError::Io {
            file: file.clone(),
            source,
        };
        let mut f = match self.dir.open(&file) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let mut bytes = Vec::new();
        (&mut f)
            .take(MAX_ARTIFACT_BYTES)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        let invalid = |reason| CacheError::Invalid {
            file: file.clone(),
            reason,
        };
        let header_len = 8 + 64 + self.fingerprint.len() + 32;
        if bytes.len() < header_len {
            return Err(invalid("shorter than its header"));
        }
        let (header, artifact) = bytes.split_at(header_len);
        if header[..header_len - 32] != self.header(digest, &[])[..header_len - 32] {
            return Err(invalid("header names another digest, engine or format"));
        }
        if header[header_len - 32..] != Sha256::digest(artifact)[..] {
            return Err(invalid(
                "artifact checksum mismatch (truncated or corrupted)",
            ));
        }
        deserialize_verified(engine, artifact)
            .map(Some)
            .map_err(|e| CacheError::Deserialize {
                file,
                message: e.to_string(),
            })
    }

    /// Compiles nothing: stores `artifact` (from `Engine::precompile_module`) for `digest`,
    /// atomically (write to a temporary name, then rename).
    pub(crate) fn put(&self, digest: &Digest, artifact: &[u8]) -> Result<(), CacheError> {
        let file = self.file_name(digest);
        let tmp = format!(
            ".{file}.{}.{}.tmp",
            std::process::id(),
            self.tmp_counter.fetch_add(1, Ordering::Relaxed)
        );
        let io = |source| CacheError::Io {
            file: file.clone(),
            source,
        };
        let write = || -> std::io::Result<()> {
            let mut f = self.dir.create(&tmp)?;
            f.write_all(&self.header(digest, artifact))?;
            f.write_all(artifact)?;
            f.sync_all()?;
            self.dir.rename(&tmp, &self.dir, &file)
        };
        write().map_err(|e| {
            let _ = self.dir.remove_file(&tmp);
            io(e)
        })
    }
}

/// Turns a precompiled artifact back into a module.
///
/// This is the crate's only `unsafe`.
#[allow(unsafe_code)]
fn deserialize_verified(
    engine: &wasmtime::Engine,
    artifact: &[u8],
) -> wasmtime::Result<wasmtime::Module> {
    // SAFETY: `Module::deserialize` trusts its input to be an artifact produced by
    // `Engine::precompile_module` (it is machine code that will be executed). The bytes reach
    // here only from `DiskCache::get`, which has checked that the file (1) carries our magic
    // header naming this exact module digest and this engine's fingerprint, i.e. it was
    // written by `DiskCache::put` from `precompile_module` output of an engine with a
    // compatible configuration, and (2) matches the SHA-256 recorded in that header, so it is
    // not truncated or corrupted. wasmtime itself additionally checks the artifact's version
    // and configuration and fails rather than loading a mismatch. The remaining trust is in
    // the cache directory: it must be writable only by the host (the operator's choice, as
    // documented on `EngineConfig::cache_dir`), exactly like the host binary itself.
    unsafe { wasmtime::Module::deserialize(engine, artifact) }
}
