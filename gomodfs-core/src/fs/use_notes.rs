//! Telling the store which modules are served, cheaply: the first time a
//! module is served in this process, and again once
//! [`NOTE_EVERY`] has passed while it keeps being served (also from the
//! in-memory caches, so a long-running mount keeps its modules "used").
//! Everything else is one map look-up.

use crate::modpath::ModuleVersion;
use crate::store::Store;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often a module still being served is noted again.
pub(super) const NOTE_EVERY: Duration = Duration::from_secs(3600);

/// When each module was last noted by this process.
pub(super) struct UseNotes {
    every: Duration,
    noted: parking_lot::Mutex<HashMap<ModuleVersion, Instant, quick_cache::DefaultHashBuilder>>,
}

impl Default for UseNotes {
    fn default() -> Self {
        UseNotes::every(NOTE_EVERY)
    }
}

impl UseNotes {
    /// Notes each module again once `every` has passed.
    fn every(every: Duration) -> Self {
        UseNotes {
            every,
            noted: parking_lot::Mutex::default(),
        }
    }

    /// Notes that `module` is being served, unless noted recently; true
    /// the first time this process serves it.
    pub(super) fn serving(&self, store: &dyn Store, module: &ModuleVersion) -> bool {
        let now = Instant::now();
        let first = {
            let mut noted = self.noted.lock();
            match noted.get_mut(module) {
                Some(at) if now.duration_since(*at) < self.every => return false,
                Some(at) => {
                    *at = now;
                    false
                }
                None => {
                    noted.insert(module.clone(), now);
                    true
                }
            }
        };
        if let Err(e) = store.note_used(module) {
            tracing::debug!(%module, error = %e, "cannot note the module's use");
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{
        BlobId, MetaFile, ModuleContents, StoreEntry, StoredModule, memory::MemoryStore,
    };
    use bytes::Bytes;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts `note_used` calls.
    #[derive(Default)]
    struct Counting(MemoryStore, AtomicUsize);

    impl Store for Counting {
        fn module(&self, m: &ModuleVersion) -> crate::Result<Option<StoredModule>> {
            self.0.module(m)
        }
        fn put_module(&self, m: &ModuleVersion, c: &ModuleContents) -> crate::Result<()> {
            self.0.put_module(m, c)
        }
        fn meta(&self, m: &ModuleVersion, f: MetaFile) -> crate::Result<Option<Bytes>> {
            self.0.meta(m, f)
        }
        fn put_meta(&self, m: &ModuleVersion, f: MetaFile, d: &Bytes) -> crate::Result<()> {
            self.0.put_meta(m, f, d)
        }
        fn blob(&self, id: &BlobId) -> crate::Result<Option<Bytes>> {
            self.0.blob(id)
        }
        fn list(&self) -> crate::Result<Vec<StoreEntry>> {
            self.0.list()
        }
        fn note_used(&self, _: &ModuleVersion) -> crate::Result<()> {
            self.1.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    }

    #[test]
    fn noted_once_then_again_after_the_interval() -> crate::Result<()> {
        let a = ModuleVersion::new("example.com/a", "v1.0.0")?;
        let b = ModuleVersion::new("example.com/b", "v1.0.0")?;
        let store = Counting::default();
        let notes = UseNotes::default();
        let firsts: Vec<bool> = (0..3).map(|_| notes.serving(&store, &a)).collect();
        assert_eq!(firsts, [true, false, false], "served first once");
        assert!(notes.serving(&store, &b));
        assert_eq!(store.1.load(Ordering::Relaxed), 2, "once per module");
        // Served for longer than the interval (here: none): noted again,
        // as a long-running mount serving from its caches does hourly.
        let store = Counting::default();
        let notes = UseNotes::every(Duration::ZERO);
        for _ in 0..3 {
            notes.serving(&store, &a);
        }
        assert_eq!(store.1.load(Ordering::Relaxed), 3);
        Ok(())
    }
}
