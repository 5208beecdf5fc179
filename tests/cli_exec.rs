//! `gomodfs exec -- COMMAND`: the one-line CI integration.

mod common;

use common::require_fuse;
use gomodfs_testkit::{TestProxy, standard_fixture};
use std::process::Command;

fn exec(store: &std::path::Path, proxy: &str, dir: &std::path::Path, cmd: &[&str]) -> Command {
    common::exec_command(store, proxy, dir, &[], cmd)
}

#[test]
fn exec_runs_go_build_with_the_mount_and_returns_its_status()
-> Result<(), Box<dyn std::error::Error>> {
    require_fuse();
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone())?;
    let work = tempfile::tempdir()?;
    fx.go_sum_via_go(&proxy.url(), work.path())?;
    let store = tempfile::tempdir()?;
    let gocache = tempfile::tempdir()?;

    let out = exec(
        store.path(),
        &proxy.url(),
        work.path(),
        &["go", "build", "-o", "app", "."],
    )
    .env("GOCACHE", gocache.path())
    .output()?;
    assert!(
        out.status.success(),
        "gomodfs exec go build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(work.path().join("app").exists());

    // The environment the command sees, and that the mount is gone after.
    let out = exec(
        store.path(),
        &proxy.url(),
        work.path(),
        &[
            "sh",
            "-c",
            "test \"$GOPROXY\" = off && test -f \"$GOMODCACHE/.gomodfs-status\" && echo \"$GOMODCACHE\"",
        ],
    )
    .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mnt = String::from_utf8(out.stdout)?.trim().to_owned();
    assert!(!mnt.is_empty());
    assert!(
        !std::path::Path::new(&mnt).join(".gomodfs-status").exists(),
        "{mnt} is still mounted after exec returned"
    );

    // The command's exit status is ours.
    let status = exec(
        store.path(),
        &proxy.url(),
        work.path(),
        &["sh", "-c", "exit 7"],
    )
    .status()?;
    assert_eq!(status.code(), Some(7));
    Ok(())
}
