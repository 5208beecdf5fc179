//! The live counters of one helper process, and the files through which
//! they reach the status outputs: with `--stats-dir DIR` each helper writes
//! `DIR/<pid>.json` (atomically, every second while it runs and at exit);
//! [`sum_dir`] adds them up.

use gomodfs_core::stats::BuildCacheCounters;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters updated from any thread.
#[derive(Debug, Default)]
pub struct Counters {
    pub(crate) gets: AtomicU64,
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) remote_hits: AtomicU64,
    pub(crate) verify_failures: AtomicU64,
    pub(crate) puts: AtomicU64,
    pub(crate) put_bytes: AtomicU64,
    pub(crate) hit_bytes: AtomicU64,
    pub(crate) remote_bytes: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) trimmed: AtomicU64,
}

/// Adds `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Relaxed);
}

impl Counters {
    /// The counters now, as one process.
    pub fn snapshot(&self) -> BuildCacheCounters {
        BuildCacheCounters {
            processes: 1,
            gets: self.gets.load(Relaxed),
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            remote_hits: self.remote_hits.load(Relaxed),
            verify_failures: self.verify_failures.load(Relaxed),
            puts: self.puts.load(Relaxed),
            put_bytes: self.put_bytes.load(Relaxed),
            hit_bytes: self.hit_bytes.load(Relaxed),
            remote_bytes: self.remote_bytes.load(Relaxed),
            errors: self.errors.load(Relaxed),
            trimmed: self.trimmed.load(Relaxed),
        }
    }
}

/// The file this process reports to in `dir`.
pub fn report_path(dir: &Path) -> PathBuf {
    dir.join(format!("{}.json", std::process::id()))
}

/// Writes `counters` to `path` atomically.
pub fn write_report(path: &Path, counters: &BuildCacheCounters) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer(&mut tmp, counters).map_err(std::io::Error::other)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The sum of the reports in `dir` (`None` when there are none).
pub fn sum_dir(dir: &Path) -> Option<BuildCacheCounters> {
    let mut total: Option<BuildCacheCounters> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Some(c) = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<BuildCacheCounters>(&b).ok())
        else {
            continue;
        };
        *total.get_or_insert_with(BuildCacheCounters::default) += c;
    }
    total
}

/// One line for people: `812 gets, 800 hits (98.5%), ...`.
pub fn summary(c: &BuildCacheCounters) -> String {
    let rate = if c.gets > 0 {
        100.0 * c.hits as f64 / c.gets as f64
    } else {
        0.0
    };
    let mut line = format!(
        "{} gets, {} hits ({rate:.1}%), {} misses, {} puts ({} bytes)",
        c.gets, c.hits, c.misses, c.puts, c.put_bytes
    );
    if c.remote_hits > 0 || c.remote_bytes > 0 {
        line += &format!(", {} remote hits ({} bytes)", c.remote_hits, c.remote_bytes);
    }
    if c.verify_failures > 0 {
        line += &format!(", {} remote objects refused", c.verify_failures);
    }
    if c.errors > 0 {
        line += &format!(", {} errors", c.errors);
    }
    line
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reports_sum_up() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(sum_dir(dir.path()), None);
        let c = Counters::default();
        add(&c.gets, 3);
        add(&c.hits, 2);
        write_report(&dir.path().join("1.json"), &c.snapshot()).unwrap();
        write_report(&dir.path().join("2.json"), &c.snapshot()).unwrap();
        std::fs::write(dir.path().join("3.json.tmp"), "junk").unwrap();
        let total = sum_dir(dir.path()).unwrap();
        assert_eq!((total.processes, total.gets, total.hits), (2, 6, 4));
        assert!(summary(&total).starts_with("6 gets, 4 hits (66.7%)"));
    }
}
