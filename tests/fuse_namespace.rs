//! The namespace through a real FUSE mount: docs/SEMANTICS.md sections 1, 2 and 6.

mod common;

use common::{Mounted, errno};
use gomodfs_testkit::{ModuleSpec, TestProxy, standard_fixture};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

fn module_with_files() -> ModuleSpec {
    ModuleSpec::new("example.com/Upper/Files", "v1.2.3")
        .file("a.go", "package files\n")
        .file("deep/er/still/x.go", "package still\n")
        .file("docs/naïve café 日本.txt", "exotic\n")
        .file(".hidden", "dot\n")
        .file("name with spaces.txt", "spaces\n")
        .file("empty.txt", "")
}

/// Every file below `dir`, relative, with its contents.
fn walk(dir: &Path, rel: &str, out: &mut BTreeSet<(String, Vec<u8>)>) {
    for entry in fs::read_dir(dir).expect("readdir") {
        let entry = entry.expect("entry");
        let name = entry.file_name().into_string().expect("utf-8 name");
        let rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let meta = entry.metadata().expect("stat");
        if meta.is_dir() {
            assert_eq!(meta.permissions().mode() & 0o777, 0o555, "{rel}");
            walk(&entry.path(), &rel, out);
        } else {
            assert_eq!(meta.permissions().mode() & 0o777, 0o444, "{rel}");
            assert_eq!(meta.nlink(), 1, "{rel}");
            assert_eq!(meta.uid(), 0, "{rel}");
            let data = fs::read(entry.path()).expect("read");
            assert_eq!(data.len() as u64, meta.len(), "size of {rel}");
            out.insert((rel, data));
        }
    }
}

#[test]
fn module_tree_download_files_and_attributes() -> Result<(), Box<dyn std::error::Error>> {
    let spec = module_with_files();
    let proxy = TestProxy::start_with([spec.clone()])?;
    let store = tempfile::tempdir()?;
    let m = Mounted::new(store.path(), Some(&proxy.url()));
    let root = m.path().join(spec.cache_dir_name());
    assert_eq!(spec.cache_dir_name(), "example.com/!upper/!files@v1.2.3");

    // The tree lists exactly the zip's files, byte for byte.
    let mut served = BTreeSet::new();
    walk(&root, "", &mut served);
    let expected: BTreeSet<(String, Vec<u8>)> = spec
        .zip_files()
        .into_iter()
        .map(|(name, data)| (name.trim_start_matches(&spec.prefix()).to_owned(), data))
        .collect();
    assert_eq!(served, expected);

    // Download files: verbatim proxy bytes and the h1 hash.
    let dl = m.path().join("cache/download/example.com/!upper/!files/@v");
    assert_eq!(fs::read(dl.join("v1.2.3.mod"))?, spec.mod_bytes());
    assert_eq!(fs::read(dl.join("v1.2.3.info"))?, spec.info_bytes());
    let ziphash = fs::read_to_string(dl.join("v1.2.3.ziphash"))?;
    assert_eq!(ziphash, spec.h1());
    assert_eq!(fs::metadata(dl.join("v1.2.3.ziphash"))?.len(), 47);

    // Times are the .info Time (2024-01-02T03:04:05Z), never "now".
    let mtime = fs::metadata(root.join("a.go"))?.mtime();
    assert_eq!(mtime, 1_704_164_645);

    // Listing outside module trees shows what is stored.
    let names: Vec<String> = fs::read_dir(m.path().join("example.com/!upper"))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert_eq!(names, vec!["!files@v1.2.3".to_owned()]);
    let mut listing: Vec<String> = fs::read_dir(&dl)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    listing.sort();
    assert_eq!(listing, ["v1.2.3.info", "v1.2.3.mod", "v1.2.3.ziphash"]);

    // Inode numbers are deterministic: the same after a remount.
    let ino = fs::metadata(root.join("deep/er/still/x.go"))?.ino();
    m.unmount();
    let again = Mounted::new(store.path(), None);
    let root2 = again.path().join(spec.cache_dir_name());
    assert_eq!(fs::metadata(root2.join("deep/er/still/x.go"))?.ino(), ino);
    again.unmount();
    Ok(())
}

#[test]
fn forbidden_files_are_enoent_and_writes_are_erofs() -> Result<(), Box<dyn std::error::Error>> {
    let spec = module_with_files();
    let proxy = TestProxy::start_with([spec.clone()])?;
    let store = tempfile::tempdir()?;
    let m = Mounted::new(store.path(), Some(&proxy.url()));
    let dl = m.path().join("cache/download/example.com/!upper/!files/@v");
    // Fetch the module first, so ENOENT is about the name, not the module.
    fs::read(dl.join("v1.2.3.ziphash"))?;
    for name in [
        "v1.2.3.zip",
        "v1.2.3.partial",
        "v1.2.3.lock",
        "v1.2.3.info123.tmp",
        "list",
        "v1.2.3.zip.tmp",
    ] {
        let err = fs::metadata(dl.join(name)).expect_err(name);
        assert_eq!(errno(&err), libc::ENOENT, "{name}: {err}");
    }
    for path in [
        "cache/download/sumdb/sum.golang.org/lookup/example.com/x@v1.0.0",
        "cache/vcs",
        "cache/download/example.com/!upper/!files/@v/v1.2.3.mod/x",
        "example.com/!upper/!files@v1.2.3/missing.go",
        "example.com/Upper/Files@v1.2.3",
        "example.com/!upper/!files@latest",
    ] {
        let err = fs::metadata(m.path().join(path)).expect_err(path);
        let e = errno(&err);
        assert!(e == libc::ENOENT || e == libc::ENOTDIR, "{path}: {err}");
    }

    let tree = m.path().join(spec.cache_dir_name());
    let erofs = |what: &str, r: std::io::Result<()>| {
        let err = r.expect_err(what);
        assert_eq!(errno(&err), libc::EROFS, "{what}: {err}");
    };
    // (A dotted name at the root is a path prefix, i.e. a directory.)
    erofs("create", fs::write(m.path().join("newfile"), b"x"));
    erofs("create in module", fs::write(tree.join("new.go"), b"x"));
    erofs(
        "open for write",
        fs::OpenOptions::new()
            .write(true)
            .open(tree.join("a.go"))
            .map(|_| ()),
    );
    erofs("mkdir", fs::create_dir(tree.join("d")));
    erofs("unlink", fs::remove_file(tree.join("a.go")));
    erofs("rmdir", fs::remove_dir(tree.join("deep/er/still")));
    erofs("rename", fs::rename(tree.join("a.go"), tree.join("b.go")));
    erofs(
        "chmod",
        fs::set_permissions(tree.join("a.go"), fs::Permissions::from_mode(0o644)),
    );
    erofs(
        "symlink",
        std::os::unix::fs::symlink("a.go", tree.join("link")),
    );
    erofs(
        "hard link",
        fs::hard_link(tree.join("a.go"), tree.join("a2.go")),
    );
    erofs("write .info", fs::write(dl.join("v1.2.3.info"), b"{}"));
    m.unmount();
    Ok(())
}

#[test]
fn dotfile_probes_make_no_upstream_request() -> Result<(), Box<dyn std::error::Error>> {
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone())?;
    let store = tempfile::tempdir()?;
    let m = Mounted::new(store.path(), Some(&proxy.url()));
    for name in [
        ".DS_Store",
        "._x",
        ".Spotlight-V100",
        ".git",
        "cache/.DS_Store",
        "cache/download/.DS_Store",
        "example.com/._alpha@v1.0.0",
        "example.com/.DS_Store",
    ] {
        let err = fs::metadata(m.path().join(name)).expect_err(name);
        assert_eq!(errno(&err), libc::ENOENT, "{name}");
    }
    assert_eq!(proxy.total_requests(), 0, "log: {:?}", proxy.request_log());
    m.unmount();
    Ok(())
}

#[test]
fn unknown_module_is_enoent_and_status_file_is_consistent() -> Result<(), Box<dyn std::error::Error>>
{
    let proxy = TestProxy::start()?;
    let store = tempfile::tempdir()?;
    let m = Mounted::new(store.path(), Some(&proxy.url()));
    let err = fs::metadata(m.path().join("example.com/nope@v1.0.0")).expect_err("missing module");
    assert_eq!(errno(&err), libc::ENOENT);
    let err = fs::metadata(
        m.path()
            .join("cache/download/example.com/nope/@v/v1.0.0.mod"),
    )
    .expect_err("missing .mod");
    assert_eq!(errno(&err), libc::ENOENT);

    let status = m.path().join(".gomodfs-status");
    let size = fs::metadata(&status)?.len();
    let data = fs::read(&status)?;
    assert!(size > 0 && data.len() > 20);
    let json: serde_json::Value = serde_json::from_slice(&data)?;
    assert_eq!(json["filesystem"], "gomodfs");
    assert!(json["uptime"].as_f64().is_some());
    assert!(
        json["ops"]["lookup"]["started"].as_u64().unwrap_or(0) >= 2,
        "{json}"
    );
    assert!(
        json["ops"]["lookup"]["not_found"].as_u64().unwrap_or(0) >= 2,
        "{json}"
    );
    m.unmount();
    Ok(())
}

/// `module_with_files` served by a test proxy to a mount of a new store.
fn mounted_module_with_files()
-> Result<(ModuleSpec, TestProxy, tempfile::TempDir, Mounted), Box<dyn std::error::Error>> {
    let spec = module_with_files();
    let proxy = TestProxy::start_with([spec.clone()])?;
    let store = tempfile::tempdir()?;
    let m = Mounted::new(store.path(), Some(&proxy.url()));
    Ok((spec, proxy, store, m))
}

/// Requests of one kind the kernel sent so far.
fn sent(m: &Mounted, op: gomodfs::fuse::FuseOp) -> u64 {
    let mount = m.mount.as_ref().expect("mounted");
    mount
        .op_counts()
        .into_iter()
        .find(|(o, _)| *o == op)
        .map_or(0, |(_, c)| c.count)
}

#[test]
fn files_are_read_without_open_round_trips_and_stay_cached()
-> Result<(), Box<dyn std::error::Error>> {
    use gomodfs::fuse::FuseOp;
    let (spec, _proxy, _store, m) = mounted_module_with_files()?;
    let root = m.path().join(spec.cache_dir_name());
    let files = [
        "a.go",
        "deep/er/still/x.go",
        ".hidden",
        "name with spaces.txt",
    ];
    for f in files {
        fs::read(root.join(f))?;
    }
    // The first OPEN is answered ENOSYS, which switches OPEN and RELEASE
    // off for the whole mount (a kernel without FUSE_NO_OPEN_SUPPORT
    // would send one OPEN and one RELEASE per file).
    assert_eq!(sent(&m, FuseOp::Open), 1, "one OPEN for the whole mount");
    assert_eq!(sent(&m, FuseOp::Release), 0, "no RELEASE");
    // Immutable files stay in the page cache across opens.
    let reads = sent(&m, FuseOp::Read);
    let zip: std::collections::BTreeMap<_, _> = spec.zip_files().into_iter().collect();
    for f in files {
        assert_eq!(Some(&fs::read(root.join(f))?), zip.get(f), "{f}");
    }
    assert_eq!(
        sent(&m, FuseOp::Read),
        reads,
        "read again from the page cache"
    );
    m.unmount();
    Ok(())
}

#[test]
fn status_file_is_a_new_snapshot_on_every_open_and_never_torn()
-> Result<(), Box<dyn std::error::Error>> {
    use std::io::Read;
    let proxy = TestProxy::start()?;
    let store = tempfile::tempdir()?;
    let m = Mounted::new(store.path(), Some(&proxy.url()));
    let status = m.path().join(".gomodfs-status");
    let read_one = |path: &Path| -> Result<(u64, serde_json::Value), String> {
        let mut f = fs::File::open(path).map_err(|e| e.to_string())?;
        let size = f.metadata().map_err(|e| e.to_string())?.len();
        let mut data = vec![];
        f.read_to_end(&mut data).map_err(|e| e.to_string())?;
        if data.len() as u64 != size {
            return Err(format!("read {} bytes, fstat says {size}", data.len()));
        }
        let json = serde_json::from_slice(&data).map_err(|e| format!("torn: {e}"))?;
        Ok((size, json))
    };
    // Readers at once, while lookups change the counters (so every
    // snapshot differs): each reads one whole document of its fstat size.
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut uptimes = vec![];
                    for _ in 0..50 {
                        let (_, json) = read_one(&status)?;
                        let _ = fs::metadata(m.path().join("example.com/nope@v1.0.0"));
                        uptimes.push(json["uptime"].as_f64().unwrap_or(-1.0));
                    }
                    Ok::<_, String>(uptimes)
                })
            })
            .collect();
        for r in readers {
            let uptimes = r.join().expect("reader").expect("a whole document");
            // A new snapshot on every open, never a cached one.
            assert!(uptimes.windows(2).all(|w| w[1] > w[0]), "{uptimes:?}");
        }
    });
    m.unmount();
    Ok(())
}

/// The names `fs::read_dir` gives for `dir`, sorted.
fn names_in(dir: &Path) -> Result<Vec<String>, std::io::Error> {
    let mut names: Vec<String> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    Ok(names)
}

#[test]
fn growing_directories_show_a_module_stored_after_they_were_listed()
-> Result<(), Box<dyn std::error::Error>> {
    let a1 = ModuleSpec::new("example.com/grow/a", "v1.0.0").file("a.go", "package a\n");
    let a2 = ModuleSpec::new("example.com/grow/a", "v1.1.0").file("a.go", "package a\n");
    let b1 = ModuleSpec::new("example.com/grow/b", "v1.0.0").file("b.go", "package b\n");
    let proxy = TestProxy::start_with([a1.clone(), a2.clone(), b1.clone()])?;
    let store = tempfile::tempdir()?;
    let m = Mounted::new(store.path(), Some(&proxy.url()));
    let tree = m.path().join("example.com/grow");
    let download = m.path().join("cache/download/example.com/grow");
    let versions = download.join("a/@v");

    // The first module, fetched through the mount, then every directory
    // outside module trees on its way listed (so the kernel has seen them).
    fs::read(m.path().join(a1.cache_dir_name()).join("a.go"))?;
    assert_eq!(names_in(&tree)?, ["a@v1.0.0"]);
    assert_eq!(names_in(&download)?, ["a"]);
    assert_eq!(
        names_in(&versions)?,
        ["v1.0.0.info", "v1.0.0.mod", "v1.0.0.ziphash"]
    );

    // Two more fetched through the mount: a new module beside it and a new
    // version of it. Every listing shows them at once.
    fs::read(m.path().join(b1.cache_dir_name()).join("b.go"))?;
    fs::read(m.path().join(a2.cache_dir_name()).join("a.go"))?;
    assert_eq!(names_in(&tree)?, ["a@v1.0.0", "a@v1.1.0", "b@v1.0.0"]);
    assert_eq!(names_in(&download)?, ["a", "b"]);
    assert_eq!(
        names_in(&versions)?,
        [
            "v1.0.0.info",
            "v1.0.0.mod",
            "v1.0.0.ziphash",
            "v1.1.0.info",
            "v1.1.0.mod",
            "v1.1.0.ziphash"
        ]
    );
    assert_eq!(names_in(&download.join("b/@v"))?.len(), 3);
    m.unmount();
    Ok(())
}

#[test]
fn directories_are_listed_without_opendir_round_trips_and_stay_cached()
-> Result<(), Box<dyn std::error::Error>> {
    use gomodfs::fuse::FuseOp;
    let (spec, _proxy, _store, m) = mounted_module_with_files()?;
    let root = m.path().join(spec.cache_dir_name());
    let mut first = BTreeSet::new();
    walk(&root, "", &mut first);
    // The first OPENDIR is answered ENOSYS, which switches OPENDIR and
    // RELEASEDIR off for the whole mount (FUSE_NO_OPENDIR_SUPPORT).
    assert_eq!(
        sent(&m, FuseOp::Opendir),
        1,
        "one OPENDIR for the whole mount"
    );
    assert_eq!(sent(&m, FuseOp::Releasedir), 0, "no RELEASEDIR");
    // Each directory is listed by the core once, although the kernel sends
    // two READDIRPLUS (the second, past the last entry, to learn the end).
    let status: serde_json::Value =
        serde_json::from_slice(&fs::read(m.path().join(".gomodfs-status"))?)?;
    let dirs = ["", "deep", "deep/er", "deep/er/still", "docs"].len() as u64;
    assert_eq!(status["ops"]["readdir"]["ended"].as_u64(), Some(dirs));
    assert_eq!(sent(&m, FuseOp::Readdirplus), 2 * dirs);
    // A module tree's listings stay in the kernel's cache.
    let listed = sent(&m, FuseOp::Readdirplus);
    let mut again = BTreeSet::new();
    walk(&root, "", &mut again);
    assert_eq!(again, first);
    assert_eq!(
        sent(&m, FuseOp::Readdirplus),
        listed,
        "listed again from the cache"
    );
    m.unmount();
    Ok(())
}

#[test]
fn growing_directories_show_a_module_another_process_stored_within_ten_seconds()
-> Result<(), Box<dyn std::error::Error>> {
    let a = ModuleSpec::new("example.com/other/a", "v1.0.0").file("a.go", "package a\n");
    let b = ModuleSpec::new("example.com/other/b", "v1.0.0").file("b.go", "package b\n");
    let proxy = TestProxy::start_with([a.clone(), b.clone()])?;
    let store = tempfile::tempdir()?;
    let listing = Mounted::new(store.path(), Some(&proxy.url()));
    let tree = listing.path().join("example.com/other");
    fs::read(listing.path().join(a.cache_dir_name()).join("a.go"))?;
    assert_eq!(names_in(&tree)?, ["a@v1.0.0"]);
    // Another mount of the same store stores b; the first one was not
    // asked for it, so only the periodic refresh can show it.
    let storing = Mounted::new(store.path(), Some(&proxy.url()));
    fs::read(storing.path().join(b.cache_dir_name()).join("b.go"))?;
    let start = std::time::Instant::now();
    while names_in(&tree)? != ["a@v1.0.0", "b@v1.0.0"] {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(15),
            "b not listed after 15 s: {:?}",
            names_in(&tree)?
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    storing.unmount();
    listing.unmount();
    Ok(())
}
