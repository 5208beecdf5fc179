//! Many readers, one download; several processes, one store.

mod common;

use common::{Mounted, assert_fsck_strict};
use gomodfs_testkit::{Fault, GoCmd, ModuleSpec, TestProxy, standard_fixture};
use std::fs;
use std::sync::{Arc, Barrier};
use std::time::Duration;

#[test]
fn sixteen_readers_cause_exactly_one_download() -> Result<(), Box<dyn std::error::Error>> {
    let spec = ModuleSpec::new("example.com/popular", "v1.0.0")
        .file("a.go", "package popular\n")
        .file("sub/b.go", "package sub\n");
    let proxy = TestProxy::start_with([spec.clone()])?;
    // A slow zip, so that all readers arrive while the download is running.
    proxy.set_fault(
        spec.path(),
        spec.version(),
        "zip",
        Fault::Delay(Duration::from_millis(500)),
    );
    let store = tempfile::tempdir()?;
    let m = Mounted::new(store.path(), Some(&proxy.url()));
    let barrier = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let barrier = barrier.clone();
            let root = m.path().join(spec.cache_dir_name());
            let dl = m
                .path()
                .join("cache/download/example.com/popular/@v/v1.0.0.ziphash");
            std::thread::spawn(move || {
                barrier.wait();
                // Half read a file in the tree, half the .ziphash: both need
                // the whole module.
                if i % 2 == 0 {
                    fs::read(root.join("sub/b.go"))
                } else {
                    fs::read(dl)
                }
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let data = t.join().map_err(|_| "reader panicked")??;
        if i % 2 == 0 {
            assert_eq!(data, b"package sub\n");
        } else {
            assert_eq!(String::from_utf8(data)?, spec.h1());
        }
    }
    assert_eq!(
        proxy.requests(&spec.url_path("zip")),
        1,
        "{:?}",
        proxy.request_log()
    );
    assert!(proxy.requests(&spec.url_path("mod")) <= 1);
    m.unmount();
    Ok(())
}

#[test]
fn two_processes_share_a_store_and_a_third_serves_it_offline()
-> Result<(), Box<dyn std::error::Error>> {
    let fx = standard_fixture();
    let only_a = ModuleSpec::new("example.com/only/a", "v1.0.0").file("a.txt", "a\n");
    let only_b = ModuleSpec::new("example.com/only/b", "v1.0.0").file("b.txt", "b\n");
    let proxy = TestProxy::start_with(fx.modules.clone())?;
    proxy.add(only_a.clone());
    proxy.add(only_b.clone());
    let work = tempfile::tempdir()?;
    fx.go_sum_via_go(&proxy.url(), work.path())?;
    let store = tempfile::tempdir()?;
    let logs = tempfile::tempdir()?;
    let (mnt_a, mnt_b, mnt_c) = (
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    );
    let a = common::start_mount(
        store.path(),
        mnt_a.path(),
        Some(&proxy.url()),
        &logs.path().join("a.log"),
        &[],
    );
    let b = common::start_mount(
        store.path(),
        mnt_b.path(),
        Some(&proxy.url()),
        &logs.path().join("b.log"),
        &[],
    );

    // Both verify the whole fixture at the same time (fully overlapping
    // module sets), and each also reads a module the other never touches.
    let run = |mnt: std::path::PathBuf, extra: std::path::PathBuf| {
        let dir = work.path().to_owned();
        std::thread::spawn(move || -> Result<(), String> {
            let out = GoCmd::new(&dir)
                .map_err(|e| e.to_string())?
                .gomodcache(&mnt)
                .goproxy("off")
                .goflags("-mod=mod")
                .run(&["mod", "verify"])
                .map_err(|e| e.to_string())?;
            if !out.stdout.contains("all modules verified") {
                return Err(format!("verify: {}{}", out.stdout, out.stderr));
            }
            fs::read(&extra).map_err(|e| format!("{}: {e}", extra.display()))?;
            Ok(())
        })
    };
    let ta = run(
        mnt_a.path().to_owned(),
        mnt_a.path().join(only_a.cache_dir_name()).join("a.txt"),
    );
    let tb = run(
        mnt_b.path().to_owned(),
        mnt_b.path().join(only_b.cache_dir_name()).join("b.txt"),
    );
    ta.join().map_err(|_| "thread a panicked")??;
    tb.join().map_err(|_| "thread b panicked")??;
    // Each sees what the other stored.
    assert_eq!(
        fs::read_to_string(mnt_a.path().join(only_b.cache_dir_name()).join("b.txt"))?,
        "b\n"
    );
    a.stop().expect("gomodfs exits cleanly");
    b.stop().expect("gomodfs exits cleanly");

    proxy.stop();
    let c = common::start_mount(
        store.path(),
        mnt_c.path(),
        None,
        &logs.path().join("c.log"),
        &[],
    );
    let out = GoCmd::new(work.path())?
        .gomodcache(mnt_c.path())
        .goproxy("off")
        .goflags("-mod=mod")
        .run(&["mod", "verify"])?;
    assert!(
        out.stdout.contains("all modules verified"),
        "{}",
        out.stderr
    );
    GoCmd::new(work.path())?
        .gomodcache(mnt_c.path())
        .goproxy("off")
        .goflags("-mod=mod")
        .run(&["build", "./..."])?;
    for spec in [&only_a, &only_b] {
        assert!(mnt_c.path().join(spec.cache_dir_name()).is_dir());
    }
    c.stop().expect("gomodfs exits cleanly");
    assert_fsck_strict(store.path());
    Ok(())
}

#[test]
fn a_slow_download_does_not_block_other_modules() -> Result<(), Box<dyn std::error::Error>> {
    let slow = ModuleSpec::new("example.com/slow", "v1.0.0").file("s.go", "package slow\n");
    let fast = ModuleSpec::new("example.com/fast", "v1.0.0").file("f.go", "package fast\n");
    let proxy = TestProxy::start_with([slow.clone(), fast.clone()])?;
    proxy.set_fault(
        slow.path(),
        slow.version(),
        "zip",
        Fault::Delay(Duration::from_millis(1500)), // under the 2 s idle timeout of the tests
    );
    let store = tempfile::tempdir()?;
    let m = Mounted::new(store.path(), Some(&proxy.url()));
    let slow_file = m.path().join(slow.cache_dir_name()).join("s.go");
    let slow_reader = std::thread::spawn(move || fs::read(slow_file));
    assert!(proxy.wait_for_requests(&slow.url_path("zip"), 1, Duration::from_secs(5)));
    let started = std::time::Instant::now();
    let data = fs::read(m.path().join(fast.cache_dir_name()).join("f.go"))?;
    let took = started.elapsed();
    assert_eq!(data, b"package fast\n");
    assert!(
        took < Duration::from_millis(700),
        "a read of another module waited {took:?}"
    );
    assert_eq!(
        slow_reader.join().map_err(|_| "slow reader panicked")??,
        b"package slow\n"
    );
    m.unmount();
    Ok(())
}
