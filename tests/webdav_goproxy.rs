//! The real `go` uses gomodfs as its module proxy (`GOPROXY=.../proxy/`):
//! downloads into a fresh, empty GOMODCACHE with every `Sum` equal to
//! go.sum, builds, and does it again with the upstream stopped.

mod common;

use gomodfs::webdav::{HttpOptions, HttpServer};
use gomodfs_testkit::{GoCmd, TestProxy, standard_fixture};
use std::collections::BTreeMap;

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
