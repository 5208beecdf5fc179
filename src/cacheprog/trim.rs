//! Trimming the local directory: a size cap with least-recently-used
//! eviction, and an age limit like go's own trim of its GOCACHE. Safe
//! while builds run: an object used (got or put) within [`GRACE`] is never
//! removed, and a hit refreshes the mtime of an object older than
//! [`TOUCH_INTERVAL`](super::local::TOUCH_INTERVAL), so what a running
//! build was handed stays on disk for at least 50 minutes after.
//!
//! At most one helper trims a directory at a time (`trim.lock`), and only
//! when the last trim (`trim.txt`) is older than the trim interval.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Objects used more recently than this are never removed.
pub const GRACE: Duration = Duration::from_secs(3600);

/// Temporary files older than this are leftovers of a killed helper.
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// What to keep.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Most bytes of objects to keep (0: no cap). Trimming goes down to 90%
    /// of it, so that it does not run again at the next put.
    pub max_bytes: u64,
    /// Remove objects unused for longer than this.
    pub max_unused: Duration,
    /// Objects used more recently than this are kept whatever the cap.
    pub grace: Duration,
}

/// What a trim did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Object bytes before.
    pub bytes_before: u64,
    /// Object bytes after.
    pub bytes_after: u64,
    /// Objects removed.
    pub removed: u64,
    /// Action entries removed (their object was gone).
    pub entries_removed: u64,
}

struct Object {
    path: PathBuf,
    size: u64,
    mtime: SystemTime,
}

fn files_in(dir: &Path) -> io::Result<Vec<(PathBuf, fs::Metadata)>> {
    let mut out = Vec::new();
    let shards = match fs::read_dir(dir) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for shard in shards {
        let shard = shard?.path();
        let Ok(files) = fs::read_dir(&shard) else {
            continue;
        };
        for file in files.flatten() {
            if let Ok(meta) = file.metadata()
                && meta.is_file()
            {
                out.push((file.path(), meta));
            }
        }
    }
    Ok(out)
}

fn age(now: SystemTime, t: SystemTime) -> Duration {
    now.duration_since(t).unwrap_or(Duration::ZERO)
}

/// Removes `path` if it was not used within `grace` (re-checked just
/// before, since a build may have used it meanwhile).
fn remove_if_unused(path: &Path, grace: Duration) -> bool {
    let now = SystemTime::now();
    let fresh = fs::metadata(path)
        .and_then(|m| m.modified())
        .map(|m| age(now, m) < grace)
        .unwrap_or(true);
    !fresh && fs::remove_file(path).is_ok()
}

/// Trims the directory at `root` now; stops early (leaving the rest for
/// the next trim) once `stop` is set.
pub fn trim(root: &Path, policy: &Policy, stop: &AtomicBool) -> io::Result<Report> {
    let now = SystemTime::now();
    let mut objects: Vec<Object> = files_in(&root.join("o"))?
        .into_iter()
        .map(|(path, meta)| Object {
            path,
            size: meta.len(),
            mtime: meta.modified().unwrap_or(now),
        })
        .collect();
    objects.sort_by_key(|o| o.mtime);
    let mut report = Report {
        bytes_before: objects.iter().map(|o| o.size).sum(),
        ..Report::default()
    };
    let mut total = report.bytes_before;
    let target = policy.max_bytes / 10 * 9;
    for o in &objects {
        if stop.load(Relaxed) {
            break;
        }
        let old = age(now, o.mtime) > policy.max_unused;
        let over = policy.max_bytes > 0 && total > target;
        if !old && !over {
            // Sorted oldest first: nothing newer is too old either.
            break;
        }
        if age(now, o.mtime) < policy.grace {
            break;
        }
        if remove_if_unused(&o.path, policy.grace) {
            total -= o.size;
            report.removed += 1;
        }
    }
    report.bytes_after = total;
    // Entries whose object is gone (trimmed) are dropped: they are misses.
    for (path, meta) in files_in(&root.join("a"))? {
        if stop.load(Relaxed) {
            break;
        }
        if meta.modified().is_ok_and(|m| age(now, m) < policy.grace) {
            continue;
        }
        let object = fs::read_to_string(&path)
            .ok()
            .and_then(|e| e.split(' ').next().map(str::to_owned))
            .filter(|h| h.len() == 64)
            .map(|h| root.join("o").join(&h[..2]).join(h));
        if object.is_none_or(|o| !o.exists()) && fs::remove_file(&path).is_ok() {
            report.entries_removed += 1;
        }
    }
    if let Ok(temps) = fs::read_dir(root.join("tmp")) {
        for t in temps.flatten() {
            if t.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|m| age(now, m) > STALE_TEMP)
            {
                let _ = fs::remove_file(t.path());
            }
        }
    }
    Ok(report)
}

/// Trims `root` if the last trim is older than `interval` and no other
/// helper is trimming it; `None` when it was not this helper's turn.
pub fn trim_if_due(
    root: &Path,
    policy: &Policy,
    interval: Duration,
    stop: &AtomicBool,
) -> io::Result<Option<Report>> {
    let stamp = root.join("trim.txt");
    let now = SystemTime::now();
    let last = fs::read_to_string(&stamp)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs));
    if last.is_some_and(|l| age(now, l) < interval) {
        return Ok(None);
    }
    let lock = root.join("trim.lock");
    if fs::metadata(&lock)
        .and_then(|m| m.modified())
        .is_ok_and(|m| age(now, m) > STALE_TEMP)
    {
        let _ = fs::remove_file(&lock);
    }
    match fs::File::options().write(true).create_new(true).open(&lock) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(e),
    }
    let result = trim(root, policy, stop);
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let stamped = fs::write(&stamp, format!("{secs}\n"));
    let _ = fs::remove_file(&lock);
    let report = result?;
    stamped?;
    Ok(Some(report))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn object(root: &Path, name: &str, size: usize, age_secs: u64) -> PathBuf {
        let dir = root.join("o").join(&name[..2]);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        fs::write(&path, vec![0u8; size]).unwrap();
        let t = SystemTime::now() - Duration::from_secs(age_secs);
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(t)
            .unwrap();
        path
    }

    #[test]
    fn evicts_least_recently_used_down_to_the_cap_but_never_within_grace() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let oldest = object(root, &"a".repeat(64), 1000, 10 * 3600);
        let older = object(root, &"b".repeat(64), 1000, 5 * 3600);
        let old = object(root, &"c".repeat(64), 1000, 2 * 3600);
        let fresh = object(root, &"d".repeat(64), 1000, 60);
        let policy = Policy {
            max_bytes: 2500,
            max_unused: Duration::from_secs(5 * 86400),
            grace: GRACE,
        };
        let report = trim(root, &policy, &AtomicBool::new(false)).unwrap();
        // 4000 > 2500: down to 2250 -> the two least recently used go.
        assert_eq!(report.removed, 2);
        assert!(!oldest.exists() && !older.exists());
        assert!(old.exists() && fresh.exists());
        // A cap below what the last hour used keeps what the last hour used.
        let policy = Policy {
            max_bytes: 1,
            ..policy
        };
        trim(root, &policy, &AtomicBool::new(false)).unwrap();
        assert!(!old.exists() && fresh.exists());
    }

    #[test]
    fn removes_unused_objects_and_dangling_entries_and_runs_when_due() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let stale = object(root, &"e".repeat(64), 10, 6 * 86400);
        let entry_dir = root.join("a").join("ff");
        fs::create_dir_all(&entry_dir).unwrap();
        let entry = entry_dir.join("f".repeat(64));
        fs::write(&entry, format!("{} 10\n", "e".repeat(64))).unwrap();
        fs::File::options()
            .write(true)
            .open(&entry)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(2 * 3600))
            .unwrap();
        let policy = Policy {
            max_bytes: 0,
            max_unused: Duration::from_secs(5 * 86400),
            grace: GRACE,
        };
        let report = trim_if_due(
            root,
            &policy,
            Duration::from_secs(3600),
            &AtomicBool::new(false),
        )
        .unwrap()
        .unwrap();
        assert_eq!((report.removed, report.entries_removed), (1, 1));
        assert!(!stale.exists() && !entry.exists());
        // Not due again within the interval.
        assert!(
            trim_if_due(
                root,
                &policy,
                Duration::from_secs(3600),
                &AtomicBool::new(false)
            )
            .unwrap()
            .is_none()
        );
    }
}
