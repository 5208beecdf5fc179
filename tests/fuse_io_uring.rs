//! FUSE over io_uring (`MountOptions::io_uring`, `gomodfs mount
//! --fuse-io-uring`): the real `go` builds, tests and verifies through a
//! mount served over the kernel's io_uring queues, and every kind of
//! request (lookups, reads of all sizes, listings longer than one reply,
//! writes refused, the status file) is answered right over them; a mount
//! takes io_uring by default once the kernel's switch is on. Needs
//! root (to turn on /sys/module/fuse/parameters/enable_uring) and Linux
//! 6.14+; fails, and says why, where either is missing.

mod common;

use common::{Mounted, errno};
use gomodfs::fuse::{FuseOp, IoUring, MountOptions};
use gomodfs_testkit::{GoCmd, ModuleSpec, TestProxy, standard_fixture};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

fn over_io_uring() -> MountOptions {
    MountOptions {
        io_uring: IoUring::On,
        ..MountOptions::default()
    }
}

/// Requests answered over io_uring so far; fails when the mount is not
/// served over it.
fn ring_requests(m: &Mounted) -> u64 {
    let mount = m.mount.as_ref().expect("mounted");
    mount.io_uring_requests().unwrap_or_else(|| {
        panic!(
            "the mount is served over /dev/fuse, not io_uring: this test needs Linux 6.14+ \
             and root (to turn on /sys/module/fuse/parameters/enable_uring); see the log"
        )
    })
}

/// Requests of the kinds that go over the rings, counted by the handlers
/// (whichever transport brought them).
fn ring_kinds(m: &Mounted) -> u64 {
    let mount = m.mount.as_ref().expect("mounted");
    mount
        .op_counts()
        .into_iter()
        .filter(|(op, _)| {
            matches!(
                op,
                FuseOp::Lookup | FuseOp::Getattr | FuseOp::Read | FuseOp::Readdirplus
            )
        })
        .map(|(_, c)| c.count)
        .sum()
}

/// The tests of this file one at a time, so each can count the queue
/// threads left after its unmount.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The queue threads of this process (`gomodfs-uring-N`), after waiting a
/// moment for them to end.
fn ring_threads_left() -> usize {
    let count = || {
        fs::read_dir("/proc/self/task").map_or(0, |tasks| {
            tasks
                .flatten()
                .filter(|t| {
                    fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|c| c.starts_with("gomodfs-uring"))
                })
                .count()
        })
    };
    for _ in 0..100 {
        if count() == 0 {
            return 0;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    count()
}

#[test]
fn go_builds_tests_and_verifies_through_a_mount_served_over_io_uring()
-> Result<(), Box<dyn std::error::Error>> {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone())?;
    let work = tempfile::tempdir()?;
    let go_sum = fx.go_sum_via_go(&proxy.url(), work.path())?;
    let store = tempfile::tempdir()?;

    // First touch: every module is downloaded while go waits, so answers
    // come from the download pool's threads, not the queues' own.
    let mount = Mounted::with_options(store.path(), Some(&proxy.url()), &over_io_uring());
    let go = |m: &Mounted| -> Result<GoCmd, gomodfs_testkit::TestkitError> {
        Ok(GoCmd::new(work.path())?
            .gomodcache(m.path())
            .goproxy("off")
            .goflags("-mod=mod"))
    };
    go(&mount)?.run(&["build", "./..."])?;
    let test = go(&mount)?.run(&["test", "./..."])?;
    assert!(test.stdout.contains("ok"), "go test: {}", test.stdout);
    let verify = go(&mount)?.run(&["mod", "verify"])?;
    assert!(
        verify.stdout.contains("all modules verified"),
        "go mod verify: {}{}",
        verify.stdout,
        verify.stderr
    );
    assert_eq!(fs::read_to_string(work.path().join("go.sum"))?, go_sum);
    assert!(proxy.requests(".zip") >= 5);
    // The kernel sends over /dev/fuse until every queue is registered (a
    // few requests at mount) and FORGET always; everything else comes
    // over the rings.
    let (ring, kinds) = (ring_requests(&mount), ring_kinds(&mount));
    assert!(
        ring * 10 >= kinds * 9,
        "{ring} requests over io_uring of {kinds} lookups, getattrs, reads and listings"
    );
    mount.unmount();

    // Offline, from the store alone: every answer from a queue's thread.
    proxy.stop();
    let offline = Mounted::with_options(store.path(), None, &over_io_uring());
    let verify = go(&offline)?.run(&["mod", "verify"])?;
    assert!(
        verify.stdout.contains("all modules verified"),
        "{}",
        verify.stderr
    );
    go(&offline)?.run(&["build", "./..."])?;
    assert!(ring_requests(&offline) > 0);
    offline.unmount();
    assert_eq!(ring_threads_left(), 0, "queue threads outlived the mount");
    Ok(())
}

/// Bytes that do not compress, so a large file takes several READs.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A module with a listing longer than one READDIRPLUS reply, a file
/// larger than the largest READ, an empty file and odd names.
fn module() -> ModuleSpec {
    let mut spec = ModuleSpec::new("example.com/ring", "v1.2.3")
        .file("big.bin", noise(3 << 20))
        .file("empty.txt", "")
        .file("name with spaces.txt", "spaces\n")
        .file("deep/er/still/x.go", "package still\n");
    for i in 0..300 {
        spec = spec.file(
            format!("many/file_with_a_rather_long_name_{i:04}.go"),
            format!("package many // {i}\n"),
        );
    }
    spec
}

/// Every file under `dir`, by path relative to `root`, with its bytes.
fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).map_err(std::io::Error::other)?;
            out.insert(rel.to_string_lossy().into_owned(), fs::read(&path)?);
        }
    }
    Ok(())
}

#[test]
fn every_kind_of_request_is_answered_right_over_io_uring() -> Result<(), Box<dyn std::error::Error>>
{
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let spec = module();
    let proxy = TestProxy::start_with([spec.clone()])?;
    let store = tempfile::tempdir()?;
    let m = Mounted::with_options(store.path(), Some(&proxy.url()), &over_io_uring());
    let root = m.path().join(spec.cache_dir_name());

    // The whole tree, walked and read: listings, lookups, reads.
    let mut served = BTreeMap::new();
    walk(&root, &root, &mut served)?;
    let zip: BTreeMap<_, _> = spec.zip_files().into_iter().collect();
    assert_eq!(served.len(), zip.len(), "files listed");
    for (name, bytes) in &zip {
        assert!(served.get(name) == Some(bytes), "{name} differs");
    }
    assert_eq!(fs::read_dir(root.join("many"))?.count(), 300);
    // A piece from the middle of the large file.
    use std::io::{Read, Seek, SeekFrom};
    let mut piece = vec![0u8; 100_000];
    {
        let mut big = fs::File::open(root.join("big.bin"))?;
        big.seek(SeekFrom::Start(1_500_000))?;
        big.read_exact(&mut piece)?;
    }
    assert!(piece[..] == noise(3 << 20)[1_500_000..1_600_000]);
    // Attributes, refusals and absences.
    let meta = fs::metadata(root.join("big.bin"))?;
    assert_eq!(meta.len(), 3 << 20);
    assert!(meta.permissions().readonly());
    let e = fs::write(root.join("new.txt"), "x").expect_err("a write");
    assert_eq!(errno(&e), libc::EROFS, "{e}");
    let e = fs::create_dir(root.join("newdir")).expect_err("a mkdir");
    assert_eq!(errno(&e), libc::EROFS, "{e}");
    let e = fs::metadata(m.path().join("example.com/ring@v9.9.9")).expect_err("absent");
    assert_eq!(errno(&e), libc::ENOENT, "{e}");
    // STATFS (`stat -f`): 4 KiB blocks and 255-byte names.
    let out = std::process::Command::new("stat")
        .args(["-f", "-c", "%S %l"])
        .arg(m.path())
        .output()?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "4096 255",
        "{out:?}"
    );
    // The status file: a snapshot per open, read through DIRECT_IO.
    let status: serde_json::Value =
        serde_json::from_slice(&fs::read(m.path().join(".gomodfs-status"))?)?;
    assert!(status["ops"].is_object(), "{status}");
    assert_eq!(
        status["frontends"],
        serde_json::json!([{
            "kind": "fuse",
            "at": m.path().display().to_string(),
            "transport": "io_uring",
        }]),
        "the status names the mount and its transport"
    );
    let info = fs::read_to_string(
        m.path()
            .join("cache/download/example.com/ring/@v/v1.2.3.info"),
    )?;
    assert!(info.contains("v1.2.3"), "{info}");

    assert!(
        ring_requests(&m) >= 300,
        "{} over io_uring",
        ring_requests(&m)
    );
    m.unmount();
    Ok(())
}

#[test]
fn gomodfs_mount_with_fuse_io_uring_says_it_and_stops_cleanly() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (store, mnt, logs) = (
        tempfile::tempdir().expect("store"),
        tempfile::tempdir().expect("mount point"),
        tempfile::tempdir().expect("logs"),
    );
    let log = logs.path().join("mount.log");
    let daemon = common::start_mount(store.path(), mnt.path(), None, &log, &["--fuse-io-uring"]);
    assert!(mnt.path().join(".gomodfs-status").exists());
    let text = daemon.log_text();
    assert!(
        text.contains("FUSE over io_uring (Ctrl-C to unmount)"),
        "the mount does not say it serves over io_uring:\n{text}"
    );
    let summary = common::status_summary(mnt.path());
    let served = format!("served: FUSE at {} over io_uring\n", mnt.path().display());
    assert!(summary.contains(&served), "no {served:?} in:\n{summary}");
    daemon.stop().expect("a clean stop");
}

/// `gomodfs serve --mount DIR --fuse-io-uring` serves the mount over
/// io_uring too, says so, and its status names every frontend.
#[test]
fn gomodfs_serve_mounts_over_io_uring_and_names_its_frontends() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (store, mnt, logs) = (
        tempfile::tempdir().expect("store"),
        tempfile::tempdir().expect("mount point"),
        tempfile::tempdir().expect("logs"),
    );
    let server =
        gomodfs_testkit::process::Launch::new(common::gomodfs_bin(), logs.path().join("serve.log"))
            .args([
                "serve",
                "--offline",
                "--fuse-io-uring",
                "--nfs",
                "127.0.0.1:0",
            ])
            .arg("--store")
            .arg(store.path())
            .arg("--mount")
            .arg(mnt.path())
            .listening("serving NFSv3 on ")
            .start()
            .expect("start gomodfs serve");
    let text = server.log_text();
    let mounted = format!("mounted at {}, FUSE over io_uring", mnt.path().display());
    assert!(text.contains(&mounted), "no {mounted:?} in:\n{text}");
    let summary = common::status_summary(mnt.path());
    let served = format!(
        "served: FUSE at {} over io_uring; NFSv3 at 127.0.0.1:",
        mnt.path().display()
    );
    assert!(summary.contains(&served), "no {served:?} in:\n{summary}");
    server.stop().expect("a clean stop");
}

/// Once the kernel's switch is on, a mount with the default options (and
/// `gomodfs mount` without the flag) serves over io_uring; `off` keeps
/// `/dev/fuse`. (`auto` with the switch off: the unit tests in
/// gomodfs-fuse's `uring` module; turning the switch off here would
/// change the transport of mounts in other tests.)
#[test]
fn a_default_mount_serves_over_io_uring_once_the_kernel_switch_is_on() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let store = tempfile::tempdir().expect("store");
    // `on` turns the switch on (root), as an administrator would.
    let on = Mounted::with_options(store.path(), None, &over_io_uring());
    ring_requests(&on);
    drop(on);
    let switch = fs::read_to_string("/sys/module/fuse/parameters/enable_uring");
    assert_eq!(switch.ok().as_deref().map(str::trim), Some("Y"));

    let auto = Mounted::with_options(store.path(), None, &MountOptions::default());
    // The kernel moves to the rings once every queue has registered.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut probe = 0;
    while ring_requests(&auto) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing answered over the rings"
        );
        probe += 1;
        let _ = fs::metadata(auto.path().join(format!("missing-{probe}")));
    }
    let mount = auto.mount.as_ref().expect("mounted");
    assert_eq!(mount.transport(), "io_uring");
    drop(auto);
    let off = MountOptions {
        io_uring: IoUring::Off,
        ..MountOptions::default()
    };
    let classic = Mounted::with_options(store.path(), None, &off);
    assert!(fs::metadata(classic.path().join(".gomodfs-status")).is_ok());
    let mount = classic.mount.as_ref().expect("mounted");
    assert_eq!(mount.io_uring_requests(), None);
    assert_eq!(mount.transport(), "/dev/fuse");
    drop(classic);

    for (flag, transport) in [
        (None, "io_uring"),
        (Some("--fuse-io-uring=off"), "/dev/fuse"),
    ] {
        let (mnt, logs) = (
            tempfile::tempdir().expect("mount point"),
            tempfile::tempdir().expect("logs"),
        );
        let launch = gomodfs_testkit::process::Launch::new(
            common::gomodfs_bin(),
            logs.path().join("mount.log"),
        )
        // The default, whatever the test run's environment says.
        .env("GOMODFS_FUSE_IO_URING", "auto")
        .arg("mount")
        .arg(mnt.path())
        .args(["--offline", "--store"])
        .arg(store.path())
        .args(flag)
        .mount_point(mnt.path());
        let daemon = launch.start().expect("start gomodfs mount");
        let summary = common::status_summary(mnt.path());
        let served = format!(
            "served: FUSE at {} over {transport}\n",
            mnt.path().display()
        );
        assert!(
            summary.contains(&served),
            "{flag:?}: no {served:?} in:\n{summary}"
        );
        daemon.stop().expect("a clean stop");
    }
}
