//! Reading a package directory's source files ahead of go.
//!
//! On a fresh mount `go build` reads every source file of every package it
//! builds (it hashes them for its build cache keys), one LOOKUP and one
//! READ round trip per file, in directory order; the READ's handler spent
//! most of its time loading the blob (inflate and check, 30-40 us). When a
//! whole `.go` file of a module directory is read, the directory's other
//! `.go` files after it (not `_test.go`, at most [`MAX_FILE`] bytes each,
//! at most [`MAX_FILES`]) are loaded from the store by a background thread
//! while go makes the round trips for the next file, and staged here until
//! their READ takes them. A directory is read ahead once.
//!
//! Nothing is loaded twice: a READ of a staged blob takes its slot, and if
//! the background thread is loading that blob right then the READ waits
//! for it; if it has not started on it yet, the READ loads it itself and
//! the thread skips it. Staged blobs nobody reads are dropped first in,
//! first out, beyond [`MAX_STAGED`].

use crate::error::Result;
use crate::store::{BlobId, Store};
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, OnceLock};

/// Largest file read ahead, in bytes.
pub(super) const MAX_FILE: u64 = 128 << 10;
/// Most files of one directory read ahead.
pub(super) const MAX_FILES: usize = 64;
/// Most blobs staged at once (at most 32 MiB with [`MAX_FILE`]).
const MAX_STAGED: usize = 256;
/// Directories remembered as read ahead before the memory is cleared.
const MAX_DIRS: usize = 16_384;
/// Directories waiting for the background thread.
const QUEUE: usize = 64;

/// A blob being loaded or loaded: `None` if the store failed (the READ
/// then loads it itself and reports the error).
type Slot = Arc<OnceLock<Option<Bytes>>>;

#[derive(Default)]
struct Staged {
    slots: HashMap<BlobId, Slot>,
    /// Insertion order, for dropping the oldest.
    order: VecDeque<BlobId>,
}

/// The read-ahead of package directories (see the module docs).
pub(super) struct ReadAhead {
    jobs: Option<SyncSender<Vec<(BlobId, Slot)>>>,
    staged: Mutex<Staged>,
    /// Hashes of the directories already read ahead.
    dirs: Mutex<HashSet<u64>>,
}

/// Whether a file is one go reads to build its package.
pub(super) fn is_build_source(name: &str) -> bool {
    name.ends_with(".go") && !name.ends_with("_test.go")
}

impl ReadAhead {
    /// A read-ahead loading from `store` on its own thread; `enabled`
    /// false (or no thread) makes every call a no-op.
    pub(super) fn new(store: Arc<dyn Store>, enabled: bool) -> ReadAhead {
        let jobs = if enabled {
            let (tx, rx) = sync_channel::<Vec<(BlobId, Slot)>>(QUEUE);
            let spawned = std::thread::Builder::new()
                .name("gomodfs-readahead".into())
                .spawn(move || {
                    for job in rx {
                        load_all(store.as_ref(), job);
                    }
                });
            match spawned {
                Ok(_) => Some(tx),
                Err(e) => {
                    tracing::warn!(error = %e, "no read-ahead thread: files are read on demand");
                    None
                }
            }
        } else {
            None
        };
        ReadAhead {
            jobs,
            staged: Mutex::default(),
            dirs: Mutex::default(),
        }
    }

    /// Reads ahead the blobs `files` of directory `dir` (a unique name),
    /// unless that directory was read ahead already.
    pub(super) fn directory(&self, dir: &str, files: impl FnOnce() -> Vec<BlobId>) {
        let Some(jobs) = &self.jobs else { return };
        let mut h = DefaultHasher::new();
        dir.hash(&mut h);
        {
            let mut dirs = self.dirs.lock();
            if dirs.len() >= MAX_DIRS {
                dirs.clear();
            }
            if !dirs.insert(h.finish()) {
                return;
            }
        }
        let mut job = Vec::new();
        {
            let mut staged = self.staged.lock();
            for id in files() {
                if staged.slots.contains_key(&id) {
                    continue;
                }
                let slot = Slot::default();
                staged.slots.insert(id, slot.clone());
                staged.order.push_back(id);
                job.push((id, slot));
            }
            while staged.order.len() > MAX_STAGED {
                if let Some(old) = staged.order.pop_front() {
                    staged.slots.remove(&old);
                }
            }
        }
        if job.is_empty() {
            return;
        }
        if let Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) = jobs.try_send(job) {
            // Busy: those files are read on demand.
            let mut staged = self.staged.lock();
            for (id, _) in job {
                staged.slots.remove(&id);
            }
        }
    }

    /// Blob `id` if it was read ahead (waiting for it if it is being
    /// read), else from `load`; the flag says whether it was staged.
    pub(super) fn take(
        &self,
        id: &BlobId,
        load: impl Fn() -> Result<Bytes>,
    ) -> Result<(Bytes, bool)> {
        if self.jobs.is_none() {
            return load().map(|b| (b, false));
        }
        let slot = {
            let mut staged = self.staged.lock();
            // Its place in `order` stays until it comes up for dropping.
            staged.slots.remove(id)
        };
        let Some(slot) = slot else {
            return load().map(|b| (b, false));
        };
        let mut failed = None;
        let mut loaded_here = false;
        let got = slot.get_or_init(|| {
            loaded_here = true;
            match load() {
                Ok(b) => Some(b),
                Err(e) => {
                    failed = Some(e);
                    None
                }
            }
        });
        match (got, failed) {
            (Some(b), _) => Ok((b.clone(), !loaded_here)),
            (None, Some(e)) => Err(e),
            // The background load failed: this READ reports why.
            (None, None) => load().map(|b| (b, false)),
        }
    }
}

/// Loads a job's blobs in order, skipping any a READ has taken and loaded
/// itself or that were dropped from the staging area.
fn load_all(store: &dyn Store, job: Vec<(BlobId, Slot)>) {
    for (id, slot) in job {
        // Only this thread holds it: dropped, nobody will read it here.
        if Arc::strong_count(&slot) == 1 || slot.get().is_some() {
            continue;
        }
        slot.get_or_init(|| match store.blob(&id) {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!(error = %e, "read-ahead of a blob failed");
                None
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_sources_are_go_files_but_tests() {
        assert!(is_build_source("a.go"));
        assert!(is_build_source("zz_generated.go"));
        assert!(!is_build_source("a_test.go"));
        assert!(!is_build_source("go.mod"));
        assert!(!is_build_source("README.md"));
    }
}
