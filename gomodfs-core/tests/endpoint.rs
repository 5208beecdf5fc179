//! What a GOPROXY endpoint asks of ModFs beyond the node API: the parsed
//! requests, the versions the store holds, the pass-through to the
//! upstream (a `file://` proxy here) and cancelling downloads.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use gomodfs_core::fs::{PassRequest, ProxyRequest};
use gomodfs_core::proxy::{HttpProxy, Upstream, UpstreamConfig};
use gomodfs_core::store::{MemoryStore, MetaFile, ModuleContents};
use gomodfs_core::{ErrorKind, ModFs, ModFsOptions, ModuleVersion, Store};
use std::path::Path;
use std::sync::Arc;

/// A ModFs over `store`, with the `file://` proxy at `dir` as its upstream
/// (offline without one), and GONOPROXY `noproxy`.
fn modfs(store: Arc<MemoryStore>, dir: Option<&Path>, noproxy: &str) -> ModFs {
    let upstream = dir.map(|d| {
        let mut c = UpstreamConfig::with_proxy(&format!("file://{}/", d.display()));
        c.http_proxy = HttpProxy::Disabled;
        c.noproxy = noproxy.to_owned();
        Upstream::new(c).unwrap()
    });
    ModFs::new(store, upstream, ModFsOptions::default()).unwrap()
}

fn pass(path: &str) -> PassRequest {
    match ProxyRequest::parse(path).unwrap() {
        ProxyRequest::Pass(p) => p,
        other => panic!("{path}: {other:?}"),
    }
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn versions_are_what_the_store_holds_of_one_module() {
    let store = Arc::new(MemoryStore::new());
    let meta_only = |path: &str, version: &str| {
        let mv = ModuleVersion::new(path, version).unwrap();
        store
            .put_meta(&mv, MetaFile::Mod, &Bytes::from_static(b"module x\n"))
            .unwrap();
    };
    meta_only("example.com/Foo", "v1.10.0");
    meta_only("example.com/Foo", "v1.2.0");
    meta_only("example.com/Foo/v2", "v2.0.0");
    meta_only("example.com/foo", "v1.3.0");
    let complete = ModuleVersion::new("example.com/Foo", "v1.0.0").unwrap();
    let contents = ModuleContents {
        info: Bytes::from_static(b"{\"Version\":\"v1.0.0\"}"),
        go_mod: Bytes::from_static(b"module example.com/Foo\n"),
        ziphash: "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
        files: vec![("a.go".into(), Bytes::from_static(b"package a\n"))],
    };
    store.put_module(&complete, &contents).unwrap();
    // Once, even with `.info` stored next to the complete module.
    store
        .put_meta(&complete, MetaFile::Info, &contents.info)
        .unwrap();

    let fs = modfs(store, None, "");
    // Complete and `.info`/`.mod`-only versions, sorted as strings; other
    // modules (case and major version matter) are not listed.
    assert_eq!(
        fs.versions("example.com/Foo").unwrap(),
        ["v1.0.0", "v1.10.0", "v1.2.0"]
    );
    assert_eq!(fs.versions("example.com/foo").unwrap(), ["v1.3.0"]);
    assert!(fs.versions("example.com/none").unwrap().is_empty());
}

#[test]
fn pass_through_asks_the_upstream_and_is_none_offline() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, body: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    };
    write("example.com/!foo/@v/list", "v1.0.0\nv1.1.0\n");
    write("example.com/!foo/@latest", "{\"Version\":\"v1.1.0\"}");
    write("sumdb/sum.golang.org/supported", "");

    let store = Arc::new(MemoryStore::new());
    let offline = modfs(store.clone(), None, "");
    let list = pass("example.com/!foo/@v/list");
    assert_eq!(block_on(offline.pass_through(&list)).unwrap(), None);
    assert_eq!(offline.cancel_downloads(), 0);

    let fs = modfs(store, Some(dir.path()), "private.example");
    let answer = |path: &str| block_on(fs.pass_through(&pass(path)));
    let got = answer("example.com/!foo/@v/list").unwrap().unwrap();
    assert_eq!((got.status, &got.body[..]), (200, &b"v1.0.0\nv1.1.0\n"[..]));
    let got = answer("example.com/!foo/@latest").unwrap().unwrap();
    assert_eq!(&got.body[..], b"{\"Version\":\"v1.1.0\"}");
    let got = answer("sumdb/sum.golang.org/supported").unwrap().unwrap();
    assert_eq!(got.status, 200);
    // What the upstream does not have keeps its status.
    assert_eq!(
        answer("example.com/bar/@v/list").unwrap().unwrap().status,
        404
    );
    // A GONOPROXY module is refused without asking.
    let refused = answer("private.example/x/@latest").unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Io);
    assert!(refused.to_string().contains("GONOPROXY"), "{refused}");

    // After cancelling, nothing more is asked.
    assert_eq!(fs.cancel_downloads(), 0);
    let err = answer("example.com/!foo/@v/list").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
}
