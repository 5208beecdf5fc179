//! The fleet tier when the remote goes away, and when gomodfs is killed
//! with uploads pending: builds keep working from upstream, and every
//! upload lands once the remote is back (in the same process, or in the
//! next one on the same store after `kill -9`). Own SeaweedFS: this test
//! stops it.

mod common;
mod fleet_support;

use fleet_support::{Host, client, fresh_url, wait_for_modules, zips_served};
use gomodfs_testkit::seaweed::SeaweedFs;
use gomodfs_testkit::{GoCmd, TestProxy, standard_fixture};
use std::time::{Duration, Instant};

fn work_dir() -> tempfile::TempDir {
    let fx = standard_fixture();
    let work = tempfile::tempdir().expect("work");
    fx.write_main(work.path()).expect("main module");
    std::fs::write(work.path().join("go.sum"), fx.go_sum_expected()).expect("go.sum");
    work
}

fn go_build(work: &std::path::Path, modcache: &std::path::Path) -> Duration {
    let started = Instant::now();
    GoCmd::new(work)
        .expect("go")
        .gomodcache(modcache)
        .goproxy("off")
        .run(&["build", "./..."])
        .expect("go build");
    started.elapsed()
}

#[test]
fn remote_outage_and_kill_9_lose_no_upload() {
    let mut s3 = SeaweedFs::start(&[fleet_support::BUCKET]).expect("SeaweedFS");
    let fx = standard_fixture();
    let work = work_dir();

    // 1. The remote stops in the middle: the build succeeds from upstream;
    // once the remote is back, the same process uploads what is pending.
    let url = fresh_url("outage");
    let proxy = TestProxy::start_with(fx.modules.clone()).expect("proxy");
    let mut a = Host::new();
    a.start(&s3, &url, Some(&proxy.url()), &[]);
    s3.kill();
    let took = go_build(work.path(), a.modcache());
    let fetched = zips_served(&proxy);
    assert!(fetched.len() >= 6, "{fetched:?}");
    assert!(
        took < Duration::from_secs(60),
        "the build waited on the remote: {took:?}"
    );
    assert!(a.remote_counter("pending") > 0, "{}", a.status());
    assert!(a.remote_counter("errors") > 0, "{}", a.status());
    s3.restart().expect("SeaweedFS back");
    wait_for_modules(&client(&s3, &url), &fetched, Duration::from_secs(90));
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.remote_counter("pending") > 0 {
        assert!(Instant::now() < deadline, "{}", a.status());
        std::thread::sleep(Duration::from_millis(100));
    }
    a.stop();

    // 2. kill -9 with uploads pending (the remote is down, so none can
    // finish): the markers survive, and the next process on the store
    // uploads everything once the remote is back.
    let url = fresh_url("kill9");
    proxy.reset_log();
    let mut b = Host::new();
    b.start(&s3, &url, Some(&proxy.url()), &[]);
    s3.kill();
    go_build(work.path(), b.modcache());
    let fetched = zips_served(&proxy);
    assert!(fetched.len() >= 6, "{fetched:?}");
    b.kill9();
    let markers = b.pending_markers();
    assert!(
        markers.len() >= fetched.len(),
        "markers after kill -9: {markers:?}"
    );
    common::assert_fsck_strict(b.store.path());
    s3.restart().expect("SeaweedFS back");
    // The next process: offline, no reads at all; it resumes the uploads.
    b.start(&s3, &url, None, &[]);
    wait_for_modules(&client(&s3, &url), &fetched, Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !b.pending_markers().is_empty() {
        assert!(Instant::now() < deadline, "{:?}", b.pending_markers());
        std::thread::sleep(Duration::from_millis(100));
    }
    b.stop();
    common::assert_fsck_strict(b.store.path());
    assert!(
        b.log_text()
            .contains("resuming uploads left by an earlier process"),
        "{}",
        b.log_text()
    );
}
