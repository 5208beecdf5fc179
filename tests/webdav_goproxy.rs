//! The real `go` uses gomodfs as its module proxy (`GOPROXY=.../proxy/`):
//! downloads into a fresh, empty GOMODCACHE with every `Sum` equal to
//! go.sum, builds, and does it again with the upstream stopped.

mod common;

use gomodfs::webdav::{HttpOptions, HttpServer, ZipCacheOptions};
use gomodfs_testkit::{GoCmd, TestProxy, standard_fixture};
use std::collections::BTreeMap;
use std::sync::Arc;

/// `go mod download -json` output: (path, version) -> (Sum, GoModSum).
fn download_sums(out: &str) -> BTreeMap<(String, String), (String, String)> {
    let mut sums = BTreeMap::new();
    let de = serde_json::Deserializer::from_str(out).into_iter::<serde_json::Value>();
    for v in de {
        let v = v.expect("go mod download -json output is JSON");
        assert!(v.get("Error").is_none(), "go reported an error: {v}");
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned();
        sums.insert((s("Path"), s("Version")), (s("Sum"), s("GoModSum")));
    }
    sums
}

fn check_against_go_sum(
    sums: &BTreeMap<(String, String), (String, String)>,
    go_sum: &str,
) -> usize {
    let mut checked = 0;
    for line in go_sum.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [path, version, hash] = parts[..] else {
            panic!("bad go.sum line {line:?}");
        };
        let (version, is_mod) = match version.strip_suffix("/go.mod") {
            Some(v) => (v, true),
            None => (version, false),
        };
        let Some((sum, mod_sum)) = sums.get(&(path.to_owned(), version.to_owned())) else {
            // gamma v1.0.0 is in go.sum for its .mod only and is not in the
            // build list, so `go mod download` does not list it.
            continue;
        };
        let got = if is_mod { mod_sum } else { sum };
        assert_eq!(got, hash, "{path} {version} (go.mod: {is_mod})");
        checked += 1;
    }
    checked
}

#[test]
fn go_downloads_and_builds_through_the_goproxy_endpoint() -> Result<(), Box<dyn std::error::Error>>
{
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone())?;
    let work = tempfile::tempdir()?;
    let go_sum = fx.go_sum_via_go(&proxy.url(), work.path())?;
    let store = tempfile::tempdir()?;
    let fs = common::modfs(store.path(), Some(&proxy.url()));
    let options = HttpOptions {
        addr: "127.0.0.1:0".parse()?,
        ..Default::default()
    };
    let server = HttpServer::start(fs, &options)?;
    let goproxy = format!("http://{}/proxy/", server.local_addr());

    let run = |label: &str| -> Result<(), Box<dyn std::error::Error>> {
        let modcache = tempfile::Builder::new()
            .prefix("gomodfs-goproxy-modcache-")
            .tempdir()?;
        let go = || -> Result<GoCmd, gomodfs_testkit::TestkitError> {
            Ok(GoCmd::new(work.path())?
                .gomodcache(modcache.path())
                .goproxy(goproxy.clone()))
        };
        let out = go()?.run(&["mod", "download", "-json"])?;
        let sums = download_sums(&out.stdout);
        assert!(sums.len() >= 6, "{label}: too few modules: {sums:?}");
        let checked = check_against_go_sum(&sums, &go_sum);
        assert!(
            checked >= 10,
            "{label}: only {checked} go.sum lines checked"
        );
        go()?.run(&["build", "./..."])?;
        go()?.run(&["mod", "verify"])?;
        // go.sum unchanged: every hash we served matched.
        assert_eq!(
            std::fs::read_to_string(work.path().join("go.sum"))?,
            go_sum,
            "{label}"
        );
        Ok(())
    };
    run("upstream up")?;
    let zips = proxy.requests(".zip");
    assert!(zips >= 5, "expected zips fetched upstream, saw {zips}");

    // Upstream gone: every module is served from the store.
    proxy.stop();
    run("upstream stopped")?;
    server.stop();
    Ok(())
}

/// Bytes and count of the zips in the cache directory `dir`.
fn cached_zips(dir: &std::path::Path) -> (u64, usize) {
    let mut total = (0, 0);
    for e in std::fs::read_dir(dir).expect("zip cache directory") {
        let e = e.expect("zip cache entry");
        if e.file_name().to_string_lossy().ends_with(".zip") {
            total.0 += e.metadata().expect("metadata").len();
            total.1 += 1;
        }
    }
    total
}

/// Server settings on a free loopback port with a zip cache in `dir` of at
/// most `max_bytes`.
fn with_zip_cache(dir: &std::path::Path, max_bytes: u64) -> HttpOptions {
    HttpOptions {
        addr: ([127, 0, 0, 1], 0).into(),
        zip_cache: Some(ZipCacheOptions {
            dir: dir.to_owned(),
            max_bytes,
        }),
        ..Default::default()
    }
}

/// Waits until the zip cache in `dir` has no entry being written: an entry
/// is renamed into place right after its last byte was sent.
fn settled(dir: &std::path::Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let writing = || {
        std::fs::read_dir(dir)
            .expect("zip cache directory")
            .any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with(".tmp-")))
    };
    while writing() {
        assert!(std::time::Instant::now() < deadline, "entries never kept");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Names of the zips in the cache directory `dir`.
fn cached_names(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("zip cache directory")
        .map(|e| {
            e.expect("zip cache entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".zip"))
        .collect()
}

#[test]
fn go_downloads_through_the_zip_cache_which_stays_within_its_cap()
-> Result<(), Box<dyn std::error::Error>> {
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone())?;
    let work = tempfile::tempdir()?;
    let go_sum = fx.go_sum_via_go(&proxy.url(), work.path())?;
    let store = tempfile::tempdir()?;
    let cache_dir = tempfile::tempdir()?;
    let upstream = proxy.url();
    let start = |max_bytes: u64| -> Result<HttpServer, Box<dyn std::error::Error>> {
        let options = with_zip_cache(cache_dir.path(), max_bytes);
        Ok(HttpServer::start(
            common::modfs(store.path(), Some(&upstream)),
            &options,
        )?)
    };
    let download = |server: &HttpServer| -> Result<usize, Box<dyn std::error::Error>> {
        let modcache = tempfile::tempdir()?;
        let out = GoCmd::new(work.path())?
            .gomodcache(modcache.path())
            .goproxy(format!("http://{}/proxy/", server.local_addr()))
            .run(&["mod", "download", "-json"])?;
        let sums = download_sums(&out.stdout);
        Ok(check_against_go_sum(&sums, &go_sum))
    };

    // First download: every zip fetched for a request is kept as fetched
    // (upstream's bytes; nothing generated).
    let server = start(1 << 30)?;
    assert!(download(&server)? >= 10);
    settled(cache_dir.path());
    let (bytes, count) = cached_zips(cache_dir.path());
    assert!(count >= 5, "only {count} zips cached");
    let kept = cached_names(cache_dir.path());
    assert!(kept.iter().all(|n| n.ends_with(".f.zip")), "{kept:?}");
    // Now each is a hit, with its length, and upstream's very bytes.
    let mut hits = 0;
    for m in &fx.modules {
        let url = format!("/proxy/{}", m.url_path("zip").trim_start_matches('/'));
        let (status, head, body) = common::http_get(server.local_addr(), &url);
        if status != 200 || !head.contains("x-gomodfs-zip-cache: hit") {
            continue; // not in the build list, so not downloaded
        }
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        assert!(
            head.contains("-f\""),
            "the ETag of a zip as fetched: {head}"
        );
        assert_eq!(gomodfs_testkit::zip_h1(&body)?, m.h1(), "{url}");
        assert!(body == m.zip_bytes(), "{url}: not upstream's bytes");
        hits += 1;
    }
    assert_eq!(hits, count, "every cached zip is served from the cache");
    server.stop();

    // A new cache over the same (now full) store: nothing is fetched, so
    // each zip is generated once (a miss), kept, then a hit.
    let fresh_cache = tempfile::tempdir()?;
    let options = with_zip_cache(fresh_cache.path(), 1 << 30);
    let server = HttpServer::start(common::modfs(store.path(), Some(&upstream)), &options)?;
    let m = fx
        .modules
        .iter()
        .find(|m| {
            let entry = format!(
                "{}@{}.",
                m.escaped_path().replace('/', "+"),
                m.escaped_version()
            );
            kept.iter().any(|k| k.starts_with(&entry))
        })
        .ok_or("no fixture module among the kept zips")?;
    let url = format!("/proxy/{}", m.url_path("zip").trim_start_matches('/'));
    let (status, head, body) = common::http_get(server.local_addr(), &url);
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("x-gomodfs-zip-cache: miss"), "{head}");
    assert_eq!(gomodfs_testkit::zip_h1(&body)?, m.h1(), "{url}");
    settled(fresh_cache.path());
    let (_, head, again) = common::http_get(server.local_addr(), &url);
    assert!(head.contains("x-gomodfs-zip-cache: hit"), "{head}");
    assert!(
        head.contains("-z1\""),
        "the ETag of a generated zip: {head}"
    );
    assert!(again == body, "a generated zip is kept as sent");
    let generated = cached_names(fresh_cache.path());
    assert!(
        generated.len() == 1 && generated[0].ends_with(".z1.zip"),
        "{generated:?}"
    );
    server.stop();

    // Upstream gone, a cap below what is cached: the cache shrinks to it at
    // start, and go still gets every zip with the go.sum hashes.
    proxy.stop();
    let cap = bytes / 2;
    let server = start(cap)?;
    assert!(cached_zips(cache_dir.path()).0 <= cap);
    assert!(download(&server)? >= 10);
    let (after, left) = cached_zips(cache_dir.path());
    assert!(
        after <= cap && left >= 1,
        "{after} bytes in {left} zips, cap {cap}"
    );
    server.stop();
    Ok(())
}

#[test]
fn a_first_zip_request_is_answered_before_the_store_has_written_the_module()
-> Result<(), Box<dyn std::error::Error>> {
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone())?;
    let store = Arc::new(gomodfs_testkit::gated::GatedStore::new());
    store.modules().shut();
    let upstream = gomodfs::core::proxy::Upstream::new(common::test_upstream_config(&proxy.url()))?;
    let fs = Arc::new(gomodfs::core::ModFs::new(
        store.clone(),
        Some(upstream),
        gomodfs::core::ModFsOptions::default(),
    )?);
    let cache = tempfile::tempdir()?;
    let options = with_zip_cache(cache.path(), 1 << 30);
    let server = HttpServer::start(fs, &options)?;
    let m = &fx.modules[0];
    let url = format!("/proxy/{}", m.url_path("zip").trim_start_matches('/'));
    let (status, head, body) = common::http_get(server.local_addr(), &url);
    let mv = gomodfs::core::ModuleVersion::new(m.path(), m.version())?;
    let stored_then = gomodfs::core::Store::module(store.as_ref(), &mv)?.is_some();
    store.modules().open();
    assert_eq!(status, 200, "{head}");
    assert!(!stored_then, "the put was held, yet the module was stored");
    assert!(head.contains("x-gomodfs-zip-cache: fetched"), "{head}");
    assert!(body == m.zip_bytes(), "not upstream's bytes");
    // The put goes on behind the answer and ends with the module stored.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while gomodfs::core::Store::module(store.as_ref(), &mv)?.is_none() {
        assert!(std::time::Instant::now() < deadline, "never stored");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    server.stop();
    Ok(())
}

#[test]
fn a_zip_that_fails_to_download_or_validate_is_neither_sent_nor_kept()
-> Result<(), Box<dyn std::error::Error>> {
    let good = gomodfs_testkit::ModuleSpec::new("example.com/good", "v1.0.0")
        .file("good.go", "package good\n");
    let proxy = TestProxy::start_with([good.clone()])?;
    // Every zip go rejects, a truncated body, a 500 and a stall.
    let cases = gomodfs_testkit::add_failing_modules(&proxy, "v1.0.0");
    let (store, cache) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let server = HttpServer::start(
        common::modfs(store.path(), Some(&proxy.url())),
        &with_zip_cache(cache.path(), 1 << 30),
    )?;
    for path in &cases {
        let url = format!("/proxy/{path}/@v/v1.0.0.zip");
        let (status, head, _) = common::http_get(server.local_addr(), &url);
        assert!(status >= 400, "{path}: {head}");
        settled(cache.path());
        assert!(
            cached_names(cache.path()).is_empty(),
            "{path}: a failed zip was kept: {:?}",
            cached_names(cache.path())
        );
    }
    // Still serving, and a good zip is sent as fetched and kept.
    let url = format!("/proxy/{}", good.url_path("zip").trim_start_matches('/'));
    let (status, head, body) = common::http_get(server.local_addr(), &url);
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("x-gomodfs-zip-cache: fetched"), "{head}");
    assert!(body == good.zip_bytes(), "not upstream's bytes");
    settled(cache.path());
    assert_eq!(cached_names(cache.path()).len(), 1);
    server.stop();
    Ok(())
}
