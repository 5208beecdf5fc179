//! Warm start in the node API: what one filesystem served, a new one over
//! the same store preloads from the store alone, without counting it as a
//! use, and then serves from memory; `WarmStart` keeps the list in a file.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use gomodfs_core::fs::{WarmEntry, WarmFiles, WarmKind, WarmStart, read_list, warm_files_path};
use gomodfs_core::store::{
    BlobId, MemoryStore, MetaFile, ModuleContents, StoreEntry, StoredModule,
};
use gomodfs_core::{ModFs, ModFsOptions, ModuleVersion, Store};
use gomodfs_testkit::seed::put;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A memory store that counts `note_used` (gc's last-use times).
#[derive(Default)]
struct CountingUse(MemoryStore, AtomicUsize);

impl Store for CountingUse {
    fn module(&self, m: &ModuleVersion) -> gomodfs_core::Result<Option<StoredModule>> {
        self.0.module(m)
    }
    fn put_module(&self, m: &ModuleVersion, c: &ModuleContents) -> gomodfs_core::Result<()> {
        self.0.put_module(m, c)
    }
    fn meta(&self, m: &ModuleVersion, f: MetaFile) -> gomodfs_core::Result<Option<Bytes>> {
        self.0.meta(m, f)
    }
    fn put_meta(&self, m: &ModuleVersion, f: MetaFile, d: &Bytes) -> gomodfs_core::Result<()> {
        self.0.put_meta(m, f, d)
    }
    fn blob(&self, id: &BlobId) -> gomodfs_core::Result<Option<Bytes>> {
        self.0.blob(id)
    }
    fn list(&self) -> gomodfs_core::Result<Vec<StoreEntry>> {
        self.0.list()
    }
    fn note_used(&self, _: &ModuleVersion) -> gomodfs_core::Result<()> {
        self.1.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn mv(path: &str) -> ModuleVersion {
    ModuleVersion::new(path, "v1.0.0").unwrap()
}

fn entry(kind: WarmKind, path: &str) -> WarmEntry {
    WarmEntry {
        kind,
        module: mv(path),
    }
}

/// A store with modules a and b whole, and c's `.mod` alone.
fn store() -> Arc<CountingUse> {
    let store = Arc::new(CountingUse::default());
    put(
        &store.0,
        "example.com/a",
        "v1.0.0",
        &[("a.go", "package a\n")],
    )
    .unwrap();
    put(
        &store.0,
        "example.com/b",
        "v1.0.0",
        &[("b.go", "package b\n")],
    )
    .unwrap();
    store
        .put_meta(
            &mv("example.com/c"),
            MetaFile::Mod,
            &Bytes::from_static(b"module example.com/c\n"),
        )
        .unwrap();
    store
}

fn offline(store: &Arc<CountingUse>) -> Arc<ModFs> {
    Arc::new(ModFs::new(store.clone(), None, ModFsOptions::default()).unwrap())
}

/// Serves b's file, a's file (not read) and c's `.mod`, in that order.
fn serve_some(fs: &ModFs) {
    let b = fs.resolve("example.com/b@v1.0.0/b.go").unwrap();
    assert_eq!(&fs.read(b.id, 0, 100).unwrap()[..], b"package b\n");
    fs.resolve("example.com/a@v1.0.0/a.go").unwrap();
    let c = fs
        .resolve("cache/download/example.com/c/@v/v1.0.0.mod")
        .unwrap();
    assert_eq!(
        &fs.read(c.id, 0, 100).unwrap()[..],
        b"module example.com/c\n"
    );
}

fn store_module_reads(fs: &ModFs) -> u64 {
    fs.status().ops.get("store_module").map_or(0, |o| o.ended)
}

#[test]
fn what_one_filesystem_served_a_new_one_preloads_and_serves_from_memory() {
    let store = store();
    let first = offline(&store);
    serve_some(&first);
    let served = first.served();
    assert_eq!(
        served,
        [
            entry(WarmKind::Tree, "example.com/b"),
            entry(WarmKind::Tree, "example.com/a"),
            entry(WarmKind::Meta(MetaFile::Mod), "example.com/c"),
        ]
    );
    let uses = store.1.load(Ordering::Relaxed);
    assert_eq!(uses, 2, "serving a and b noted their use");

    // A list naming a module the store no longer holds: skipped, and
    // nothing downloaded (there is no upstream: a download would fail).
    let mut list = served.clone();
    list.insert(0, entry(WarmKind::Tree, "example.com/gone"));
    let second = offline(&store);
    let stopped = second.preload(&list, &AtomicBool::new(true));
    assert_eq!((stopped.loaded, stopped.done), (0, true), "stopped at once");
    let status = second.preload(&list, &AtomicBool::new(false));
    assert_eq!(
        (status.listed, status.loaded, status.missing, status.done),
        (4, 3, 1, true)
    );
    assert_eq!(
        store.1.load(Ordering::Relaxed),
        uses,
        "preloading is not a use"
    );
    assert!(second.served().is_empty(), "nor is it serving");

    // Served now: from memory, no tree read from the store.
    let reads = store_module_reads(&second);
    let misses = second.status().module_cache.misses;
    serve_some(&second);
    assert_eq!(store_module_reads(&second), reads);
    assert_eq!(second.status().module_cache.misses, misses);
    assert_eq!(second.served(), served);
    assert_eq!(store.1.load(Ordering::Relaxed), uses + 2);

    // Without a warm start the same serving reads both trees.
    let cold = offline(&store);
    serve_some(&cold);
    assert_eq!(store_module_reads(&cold), 2);
}

#[test]
fn a_listed_mod_of_a_listed_tree_comes_with_the_tree() {
    let store = store();
    let fs = offline(&store);
    // As go reads them: the `.mod`, the `.info`, then the files.
    let list = [
        entry(WarmKind::Meta(MetaFile::Mod), "example.com/a"),
        entry(WarmKind::Meta(MetaFile::Info), "example.com/a"),
        entry(WarmKind::Tree, "example.com/a"),
    ];
    let status = fs.preload(&list, &AtomicBool::new(false));
    assert_eq!((status.loaded, status.missing), (1, 0), "one tree");
    let ops = fs.status().ops;
    let ended = |op: &str| ops.get(op).map_or(0, |o| o.ended);
    assert_eq!((ended("store_module"), ended("store_meta")), (1, 0));
    // And served from memory.
    let m = fs
        .resolve("cache/download/example.com/a/@v/v1.0.0.mod")
        .unwrap();
    assert!(!fs.read(m.id, 0, 100).unwrap().is_empty());
    let meta_reads = fs.status().ops.get("store_meta").map_or(0, |o| o.ended);
    assert_eq!(meta_reads, 0, "the .mod came with the tree");
}

/// A memory store whose module reads fail, as a damaged one's do.
struct Unreadable(MemoryStore);

impl Store for Unreadable {
    fn module(&self, m: &ModuleVersion) -> gomodfs_core::Result<Option<StoredModule>> {
        Err(gomodfs_core::Error::Damaged {
            context: m.to_string(),
            cause: "damaged (test)".into(),
        })
    }
    fn put_module(&self, m: &ModuleVersion, c: &ModuleContents) -> gomodfs_core::Result<()> {
        self.0.put_module(m, c)
    }
    fn meta(&self, m: &ModuleVersion, f: MetaFile) -> gomodfs_core::Result<Option<Bytes>> {
        self.0.meta(m, f)
    }
    fn put_meta(&self, m: &ModuleVersion, f: MetaFile, d: &Bytes) -> gomodfs_core::Result<()> {
        self.0.put_meta(m, f, d)
    }
    fn blob(&self, id: &BlobId) -> gomodfs_core::Result<Option<Bytes>> {
        self.0.blob(id)
    }
    fn list(&self) -> gomodfs_core::Result<Vec<StoreEntry>> {
        self.0.list()
    }
}

#[test]
fn a_module_the_store_cannot_read_is_skipped_not_an_error() {
    let inner = MemoryStore::new();
    put(
        &inner,
        "example.com/a",
        "v1.0.0",
        &[("a.go", "package a\n")],
    )
    .unwrap();
    let fs = ModFs::new(Arc::new(Unreadable(inner)), None, ModFsOptions::default()).unwrap();
    let list = [
        entry(WarmKind::Tree, "example.com/a"),
        entry(WarmKind::Meta(MetaFile::Mod), "example.com/a"),
    ];
    let status = fs.preload(&list, &AtomicBool::new(false));
    assert_eq!(
        (status.loaded, status.missing, status.done),
        (0, 2, true),
        "each entry counted missing, the whole list gone through"
    );
}

#[test]
fn preloading_stops_at_half_the_tree_cache() {
    let store = store();
    let tiny = ModFsOptions {
        module_cache_bytes: 1,
        ..ModFsOptions::default()
    };
    let fs = ModFs::new(store.clone(), None, tiny).unwrap();
    let list = [
        entry(WarmKind::Tree, "example.com/a"),
        entry(WarmKind::Tree, "example.com/b"),
    ];
    let status = fs.preload(&list, &AtomicBool::new(false));
    assert_eq!(
        (status.loaded, status.done),
        (0, true),
        "no room: nothing preloaded"
    );
}

/// Waits up to 10 s for `check`.
fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_warm_start_keeps_its_list_in_a_file_while_serving_and_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gomodfs-warm");
    let store = store();

    let first = offline(&store);
    let warm = WarmStart::start_every(&first, file.clone(), Duration::from_millis(50));
    first.resolve("example.com/b@v1.0.0/b.go").unwrap();
    // Written while serving, before any clean stop (a killed process
    // leaves it too).
    eventually("the list to name b", || {
        read_list(&file).unwrap() == [entry(WarmKind::Tree, "example.com/b")]
    });
    first.resolve("example.com/a@v1.0.0/a.go").unwrap();
    warm.finish();
    let listed = read_list(&file).unwrap();
    assert_eq!(
        listed,
        [
            entry(WarmKind::Tree, "example.com/b"),
            entry(WarmKind::Tree, "example.com/a"),
        ]
    );

    // The next filesystem preloads it and reports that in its status; what
    // it serves goes first in the list, the rest stays behind it.
    let second = offline(&store);
    let warm = WarmStart::start(&second, file.clone());
    eventually("the preload to end", || {
        second.status().warm_start.is_some_and(|w| w.done)
    });
    let status = second.status().warm_start.unwrap();
    assert_eq!((status.listed, status.loaded), (2, 2));
    second
        .resolve("cache/download/example.com/c/@v/v1.0.0.mod")
        .unwrap();
    drop(warm);
    assert_eq!(
        read_list(&file).unwrap(),
        [
            entry(WarmKind::Meta(MetaFile::Mod), "example.com/c"),
            entry(WarmKind::Tree, "example.com/b"),
            entry(WarmKind::Tree, "example.com/a"),
        ]
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["gomodfs-warm"], "no temp files left");
}

/// The files a filesystem read are kept in the warm files once reads
/// stopped for a save period (before any stop: a killed process leaves
/// them too), and the next filesystem serves them without reading the
/// store.
#[test]
fn the_files_read_are_kept_once_reads_stop_and_the_next_filesystem_serves_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gomodfs-warm");
    let files = warm_files_path(&file);
    let store = store();

    let first = offline(&store);
    let warm = WarmStart::start_every(&first, file.clone(), Duration::from_millis(50));
    let b = first.resolve("example.com/b@v1.0.0/b.go").unwrap();
    assert_eq!(&first.read(b.id, 0, 100).unwrap()[..], b"package b\n");
    eventually("the warm files to hold b.go", || {
        WarmFiles::open(&files)
            .ok()
            .flatten()
            .is_some_and(|w| w.entries().len() == 1)
    });
    // `first` has not stopped: what a killed process would have left.
    let _first_still_serving = (warm, first);

    let second = offline(&store);
    let warm = WarmStart::start(&second, file.clone());
    eventually("the preload to end", || {
        second.status().warm_start.is_some_and(|w| w.done)
    });
    let b = second.resolve("example.com/b@v1.0.0/b.go").unwrap();
    assert_eq!(&second.read(b.id, 0, 100).unwrap()[..], b"package b\n");
    let status = second.status();
    assert_eq!(status.warm_files.map(|w| (w.entries, w.hits)), Some((1, 1)));
    assert_eq!(status.ops.get("store_blob").map_or(0, |o| o.ended), 0);
    drop(warm);
}

/// A list that can be neither read nor written (its directory is a file
/// here; a read-only store in use) costs the warm start, not the serving:
/// the filesystem serves, nothing is preloaded, stopping returns, and
/// nothing is created.
#[test]
fn a_list_that_cannot_be_written_leaves_serving_alone() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("store");
    std::fs::write(&not_a_dir, b"a file where the store's directory would be").unwrap();
    let file = not_a_dir.join("gomodfs-warm");
    let store = store();
    let fs = offline(&store);
    let warm = WarmStart::start_every(&fs, file.clone(), Duration::from_millis(20));
    let b = fs.resolve("example.com/b@v1.0.0/b.go").unwrap();
    // A file read whole: the warm files' writes fail too (while idle and
    // at the stop), and reading still works.
    assert_eq!(&fs.read(b.id, 0, 100).unwrap()[..], b"package b\n");
    // Several saves fail while it serves.
    std::thread::sleep(Duration::from_millis(100));
    fs.resolve("example.com/a@v1.0.0/a.go").unwrap();
    assert_eq!(fs.served().len(), 2, "the record is kept in memory");
    warm.finish();
    assert!(fs.status().warm_start.is_none(), "nothing preloaded");
    assert!(read_list(&file).is_err());
    assert!(fs.status().warm_files.is_none(), "no warm files opened");
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["store"], "nothing created beside it");
}
