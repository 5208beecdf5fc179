//! The NFS adapter driven in-process by `nfs3_client` over TCP: MOUNT
//! through the built-in portmapper, LOOKUP/GETATTR/READ/READDIRPLUS
//! against the node API, ROFS for writes, restarts, and paging.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gomodfs_core::stats::Op;
use gomodfs_core::store::{GitStore, MemoryStore};
use gomodfs_core::{ModFs, ModFsOptions, Store};
use gomodfs_nfs::{MAX_TRANSFER, fattr};
use gomodfs_testkit::nfs::{Client, a, handle_bytes, handle_from};
use gomodfs_testkit::seed::put;
use nfs3_client::nfs3_types::nfs3::{
    self, FSINFO3args, Nfs3Result, cookieverf3, createhow3, diropargs3, filename3, ftype3,
    nfsstat3, sattr3, sattrguard3, stable_how,
};
use nfs3_client::nfs3_types::xdr_codec::Opaque;
use std::sync::Arc;

fn offline(store: Arc<dyn Store>) -> Arc<ModFs> {
    Arc::new(ModFs::new(store, None, ModFsOptions::default()).unwrap())
}

fn big_file() -> Vec<u8> {
    (0..3_000_000u32).map(|i| (i % 251) as u8).collect()
}

fn sample(store: &dyn Store) {
    put(
        store,
        "example.com/Foo",
        "v1.0.0",
        &[
            ("a.go", b"package a\n".to_vec()),
            ("sub/b c.go", b"package sub\n".to_vec()),
            ("data/big.bin", big_file()),
        ],
    )
    .unwrap();
}

#[test]
fn reads_lists_and_attributes_match_the_node_api() {
    let store = Arc::new(MemoryStore::new());
    sample(store.as_ref());
    let fs = offline(store);
    let server = gomodfs_nfs::serve(fs.clone(), "127.0.0.1:0").unwrap();
    let mut c = Client::connect(server.local_addr().port(), "/");

    // Attributes are the core's, through GETATTR, LOOKUP and READDIRPLUS.
    for path in [
        "",
        "cache",
        "cache/download/example.com/!foo/@v",
        "cache/download/example.com/!foo/@v/v1.0.0.mod",
        "cache/download/example.com/!foo/@v/v1.0.0.ziphash",
        "example.com/!foo@v1.0.0",
        "example.com/!foo@v1.0.0/sub/b c.go",
    ] {
        let (fh, via_lookup) = c.walk(path).unwrap();
        let core = fattr(&fs.resolve(path).unwrap());
        assert_eq!(a(&via_lookup), a(&core), "{path}: LOOKUP");
        assert_eq!(a(&c.getattr(&fh).unwrap()), a(&core), "{path}: GETATTR");
        if core.type_ == ftype3::NF3DIR {
            let (entries, _) = c.list(&fh, 64 * 1024).unwrap();
            let names: Vec<_> = entries.iter().map(|e| e.name.clone()).collect();
            let id = fs.resolve(path).unwrap().id;
            let expect: Vec<_> = fs
                .readdir_plus(id)
                .unwrap()
                .into_iter()
                .map(|(e, _)| e.name)
                .collect();
            assert_eq!(names, expect, "{path}: READDIRPLUS names");
            for e in entries {
                let child = if path.is_empty() {
                    e.name.clone()
                } else {
                    format!("{path}/{}", e.name)
                };
                if child == ".gomodfs-status" {
                    continue;
                }
                let core = fattr(&fs.resolve(&child).unwrap());
                assert_eq!(a(&e.attr.unwrap()), a(&core), "{child}: READDIRPLUS");
                let handle = e.handle.as_ref().unwrap();
                assert_eq!(a(&c.getattr(handle).unwrap()), a(&core), "{child}");
            }
        }
    }
    let (fh, attr) = c.walk("example.com/!foo@v1.0.0/sub/b c.go").unwrap();
    assert_eq!(attr.mode, 0o444);
    assert_eq!(attr.uid, 0);
    assert_eq!(attr.nlink, 1);
    assert_eq!(c.read_all(&fh, 4).unwrap(), b"package sub\n");
    let (fh, attr) = c.walk("example.com/!foo@v1.0.0/data/big.bin").unwrap();
    assert_eq!(attr.size, 3_000_000);
    assert_eq!(c.read_all(&fh, MAX_TRANSFER).unwrap(), big_file());
    // A byte range in the middle, and reads at and past the end.
    let (mid, eof) = c.read(&fh, 1_000_003, 10).unwrap();
    assert_eq!(mid, big_file()[1_000_003..1_000_013]);
    assert!(!eof);
    let (tail, eof) = c.read(&fh, 2_999_990, 10).unwrap();
    assert_eq!(tail.len(), 10);
    assert!(eof, "a read that ends at the size is eof");
    let (none, eof) = c.read(&fh, 5_000_000, 10).unwrap();
    assert!(none.is_empty() && eof);
    let (fh, _) = c
        .walk("cache/download/example.com/!foo/@v/v1.0.0.ziphash")
        .unwrap();
    assert_eq!(
        c.read_all(&fh, 1024).unwrap(),
        b"h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    );

    // What does not exist is NOENT; a directory is not readable.
    for missing in [
        "cache/download/example.com/!foo/@v/v1.0.0.zip",
        "cache/download/example.com/!foo/@v/v1.0.0.partial",
        "example.com/!foo@v1.0.0/nope.go",
        ".DS_Store",
        "example.com/Foo@v1.0.0",
    ] {
        assert_eq!(
            c.walk(missing).unwrap_err(),
            nfsstat3::NFS3ERR_NOENT,
            "{missing}"
        );
    }
    let (dir, _) = c.walk("example.com/!foo@v1.0.0").unwrap();
    assert_eq!(c.read(&dir, 0, 10).unwrap_err(), nfsstat3::NFS3ERR_ISDIR);
    let (file, _) = c.walk("example.com/!foo@v1.0.0/a.go").unwrap();
    assert_eq!(c.lookup(&file, "x").unwrap_err(), nfsstat3::NFS3ERR_NOTDIR);

    // FSINFO offers large reads.
    let (rt, nfs) = c.nfs();
    let fsinfo = rt
        .block_on(nfs.fsinfo(&FSINFO3args {
            fsroot: dir.clone(),
        }))
        .unwrap();
    match fsinfo {
        Nfs3Result::Ok(ok) => {
            assert_eq!(ok.rtmax, MAX_TRANSFER);
            assert!(ok.rtpref >= 64 * 1024);
        }
        Nfs3Result::Err((stat, _)) => panic!("FSINFO: {stat:?}"),
    }
    server.stop();
}

#[test]
fn every_write_is_rofs() {
    let store = Arc::new(MemoryStore::new());
    sample(store.as_ref());
    let server = gomodfs_nfs::serve(offline(store), "0").unwrap();
    let mut c = Client::connect(server.local_addr().port(), "/");
    let (dir, _) = c.walk("example.com/!foo@v1.0.0").unwrap();
    let (file, _) = c.walk("example.com/!foo@v1.0.0/a.go").unwrap();
    let name = |n: &str| filename3(Opaque::owned(n.as_bytes().to_vec()));
    let (rt, nfs) = c.nfs();
    let at = |n: &str| diropargs3 {
        dir: dir.clone(),
        name: name(n),
    };
    let mut statuses = vec![];
    macro_rules! status {
        ($e:expr) => {
            match rt.block_on($e).unwrap() {
                Nfs3Result::Ok(_) => None,
                Nfs3Result::Err((stat, _)) => Some(stat),
            }
        };
    }
    statuses.push(status!(nfs.write(&nfs3::WRITE3args {
        file: file.clone(),
        offset: 0,
        count: 1,
        stable: stable_how::FILE_SYNC,
        data: Opaque::owned(vec![b'x']),
    })));
    statuses.push(status!(nfs.setattr(&nfs3::SETATTR3args {
        object: file.clone(),
        new_attributes: sattr3::default(),
        guard: sattrguard3::default(),
    })));
    statuses.push(status!(nfs.create(&nfs3::CREATE3args {
        where_: at("new.go"),
        how: createhow3::UNCHECKED(sattr3::default()),
    })));
    statuses.push(status!(nfs.mkdir(&nfs3::MKDIR3args {
        where_: at("newdir"),
        attributes: sattr3::default(),
    })));
    statuses.push(status!(
        nfs.remove(&nfs3::REMOVE3args { object: at("a.go") })
    ));
    statuses.push(status!(nfs.rmdir(&nfs3::RMDIR3args { object: at("sub") })));
    statuses.push(status!(nfs.rename(&nfs3::RENAME3args {
        from: at("a.go"),
        to: at("b.go"),
    })));
    statuses.push(status!(nfs.commit(&nfs3::COMMIT3args {
        file: file.clone(),
        offset: 0,
        count: 0,
    })));
    for (i, s) in statuses.iter().enumerate() {
        assert_eq!(*s, Some(nfsstat3::NFS3ERR_ROFS), "write operation #{i}");
    }
    server.stop();
}

#[test]
fn handles_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = GitStore::open(dir.path()).unwrap();
        sample(&store);
        put(
            &store,
            "example.com/an-organisation-with-a-long-name/and-a-long-repository",
            "v0.0.0-20240102030405-0123456789ab",
            &[(
                "internal/long/path/to/a/package/file.go",
                b"package x\n".to_vec(),
            )],
        )
        .unwrap();
    }
    let open = || offline(Arc::new(GitStore::open(dir.path()).unwrap()));
    let server = gomodfs_nfs::serve(open(), "0").unwrap();
    let mut c = Client::connect(server.local_addr().port(), "/");
    let paths = [
        "",
        "example.com/!foo@v1.0.0/sub/b c.go",
        "example.com/an-organisation-with-a-long-name/and-a-long-repository@v0.0.0-20240102030405-0123456789ab/internal/long/path/to/a/package/file.go",
        "example.com/an-organisation-with-a-long-name/and-a-long-repository@v0.0.0-20240102030405-0123456789ab/internal/long/path",
        "cache/download/example.com/an-organisation-with-a-long-name/and-a-long-repository/@v",
        "cache/download/example.com/an-organisation-with-a-long-name/and-a-long-repository/@v/v0.0.0-20240102030405-0123456789ab.mod",
        "cache/download/example.com/an-organisation-with-a-long-name",
    ];
    let mut kept = vec![];
    for p in paths {
        let (fh, attr) = c.walk(p).unwrap();
        let data = (attr.type_ == ftype3::NF3REG).then(|| c.read_all(&fh, 1 << 20).unwrap());
        kept.push((p, handle_bytes(&fh), attr, data));
    }
    drop(c);
    server.stop();

    let server = gomodfs_nfs::serve(open(), "0").unwrap();
    let mut c = Client::connect(server.local_addr().port(), "/");
    for (p, fh, attr, data) in &kept {
        let fh = handle_from(fh);
        assert_eq!(a(&c.getattr(&fh).unwrap()), a(attr), "{p}");
        if let Some(data) = data {
            assert_eq!(&c.read_all(&fh, 1 << 20).unwrap(), data, "{p}");
        }
    }
    // A handle that names nothing is stale.
    let mut bogus = kept[1].1.clone();
    bogus[8] = 2;
    bogus.truncate(8 + 17);
    assert_eq!(
        c.getattr(&handle_from(&bogus)).unwrap_err(),
        nfsstat3::NFS3ERR_STALE
    );
    server.stop();
}

#[test]
fn any_export_path_mounts() {
    let store = Arc::new(MemoryStore::new());
    sample(store.as_ref());
    let fs = offline(store);
    let server = gomodfs_nfs::serve(fs, "0").unwrap();
    let port = server.local_addr().port();
    let mut c = Client::connect(port, "/gomodcache");
    assert!(c.lookup(&c.root(), "cache").is_ok());
    let mut c = Client::connect(port, "/example.com/!foo@v1.0.0/sub");
    assert!(c.lookup(&c.root(), "b c.go").is_ok());
    server.stop();
}

#[test]
fn a_large_directory_pages_in_constant_steps() {
    const N: usize = 10_000;
    let store = Arc::new(MemoryStore::new());
    let files: Vec<(String, Vec<u8>)> = (0..N)
        .map(|i| (format!("many/file{i:05}.go"), b"package many\n".to_vec()))
        .collect();
    put(store.as_ref(), "example.com/many", "v1.0.0", &files).unwrap();
    let fs = offline(store);
    let server = gomodfs_nfs::serve(fs.clone(), "0").unwrap();
    let mut c = Client::connect(server.local_addr().port(), "/");
    let (dir, _) = c.walk("example.com/many@v1.0.0/many").unwrap();
    let before = fs.stats().op(Op::Readdir).started;
    let (entries, pages) = c.list(&dir, 32 * 1024).unwrap();
    let after = fs.stats().op(Op::Readdir).started;
    let names: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();
    let expect: Vec<String> = (0..N).map(|i| format!("file{i:05}.go")).collect();
    assert_eq!(names, expect, "every name once, in order");
    assert!(pages > 10, "{pages} pages");
    // Each READDIRPLUS computes at most two steps of the listing.
    let steps = after - before;
    assert!(
        steps <= 2 * pages as u64,
        "{steps} listing steps for {pages} pages"
    );
    // Cookies are stable: resuming anywhere (with the directory's
    // verifier) gives the rest.
    let mid = &entries[N / 2];
    let (_, _, verf) = c
        .readdirplus(&dir, 0, cookieverf3::default(), 1024)
        .unwrap();
    let (rest, _, _) = c.readdirplus(&dir, mid.cookie, verf, 8 * 1024).unwrap();
    assert_eq!(rest[0].name, entries[N / 2 + 1].name);
    server.stop();
}

#[test]
fn the_status_file_is_never_torn_across_reads() {
    // A client reads the status file as GETATTR then READs in pieces (about
    // ten: few enough to finish well inside the window on a loaded machine),
    // while every request (its own included) changes the counters. All of
    // it within the snapshot window must be one document of the size
    // GETATTR gave.
    let store = Arc::new(MemoryStore::new());
    sample(store.as_ref());
    let fs = offline(store);
    let server = gomodfs_nfs::serve(fs.clone(), "127.0.0.1:0").unwrap();
    let mut c = Client::connect(server.local_addr().port(), "/");
    let (fh, _) = c.walk(".gomodfs-status").unwrap();
    let (file, _) = c.walk("example.com/!foo@v1.0.0/a.go").unwrap();
    let started = std::time::Instant::now();
    let size = c.getattr(&fh).unwrap().size;
    let mut doc = Vec::new();
    loop {
        // Other traffic between the pieces.
        c.read(&file, 0, 4).unwrap();
        let (piece, eof) = c.read(&fh, doc.len() as u64, 512).unwrap();
        doc.extend_from_slice(&piece);
        if eof || piece.is_empty() {
            break;
        }
    }
    // Only meaningful if it all happened inside one window.
    assert!(
        started.elapsed() < gomodfs_nfs::STATUS_WINDOW,
        "too slow to check"
    );
    assert_eq!(doc.len() as u64, size, "GETATTR size vs bytes read");
    let json: serde_json::Value = serde_json::from_slice(&doc).expect("one JSON document");
    assert!(json.get("uptime").is_some(), "{json}");
    // After the window a new snapshot is served.
    std::thread::sleep(gomodfs_nfs::STATUS_WINDOW);
    let again = c.read_all(&fh, 64).unwrap();
    assert_ne!(again, doc, "a snapshot outlived its window");
}

#[test]
fn the_status_names_the_server_while_it_serves() {
    let store = Arc::new(MemoryStore::new());
    let fs = offline(store);
    let server = gomodfs_nfs::serve(fs.clone(), "127.0.0.1:0").unwrap();
    let frontends = fs.status().frontends;
    assert_eq!(frontends.len(), 1, "{frontends:?}");
    assert_eq!(frontends[0].kind, "nfs");
    assert_eq!(frontends[0].at, server.local_addr().to_string());
    server.stop();
    assert_eq!(fs.status().frontends, [], "a stopped server is not named");
}
