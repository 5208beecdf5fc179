//! `gomodfs serve --http` mounted through WebDAV by `rclone mount` (FUSE):
//! with GOMODCACHE on that mount and GOPROXY=off, the real `go` verifies
//! and builds the standard fixture (hermetic test proxy upstream).
//!
//! rclone finds names by listing their directory (PROPFIND depth 1), and
//! listings outside module trees show what the store holds (they never
//! download), so the store is warmed first through the GOPROXY endpoint of
//! the same server, as a host would do before mounting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use gomodfs_testkit::process::{Daemon, Launch, on_path};
use gomodfs_testkit::{GoCmd, TestProxy, standard_fixture};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn require_rclone() {
    assert!(
        on_path("rclone"),
        "the WebDAV mount test needs rclone on PATH: apt-get install rclone"
    );
}

/// What `gomodfs serve --http` prints before its address.
const HTTP_LISTENING: &str = "gomodfs: serving HTTP on ";

/// Starts `gomodfs serve --http 127.0.0.1:0` and returns it with the
/// address it printed.
fn serve(store: &Path, proxy: &str, log: &Path) -> (Daemon, String) {
    let server = Launch::new(common::gomodfs_bin(), log)
        .args(["serve", "--http", "127.0.0.1:0", "--store"])
        .arg(store)
        .args(["--proxy", proxy])
        .listening(HTTP_LISTENING)
        .start()
        .expect("start gomodfs serve --http");
    let addr = server
        .address(HTTP_LISTENING)
        .expect("HTTP address")
        .to_string();
    (server, addr)
}

/// `rclone mount` of the WebDAV namespace at `url` on `mnt`, its log in
/// `scratch/rclone.log`; ready when the mount shows gomodfs's status file.
fn rclone_mount(url: &str, mnt: &Path, scratch: &Path) -> Daemon {
    common::require_fuse();
    require_rclone();
    let config = scratch.join("rclone.conf");
    std::fs::write(&config, "").unwrap();
    Launch::new("rclone", scratch.join("rclone.log"))
        .args(["mount", ":webdav:"])
        .arg(mnt)
        .args([
            "--webdav-url",
            url,
            "--read-only",
            "--vfs-cache-mode",
            "off",
        ])
        .arg("--config")
        .arg(&config)
        .arg("--cache-dir")
        .arg(scratch.join("cache"))
        .mount_point(mnt)
        .ready_within(Duration::from_secs(30))
        .start()
        .expect("start rclone mount")
}

#[test]
fn go_verifies_and_builds_on_an_rclone_webdav_mount() -> Result<(), Box<dyn std::error::Error>> {
    common::require_fuse();
    require_rclone();
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone())?;
    let work = tempfile::tempdir()?;
    let go_sum = fx.go_sum_via_go(&proxy.url(), work.path())?;
    let store = tempfile::tempdir()?;
    let scratch = tempfile::tempdir()?;
    let (server, addr) = serve(
        store.path(),
        &proxy.url(),
        &scratch.path().join("serve.log"),
    );

    // Warm the store through the GOPROXY endpoint of the same server.
    let warm_cache = tempfile::tempdir()?;
    GoCmd::new(work.path())?
        .gomodcache(warm_cache.path())
        .goproxy(format!("http://{addr}/proxy/"))
        .run(&["mod", "download"])?;

    let mnt = tempfile::Builder::new()
        .prefix("gomodfs-rclone-")
        .tempdir()?;
    let mut mount = rclone_mount(&format!("http://{addr}/"), mnt.path(), scratch.path());
    let go = || -> Result<GoCmd, gomodfs_testkit::TestkitError> {
        Ok(GoCmd::new(work.path())?
            .gomodcache(mnt.path())
            .goproxy("off")
            .goflags("-mod=mod"))
    };
    let verify = go()?.run(&["mod", "verify"])?;
    assert!(
        verify.stdout.contains("all modules verified"),
        "go mod verify said: {}{}",
        verify.stdout,
        verify.stderr
    );
    go()?.run(&["build", "./..."])?;
    let run = go()?.run(&["run", "."])?;
    assert_eq!(run.stdout, gomodfs_testkit::fixture::STANDARD_OUTPUT);
    assert_eq!(std::fs::read_to_string(work.path().join("go.sum"))?, go_sum);
    // Read-only through the mount too.
    let target = mnt
        .path()
        .join("cache/download/example.com/alpha/@v/v1.0.0.mod");
    assert!(std::fs::read(&target).is_ok());
    assert!(std::fs::write(&target, b"x").is_err(), "write must fail");
    assert!(std::fs::create_dir(mnt.path().join("newdir")).is_err());

    // Unmount, then stop gomodfs with SIGTERM: it must exit cleanly.
    let ok = Command::new("fusermount3")
        .arg("-u")
        .arg(mnt.path())
        .status()?
        .success();
    assert!(ok, "fusermount3 -u failed");
    mount.forget_mount();
    mount.wait_within(Duration::from_secs(10));
    drop(mount);
    server.stop()?;
    Ok(())
}
