//! A memory store whose puts can be held shut or made to fail (feature
//! `seed`): for tests of what a reader sees while the store is still
//! writing, or after it could not.

use bytes::Bytes;
use gomodfs_core::store::{BlobId, MemoryStore, MetaFile, ModuleContents, StoreEntry};
use gomodfs_core::{Error, ModuleVersion, Result, Store, StoredModule};
use parking_lot::{Condvar, Mutex};

/// What a [`Gate`] does with the puts that reach it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GateState {
    /// Puts go through.
    Open,
    /// Puts wait until the gate opens or fails.
    Shut,
    /// Puts fail with a store error (nothing is written).
    Failing,
}

/// One kind of put of a [`GatedStore`]: open, shut (puts wait) or failing.
#[derive(Debug)]
pub struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
    /// Puts that reached the gate (whatever it did with them).
    reached: Mutex<usize>,
}

impl Gate {
    fn new(state: GateState) -> Self {
        Gate {
            state: Mutex::new(state),
            changed: Condvar::new(),
            reached: Mutex::new(0),
        }
    }

    fn set(&self, state: GateState) {
        *self.state.lock() = state;
        self.changed.notify_all();
    }

    /// Lets puts through, also the ones waiting.
    pub fn open(&self) {
        self.set(GateState::Open);
    }

    /// Holds later puts until [`Gate::open`] or [`Gate::fail`].
    pub fn shut(&self) {
        self.set(GateState::Shut);
    }

    /// Makes puts fail, also the ones waiting.
    pub fn fail(&self) {
        self.set(GateState::Failing);
    }

    /// How many puts have reached this gate so far.
    pub fn reached(&self) -> usize {
        *self.reached.lock()
    }

    /// Waits while shut; `Err` when failing.
    fn pass(&self, what: &str) -> Result<()> {
        *self.reached.lock() += 1;
        let mut state = self.state.lock();
        while *state == GateState::Shut {
            self.changed.wait(&mut state);
        }
        match *state {
            GateState::Failing => Err(Error::store(what, "the test store refuses puts")),
            _ => Ok(()),
        }
    }
}

/// A [`MemoryStore`] with a [`Gate`] before its module puts and one before
/// its metadata puts; reads are never held.
#[derive(Debug)]
pub struct GatedStore {
    inner: MemoryStore,
    modules: Gate,
    metas: Gate,
}

impl Default for GatedStore {
    fn default() -> Self {
        Self::new()
    }
}

impl GatedStore {
    /// An empty store with both gates open.
    pub fn new() -> Self {
        GatedStore {
            inner: MemoryStore::new(),
            modules: Gate::new(GateState::Open),
            metas: Gate::new(GateState::Open),
        }
    }

    /// The gate before `put_module` (and the puts that default to it).
    pub fn modules(&self) -> &Gate {
        &self.modules
    }

    /// The gate before `put_meta`.
    pub fn metas(&self) -> &Gate {
        &self.metas
    }

    /// The store behind the gates, to look at what was written.
    pub fn inner(&self) -> &MemoryStore {
        &self.inner
    }
}

impl Store for GatedStore {
    fn module(&self, m: &ModuleVersion) -> Result<Option<StoredModule>> {
        self.inner.module(m)
    }
    fn put_module(&self, m: &ModuleVersion, c: &ModuleContents) -> Result<()> {
        self.modules.pass(&m.to_string())?;
        self.inner.put_module(m, c)
    }
    fn meta(&self, m: &ModuleVersion, f: MetaFile) -> Result<Option<Bytes>> {
        self.inner.meta(m, f)
    }
    fn put_meta(&self, m: &ModuleVersion, f: MetaFile, d: &Bytes) -> Result<()> {
        self.metas.pass(&format!("{m} .{}", f.extension()))?;
        self.inner.put_meta(m, f, d)
    }
    fn blob(&self, id: &BlobId) -> Result<Option<Bytes>> {
        self.inner.blob(id)
    }
    fn usage(&self) -> Result<Option<gomodfs_core::store::StoreUsage>> {
        self.inner.usage()
    }
    fn list(&self) -> Result<Vec<StoreEntry>> {
        self.inner.list()
    }
}
