//! The standard fixture, served by the TestProxy, is downloadable, buildable,
//! testable and verifiable by the real `go`; and our h1 oracle agrees with
//! the hashes `go` writes into go.sum.
#![allow(clippy::unwrap_used, missing_docs)]

use gomodfs_testkit::fixture::{EXOTIC_FILES, STANDARD_OUTPUT};
use gomodfs_testkit::{Fault, GoCmd, Hostile, ModuleSpec, TestProxy, standard_fixture, zip_h1};
use std::path::Path;

fn check_exotic_files(modcache: &Path) {
    let fx = standard_fixture();
    let m = fx
        .module("example.com/CamelCase/Mod", "v1.2.3-Beta.1")
        .unwrap();
    let dir = modcache.join(m.cache_dir_name());
    assert_eq!(
        m.cache_dir_name(),
        "example.com/!camel!case/!mod@v1.2.3-!beta.1"
    );
    for f in EXOTIC_FILES {
        let p = dir.join(f);
        assert_eq!(std::fs::read(&p).unwrap(), m.files()[f], "{}", p.display());
    }
    assert!(dir.join("Upper/Pkg/pkg.go").is_file());
    let deep = fx.module("example.com/deep", "v1.0.0").unwrap();
    assert!(
        modcache
            .join(deep.cache_dir_name())
            .join("a/b/c/d/e/f/g/h/i/j/k/leaf/leaf.go")
            .is_file()
    );
    // +incompatible: the zip has no go.mod; the cached .mod is synthesized.
    let legacy = modcache.join("example.com/legacy@v2.1.0+incompatible");
    assert!(legacy.join("legacy.go").is_file());
    assert!(!legacy.join("go.mod").exists());
    assert_eq!(
        std::fs::read_to_string(
            modcache.join("cache/download/example.com/legacy/@v/v2.1.0+incompatible.mod")
        )
        .unwrap(),
        "module example.com/legacy\n"
    );
}

#[test]
fn standard_fixture_builds_tests_and_verifies_with_real_go() {
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone()).unwrap();
    let work = tempfile::tempdir().unwrap();

    // go.sum via the real go, and our oracle agrees with it.
    let sum = fx.go_sum_via_go(&proxy.url(), work.path()).unwrap();
    assert_eq!(sum, fx.go_sum_expected(), "go.sum from go vs testkit h1");

    // Now in a fresh module cache, download, build, test, verify, run.
    let modcache = tempfile::tempdir().unwrap();
    let go = GoCmd::new(work.path())
        .unwrap()
        .gomodcache(modcache.path())
        .goproxy(proxy.url());
    proxy.reset_log();
    go.run(&["mod", "download", "all"]).unwrap();
    assert!(proxy.total_requests() > 0);
    // gamma v1.0.0 is needed for its .mod only: go never fetches its zip.
    let gamma0 = fx.module("example.com/gamma", "v1.0.0").unwrap();
    assert_eq!(
        proxy.requests(&gamma0.url_path("zip")),
        0,
        "{:#?}",
        proxy.request_log()
    );
    assert_eq!(
        proxy.requests(&gamma0.url_path("mod")),
        1,
        "{:#?}",
        proxy.request_log()
    );
    let recs = proxy.request_records();
    assert!(
        recs.iter().any(|r| r.raw_path.contains("%21camel%21case")),
        "{recs:#?}"
    );
    assert!(
        recs.iter().all(|r| !r.absolute_form && r.status == 200),
        "{recs:#?}"
    );
    let camel = fx
        .module("example.com/CamelCase/Mod", "v1.2.3-Beta.1")
        .unwrap();
    assert_eq!(
        proxy.requests("/example.com/!camel!case/!mod/@v/v1.2.3-!beta.1.zip"),
        1
    );
    assert_eq!(proxy.requests(&camel.url_path("zip")), 1);
    check_exotic_files(modcache.path());

    // From here on, everything is offline: the proxy is gone.
    let url = proxy.url();
    proxy.stop();
    let go = go.goproxy("off");
    go.run(&["build", "./..."]).unwrap();
    let out = go.run(&["test", "./..."]).unwrap();
    assert!(out.stdout.contains("ok"), "{}", out.stdout);
    let out = go.run(&["mod", "verify"]).unwrap();
    assert!(
        out.stdout.contains("all modules verified"),
        "{}",
        out.stdout
    );
    let out = go.run(&["run", "."]).unwrap();
    assert_eq!(out.stdout, STANDARD_OUTPUT);
    // And the proxy really is gone.
    let err = GoCmd::new(work.path())
        .unwrap()
        .gomodcache(tempfile::tempdir().unwrap().path())
        .goproxy(url)
        .run(&["mod", "download", "all"])
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("connection refused"), "{msg}");
    assert!(msg.contains("mod download all"), "{msg}");
}

#[test]
fn real_go_verdicts_on_hostile_zips() {
    // Ground truth for the validation rules: which hostile zips go refuses.
    let proxy = TestProxy::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("go.mod"), "module m\n\ngo 1.21\n").unwrap();
    let mut wrong = Vec::new();
    for h in Hostile::ALL {
        let path = format!("example.com/h{}", format!("{h:?}").to_lowercase());
        proxy.add(ModuleSpec::new(path.clone(), "v1.0.0"));
        proxy.set_fault(&path, "v1.0.0", "zip", Fault::Body(h.zip(&path, "v1.0.0")));
        let out = GoCmd::new(work.path())
            .unwrap()
            .gomodcache(work.path().join(format!("mc-{h:?}")))
            .goproxy(proxy.url())
            .output(&["mod", "download", &format!("{path}@v1.0.0")])
            .unwrap();
        if out.success() == h.go_rejects() {
            wrong.push(format!(
                "{h:?}: go success={} {}",
                out.success(),
                out.stderr
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn directory_entries_change_the_hash_go_records() {
    let m = ModuleSpec::new("example.com/dirs", "v1.0.0").file("a/b/c.go", "package c\n");
    let zip = m.zip_bytes_with_dir_entries();
    let proxy = TestProxy::start_with([m.clone()]).unwrap();
    proxy.set_fault(m.path(), m.version(), "zip", Fault::Body(zip.clone()));
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("go.mod"), "module m\n\ngo 1.21\n").unwrap();
    let out = GoCmd::new(work.path())
        .unwrap()
        .gomodcache(work.path().join("mc"))
        .goproxy(proxy.url())
        .run(&["mod", "download", "-json", "example.com/dirs@v1.0.0"])
        .unwrap();
    let want = format!("\"Sum\": \"{}\"", zip_h1(&zip).unwrap());
    assert!(out.stdout.contains(&want), "{} vs {want}", out.stdout);
    assert_ne!(zip_h1(&zip).unwrap(), m.h1());
}

#[test]
fn go_through_http_proxy_uses_absolute_form() {
    // go does not proxy requests to loopback addresses, so name a host that
    // does not resolve: only the forward proxy can answer.
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone()).unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("go.mod"), "module m\n\ngo 1.21\n").unwrap();
    GoCmd::new(work.path())
        .unwrap()
        .gomodcache(work.path().join("modcache"))
        .goproxy("http://goproxy.invalid")
        .env("HTTP_PROXY", proxy.url())
        .run(&["mod", "download", "-json", "example.com/deep@v1.0.0"])
        .unwrap();
    assert!(proxy.absolute_form_requests() >= 1);
    let recs = proxy.request_records();
    assert!(
        recs.iter()
            .all(|r| r.absolute_form && r.host.as_deref() == Some("goproxy.invalid")),
        "{recs:#?}"
    );
    assert_eq!(proxy.requests("/example.com/deep/@v/v1.0.0.zip"), 1);
}
