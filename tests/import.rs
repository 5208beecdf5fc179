//! `gomodfs import DIR`: a GOMODCACHE filled by `go mod download` goes into
//! the store, validated like downloads, and an `--offline` mount builds the
//! project; an extracted tree changed after go verified it is reported and
//! skipped.

mod common;

use common::Mounted;
use gomodfs::core::modpath::ModuleVersion;
use gomodfs::core::store::{GitStore, Store};
use gomodfs_testkit::{GoCmd, TestProxy, standard_fixture};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A project and a GOMODCACHE that `go mod download` filled for it, from a
/// test proxy that is stopped afterwards.
struct Filled {
    work: tempfile::TempDir,
    modcache: tempfile::TempDir,
}

fn filled() -> Filled {
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone()).expect("test proxy");
    let work = tempfile::tempdir().expect("work");
    fx.go_sum_via_go(&proxy.url(), work.path()).expect("go.sum");
    let modcache = tempfile::tempdir().expect("modcache");
    GoCmd::new(work.path())
        .expect("go")
        .goproxy(proxy.url())
        .gomodcache(modcache.path())
        .goflags("-mod=mod -modcacherw")
        .run(&["mod", "download"])
        .expect("go mod download");
    proxy.stop();
    Filled { work, modcache }
}

/// `gomodfs import DIR --store STORE --gosumdb off` (the test proxy that
/// filled the cache has no checksum database): (exit code, stdout,
/// stderr).
fn import(dir: &Path, store: &Path) -> (Option<i32>, String, String) {
    import_with(dir, store, &["--gosumdb", "off"])
}

/// `gomodfs import DIR --store STORE EXTRA...`: (exit code, stdout, stderr).
fn import_with(dir: &Path, store: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(common::gomodfs_bin())
        .arg("import")
        .arg(dir)
        .arg("--store")
        .arg(store)
        .args(extra)
        .env("GONOSUMDB", "")
        .env("GOPRIVATE", "")
        .output()
        .expect("run gomodfs import");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file below `dir` with this extension.
fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn import_of_a_go_mod_download_cache_then_an_offline_mount_builds()
-> Result<(), Box<dyn std::error::Error>> {
    let f = filled();
    let zips = files_with_ext(&f.modcache.path().join("cache/download"), "zip").len();
    assert!(zips >= 5, "{zips} zips");
    let store = tempfile::tempdir()?;
    let (code, stdout, stderr) = import(f.modcache.path(), store.path());
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("import: {zips} modules (")),
        "{stdout}"
    );
    assert!(stdout.contains(", 0 skipped"), "{stdout}");
    // Not a terminal: plain lines.
    assert!(stderr.contains(" modules, "), "{stderr}");

    // The store's warm list names what was imported (a tree for each
    // whole module, a `.mod` for the graph-only versions), so the first
    // mount of the store preloads it.
    let versions = files_with_ext(&f.modcache.path().join("cache/download"), "mod").len();
    common::assert_first_mount_preloads(store.path(), zips, versions - zips);

    let offline = Mounted::new(store.path(), None);
    let gocache = tempfile::tempdir()?;
    let go = || -> Result<GoCmd, gomodfs_testkit::TestkitError> {
        Ok(GoCmd::new(f.work.path())?
            .gomodcache(offline.path())
            .gocache(gocache.path())
            .goproxy("off")
            .goflags("-mod=mod"))
    };
    go()?.run(&["build", "./..."])?;
    let verify = go()?.run(&["mod", "verify"])?;
    assert!(
        verify.stdout.contains("all modules verified"),
        "{}",
        verify.stderr
    );
    offline.unmount();

    // Again: everything is there already.
    let (code, stdout, _) = import(f.modcache.path(), store.path());
    assert_eq!(code, Some(0));
    assert!(stdout.contains("import: 0 modules (0 B)"), "{stdout}");
    Ok(())
}

#[test]
fn a_tampered_extracted_tree_is_reported_and_skipped() -> Result<(), Box<dyn std::error::Error>> {
    let f = filled();
    // Without zips, import reads the extracted trees.
    let zips = files_with_ext(&f.modcache.path().join("cache/download"), "zip");
    for zip in &zips {
        std::fs::remove_file(zip)?;
    }
    let alpha = f.modcache.path().join("example.com/alpha@v1.0.0");
    let victim = files_with_ext(&alpha, "go")
        .into_iter()
        .next()
        .ok_or("a .go file in alpha")?;
    let mut data = std::fs::read(&victim)?;
    data.extend_from_slice(b"// changed after go verified it\n");
    std::fs::write(&victim, data)?;

    let store = tempfile::tempdir()?;
    let (code, stdout, stderr) = import(f.modcache.path(), store.path());
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("skipped: example.com/alpha@v1.0.0: "))
        .ok_or_else(|| format!("alpha not reported:\n{stdout}"))?;
    assert!(line.contains(".ziphash"), "{line}");
    assert!(stdout.contains(", 1 skipped"), "{stdout}");
    assert!(
        stdout.contains(&format!("import: {} modules (", zips.len() - 1)),
        "{stdout}"
    );
    let git = GitStore::open(store.path())?;
    assert!(
        git.module(&ModuleVersion::new("example.com/alpha", "v1.0.0")?)?
            .is_none()
    );
    assert!(
        git.module(&ModuleVersion::new("example.com/deep", "v1.0.0")?)?
            .is_some()
    );
    // The warm list names what was stored, not what was skipped.
    let list = std::fs::read_to_string(gomodfs::warm_list_path(store.path()))?;
    assert!(list.contains("tree example.com/deep v1.0.0\n"), "{list}");
    assert!(!list.contains("example.com/alpha"), "{list}");

    // --no-warm-start: no list.
    let other = tempfile::tempdir()?;
    let (code, stdout, stderr) = import_with(
        f.modcache.path(),
        other.path(),
        &["--gosumdb", "off", "--no-warm-start"],
    );
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(!gomodfs::warm_list_path(other.path()).exists());
    Ok(())
}

/// Import passes the checksum-database gate like every download: a cache
/// whose zip (and go.sum line) disagrees with the database is refused and
/// named with go's SECURITY ERROR; a module the database agrees with is
/// imported.
#[test]
fn a_module_the_checksum_database_disagrees_with_is_refused()
-> Result<(), Box<dyn std::error::Error>> {
    use gomodfs_testkit::ModuleSpec;
    use gomodfs_testkit::sumdb::TestSumDb;
    let spec = |body: &str| {
        ModuleSpec::new("example.com/swapped", "v1.0.0")
            .file("s.go", format!("package swapped\n\nconst X = {body:?}\n"))
    };
    let honest = ModuleSpec::new("example.com/honest", "v1.0.0").file("h.go", "package honest\n");

    // The cache: go downloads from a proxy serving one content...
    let origin = TestProxy::start_with([spec("as cached"), honest.clone()])?;
    let modcache = tempfile::tempdir()?;
    let work = tempfile::tempdir()?;
    GoCmd::new(work.path())?
        .goproxy(origin.url())
        .gomodcache(modcache.path())
        .run(&[
            "mod",
            "download",
            "example.com/swapped@v1.0.0",
            "example.com/honest@v1.0.0",
        ])?;
    origin.stop();

    // ...while the checksum database recorded another.
    let proxy = TestProxy::start_with([spec("as published"), honest])?;
    let db = std::sync::Arc::new(TestSumDb::new("sumdb.test")?);
    proxy.serve_sumdb(db.clone());
    let store = tempfile::tempdir()?;
    let gosumdb = db.gosumdb(&proxy.url());
    let (code, stdout, stderr) = import_with(
        modcache.path(),
        store.path(),
        &["--gosumdb", &gosumdb, "--proxy", &proxy.url()],
    );
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains(", 1 skipped"), "{stdout}");
    let refused = stdout
        .lines()
        .find(|l| l.starts_with("skipped: example.com/swapped@v1.0.0: "))
        .ok_or(format!("swapped module not named: {stdout}"))?;
    assert!(refused.contains("SECURITY ERROR"), "{refused}");
    let stored = GitStore::open(store.path())?;
    let mv = |p: &str| ModuleVersion::new(p, "v1.0.0");
    assert!(stored.module(&mv("example.com/swapped")?)?.is_none());
    assert!(stored.module(&mv("example.com/honest")?)?.is_some());
    Ok(())
}
