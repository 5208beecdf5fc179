//! A custom [`Store`]: wraps another store and counts what passes through.
//! Any storage (S3, a database, a shared NFS directory) plugs in the same way.
//!
//! Run: `cargo run --example custom_store -- github.com/google/uuid@v1.6.0`
//! (fetches from $GOPROXY or https://proxy.golang.org into memory).

use bytes::Bytes;
use gomodfs::core::proxy::{Upstream, UpstreamConfig};
use gomodfs::core::store::{
    BlobId, MemoryStore, MetaFile, ModuleContents, StoreChild, StoreEntry, StoredModule,
};
use gomodfs::core::{ModFs, ModFsOptions, ModuleVersion, NodeKind, Result, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts blob reads and module puts of the store it wraps.
#[derive(Default)]
struct Counting<S> {
    inner: S,
    blob_reads: AtomicU64,
    puts: AtomicU64,
}

impl<S: Store> Store for Counting<S> {
    fn module(&self, module: &ModuleVersion) -> Result<Option<StoredModule>> {
        self.inner.module(module)
    }
    fn put_module(&self, module: &ModuleVersion, contents: &ModuleContents) -> Result<()> {
        self.puts.fetch_add(1, Ordering::Relaxed);
        self.inner.put_module(module, contents)
    }
    fn replace_module(&self, module: &ModuleVersion, contents: &ModuleContents) -> Result<()> {
        self.puts.fetch_add(1, Ordering::Relaxed);
        self.inner.replace_module(module, contents)
    }
    fn meta(&self, module: &ModuleVersion, file: MetaFile) -> Result<Option<Bytes>> {
        self.inner.meta(module, file)
    }
    fn put_meta(&self, module: &ModuleVersion, file: MetaFile, data: &Bytes) -> Result<()> {
        self.inner.put_meta(module, file, data)
    }
    fn blob(&self, id: &BlobId) -> Result<Option<Bytes>> {
        self.blob_reads.fetch_add(1, Ordering::Relaxed);
        self.inner.blob(id)
    }
    fn list(&self) -> Result<Vec<StoreEntry>> {
        self.inner.list()
    }
    // Forwarded too, or listings outside module trees filter `list`: slow
    // on a large store.
    fn versions_of(&self, escaped_path: &str) -> Result<Vec<StoreEntry>> {
        self.inner.versions_of(escaped_path)
    }
    fn children(&self, prefix: &str, complete_only: bool) -> Result<Vec<StoreChild>> {
        self.inner.children(prefix, complete_only)
    }
    // A wrapper forwards this too, or `gomodfs gc` sees no use of modules.
    fn note_used(&self, module: &ModuleVersion) -> Result<()> {
        self.inner.note_used(module)
    }
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let arg = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "github.com/google/uuid@v1.6.0".into());
    let (path, version) = arg.split_once('@').ok_or("expected MODULE@VERSION")?;
    let mv = ModuleVersion::new(path, version)?;

    let store = Arc::new(Counting::<MemoryStore>::default());
    let upstream = Upstream::new(UpstreamConfig::from_env())?;
    let fs = ModFs::new(store.clone(), Some(upstream), ModFsOptions::default())?;

    // Walk the module tree through the node API, reading every file.
    let root = fs.resolve(&format!("{}@{}", mv.escaped_path(), mv.escaped_version()))?;
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut stack = vec![root.id];
    while let Some(dir) = stack.pop() {
        for (entry, _) in fs.readdir_plus(dir)? {
            let attr = fs.lookup(dir, &entry.name)?;
            match attr.kind {
                NodeKind::Directory => stack.push(attr.id),
                NodeKind::File => {
                    files += 1;
                    bytes += fs.open(attr.id)?.len() as u64;
                }
            }
        }
    }
    println!(
        "{mv}: {files} files, {bytes} bytes; store saw {} put(s) and {} blob read(s)",
        store.puts.load(Ordering::Relaxed),
        store.blob_reads.load(Ordering::Relaxed)
    );
    Ok(())
}
