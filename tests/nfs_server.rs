//! `gomodfs serve --nfs` as a process: file handles taken before a restart
//! resolve after it (from the store alone), failed downloads are
//! NFS3ERR_IO and never NFS3ERR_NOENT while the server keeps serving, and
//! NFS runs next to a FUSE mount of the same filesystem.
#![cfg(feature = "nfs")]
#![allow(clippy::unwrap_used)]

mod common;

use common::NfsServer;
use gomodfs_testkit::nfs::require_libnfs_tools;
use gomodfs_testkit::nfs::{Client, a, handle_bytes, handle_from};
use gomodfs_testkit::{ModuleSpec, TestProxy, add_failing_modules, standard_fixture};
use nfs3_client::nfs3_types::nfs3::{ftype3, nfs_fh3, nfsstat3};

const LONG: &str = "example.com/an-organisation-with-a-long-name/and-a-long-repository-name";

/// Every node below `dir` (depth first): path, handle and attributes.
fn collect(c: &mut Client, dir: &nfs_fh3, path: &str, out: &mut Vec<(String, nfs_fh3)>) {
    let (entries, _) = c.list(dir, 64 * 1024).unwrap();
    for e in entries {
        let p = format!("{path}/{}", e.name);
        let fh = e.handle.unwrap();
        if e.attr.unwrap().type_ == ftype3::NF3DIR {
            collect(c, &fh, &p, out);
        }
        out.push((p, fh));
    }
}

#[test]
fn handles_survive_a_restart_without_upstream() -> Result<(), Box<dyn std::error::Error>> {
    require_libnfs_tools();
    let fx = standard_fixture();
    let long = ModuleSpec::new(LONG, "v0.0.0-20240102030405-0123456789ab")
        .file(
            "internal/a/rather/deep/package/path/file.go",
            "package path\n",
        )
        .file("README.md", "long\n");
    let mut modules = fx.modules.clone();
    modules.push(long.clone());
    let proxy = TestProxy::start_with(modules.clone())?;
    let store = tempfile::tempdir()?;
    let logs = tempfile::tempdir()?;
    let server = NfsServer::start(
        store.path(),
        Some(&proxy.url()),
        &logs.path().join("first.log"),
        &[],
    );
    let mut c = Client::connect(server.port, "/");
    let mut nodes: Vec<(String, nfs_fh3)> = vec![("".into(), c.root())];
    for m in &modules {
        let tree = m.cache_dir_name();
        let (fh, _) = c.walk(&tree).unwrap();
        collect(&mut c, &fh, &tree, &mut nodes);
        nodes.push((tree, fh));
        for ext in ["info", "mod", "ziphash"] {
            let p = format!(
                "cache/download/{}/@v/{}.{ext}",
                m.escaped_path(),
                m.escaped_version()
            );
            nodes.push((p.clone(), c.walk(&p).unwrap().0));
        }
    }
    // Directories outside module trees, short and long.
    for p in [
        "cache",
        "cache/download",
        "example.com",
        &format!("cache/download/{LONG}"),
        &format!("cache/download/{LONG}/@v"),
        "example.com/an-organisation-with-a-long-name",
    ] {
        nodes.push((p.to_owned(), c.walk(p).unwrap().0));
    }
    let mut kept = vec![];
    for (path, fh) in &nodes {
        let attr = c.getattr(fh).unwrap();
        let data = (attr.type_ == ftype3::NF3REG).then(|| c.read_all(fh, 1 << 20).unwrap());
        kept.push((path.clone(), handle_bytes(fh), a(&attr), data));
    }
    assert!(
        kept.iter().any(|(_, h, _, _)| h.len() > 8 && h[8] != 1),
        "some handles use the hashed (long path) forms"
    );
    drop(c);
    server.process.stop().expect("gomodfs exits cleanly");
    proxy.stop();

    // A new process on the same store, offline: every old handle resolves
    // to the same node, attributes and bytes, with no lookup first.
    let server = NfsServer::start(store.path(), None, &logs.path().join("second.log"), &[]);
    let mut c = Client::connect(server.port, "/");
    for (path, fh, attr, data) in &kept {
        let fh = handle_from(fh);
        let again = c
            .getattr(&fh)
            .unwrap_or_else(|e| panic!("{path}: GETATTR of an old handle: {e:?}"));
        assert_eq!(&a(&again), attr, "{path}: same attributes after restart");
        if let Some(data) = data {
            assert_eq!(&c.read_all(&fh, 1 << 20).unwrap(), data, "{path}");
        }
    }
    server.process.stop().expect("gomodfs exits cleanly");
    Ok(())
}

fn good() -> ModuleSpec {
    ModuleSpec::new("example.com/good", "v1.0.0").file("good.go", "package good\n")
}

#[test]
fn failed_downloads_are_io_not_noent() -> Result<(), Box<dyn std::error::Error>> {
    require_libnfs_tools();
    let proxy = TestProxy::start_with([good()])?;
    // Every zip the real go rejects, a truncated body, a 500 and a stall.
    let cases = add_failing_modules(&proxy, "v1.0.0");
    let server = NfsServer::on_fresh_store(&proxy.url(), &[]);
    let mut c = Client::connect(server.port, "/");
    for path in &cases {
        // The root is there (its `.info` is fine); what needs the zip is
        // an I/O error.
        let tree = format!("{path}@v1.0.0");
        assert!(c.walk(&tree).is_ok(), "{tree}: LOOKUP");
        assert_eq!(
            c.walk(&format!("{tree}/x.go")).unwrap_err(),
            nfsstat3::NFS3ERR_IO,
            "{tree}/x.go: LOOKUP"
        );
        let ziphash = format!("cache/download/{path}/@v/v1.0.0.ziphash");
        let (fh, _) = c
            .walk(&ziphash)
            .unwrap_or_else(|e| panic!("{ziphash}: {e:?}"));
        assert_eq!(
            c.read_all(&fh, 4096).unwrap_err(),
            nfsstat3::NFS3ERR_IO,
            "{ziphash}: READ"
        );
        // The .mod is fine: only the zip is bad.
        assert!(
            c.walk(&format!("cache/download/{path}/@v/v1.0.0.mod"))
                .is_ok()
        );
        // Still serving: a good module reads fine after every bad one.
        let (fh, _) = c.walk("example.com/good@v1.0.0/good.go").unwrap();
        assert_eq!(c.read_all(&fh, 4096).unwrap(), b"package good\n");
        // A real client sees an error, not an empty or missing file.
        assert!(
            server.libnfs().cat(&format!("{tree}/x.go")).is_err(),
            "{tree}"
        );
    }
    // What the proxy does not have is NOENT.
    assert_eq!(
        c.walk("example.com/absent@v1.0.0").unwrap_err(),
        nfsstat3::NFS3ERR_NOENT
    );
    let log = server.process.log_text();
    assert!(
        log.contains("example.com/faulty/status-500"),
        "the log names the module:\n{log}"
    );
    server.process.stop().expect("gomodfs exits cleanly");
    Ok(())
}

#[test]
fn nfs_and_fuse_at_once() -> Result<(), Box<dyn std::error::Error>> {
    require_libnfs_tools();
    common::require_fuse();
    let proxy = TestProxy::start_with([good()])?;
    let mnt = tempfile::tempdir()?;
    let mnt_arg = mnt.path().to_str().unwrap().to_owned();
    let server = NfsServer::on_fresh_store(&proxy.url(), &["--mount", &mnt_arg]);
    let via_nfs = server.libnfs().cat("example.com/good@v1.0.0/good.go")?;
    let via_fuse = std::fs::read(mnt.path().join("example.com/good@v1.0.0/good.go"))?;
    assert_eq!(via_nfs, b"package good\n");
    assert_eq!(via_fuse, via_nfs);
    assert_eq!(
        proxy.requests("good/@v/v1.0.0.zip"),
        1,
        "one download for both"
    );
    server.process.stop().expect("gomodfs exits cleanly");
    assert!(
        !mnt.path().join(".gomodfs-status").exists(),
        "unmounted on SIGTERM"
    );
    Ok(())
}
