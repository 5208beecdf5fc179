//! Persistent node keys and paged listings: a key issued by one ModFs
//! resolves to the same node, with the same attributes and bytes, in a new
//! ModFs over the same store (a restart), offline.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use gomodfs_core::store::{GitStore, MetaFile};
use gomodfs_core::{
    Call, ErrorKind, ModFs, ModFsOptions, ModuleVersion, NodeId, NodeKind, Store, fs::NODE_KEY_MAX,
};
use gomodfs_testkit::seed::put;
use std::collections::BTreeSet;
use std::sync::Arc;

const LONG: &str = "example.com/a-rather-long-organisation/with-a-long-repository-name";

fn files(names: &[&str]) -> Vec<(String, String)> {
    names
        .iter()
        .map(|n| ((*n).to_owned(), format!("contents of {n}\n")))
        .collect()
}

fn open(dir: &std::path::Path) -> ModFs {
    let store = GitStore::open(dir).unwrap();
    ModFs::new(Arc::new(store), None, ModFsOptions::default()).unwrap()
}

/// Every path reachable from the root (listings outside module trees show
/// what the store holds), depth first.
fn walk(fs: &ModFs) -> Vec<(String, NodeId)> {
    let mut out = vec![(String::new(), NodeId::ROOT)];
    let mut i = 0;
    while i < out.len() {
        let (path, id) = out[i].clone();
        i += 1;
        if fs.getattr(id).unwrap().kind != NodeKind::Directory {
            continue;
        }
        for (e, _) in fs.readdir_plus(id).unwrap() {
            let child = fs.lookup(id, &e.name).unwrap();
            let p = if path.is_empty() {
                e.name.clone()
            } else {
                format!("{path}/{}", e.name)
            };
            out.push((p, child.id));
        }
    }
    out
}

#[test]
fn keys_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = GitStore::open(dir.path()).unwrap();
        put(
            &store,
            "example.com/Short",
            "v1.0.0",
            &files(&["a.go", "sub/b.go", "sub/deeper/c.go"]),
        )
        .unwrap();
        put(
            &store,
            LONG,
            "v1.2.3",
            &files(&[
                "go.mod",
                "internal/some/very/deeply/nested/package/with/a/long/name/file.go",
                "x.go",
            ]),
        )
        .unwrap();
        // Only the .mod of another long version: never fetched whole.
        let meta_only = ModuleVersion::new(LONG, "v0.9.0").unwrap();
        store
            .put_meta(
                &meta_only,
                MetaFile::Mod,
                &Bytes::from_static(b"module x\n"),
            )
            .unwrap();
    }

    let first = open(dir.path());
    let nodes = walk(&first);
    let mut forms = BTreeSet::new();
    let mut issued = vec![];
    for (path, id) in &nodes {
        let key = first.node_key(*id).unwrap();
        assert!(
            key.len() <= NODE_KEY_MAX,
            "{path}: key of {} bytes",
            key.len()
        );
        forms.insert(key[0]);
        let attr = first.getattr(*id).unwrap();
        let data = (attr.kind == NodeKind::File && !path.ends_with(".gomodfs-status"))
            .then(|| first.read(*id, 0, 1 << 20).unwrap());
        issued.push((path.clone(), key, attr, data));
    }
    assert!(
        nodes
            .iter()
            .any(|(p, _)| p.ends_with("cache/download/example.com/a-rather-long-organisation/with-a-long-repository-name/@v/v0.9.0.mod")),
        "the meta-only version is listed"
    );
    assert_eq!(
        forms,
        BTreeSet::from([1, 2, 3]),
        "the tree exercises every key form"
    );
    drop(first);

    // A restart: a new ModFs over the same store, offline, that has seen
    // none of these nodes.
    let second = open(dir.path());
    for (path, key, attr, data) in &issued {
        let id = second
            .resolve_key(key)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(id, attr.id, "{path}: same id after restart");
        let again = second.getattr(id).unwrap();
        if path != ".gomodfs-status" {
            assert_eq!(&again, attr, "{path}: same attributes after restart");
        }
        if let Some(data) = data {
            assert_eq!(&second.read(id, 0, 1 << 20).unwrap(), data, "{path}");
        }
        // And the same key again, now from the fast path.
        assert_eq!(second.node_key(id).unwrap(), *key, "{path}");
        assert_eq!(second.resolve_key(key).unwrap(), id);
    }

    // The same keys resolve in any order in a third process, e.g. a deep
    // file of the long module before anything else of it.
    let third = open(dir.path());
    for (path, key, attr, _) in issued.iter().rev() {
        assert_eq!(third.resolve_key(key).unwrap(), attr.id, "{path}");
    }

    // A key and its node's attributes in one call (what an NFS call on a
    // handle takes first) give what the two calls give, both for nodes a
    // new process has not seen (found by walking) and for known ones (a
    // known module node's check takes them), in either call mode.
    let fourth = open(dir.path());
    for call in [
        Call::default(),
        Call {
            store_only: true,
            pin: false,
        },
    ] {
        for (path, key, attr, _) in &issued {
            if path == ".gomodfs-status" {
                continue;
            }
            let both = fourth.with(call).resolve_key_attr(key);
            assert_eq!(
                &both.unwrap_or_else(|e| panic!("{path}: {e}")),
                attr,
                "{path}"
            );
        }
    }
    let stale = fourth
        .with(Call::default())
        .resolve_key_attr(b"\x01cache/download/example.com/x/@v/v1.0.0.zip");
    assert_eq!(stale.unwrap_err().kind(), ErrorKind::Stale);
}

#[test]
fn unknown_keys_are_stale() {
    let dir = tempfile::tempdir().unwrap();
    let fs = open(dir.path());
    let mut long_module = vec![2u8];
    long_module.extend_from_slice(&[7; 16]);
    for key in [
        &b""[..],
        &[0u8][..],
        &[9u8, 1, 2][..],
        &[2u8, 1, 2, 3][..],
        &[3u8, 1][..],
        &[3u8, 1, 2, 3, 4, 5, 6, 7, 8][..],
        &long_module,
        &[1u8, 0xff, 0xfe][..],
        b"\x01cache/download/example.com/x/@v/v1.0.0.zip",
    ] {
        let err = fs.resolve_key(key).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Stale, "{key:?}: {err}");
    }
    // A path key names a path, and every valid module version exists: one
    // that is not stored is fetched like any lookup (here offline: EIO).
    let err = fs
        .resolve_key(b"\x01example.com/x@v1.0.0/a.go")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
}

#[test]
fn pages_cover_a_large_directory_once() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..2000).map(|i| format!("big/f{i:05}.go")).collect();
    let list: Vec<&str> = names.iter().map(String::as_str).collect();
    {
        let store = GitStore::open(dir.path()).unwrap();
        put(&store, "example.com/big", "v1.0.0", &files(&list)).unwrap();
    }
    let fs = open(dir.path());
    let big = fs.resolve("example.com/big@v1.0.0/big").unwrap();
    let mut seen = vec![];
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = fs.readdir_page(big.id, after, 97).unwrap();
        pages += 1;
        for (entry, attr) in &page.entries {
            assert_eq!(entry.id, attr.id);
            assert_eq!(fs.lookup(big.id, &entry.name).unwrap(), *attr);
            seen.push(entry.name.clone());
        }
        after = page.entries.last().map(|(e, _)| e.id);
        if page.eof {
            break;
        }
        // Resume a listing in a "restarted" ModFs half way through.
        if pages == 10 {
            let restarted = open(dir.path());
            let id = restarted
                .resolve_key(&fs.node_key(big.id).unwrap())
                .unwrap();
            let other = restarted.readdir_page(id, after, 97).unwrap();
            let expect = fs.readdir_page(big.id, after, 97).unwrap();
            assert_eq!(other, expect);
        }
    }
    let expect: Vec<String> = (0..2000).map(|i| format!("f{i:05}.go")).collect();
    assert_eq!(seen, expect, "every name once, in order");
    assert_eq!(pages, 2000usize.div_ceil(97));

    // Outside module trees too, and a bogus cookie is refused.
    let root = fs.readdir_page(NodeId::ROOT, None, 1).unwrap();
    assert!(!root.eof);
    let rest = fs
        .readdir_page(NodeId::ROOT, root.entries.last().map(|(e, _)| e.id), 100)
        .unwrap();
    assert!(rest.eof);
    let all: Vec<String> = fs
        .readdir_plus(NodeId::ROOT)
        .unwrap()
        .into_iter()
        .map(|(e, _)| e.name)
        .collect();
    let paged: Vec<String> = root
        .entries
        .iter()
        .chain(&rest.entries)
        .map(|(e, _)| e.name.clone())
        .collect();
    assert_eq!(paged, all);
    let err = fs
        .readdir_page(big.id, Some(NodeId(12345)), 10)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn a_key_to_a_file_its_module_lacks_is_stale_with_or_without_attributes() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = GitStore::open(dir.path()).unwrap();
        put(&store, "example.com/m", "v1.0.0", &files(&["a.go"])).unwrap();
    }
    let fs = open(dir.path());
    let root = fs.resolve("example.com/m@v1.0.0").unwrap();
    // A lookup that fails, then the key a client could still send for it.
    assert_eq!(
        fs.lookup(root.id, "gone.go").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let key = b"\x01example.com/m@v1.0.0/gone.go";
    for call in [
        Call::default(),
        Call {
            store_only: true,
            pin: false,
        },
    ] {
        let err = fs.with(call).resolve_key_attr(key).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Stale, "{err}");
        assert_eq!(
            fs.with(call).resolve_key(key).unwrap_err().kind(),
            ErrorKind::Stale
        );
    }
    // The module's own file still resolves, with its attributes.
    let a = fs.resolve("example.com/m@v1.0.0/a.go").unwrap();
    let attr = fs
        .with(Call::default())
        .resolve_key_attr(b"\x01example.com/m@v1.0.0/a.go")
        .unwrap();
    assert_eq!(attr, a);
}
