//! Hostile zips and a faulty upstream: the reader gets EIO (never ENOENT for
//! a failure), the log names module, version and cause, the process keeps
//! serving other modules, and nothing of the bad module is stored.

mod common;

use common::{assert_fsck_strict, errno, git};
use gomodfs_testkit::{Fault, Hostile, ModuleSpec, TestProxy, add_failing_modules};
use std::fs;

fn good() -> ModuleSpec {
    ModuleSpec::new("example.com/good", "v1.0.0").file("good.go", "package good\n")
}

#[test]
fn hostile_zips_and_upstream_faults() -> Result<(), Box<dyn std::error::Error>> {
    let proxy = TestProxy::start_with([good()])?;
    // Every zip the real go rejects, a truncated body, a 500 and a stall.
    let cases = add_failing_modules(&proxy, "v1.0.0");
    // go accepts a symlink entry and extracts it as a regular file holding
    // the link target; so do we (docs/SEMANTICS.md section 5; the first spec said to reject it).
    let symlink = "example.com/odd/symlink";
    proxy.add(ModuleSpec::new(symlink, "v1.0.0").file("x.go", "package x\n"));
    proxy.set_fault(
        symlink,
        "v1.0.0",
        "zip",
        Fault::Body(Hostile::Symlink.zip(symlink, "v1.0.0")),
    );

    let store = tempfile::tempdir()?;
    let mnt = tempfile::tempdir()?;
    let logs = tempfile::tempdir()?;
    let cmd_log = logs.path().join("gomodfs.log");
    let mp = common::start_mount(
        store.path(),
        mnt.path(),
        Some(&proxy.url()),
        &cmd_log,
        &["--fetch-timeout", "2"],
    );

    for path in &cases {
        let dir = mnt.path().join(format!("{path}@v1.0.0"));
        let err = fs::metadata(dir.join("x.go")).expect_err(path);
        assert_eq!(errno(&err), libc::EIO, "{path}: want EIO, got {err}");
        let ziphash = mnt
            .path()
            .join(format!("cache/download/{path}/@v/v1.0.0.ziphash"));
        let err = fs::read(&ziphash).expect_err(path);
        assert_eq!(errno(&err), libc::EIO, "{path} .ziphash: {err}");
        // Still serving: a good module reads fine after every bad one.
        let good = fs::read_to_string(mnt.path().join("example.com/good@v1.0.0/good.go"))?;
        assert_eq!(good, "package good\n");
    }

    let link = mnt.path().join(format!("{symlink}@v1.0.0/link"));
    let meta = fs::symlink_metadata(&link)?;
    assert!(
        meta.is_file(),
        "symlink entry must be served as a regular file"
    );
    assert_eq!(fs::read_to_string(&link)?, "go.mod");

    let text = fs::read_to_string(&cmd_log)?;
    for path in &cases {
        let line = text
            .lines()
            .find(|l| l.contains(path.as_str()) && l.contains("v1.0.0") && l.contains("failed"))
            .unwrap_or_else(|| panic!("no log line names {path} v1.0.0 and the failure:\n{text}"));
        assert!(
            line.len() > path.len() + 30,
            "log line without a cause: {line}"
        );
    }

    // Nothing of any bad module is in the store but its `.info` (a good
    // answer, fetched to answer the module's root): no module, no `.mod`,
    // no listing entry.
    let refs = git(store.path(), &["for-each-ref", "--format=%(refname)"]);
    let refs = String::from_utf8_lossy(&refs.stdout).into_owned();
    for path in &cases {
        let leaf = format!("/{}/", path.rsplit('/').next().unwrap_or(path));
        for r in refs.lines().filter(|r| r.contains(&leaf)) {
            assert!(
                r.starts_with("refs/gomodfs/info/"),
                "{path} left a ref behind: {r}\n{refs}"
            );
        }
    }
    assert!(
        refs.contains("good"),
        "the good module should be stored:\n{refs}"
    );
    for top in ["example.com/hostile", "example.com/faulty"] {
        let listing = fs::read_dir(mnt.path().join(top))?.count();
        assert_eq!(listing, 0, "{top} lists stored modules");
    }
    mp.stop().expect("gomodfs exits cleanly");
    assert_fsck_strict(store.path());
    Ok(())
}
