//! GOTOOLCHAIN switching through the mount, with the real module proxy and
//! sum.golang.org: go downloads `golang.org/toolchain` through
//! `GOMODCACHE`, verifies it against the checksum database (reading the
//! lookup and tiles from `cache/download/sumdb/`), finds `go.mod` beside
//! every `_go.mod` and the binaries executable, and runs it — online, then
//! offline on a second mount; then the same files over NFS. Needs the internet (about 70 MB), so ignored
//! by the hermetic run: `cargo test --test toolchain -- --ignored`.

mod common;

use common::{gomodfs_bin, require_fuse};
use gomodfs_testkit::GoCmd;
use gomodfs_testkit::nfs::Client;
use gomodfs_testkit::process::{Daemon, Launch};
use std::path::Path;
use std::time::Duration;

/// The toolchain switched to (newer than the go on the machine).
const TOOLCHAIN: &str = "go1.27.3";

fn real_proxy() -> String {
    std::env::var("GOMODFS_REAL_PROXY").unwrap_or_else(|_| "https://proxy.golang.org".into())
}

/// `gomodfs mount`, checking modules against sum.golang.org; `--offline`
/// without `proxy`.
fn mount(store: &Path, mnt: &Path, proxy: Option<&str>, log: &Path) -> Daemon {
    require_fuse();
    let upstream: Vec<&str> = match proxy {
        Some(p) => vec!["--proxy", p],
        None => vec!["--offline"],
    };
    Launch::new(gomodfs_bin(), log)
        .arg("mount")
        .arg(mnt)
        .arg("--store")
        .arg(store)
        .args(upstream)
        .env("GOSUMDB", "sum.golang.org")
        .env("GONOSUMDB", "")
        .env("GOPRIVATE", "")
        .mount_point(mnt)
        .start()
        .expect("start gomodfs mount")
}

/// `go` with the mount as GOMODCACHE, GOPROXY=off, checking sum.golang.org
/// (a fresh GOPATH: nothing remembered between runs).
fn go(
    dir: &Path,
    modcache: &Path,
    gotoolchain: &str,
) -> Result<GoCmd, gomodfs_testkit::TestkitError> {
    Ok(GoCmd::new(dir)?
        .gomodcache(modcache)
        .goproxy("off")
        .goflags("-mod=mod")
        .env("GOSUMDB", "sum.golang.org")
        .env("GOTOOLCHAIN", gotoolchain)
        .timeout(Duration::from_secs(900)))
}

/// `GOTOOLCHAIN=go1.27.3 go version` prints that version.
fn switches_to_the_toolchain(work: &Path, mnt: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let out = go(work, mnt, TOOLCHAIN)?.run(&["version"])?;
    assert!(
        out.stdout.starts_with(&format!("go version {TOOLCHAIN} ")),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    Ok(())
}

#[test]
#[ignore = "needs the internet: the go1.27.3 toolchain from proxy.golang.org, checked against sum.golang.org"]
fn gotoolchain_switches_through_the_mount_online_then_offline()
-> Result<(), Box<dyn std::error::Error>> {
    let (store, logs) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mnt = tempfile::tempdir()?;
    let log = logs.path().join("gomodfs.log");
    let mp = mount(store.path(), mnt.path(), Some(&real_proxy()), &log);
    let work = tempfile::tempdir()?;
    switches_to_the_toolchain(work.path(), mnt.path())?;
    // A project that asks for the toolchain builds with it.
    std::fs::write(
        work.path().join("go.mod"),
        format!("module example.com/tc\n\ngo 1.21\n\ntoolchain {TOOLCHAIN}\n"),
    )?;
    std::fs::write(
        work.path().join("main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\t\"runtime\"\n)\n\nfunc main() { fmt.Println(runtime.Version()) }\n",
    )?;
    let out = go(work.path(), mnt.path(), "auto")?.run(&["run", "."])?;
    assert_eq!(out.stdout.trim(), TOOLCHAIN, "{}", out.stderr);
    mp.stop()?;

    // Offline, on a second mount: the toolchain and its sumdb files are in
    // the store.
    let mnt2 = tempfile::tempdir()?;
    let mp = mount(
        store.path(),
        mnt2.path(),
        None,
        &logs.path().join("offline.log"),
    );
    let work2 = tempfile::tempdir()?;
    switches_to_the_toolchain(work2.path(), mnt2.path())?;
    mp.stop()?;

    // The same over NFS, offline: the files go reads.
    let nfs = common::NfsServer::start(
        store.path(),
        None,
        &logs.path().join("nfs.log"),
        &["--gosumdb", "sum.golang.org"],
    );
    let mut client = Client::connect(nfs.port, "/");
    let root = format!("golang.org/toolchain@v0.0.1-{TOOLCHAIN}.linux-amd64");
    let mut read = |path: &str| -> Result<(Vec<u8>, u32), String> {
        let (fh, attr) = client.walk(path).map_err(|e| format!("{path}: {e:?}"))?;
        let data = client
            .read_all(&fh, 1 << 20)
            .map_err(|e| format!("{path}: {e:?}"))?;
        Ok((data, attr.mode))
    };
    let (go_mod, _) = read(&format!("{root}/src/go.mod"))?;
    let (underscore, _) = read(&format!("{root}/src/_go.mod"))?;
    assert_eq!(go_mod, underscore);
    assert_eq!(read(&format!("{root}/bin/go"))?.1 & 0o777, 0o555);
    let (lookup, _) = read(&format!(
        "cache/download/sumdb/sum.golang.org/lookup/golang.org/toolchain@v0.0.1-{TOOLCHAIN}.linux-amd64"
    ))?;
    assert!(
        String::from_utf8_lossy(&lookup).contains(&format!(
            "golang.org/toolchain v0.0.1-{TOOLCHAIN}.linux-amd64 h1:"
        )),
        "{}",
        String::from_utf8_lossy(&lookup)
    );
    Ok(())
}

#[test]
#[ignore = "needs the internet: bigapp's modules from proxy.golang.org, checked against sum.golang.org"]
fn go_mod_verify_of_bigapp_passes_with_verification_on() -> Result<(), Box<dyn std::error::Error>> {
    let work = tempfile::tempdir()?;
    for f in ["go.mod", "go.sum", "main.go"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("testdata/bigapp")
                .join(f),
            work.path().join(f),
        )?;
    }
    let (store, mnt, logs) = (
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    );
    let mp = mount(
        store.path(),
        mnt.path(),
        Some(&real_proxy()),
        &logs.path().join("g.log"),
    );
    let out = go(work.path(), mnt.path(), "local")?.run(&["mod", "verify"])?;
    assert!(
        out.stdout.contains("all modules verified"),
        "{}",
        out.stderr
    );
    mp.stop()?;
    Ok(())
}
