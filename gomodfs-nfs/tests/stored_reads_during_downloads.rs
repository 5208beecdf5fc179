//! Stored modules are served at local speed whatever is downloading: with
//! 100 cache misses in flight on one NFS connection (the way a kernel
//! client multiplexes every process onto one), against an upstream that
//! answers after 3 s, a READ of a stored module's file answers at once, on
//! that connection and on another.
//!
//! Requests are answered store-only on the server's async workers first
//! and made again as full calls only when they need a download: a LOOKUP,
//! READDIRPLUS or READ of a module not stored yet downloads it (once) and
//! answers as if it had been stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gomodfs_core::proxy::{Upstream, UpstreamConfig};
use gomodfs_core::store::GitStore;
use gomodfs_core::{ModFs, ModFsOptions};
use gomodfs_nfs::HANDLE_GENERATION;
use gomodfs_testkit::nfs::rpc::{lookup_call, read_call, read_reply};
use gomodfs_testkit::nfs::{Client, handle_from};
use gomodfs_testkit::{ModuleSpec, TestProxy};
use nfs3_client::nfs3_types::nfs3::{ftype3, nfs_fh3};
use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MISSES: usize = 100;
const UPSTREAM_DELAY: Duration = Duration::from_secs(3);
/// "Promptly": far below the upstream's delay, with room for a loaded
/// machine.
const PROMPT: Duration = Duration::from_millis(1000);

fn slow(i: usize) -> ModuleSpec {
    ModuleSpec::new(format!("example.com/slow/m{i:03}"), "v1.0.0").file("slow.go", "package slow\n")
}

/// A handle of the path-key form for `path`.
fn path_handle(path: &str) -> nfs_fh3 {
    let mut bytes = HANDLE_GENERATION.to_le_bytes().to_vec();
    bytes.push(1);
    bytes.extend_from_slice(path.as_bytes());
    handle_from(&bytes)
}

/// Sends one READ on `stream` and waits for its reply (skipping the
/// replies of other calls); returns how long that took.
fn timed_read(stream: &mut TcpStream, fh: &nfs_fh3, xid: u32) -> Duration {
    let t = Instant::now();
    stream.write_all(&read_call(xid, fh, 0, 4096)).unwrap();
    loop {
        let reply = read_reply(stream).unwrap();
        if reply.xid == xid {
            assert_eq!(reply.status, Some(0), "READ of the stored file");
            return t.elapsed();
        }
    }
}

#[test]
fn a_stored_read_answers_promptly_with_a_hundred_misses_in_flight() {
    let stored = ModuleSpec::new("example.com/stored", "v1.0.0").file("a.go", "package a\n");
    let proxy = TestProxy::start_with([stored]).unwrap();
    for i in 0..MISSES {
        let m = slow(i);
        proxy.set_slow(m.path(), m.version(), UPSTREAM_DELAY);
        proxy.add(m);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = UpstreamConfig::with_proxy(&proxy.url());
    config.idle_timeout = Duration::from_secs(60);
    let upstream = Upstream::new(config).unwrap();
    let store = Arc::new(GitStore::open(dir.path()).unwrap());
    let fs = Arc::new(ModFs::new(store, Some(upstream), ModFsOptions::default()).unwrap());
    fs.resolve("example.com/stored@v1.0.0/a.go").unwrap();
    let server = gomodfs_nfs::serve(fs, "0").unwrap();
    let port = server.local_addr().port();

    let mut other = Client::connect(port, "/");
    let (file, _) = other.walk("example.com/stored@v1.0.0/a.go").unwrap();
    let slow_dir = path_handle("example.com/slow");

    // 100 LOOKUPs of module versions not stored, pipelined on one
    // connection, then wait until the upstream has seen most of them.
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    for i in 0..MISSES {
        conn.write_all(&lookup_call(
            i as u32,
            &slow_dir,
            &format!("m{i:03}@v1.0.0"),
        ))
        .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let in_flight = || {
        proxy
            .request_records()
            .iter()
            .filter(|r| r.path.starts_with("/example.com/slow/"))
            .count()
    };
    while in_flight() < MISSES * 9 / 10 {
        assert!(
            Instant::now() < deadline,
            "only {} upstream requests for the misses",
            in_flight()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let seen = in_flight();

    // A stored file on the same connection, and on another one.
    let same = timed_read(&mut conn, &file, 10_000);
    let t = Instant::now();
    assert_eq!(other.read(&file, 0, 4096).unwrap().0, b"package a\n");
    let separate = t.elapsed();
    eprintln!(
        "{seen} upstream requests in flight; stored READ on the same connection {same:?}, \
         on another {separate:?}"
    );
    assert!(same < PROMPT, "stored READ behind the misses took {same:?}");
    assert!(
        separate < PROMPT,
        "stored READ on another connection took {separate:?}"
    );

    // The misses complete once the upstream answers.
    let mut done = 0;
    while done < MISSES {
        let reply = read_reply(&mut conn).unwrap();
        assert_eq!(reply.status, Some(0), "LOOKUP {reply:?}");
        done += 1;
    }
    drop(conn);
    server.stop();
    proxy.stop();
}

/// The store-only attempt, then the full call: the first LOOKUP inside a
/// module version not stored downloads it (one request upstream for its
/// zip) and answers with the object's and the directory's attributes; its files
/// list and read; a READ through the handle of a file whose module was
/// never looked up downloads that module.
#[test]
fn requests_that_need_a_download_are_made_again_and_answered() {
    let a = ModuleSpec::new("example.com/fresh", "v1.0.0")
        .file("a.go", "package a\n")
        .file("sub/b.go", "package sub\n");
    let b = ModuleSpec::new("example.com/listed", "v1.2.0").file("c.go", "package c\n");
    let proxy = TestProxy::start_with([a, b]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::new(UpstreamConfig::with_proxy(&proxy.url())).unwrap();
    let store = Arc::new(GitStore::open(dir.path()).unwrap());
    let fs = Arc::new(ModFs::new(store, Some(upstream), ModFsOptions::default()).unwrap());
    let server = gomodfs_nfs::serve(fs, "0").unwrap();
    let mut c = Client::connect(server.local_addr().port(), "/");

    // The root answers from the version's .info while its zip downloads
    // behind (docs/SEMANTICS.md); a name inside it waits for the download.
    let (module, attr) = c.walk("example.com/fresh@v1.0.0").unwrap();
    assert_eq!(attr.type_, ftype3::NF3DIR, "the module root is a directory");
    let (sub, _) = c.lookup(&module, "sub").unwrap();
    assert_eq!(proxy.requests("example.com/fresh/@v/v1.0.0.zip"), 1);
    let (file, attr) = c.lookup(&sub, "b.go").unwrap();
    assert_eq!(attr.size, 12);
    assert_eq!(c.read_all(&file, 4096).unwrap(), b"package sub\n");
    let (names, _) = c.list(&module, 64 * 1024).unwrap();
    let names: Vec<String> = names.into_iter().map(|e| e.name).collect();
    for want in ["a.go", "go.mod", "sub"] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }

    // A READ through a handle of a module never looked up (a client that
    // held it before a restart): resolving the handle downloads.
    let fh = path_handle("example.com/listed@v1.2.0/c.go");
    assert_eq!(c.read_all(&fh, 4096).unwrap(), b"package c\n");
    assert_eq!(proxy.requests("example.com/listed/@v/v1.2.0.zip"), 1);
    assert_eq!(
        proxy.requests("example.com/fresh/@v/v1.0.0.zip"),
        1,
        "downloaded once"
    );
    server.stop();
    proxy.stop();
}

/// More misses in flight on one connection than nfs3_server's old cap on
/// calls in progress (256, past which it answered `SYSTEM_ERR`, an I/O
/// error in the application): every one is answered with its entry. The
/// connection's byte budget is what bounds them (back-pressure, nothing
/// refused).
#[test]
fn three_hundred_misses_in_flight_on_one_connection_are_all_answered() {
    const MANY: usize = 300;
    let proxy = TestProxy::start_with(Vec::<ModuleSpec>::new()).unwrap();
    for i in 0..MANY {
        let m = slow(i);
        proxy.set_slow(m.path(), m.version(), Duration::from_millis(500));
        proxy.add(m);
    }
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::new(UpstreamConfig::with_proxy(&proxy.url())).unwrap();
    let store = Arc::new(GitStore::open(dir.path()).unwrap());
    let fs = Arc::new(ModFs::new(store, Some(upstream), ModFsOptions::default()).unwrap());
    let server = gomodfs_nfs::serve(fs, "0").unwrap();
    let port = server.local_addr().port();

    let slow_dir = path_handle("example.com/slow");
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let calls: Vec<u8> = (0..MANY)
        .flat_map(|i| lookup_call(i as u32, &slow_dir, &format!("m{i:03}@v1.0.0")))
        .collect();
    conn.write_all(&calls).unwrap();
    let mut refused = vec![];
    for _ in 0..MANY {
        let reply = read_reply(&mut conn).unwrap();
        if reply.status != Some(0) {
            refused.push(reply);
        }
    }
    assert!(
        refused.is_empty(),
        "{} of {MANY} LOOKUPs not answered OK (SYSTEM_ERR has no status): {:?}",
        refused.len(),
        &refused[..refused.len().min(3)]
    );
    drop(conn);
    server.stop();
    proxy.stop();
}
