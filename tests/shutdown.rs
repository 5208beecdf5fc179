//! SIGTERM stops gomodfs promptly and leaves the mount point usable: even
//! while readers wait on stalled downloads (they get EIO) and while a
//! process has its working directory inside the mount (the mount is
//! detached lazily, and the exit status is still 0).

mod common;

use common::errno;
use gomodfs_testkit::{Fault, ModuleSpec, TestProxy};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

/// What "promptly" means here (the machine may be loaded).
const PROMPT: Duration = Duration::from_secs(10);

/// Whether `dir` is a mount point (per /proc/self/mountinfo).
fn is_mounted(dir: &Path) -> bool {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .any(|l| l.split(' ').nth(4) == Some(&*dir.to_string_lossy()))
}

#[test]
fn sigterm_cancels_stalled_downloads() -> Result<(), Box<dyn std::error::Error>> {
    let modules = ["example.com/stall/one", "example.com/stall/two"];
    let proxy = TestProxy::start_with(
        modules.map(|p| ModuleSpec::new(p, "v1.0.0").file("x.go", "package x\n")),
    )?;
    for p in modules {
        proxy.set_fault(p, "v1.0.0", "zip", Fault::Stall);
    }
    let store = tempfile::tempdir()?;
    let mnt = tempfile::tempdir()?;
    let logs = tempfile::tempdir()?;
    let log = logs.path().join("gomodfs.log");
    // No timeout would end these downloads for a minute.
    let mut mp = common::start_mount(
        store.path(),
        mnt.path(),
        Some(&proxy.url()),
        &log,
        &["--fetch-timeout", "60"],
    );
    let (tx, rx) = mpsc::channel();
    for p in modules {
        for _ in 0..2 {
            let file = mnt.path().join(format!("{p}@v1.0.0/x.go"));
            let tx = tx.clone();
            std::thread::spawn(move || {
                let _ = tx.send(std::fs::read(&file).map(|_| ()));
            });
        }
    }
    drop(tx);
    for p in modules {
        assert!(
            proxy.wait_for_requests(&format!("{p}/@v/v1.0.0.zip"), 1, Duration::from_secs(30)),
            "{p}: the zip was never requested"
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(rx.try_recv().is_err(), "a reader finished before SIGTERM");

    let (status, took) = mp.terminate_within(PROMPT)?;
    let text = std::fs::read_to_string(&log)?;
    assert!(
        status.success(),
        "gomodfs exited with {status}; log:\n{text}"
    );
    for _ in 0..4 {
        let result = rx.recv_timeout(PROMPT)?;
        let err = result.expect_err("a stalled download must not produce a module");
        assert_eq!(errno(&err), libc::EIO, "want EIO, got {err}; log:\n{text}");
    }
    assert!(!is_mounted(mnt.path()), "still mounted after exit");
    assert_eq!(std::fs::read_dir(mnt.path())?.count(), 0);
    eprintln!("exited {took:?} after SIGTERM");
    Ok(())
}

#[test]
fn sigterm_with_a_shell_inside_the_mount() -> Result<(), Box<dyn std::error::Error>> {
    let proxy = TestProxy::start_with([
        ModuleSpec::new("example.com/busy", "v1.0.0").file("x.go", "package x\n")
    ])?;
    let store = tempfile::tempdir()?;
    let mnt = tempfile::tempdir()?;
    let logs = tempfile::tempdir()?;
    let log = logs.path().join("gomodfs.log");
    let mut mp = common::start_mount(store.path(), mnt.path(), Some(&proxy.url()), &log, &[]);
    let inside = mnt.path().join("example.com/busy@v1.0.0");
    assert_eq!(std::fs::read_to_string(inside.join("x.go"))?, "package x\n");
    // A shell whose working directory is inside the mount.
    let mut shell = Command::new("sh")
        .args(["-c", "sleep 600"])
        .current_dir(&inside)
        .spawn()?;
    std::thread::sleep(Duration::from_millis(300));

    let result = mp.terminate_within(PROMPT);
    let _ = shell.kill();
    let _ = shell.wait();
    let (status, took) = result?;
    let text = std::fs::read_to_string(&log)?;
    assert!(
        status.success(),
        "gomodfs exited with {status}; log:\n{text}"
    );
    assert!(
        text.contains("detached it lazily"),
        "the log does not say the mount was detached lazily:\n{text}"
    );
    assert!(!is_mounted(mnt.path()), "still mounted after exit");
    // The mount point is the plain, empty directory again.
    assert_eq!(std::fs::read_dir(mnt.path())?.count(), 0);
    eprintln!("exited {took:?} after SIGTERM");
    Ok(())
}
