//! The checksum database: every module version is checked against it
//! before it enters the store, and the lookups and tiles verified on the
//! way are served as go's sumdb cache (`cache/download/sumdb/`).
//!
//! Hermetic: the test proxy serves a checksum database with its own key
//! (gomodfs-testkit's `TestSumDb`). The real `go` is the independent check
//! of that server and of what the mount serves: it verifies every module
//! against the database's key from the mount's sumdb cache alone (its own
//! URL for the database leads nowhere).

mod common;

use common::{assert_fsck_strict, errno, git, gomodfs_bin, require_fuse};
use gomodfs_testkit::process::{Daemon, Launch};
use gomodfs_testkit::sumdb::TestSumDb;
use gomodfs_testkit::{Fault, GoCmd, ModuleSpec, TestProxy, standard_fixture};
use std::fs;
use std::path::Path;
use std::sync::Arc;

/// A URL where nothing listens: go's way to the database when only the
/// mount may answer.
const NOWHERE: &str = "http://127.0.0.1:1";

/// `gomodfs mount` over `store` with upstream `proxy`, these checksum
/// database settings (`GOSUMDB`, and `GONOSUMDB` if given) and
/// `--fetch-timeout SECONDS`.
fn mount(
    store: &Path,
    mnt: &Path,
    proxy: &str,
    log: &Path,
    (gosumdb, gonosumdb): (&str, Option<&str>),
    seconds: &str,
) -> Daemon {
    require_fuse();
    Launch::new(gomodfs_bin(), log)
        .arg("mount")
        .arg(mnt)
        .arg("--store")
        .arg(store)
        .args(["--proxy", proxy, "--fetch-timeout", seconds])
        .env("GOSUMDB", gosumdb)
        .env("GONOSUMDB", gonosumdb.unwrap_or(""))
        .env("GOPRIVATE", "")
        .mount_point(mnt)
        .start()
        .expect("start gomodfs mount")
}

/// A test proxy serving `modules` and a checksum database `sumdb.test`,
/// an empty store, a mount point and a log directory.
struct Scene {
    proxy: TestProxy,
    db: Arc<TestSumDb>,
    store: tempfile::TempDir,
    mnt: tempfile::TempDir,
    logs: tempfile::TempDir,
}

impl Scene {
    fn new(
        modules: impl IntoIterator<Item = ModuleSpec>,
    ) -> Result<Scene, Box<dyn std::error::Error>> {
        let proxy = TestProxy::start_with(modules)?;
        let db = Arc::new(TestSumDb::new("sumdb.test")?);
        proxy.serve_sumdb(db.clone());
        Ok(Scene {
            proxy,
            db,
            store: tempfile::tempdir()?,
            mnt: tempfile::tempdir()?,
            logs: tempfile::tempdir()?,
        })
    }

    fn log(&self) -> std::path::PathBuf {
        self.logs.path().join("gomodfs.log")
    }

    /// [`mount`] of the store on the mount point, logging to [`Scene::log`].
    fn mount(&self, gosumdb: &str, gonosumdb: Option<&str>) -> Daemon {
        let url = self.proxy.url();
        mount(
            self.store.path(),
            self.mnt.path(),
            &url,
            &self.log(),
            (gosumdb, gonosumdb),
            "5",
        )
    }
}

/// The refs of what the checksum database vouches for: stored module
/// versions and go.mod files (one ref each). A `.info` is not in the
/// database (nor in go.sum): one fetched to answer a module's root is
/// stored whatever the module's check says, and left out here.
fn refs(store: &Path) -> String {
    let out = git(store, &["for-each-ref", "--format=%(refname)"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|r| !r.starts_with("refs/gomodfs/info/"))
        .map(|r| format!("{r}\n"))
        .collect()
}

fn module(path: &str, body: &str) -> ModuleSpec {
    let pkg = path.rsplit('/').next().unwrap_or("p");
    ModuleSpec::new(path, "v1.0.0").file(
        format!("{pkg}.go"),
        format!("package {pkg}\n\nconst Name = \"{body}\"\n"),
    )
}

/// `go` with the mount as GOMODCACHE, GOPROXY=off, and the test database
/// reachable only through the mount's sumdb cache (its URL is dead).
fn go_offline(
    work: &Path,
    mnt: &Path,
    db: &TestSumDb,
) -> Result<GoCmd, gomodfs_testkit::TestkitError> {
    Ok(GoCmd::new(work)?
        .gomodcache(mnt)
        .goproxy("off")
        .goflags("-mod=mod")
        .env("GOSUMDB", format!("{} {NOWHERE}", db.vkey()))
        .env("GONOSUMDB", ""))
}

#[test]
fn go_verifies_every_module_from_the_mounts_sumdb_cache() -> Result<(), Box<dyn std::error::Error>>
{
    let fx = standard_fixture();
    let sc = Scene::new(fx.modules.clone())?;
    // Only the key: gomodfs finds the database through the proxy
    // (`sumdb/<name>/supported`), as go does.
    let mp = sc.mount(sc.db.vkey(), None);

    let work = tempfile::tempdir()?;
    fx.write_main(work.path())?;
    // No go.sum: go checks every module against the database, reading
    // lookups and tiles from the mount.
    let go = go_offline(work.path(), sc.mnt.path(), &sc.db)?;
    go.run(&["mod", "tidy"])?;
    go.run(&["build", "./..."])?;
    go.run(&["mod", "verify"])?;
    let sum = fs::read_to_string(work.path().join("go.sum"))?;
    assert_eq!(sum, fx.go_sum_expected());
    assert!(
        sc.proxy.requests("/sumdb/sumdb.test/supported") >= 1,
        "gomodfs did not ask the proxy whether it serves the database"
    );
    let cache = sc.mnt.path().join("cache/download/sumdb/sumdb.test");
    assert!(fs::read_dir(cache.join("lookup"))?.count() > 0);
    assert!(cache.join("tile/8/0").is_dir());
    // Read-only like the rest.
    let err = fs::write(cache.join("lookup/x"), b"x").expect_err("writable");
    assert_eq!(errno(&err), libc::EROFS, "{err}");
    mp.stop()?;

    // Upstream gone, a second mount over the same store: go verifies
    // again from what the store kept, with a fresh GOPATH.
    let Scene {
        proxy,
        db,
        store,
        logs,
        ..
    } = sc;
    let proxy_url = proxy.url();
    proxy.stop();
    let mnt2 = tempfile::tempdir()?;
    let log2 = logs.path().join("gomodfs2.log");
    let mp = mount(
        store.path(),
        mnt2.path(),
        &proxy_url,
        &log2,
        (db.vkey(), None),
        "5",
    );
    let work2 = tempfile::tempdir()?;
    fx.write_main(work2.path())?;
    go_offline(work2.path(), mnt2.path(), &db)?.run(&["mod", "tidy"])?;
    assert_eq!(fs::read_to_string(work2.path().join("go.sum"))?, sum);
    mp.stop()?;
    assert_fsck_strict(store.path());
    Ok(())
}

#[test]
fn a_tampered_zip_or_go_mod_is_refused_and_nothing_is_stored()
-> Result<(), Box<dyn std::error::Error>> {
    let good = module("example.com/tamper/zip", "good");
    let evil = module("example.com/tamper/zip", "evil");
    let good_mod = module("example.com/tamper/mod", "good");
    let sc = Scene::new([good.clone(), good_mod.clone()])?;
    // A valid zip of the right module and version, with another h1.
    sc.proxy
        .set_fault(good.path(), "v1.0.0", "zip", Fault::Body(evil.zip_bytes()));
    let evil_mod = b"module example.com/tamper/mod\n\nrequire example.com/evil v1.0.0\n";
    sc.proxy.set_fault(
        good_mod.path(),
        "v1.0.0",
        "mod",
        Fault::Body(evil_mod.to_vec()),
    );
    let mp = sc.mount(&sc.db.gosumdb(&sc.proxy.url()), None);

    let file = sc.mnt.path().join("example.com/tamper/zip@v1.0.0/zip.go");
    let go_mod = sc
        .mnt
        .path()
        .join("cache/download/example.com/tamper/mod/@v/v1.0.0.mod");
    for _ in 0..2 {
        let err = fs::read(&file).expect_err("a tampered zip was served");
        assert_eq!(errno(&err), libc::EIO, "{err}");
        let err = fs::read(&go_mod).expect_err("a tampered go.mod was served");
        assert_eq!(errno(&err), libc::EIO, "{err}");
    }
    let text = fs::read_to_string(sc.log())?;
    let line = text
        .lines()
        .find(|l| l.contains("SECURITY ERROR") && l.contains("example.com/tamper/zip"))
        .unwrap_or_else(|| panic!("no SECURITY ERROR line for the zip:\n{text}"));
    assert!(line.contains("v1.0.0"), "{line}");
    assert!(line.contains(&evil.h1()), "downloaded hash missing: {line}");
    assert!(line.contains(&good.h1()), "database hash missing: {line}");
    assert!(
        text.lines()
            .any(|l| l.contains("SECURITY ERROR")
                && l.contains("example.com/tamper/mod@v1.0.0/go.mod")),
        "no SECURITY ERROR line for the go.mod:\n{text}"
    );
    let stored = refs(sc.store.path());
    assert!(
        !stored.contains("tamper"),
        "a refused module was stored:\n{stored}"
    );

    // The proxy heals: the real bits pass and are served.
    sc.proxy.clear_faults();
    assert_eq!(
        fs::read_to_string(&file)?,
        "package zip\n\nconst Name = \"good\"\n"
    );
    assert_eq!(fs::read(&go_mod)?, good_mod.mod_bytes());
    mp.stop()?;
    assert_fsck_strict(sc.store.path());
    Ok(())
}

#[test]
fn a_forked_database_is_refused_also_after_a_restart() -> Result<(), Box<dyn std::error::Error>> {
    let sc = Scene::new([
        module("example.com/fork/a", "a"),
        module("example.com/fork/b", "b"),
    ])?;
    let gosumdb = sc.db.gosumdb(&sc.proxy.url());
    let mp = sc.mount(&gosumdb, None);
    fs::read(sc.mnt.path().join("example.com/fork/a@v1.0.0/a.go"))?;

    // History rewritten: B's tree head does not contain the one A came with.
    sc.db.fork();
    let err = fs::read(sc.mnt.path().join("example.com/fork/b@v1.0.0/b.go"))
        .expect_err("a module from a forked log was served");
    assert_eq!(errno(&err), libc::EIO, "{err}");
    let text = fs::read_to_string(sc.log())?;
    assert!(
        text.contains("SECURITY ERROR") && text.contains("forked"),
        "no SECURITY ERROR about the fork:\n{text}"
    );
    assert!(!refs(sc.store.path()).contains("fork/b"), "B was stored");
    mp.stop()?;

    // A new process remembers the tree head the store has seen.
    let mnt2 = tempfile::tempdir()?;
    let log2 = sc.logs.path().join("gomodfs2.log");
    let mp = mount(
        sc.store.path(),
        mnt2.path(),
        &sc.proxy.url(),
        &log2,
        (&gosumdb, None),
        "5",
    );
    let err = fs::read(mnt2.path().join("example.com/fork/b@v1.0.0/b.go"))
        .expect_err("a restart forgot the tree head");
    assert_eq!(errno(&err), libc::EIO, "{err}");
    assert!(fs::read_to_string(&log2)?.contains("forked"));
    assert!(!refs(sc.store.path()).contains("fork/b"), "B was stored");
    mp.stop()?;
    Ok(())
}

#[test]
fn gonosumdb_skips_the_check_and_an_unreachable_database_fails_closed()
-> Result<(), Box<dyn std::error::Error>> {
    let sc = Scene::new([
        module("private.test/lib", "private"),
        module("example.com/public", "public"),
    ])?;
    // The database is out of reach: GONOSUMDB modules are served anyway,
    // every other module is refused (fail closed), as go does.
    let mp = sc.mount(&format!("{} {NOWHERE}", sc.db.vkey()), Some("private.test"));
    assert_eq!(
        fs::read_to_string(sc.mnt.path().join("private.test/lib@v1.0.0/lib.go"))?,
        "package lib\n\nconst Name = \"private\"\n"
    );
    let err = fs::read(sc.mnt.path().join("example.com/public@v1.0.0/public.go"))
        .expect_err("a module was stored unverified");
    assert_eq!(errno(&err), libc::EIO, "{err}");
    let text = fs::read_to_string(sc.log())?;
    assert!(
        text.lines()
            .any(|l| l.contains("example.com/public@v1.0.0") && l.contains("127.0.0.1:1")),
        "the log does not say which database could not be reached:\n{text}"
    );
    assert!(
        !refs(sc.store.path()).contains("public"),
        "stored unverified"
    );
    assert_eq!(
        sc.proxy
            .requests("/sumdb/sumdb.test/lookup/private.test/lib@v1.0.0"),
        0
    );
    mp.stop()?;
    Ok(())
}

#[test]
fn a_module_missing_upstream_is_enoent_at_once_while_the_database_stalls()
-> Result<(), Box<dyn std::error::Error>> {
    let sc = Scene::new([module("example.com/present", "present")])?;
    // A database that takes connections and never answers: its lookups
    // last the whole fetch timeout, retries included (about 20 s here).
    let stalled = std::net::TcpListener::bind("127.0.0.1:0")?;
    let gosumdb = format!("{} http://{}", sc.db.vkey(), stalled.local_addr()?);
    let mp = sc.mount(&gosumdb, None);
    // The record's lookup runs beside the download; a module the proxy
    // does not have needs none, and its answer does not wait for it.
    for name in [
        "example.com/missing@v1.0.0",
        "cache/download/example.com/alsomissing/@v/v1.0.0.mod",
    ] {
        let started = std::time::Instant::now();
        let err =
            fs::metadata(sc.mnt.path().join(name)).expect_err("a module missing upstream exists");
        let took = started.elapsed();
        assert_eq!(errno(&err), libc::ENOENT, "{name}: {err}");
        assert!(
            took < std::time::Duration::from_secs(3),
            "{name}: ENOENT took {took:?}: it waited for the stalled checksum database"
        );
    }
    mp.stop()?;
    Ok(())
}

#[test]
fn a_stalled_database_fails_a_build_within_one_timeout() -> Result<(), Box<dyn std::error::Error>> {
    let names = ["one", "two", "three", "four", "five", "six"];
    let sc = Scene::new(names.map(|n| module(&format!("example.com/{n}"), n)))?;
    // A database behind a firewall that drops its packets: connections
    // are taken and never answered.
    let stalled = std::net::TcpListener::bind("127.0.0.1:0")?;
    let at = stalled.local_addr()?.to_string();
    let gosumdb = format!("{} http://{at}", sc.db.vkey());
    let mp = mount(
        sc.store.path(),
        sc.mnt.path(),
        &sc.proxy.url(),
        &sc.log(),
        (&gosumdb, None),
        "2",
    );
    let work = tempfile::tempdir()?;
    let mut go_mod = String::from("module example.com/main\n\ngo 1.21\n\nrequire (\n");
    for n in names {
        go_mod.push_str(&format!("\texample.com/{n} v1.0.0\n"));
    }
    go_mod.push_str(")\n");
    fs::write(work.path().join("go.mod"), go_mod)?;
    fs::write(
        work.path().join("main.go"),
        "package main\n\nimport _ \"example.com/one\"\n\nfunc main() {}\n",
    )?;
    // Each lookup gives up after the fetch timeout (2 s here) and its
    // retries, about 9 s; go asks for the six go.mod files two at a time.
    // Once the database has failed, the next lookups fail at once instead
    // of each waiting as long again (three rounds and more: 75 s).
    let started = std::time::Instant::now();
    let out = go_offline(work.path(), sc.mnt.path(), &sc.db)?
        .env("GOFLAGS", "-mod=mod")
        .output(&["build", "./..."])?;
    let took = started.elapsed();
    assert!(!out.success(), "built without a checksum database");
    assert!(
        took < std::time::Duration::from_secs(20),
        "go took {took:?} to fail: every lookup waited for the stalled database"
    );
    let text = fs::read_to_string(sc.log())?;
    assert!(
        text.lines()
            .any(|l| l.contains("request failed") && l.contains(&at)),
        "the log does not name the database that could not be reached:\n{text}"
    );
    assert!(
        !refs(sc.store.path()).contains("example.com"),
        "stored unverified"
    );
    mp.stop()?;
    Ok(())
}

#[test]
fn go_downloads_through_the_goproxy_endpoint_with_its_sumdb_then_offline()
-> Result<(), Box<dyn std::error::Error>> {
    use gomodfs::core::sumdb::SumDbConfig;
    use gomodfs::core::{ModFs, ModFsOptions};
    use gomodfs::webdav::{HttpOptions, HttpServer};

    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone())?;
    let db = Arc::new(TestSumDb::new("sumdb.test")?);
    proxy.serve_sumdb(db.clone());
    let store = tempfile::tempdir()?;
    let upstream = gomodfs::core::proxy::Upstream::new(common::test_upstream_config(&proxy.url()))?;
    let options = ModFsOptions {
        sumdb: Some(SumDbConfig {
            gosumdb: db.vkey().to_owned(),
            nosumdb: String::new(),
            dir: Some(store.path().join("sumdb")),
        }),
        ..ModFsOptions::default()
    };
    let git = gomodfs::core::store::GitStore::open(store.path())?;
    let fs = Arc::new(ModFs::new(Arc::new(git), Some(upstream), options)?);
    let http = HttpOptions {
        addr: "127.0.0.1:0".parse()?,
        ..Default::default()
    };
    let server = HttpServer::start(fs, &http)?;
    let base = format!("http://{}/proxy", server.local_addr());

    let download = |label: &str| -> Result<String, Box<dyn std::error::Error>> {
        let work = tempfile::tempdir()?;
        fx.write_main(work.path())?;
        let modcache = tempfile::tempdir()?;
        // Not in any go.sum: go asks the database, here the endpoint.
        let out = GoCmd::new(work.path())?
            .gomodcache(modcache.path())
            .goproxy(format!("{base}/"))
            .goflags("-mod=mod -modcacherw")
            .env(
                "GOSUMDB",
                format!("{} {base}/sumdb/{}", db.vkey(), db.name()),
            )
            .env("GONOSUMDB", "")
            .run(&["mod", "download", "-json", "example.com/alpha@v1.0.0"])?;
        let json: serde_json::Value = serde_json::from_str(&out.stdout)?;
        assert!(json.get("Error").is_none(), "{label}: {json}");
        let sum = |k: &str| {
            json.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        Ok(format!("{} {}", sum("Sum"), sum("GoModSum")))
    };
    let alpha = fx.module("example.com/alpha", "v1.0.0").ok_or("no alpha")?;
    let online = download("online")?;
    assert!(proxy.requests(&format!("/sumdb/{}/supported", db.name())) >= 1);
    proxy.stop();
    assert_eq!(online, format!("{} {}", alpha.h1(), alpha.go_mod_h1()));
    let offline = download("offline")?;
    assert_eq!(offline, online);
    Ok(())
}
