//! Small files pushed into the kernel's page cache after their LOOKUP
//! (FUSE_NOTIFY_STORE): reading them then needs no READ request.

mod common;

use common::Mounted;
use gomodfs::fuse::{FuseOp, MountOptions};
use gomodfs_testkit::{ModuleSpec, TestProxy};
use std::fs;
use std::path::Path;

/// Requests of one kind the kernel sent so far (or pushes made).
fn sent(m: &Mounted, op: FuseOp) -> u64 {
    let mount = m.mount.as_ref().expect("mounted");
    mount
        .op_counts()
        .into_iter()
        .find(|(o, _)| *o == op)
        .map_or(0, |(_, c)| c.count)
}

/// Stats and reads a module's `.mod`, `.info` and tree `go.mod` through a
/// new mount of `store` with `push_max`; answers the READs and pushes.
fn stat_and_read(
    spec: &ModuleSpec,
    store: &Path,
    proxy: &TestProxy,
    push_max: u64,
) -> Result<(u64, u64), Box<dyn std::error::Error>> {
    let options = MountOptions {
        push_max,
        ..MountOptions::default()
    };
    let m = Mounted::with_options(store, Some(&proxy.url()), &options);
    let dl = m.path().join("cache/download/example.com/push/@v");
    let tree = m.path().join(spec.cache_dir_name());
    let files = [
        (dl.join("v1.0.0.mod"), spec.mod_bytes()),
        (dl.join("v1.0.0.info"), spec.info_bytes()),
        (tree.join("go.mod"), spec.mod_bytes()),
    ];
    for (path, want) in &files {
        let size = fs::metadata(path)?.len();
        assert_eq!(size, want.len() as u64, "{}", path.display());
        assert_eq!(&fs::read(path)?, want, "{}", path.display());
        eprintln!(
            "after {}: reads {} pushes {}",
            path.display(),
            sent(&m, FuseOp::Read),
            sent(&m, FuseOp::Push)
        );
    }
    eprintln!(
        "reads {} pushes {}",
        sent(&m, FuseOp::Read),
        sent(&m, FuseOp::Push)
    );
    let counts = (sent(&m, FuseOp::Read), sent(&m, FuseOp::Push));
    m.unmount();
    Ok(counts)
}

#[test]
fn small_files_are_pushed_after_lookup_and_read_without_read_requests()
-> Result<(), Box<dyn std::error::Error>> {
    let spec = ModuleSpec::new("example.com/push", "v1.0.0").file("p.go", "package push\n");
    let proxy = TestProxy::start_with([spec.clone()])?;
    let store = tempfile::tempdir()?;
    // Store the module first (pushes need no download: only stored files).
    {
        let m = Mounted::new(store.path(), Some(&proxy.url()));
        fs::read(m.path().join(spec.cache_dir_name()).join("p.go"))?;
        m.unmount();
    }
    let (reads, pushes) = stat_and_read(&spec, store.path(), &proxy, 64 * 1024)?;
    assert_eq!(pushes, 3, "every file pushed");
    assert_eq!(reads, 0, "no READ reached gomodfs with pushes on");
    let (reads, pushes) = stat_and_read(&spec, store.path(), &proxy, 0)?;
    assert_eq!(pushes, 0, "pushes off");
    assert!(reads >= 3, "one READ per file with pushes off, got {reads}");
    Ok(())
}
