//! The store's usage (module count and bytes) for the status, measured
//! without making the status wait for a slow measurement.
//!
//! [`Store::usage`] may walk directories (a git store counts its module refs
//! and sizes its object directory: tens of milliseconds at 2,000 module
//! versions), and the status is asked for by every listing of the mount
//! root (the size of `.gomodfs-status` is the size of a snapshot). So:
//!
//! - a figure is reused for [`USAGE_TTL`] unless this process stored
//!   something since;
//! - a stale figure is measured again in line when the last measurement was
//!   cheap (under [`INLINE_COST`]: small stores get exact figures, as
//!   before);
//! - otherwise it is measured again on a background thread, and the status
//!   shows the last known figure and its age (`store_age`) meanwhile;
//! - the first figure is measured in the background when the status is
//!   first asked for, which waits at most [`FIRST_WAIT`] for it and
//!   otherwise says nothing about the store yet.
//!
//! Nothing is kept on disk, so there is no count to drift or repair: every
//! figure is a fresh measurement, at most one at a time.

use crate::store::{Store, StoreUsage};
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a measured usage is reused.
pub const USAGE_TTL: Duration = Duration::from_secs(10);

/// A measurement that took less than this is repeated in line when stale.
pub const INLINE_COST: Duration = Duration::from_millis(25);

/// How long a status waits for the first measurement.
pub const FIRST_WAIT: Duration = Duration::from_millis(5);

/// The store's usage as the status shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UsageReading {
    /// The last known figure, if the store can tell and one was measured.
    pub usage: Option<StoreUsage>,
    /// Seconds since that figure was measured.
    pub age: Option<f64>,
}

/// One measurement.
#[derive(Debug, Clone, Copy)]
struct Measured {
    at: Instant,
    /// The store-count (see [`UsageCache::reading`]) it was measured at.
    stored: u64,
    usage: Option<StoreUsage>,
    cost: Duration,
}

#[derive(Debug, Default)]
struct State {
    last: Option<Measured>,
    /// A background measurement is running.
    measuring: bool,
    /// When the first measurement started: statuses wait for it until
    /// [`FIRST_WAIT`] after that, not each for [`FIRST_WAIT`].
    first_started: Option<Instant>,
}

/// The last measured usage of one store, shared with the background
/// thread measuring the next.
#[derive(Debug, Default)]
pub struct UsageCache {
    state: Mutex<State>,
    measured: Condvar,
}

impl UsageCache {
    /// The usage to show now. `stored` counts what this process stored so
    /// far (a figure measured at another count is stale).
    pub fn reading(self: &Arc<Self>, store: &Arc<dyn Store>, stored: u64) -> UsageReading {
        let mut state = self.state.lock();
        if state.last.is_none() {
            if !state.measuring {
                state.measuring = self.measure_in_background(store.clone(), stored);
                state.first_started = Some(Instant::now());
            }
            if let Some(started) = state.first_started
                && state.measuring
            {
                self.measured.wait_until(&mut state, started + FIRST_WAIT);
            }
        }
        match state.last {
            Some(m) if m.stored == stored && m.at.elapsed() < USAGE_TTL => {
                return reading(Some(m));
            }
            Some(m) if m.cost < INLINE_COST && !state.measuring => {
                let fresh = measure(store.as_ref(), stored);
                state.last = Some(fresh);
                return reading(Some(fresh));
            }
            _ => {}
        }
        if !state.measuring {
            // The thread waits for this lock to record its figure.
            state.measuring = self.measure_in_background(store.clone(), stored);
        }
        reading(state.last)
    }

    /// Starts measuring on a new thread; false if it could not start.
    fn measure_in_background(self: &Arc<Self>, store: Arc<dyn Store>, stored: u64) -> bool {
        let cache = self.clone();
        let spawned = std::thread::Builder::new()
            .name("gomodfs-usage".into())
            .spawn(move || {
                let fresh = measure(store.as_ref(), stored);
                let mut state = cache.state.lock();
                state.last = Some(fresh);
                state.measuring = false;
                cache.measured.notify_all();
            });
        match spawned {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(error = %e, "starting the store usage thread");
                false
            }
        }
    }
}

fn measure(store: &dyn Store, stored: u64) -> Measured {
    let start = Instant::now();
    let usage = store.usage().unwrap_or_else(|e| {
        tracing::debug!(error = %e, "store usage");
        None
    });
    Measured {
        at: Instant::now(),
        stored,
        usage,
        cost: start.elapsed(),
    }
}

fn reading(last: Option<Measured>) -> UsageReading {
    UsageReading {
        usage: last.and_then(|m| m.usage),
        age: last.map(|m| m.at.elapsed().as_secs_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modpath::ModuleVersion;
    use crate::store::{
        BlobId, MetaFile, ModuleContents, StoreEntry, StoredModule, memory::MemoryStore,
    };
    use bytes::Bytes;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A store whose usage takes `delay` to measure and reports how many
    /// times it was measured as its module count.
    struct Measuring {
        inner: MemoryStore,
        delay: Duration,
        measured: AtomicU64,
    }

    impl Store for Measuring {
        fn module(&self, m: &ModuleVersion) -> crate::Result<Option<StoredModule>> {
            self.inner.module(m)
        }
        fn put_module(&self, m: &ModuleVersion, c: &ModuleContents) -> crate::Result<()> {
            self.inner.put_module(m, c)
        }
        fn meta(&self, m: &ModuleVersion, f: MetaFile) -> crate::Result<Option<Bytes>> {
            self.inner.meta(m, f)
        }
        fn put_meta(&self, m: &ModuleVersion, f: MetaFile, d: &Bytes) -> crate::Result<()> {
            self.inner.put_meta(m, f, d)
        }
        fn blob(&self, id: &BlobId) -> crate::Result<Option<Bytes>> {
            self.inner.blob(id)
        }
        fn list(&self) -> crate::Result<Vec<StoreEntry>> {
            self.inner.list()
        }
        fn usage(&self) -> crate::Result<Option<StoreUsage>> {
            std::thread::sleep(self.delay);
            let modules = self.measured.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(Some(StoreUsage { modules, bytes: 1 }))
        }
    }

    fn store(delay: Duration) -> Arc<dyn Store> {
        Arc::new(Measuring {
            inner: MemoryStore::new(),
            delay,
            measured: AtomicU64::new(0),
        })
    }

    /// Polls until the status shows `modules` (at store-count `stored`).
    fn wait_for(cache: &Arc<UsageCache>, store: &Arc<dyn Store>, stored: u64, modules: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while cache.reading(store, stored).usage.map(|u| u.modules) != Some(modules) {
            assert!(Instant::now() < deadline, "usage never reached {modules}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_slow_measurement_never_holds_up_the_status() {
        let slow = Duration::from_secs(2);
        let store = store(slow);
        let cache = Arc::new(UsageCache::default());
        let start = Instant::now();
        let first = cache.reading(&store, 0);
        assert!(start.elapsed() < slow / 2, "waited {:?}", start.elapsed());
        assert_eq!(first, UsageReading::default(), "nothing measured yet");
        wait_for(&cache, &store, 0, 1);

        // Something was stored: the last figure, with its age, at once;
        // the new one a little later.
        let start = Instant::now();
        let stale = cache.reading(&store, 1);
        assert!(start.elapsed() < slow / 2, "waited {:?}", start.elapsed());
        assert_eq!(stale.usage.map(|u| u.modules), Some(1));
        assert!(stale.age.is_some());
        wait_for(&cache, &store, 1, 2);
    }

    #[test]
    fn a_cheap_measurement_is_repeated_in_line_when_stale() {
        let store = store(Duration::ZERO);
        let cache = Arc::new(UsageCache::default());
        wait_for(&cache, &store, 0, 1);
        // Fresh for this store-count: not measured again.
        assert_eq!(cache.reading(&store, 0).usage.map(|u| u.modules), Some(1));
        // Stored since: measured again before answering.
        let fresh = cache.reading(&store, 1);
        assert_eq!(fresh.usage.map(|u| u.modules), Some(2));
        assert!(fresh.age.is_some_and(|a| a < USAGE_TTL.as_secs_f64()));
    }
}
