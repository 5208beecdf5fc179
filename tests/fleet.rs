//! The fleet tier (`--remote`) against a real S3 server (SeaweedFS on
//! 127.0.0.1): hosts with separate local stores share one bucket; what the
//! bucket serves is validated like upstream; start-up errors are one line.

mod common;
mod fleet_support;

use fleet_support::{
    Host, client, fresh_url, go_build, runtime, s3, wait_for_modules, work_dir, zips_served,
};
use gomodfs::core::ModuleVersion;
use gomodfs::core::remote::layout::{self, ModuleMeta, Object};
use gomodfs::core::zipgen::ZipEncoder;
use gomodfs_testkit::sumdb::TestSumDb;
use gomodfs_testkit::{GoCmd, TestProxy, standard_fixture};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn three_hosts_share_one_bucket_and_a_cold_fleet_downloads_each_module_once() {
    let s3 = s3();
    let fx = standard_fixture();

    // 1. Host A builds from upstream; its modules reach the bucket.
    let url = fresh_url("three");
    let proxy = TestProxy::start_with(fx.modules.clone()).expect("proxy");
    let work = work_dir();
    let mut a = Host::new();
    a.start(&s3, &url, Some(&proxy.url()), &[]);
    go_build(work.path(), a.modcache());
    // A .mod on its own (gamma v1.0.0 is in the graph, not in the build).
    let alone = "cache/download/example.com/gamma/@v/v1.0.0.mod";
    let gamma_mod = std::fs::read(a.modcache().join(alone)).expect("read a .mod alone");
    let fetched = zips_served(&proxy);
    assert!(fetched.len() >= 6, "zips from upstream: {fetched:?}");
    a.stop(); // flushes the uploads
    wait_for_modules(&client(&s3, &url), &fetched, Duration::from_secs(10));

    // 2. Hosts B and C, empty local stores, build with the upstream stopped.
    let dead = proxy.url();
    proxy.stop();
    for name in ["B", "C"] {
        let mut host = Host::new();
        host.start(&s3, &url, Some(&dead), &[]);
        go_build(work.path(), host.modcache());
        let read = std::fs::read(host.modcache().join(alone)).expect("the .mod alone");
        assert_eq!(read, gamma_mod, "host {name}");
        assert!(host.remote_counter("meta_hits") >= 1, "{}", host.status());
        let hits = host.remote_counter("hits");
        assert!(
            hits >= fetched.len() as u64,
            "host {name}: {}",
            host.status()
        );
        // The same counters in /metrics and `gomodfs status`.
        let (code, _, metrics) = common::http_get(host.debug_addr(), "/metrics");
        let metrics = String::from_utf8_lossy(&metrics);
        assert_eq!(code, 200);
        assert!(
            metrics.contains(&format!("gomodfs_remote_hits_total {hits}\n")),
            "{metrics}"
        );
        assert!(
            metrics.contains("\ngomodfs_remote_uploads_pending 0"),
            "{metrics}"
        );
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_gomodfs"))
            .arg("status")
            .arg(format!("http://{}", host.debug_addr()))
            .output()
            .expect("gomodfs status");
        let status = String::from_utf8_lossy(&status.stdout);
        assert!(
            status.contains(&format!("remote {url}: {hits} hits")),
            "{status}"
        );
        host.stop();
    }

    // A .info read alone from the bucket brings its .mod along (both are in
    // the module's metadata object): the .mod after it is read locally.
    let mv = &fetched[0];
    let mut d = Host::new();
    d.start(&s3, &url, Some(&dead), &[]);
    let at = |ext: &str| d.download_file(mv, ext);
    let info = std::fs::read_to_string(at("info")).expect("the .info from the bucket");
    assert!(info.contains(mv.version()), "{info}");
    assert_eq!(d.remote_counter("meta_hits"), 1, "{}", d.status());
    let go_mod = std::fs::read_to_string(at("mod")).expect("the .mod");
    assert!(go_mod.contains(mv.path()), "{go_mod}");
    assert_eq!(
        d.remote_counter("meta_hits"),
        1,
        "the .mod was read from the bucket again: {}",
        d.status()
    );
    assert_eq!(
        d.remote_counter("hits"),
        0,
        "no zip was fetched: {}",
        d.status()
    );
    d.stop();

    // 3. Three hosts start cold at the same moment on a fresh bucket: the
    // upstream sees at most one .zip request per module version.
    let url = fresh_url("cold");
    let proxy = TestProxy::start_with(fx.modules.clone()).expect("proxy");
    let mut hosts: Vec<Host> = (0..3).map(|_| Host::new()).collect();
    for h in &mut hosts {
        h.start(&s3, &url, Some(&proxy.url()), &[]);
    }
    std::thread::scope(|scope| {
        for h in &hosts {
            let work = work.path();
            scope.spawn(move || go_build(work, h.modcache()));
        }
    });
    let log = proxy.request_log();
    let zips: Vec<&String> = log.iter().filter(|p| p.ends_with(".zip")).collect();
    let mut unique = zips.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        zips.len(),
        unique.len(),
        "a module zip was downloaded from upstream more than once: {zips:?}"
    );
    assert!(unique.len() >= 6, "{unique:?}");
    let waits: u64 = hosts.iter().map(|h| h.remote_counter("lease_waits")).sum();
    let hits: u64 = hosts.iter().map(|h| h.remote_counter("hits")).sum();
    eprintln!(
        "cold fleet: {} zips upstream, {waits} lease waits, {hits} remote hits",
        zips.len()
    );
    for h in &mut hosts {
        h.stop();
    }
}

/// Replaces the object at `key` (test only: gomodfs never overwrites).
fn overwrite(
    rt: &tokio::runtime::Runtime,
    remote: &gomodfs::core::remote::Remote,
    key: &str,
    data: Vec<u8>,
) {
    rt.block_on(async {
        remote.delete(key).await.expect("delete");
        remote
            .put_if_absent(key, bytes::Bytes::from(data))
            .await
            .expect("put");
    });
}

#[test]
fn tampered_objects_are_refused_logged_and_fetched_from_upstream() {
    let s3 = s3();
    let fx = standard_fixture();
    let url = fresh_url("tamper");
    let proxy = TestProxy::start_with(fx.modules.clone()).expect("proxy");
    let work = work_dir();
    let mut a = Host::new();
    a.start(&s3, &url, Some(&proxy.url()), &[]);
    go_build(work.path(), a.modcache());
    a.stop();
    let remote = client(&s3, &url);
    let fetched = zips_served(&proxy);
    wait_for_modules(&remote, &fetched, Duration::from_secs(10));
    let rt = runtime();

    // Bytes changed: one byte of gamma's zip flipped.
    let gamma = ModuleVersion::new("example.com/gamma", "v1.1.0").expect("mv");
    let key = layout::key(&gamma, Object::Zip);
    let zip = rt.block_on(remote.get(&key)).expect("get").expect("zip");
    let mut z = zip.to_vec();
    let mid = z.len() / 3;
    z[mid] ^= 0x55;
    overwrite(&rt, &remote, &key, z);

    // A well-formed zip whose files do not hash to the recorded h1.
    let deep = ModuleVersion::new("example.com/deep", "v1.0.0").expect("mv");
    let mut enc = ZipEncoder::new(1);
    let mut forged = Vec::new();
    let name = format!("{}a/b/c/d/e/f/g/h/i/j/k/leaf/leaf.go", deep.zip_prefix());
    forged.extend(
        enc.entry(
            &name,
            b"package leaf\n\nfunc Where() string { return \"evil\" }\n",
        )
        .expect("entry"),
    );
    forged.extend(enc.finish().expect("finish"));
    overwrite(&rt, &remote, &layout::key(&deep, Object::Zip), forged);
    // Its metadata still names the real h1.
    let meta = rt
        .block_on(remote.get(&layout::key(&deep, Object::Meta)))
        .expect("get")
        .expect("meta");
    ModuleMeta::parse(&deep, &meta).expect("meta parses");

    proxy.reset_log();
    let mut b = Host::new();
    b.start(&s3, &url, Some(&proxy.url()), &[]);
    let out = GoCmd::new(work.path())
        .expect("go")
        .gomodcache(b.modcache())
        .goproxy("off")
        .run(&["run", "."])
        .expect("go run");
    assert!(out.stdout.contains("deep leaf"), "{}", out.stdout);
    GoCmd::new(work.path())
        .expect("go")
        .gomodcache(b.modcache())
        .goproxy("off")
        .run(&["mod", "verify"])
        .expect("go mod verify");
    // Both came from upstream; the rest of what the bucket had, from it.
    let again = zips_served(&proxy);
    assert!(again.contains(&deep) && again.contains(&gamma), "{again:?}");
    for mv in &again {
        assert!(
            *mv == deep || *mv == gamma || !fetched.contains(mv),
            "{mv} was in the bucket but came from upstream"
        );
    }
    assert_eq!(b.remote_counter("validation_failures"), 2, "{}", b.status());
    b.stop();
    let log = b.log_text();
    for (mv, cause) in [
        (&gamma, "invalid module zip"),
        (&deep, "not to the recorded"),
    ] {
        let line = log
            .lines()
            .find(|l| l.contains("refused by validation") && l.contains(mv.path()))
            .unwrap_or_else(|| panic!("no refusal logged for {mv}:\n{log}"));
        assert!(
            line.contains(mv.version()) && line.contains(cause),
            "{line}"
        );
    }

    // A metadata object whose .info is fine and whose .mod names another
    // module: the .info is served from it, the .mod is neither stored with
    // it nor served from it, and comes from upstream.
    let other = fetched
        .iter()
        .find(|mv| **mv != deep && **mv != gamma)
        .expect("a third module in the bucket")
        .clone();
    let key = layout::key(&other, Object::Meta);
    let meta = rt.block_on(remote.get(&key)).expect("get").expect("meta");
    let mut meta = ModuleMeta::parse(&other, &meta).expect("meta parses");
    meta.go_mod = "module example.com/not-this-one\n".to_owned();
    overwrite(&rt, &remote, &key, meta.to_bytes().to_vec());
    proxy.reset_log();
    let mut c = Host::new();
    c.start(&s3, &url, Some(&proxy.url()), &[]);
    let at = |ext: &str| c.download_file(&other, ext);
    let info = std::fs::read_to_string(at("info")).expect("the .info");
    assert!(info.contains(other.version()), "{info}");
    assert!(proxy.request_log().is_empty(), "{:?}", proxy.request_log());
    let go_mod = std::fs::read_to_string(at("mod")).expect("the .mod");
    assert!(
        go_mod.contains(&format!("module {}", other.path())),
        "{go_mod}"
    );
    let mod_path = format!("{}.mod", other.escaped_version());
    assert!(
        proxy.request_log().iter().any(|p| p.ends_with(&mod_path)),
        "the .mod did not come from upstream: {:?}",
        proxy.request_log()
    );
    assert_eq!(c.remote_counter("meta_hits"), 1, "{}", c.status());
    assert_eq!(c.remote_counter("validation_failures"), 2, "{}", c.status());
    c.stop();
}

/// `gomodfs mount` with `env` and `--remote url`: exits non-zero, says one
/// line on stderr, mounts nothing.
fn refused_at_start(url: &str, env: &[(&str, String)], want: &str) {
    let mnt = tempfile::tempdir().expect("mnt");
    let store = tempfile::tempdir().expect("store");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gomodfs"));
    cmd.arg("mount")
        .arg(mnt.path())
        .arg("--store")
        .arg(store.path())
        .args(["--offline", "--remote", url])
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = std::time::Instant::now();
    let out = cmd.output().expect("run gomodfs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{url}: exit {:?}", out.status);
    // Log lines aside, the error is one line.
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("gomodfs: "))
        .collect();
    assert_eq!(lines.len(), 1, "{url}: not one line:\n{stderr}");
    assert!(lines[0].len() < 300, "{url}: not short: {}", lines[0]);
    assert!(
        lines[0].starts_with(&format!("gomodfs: remote {url}: ")) && lines[0].contains(want),
        "{url}: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{url}: too slow"
    );
    assert!(
        !mnt.path().join(".gomodfs-status").exists(),
        "mounted anyway"
    );
}

#[test]
fn wrong_key_missing_bucket_and_unreachable_endpoint_are_one_line_errors() {
    let s3 = s3();
    let env = s3.env();
    let with = |key: &str, value: String| -> Vec<(&str, String)> {
        env.iter()
            .map(|(k, v)| (*k, if *k == key { value.clone() } else { v.clone() }))
            .collect()
    };
    refused_at_start(
        &fresh_url("key"),
        &with("AWS_SECRET_ACCESS_KEY", "wrong".into()),
        "access denied",
    );
    refused_at_start("s3://no-such-bucket/x", &env, "the bucket does not exist");
    // A port nothing listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = free.local_addr().expect("addr").port();
    drop(free);
    refused_at_start(
        &fresh_url("down"),
        &with("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        "cannot reach the endpoint",
    );
}

/// What `gomodfs serve --http` prints before its address.
const HTTP_LISTENING: &str = "gomodfs: serving HTTP on ";

/// `gomodfs serve --http 127.0.0.1:0` on `remote`, fetching from `proxy`.
fn serve_http(
    s3: &gomodfs_testkit::seaweed::SeaweedFs,
    store: &std::path::Path,
    log: &std::path::Path,
    remote: &str,
    proxy: &str,
) -> gomodfs_testkit::process::Daemon {
    let mut launch = gomodfs_testkit::process::Launch::new(env!("CARGO_BIN_EXE_gomodfs"), log)
        .args(["serve", "--http", "127.0.0.1:0", "--store"])
        .arg(store)
        .args(["--remote", remote, "--proxy", proxy, "--fetch-timeout", "5"])
        .listening(HTTP_LISTENING);
    for (k, v) in s3.env() {
        launch = launch.env(k, v);
    }
    launch.start().expect("start gomodfs serve --http")
}

#[test]
fn goproxy_endpoint_of_a_second_host_serves_the_fixture_from_the_bucket() {
    let s3 = s3();
    let fx = standard_fixture();
    let url = fresh_url("goproxy");
    let proxy = TestProxy::start_with(fx.modules.clone()).expect("proxy");
    let work = work_dir();
    let logs = tempfile::tempdir().expect("logs");
    let download = |server: &gomodfs_testkit::process::Daemon| {
        let addr = server.address(HTTP_LISTENING).expect("address");
        let modcache = tempfile::tempdir().expect("modcache");
        let go = || {
            GoCmd::new(work.path())
                .expect("go")
                .gomodcache(modcache.path())
                .goproxy(format!("http://{addr}/proxy/"))
        };
        go().run(&["mod", "download"]).expect("go mod download");
        go().run(&["build", "./..."]).expect("go build");
        // Read-only module directories: let the temp dir go.
        let _ = std::process::Command::new("chmod")
            .arg("-R")
            .arg("u+w")
            .arg(modcache.path())
            .status();
    };

    // Host A: a team proxy whose cache goes to the bucket.
    let store_a = tempfile::tempdir().expect("store");
    let a = serve_http(
        &s3,
        store_a.path(),
        &logs.path().join("a.log"),
        &url,
        &proxy.url(),
    );
    download(&a);
    a.stop().expect("host A stops cleanly");
    let fetched = zips_served(&proxy);
    wait_for_modules(&client(&s3, &url), &fetched, Duration::from_secs(10));

    // Host A is gone, and so is the upstream: host B serves from the bucket.
    let dead = proxy.url();
    proxy.stop();
    let store_b = tempfile::tempdir().expect("store");
    let b = serve_http(&s3, store_b.path(), &logs.path().join("b.log"), &url, &dead);
    download(&b);
    b.stop().expect("host B stops cleanly");
}

/// The checksum database has the last word over the bucket too: a module
/// whose metadata object holds a go.mod the database refuses (well formed,
/// the right module, one line more) comes from upstream, whether go asks
/// for its `.info` and then its `.mod`, or reads its files first; go,
/// checking go.sum, builds through the mount.
#[test]
fn a_bucket_go_mod_the_checksum_database_refuses_comes_from_upstream() {
    let s3 = s3();
    let fx = standard_fixture();
    let url = fresh_url("sumdb");
    let proxy = TestProxy::start_with(fx.modules.clone()).expect("proxy");
    let db = Arc::new(TestSumDb::new("sumdb.test").expect("sumdb"));
    proxy.serve_sumdb(db.clone());
    let gosumdb = db.gosumdb(&proxy.url());
    let checked = ["--gosumdb", gosumdb.as_str()];
    let work = work_dir();
    let mut a = Host::new();
    a.start(&s3, &url, Some(&proxy.url()), &checked);
    go_build(work.path(), a.modcache());
    a.stop();
    let remote = client(&s3, &url);
    let fetched = zips_served(&proxy);
    wait_for_modules(&remote, &fetched, Duration::from_secs(10));
    assert!(fetched.len() >= 2, "zips from upstream: {fetched:?}");
    let rt = runtime();
    let spec = |mv: &ModuleVersion| {
        fx.modules
            .iter()
            .find(|m| m.path() == mv.path() && m.version() == mv.version())
            .expect("the module's spec")
            .clone()
    };
    let (first, second) = (spec(&fetched[0]), spec(&fetched[1]));
    for mv in &fetched[..2] {
        let key = layout::key(mv, Object::Meta);
        let meta = rt.block_on(remote.get(&key)).expect("get").expect("meta");
        let mut meta = ModuleMeta::parse(mv, &meta).expect("meta parses");
        meta.go_mod.push_str("\n// one line more\n");
        overwrite(&rt, &remote, &key, meta.to_bytes().to_vec());
    }

    proxy.reset_log();
    let mut b = Host::new();
    b.start(&s3, &url, Some(&proxy.url()), &checked);
    let asked = |path: String| proxy.request_log().iter().any(|p| p.ends_with(&path));
    // The first: .info from the bucket, then the .mod from upstream.
    let at = |ext: &str| b.download_file(&fetched[0], ext);
    assert_eq!(
        std::fs::read(at("info")).expect("the .info"),
        first.info_bytes()
    );
    assert!(!asked(first.url_path("info")), "{:?}", proxy.request_log());
    assert_eq!(
        std::fs::read(at("mod")).expect("the .mod"),
        first.mod_bytes()
    );
    assert!(asked(first.url_path("mod")), "{:?}", proxy.request_log());
    // The second: a file of its tree first; zip, .info and .mod from
    // upstream.
    let (rel, content) = second
        .files()
        .iter()
        .find(|(name, _)| name.ends_with(".go"))
        .expect("a .go file");
    let read = std::fs::read(b.modcache().join(second.cache_dir_name()).join(rel))
        .expect("a file of the second module");
    assert_eq!(&read, content);
    for ext in ["zip", "mod"] {
        assert!(
            asked(second.url_path(ext)),
            "{ext}: {:?}",
            proxy.request_log()
        );
    }
    assert_eq!(b.remote_counter("validation_failures"), 2, "{}", b.status());
    go_build(work.path(), b.modcache());
    b.stop();
    let log = b.log_text();
    for m in [&first, &second] {
        assert!(
            log.lines()
                .any(|l| l.contains("refused by validation") && l.contains(m.path())),
            "no refusal logged for {}:\n{log}",
            m.path()
        );
    }
}
