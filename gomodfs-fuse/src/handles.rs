//! Open file and directory handles: what an open pinned, by handle number.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A table of open handles holding `T` (file bytes, directory listings).
pub(crate) struct Handles<T> {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<T>>>,
}

impl<T> Default for Handles<T> {
    fn default() -> Self {
        Handles {
            next: AtomicU64::new(1),
            open: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> Handles<T> {
    pub(crate) fn insert(&self, value: T) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed);
        self.open.lock().insert(fh, Arc::new(value));
        fh
    }

    pub(crate) fn get(&self, fh: u64) -> Option<Arc<T>> {
        self.open.lock().get(&fh).cloned()
    }

    pub(crate) fn remove(&self, fh: u64) -> Option<Arc<T>> {
        self.open.lock().remove(&fh)
    }
}
