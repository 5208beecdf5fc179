//! The real `go` builds, tests and verifies modules through a FUSE mount
//! (hermetic: modules come from an in-process test proxy), and verifies them
//! again offline from a second mount of the same store.

mod common;

use common::Mounted;
use gomodfs_testkit::{GoCmd, TestProxy, standard_fixture};

#[test]
fn go_build_test_and_verify_through_fuse_then_offline() -> Result<(), Box<dyn std::error::Error>> {
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone())?;
    let work = tempfile::tempdir()?;
    // go.sum comes from the real go talking to the proxy: our hashes are
    // checked against go's, not against our own code.
    let go_sum = fx.go_sum_via_go(&proxy.url(), work.path())?;
    assert!(go_sum.lines().count() >= 10, "go.sum too small:\n{go_sum}");
    let store = tempfile::tempdir()?;

    let mount = Mounted::new(store.path(), Some(&proxy.url()));
    let go = || -> Result<GoCmd, gomodfs_testkit::TestkitError> {
        Ok(GoCmd::new(work.path())?
            .gomodcache(mount.path())
            .goproxy("off")
            .goflags("-mod=mod"))
    };
    go()?.run(&["build", "./..."])?;
    let test = go()?.run(&["test", "./..."])?;
    assert!(
        test.stdout.contains("ok"),
        "go test output: {}",
        test.stdout
    );
    let verify = go()?.run(&["mod", "verify"])?;
    assert!(
        verify.stdout.contains("all modules verified"),
        "go mod verify said: {}{}",
        verify.stdout,
        verify.stderr
    );
    // go.sum must not have changed: every hash we served matched.
    assert_eq!(std::fs::read_to_string(work.path().join("go.sum"))?, go_sum);
    let zips = proxy.requests(".zip");
    assert!(
        zips >= 5,
        "expected the module zips to be fetched, saw {zips}"
    );
    mount.unmount();

    // Offline: the proxy is gone and the second mount has no upstream at all.
    proxy.stop();
    let offline = Mounted::new(store.path(), None);
    let go = || -> Result<GoCmd, gomodfs_testkit::TestkitError> {
        Ok(GoCmd::new(work.path())?
            .gomodcache(offline.path())
            .goproxy("off")
            .goflags("-mod=mod"))
    };
    let verify = go()?.run(&["mod", "verify"])?;
    assert!(
        verify.stdout.contains("all modules verified"),
        "{}",
        verify.stderr
    );
    go()?.run(&["build", "./..."])?;
    offline.unmount();
    Ok(())
}
