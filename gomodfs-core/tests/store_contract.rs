//! The `Store` contract, checked against every implementation through the
//! public API only. A new store (S3, ...) should pass `check_contract` too.

#![allow(clippy::unwrap_used, missing_docs)]

use bytes::Bytes;
use gomodfs_core::ModuleVersion;
use gomodfs_core::store::{
    BlobId, GitStore, MemoryStore, MetaFile, ModuleContents, Store, StoreEntry,
};
use std::sync::Arc;

fn mv(p: &str, v: &str) -> ModuleVersion {
    ModuleVersion::new(p, v).unwrap()
}

fn contents(files: &[(&str, &str)]) -> ModuleContents {
    ModuleContents {
        info: Bytes::from_static(b"{\"Version\":\"v1.0.0\",\"Time\":\"2024-01-01T00:00:00Z\"}"),
        go_mod: Bytes::from_static(b"module example.com/m\n"),
        ziphash: "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".into(),
        files: files
            .iter()
            .map(|(p, c)| ((*p).to_owned(), Bytes::copy_from_slice(c.as_bytes())))
            .collect(),
    }
}

fn check_contract(store: &dyn Store) {
    let m = mv("github.com/Example/M", "v1.0.0");
    let other = mv("github.com/Example/M", "v1.0.1");

    // Absent is Ok(None), not an error.
    assert_eq!(store.module(&m).unwrap(), None);
    assert_eq!(store.meta(&m, MetaFile::Info).unwrap(), None);
    assert!(store.list().unwrap().is_empty());

    // .mod alone: visible through meta, not as a module; listed incomplete.
    store
        .put_meta(&other, MetaFile::Mod, &Bytes::from_static(b"module x\n"))
        .unwrap();
    assert_eq!(
        store.meta(&other, MetaFile::Mod).unwrap(),
        Some(Bytes::from_static(b"module x\n"))
    );
    assert_eq!(store.module(&other).unwrap(), None);

    // A whole module, files in any order; read back sorted bytewise.
    let c = contents(&[
        ("z.go", "z"),
        ("B.go", "B"),
        ("a/b.go", "ab"),
        ("a b", ""),
        ("a.go", "a"),
    ]);
    store.put_module(&m, &c).unwrap();
    store.put_module(&m, &c).unwrap(); // idempotent
    let got = store.module(&m).unwrap().unwrap();
    let paths: Vec<&str> = got.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["B.go", "a b", "a.go", "a/b.go", "z.go"]);
    for f in &got.files {
        let want = c.files.iter().find(|(p, _)| *p == f.path).unwrap();
        assert_eq!(f.size, want.1.len() as u64);
        assert_eq!(store.blob(&f.blob).unwrap().unwrap(), want.1);
    }
    assert_eq!(got.info, c.info);
    assert_eq!(got.go_mod, c.go_mod);
    assert_eq!(got.ziphash, c.ziphash);
    // meta answers from the complete module.
    assert_eq!(
        store.meta(&m, MetaFile::Mod).unwrap(),
        Some(c.go_mod.clone())
    );

    // A blob id the store never gave out.
    assert_eq!(
        store
            .blob(&BlobId::from_slice(&[0xab; 20]).unwrap())
            .unwrap(),
        None
    );

    let mut listed = store.list().unwrap();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            StoreEntry {
                module: m,
                complete: true
            },
            StoreEntry {
                module: other,
                complete: false
            },
        ]
    );
}

#[test]
fn memory_store_keeps_the_contract() {
    check_contract(&MemoryStore::new());
}

#[test]
fn git_store_keeps_the_contract() {
    let tmp = tempfile::tempdir().unwrap();
    check_contract(&GitStore::open(tmp.path()).unwrap());
}

#[test]
fn stores_work_behind_arc_and_box() {
    let tmp = tempfile::tempdir().unwrap();
    check_contract(&Arc::new(GitStore::open(tmp.path()).unwrap()));
    let boxed: Box<dyn Store> = Box::new(MemoryStore::new());
    check_contract(&boxed);
}
