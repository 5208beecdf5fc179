//! The real Go module proxy: a popular project's dependency graph (gin and
//! cobra, 37 module zips) builds and verifies through a FUSE mount, then
//! verifies again offline. Needs the network, so it is ignored by the
//! hermetic default run: `cargo test -- --include-ignored` runs it.

mod common;

use common::Mounted;
use gomodfs_testkit::GoCmd;

const GO_MOD: &str = include_str!("../testdata/realapp/go.mod");
const GO_SUM: &str = include_str!("../testdata/realapp/go.sum");
const MAIN_GO: &str = include_str!("../testdata/realapp/main.go");

fn real_proxy() -> String {
    std::env::var("GOMODFS_REAL_PROXY").unwrap_or_else(|_| "https://proxy.golang.org".into())
}

#[test]
#[ignore = "needs the Go module proxy (network); run with --include-ignored"]
fn real_project_builds_and_verifies_through_fuse() -> Result<(), Box<dyn std::error::Error>> {
    let work = tempfile::tempdir()?;
    std::fs::write(work.path().join("go.mod"), GO_MOD)?;
    std::fs::write(work.path().join("go.sum"), GO_SUM)?;
    std::fs::write(work.path().join("main.go"), MAIN_GO)?;
    let zips = GO_SUM.lines().filter(|l| !l.contains("/go.mod ")).count();
    assert!(
        zips >= 30,
        "the pinned graph should have at least 30 module zips, has {zips}"
    );

    let store = tempfile::tempdir()?;
    let mount = Mounted::new(store.path(), Some(&real_proxy()));
    let go = |dir: &std::path::Path| -> Result<GoCmd, gomodfs_testkit::TestkitError> {
        Ok(GoCmd::new(work.path())?
            .gomodcache(dir)
            .goproxy("off")
            .goflags("-mod=mod")
            .timeout(std::time::Duration::from_secs(900)))
    };
    go(mount.path())?.run(&["build", "./..."])?;
    let verify = go(mount.path())?.run(&["mod", "verify"])?;
    assert!(
        verify.stdout.contains("all modules verified"),
        "{}",
        verify.stderr
    );
    assert_eq!(std::fs::read_to_string(work.path().join("go.sum"))?, GO_SUM);
    mount.unmount();

    let offline = Mounted::new(store.path(), None);
    let verify = go(offline.path())?.run(&["mod", "verify"])?;
    assert!(
        verify.stdout.contains("all modules verified"),
        "{}",
        verify.stderr
    );
    go(offline.path())?.run(&["list", "-deps", "./..."])?;
    offline.unmount();
    Ok(())
}
