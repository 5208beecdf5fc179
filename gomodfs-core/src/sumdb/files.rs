//! The verified checksum-database files a store keeps: lookups and tiles,
//! named as in go's `GOMODCACHE/cache/download/sumdb/` (`<name>/lookup/…`,
//! `<name>/tile/…`), and the last tree head seen (`<name>/latest`).
//!
//! On disk under the configured directory (the command uses
//! `<store>/sumdb`), each file written to a temporary name and renamed, so
//! readers in any process see a whole file or none; or in memory when no
//! directory is configured. Names are immutable (a partial tile has its
//! width in its name), so a file, once written, never changes — except
//! `latest`, which only moves forward.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Verified lookups and tiles, and the last tree head.
#[derive(Debug)]
pub(crate) struct Files {
    dir: Option<PathBuf>,
    memory: Mutex<HashMap<String, Bytes>>,
}

impl Files {
    /// Files under `dir`, or in memory when `None`.
    pub(crate) fn new(dir: Option<PathBuf>) -> Files {
        Files {
            dir,
            memory: Mutex::default(),
        }
    }

    /// The file `rel` (`/`-separated, already validated), if kept. An
    /// unreadable file counts as absent (it is fetched and verified again).
    pub(crate) fn get(&self, rel: &str) -> Option<Bytes> {
        match &self.dir {
            None => self.memory.lock().get(rel).cloned(),
            Some(dir) => match std::fs::read(dir.join(rel)) {
                Ok(data) if !data.is_empty() => Some(Bytes::from(data)),
                Ok(_) => None,
                Err(e) => {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!(file = rel, error = %e, "reading a checksum database file");
                    }
                    None
                }
            },
        }
    }

    /// Keeps `data` as `rel`. A failure to write is logged, not returned:
    /// the data was verified and is served anyway; it is fetched again
    /// next time.
    pub(crate) fn put(&self, rel: &str, data: &Bytes) {
        match &self.dir {
            None => {
                self.memory.lock().insert(rel.to_owned(), data.clone());
            }
            Some(dir) => {
                if let Err(e) = write_atomic(&dir.join(rel), data) {
                    tracing::warn!(file = rel, error = %e, "keeping a checksum database file");
                }
            }
        }
    }

    /// The names kept in directory `rel` (for listings), sorted, with
    /// whether each is a directory.
    pub(crate) fn list(&self, rel: &str) -> Vec<(String, bool)> {
        let prefix = if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        };
        let mut names: Vec<(String, bool)> = match &self.dir {
            None => {
                let mut names = HashMap::new();
                for key in self.memory.lock().keys() {
                    if let Some(rest) = key.strip_prefix(&prefix) {
                        match rest.split_once('/') {
                            Some((first, _)) => names.insert(first.to_owned(), true),
                            None => names.insert(rest.to_owned(), false),
                        };
                    }
                }
                names.into_iter().collect()
            }
            Some(dir) => std::fs::read_dir(dir.join(rel))
                .map(|entries| {
                    entries
                        .filter_map(|e| e.ok())
                        .filter_map(|e| {
                            let name = e.file_name().into_string().ok()?;
                            // Temporary files of writers in flight.
                            if name.starts_with(".tmp-") {
                                return None;
                            }
                            Some((name, e.file_type().ok()?.is_dir()))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        names.sort();
        names
    }
}

/// Writes `data` to `path` through a temporary file in the same directory
/// and a rename, creating the directories.
fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent directory"))?;
    std::fs::create_dir_all(dir)?;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".tmp-{}-{n}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        // No fsync: these files are a cache of what can be fetched again,
        // and one that no longer verifies is (see the checker).
        file.write_all(data)?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
