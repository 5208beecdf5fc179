//! ModFs without any frontend: the node API over a MemoryStore, offline.
#![allow(clippy::unwrap_used)]

use gomodfs_core::store::MemoryStore;
use gomodfs_core::{ErrorKind, ModFs, ModFsOptions, ModuleVersion, NodeId, NodeKind, Store};
use gomodfs_testkit::seed::put;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

fn offline(store: Arc<MemoryStore>) -> ModFs {
    ModFs::new(store, None, ModFsOptions::default()).unwrap()
}

#[test]
fn lookups_listings_reads_and_attributes() {
    let store = Arc::new(MemoryStore::new());
    put(
        &store,
        "example.com/Foo",
        "v1.0.0",
        &[("a.go", "package a\n"), ("sub/b.go", "package sub\n")],
    )
    .unwrap();
    let fs = offline(store.clone());

    let root = fs.resolve("example.com/!foo@v1.0.0").unwrap();
    assert_eq!(root.kind, NodeKind::Directory);
    assert_eq!(root.perm, 0o555);
    assert_eq!(root.nlink, 1, "a module root's link count is unknown (1)");
    assert_eq!(root.cache, gomodfs_core::Caching::IMMUTABLE);
    let names: Vec<_> = fs
        .readdir_plus(root.id)
        .unwrap()
        .into_iter()
        .map(|(e, _)| (e.name, e.kind))
        .collect();
    assert_eq!(
        names,
        [
            ("a.go".into(), NodeKind::File),
            ("sub".into(), NodeKind::Directory)
        ]
    );

    let a = fs.lookup(root.id, "a.go").unwrap();
    assert_eq!(
        (a.kind, a.size, a.perm, a.nlink),
        (NodeKind::File, 10, 0o444, 1)
    );
    assert_eq!(a.mtime, UNIX_EPOCH + Duration::from_secs(1_704_164_645));
    assert_eq!(&fs.read(a.id, 0, 100).unwrap()[..], b"package a\n");
    assert_eq!(&fs.read(a.id, 8, 100).unwrap()[..], b"a\n");
    assert_eq!(fs.read(a.id, 100, 100).unwrap().len(), 0);

    // Same path, same id: in another ModFs over the same store too.
    let again = offline(store);
    assert_eq!(
        again.resolve("example.com/!foo@v1.0.0/a.go").unwrap().id,
        a.id
    );

    let err = fs.lookup(a.id, "x").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotADirectory);
    assert_eq!(
        fs.readdir_plus(a.id).unwrap_err().kind(),
        ErrorKind::NotADirectory
    );
    assert_eq!(
        fs.lookup(root.id, "missing.go").unwrap_err().kind(),
        ErrorKind::NotFound
    );

    let top: Vec<_> = fs
        .readdir_plus(NodeId::ROOT)
        .unwrap()
        .into_iter()
        .map(|(e, _)| e.name)
        .collect();
    assert_eq!(top, [".gomodfs-status", "cache", "example.com"]);
    let dl = fs.resolve("cache/download/example.com/!foo/@v").unwrap();
    let files: Vec<_> = fs
        .readdir_plus(dl.id)
        .unwrap()
        .into_iter()
        .map(|(e, _)| e.name)
        .collect();
    assert_eq!(files, ["v1.0.0.info", "v1.0.0.mod", "v1.0.0.ziphash"]);
    let ziphash = fs
        .resolve("cache/download/example.com/!foo/@v/v1.0.0.ziphash")
        .unwrap();
    assert_eq!(ziphash.size, 47);
}

#[test]
fn offline_misses_are_errors_not_panics() {
    let fs = offline(Arc::new(MemoryStore::new()));
    // Not stored and no upstream: an I/O error that says so, not ENOENT.
    let err = fs.resolve("example.com/x@v1.0.0").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains("example.com/x"), "{err}");
    assert!(err.to_string().contains("offline"), "{err}");
    // Names the namespace does not have are ENOENT without any fetch.
    for p in [
        ".DS_Store",
        "cache/download/example.com/x/@v/v1.0.0.zip",
        "NoDot",
        "example.com/x@latest",
    ] {
        assert_eq!(
            fs.resolve(p).unwrap_err().kind(),
            ErrorKind::NotFound,
            "{p}"
        );
    }
    assert_eq!(
        fs.getattr(NodeId(12345)).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn toolchain_binaries_are_executable() {
    let store = Arc::new(MemoryStore::new());
    let v = "v0.0.1-go1.21.0.linux-amd64";
    put(
        &store,
        "golang.org/toolchain",
        v,
        &[
            ("bin/go", "ELF"),
            ("pkg/tool/linux_amd64/compile", "ELF"),
            ("lib/wasm/go_js_wasm_exec", "#!/bin/sh"),
            ("lib/wasm/go_wasip1_wasm_exec", "#!/bin/sh"),
            ("lib/wasm/wasm_exec.js", "js"),
            ("lib/go__exec", "not a wrapper"),
            ("src/fmt/print.go", "package fmt"),
            ("src/_go.mod", "module std\n"),
            ("src/cmd/_go.mod", "module cmd\n"),
        ],
    )
    .unwrap();
    let ziphash = store
        .module(&ModuleVersion::new("golang.org/toolchain", v).unwrap())
        .unwrap()
        .unwrap()
        .ziphash;
    let fs = offline(store);
    let root = format!("golang.org/toolchain@{v}");
    let perm = |rel: &str| fs.resolve(&format!("{root}/{rel}")).unwrap().perm;
    assert_eq!(perm("bin/go"), 0o555);
    assert_eq!(perm("pkg/tool/linux_amd64/compile"), 0o555);
    assert_eq!(perm("lib/wasm/go_js_wasm_exec"), 0o555);
    assert_eq!(perm("lib/wasm/go_wasip1_wasm_exec"), 0o555);
    assert_eq!(perm("lib/wasm/wasm_exec.js"), 0o444);
    assert_eq!(perm("lib/go__exec"), 0o444);
    assert_eq!(perm("src/fmt/print.go"), 0o444);
    // A go.mod beside every _go.mod, with the same bytes, listed too, so
    // go never copies one into the read-only tree.
    for dir in ["src", "src/cmd"] {
        let under = fs.resolve(&format!("{root}/{dir}/_go.mod")).unwrap();
        let plain = fs.resolve(&format!("{root}/{dir}/go.mod")).unwrap();
        assert_eq!(plain.size, under.size);
        assert_eq!(fs.open(plain.id).unwrap(), fs.open(under.id).unwrap());
        let listed = fs
            .readdir_plus(fs.resolve(&format!("{root}/{dir}")).unwrap().id)
            .unwrap();
        assert!(listed.iter().any(|(e, _)| e.name == "go.mod"), "{dir}");
    }
    // The .ziphash is still the zip's.
    let zh = fs
        .resolve(&format!(
            "cache/download/golang.org/toolchain/@v/{v}.ziphash"
        ))
        .unwrap();
    assert_eq!(fs.open(zh.id).unwrap(), ziphash.as_bytes());
    // A directory without a _go.mod gets none.
    assert!(fs.resolve(&format!("{root}/src/fmt/go.mod")).is_err());
}

#[test]
fn status_file_is_json_with_counters() {
    let fs = offline(Arc::new(MemoryStore::new()));
    let _ = fs.resolve("example.com/nope/.x");
    let attr = fs.resolve(".gomodfs-status").unwrap();
    assert_eq!(attr.cache, gomodfs_core::Caching::LIVE);
    let data = fs.open(attr.id).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(json["filesystem"], "gomodfs");
    assert!(json["ops"]["resolve"]["started"].as_u64().unwrap() >= 2);
    // Store operations are counted too.
    assert!(
        json["ops"]["store_module"]["started"].as_u64().is_some(),
        "{json}"
    );
}

#[test]
fn readdir_plus_gives_what_lookup_gives() {
    let store = Arc::new(MemoryStore::new());
    put(
        &store,
        "example.com/m",
        "v1.0.0",
        &[("a.go", "package a\n"), ("d/b.go", "b")],
    )
    .unwrap();
    let fs = offline(store);
    let root = fs.resolve("example.com/m@v1.0.0").unwrap();
    let plus = fs.readdir_plus(root.id).unwrap();
    assert_eq!(plus.len(), 2);
    for (entry, attr) in plus {
        assert_eq!(entry.id, attr.id);
        assert_eq!(fs.lookup(root.id, &entry.name).unwrap(), attr);
        // Known without a lookup: getattr works on the listed id.
        assert_eq!(fs.getattr(attr.id).unwrap(), attr);
    }
    let dl = fs.resolve("cache/download/example.com/m/@v").unwrap();
    let sizes: Vec<_> = fs
        .readdir_plus(dl.id)
        .unwrap()
        .into_iter()
        .map(|(e, a)| (e.name, a.size))
        .collect();
    assert_eq!(sizes[2], ("v1.0.0.ziphash".to_owned(), 47));
}

#[test]
fn store_only_calls_answer_stored_modules_and_refuse_to_download() {
    let store = Arc::new(MemoryStore::new());
    put(
        &store,
        "example.com/here",
        "v1.0.0",
        &[("a.go", "package a\n")],
    )
    .unwrap();
    let fs = offline(store);
    let local = fs.with(gomodfs_core::Call {
        store_only: true,
        pin: false,
    });
    let dir = local
        .lookup(NodeId::ROOT, "example.com")
        .and_then(|d| local.lookup(d.id, "here@v1.0.0"))
        .unwrap();
    let a = local.lookup(dir.id, "a.go").unwrap();
    assert_eq!(local.read(a.id, 0, 100).unwrap(), "package a\n");
    // Not stored: the store-only call says it needs a download (offline,
    // the full call then fails like any other).
    let example = local.lookup(NodeId::ROOT, "example.com").unwrap();
    let missing = local.lookup(example.id, "gone@v1.0.0").unwrap_err();
    assert!(missing.would_fetch(), "{missing}");
    let full = fs.lookup(example.id, "gone@v1.0.0").unwrap_err();
    assert!(!full.would_fetch(), "{full}");
    // Names that cannot exist need no download either.
    let never = local.lookup(NodeId::ROOT, "nodot").unwrap_err();
    assert_eq!(never.kind(), ErrorKind::NotFound);
    // The retried attempt is what the counters show: the offline miss
    // failed, the impossible name was not found.
    let lookups = &fs.status().ops["lookup"];
    assert_eq!((lookups.errors, lookups.not_found), (1, 1));
}

#[test]
fn pinned_nodes_stay_until_forgotten_and_unpinned_ones_are_bounded() {
    let fs = offline(Arc::new(MemoryStore::new()));
    let pinning = fs.with(gomodfs_core::Call {
        store_only: true,
        pin: true,
    });
    let example = pinning.lookup(NodeId::ROOT, "example.com").unwrap();
    for i in 0..gomodfs_core::fs::RECENT_NODES * 2 {
        fs.lookup(example.id, &format!("p{i}")).unwrap();
    }
    let (pinned, cached) = fs.node_counts();
    assert_eq!(pinned, 1);
    assert!(cached <= gomodfs_core::fs::RECENT_NODES + 1024, "{cached}");
    // Still known after all that churn, because pinned.
    assert!(fs.getattr(example.id).is_ok());
    fs.forget(example.id, 1);
    assert_eq!(fs.node_counts().0, 0);
}

#[test]
fn one_call_answers_carry_the_caching_policy() {
    use gomodfs_core::fs::ABSENT_TTL;
    use gomodfs_core::{Caching, Entry, Lifetime};
    let store = Arc::new(MemoryStore::new());
    put(
        &store,
        "example.com/m",
        "v1.0.0",
        &[("a.go", "package a\n")],
    )
    .unwrap();
    let fs = offline(store);
    let call = fs.with(gomodfs_core::Call::default());

    // Absent names: forever inside a module tree, briefly outside.
    let root = fs.resolve("example.com/m@v1.0.0").unwrap();
    match call.entry(root.id, "nope.go").unwrap() {
        Entry::Absent { error, lifetime } => {
            assert_eq!(error.kind(), ErrorKind::NotFound);
            assert_eq!(lifetime, Lifetime::Forever);
        }
        Entry::Found(a) => panic!("found {a:?}"),
    }
    match call.entry(NodeId::ROOT, ".DS_Store").unwrap() {
        Entry::Absent { lifetime, .. } => assert_eq!(lifetime, Lifetime::For(ABSENT_TTL)),
        Entry::Found(a) => panic!("found {a:?}"),
    }
    let Entry::Found(a) = call.entry(root.id, "a.go").unwrap() else {
        panic!("a.go not found");
    };
    assert_eq!(a.cache, Caching::IMMUTABLE);

    // Opening a file gives the bytes and how to cache them.
    let file = call.open_file(a.id).unwrap();
    assert_eq!(file.data, "package a\n");
    assert_eq!(file.cache, Caching::IMMUTABLE);
    let status = fs.resolve(".gomodfs-status").unwrap();
    assert!(call.open_file(status.id).unwrap().cache.snapshot);
    assert_eq!(
        call.open_file(root.id).unwrap_err().kind(),
        ErrorKind::IsADirectory
    );

    // A read says where the file ends.
    let head = fs.read_at(a.id, 0, 4).unwrap();
    assert_eq!((&head.data[..], head.eof), (&b"pack"[..], false));
    let tail = fs.read_at(a.id, 4, 100).unwrap();
    assert_eq!((&tail.data[..], tail.eof), (&b"age a\n"[..], true));
    assert!(fs.read_at(a.id, 0, 10).unwrap().eof, "exactly to the end");
    assert!(fs.read_at(a.id, 100, 10).unwrap().eof);

    // Opening a directory gives its own attributes with the entries.
    let listing = call.opendir(root.id).unwrap();
    assert_eq!(listing.dir, root);
    assert_eq!(listing.entries, fs.readdir_plus(root.id).unwrap());
    let top = call.opendir(NodeId::ROOT).unwrap();
    assert_eq!(top.dir.cache, Caching::GROWING);
}

#[test]
fn whole_file_reads_skip_the_blob_cache_and_pieces_use_it() {
    let store = Arc::new(MemoryStore::new());
    let big = "x".repeat(10_000);
    put(
        &store,
        "example.com/m",
        "v1.0.0",
        &[("small.go", "package m\n"), ("big.txt", big.as_str())],
    )
    .unwrap();
    let fs = offline(store);
    let blob = |fs: &ModFs| {
        let s = fs.status().blob_cache;
        (s.hits, s.misses)
    };
    // A file read whole, twice: read from the store both times (the
    // frontend's page cache keeps it), never kept.
    let small = fs.resolve("example.com/m@v1.0.0/small.go").unwrap();
    for _ in 0..2 {
        assert_eq!(&fs.read(small.id, 0, 1 << 17).unwrap()[..], b"package m\n");
    }
    assert_eq!(blob(&fs), (0, 2));
    // A file read in pieces: the first piece keeps it, the others hit,
    // and the piece that completes it drops it (the reader has it all).
    let big_id = fs.resolve("example.com/m@v1.0.0/big.txt").unwrap().id;
    let mut got = Vec::new();
    for offset in (0..10_000).step_by(4096) {
        got.extend_from_slice(&fs.read(big_id, offset, 4096).unwrap());
    }
    assert_eq!(got, big.as_bytes());
    assert_eq!(blob(&fs), (2, 3));
    // Read again, out of order this time (the last piece first, as
    // parallel readahead may ask): kept until every byte went out.
    for offset in [8192, 0, 4096] {
        fs.read(big_id, offset, 4096).unwrap();
    }
    assert_eq!(blob(&fs), (4, 4), "dropped before every piece was read");
    // A read past the end needs no contents.
    assert!(fs.read(big_id, 20_000, 4096).unwrap().is_empty());
    assert_eq!(blob(&fs), (4, 4));
    // A file read in part stays: the rest comes from memory.
    fs.read(big_id, 0, 4096).unwrap();
    fs.read(big_id, 4096, 4096).unwrap();
    assert_eq!(blob(&fs), (5, 5));
    // Opening reads the whole file through the cache.
    assert_eq!(fs.open(big_id).unwrap().len(), 10_000);
    assert_eq!(blob(&fs), (6, 5));
}

/// Reads `example.com/big@v1.0.0/data.txt` (`size` bytes) in 128 KiB
/// pieces from a filesystem with these budgets; returns the blob cache's
/// (hits, misses) and how many pieces there were.
fn read_big_file_in_pieces(size: usize, blob_budget: u64, large_budget: u64) -> (u64, u64, u64) {
    let content: String = (0..size).map(|i| (b'a' + (i % 23) as u8) as char).collect();
    let store = Arc::new(MemoryStore::new());
    put(
        &store,
        "example.com/big",
        "v1.0.0",
        &[("data.txt", content.as_str())],
    )
    .unwrap();
    let options = ModFsOptions {
        blob_cache_bytes: blob_budget,
        large_file_cache_bytes: large_budget,
        ..ModFsOptions::default()
    };
    let fs = ModFs::new(store, None, options).unwrap();
    let id = fs.resolve("example.com/big@v1.0.0/data.txt").unwrap().id;
    let piece = 128 << 10;
    let mut got = Vec::with_capacity(size);
    let mut eofs = 0;
    for offset in (0..size as u64).step_by(piece as usize) {
        let chunk = fs.read_at(id, offset, piece).unwrap();
        eofs += u64::from(chunk.eof);
        got.extend_from_slice(&chunk.data);
    }
    assert!(got == content.as_bytes(), "the pieces put together differ");
    assert_eq!(eofs, 1, "only the last piece reaches the end");
    let past = fs.read_at(id, size as u64 + 10, piece).unwrap();
    assert!(past.data.is_empty() && past.eof, "a read past the end");
    let s = fs.status().blob_cache;
    (s.hits, s.misses, size.div_ceil(piece as usize) as u64)
}

/// A file too large for the blob cache (twice its budget) read in pieces
/// is inflated once: its pieces come from the kept large file. With no
/// disk budget for large files, every piece loads the whole file again
/// (what happened before, and why a 50 MiB file read through FUSE cost
/// 400 inflates of 50 MiB).
#[test]
fn a_file_too_large_for_the_blob_cache_is_loaded_once_when_read_in_pieces() {
    let budget: u64 = 4 << 20;
    let size = (2 * budget) as usize;
    let (hits, misses, pieces) = read_big_file_in_pieces(size, budget, 1 << 30);
    // The read past the end needs no contents: one load, a hit per
    // further piece.
    assert_eq!(
        (hits, misses),
        (pieces - 1, 1),
        "an {} MiB file in {pieces} pieces (and one past its end): loaded {misses} times",
        size >> 20
    );
    let (hits, misses, pieces) = read_big_file_in_pieces(size, budget, 0);
    assert_eq!(
        (hits, misses),
        (0, pieces),
        "without a large-file budget, every piece loads the file"
    );
}

/// A file of a fifth of the blob budget read in FUSE-sized pieces is read
/// from the store once, on any machine: the cache's shards no longer
/// depend on the CPU count (with quick_cache's default, four shards per
/// CPU, 2 CPUs capped an entry at about 8 MiB of the 64 MiB default and
/// every piece of this file was read and inflated again).
#[test]
fn a_large_file_read_in_pieces_is_loaded_once() {
    let budget: u64 = 64 << 20;
    let size = (budget / 5) as usize;
    let content: String = (0..size).map(|i| (b'a' + (i % 23) as u8) as char).collect();
    let store = Arc::new(MemoryStore::new());
    put(
        &store,
        "example.com/big",
        "v1.0.0",
        &[("data.txt", content.as_str())],
    )
    .unwrap();
    let options = ModFsOptions {
        blob_cache_bytes: budget,
        ..ModFsOptions::default()
    };
    let fs = ModFs::new(store, None, options).unwrap();
    let id = fs.resolve("example.com/big@v1.0.0/data.txt").unwrap().id;
    let piece = 128 << 10;
    let mut got = Vec::with_capacity(size);
    for offset in (0..size as u64).step_by(piece as usize) {
        got.extend_from_slice(&fs.read(id, offset, piece).unwrap());
    }
    assert!(got == content.as_bytes(), "the pieces put together differ");
    let s = fs.status().blob_cache;
    let pieces = size.div_ceil(piece as usize) as u64;
    assert_eq!(
        (s.hits, s.misses),
        (pieces - 1, 1),
        "a {} MiB file in {pieces} pieces: loaded {} times",
        size >> 20,
        s.misses
    );
}

/// `read_at_cached` answers from the caches alone: a piece of a file no
/// cache holds is refused as one that would fetch (and counted neither as
/// a failed read nor as a cache miss), and once a full read has put the file in the blob cache
/// (or, too large for it, in the large-file cache) its other pieces come
/// from there. A file read whole is never cached, so it stays refused.
#[test]
fn read_at_cached_answers_from_the_caches_only() {
    let budget: u64 = 4 << 20;
    let large: String = (0..2 * budget)
        .map(|i| (b'a' + (i % 23) as u8) as char)
        .collect();
    let piece = "y".repeat(10_000);
    let store = Arc::new(MemoryStore::new());
    put(
        &store,
        "example.com/m",
        "v1.0.0",
        &[
            ("large.txt", large.as_str()),
            ("piece.txt", piece.as_str()),
            ("whole.go", "package m\n"),
        ],
    )
    .unwrap();
    let options = ModFsOptions {
        blob_cache_bytes: budget,
        ..ModFsOptions::default()
    };
    let fs = ModFs::new(store, None, options).unwrap();
    let cached = fs.with(gomodfs_core::Call::default());
    let id = |name: &str| {
        fs.resolve(&format!("example.com/m@v1.0.0/{name}"))
            .unwrap()
            .id
    };
    for (name, first, second, bytes) in [
        ("piece.txt", 0, 4096, piece.as_bytes()),
        ("large.txt", 0, 1 << 20, large.as_bytes()),
    ] {
        let refused = cached.read_at_cached(id(name), first, 4096).unwrap_err();
        assert!(refused.would_fetch(), "{name}: {refused}");
        fs.read_at(id(name), first, 4096).unwrap();
        let chunk = cached.read_at_cached(id(name), second, 4096).unwrap();
        let at = second as usize;
        assert!(
            chunk.data == bytes[at..at + 4096] && !chunk.eof,
            "{name}: the piece at {second}"
        );
    }
    let whole = id("whole.go");
    assert_eq!(&fs.read(whole, 0, 1 << 17).unwrap()[..], b"package m\n");
    assert!(
        cached
            .read_at_cached(whole, 0, 1 << 17)
            .unwrap_err()
            .would_fetch()
    );
    let status = fs.status();
    assert_eq!(
        status.ops["read"].errors, 0,
        "a refusal is not a failed read"
    );
    // A refusal is not a miss either: one load per file, one hit per
    // cached piece.
    let blob = status.blob_cache;
    assert_eq!((blob.hits, blob.misses), (2, 3));
}

/// A `.mod` or `.info` file is read from the store once for its size (a
/// LOOKUP or GETATTR) and its bytes (the READ that follows): the second
/// comes from the cache of download files.
#[test]
fn a_download_file_is_read_from_the_store_once_for_its_size_and_bytes() {
    let store = Arc::new(MemoryStore::new());
    put(
        &store,
        "example.com/meta",
        "v1.0.0",
        &[("a.go", "package a\n")],
    )
    .unwrap();
    let fs = offline(store);
    let store_meta = |fs: &ModFs| fs.status().ops["store_meta"].started;
    let before = store_meta(&fs);
    for file in ["v1.0.0.mod", "v1.0.0.info"] {
        let attr = fs
            .resolve(&format!("cache/download/example.com/meta/@v/{file}"))
            .unwrap();
        let data = fs.open(attr.id).unwrap();
        assert_eq!(data.len() as u64, attr.size, "{file}");
        assert_eq!(fs.getattr(attr.id).unwrap().size, attr.size, "{file}");
        assert_eq!(fs.read(attr.id, 0, 1 << 20).unwrap(), data, "{file}");
    }
    assert_eq!(
        store_meta(&fs) - before,
        2,
        "one store read per file for its size and bytes"
    );
}
