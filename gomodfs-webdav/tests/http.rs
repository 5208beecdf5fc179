//! The HTTP server in-process, checked with curl: WebDAV GET/HEAD headers,
//! conditional requests, ranges, PROPFIND, refusal of writes, the status
//! JSON and the GOPROXY endpoint (including with the upstream stopped).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gomodfs_core::proxy::{Upstream, UpstreamConfig};
use gomodfs_core::store::GitStore;
use gomodfs_core::{ModFs, ModFsOptions, ModuleVersion};
use gomodfs_testkit::{Fault, ModuleSpec, TestProxy, standard_fixture, zip_h1};
use gomodfs_webdav::{HttpOptions, HttpServer};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

struct Reply {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
            .unwrap_or("")
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Runs curl (failing, never skipping, when it is missing).
fn curl(args: &[&str], url: &str) -> Reply {
    let dir = tempfile::tempdir().unwrap();
    let (h, b) = (dir.path().join("h"), dir.path().join("b"));
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "60", "-o"])
        .arg(&b)
        .arg("-D")
        .arg(&h)
        .args(["-w", "%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("these tests need curl on PATH (apt-get install curl)");
    assert!(
        out.status.success(),
        "curl {args:?} {url} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: u16 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let raw = std::fs::read_to_string(&h).unwrap_or_default();
    // The last header block (curl writes one per response, e.g. after 100).
    let block = raw.trim_end().rsplit("\r\n\r\n").next().unwrap_or("");
    let headers = block
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: std::fs::read(&b).unwrap_or_default(),
    }
}

fn modfs(store: &Path, proxy: Option<&str>) -> Arc<ModFs> {
    let upstream = proxy.map(|u| {
        let mut cfg = UpstreamConfig::with_proxy(u);
        cfg.retries = 1;
        cfg.retry_backoff = Duration::from_millis(10);
        cfg.idle_timeout = Duration::from_secs(2);
        cfg.connect_timeout = Duration::from_secs(2);
        Upstream::new(cfg).unwrap()
    });
    let store = GitStore::open(store).unwrap();
    Arc::new(ModFs::new(Arc::new(store), upstream, ModFsOptions::default()).unwrap())
}

fn server(fs: Arc<ModFs>) -> (HttpServer, String) {
    let opts = HttpOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
        ..HttpOptions::default()
    };
    let s = HttpServer::start(fs, &opts).unwrap();
    let base = format!("http://{}", s.local_addr());
    (s, base)
}

fn camel() -> ModuleSpec {
    standard_fixture()
        .module("example.com/CamelCase/Mod", "v1.2.3-Beta.1")
        .unwrap()
        .clone()
}

#[test]
fn webdav_get_head_conditional_range_and_types() {
    let spec = camel();
    let proxy = TestProxy::start_with([spec.clone()]).unwrap();
    let store = tempfile::tempdir().unwrap();
    let (_srv, base) = server(modfs(store.path(), Some(&proxy.url())));
    let dl = format!(
        "{base}/cache/download/{}/@v/{}",
        spec.escaped_path(),
        spec.escaped_version()
    );

    for ext in ["mod", "info", "ziphash"] {
        let r = curl(&[], &format!("{dl}.{ext}"));
        assert_eq!(r.status, 200, "{ext}: {}", r.text());
        assert_eq!(
            r.header("content-type"),
            "text/plain; charset=utf-8",
            "{ext}"
        );
        assert!(r.header("cache-control").contains("immutable"), "{ext}");
        assert!(r.header("etag").starts_with('"'), "{ext}");
        assert!(!r.header("last-modified").is_empty(), "{ext}");
        assert_eq!(r.header("accept-ranges"), "bytes");
        let want = match ext {
            "mod" => spec.mod_bytes(),
            "info" => spec.info_bytes(),
            _ => spec.h1().into_bytes(),
        };
        assert_eq!(r.body, want, "{ext}");
        assert_eq!(r.header("content-length"), want.len().to_string());
    }

    // A file in the module tree.
    let file = format!("{base}/{}/name%20with%20spaces.txt", spec.cache_dir_name());
    let r = curl(&[], &file);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, spec.files()["name with spaces.txt"]);
    let etag = r.header("etag").to_owned();
    let lm = r.header("last-modified").to_owned();

    // Conditional requests.
    let r = curl(&["-H", &format!("If-None-Match: {etag}")], &file);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), etag);
    let r = curl(&["-H", &format!("If-Modified-Since: {lm}")], &file);
    assert_eq!(r.status, 304);
    let r = curl(&["-H", "If-None-Match: \"other\""], &file);
    assert_eq!(r.status, 200);
    let r = curl(&["-H", "If-Match: \"other\""], &file);
    assert_eq!(r.status, 412);

    // Ranges.
    let whole = spec.files()["name with spaces.txt"].clone();
    let r = curl(&["-H", "Range: bytes=2-5"], &file);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, whole[2..6]);
    assert_eq!(
        r.header("content-range"),
        format!("bytes 2-5/{}", whole.len())
    );
    let r = curl(&["-H", "Range: bytes=-3"], &file);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, whole[whole.len() - 3..]);
    let r = curl(
        &["-H", &format!("Range: bytes={}-", whole.len() + 10)],
        &file,
    );
    assert_eq!(r.status, 416);
    let r = curl(
        &["-H", "Range: bytes=0-1", "-H", "If-Range: \"stale\""],
        &file,
    );
    assert_eq!(r.status, 200, "If-Range mismatch must send everything");
    let r = curl(
        &["-H", "Range: bytes=0-1", "-H", &format!("If-Range: {etag}")],
        &file,
    );
    assert_eq!(r.status, 206);

    // HEAD: headers only.
    let r = curl(&["-I"], &file);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), whole.len().to_string());

    // Missing names are 404; .zip and .partial do not exist in the namespace.
    for missing in [
        format!("{dl}.zip"),
        format!("{dl}.partial"),
        format!("{base}/{}/nope.go", spec.cache_dir_name()),
        format!("{base}/.DS_Store"),
    ] {
        assert_eq!(curl(&[], &missing).status, 404, "{missing}");
    }

    // The status file and the status JSON change: no validators.
    let r = curl(&[], &format!("{base}/.gomodfs-status"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), "no-cache");
    assert_eq!(r.header("content-type"), "application/json");
    assert!(r.header("etag").is_empty());
    let r = curl(&[], &format!("{base}/status.json"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/json");
    let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(json.get("uptime").is_some(), "{json}");
    // Prometheus metrics on the same server (issue 5).
    let r = curl(&[], &format!("{base}/metrics"));
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").starts_with("text/plain"));
    let text = String::from_utf8(r.body.clone()).unwrap();
    assert!(
        text.contains("gomodfs_operations_started_total{op=\"resolve\"}"),
        "{text}"
    );
}

#[test]
fn the_status_names_webdav_and_the_goproxy_endpoint() {
    let store = tempfile::tempdir().unwrap();
    let fs = modfs(store.path(), None);
    let (srv, base) = server(fs.clone());
    let named: Vec<(String, String)> = fs
        .status()
        .frontends
        .into_iter()
        .map(|f| (f.kind, f.at))
        .collect();
    assert_eq!(
        named,
        [
            ("webdav".to_owned(), format!("{base}/")),
            ("goproxy".to_owned(), format!("{base}/proxy/")),
        ]
    );
    // And so does the status file the server itself serves.
    let status = curl(&[], &format!("{base}/.gomodfs-status"));
    assert!(status.text().contains("\"goproxy\""), "{}", status.text());
    drop(srv);
    assert_eq!(fs.status().frontends, []);
}

#[test]
fn webdav_refuses_writes() {
    let spec = camel();
    let proxy = TestProxy::start_with([spec.clone()]).unwrap();
    let store = tempfile::tempdir().unwrap();
    let (_srv, base) = server(modfs(store.path(), Some(&proxy.url())));
    let file = format!("{base}/{}/go.mod", spec.cache_dir_name());
    assert_eq!(curl(&[], &file).status, 200);
    let cases: [(&str, &[&str], String); 9] = [
        ("PUT", &["--data-binary", "x"], file.clone()),
        ("PUT", &["--data-binary", "x"], format!("{base}/new.txt")),
        ("DELETE", &[], file.clone()),
        ("MKCOL", &[], format!("{base}/newdir/")),
        ("MOVE", &["-H", "Destination: /x"], file.clone()),
        ("COPY", &["-H", "Destination: /x"], file.clone()),
        ("PROPPATCH", &["--data-binary", "<x/>"], file.clone()),
        ("LOCK", &["--data-binary", "<x/>"], file.clone()),
        (
            "POST",
            &["--data-binary", "x"],
            format!("{base}/proxy/x/@v/list"),
        ),
    ];
    for (method, extra, url) in cases {
        let mut args = vec!["-X", method];
        args.extend_from_slice(extra);
        let r = curl(&args, &url);
        assert!(
            r.status == 405 || r.status == 403,
            "{method} {url}: {} {}",
            r.status,
            r.text()
        );
    }
    // Still there and unchanged.
    assert_eq!(curl(&[], &file).body, spec.mod_bytes());
    // OPTIONS advertises class 1 only (no locks): clients mount read-only.
    let r = curl(&["-X", "OPTIONS"], &format!("{base}/"));
    assert_eq!(r.status, 200);
    assert!(!r.header("dav").contains('2'), "DAV: {}", r.header("dav"));
}

/// A server over a fresh store that fetches [`camel`] from a test proxy.
struct CamelServer {
    spec: ModuleSpec,
    fs: Arc<ModFs>,
    base: String,
    _srv: HttpServer,
    _store: tempfile::TempDir,
    _proxy: TestProxy,
}

fn camel_server() -> CamelServer {
    let spec = camel();
    let proxy = TestProxy::start_with([spec.clone()]).unwrap();
    let store = tempfile::tempdir().unwrap();
    let fs = modfs(store.path(), Some(&proxy.url()));
    let (srv, base) = server(fs.clone());
    CamelServer {
        spec,
        fs,
        base,
        _srv: srv,
        _store: store,
        _proxy: proxy,
    }
}

#[test]
fn webdav_propfind_lists_module_directory_exactly() {
    // Every field bound: `..` would drop the server and proxy at once.
    let CamelServer {
        spec,
        fs,
        base,
        _srv,
        _store,
        _proxy,
    } = camel_server();
    let dir = spec.cache_dir_name();
    let r = curl(
        &["-X", "PROPFIND", "-H", "Depth: 1"],
        &format!("{base}/{dir}/"),
    );
    assert_eq!(r.status, 207, "{}", r.text());
    let xml = r.text();
    let hrefs: Vec<String> = xml
        .split("<D:href>")
        .skip(1)
        .filter_map(|s| s.split_once("</D:href>").map(|(h, _)| h.to_owned()))
        .collect();
    let names: Vec<String> = hrefs
        .iter()
        .map(|h| {
            let decoded = dav_server_decode(h);
            decoded
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    // The directory itself, then each child exactly once.
    let attr = fs.resolve(&dir).unwrap();
    let mut want: Vec<String> = fs
        .readdir_plus(attr.id)
        .unwrap()
        .into_iter()
        .map(|(e, _)| e.name)
        .collect();
    want.insert(0, dir.rsplit('/').next().unwrap().to_owned());
    let mut got = names.clone();
    got[1..].sort();
    want[1..].sort();
    assert_eq!(got, want, "{xml}");
    // Files at the root of the tree as in the zip: go.mod, .hidden, ...
    for f in [".hidden", "go.mod", "name with spaces.txt", "docs", "Upper"] {
        assert!(names.iter().any(|n| n == f), "{f} missing: {names:?}");
    }
    assert!(!xml.contains("video/mpeg"), "{xml}");

    // .mod in the download cache: text, not video/mpeg.
    let r = curl(
        &["-X", "PROPFIND", "-H", "Depth: 1"],
        &format!("{base}/cache/download/{}/@v/", spec.escaped_path()),
    );
    assert_eq!(r.status, 207);
    let xml = r.text();
    assert!(xml.contains(".mod</D:href>"), "{xml}");
    assert!(!xml.contains("video/mpeg"), "{xml}");

    // Depth infinity is refused (it could walk the whole store).
    let r = curl(
        &["-X", "PROPFIND", "-H", "Depth: infinity"],
        &format!("{base}/"),
    );
    assert!(r.status >= 400, "{}", r.status);
}

/// Percent-decodes an href (the test's own, independent of the server).
fn dav_server_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap().replace("&amp;", "&")
}

#[test]
fn goproxy_serves_store_deterministic_zips_and_survives_upstream_loss() {
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone()).unwrap();
    let store = tempfile::tempdir().unwrap();
    let (srv, base) = server(modfs(store.path(), Some(&proxy.url())));
    let p = format!("{base}/proxy");

    let mut zips = BTreeMap::new();
    for m in &fx.modules {
        let url = format!("{p}/{}", m.url_path("zip").trim_start_matches('/'));
        let a = curl(&[], &url);
        assert_eq!(a.status, 200, "{url}: {}", a.text());
        assert_eq!(a.header("content-type"), "application/zip");
        assert!(a.header("cache-control").contains("immutable"));
        assert_eq!(zip_h1(&a.body).unwrap(), m.h1(), "{url}");
        // Valid by the core's own x/mod/zip rules.
        let mv = ModuleVersion::new(m.path(), m.version()).unwrap();
        gomodfs_core::modzip::extract(&mv, &a.body, &Default::default()).unwrap();
        let b = curl(&[], &url);
        assert_eq!(a.body, b.body, "{url}: not deterministic");
        let r = curl(
            &["-H", &format!("If-None-Match: {}", a.header("etag"))],
            &url,
        );
        assert_eq!(r.status, 304);
        zips.insert(url, a.body);
        for ext in ["info", "mod"] {
            let url = format!("{p}/{}", m.url_path(ext).trim_start_matches('/'));
            let r = curl(&[], &url);
            assert_eq!(r.status, 200, "{url}");
            let want = if ext == "info" {
                m.info_bytes()
            } else {
                m.mod_bytes()
            };
            assert_eq!(r.body, want, "{url}");
        }
    }

    // list and @latest pass through (cached), with the upstream's status.
    let r = curl(&[], &format!("{p}/example.com/gamma/@v/list"));
    assert_eq!(r.status, 200);
    assert!(r.text().contains("v1.1.0"), "{}", r.text());
    let r = curl(&[], &format!("{p}/example.com/gamma/@latest"));
    assert_eq!(r.status, 200);
    assert!(r.text().contains("v1.1.0"), "{}", r.text());
    proxy.set_fault("example.com/gone", "", "list", Fault::Status(410));
    let r = curl(&[], &format!("{p}/example.com/gone/@v/list"));
    assert_eq!(r.status, 410, "{}", r.text());
    let r = curl(&[], &format!("{p}/example.com/nosuch/@v/list"));
    assert_eq!(r.status, 404);
    let r = curl(&[], &format!("{p}/example.com/nosuch/@v/v1.0.0.info"));
    assert_eq!(r.status, 404, "{}", r.text());
    let r = curl(&[], &format!("{p}/example.com/nosuch/@v/v1.0.0.zip"));
    assert_eq!(r.status, 404, "{}", r.text());
    let r = curl(&[], &format!("{p}/example.com/Bad/@v/v1.0.0.info"));
    assert_eq!(r.status, 404);
    let before = proxy.requests("/example.com/gamma/@v/list");
    let _ = curl(&[], &format!("{p}/example.com/gamma/@v/list"));
    assert_eq!(
        proxy.requests("/example.com/gamma/@v/list"),
        before,
        "not cached"
    );

    // Upstream gone: everything cached is still served, byte for byte.
    proxy.stop();
    for (url, body) in &zips {
        let r = curl(&[], url);
        assert_eq!(r.status, 200, "{url}");
        assert_eq!(&r.body, body, "{url}");
    }
    for m in &fx.modules {
        for ext in ["info", "mod"] {
            let url = format!("{p}/{}", m.url_path(ext).trim_start_matches('/'));
            assert_eq!(curl(&[], &url).status, 200, "{url}");
        }
    }
    // The list is still answered (from the cache).
    let r = curl(&[], &format!("{p}/example.com/gamma/@v/list"));
    assert_eq!(r.status, 200);
    drop(srv);

    // A fresh server with a dead upstream and an empty pass-through cache:
    // the list comes from the store, unknown things are errors, not 404s.
    let (_srv, base) = server(modfs(store.path(), Some("http://127.0.0.1:9")));
    let r = curl(&[], &format!("{base}/proxy/example.com/gamma/@v/list"));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "v1.0.0\nv1.1.0\n");
    let r = curl(
        &[],
        &format!("{base}/proxy/example.com/nosuch/@v/v1.0.0.zip"),
    );
    assert_eq!(r.status, 502, "{}", r.text());
    let r = curl(&[], &format!("{base}/proxy/example.com/gamma/@latest"));
    assert_eq!(r.status, 502, "{}", r.text());
}

/// The `<D:response>` blocks of a multistatus body, keyed by the last
/// element of their href.
fn responses(xml: &str) -> Vec<(String, String)> {
    xml.split("<D:response>")
        .skip(1)
        .filter_map(|block| {
            let (href, _) = block.split_once("<D:href>")?.1.split_once("</D:href>")?;
            let name = dav_server_decode(href)
                .trim_end_matches('/')
                .rsplit('/')
                .next()?
                .to_owned();
            Some((name, block.to_owned()))
        })
        .collect()
}

#[test]
fn propfind_etags_only_for_contents_that_never_change() {
    // A directory outside module trees grows as the store does, and the
    // status file changes all the time: an ETag would let a client turn a
    // stale copy into a 304. Module trees and download files never change.
    let spec = camel();
    let proxy = TestProxy::start_with([spec.clone()]).unwrap();
    let store = tempfile::tempdir().unwrap();
    let fs = modfs(store.path(), Some(&proxy.url()));
    fs.resolve(&format!("{}/go.mod", spec.cache_dir_name()))
        .unwrap();
    let (_srv, base) = server(fs);

    let r = curl(&["-X", "PROPFIND", "-H", "Depth: 1"], &format!("{base}/"));
    assert_eq!(r.status, 207, "{}", r.text());
    let root = responses(&r.text());
    for name in [".gomodfs-status", "cache", "example.com"] {
        let (_, block) = root
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} not listed: {root:?}"));
        assert!(!block.contains("getetag"), "{name} has an ETag: {block}");
    }

    let dir = spec.cache_dir_name();
    let r = curl(
        &["-X", "PROPFIND", "-H", "Depth: 1"],
        &format!("{base}/{dir}/"),
    );
    assert_eq!(r.status, 207, "{}", r.text());
    let tree = responses(&r.text());
    let (_, block) = tree.iter().find(|(n, _)| n == "go.mod").unwrap();
    assert!(block.contains("getetag"), "go.mod without an ETag: {block}");
}

#[test]
fn propfind_depth_zero_answers_one_resource_and_missing_paths_are_404() {
    // Every field bound: `..` would drop the server and proxy at once.
    let CamelServer {
        spec,
        fs,
        base,
        _srv,
        _store,
        _proxy,
    } = camel_server();
    let dir = spec.cache_dir_name();
    let size = fs.resolve(&format!("{dir}/go.mod")).unwrap().size;

    let r = curl(
        &["-X", "PROPFIND", "-H", "Depth: 0"],
        &format!("{base}/{dir}/go.mod"),
    );
    assert_eq!(r.status, 207, "{}", r.text());
    let found = responses(&r.text());
    assert_eq!(found.len(), 1, "{}", r.text());
    let (name, block) = &found[0];
    assert_eq!(name, "go.mod");
    assert!(
        block.contains(&format!("<D:getcontentlength>{size}</D:getcontentlength>")),
        "{block}"
    );
    assert!(!block.contains("<D:collection"), "{block}");

    let r = curl(
        &["-X", "PROPFIND", "-H", "Depth: 0"],
        &format!("{base}/{dir}/"),
    );
    assert_eq!(r.status, 207, "{}", r.text());
    let found = responses(&r.text());
    assert_eq!(found.len(), 1, "depth 0 lists no children: {}", r.text());
    assert!(found[0].1.contains("<D:collection"), "{}", found[0].1);

    for missing in [
        format!("{dir}/nosuch.go"),
        "example.com/nosuch@v1.0.0/".into(),
    ] {
        for depth in ["0", "1"] {
            let r = curl(
                &["-X", "PROPFIND", "-H", &format!("Depth: {depth}")],
                &format!("{base}/{missing}"),
            );
            assert_eq!(r.status, 404, "{missing} depth {depth}: {}", r.text());
        }
    }
}
