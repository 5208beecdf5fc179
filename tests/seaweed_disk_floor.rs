//! The test S3 server on a disk below its free-space floor: starting it
//! fails within its deadline and says why (how much disk was free, the
//! floor, the end of its log), instead of every later write hanging for
//! 30 s and answering 500 (what a full CI disk did to the fleet tests).
//!
//! Needs root, to mount a 32 MiB tmpfs below the 64 MiB floor.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gomodfs_testkit::seaweed::{MIN_FREE_SPACE, SeaweedFs};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs mounted on a temporary directory; unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("running mount");
        assert!(
            status.success(),
            "mount -t tmpfs failed ({status}): this test needs root (CI runs as root); \
             leave it out elsewhere with --skip seaweed_below"
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn seaweed_below_its_free_space_floor_fails_to_start_and_says_why() {
    let disk = SmallDisk::mount("32m");
    let within = Duration::from_secs(20);
    let t = Instant::now();
    let error = SeaweedFs::start_in(disk.path(), &["floor"], within)
        .expect_err("a server that cannot write must not count as started");
    let took = t.elapsed();
    let message = error.to_string();
    eprintln!("after {took:?}: {message}");
    for want in [
        "is not usable",
        "MiB free on its disk",
        &format!("refuses writes below {MIN_FREE_SPACE}"),
        "its log ends:",
    ] {
        assert!(message.contains(want), "{want:?} not in: {message}");
    }
    // One failing write takes SeaweedFS 30 s; the deadline is 20 s, so
    // about one or two writes, plus the start.
    assert!(
        took < Duration::from_secs(100),
        "failing took {took:?} (deadline {within:?})"
    );
}
