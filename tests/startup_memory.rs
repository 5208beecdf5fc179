//! A mount's own memory at start-up stays small: the 16 FUSE threads each
//! allocate a 16 MiB request buffer, which must stay untouched mapped
//! memory, not zeroed arena pages (src/main.rs, `MALLOC_MMAP_THRESHOLD`;
//! docs/BENCHMARKS.md, "Peak RSS at start-up").

mod common;

use gomodfs_testkit::{ModuleSpec, TestProxy};

/// What the process may allocate itself (RssAnon) after mounting and
/// reading a module's files. Before the fixed mmap threshold two request
/// buffers were resident in full: 29-40 MiB right after the mount.
const ANON_LIMIT_KIB: u64 = 20 << 10;

#[test]
fn a_fresh_mount_reading_a_module_stays_under_20_mib_anonymous_memory()
-> Result<(), Box<dyn std::error::Error>> {
    common::require_fuse();
    let mut spec = ModuleSpec::new("example.com/small", "v1.0.0");
    for i in 0..50 {
        spec = spec.file(format!("p{i}/f.go"), format!("package p{i}\n"));
    }
    let proxy = TestProxy::start_with([spec.clone()])?;
    // Store, mount point and log in one temporary directory.
    let tmp = tempfile::tempdir()?;
    let at = |name: &str| tmp.path().join(name);
    std::fs::create_dir(at("mnt"))?;
    let log = at("mount.log");
    let mp = common::start_mount(&at("store"), &at("mnt"), Some(&proxy.url()), &log, &[]);
    let dir = at("mnt").join(spec.cache_dir_name());
    // Requests on every FUSE thread: readers at once.
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for i in 0..50 {
                    let got = std::fs::read_to_string(dir.join(format!("p{i}/f.go")));
                    assert_eq!(got.ok(), Some(format!("package p{i}\n")));
                }
            });
        }
    });
    let anon = mp.status_kib("RssAnon").ok_or("no RssAnon")?;
    let peak = mp.status_kib("VmHWM").ok_or("no VmHWM")?;
    eprintln!("RssAnon {} KiB, peak RSS {} KiB", anon, peak);
    assert!(
        anon < ANON_LIMIT_KIB,
        "RssAnon {} MiB after mounting and reading one small module (limit {} MiB)",
        anon >> 10,
        ANON_LIMIT_KIB >> 10
    );
    mp.stop()?;
    Ok(())
}
