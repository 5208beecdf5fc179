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

use gomodfs_testkit::{GoCmd, TestProxy, standard_fixture};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn require_rclone() {
    let ok = Command::new("rclone")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the WebDAV mount test needs rclone on PATH: apt-get install rclone"
    );
}

/// A child process killed on drop (and its FUSE mount detached).
struct Proc {
    child: Option<Child>,
    mount: Option<std::path::PathBuf>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(dir) = &self.mount {
            common::lazy_unmount(dir);
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `gomodfs serve --http 127.0.0.1:0` and returns it with the
/// address it printed.
fn serve(store: &Path, proxy: &str, log: &Path) -> (Proc, String) {
    let logfile = std::fs::File::create(log).unwrap();
    let mut child = Command::new(common::gomodfs_bin())
        .args(["serve", "--http", "127.0.0.1:0", "--store"])
        .arg(store)
        .args(["--proxy", proxy])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut logfile = logfile;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(addr) = line.strip_prefix("gomodfs: serving HTTP on http://") {
                let _ = tx.send(addr.trim_end_matches('/').to_owned());
            }
            let _ = std::io::Write::write_all(&mut logfile, format!("{line}\n").as_bytes());
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| {
            panic!(
                "gomodfs serve --http did not start; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        });
    (
        Proc {
            child: Some(child),
            mount: None,
        },
        addr,
    )
}

fn rclone_mount(url: &str, mnt: &Path, scratch: &Path) -> Proc {
    common::require_fuse();
    require_rclone();
    let config = scratch.join("rclone.conf");
    std::fs::write(&config, "").unwrap();
    let log = scratch.join("rclone.log");
    let child = Command::new("rclone")
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
        .arg("--log-file")
        .arg(&log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rclone mount");
    let proc = Proc {
        child: Some(child),
        mount: Some(mnt.to_owned()),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !mnt.join(".gomodfs-status").exists() {
        assert!(
            Instant::now() < deadline,
            "rclone mount did not come up; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    proc
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
    let (mut server, addr) = serve(
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
    mount.mount = None;
    if let Some(mut c) = mount.child.take() {
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.try_wait()?.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
    if let Some(mut c) = server.child.take() {
        Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()?;
        let status = c.wait()?;
        assert!(status.success(), "gomodfs serve exited with {status}");
    }
    Ok(())
}
