//! The FUSE mount under load: a burst of downloads does not hold up stored
//! modules, and memory stays flat however many names are looked up.

mod common;

use common::{require_fuse, test_upstream_config};
use gomodfs::core::proxy::Upstream;
use gomodfs::core::store::GitStore;
use gomodfs::core::{ModFs, ModFsOptions, ModuleVersion};
use gomodfs::fuse::{IoUring, MountOptions};
use gomodfs_testkit::{Fault, ModuleSpec, TestProxy};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Modules downloading at once in the burst test.
const BURST: usize = 100;
/// How long the upstream takes to answer each of them.
const UPSTREAM_DELAY: Duration = Duration::from_secs(3);

#[test]
fn a_burst_of_downloads_does_not_slow_down_stored_modules() -> TestResult {
    burst_beside_a_stored_module(IoUring::Off)
}

/// The same over FUSE over io_uring, where a request waiting for its
/// download holds a ring entry (needs Linux 6.14+ and root, like
/// tests/fuse_io_uring.rs).
#[test]
fn a_burst_of_downloads_does_not_slow_down_stored_modules_over_io_uring() -> TestResult {
    burst_beside_a_stored_module(IoUring::On)
}

/// `n` modules `PREFIX/m0`.. of one file, `x.go`.
fn slow_modules(prefix: &str, n: usize) -> Vec<ModuleSpec> {
    (0..n)
        .map(|i| {
            ModuleSpec::new(format!("{prefix}/m{i}"), "v1.0.0")
                .file("x.go", format!("package m{i}\n"))
        })
        .collect()
}

/// A filesystem whose store holds one module and whose upstream takes
/// [`UPSTREAM_DELAY`] to answer each zip of the others.
struct SlowUpstream {
    proxy: TestProxy,
    store: tempfile::TempDir,
    fs: Arc<ModFs>,
}

/// [`SlowUpstream`] with `stored` stored and `slow` slow.
fn slow_upstream_beside(
    stored: &ModuleSpec,
    slow: &[ModuleSpec],
) -> Result<SlowUpstream, Box<dyn std::error::Error>> {
    let proxy = TestProxy::start_with([stored.clone()])?;
    for spec in slow {
        proxy.add(spec.clone());
        proxy.set_fault(
            spec.path(),
            spec.version(),
            "zip",
            Fault::Delay(UPSTREAM_DELAY),
        );
    }
    let store = tempfile::tempdir()?;
    let mut cfg = test_upstream_config(&proxy.url());
    // The delay is the upstream's answer time, not a stall.
    cfg.idle_timeout = Duration::from_secs(30);
    let fs = Arc::new(ModFs::new(
        Arc::new(GitStore::open(store.path())?),
        Some(Upstream::new(cfg)?),
        ModFsOptions::default(),
    )?);
    // Stored before the mount sees it, so nothing about it is in the
    // kernel's caches: the timed stat and read reach gomodfs.
    fs.module(&ModuleVersion::new(stored.path(), stored.version())?)?;
    Ok(SlowUpstream { proxy, store, fs })
}

/// A burst of [`BURST`] slow downloads, then a stat and read of a stored
/// module's file, over the transport `io_uring` chooses.
fn burst_beside_a_stored_module(io_uring: IoUring) -> TestResult {
    require_fuse();
    let stored = ModuleSpec::new("example.com/stored", "v1.0.0")
        .file("a.go", "package stored\n")
        .file("sub/b.go", "package sub\n");
    let slow = slow_modules("example.com/slow", BURST);
    let SlowUpstream {
        proxy,
        store: _store,
        fs,
    } = slow_upstream_beside(&stored, &slow)?;
    let dir = tempfile::Builder::new().prefix("gomodfs-mnt-").tempdir()?;
    let options = MountOptions {
        io_uring,
        ..MountOptions::default()
    };
    let mount = gomodfs::fuse::mount(fs.clone(), dir.path(), &options)?;
    assert_eq!(
        mount.io_uring_requests().is_some(),
        io_uring == IoUring::On,
        "the transport asked for ({io_uring:?}); io_uring needs Linux 6.14+ and root"
    );

    let readers: Vec<_> = slow
        .iter()
        .map(|spec| {
            let file = dir.path().join(spec.cache_dir_name()).join("x.go");
            std::thread::spawn(move || std::fs::read(file))
        })
        .collect();
    // Every FUSE worker would be busy by now without the fix.
    assert!(
        proxy.wait_for_requests(".zip", 16, Duration::from_secs(20)),
        "the burst did not reach the upstream: {:?}",
        proxy.request_log()
    );

    let started = Instant::now();
    let file = dir.path().join(stored.cache_dir_name()).join("sub/b.go");
    let meta = std::fs::metadata(&file)?;
    let data = std::fs::read(&file)?;
    let took = started.elapsed();
    assert_eq!(meta.len(), 12);
    assert_eq!(data, b"package sub\n");
    assert!(
        took < Duration::from_secs(1),
        "stat+read of a stored module took {took:?} while {BURST} downloads were waiting"
    );

    let burst_started = Instant::now();
    for (reader, spec) in readers.into_iter().zip(&slow) {
        let data = reader.join().map_err(|_| "reader panicked")??;
        assert_eq!(data, spec.files()["x.go"], "{}", spec.path());
    }
    // All of them waited at once, not in rounds of one per worker.
    assert!(
        burst_started.elapsed() < UPSTREAM_DELAY * 4,
        "the burst took {:?}",
        burst_started.elapsed()
    );
    mount.unmount()?;
    Ok(())
}

/// Over io_uring a queue that starts with few entries registers more
/// while requests waiting for downloads hold them, so a stored module's
/// file is still served at once: cold reads started one after another
/// (each waits at the upstream before the next starts), on queues of 8.
#[test]
fn io_uring_queues_grow_while_downloads_hold_their_entries() -> TestResult {
    require_fuse();
    const READERS: usize = 40;
    let stored = ModuleSpec::new("example.com/stored", "v1.0.0").file("a.go", "package stored\n");
    let slow = slow_modules("example.com/held", READERS);
    let SlowUpstream {
        proxy,
        store: _store,
        fs,
    } = slow_upstream_beside(&stored, &slow)?;
    let dir = tempfile::Builder::new().prefix("gomodfs-mnt-").tempdir()?;
    let options = MountOptions {
        io_uring: IoUring::On,
        io_uring_entries: Some(8),
        ..MountOptions::default()
    };
    let mount = gomodfs::fuse::mount(fs.clone(), dir.path(), &options)?;
    // Each queue's thread registers its first 8 as it starts.
    let registering = Instant::now();
    let start = loop {
        let n = mount
            .io_uring_entries()
            .ok_or("served over /dev/fuse: io_uring needs Linux 6.14+ and root")?;
        if n > 0 || registering.elapsed() > Duration::from_secs(5) {
            break n;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(start > 0 && start % 8 == 0, "{start} entries at the start");

    let mut readers = Vec::new();
    for (i, spec) in slow.iter().enumerate() {
        let file = dir.path().join(spec.cache_dir_name()).join("x.go");
        readers.push(std::thread::spawn(move || std::fs::read(file)));
        assert!(
            proxy.wait_for_requests(".zip", i + 1, Duration::from_secs(20)),
            "cold read {i} did not reach the upstream: {:?}",
            proxy.request_log()
        );
    }
    let grown = mount.io_uring_entries().unwrap_or(0);
    assert!(
        grown > start,
        "{READERS} requests held entries and the queues stayed at {start}"
    );

    let started = Instant::now();
    let data = std::fs::read(dir.path().join(stored.cache_dir_name()).join("a.go"))?;
    let took = started.elapsed();
    assert_eq!(data, b"package stored\n");
    assert!(
        took < Duration::from_secs(1),
        "a stored file took {took:?} while {READERS} downloads held {grown} entries"
    );
    for (reader, spec) in readers.into_iter().zip(&slow) {
        let data = reader.join().map_err(|_| "reader panicked")??;
        assert_eq!(data, spec.files()["x.go"], "{}", spec.path());
    }
    mount.unmount()?;
    Ok(())
}

/// Distinct names looked up in the memory test.
const LOOKUPS: usize = 400_000;
/// Of those, missing module versions (each one asks the upstream).
const MISSING_MODULES: usize = 20_000;
/// The most the resident memory may grow over the second round of lookups,
/// once the kernel has forgotten its inodes. Without bounds it grows by
/// about 27 MB per round (one node map entry per name); bounded, it
/// stays within allocator noise (-9 to +5 MB measured).
const RSS_GROWTH_MAX_KB: u64 = 18 * 1024;

#[test]
fn memory_stays_flat_over_many_distinct_lookups() -> TestResult {
    require_fuse();
    let proxy = TestProxy::start()?;
    let store = tempfile::tempdir()?;
    let mnt = tempfile::Builder::new().prefix("gomodfs-mnt-").tempdir()?;
    let logs = tempfile::tempdir()?;
    let process = common::start_mount(
        store.path(),
        mnt.path(),
        Some(&proxy.url()),
        &logs.path().join("gomodfs.log"),
        &[],
    );
    // The resident anonymous memory (heap and stacks, without the mapped
    // binary), in KiB.
    let rss_anon = || process.status_kib("RssAnon").ok_or("no RssAnon");
    let root = mnt.path().to_owned();

    // Warm-up: a first round as large as the measured one, which fills
    // the bounded caches (nodes, not-found answers) and sets the
    // allocator's high-water mark, so that the second round measures
    // growth: none when memory is bounded, as much again when it is not.
    lookups(&root, 0, LOOKUPS, MISSING_MODULES);
    forget_inodes()?;
    std::thread::sleep(Duration::from_secs(3));
    let warm = rss_anon()?;

    let started = Instant::now();
    lookups(&root, LOOKUPS, LOOKUPS, MISSING_MODULES);
    let took = started.elapsed();
    let after = rss_anon()?;
    forget_inodes()?;
    // FORGETs arrive asynchronously, and memory is given back a second
    // after they stop: give them a moment.
    std::thread::sleep(Duration::from_secs(3));
    let forgotten = rss_anon()?;
    let status = std::fs::read_to_string(root.join(".gomodfs-status"))?;
    let status: serde_json::Value = serde_json::from_str(&status)?;
    eprintln!("nodes: {}", status["nodes"]);
    // The kernel's FORGETs released the pins, and the unpinned cache is
    // bounded.
    let pinned = status["nodes"]["pinned"]
        .as_u64()
        .ok_or("no nodes.pinned")?;
    let cached = status["nodes"]["cached"]
        .as_u64()
        .ok_or("no nodes.cached")?;
    assert!(pinned < 1_000, "{pinned} nodes still pinned after FORGET");
    assert!(
        cached <= gomodfs::core::fs::RECENT_NODES as u64 + 1_024,
        "{cached} unpinned nodes cached"
    );
    eprintln!(
        "RssAnon: {warm} kB after warm-up, {after} kB after {LOOKUPS} lookups ({took:?}), \
         {forgotten} kB after the kernel forgot them"
    );
    assert!(
        forgotten.saturating_sub(warm) < RSS_GROWTH_MAX_KB,
        "resident memory grew from {warm} kB to {forgotten} kB over {LOOKUPS} lookups"
    );
    assert!(
        proxy.total_requests() >= MISSING_MODULES,
        "the missing modules did not reach the upstream"
    );
    process.stop().expect("gomodfs exits cleanly");
    Ok(())
}

/// `count` lookups of distinct names from `first` on, in 8 threads: names
/// that exist without any download (path prefixes), names that can never
/// exist, and `missing` module versions the upstream does not have.
fn lookups(root: &Path, first: usize, count: usize, missing: usize) {
    const THREADS: usize = 8;
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let root = root.to_owned();
            std::thread::spawn(move || {
                for i in (t..count).step_by(THREADS) {
                    let n = first + i;
                    let name = if i < missing {
                        format!("example.com/missing/m{n}@v1.0.0")
                    } else if i % 2 == 0 {
                        format!("example.com/prefix/p{n}")
                    } else {
                        format!("example.com/prefix/p{n}@latest")
                    };
                    // Only the lookup matters, not its answer.
                    let _ = std::fs::symlink_metadata(root.join(name));
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

/// Makes the kernel drop unused dentries and inodes, which sends FORGET
/// for every node gomodfs told it about.
fn forget_inodes() -> Result<(), Box<dyn std::error::Error>> {
    std::fs::write("/proc/sys/vm/drop_caches", "2")
        .map_err(|e| format!("echo 2 > /proc/sys/vm/drop_caches (the test needs root): {e}"))?;
    Ok(())
}
