//! The decision log's file: size-bounded and rotating (`PATH`, then `PATH.1` … `PATH.{K-1}`,
//! oldest last), for a volume in the controller's pod.
//!
//! Two guarantees an auditor relies on:
//! - **bounded**: at most `files` files of at most `max_bytes` bytes each; a record longer than
//!   `max_bytes` is refused (and so dropped and noted) rather than break the bound;
//! - **never a half-written line**: a record is one `write` of the line and its newline; if
//!   the write fails part-way (disk full, I/O error) the file is cut back to the end of the
//!   last complete line before the error is reported, and a file found ending in a partial
//!   line at start-up (the process was killed mid-write) is cut back the same way.
//!
//! The file handle is a type parameter ([`LogFile`]) so tests can make writes fail part-way
//! without filling a disk.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::sink::LineSink;

/// Default size of one file (100 MiB).
pub const DEFAULT_MAX_BYTES: u64 = 100 * 1024 * 1024;
/// Default number of files kept, the current one included.
pub const DEFAULT_FILES: u32 = 5;

/// A file the log appends to and can cut back.
pub trait LogFile: Write + Send + 'static {
    /// Cuts the file back to `len` bytes; the next write appends there.
    ///
    /// # Errors
    /// The I/O error.
    fn truncate_to(&mut self, len: u64) -> io::Result<()>;
}

impl LogFile for File {
    fn truncate_to(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)?;
        self.seek(SeekFrom::Start(len)).map(drop)
    }
}

/// Opens (appending) the file at a path; `File` in production.
pub type Opener<F> = Box<dyn FnMut(&Path) -> io::Result<F> + Send>;

/// The rotating log file ([`LineSink`]).
pub struct RotatingFile<F: LogFile = File> {
    path: PathBuf,
    max_bytes: u64,
    files: u32,
    open: Opener<F>,
    /// The open current file and its length (complete lines only); `None` after a failed
    /// rotation, reopened at the next write.
    current: Option<(F, u64)>,
}

impl<F: LogFile> std::fmt::Debug for RotatingFile<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatingFile")
            .field("path", &self.path)
            .field("max_bytes", &self.max_bytes)
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// Opens `path` for appending, creating it, and cuts off a partial last line; returns the file
/// and its length.
///
/// # Errors
/// The I/O error, naming nothing: the caller names the path.
pub fn open_append(path: &Path) -> io::Result<(File, u64)> {
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(false)
        .write(true)
        .truncate(false)
        .open(path)?;
    let len = complete_len(&mut file)?;
    file.truncate_to(len)?;
    Ok((file, len))
}

/// The length of `file` up to and including its last newline.
fn complete_len(file: &mut File) -> io::Result<u64> {
    let mut end = file.seek(SeekFrom::End(0))?;
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk[..n])?;
        if let Some(i) = chunk[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

impl RotatingFile<File> {
    /// The log at `path`: at most `files` files (1 = `path` only) of at most `max_bytes` each.
    ///
    /// # Errors
    /// `path` cannot be opened for writing (check the volume mount and permissions).
    pub fn open(path: impl Into<PathBuf>, max_bytes: u64, files: u32) -> io::Result<Self> {
        RotatingFile::with_opener(
            path,
            max_bytes,
            files,
            Box::new(|p: &Path| open_append(p).map(|(f, _)| f)),
        )
    }
}

impl<F: LogFile> RotatingFile<F> {
    /// Like [`RotatingFile::open`] with the file handle made by `open` (tests).
    ///
    /// # Errors
    /// `open` failed on `path`.
    pub fn with_opener(
        path: impl Into<PathBuf>,
        max_bytes: u64,
        files: u32,
        mut open: Opener<F>,
    ) -> io::Result<Self> {
        let path = path.into();
        let file = open(&path)?;
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Ok(RotatingFile {
            path,
            max_bytes: max_bytes.max(1),
            files: files.max(1),
            open,
            current: Some((file, len)),
        })
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    /// `PATH.{K-2}` → `PATH.{K-1}` … `PATH` → `PATH.1`, the oldest dropped; a fresh `PATH`.
    fn rotate(&mut self) -> io::Result<()> {
        self.current = None;
        let ignore_missing = |r: io::Result<()>| match r {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
        if self.files == 1 {
            ignore_missing(std::fs::remove_file(&self.path))?;
        } else {
            for n in (1..self.files - 1).rev() {
                ignore_missing(std::fs::rename(self.numbered(n), self.numbered(n + 1)))?;
            }
            ignore_missing(std::fs::rename(&self.path, self.numbered(1)))?;
        }
        let file = (self.open)(&self.path)?;
        self.current = Some((file, 0));
        Ok(())
    }
}

impl<F: LogFile> LineSink for RotatingFile<F> {
    fn write_line(&mut self, line: &str) -> io::Result<()> {
        let needed = line.len() as u64 + 1;
        if needed > self.max_bytes {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "record of {needed} bytes is larger than --decision-log-max-bytes ({})",
                    self.max_bytes
                ),
            ));
        }
        if self.current.is_none() {
            // After a failed rotation or cut: the file as it is now (its opener cuts a partial
            // last line).
            let file = (self.open)(&self.path)?;
            let len = std::fs::metadata(&self.path).map(|m| m.len())?;
            self.current = Some((file, len));
        }
        if self
            .current
            .as_ref()
            .is_some_and(|(_, len)| len + needed > self.max_bytes)
        {
            self.rotate()?;
        }
        let Some((file, len)) = self.current.as_mut() else {
            return Err(io::Error::other("decision log file not open"));
        };
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        if let Err(e) = file.write_all(&buf) {
            // Whatever part of the line reached the file goes; if even that fails, the file is
            // reopened (and cut back) before the next line.
            if file.truncate_to(*len).is_err() {
                self.current = None;
            }
            return Err(e);
        }
        *len += needed;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "fleetward-decision-log-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn rotation_keeps_at_most_k_files_of_at_most_n_bytes() {
        let d = dir("rotate");
        let path = d.join("decisions.jsonl");
        let mut log = RotatingFile::open(&path, 100, 3).unwrap();
        for i in 0..50 {
            log.write_line(&format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 20)))
                .unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["decisions.jsonl", "decisions.jsonl.1", "decisions.jsonl.2"]
        );
        let mut last = Vec::new();
        for name in names.iter().rev() {
            let text = std::fs::read_to_string(d.join(name)).unwrap();
            assert!(text.len() <= 100, "{name}: {} bytes", text.len());
            assert!(text.ends_with('\n'));
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                last.push(v["n"].as_u64().unwrap());
            }
        }
        // Oldest file first: the newest records, in order, ending with the last one written.
        assert!(last.windows(2).all(|w| w[1] == w[0] + 1), "{last:?}");
        assert_eq!(last.last(), Some(&49));
        // A record that cannot fit any file is refused, not written over the bound.
        assert!(log.write_line(&"y".repeat(100)).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A file that, while told to, writes half of what it is given and then fails.
    struct Flaky {
        file: File,
        fail: Arc<AtomicBool>,
    }

    impl Write for Flaky {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.fail.load(Ordering::SeqCst) {
                self.file.write_all(&buf[..buf.len() / 2])?;
                return Err(io::Error::other("No space left on device"));
            }
            self.file.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.file.flush()
        }
    }

    impl LogFile for Flaky {
        fn truncate_to(&mut self, len: u64) -> io::Result<()> {
            self.file.truncate_to(len)
        }
    }

    #[test]
    fn a_failed_write_leaves_no_half_line() {
        let d = dir("flaky");
        let path = d.join("decisions.jsonl");
        let fail = Arc::new(AtomicBool::new(false));
        let f = fail.clone();
        let mut log = RotatingFile::with_opener(
            &path,
            1 << 20,
            2,
            Box::new(move |p: &Path| {
                Ok(Flaky {
                    file: open_append(p)?.0,
                    fail: f.clone(),
                })
            }),
        )
        .unwrap();
        log.write_line(r#"{"n":1}"#).unwrap();
        fail.store(true, Ordering::SeqCst);
        let err = log
            .write_line(r#"{"n":2,"long":"enough to be cut"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("No space"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"n\":1}\n");
        fail.store(false, Ordering::SeqCst);
        log.write_line(r#"{"n":3}"#).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"n\":1}\n{\"n\":3}\n"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_partial_line_left_by_a_crash_is_cut_at_start() {
        let d = dir("crash");
        let path = d.join("decisions.jsonl");
        std::fs::write(&path, "{\"n\":1}\n{\"n\":2,\"cut").unwrap();
        let mut log = RotatingFile::open(&path, 1 << 20, 2).unwrap();
        log.write_line(r#"{"n":3}"#).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"n\":1}\n{\"n\":3}\n"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
