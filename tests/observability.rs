//! Status JSON, Prometheus metrics and the status page after real `go` builds
//! through a mount.

mod common;

use common::{Mounted, http_get};
use gomodfs::debug::DebugServer;
use gomodfs_testkit::{GoCmd, TestProxy, standard_fixture};
use serde_json::Value;
use std::process::Command;

fn status(addr: std::net::SocketAddr) -> Value {
    let (code, head, body) = http_get(addr, "/status.json");
    assert_eq!(code, 200, "{head}");
    assert!(head.contains("application/json"), "{head}");
    serde_json::from_slice(&body).expect("status JSON")
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

#[test]
fn builds_show_downloads_counted_ops_and_cache_hits() -> Result<(), Box<dyn std::error::Error>> {
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone())?;
    let work = tempfile::tempdir()?;
    fx.go_sum_via_go(&proxy.url(), work.path())?;
    // Count only what gomodfs asks for, not go's own downloads above.
    proxy.reset_log();
    let store = tempfile::tempdir()?;
    let m = Mounted::new(store.path(), Some(&proxy.url()));
    let debug = DebugServer::start(m.fs.clone(), "127.0.0.1:0".parse()?)?;
    let build = |gocache: &std::path::Path| -> Result<(), gomodfs_testkit::TestkitError> {
        GoCmd::new(work.path())?
            .gomodcache(m.path())
            .gocache(gocache)
            .goflags("-mod=mod")
            .run(&["build", "./..."])
            .map(|_| ())
    };
    let first_cache = tempfile::tempdir()?;
    build(first_cache.path())?;

    let s = status(debug.addr());
    let zips = proxy.requests(".zip") as u64;
    assert!(zips >= 5);
    assert_eq!(
        s["ops"]["fetch_module"]["ended"].as_u64(),
        Some(zips),
        "{s:#}"
    );
    assert_eq!(s["ops"]["fetch_module"]["errors"].as_u64(), Some(0));
    assert!(
        s["ops"]["lookup"]["started"].as_u64().unwrap_or(0) > 20,
        "{s:#}"
    );
    // Files are read without OPEN round trips (FUSE_NO_OPEN_SUPPORT), so
    // reads, not opens, show the files go read.
    assert!(
        s["ops"]["read"]["started"].as_u64().unwrap_or(0) > 5,
        "{s:#}"
    );
    assert!(s["bytes_fetched"].as_u64().unwrap_or(0) > 1000);
    let downloads = s["recent_downloads"].as_array().ok_or("recent_downloads")?;
    assert!(
        downloads
            .iter()
            .any(|d| d["what"] == "zip" && d["result"] == "ok")
    );
    assert_eq!(s["store"]["modules"].as_u64(), Some(zips));
    assert!(s["store"]["bytes"].as_u64().unwrap_or(0) > 0);

    let (code, head, body) = http_get(debug.addr(), "/metrics");
    assert_eq!(code, 200);
    assert!(head.contains("text/plain"), "{head}");
    let text = String::from_utf8(body)?;
    assert_eq!(
        metric(&text, "gomodfs_operations_ended_total{op=\"fetch_module\"}"),
        zips as f64
    );
    assert!(metric(&text, "gomodfs_operations_started_total{op=\"lookup\"}") > 20.0);
    assert!(metric(&text, "gomodfs_fetched_bytes_total") > 1000.0);
    assert!(text.contains("gomodfs_operation_duration_seconds_bucket{le=\"+Inf\",op=\"open\"}"));

    // A second build with a cold go build cache reads every source again:
    // nothing is downloaded and no module tree is parsed again.
    let before = status(debug.addr());
    let second_cache = tempfile::tempdir()?;
    build(second_cache.path())?;
    let after = status(debug.addr());
    for (what, path) in [
        ("downloads", "/ops/fetch_module/started"),
        ("meta downloads", "/ops/fetch_meta/started"),
        ("module cache misses", "/module_cache/misses"),
    ] {
        assert_eq!(
            before.pointer(path),
            after.pointer(path),
            "{what} changed in the second build"
        );
    }
    // A file read whole is the kernel's page cache's to keep, not the blob
    // cache's (see `ModFs::piece`): the second build's sources come from
    // the page cache. The kernel may drop a page or an inode between the
    // builds (CI once saw one file read again), so a few misses are
    // allowed; a page cache that kept nothing would miss every file again.
    let misses = |s: &Value| {
        s.pointer("/blob_cache/misses")
            .and_then(|v| v.as_u64())
            .ok_or("blob_cache misses")
    };
    let (first, again) = (
        misses(&before)?,
        misses(&after)?.saturating_sub(misses(&before)?),
    );
    assert!(
        first >= 5,
        "the first build read {first} files from the store"
    );
    assert!(
        again * 4 <= first,
        "the second build read {again} files from the store again (first build: {first})"
    );
    assert_eq!(proxy.requests(".zip") as u64, zips);
    drop(debug);
    m.unmount();
    Ok(())
}

#[test]
fn status_page_loads_in_chromium_without_console_errors() -> Result<(), Box<dyn std::error::Error>>
{
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok())
        .expect("the status page test needs Chromium: apt-get install chromium");
    let spec =
        gomodfs_testkit::ModuleSpec::new("example.com/page", "v1.0.0").file("a.go", "package a\n");
    let proxy = TestProxy::start_with([spec.clone()])?;
    let store = tempfile::tempdir()?;
    let m = Mounted::new(store.path(), Some(&proxy.url()));
    std::fs::read(m.path().join(spec.cache_dir_name()).join("a.go"))?;
    let debug = DebugServer::start(m.fs.clone(), "127.0.0.1:0".parse()?)?;
    let profile = tempfile::tempdir()?;
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("http://{}/", debug.addr()))
        .output()?;
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {log}");
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    // The script ran and filled in live numbers from /status.json.
    let value = |id: &str| -> String {
        let marker = format!("id=\"{id}\">");
        dom.split(&marker)
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .unwrap_or("")
            .to_owned()
    };
    assert!(
        value("requests").parse::<u64>().is_ok_and(|n| n > 0),
        "requests: {:?}",
        value("requests")
    );
    assert_eq!(value("modules"), "1");
    assert!(
        value("downloads").starts_with("1 "),
        "downloads: {:?}",
        value("downloads")
    );
    assert!(dom.contains("example.com/page"), "recent downloads table");
    assert!(
        dom.contains("<polyline") || dom.contains("collecting samples"),
        "plots drawn"
    );
    drop(debug);
    m.unmount();
    Ok(())
}

#[test]
fn gomodfs_status_reads_a_mount_and_a_debug_server() -> Result<(), Box<dyn std::error::Error>> {
    let spec =
        gomodfs_testkit::ModuleSpec::new("example.com/st", "v1.0.0").file("a.go", "package a\n");
    let proxy = TestProxy::start_with([spec.clone()])?;
    let (store, mnt, logs) = (
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    );
    let log = logs.path().join("mount.log");
    let mp = common::start_mount(
        store.path(),
        mnt.path(),
        Some(&proxy.url()),
        &log,
        &["--debug-addr", "127.0.0.1:0"],
    );
    std::fs::read(mnt.path().join(spec.cache_dir_name()).join("a.go"))?;
    let status = |target: &str, json: bool| {
        let mut cmd = Command::new(common::gomodfs_bin());
        cmd.arg("status").arg(target);
        if json {
            cmd.arg("--json");
        }
        cmd.output().expect("run gomodfs status")
    };

    let out = status(&mnt.path().to_string_lossy(), false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    assert!(text.contains("downloads: 1 modules (0 failed"), "{text}");
    assert!(text.contains("store: 1 modules"), "{text}");
    // The mount takes io_uring where the kernel's switch is on (or
    // GOMODFS_FUSE_IO_URING says so): the status names what it said.
    let transport = if mp.log_text().contains(", FUSE over io_uring") {
        "io_uring"
    } else {
        "/dev/fuse"
    };
    let served = format!(
        "served: FUSE at {} over {transport}\n",
        mnt.path().display()
    );
    assert!(text.contains(&served), "no {served:?} in:\n{text}");

    let log_text = std::fs::read_to_string(&log)?;
    let url = log_text
        .split("status page at ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or_else(|| format!("no status page address in:\n{log_text}"))?
        .trim_end_matches('/')
        .to_owned();
    let out = status(&url, true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(json["filesystem"], "gomodfs");

    // Not a mount: a clear error and a non-zero exit, never a panic.
    let out = status(&logs.path().to_string_lossy(), false);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is gomodfs mounted there?"));
    mp.stop().expect("gomodfs exits cleanly");
    Ok(())
}

/// A clean `go mod verify` through a mount is all success and routine
/// not-found answers (go probes `.partial`, `.zip`, `.lock`): every report
/// (status JSON, /metrics, `gomodfs status`, the page's history) says 0
/// errors and a non-zero not-found count.
#[test]
fn clean_go_mod_verify_reports_no_errors_only_not_found() -> Result<(), Box<dyn std::error::Error>>
{
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone())?;
    let work = tempfile::tempdir()?;
    fx.go_sum_via_go(&proxy.url(), work.path())?;
    let store = tempfile::tempdir()?;
    let m = Mounted::new(store.path(), Some(&proxy.url()));
    let debug = DebugServer::start(m.fs.clone(), "127.0.0.1:0".parse()?)?;
    let gocache = tempfile::tempdir()?;
    let verify = GoCmd::new(work.path())?
        .gomodcache(m.path())
        .gocache(gocache.path())
        .goproxy("off")
        .goflags("-mod=mod")
        .run(&["mod", "verify"])?;
    assert!(
        verify.stdout.contains("all modules verified"),
        "{}",
        verify.stderr
    );

    let s = status(debug.addr());
    let ops = s["ops"].as_object().ok_or("ops")?;
    let sum = |field: &str| -> u64 { ops.values().map(|o| o[field].as_u64().unwrap_or(0)).sum() };
    assert_eq!(sum("errors"), 0, "{s:#}");
    assert!(sum("not_found") > 0, "{s:#}");
    assert!(
        ops["lookup"]["not_found"].as_u64().unwrap_or(0) > 0,
        "{s:#}"
    );
    assert_eq!(
        s["recent_errors"].as_array().map(Vec::len),
        Some(0),
        "{s:#}"
    );
    assert!(
        s["recent_downloads"]
            .as_array()
            .ok_or("recent_downloads")?
            .iter()
            .all(|d| d["outcome"] != "error" && d["outcome"].is_string()),
        "{s:#}"
    );

    let (_, _, body) = http_get(debug.addr(), "/metrics");
    let text = String::from_utf8(body)?;
    assert_eq!(
        metric(&text, "gomodfs_operation_errors_total{op=\"lookup\"}"),
        0.0
    );
    assert!(metric(&text, "gomodfs_operation_not_found_total{op=\"lookup\"}") > 0.0);

    let (_, _, body) = http_get(debug.addr(), "/history.json");
    let history: Value = serde_json::from_slice(&body)?;
    let last = history.as_array().and_then(|h| h.last()).ok_or("history")?;
    assert_eq!(last["errors"].as_u64(), Some(0), "{last}");
    assert!(last["not_found"].as_u64().unwrap_or(0) > 0, "{last}");

    let out = Command::new(common::gomodfs_bin())
        .arg("status")
        .arg(m.path())
        .output()?;
    let text = String::from_utf8(out.stdout)?;
    assert!(text.contains(" (0 errors, "), "{text}");
    assert!(!text.contains(", 0 not found)"), "{text}");
    drop(debug);
    m.unmount();
    Ok(())
}

/// The status names a FUSE mount while it serves, with its transport, and
/// no longer once it is unmounted from outside (`fusermount3 -u`), though
/// the process and its `Mount` live on (as under `gomodfs serve`).
#[test]
fn the_status_drops_a_mount_unmounted_from_outside() -> Result<(), Box<dyn std::error::Error>> {
    let store = tempfile::tempdir()?;
    let m = Mounted::new(store.path(), None);
    let transport = if m
        .mount
        .as_ref()
        .and_then(|m| m.io_uring_requests())
        .is_some()
    {
        "io_uring"
    } else {
        "/dev/fuse"
    };
    let named = |m: &Mounted| -> Vec<(String, String, Option<String>)> {
        m.fs.status()
            .frontends
            .into_iter()
            .map(|f| (f.kind, f.at, f.transport))
            .collect()
    };
    let at = m.path().display().to_string();
    assert_eq!(
        named(&m),
        [("fuse".to_owned(), at, Some(transport.to_owned()))]
    );
    let out = Command::new("fusermount3")
        .arg("-u")
        .arg(m.path())
        .output()?;
    assert!(out.status.success(), "fusermount3 -u: {out:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !m.mount.as_ref().is_some_and(|m| m.is_ended()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the session did not end"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The session's thread lets go of the mount's state as it ends.
    while !named(&m).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "still named after the unmount: {:?}",
            named(&m)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    m.unmount();
    Ok(())
}
