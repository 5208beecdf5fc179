//! Operating a store: checking it (`gomodfs fsck`), filling it ahead of
//! time (`gomodfs prefetch`, `gomodfs import`), and what they share
//! (progress output, the store's location, the warm list).

pub mod fsck;
pub mod gc;
pub mod import;
pub mod modlist;
pub mod prefetch;
mod progress;
pub mod units;

pub use progress::human_bytes;

use crate::Error;
use std::path::{Path, PathBuf};

/// The store directory: `dir`, else [`crate::default_store_dir`].
pub fn store_dir(dir: Option<&Path>) -> Result<PathBuf, Error> {
    match dir {
        Some(d) => Ok(d.to_owned()),
        None => crate::default_store_dir(),
    }
}

/// Opens the existing store at `dir` (else the default one) for an
/// operation that must not create one.
pub(crate) fn open_existing_store(
    dir: Option<&Path>,
) -> Result<gomodfs_core::store::GitStore, Error> {
    let dir = store_dir(dir)?;
    if !dir.join("objects").is_dir() {
        return Err(Error::Usage(format!(
            "{} is not a gomodfs store (no objects/ directory)",
            dir.display()
        )));
    }
    Ok(gomodfs_core::store::GitStore::open(&dir)?)
}

/// The warm list entry for a stored module version: its tree when the
/// store holds it whole, else its `.mod` (a version only in the module
/// graph).
pub(crate) fn warm_entry(
    module: gomodfs_core::modpath::ModuleVersion,
    whole: bool,
) -> gomodfs_core::fs::WarmEntry {
    use gomodfs_core::fs::{WarmEntry, WarmKind};
    WarmEntry {
        kind: if whole {
            WarmKind::Tree
        } else {
            WarmKind::Meta(gomodfs_core::store::MetaFile::Mod)
        },
        module,
    }
}

/// Puts `entries` in front of the warm list of the store at `dir`, so the
/// next mount preloads them (see `gomodfs_core::fs::WarmStart`). Failure
/// only warns: the list is a hint.
pub(crate) fn put_in_warm_list(dir: &Path, entries: &[gomodfs_core::fs::WarmEntry]) {
    let path = crate::warm_list_path(dir);
    if let Err(e) = gomodfs_core::fs::write_list(&path, entries) {
        tracing::warn!(file = %path.display(), error = %e, "cannot write the warm start's list");
    }
}

/// An error message without the `module@version: ` it starts with, for
/// lines that name the module already (`failed: MODULE: CAUSE`).
pub fn cause_after<'a>(subject: &str, message: &'a str) -> &'a str {
    message
        .strip_prefix(subject)
        .and_then(|rest| rest.strip_prefix(": "))
        .unwrap_or(message)
}

/// How many modules are worked on at once by default: the machine's
/// cores, at least 2 and at most 8.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}

/// Runs `work` on every item with at most `jobs` threads, calling `done`
/// (on the worker's thread) with each item and its result as it ends.
pub(crate) fn for_each_parallel<T: Sync, R>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> R + Sync,
    done: impl Fn(&T, R) + Sync,
) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                while let Some(item) =
                    items.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                {
                    done(item, work(item));
                }
            });
        }
    });
}
