//! A [`Store`] wrapper that counts and times every store operation.

use super::{Op, Stats};
use crate::error::Result;
use crate::modpath::ModuleVersion;
use crate::store::{BlobId, MetaFile, ModuleContents, Store, StoreChild, StoreEntry, StoredModule};
use bytes::Bytes;
use std::sync::Arc;

/// Wraps a store; every call is counted in [`Stats`] under the `store_*`
/// operations.
pub(crate) struct CountedStore {
    pub(crate) inner: Arc<dyn Store>,
    pub(crate) stats: Arc<Stats>,
}

impl CountedStore {
    fn timed<T>(&self, op: Op, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let timer = self.stats.start(op);
        let result = f();
        timer.finish(&result);
        result
    }
}

impl Store for CountedStore {
    fn module(&self, module: &ModuleVersion) -> Result<Option<StoredModule>> {
        self.timed(Op::StoreModule, || self.inner.module(module))
    }
    fn put_module(&self, module: &ModuleVersion, contents: &ModuleContents) -> Result<()> {
        self.timed(Op::StorePutModule, || {
            self.inner.put_module(module, contents)
        })
    }
    fn replace_module(&self, module: &ModuleVersion, contents: &ModuleContents) -> Result<()> {
        self.timed(Op::StorePutModule, || {
            self.inner.replace_module(module, contents)
        })
    }
    fn put_module_zip(
        &self,
        module: &ModuleVersion,
        zip: &crate::modzip::ModuleZip,
        info: &Bytes,
        go_mod: &Bytes,
        replace: bool,
    ) -> Result<()> {
        self.timed(Op::StorePutModule, || {
            self.inner
                .put_module_zip(module, zip, info, go_mod, replace)
        })
    }
    fn scratch_dir(&self) -> std::path::PathBuf {
        self.inner.scratch_dir()
    }
    fn meta(&self, module: &ModuleVersion, file: MetaFile) -> Result<Option<Bytes>> {
        self.timed(Op::StoreMeta, || self.inner.meta(module, file))
    }
    fn put_meta(&self, module: &ModuleVersion, file: MetaFile, data: &Bytes) -> Result<()> {
        self.timed(Op::StorePutMeta, || self.inner.put_meta(module, file, data))
    }
    fn blob(&self, id: &BlobId) -> Result<Option<Bytes>> {
        self.timed(Op::StoreBlob, || self.inner.blob(id))
    }
    fn list(&self) -> Result<Vec<StoreEntry>> {
        self.timed(Op::StoreList, || self.inner.list())
    }
    fn versions_of(&self, escaped_path: &str) -> Result<Vec<StoreEntry>> {
        self.timed(Op::StoreList, || self.inner.versions_of(escaped_path))
    }
    fn children(&self, prefix: &str, complete_only: bool) -> Result<Vec<StoreChild>> {
        self.timed(Op::StoreList, || self.inner.children(prefix, complete_only))
    }
    fn usage(&self) -> Result<Option<super::StoreUsage>> {
        self.inner.usage()
    }
    fn note_used(&self, module: &ModuleVersion) -> Result<()> {
        self.inner.note_used(module)
    }
}
