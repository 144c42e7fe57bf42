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
//! opened. The file starts with a header that repeats the digest and fingerprint, a CRC-32 against
//! truncation and disk corruption, and what the first load learned about the module (its
//! imports, decisions and ABI version), so a cache hit skips static inspection and the ABI-probe
//! instantiation (`docs/perf/engine.md`).

use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use cap_std::fs::Dir;
use fleetward_sdk::wire::DecisionKind;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::Digest;
use crate::digest::to_hex;

/// Format tag; bumped whenever the header layout changes (an old file is then just a miss).
const MAGIC: &[u8; 8] = b"FWCWASM3";
/// Largest artifact we will read back (compiled code is a few times the Wasm size).
const MAX_ARTIFACT_BYTES: u64 = 512 * 1024 * 1024;
/// Largest metadata block we accept (imports and decisions of one module).
const MAX_META_BYTES: usize = 1024 * 1024;

/// What `Engine::load` learned about a module the first time (static inspection and the ABI
/// version it returned), stored with the artifact so a cache hit needs neither again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CachedInfo {
    /// The ABI version read statically (a constant `fleetward_abi_version`), if it was; the
    /// call at bind checks it either way.
    pub(crate) abi_version: Option<u32>,
    /// Decision exports, in [`DecisionKind::ALL`] order.
    pub(crate) decisions: Vec<DecisionKind>,
    /// Every import, as `module::name`.
    pub(crate) imports: Vec<String>,
    /// Whether the module exports `fleetward_validate_config`.
    pub(crate) validates_config: bool,
    /// Initial linear memory in bytes.
    pub(crate) initial_memory_bytes: u64,
}

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
    /// The metadata block could not be encoded or decoded.
    #[error("cache file {file} metadata: {source}")]
    Meta {
        /// File name inside the cache directory.
        file: String,
        /// The JSON failure.
        #[source]
        source: serde_json::Error,
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

    /// `MAGIC ‖ digest hex ‖ fingerprint`: names what the file is for.
    fn identity(&self, digest: &Digest) -> Vec<u8> {
        let mut h = Vec::with_capacity(MAGIC.len() + 64 + self.fingerprint.len() + 8);
        h.extend_from_slice(MAGIC);
        h.extend_from_slice(digest.hex().as_bytes());
        h.extend_from_slice(self.fingerprint.as_bytes());
        h
    }

    /// The compiled module for `digest` and what the first load learned about it, if a valid
    /// file exists. `Ok(None)` when absent.
    ///
    /// File layout: identity (see [`DiskCache::identity`]), CRC-32 (LE) of everything after
    /// it, metadata length (u32 LE), metadata (JSON [`CachedInfo`]), artifact.
    pub(crate) fn get(
        &self,
        engine: &wasmtime::Engine,
        digest: &Digest,
    ) -> Result<Option<(wasmtime::Module, CachedInfo)>, CacheError> {
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
        let identity = self.identity(digest);
        let Some(rest) = bytes.strip_prefix(identity.as_slice()) else {
            return Err(invalid("header names another digest, engine or format"));
        };
        let (crc, body) = split_u32(rest).ok_or_else(|| invalid("shorter than its header"))?;
        if crc32fast::hash(body) != crc {
            return Err(invalid("checksum mismatch (truncated or corrupted)"));
        }
        let (meta_len, rest) = split_u32(body).ok_or_else(|| invalid("shorter than its header"))?;
        let meta_len = meta_len as usize;
        if meta_len > MAX_META_BYTES || meta_len > rest.len() {
            return Err(invalid("metadata length out of range"));
        }
        let (meta, artifact) = rest.split_at(meta_len);
        let info: CachedInfo = serde_json::from_slice(meta).map_err(|source| CacheError::Meta {
            file: file.clone(),
            source,
        })?;
        let module =
            deserialize_verified(engine, artifact).map_err(|e| CacheError::Deserialize {
                file,
                message: e.to_string(),
            })?;
        Ok(Some((module, info)))
    }

    /// Compiles nothing: stores `artifact` (from `Module::serialize`) and `info` for `digest`,
    /// atomically (write to a temporary name, then rename), so a reader never sees a file being
    /// written and a file is never modified in place.
    pub(crate) fn put(
        &self,
        digest: &Digest,
        info: &CachedInfo,
        artifact: &[u8],
    ) -> Result<(), CacheError> {
        let file = self.file_name(digest);
        let meta = serde_json::to_vec(info).map_err(|source| CacheError::Meta {
            file: file.clone(),
            source,
        })?;
        let meta_len = u32::try_from(meta.len())
            .ok()
            .filter(|n| (*n as usize) <= MAX_META_BYTES)
            .ok_or_else(|| CacheError::Invalid {
                file: file.clone(),
                reason: "metadata too large to cache",
            })?;
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&meta_len.to_le_bytes());
        hasher.update(&meta);
        hasher.update(artifact);
        let mut header = self.identity(digest);
        header.extend_from_slice(&hasher.finalize().to_le_bytes());
        header.extend_from_slice(&meta_len.to_le_bytes());
        header.extend_from_slice(&meta);
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
            f.write_all(&header)?;
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

/// A little-endian `u32` prefix and the rest.
fn split_u32(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<4>()?;
    Some((u32::from_le_bytes(*head), rest))
}

/// Turns a precompiled artifact back into a module.
///
/// This is the crate's only `unsafe`.
#[allow(unsafe_code)]
pub(crate) fn deserialize_verified(
    engine: &wasmtime::Engine,
    artifact: &[u8],
) -> wasmtime::Result<wasmtime::Module> {
    // SAFETY: `Module::deserialize` trusts its input to be an artifact produced by
    // `Module::serialize` (it is machine code that will be executed). The bytes reach here from
    // two places. (1) `compile.rs`: the stdout of the compiler child, which is this host's own
    // binary (`EngineConfig::compiler`, trusted like the host binary itself) and which wrote the
    // bytes with `Module::serialize` of an engine with this engine's settings; the module being
    // hostile changes what code Cranelift generated, exactly as an in-process compile would,
    // not who produced the artifact. (2) `DiskCache::get`, after checking that the file carries our magic header naming this
    // exact module digest and this engine's fingerprint (so it was written by `DiskCache::put`
    // for an engine with a compatible configuration) and that its CRC-32 matches (so it is not
    // truncated or accidentally corrupted). The CRC is not a security boundary and neither was
    // the SHA-256 it replaced: anyone who can write the directory can write a matching checksum
    // next to their own code. The trust comes from the cache directory being the controller's
    // own, writable only by the host's user (documented on `EngineConfig::cache_dir`), exactly
    // like the host binary itself. The bytes are an owned copy read before this call, so a
    // concurrent writer cannot change them underneath wasmtime. wasmtime additionally checks
    // the artifact's version and configuration and fails rather than loading a mismatch.
    unsafe { wasmtime::Module::deserialize(engine, artifact) }
}
