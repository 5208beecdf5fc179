//! `gomodfs gc` (issue 14): removing modules by last use and size, with a
//! grace period for processes that read them, while a FUSE mount reads and
//! puts race with it; the store passes `git fsck --strict` afterwards.

mod common;

use common::{assert_fsck_strict, gomodfs_bin, modfs};
use gomodfs::core::store::{GitStore, Store};
use gomodfs_testkit::{ModuleSpec, TestProxy};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

/// Files per module and bytes per file.
const FILES: usize = 8;
const FILE_BYTES: usize = 16 << 10;

/// Incompressible-looking contents, different for every (module, file).
fn contents(seed: &str, i: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(FILE_BYTES);
    let mut x: u64 = seed.bytes().fold(0xcbf2_9ce4_8422_2325 ^ i as u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    while out.len() < FILE_BYTES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Module `example.com/gc/m<n>` at v1.0.0; `shared_with` makes its files
/// those of another module (same objects in the store).
fn spec(n: usize, shared_with: Option<usize>) -> ModuleSpec {
    let path = format!("example.com/gc/m{n}");
    let seed = format!("m{}", shared_with.unwrap_or(n));
    let mut spec = ModuleSpec::new(&path, "v1.0.0");
    for i in 0..FILES {
        spec = spec.file(format!("f{i}.bin"), contents(&seed, i));
    }
    spec
}

fn dir_of(n: usize) -> String {
    format!("example.com/gc/m{n}@v1.0.0")
}

/// Fetches modules `ns` into the store through the real code path.
fn fill(store: &Path, proxy: &TestProxy, ns: impl IntoIterator<Item = usize>) {
    let fs = modfs(store, Some(&proxy.url()));
    for n in ns {
        fs.resolve(&format!("{}/f0.bin", dir_of(n)))
            .unwrap_or_else(|e| panic!("fetching m{n}: {e}"));
    }
}

/// The module's ref file and use marker.
fn ref_and_marker(store: &Path, n: usize) -> (PathBuf, PathBuf) {
    let rel = format!("example%2ecom/gc/m{n}/@v/v1%2e0%2e0");
    (
        store.join("refs/gomodfs/zip").join(&rel),
        store.join("gomodfs-used").join(&rel),
    )
}

/// Makes module `n` look last used `days` ago (ref and marker).
fn age(store: &Path, n: usize, days: u64) {
    let when = SystemTime::now() - Duration::from_secs(days * 86400);
    let (r, m) = ref_and_marker(store, n);
    for p in [r, m] {
        if let Some(d) = p.parent() {
            fs::create_dir_all(d).expect("marker dir");
        }
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        f.set_modified(when).expect("set mtime");
    }
}

fn stored(store: &Path, n: usize) -> bool {
    ref_and_marker(store, n).0.exists()
}

/// Runs `gomodfs gc --store STORE ARGS...`; returns stdout, asserting
/// exit status 0.
fn gc(store: &Path, args: &[&str]) -> String {
    let out = Command::new(gomodfs_bin())
        .arg("gc")
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .expect("run gomodfs gc");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "gomodfs gc {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Bytes below `objects/`.
fn objects_bytes(store: &Path) -> u64 {
    snapshot(&store.join("objects")).iter().map(|f| f.1).sum()
}

/// Every file below `dir` with its size and modification time.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u64, SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read dir") {
            let e = e.expect("entry");
            let meta = e.metadata().expect("metadata");
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                out.push((e.path(), meta.len(), meta.modified().expect("mtime")));
            }
        }
    }
    out.sort();
    out
}

/// Reads every file of module `n` through an offline ModFs and compares.
fn assert_readable(store: &Path, n: usize, seed_of: usize) {
    let fs = modfs(store, None);
    for i in 0..FILES {
        let attr = fs
            .resolve(&format!("{}/f{i}.bin", dir_of(n)))
            .unwrap_or_else(|e| panic!("m{n} f{i}: {e}"));
        let data = fs.read(attr.id, 0, FILE_BYTES as u32).expect("read");
        assert_eq!(
            &data[..],
            &contents(&format!("m{seed_of}"), i)[..],
            "m{n} f{i}"
        );
    }
}

/// The blob id of file `f0.bin` of module `n` as stored now.
fn first_blob(store: &Path, n: usize) -> gomodfs::core::store::BlobId {
    let s = GitStore::open(store).expect("open");
    let m = gomodfs::core::ModuleVersion::new(&format!("example.com/gc/m{n}"), "v1.0.0")
        .expect("module version");
    let stored = s.module(&m).expect("read").expect("stored");
    stored.files[0].blob
}

/// A store holding modules `0..count`, fetched from a test proxy serving
/// them (and `extra`); module `n` looks last used `days(n)` days ago.
fn aged_store(
    count: usize,
    extra: impl IntoIterator<Item = ModuleSpec>,
    days: impl Fn(usize) -> u64,
) -> (tempfile::TempDir, TestProxy) {
    let store = tempfile::tempdir().expect("store");
    let proxy =
        TestProxy::start_with((0..count).map(|n| spec(n, None)).chain(extra)).expect("proxy");
    fill(store.path(), &proxy, 0..count);
    for n in 0..count {
        age(store.path(), n, days(n));
    }
    (store, proxy)
}

#[test]
fn max_size_reaches_the_size_removing_the_least_recently_used() {
    // m0 least recently used, m5 most.
    let (store, _proxy) = aged_store(6, [], |n| 10 - n as u64);
    let before = objects_bytes(store.path());
    let max = before / 2;
    let out = gc(
        store.path(),
        &["--max-size", &max.to_string(), "--grace", "0s"],
    );
    let after = objects_bytes(store.path());
    assert!(after <= max, "{after} bytes after gc, max {max}\n{out}");
    assert!(out.contains("removed example.com/gc/m0@v1.0.0"), "{out}");
    assert!(!stored(store.path(), 0) && stored(store.path(), 5), "{out}");
    let kept: Vec<usize> = (0..6).filter(|&n| stored(store.path(), n)).collect();
    assert!(
        kept.len() >= 2,
        "half the size holds more than one module: {kept:?}"
    );
    for n in &kept {
        assert_readable(store.path(), *n, *n);
    }
    assert_fsck_strict(store.path());
    assert!(
        out.contains(&format!("removed {} of 6 modules", 6 - kept.len())),
        "{out}"
    );
}

#[test]
fn dry_run_changes_nothing() {
    let (store, _proxy) = aged_store(3, [], |n| 30 - n as u64);
    fs::write(store.path().join("gomodfs-warm.files"), b"a cache").expect("warm files");
    let before = snapshot(store.path());
    let out = gc(
        store.path(),
        &["--unused-for", "7d", "--max-size", "0", "--dry-run"],
    );
    assert!(
        out.contains("would remove example.com/gc/m0@v1.0.0"),
        "{out}"
    );
    assert!(out.contains("would remove 3 of 3 modules"), "{out}");
    assert_eq!(snapshot(store.path()), before, "dry run changed the store");
}

#[test]
fn a_module_stored_today_gets_no_marker_and_counts_as_used() {
    let store = tempfile::tempdir().expect("store");
    let proxy = TestProxy::start_with((0..2).map(|n| spec(n, None))).expect("proxy");
    // Fetched and served by one process, served again by the next: its
    // ref was written less than a day ago, so that is its last use.
    fill(store.path(), &proxy, 0..2);
    modfs(store.path(), None)
        .resolve(&format!("{}/f1.bin", dir_of(0)))
        .expect("serve m0 again");
    let (_, marker) = ref_and_marker(store.path(), 0);
    assert!(!marker.exists(), "marker written for a module stored today");
    assert!(
        !store.path().join("gomodfs-used").exists(),
        "a fresh store holds marker directories"
    );
    // m1's ref is ten days old (and no marker): the next serve marks it.
    let (r1, m1) = ref_and_marker(store.path(), 1);
    let old = SystemTime::now() - Duration::from_secs(10 * 86400);
    fs::File::options()
        .write(true)
        .open(&r1)
        .and_then(|f| f.set_modified(old))
        .expect("age m1's ref");
    modfs(store.path(), None)
        .resolve(&format!("{}/f1.bin", dir_of(1)))
        .expect("serve m1");
    assert!(m1.exists(), "no marker for a module stored long ago");
    // Both count as used within two days: gc keeps them.
    let out = gc(store.path(), &["--unused-for", "2d", "--grace", "0s"]);
    assert!(stored(store.path(), 0) && stored(store.path(), 1), "{out}");
    assert!(out.contains("removed 0 of 2 modules"), "{out}");
}

#[test]
fn unused_for_keeps_recently_used_modules() {
    let (store, _proxy) = aged_store(3, [], |_| 10);
    // Serving m1 (a new process: first serve) marks it used now.
    let fs = modfs(store.path(), None);
    fs.resolve(&format!("{}/f3.bin", dir_of(1)))
        .expect("serve m1");
    // A marker is written at most once a day: serving again does not.
    let (_, marker) = ref_and_marker(store.path(), 1);
    let noted = fs::metadata(&marker)
        .and_then(|m| m.modified())
        .expect("marker");
    drop(fs);
    modfs(store.path(), None)
        .resolve(&format!("{}/f4.bin", dir_of(1)))
        .expect("serve m1 again");
    let again = fs::metadata(&marker)
        .and_then(|m| m.modified())
        .expect("marker");
    assert_eq!(noted, again, "marker rewritten within a day");

    // The warm files may hold removed modules' files: gc removes them.
    let warm_files = store.path().join("gomodfs-warm.files");
    fs::write(&warm_files, b"a cache").expect("warm files");
    let out = gc(store.path(), &["--unused-for", "2d", "--grace", "0s"]);
    assert!(!warm_files.exists(), "gc left the warm files:\n{out}");
    assert!(
        stored(store.path(), 1),
        "recently used module removed:\n{out}"
    );
    assert!(
        !stored(store.path(), 0) && !stored(store.path(), 2),
        "{out}"
    );
    assert!(out.contains("removed 2 of 3 modules"), "{out}");
    assert_readable(store.path(), 1, 1);
    assert_fsck_strict(store.path());
}

/// A FUSE mount reads a module while gc removes it (and everything else):
/// reads never fail, and the removed module stays readable for the grace
/// period, also to a process that opens the store afterwards; with no
/// grace its objects go.
#[test]
fn gc_with_a_live_mount_reading() {
    // Stored just now.
    let (store, _proxy) = aged_store(4, [], |_| 0);
    let blob0 = first_blob(store.path(), 0);

    let mounted = common::Mounted::new(store.path(), None);
    let root = mounted.path().to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (stop, reads) = (stop.clone(), reads.clone());
        std::thread::spawn(move || -> Result<(), String> {
            while !stop.load(Ordering::Relaxed) {
                for i in 0..FILES {
                    let p = root.join(dir_of(0)).join(format!("f{i}.bin"));
                    let data = fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                    if data != contents("m0", i) {
                        return Err(format!("{}: wrong contents", p.display()));
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(())
        })
    };
    while reads.load(Ordering::Relaxed) < 2 * FILES {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Served just now, so within the grace period: kept.
    let out = gc(store.path(), &["--max-size", "0"]);
    assert!(
        stored(store.path(), 0),
        "a module in use was removed:\n{out}"
    );
    // The mount notes its use again only after a while (hourly, and the
    // marker daily): make every module look long unused, as after a long
    // time of serving m0 from the mount's caches.
    for n in 0..4 {
        age(store.path(), n, 10);
    }
    let out = gc(store.path(), &["--max-size", "0"]);
    assert!(out.contains("removed 4 of 4 modules"), "{out}");
    assert!(!stored(store.path(), 0), "m0 removed:\n{out}");
    // Reads go on after gc, through the mount and from a new process.
    let after = reads.load(Ordering::Relaxed);
    while reads.load(Ordering::Relaxed) < after + 2 * FILES {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("reader").expect("reads never fail");
    assert_fsck_strict(store.path());
    let fresh = GitStore::open(store.path()).expect("open");
    assert!(
        fresh.blob(&blob0).expect("read").is_some(),
        "grace kept m0's objects"
    );
    drop(fresh);
    mounted.unmount();

    // Once the grace period is over (here: none), the next gc reclaims it.
    gc(store.path(), &["--max-size", "0", "--grace", "0s"]);
    let fresh = GitStore::open(store.path()).expect("open");
    assert!(
        fresh.blob(&blob0).expect("read").is_none(),
        "m0's objects reclaimed"
    );
    assert_fsck_strict(store.path());
}

/// Modules are put while gc runs again and again, each reusing objects of
/// modules gc removed (a 1 s grace period, so objects go soon): no put
/// ends up with a ref to an object gc deleted (reading it back, gc and git
/// fsck would all report it).
#[test]
fn puts_racing_with_gc_never_leave_a_ref_to_a_deleted_object() {
    const PUTS: usize = 60;
    let shared = (10..10 + PUTS).map(|n| spec(n, Some(n % 4)));
    let (store, proxy) = aged_store(4, shared, |_| 10);
    let putter = {
        let (store, url) = (store.path().to_owned(), proxy.url());
        std::thread::spawn(move || {
            let fs = modfs(&store, Some(&url));
            for n in 10..10 + PUTS {
                fs.resolve(&format!("{}/f0.bin", dir_of(n)))
                    .unwrap_or_else(|e| panic!("put m{n} during gc: {e}"));
            }
        })
    };
    let mut runs = 0;
    while !putter.is_finished() && runs < 500 {
        gc(store.path(), &["--max-size", "0", "--grace", "1s"]);
        runs += 1;
    }
    putter.join().expect("putter");
    assert!(runs >= 2, "gc ran {runs} times during the puts");
    assert_fsck_strict(store.path());
    std::thread::sleep(Duration::from_millis(1100));
    gc(store.path(), &["--max-size", "0", "--grace", "1s"]);
    assert!((10..10 + PUTS).all(|n| !stored(store.path(), n)));
    assert_fsck_strict(store.path());
}
