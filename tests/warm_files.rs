//! Warm files through `gomodfs mount`: a mount keeps the contents of the
//! small files go read whole in `<store>/gomodfs-warm.files`, the next
//! mount of the store serves them from there instead of inflating them
//! from the packs, and `go mod verify` (which hashes every file against
//! go.sum) passes through it; damaged warm files are never served.

mod common;

use common::{mount_status as status, ops_ended, preloaded};
use gomodfs::core::fs::{WarmFiles, warm_files_path};
use gomodfs_testkit::{GoCmd, TestProxy, standard_fixture};

#[test]
fn the_next_mount_serves_what_go_read_from_the_warm_files_and_never_damaged_bytes()
-> Result<(), Box<dyn std::error::Error>> {
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone())?;
    let work = tempfile::tempdir()?;
    fx.go_sum_via_go(&proxy.url(), work.path())?;
    let store = tempfile::tempdir()?;
    let files = warm_files_path(&store.path().join("gomodfs-warm"));
    let logs = tempfile::tempdir()?;
    let mnt = tempfile::tempdir()?;
    let verify = || -> Result<(), Box<dyn std::error::Error>> {
        let out = GoCmd::new(work.path())?
            .gomodcache(mnt.path())
            .goproxy("off")
            .goflags("-mod=mod")
            .run(&["mod", "verify"])?;
        assert!(
            out.stdout.contains("all modules verified"),
            "{}{}",
            out.stdout,
            out.stderr
        );
        Ok(())
    };
    let mount = |name: &str, proxy: Option<&str>| {
        let log = logs.path().join(format!("{name}.log"));
        common::start_mount(store.path(), mnt.path(), proxy, &log, &[])
    };

    // First mount: downloads; go reads every file; the clean stop writes
    // the warm files.
    let first = mount("first", Some(&proxy.url()));
    verify()?;
    let read_first = ops_ended(&status(mnt.path()), "store_blob");
    first.stop()?;
    proxy.stop();
    let held = WarmFiles::open(&files)?.ok_or("no warm files after the first mount")?;
    let entries = held.entries().len() as u64;
    assert!(entries >= 10, "{held:?}");
    drop(held);

    // Second mount (offline): what go reads comes from the warm files.
    let second = mount("second", None);
    preloaded(mnt.path());
    let before = status(mnt.path());
    assert_eq!(before["warm_files"]["entries"], entries, "{before:#}");
    verify()?;
    let after = status(mnt.path());
    let hits = after["warm_files"]["hits"].as_u64().unwrap_or(0);
    assert!(hits >= entries, "{:#}", after["warm_files"]);
    assert_eq!(
        after["warm_files"]["refused"], 0,
        "{:#}",
        after["warm_files"]
    );
    let summary = common::status_summary(mnt.path());
    let line = format!("warm files: {entries} files (");
    assert!(summary.contains(&line), "no {line:?} in:\n{summary}");
    let read_second = ops_ended(&after, "store_blob") - ops_ended(&before, "store_blob");
    assert!(
        read_second + entries <= read_first,
        "the store still read {read_second} files (the first mount {read_first}, {entries} held)"
    );
    second.stop()?;

    // A changed byte in every entry's contents: each is refused and read
    // from the store, and go's hashes still match.
    let mut raw = std::fs::read(&files)?;
    let damaged = WarmFiles::open(&files)?.ok_or("warm files gone")?;
    let data_start = raw.len() - damaged.status().bytes as usize;
    drop(damaged);
    for b in &mut raw[data_start..] {
        *b ^= 0x20;
    }
    std::fs::write(&files, &raw)?;
    let third = mount("third", None);
    preloaded(mnt.path());
    verify()?;
    let s = status(mnt.path());
    assert_eq!(s["warm_files"]["hits"], 0, "{:#}", s["warm_files"]);
    assert!(
        s["warm_files"]["refused"].as_u64().unwrap_or(0) >= entries,
        "{:#}",
        s["warm_files"]
    );
    third.stop()?;
    // The stop replaced the damaged entries with intact ones.
    let mended = WarmFiles::open(&files)?.ok_or("warm files gone")?;
    let intact = mended
        .entries()
        .iter()
        .filter(|(id, _)| mended.get(id).is_some())
        .count() as u64;
    assert_eq!(intact, entries, "{:?}", mended.status());
    drop(mended);

    // A damaged header: not used at all, and replaced at the stop.
    let mut raw = std::fs::read(&files)?;
    raw[0] ^= 1;
    std::fs::write(&files, &raw)?;
    let fourth = mount("fourth", None);
    preloaded(mnt.path());
    verify()?;
    let s = status(mnt.path());
    assert!(s.get("warm_files").is_none(), "{:#}", s["warm_files"]);
    fourth.stop()?;
    let rewritten = WarmFiles::open(&files)?.ok_or("no warm files after the fourth mount")?;
    assert_eq!(rewritten.entries().len() as u64, entries);
    Ok(())
}
