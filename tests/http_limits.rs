//! The `gomodfs serve --http` process under floods: idle connections with
//! a low open-file limit (FUSE and new HTTP clients keep working), and
//! HEAD requests for many distinct paths (memory stays bounded).

mod common;

use gomodfs::core::ModuleVersion;
use gomodfs::core::store::MetaFile;
use gomodfs_testkit::process::{Daemon, Launch};
use gomodfs_testkit::{ModuleSpec, TestProxy, standard_fixture};
use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// What `gomodfs serve --http` prints before its address.
const HTTP_LISTENING: &str = "gomodfs: serving HTTP on ";
/// What `--debug-addr` prints before its address.
const STATUS_PAGE: &str = "gomodfs: status page at ";

/// A `gomodfs serve` process (killed, and its mount detached, on drop)
/// and its addresses.
struct Served {
    process: Daemon,
    addr: SocketAddr,
    /// The `--debug-addr` server's address, when one was asked for.
    debug: Option<SocketAddr>,
}

impl Served {
    /// Starts `[prlimit --nofile=N:N] gomodfs serve --http 127.0.0.1:0
    /// ARGS`, and waits for its address (and its mount, with `mount`).
    fn start(nofile: Option<u64>, args: &[&str], mount: Option<&Path>, log: &Path) -> Served {
        Served::start_full(nofile.map(|n| format!("{n}:{n}")), args, mount, log)
    }

    /// Like [`Served::start`] with `prlimit --nofile=SOFT:HARD`.
    fn start_with_limits(soft_hard: &str, args: &[&str], log: &Path) -> Served {
        Served::start_full(Some(soft_hard.to_owned()), args, None, log)
    }

    fn start_full(
        nofile: Option<String>,
        args: &[&str],
        mount: Option<&Path>,
        log: &Path,
    ) -> Served {
        let mut launch = Launch::new(common::gomodfs_bin(), log)
            .args(["serve", "--http", "127.0.0.1:0"])
            .args(args)
            .listening(HTTP_LISTENING);
        if let Some(dir) = mount {
            launch = launch.arg("--mount").arg(dir).mount_point(dir);
        }
        if args.contains(&"--debug-addr") {
            launch = launch.listening(STATUS_PAGE);
        }
        if let Some(n) = nofile {
            launch =
                launch.wrapped_in(["prlimit".to_owned(), format!("--nofile={n}"), "--".into()]);
        }
        let process = launch
            .start()
            .expect("start gomodfs serve (prlimit is in util-linux)");
        Served {
            addr: process.address(HTTP_LISTENING).expect("HTTP address"),
            debug: process.address(STATUS_PAGE),
            process,
        }
    }

    fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Open file descriptors of the process.
    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Resident memory in KiB.
    fn rss_kib(&self) -> u64 {
        self.process.status_kib("VmRSS").unwrap_or(0)
    }
}

/// One `GET` on a fresh connection, with every step under `limit`:
/// (status, body), or why it failed.
fn get(addr: SocketAddr, path: &str, limit: Duration) -> Result<(u16, Vec<u8>), String> {
    let mut s = TcpStream::connect_timeout(&addr, limit).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(limit)).map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| format!("read: {e}"))?;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no response: {:?}", String::from_utf8_lossy(&buf)))?;
    let status = String::from_utf8_lossy(&buf[..split])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, buf[split + 4..].to_vec()))
}

/// Stores every module of `modules` (info, mod and tree) with an
/// in-process filesystem, so that a later process finds them stored.
fn store_modules(store: &Path, modules: &[ModuleSpec]) {
    let proxy = TestProxy::start_with(modules.to_vec()).expect("proxy");
    let fs = common::modfs(store, Some(&proxy.url()));
    for m in modules {
        let mv = ModuleVersion::new(m.path(), m.version()).expect("module version");
        fs.meta(&mv, MetaFile::Info).expect("store .info");
        fs.meta(&mv, MetaFile::Mod).expect("store .mod");
        fs.module(&mv).expect("store the module");
    }
}

#[test]
fn idle_http_flood_leaves_fuse_and_new_http_clients_working() {
    common::require_fuse();
    // This test holds 1,350 connections itself.
    let own = gomodfs::limits::raise_nofile().map(|(_, after)| after.soft);
    assert!(
        own.is_some_and(|n| n >= 1600),
        "the test needs an open-file limit of at least 1600 (hard limit: ulimit -Hn), has {own:?}"
    );
    let fx = standard_fixture();
    let store = tempfile::tempdir().expect("store");
    store_modules(store.path(), &fx.modules);

    let scratch = tempfile::tempdir().expect("scratch");
    let mnt = scratch.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mount point");
    let store_arg = store.path().to_str().expect("utf-8 path");
    let served = Served::start(
        Some(1024),
        &[
            "--store",
            store_arg,
            "--offline",
            "--debug-addr",
            "127.0.0.1:0",
        ],
        Some(&mnt),
        &scratch.path().join("serve.log"),
    );
    let before = served.fds();

    // Connections that never send a byte: 250 to the debug server (more
    // than its cap of 192: the rest wait in the kernel's backlog), then
    // 1,100 to the HTTP frontend.
    let mut flood = Vec::new();
    let mut refused = 0;
    let debug = served.debug.expect("debug server");
    for (addr, n) in [(debug, 250), (served.addr, 1100)] {
        for _ in 0..n {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                Ok(s) => flood.push(s),
                Err(_) => refused += 1,
            }
        }
    }
    // Let the server take what it will (well within the 30 s header
    // timeout, which would close them all).
    std::thread::sleep(Duration::from_secs(2));
    let during = served.fds();
    for (name, addr) in [("HTTP", served.addr), ("debug", debug)] {
        let ss = Command::new("ss")
            .args([
                "-Htn",
                "state",
                "established",
                &format!("sport = :{}", addr.port()),
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
            .unwrap_or(0);
        eprintln!("{name}: {ss} established connections (accepted or in the backlog)");
    }
    eprintln!(
        "fds: {before} before, {during} with {} idle connections ({refused} not connected)",
        flood.len()
    );
    assert!(
        during <= 1024 - 256,
        "{during} descriptors open with a limit of 1024: the reserve for the store is gone"
    );
    // Each listener holds at most its cap (192 under a limit of 1024).
    let cap = gomodfs::limits::cap_for(1024);
    assert!(
        during - before <= 2 * cap + 16,
        "{} connections held by two listeners capped at {cap} each",
        during - before
    );

    // Stored modules through FUSE, first touched now (the store opens its
    // packs now).
    for m in &fx.modules {
        let p = mnt
            .join("cache/download")
            .join(m.escaped_path())
            .join("@v")
            .join(format!("{}.mod", m.escaped_version()));
        let meta = std::fs::metadata(&p).unwrap_or_else(|e| panic!("stat {}: {e}", p.display()));
        assert_eq!(meta.len(), m.mod_bytes().len() as u64, "{}", p.display());
        let data = std::fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
        assert_eq!(data, m.mod_bytes(), "{}", p.display());
        let tree = mnt.join(m.cache_dir_name());
        let n = std::fs::read_dir(&tree)
            .unwrap_or_else(|e| panic!("ls {}: {e}", tree.display()))
            .count();
        assert!(n > 0, "{} is empty", tree.display());
    }

    // A new HTTP client is served at once (the longest-idle connection
    // makes room), with the flood still connected.
    let m = &fx.modules[0];
    let started = Instant::now();
    let (status, body) = get(
        served.addr,
        &format!("/proxy{}", m.url_path("mod")),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("a new HTTP client was not served: {e}"));
    assert_eq!(status, 200);
    assert_eq!(body, m.mod_bytes());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the new client waited {:?}",
        started.elapsed()
    );
    drop(flood);
}

/// Sends `HEAD` for each path on one kept-alive connection (reconnecting
/// when the server closes it); returns how many answers had each status.
fn heads(addr: SocketAddr, paths: impl Iterator<Item = String>) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    let mut conn: Option<std::io::BufReader<TcpStream>> = None;
    for path in paths {
        let request = format!("HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut attempts = 0;
        let status = loop {
            attempts += 1;
            assert!(
                attempts <= 3,
                "HEAD {path}: the connection failed three times"
            );
            let c = match conn.as_mut() {
                Some(c) => c,
                None => {
                    let s = TcpStream::connect(addr).expect("connect");
                    s.set_nodelay(true).expect("nodelay");
                    s.set_read_timeout(Some(Duration::from_secs(60)))
                        .expect("timeout");
                    conn.insert(std::io::BufReader::new(s))
                }
            };
            if let Some(status) = head_once(c, &request) {
                break status;
            }
            conn = None;
        };
        *counts.entry(status).or_insert(0) += 1;
    }
    counts
}

/// One request and the status of its response (headers only: HEAD).
fn head_once(c: &mut std::io::BufReader<TcpStream>, request: &str) -> Option<u16> {
    c.get_mut().write_all(request.as_bytes()).ok()?;
    let mut line = String::new();
    c.read_line(&mut line).ok().filter(|&n| n > 0)?;
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    loop {
        line.clear();
        c.read_line(&mut line).ok().filter(|&n| n > 0)?;
        if line == "\r\n" {
            return Some(status);
        }
    }
}

/// Sends `n` HEAD requests, `make(i)` for i in 0..n, from 8 connections.
fn flood(
    addr: SocketAddr,
    n: usize,
    make: &(dyn Fn(usize) -> String + Sync),
) -> BTreeMap<u16, usize> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| scope.spawn(move || heads(addr, (t..n).step_by(8).map(make))))
            .collect();
        let mut total = BTreeMap::new();
        for h in handles {
            for (status, count) in h.join().expect("flood thread") {
                *total.entry(status).or_insert(0) += count;
            }
        }
        total
    })
}

/// HEAD requests for distinct paths that the HTTP frontend answers from
/// state of its own (the pass-through cache of `@v/list`, `@latest` and
/// `sumdb/`) or from no state at all. Paths that make the core look names
/// up (missing files and versions in the WebDAV namespace) are left to the
/// core's own bound on its node map.
#[test]
fn head_flood_of_distinct_paths_keeps_memory_bounded() {
    const PER_KIND: usize = 50_000;
    /// The bound on RSS growth over the whole flood: the pass-through
    /// cache's 8 MiB, plus allocator slack.
    const BOUND_KIB: u64 = 20 << 10;
    let stored = ModuleSpec::new("example.com/stored", "v1.0.0").file("a.go", "package stored\n");
    let store = tempfile::tempdir().expect("store");
    store_modules(store.path(), std::slice::from_ref(&stored));
    let scratch = tempfile::tempdir().expect("scratch");
    let store_arg = store.path().to_str().expect("utf-8 path");
    let proxy = TestProxy::start_with([stored.clone()]).expect("proxy");
    let url = proxy.url();
    let served = Served::start(
        None,
        &["--store", store_arg, "--proxy", &url],
        None,
        &scratch.path().join("serve.log"),
    );
    let addr = served.addr;
    // Warm up (runtime threads, upstream client, first allocations).
    flood(addr, 2000, &|i| {
        format!("/proxy/example.com/warm{i}/@v/list")
    });
    let start = served.rss_kib();
    let kinds: [(&str, &(dyn Fn(usize) -> String + Sync)); 4] = [
        ("@v/list", &|i| format!("/proxy/example.com/m{i}/@v/list")),
        ("@latest", &|i| format!("/proxy/example.com/m{i}/@latest")),
        ("sumdb", &|i| {
            format!("/proxy/sumdb/sum.golang.org/lookup/example.com/m{i}@v1.0.0")
        }),
        ("missing top-level names", &|i| format!("/nothing-{i}/x")),
    ];
    for (name, make) in kinds {
        let before = served.rss_kib();
        let started = Instant::now();
        let counts = flood(addr, PER_KIND, make);
        let after = served.rss_kib();
        eprintln!(
            "{name}: {PER_KIND} HEADs in {:.1?}, RSS {before} -> {after} KiB, statuses {counts:?}",
            started.elapsed()
        );
        assert_eq!(counts.get(&404), Some(&PER_KIND), "{name}: {counts:?}");
    }
    let end = served.rss_kib();
    eprintln!("RSS {start} -> {end} KiB after {} HEADs", 4 * PER_KIND);
    assert!(
        end.saturating_sub(start) < BOUND_KIB,
        "RSS grew by {} KiB (bound {BOUND_KIB} KiB)",
        end.saturating_sub(start)
    );
}

#[test]
fn the_soft_open_file_limit_is_raised_to_the_hard_limit() {
    let store = tempfile::tempdir().expect("store");
    let scratch = tempfile::tempdir().expect("scratch");
    let store_arg = store.path().to_str().expect("utf-8 path");
    let cmd_args = ["--store", store_arg, "--offline"];
    let log = scratch.path().join("serve.log");
    let served = Served::start_with_limits("1024:4096", &cmd_args, &log);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", served.pid())).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["4096", "4096"], "{line}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        // The cap derived from the raised limit: (4096 - 256) / 4.
        if text.contains("max_connections=960") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the HTTP cap is not 960:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
