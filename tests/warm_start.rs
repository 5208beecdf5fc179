//! Warm start through `gomodfs mount`: a mount keeps the list of what it
//! served in `<store>/gomodfs-warm`, the next mount of the store preloads
//! it, and the real `go` then finds every module it touches in memory
//! (no module tree read from the store while go runs); `--no-warm-start`
//! does neither.

mod common;

use common::{mount_status as status, ops_ended, preloaded};
use gomodfs_testkit::{GoCmd, TestProxy, standard_fixture};
use std::path::Path;

#[test]
fn the_next_mount_preloads_what_go_touched_and_go_finds_it_in_memory()
-> Result<(), Box<dyn std::error::Error>> {
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone())?;
    let work = tempfile::tempdir()?;
    fx.go_sum_via_go(&proxy.url(), work.path())?;
    let store = tempfile::tempdir()?;
    let list = store.path().join("gomodfs-warm");
    let logs = tempfile::tempdir()?;
    let go = |mnt: &Path| -> Result<(), Box<dyn std::error::Error>> {
        GoCmd::new(work.path())?
            .gomodcache(mnt)
            .goproxy("off")
            .goflags("-mod=mod")
            .run(&["list", "-deps", "-test", "./..."])?;
        Ok(())
    };

    // First mount: downloads, and leaves the list at its clean stop.
    let mnt = tempfile::tempdir()?;
    let log = logs.path().join("first.log");
    let first = common::start_mount(store.path(), mnt.path(), Some(&proxy.url()), &log, &[]);
    go(mnt.path())?;
    first.stop()?;
    let text = std::fs::read_to_string(&list)?;
    let touched = text.lines().filter(|l| l.starts_with("tree ")).count() as u64;
    assert!(touched >= 5, "go touched {touched} module trees:\n{text}");
    proxy.stop();

    // Second mount (offline): preloads them; go's first touches are hits.
    let log = logs.path().join("second.log");
    let second = common::start_mount(store.path(), mnt.path(), None, &log, &[]);
    let warm = preloaded(mnt.path());
    assert_eq!(warm["missing"], 0, "{warm:#}");
    assert!(warm["loaded"].as_u64().unwrap_or(0) >= touched, "{warm:#}");
    let summary = common::status_summary(mnt.path());
    let line = format!(
        "warm start: listed {}, loaded {}, missing 0",
        warm["listed"], warm["loaded"]
    );
    assert!(summary.contains(&line), "no {line:?} in:\n{summary}");
    let before = status(mnt.path());
    go(mnt.path())?;
    let after = status(mnt.path());
    assert_eq!(
        ops_ended(&after, "store_module"),
        ops_ended(&before, "store_module"),
        "go's module trees came from the store, not the preload"
    );
    assert_eq!(
        after["module_cache"]["misses"], before["module_cache"]["misses"],
        "a module go touched was not preloaded"
    );
    second.stop()?;
    let written = std::fs::read_to_string(&list)?;
    assert_eq!(
        written.lines().filter(|l| l.starts_with("tree ")).count() as u64,
        touched,
        "the second mount served the same modules:\n{written}"
    );

    // --no-warm-start: nothing preloaded, go reads the trees, the list is
    // left as it was.
    std::fs::write(&list, &text)?;
    let log = logs.path().join("third.log");
    let third = common::start_mount(store.path(), mnt.path(), None, &log, &["--no-warm-start"]);
    go(mnt.path())?;
    let s = status(mnt.path());
    assert!(s.get("warm_start").is_none(), "{:#}", s["warm_start"]);
    assert!(ops_ended(&s, "store_module") >= touched, "{:#}", s["ops"]);
    third.stop()?;
    assert_eq!(std::fs::read_to_string(&list)?, text);
    Ok(())
}
