//! `gomodfs mount` as a service: it exits cleanly when its mount point is
//! unmounted from outside, clears the dead mount a killed gomodfs left, and
//! tells systemd when it is ready (`Type=notify`).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Runs a command that must succeed.
fn run(program: &str, args: &[&str], dir: &Path) {
    let out = Command::new(program)
        .args(args)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed for this test: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_mount_point(dir: &Path) -> bool {
    let dir = dir.canonicalize().expect("canonical mount point");
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(&*dir.to_string_lossy()))
}

#[test]
fn external_unmount_makes_mount_exit_0_with_one_line() {
    for (program, args) in [
        ("fusermount3", &["-u"][..]),
        ("umount", &[][..]),
        ("umount", &["-l"][..]),
    ] {
        let (store, mnt, logs) = (
            tempfile::tempdir().expect("store"),
            tempfile::tempdir().expect("mount point"),
            tempfile::tempdir().expect("logs"),
        );
        let log = logs.path().join("mount.log");
        let mut daemon = common::start_mount(store.path(), mnt.path(), None, &log, &[]);
        run(program, args, mnt.path());
        let status = daemon.wait_within(Duration::from_secs(10));
        let text = daemon.log_text();
        assert!(
            status.is_some_and(|s| s.success()),
            "{program} {args:?}: gomodfs did not exit 0 ({status:?}); log:\n{text}"
        );
        daemon.forget_mount();
        let after_mount: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.contains("mounted at"))
            .skip(1)
            .collect();
        assert_eq!(after_mount.len(), 1, "{program} {args:?}: log:\n{text}");
        assert!(
            after_mount[0].contains("unmounted from outside; exiting"),
            "{program} {args:?}: log:\n{text}"
        );
        assert!(!is_mount_point(mnt.path()), "{program} {args:?}");
    }
}

#[test]
fn dead_mount_of_a_killed_gomodfs_is_cleared_at_the_next_start() {
    let (store, mnt, logs) = (
        tempfile::tempdir().expect("store"),
        tempfile::tempdir().expect("mount point"),
        tempfile::tempdir().expect("logs"),
    );
    let mut first = common::start_mount(
        store.path(),
        mnt.path(),
        None,
        &logs.path().join("first.log"),
        &[],
    );
    let killed = Command::new("kill")
        .args(["-KILL", &first.pid().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    assert!(first.wait_within(Duration::from_secs(10)).is_some());
    first.forget_mount();
    // Asked as the next start asks (again while ECANCELED: the kernel
    // still tearing the dead server's io_uring down).
    let dead = gomodfs::fuse::probe_mount(mnt.path()).expect_err("a dead mount");
    // ECONNABORTED where the mount was served over io_uring (the
    // kernel's switch on, or GOMODFS_FUSE_IO_URING=on for the run).
    assert!(
        [libc::ENOTCONN, libc::ECONNABORTED].contains(&common::errno(&dead)),
        "{dead}"
    );

    let second_log = logs.path().join("second.log");
    let second = common::start_mount(store.path(), mnt.path(), None, &second_log, &[]);
    let text = second.log_text();
    assert!(
        text.contains("a previous gomodfs died and left its mount here"),
        "{text}"
    );
    assert!(mnt.path().join(".gomodfs-status").exists());
    second.stop().expect("a clean stop");
    assert!(!is_mount_point(mnt.path()));
}

#[test]
fn mount_and_serve_tell_systemd_when_ready_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let (store, mnt, logs) = (
        tempfile::tempdir().expect("store"),
        tempfile::tempdir().expect("mount point"),
        tempfile::tempdir().expect("logs"),
    );
    let socket_path = logs.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let recv = || -> String {
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    common::require_fuse();
    let daemon =
        gomodfs_testkit::process::Launch::new(common::gomodfs_bin(), logs.path().join("mount.log"))
            .arg("mount")
            .arg(mnt.path())
            .arg("--store")
            .arg(store.path())
            .arg("--offline")
            .env("NOTIFY_SOCKET", &socket_path)
            .mount_point(mnt.path())
            .start()
            .expect("start gomodfs mount");
    assert_eq!(recv(), "READY=1");
    // Ready means served: the status file is there already.
    assert!(mnt.path().join(".gomodfs-status").exists());
    daemon.stop().expect("a clean stop");
    assert_eq!(recv(), "STOPPING=1");

    // Abstract socket names (`@name`) work too, and `serve` notifies as well.
    let name = format!("gomodfs-test-{}", std::process::id());
    let abstract_socket = {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .expect("abstract address");
        UnixDatagram::bind_addr(&addr).expect("abstract notify socket")
    };
    abstract_socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let server =
        gomodfs_testkit::process::Launch::new(common::gomodfs_bin(), logs.path().join("serve.log"))
            .args(["serve", "--http", "127.0.0.1:0", "--offline", "--store"])
            .arg(store.path())
            .env("NOTIFY_SOCKET", format!("@{name}"))
            .listening("serving HTTP on ")
            .start()
            .expect("start gomodfs serve");
    let mut buf = [0u8; 64];
    let n = abstract_socket.recv(&mut buf).expect("a notification");
    assert_eq!(&buf[..n], b"READY=1");
    server.stop().expect("a clean stop");
}
