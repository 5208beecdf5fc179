//! The HTTP server under hostile or careless clients, in-process: malformed
//! request bodies, PROPFIND without a depth, idle and slow connections, and
//! stored files while many downloads wait on a slow upstream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gomodfs_core::proxy::{Upstream, UpstreamConfig};
use gomodfs_core::store::GitStore;
use gomodfs_core::store::MetaFile;
use gomodfs_core::{ModFs, ModFsOptions, ModuleVersion};
use gomodfs_testkit::{Fault, ModuleSpec, TestProxy};
use gomodfs_webdav::{HttpOptions, HttpServer};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn modfs(store: &Path, proxy: Option<&str>) -> Arc<ModFs> {
    let upstream = proxy.map(|u| {
        let mut cfg = UpstreamConfig::with_proxy(u);
        cfg.retries = 1;
        cfg.retry_backoff = Duration::from_millis(10);
        cfg.idle_timeout = Duration::from_secs(20);
        cfg.connect_timeout = Duration::from_secs(5);
        Upstream::new(cfg).unwrap()
    });
    let store = GitStore::open(store).unwrap();
    Arc::new(ModFs::new(Arc::new(store), upstream, ModFsOptions::default()).unwrap())
}

fn server_with(fs: Arc<ModFs>, options: HttpOptions) -> HttpServer {
    HttpServer::start(
        fs,
        &HttpOptions {
            addr: "127.0.0.1:0".parse().unwrap(),
            ..options
        },
    )
    .unwrap()
}

/// Sends `request` on a fresh connection, then optionally closes the
/// sending half, and reads the response until the server closes (or 30 s).
fn raw(addr: SocketAddr, request: &[u8], close_write: bool) -> (u16, String) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    if close_write {
        s.shutdown(Shutdown::Write).unwrap();
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    eprintln!("{status} after {:?}", started.elapsed());
    (status, text)
}

fn propfind(depth: Option<&str>) -> Vec<u8> {
    let depth = depth.map(|d| format!("Depth: {d}\r\n")).unwrap_or_default();
    format!(
        "PROPFIND / HTTP/1.1\r\nHost: x\r\n{depth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn propfind_without_depth_is_refused_as_infinity() {
    let store = tempfile::tempdir().unwrap();
    let srv = server_with(modfs(store.path(), None), HttpOptions::default());
    let addr = srv.local_addr();
    for depth in [None, Some("infinity"), Some("Infinity")] {
        let (status, text) = raw(addr, &propfind(depth), false);
        assert_eq!(status, 403, "Depth {depth:?}: {text}");
        assert!(
            text.contains("<D:propfind-finite-depth/>"),
            "Depth {depth:?}: {text}"
        );
    }
    for depth in ["0", "1"] {
        let (status, text) = raw(addr, &propfind(Some(depth)), false);
        assert_eq!(status, 207, "Depth {depth}: {text}");
    }
    let (status, text) = raw(addr, &propfind(Some("2")), false);
    assert_eq!(status, 400, "{text}");
}

#[test]
fn malformed_propfind_bodies_are_client_errors() {
    let store = tempfile::tempdir().unwrap();
    let srv = server_with(modfs(store.path(), None), HttpOptions::default());
    let addr = srv.local_addr();
    let head = "PROPFIND / HTTP/1.1\r\nHost: x\r\nDepth: 1\r\nConnection: close\r\nContent-Type: application/xml\r\n";

    // A chunk size that is not hex.
    let bad_chunk =
        format!("{head}Transfer-Encoding: chunked\r\n\r\nzz\r\n<D:propfind/>\r\n0\r\n\r\n");
    let (status, text) = raw(addr, bad_chunk.as_bytes(), false);
    assert_eq!(status, 400, "bad chunk: {text}");

    // A chunk longer than announced (no CRLF where the chunk must end).
    let long_chunk = format!("{head}Transfer-Encoding: chunked\r\n\r\n2\r\nabcdef\r\n0\r\n\r\n");
    let (status, text) = raw(addr, long_chunk.as_bytes(), false);
    assert_eq!(status, 400, "overlong chunk: {text}");

    // Content-Length 100, 13 bytes sent, then the client stops sending.
    let short = format!("{head}Content-Length: 100\r\n\r\n<D:propfind/>");
    let (status, text) = raw(addr, short.as_bytes(), true);
    assert_eq!(status, 400, "short body: {text}");

    // Too large.
    let big = "x".repeat(100 << 10);
    let large = format!("{head}Content-Length: {}\r\n\r\n{big}", big.len());
    let (status, text) = raw(addr, large.as_bytes(), false);
    assert_eq!(status, 413, "large body: {text}");

    // A well-formed body still works.
    let body = "<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\"><D:allprop/></D:propfind>";
    let good = format!("{head}Content-Length: {}\r\n\r\n{body}", body.len());
    let (status, text) = raw(addr, good.as_bytes(), false);
    assert_eq!(status, 207, "good body: {text}");
}

/// Reads one response with a `Content-Length` from a kept-alive connection.
fn read_response(s: &mut TcpStream) -> u16 {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).unwrap(),
            1,
            "connection closed mid-response"
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("content-length");
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// How long until the server closes `s` (reads EOF or a reset), at most
/// `limit`; `None` if it stays open that long.
fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return None;
            }
            Err(_) => return Some(started.elapsed()),
        }
    }
}

#[test]
fn a_propfind_body_that_stops_arriving_is_408() {
    let store = tempfile::tempdir().unwrap();
    let srv = server_with(
        modfs(store.path(), None),
        HttpOptions {
            header_timeout: Duration::from_secs(1),
            ..HttpOptions::default()
        },
    );
    let mut s = TcpStream::connect(srv.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let started = Instant::now();
    // 13 of 100 bytes, and the connection stays open.
    s.write_all(
        b"PROPFIND / HTTP/1.1\r\nHost: x\r\nDepth: 1\r\nContent-Length: 100\r\n\r\n<D:propfind/>",
    )
    .unwrap();
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 408", "{}", String::from_utf8_lossy(&buf));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn idle_and_slow_connections_are_closed_after_the_header_timeout() {
    let store = tempfile::tempdir().unwrap();
    let srv = server_with(
        modfs(store.path(), None),
        HttpOptions {
            header_timeout: Duration::from_secs(1),
            ..HttpOptions::default()
        },
    );
    let addr = srv.local_addr();
    let limit = Duration::from_secs(8);

    // A connection that never sends anything.
    let mut silent = TcpStream::connect(addr).unwrap();
    let t = closed_within(&mut silent, limit);
    assert!(t.is_some(), "a silent connection stayed open {limit:?}");

    // A kept-alive connection, idle after one response.
    let mut kept = TcpStream::connect(addr).unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    kept.write_all(b"GET /status.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut kept), 200);
    let t = closed_within(&mut kept, limit);
    assert!(
        t.is_some(),
        "an idle kept-alive connection stayed open {limit:?}"
    );

    // Headers sent one byte every 200 ms (slowloris): closed although bytes
    // keep arriving.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_nonblocking(true).unwrap();
    let started = Instant::now();
    let request = b"GET /status.json HTTP/1.1\r\nHost: x\r\nX-Padding: ".to_vec();
    let mut closed = false;
    let mut i = 0;
    while started.elapsed() < limit {
        let byte = [*request.get(i).unwrap_or(&b'a')];
        i += 1;
        if slow.write(&byte).is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 64];
        match slow.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok(_) | Err(_) => {
                closed = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(closed, "a slow header sender was served {limit:?}");

    // The server still answers.
    let (status, _) = raw(
        addr,
        b"GET /status.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        false,
    );
    assert_eq!(status, 200);
}

#[test]
fn a_full_cap_of_idle_connections_does_not_lock_out_a_new_client() {
    let store = tempfile::tempdir().unwrap();
    let srv = server_with(
        modfs(store.path(), None),
        HttpOptions {
            max_connections: 4,
            header_timeout: Duration::from_secs(120),
            ..HttpOptions::default()
        },
    );
    let addr = srv.local_addr();
    let mut idle: Vec<TcpStream> = (0..10).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // One that just had a request: the idle ones go first.
    let mut recent = TcpStream::connect(addr).unwrap();
    recent
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    recent
        .write_all(b"GET /status.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut recent), 200);

    let started = Instant::now();
    let (status, text) = raw(
        addr,
        b"GET /status.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        false,
    );
    assert_eq!(status, 200, "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the new client waited {:?}",
        started.elapsed()
    );
    // The cap holds: of the 11 earlier connections, at most 4 stay open.
    std::thread::sleep(Duration::from_millis(500));
    let open = idle
        .iter_mut()
        .map(|s| closed_within(s, Duration::from_millis(200)).is_none())
        .filter(|&still_open| still_open)
        .count();
    eprintln!("open idle: {open}");
    assert!(open <= 3, "{open} idle connections open with a cap of 4");
    assert!(
        closed_within(&mut recent, Duration::from_millis(200)).is_none(),
        "the most recently used connection was closed before idle ones"
    );
}

/// `GET path` on a fresh connection: (status, body length, time taken).
fn timed_get(addr: SocketAddr, path: &str) -> (u16, usize, Duration) {
    let started = Instant::now();
    let (status, text) = raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        false,
    );
    let body = text.split_once("\r\n\r\n").map_or(0, |(_, b)| b.len());
    (status, body, started.elapsed())
}

#[test]
fn stored_files_are_served_promptly_while_100_misses_wait_on_a_slow_upstream() {
    let stored =
        ModuleSpec::new("example.com/stored", "v1.0.0").file("stored.go", "package stored\n");
    let slow: Vec<ModuleSpec> = (0..100)
        .map(|i| {
            ModuleSpec::new(format!("example.com/slow{i}"), "v1.0.0")
                .file("slow.go", format!("package slow{i}\n"))
        })
        .collect();
    let proxy = TestProxy::start_with(slow.iter().cloned().chain([stored.clone()])).unwrap();
    for m in &slow {
        proxy.set_slow(m.path(), m.version(), Duration::from_secs(3));
    }
    let store = tempfile::tempdir().unwrap();
    let fs = modfs(store.path(), Some(&proxy.url()));
    let mv = ModuleVersion::new(stored.path(), stored.version()).unwrap();
    fs.meta(&mv, MetaFile::Info).unwrap();
    fs.meta(&mv, MetaFile::Mod).unwrap();
    fs.module(&mv).unwrap();
    let srv = server_with(fs, HttpOptions::default());
    let addr = srv.local_addr();

    // 100 cache misses over HTTP, half WebDAV, half GOPROXY.
    let misses: Vec<_> = slow
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let path = if i % 2 == 0 {
                format!("/cache/download{}", m.url_path("mod"))
            } else {
                format!("/proxy{}", m.url_path("info"))
            };
            std::thread::spawn(move || timed_get(addr, &path))
        })
        .collect();
    assert!(
        proxy.wait_for_requests("", 100, Duration::from_secs(60)),
        "the 100 misses did not all reach the upstream: {}",
        proxy.total_requests()
    );

    // With every miss waiting on the upstream: stored files at local speed.
    let paths = [
        format!("/cache/download{}", stored.url_path("mod")),
        format!("/cache/download{}", stored.url_path("info")),
        format!("/{}/stored.go", stored.cache_dir_name()),
        format!("/proxy{}", stored.url_path("mod")),
        format!("/proxy{}", stored.url_path("info")),
        format!("/proxy{}", stored.url_path("zip")),
    ];
    for path in &paths {
        let (status, len, took) = timed_get(addr, path);
        eprintln!("{path}: {status} in {took:?}");
        assert_eq!(status, 200, "{path}");
        assert!(len > 0, "{path}: empty");
        assert!(
            took < Duration::from_millis(500),
            "{path} took {took:?} while 100 downloads waited"
        );
    }
    for (i, t) in misses.into_iter().enumerate() {
        let (status, _, took) = t.join().unwrap();
        assert_eq!(status, 200, "miss {i}");
        assert!(
            took >= Duration::from_secs(2),
            "miss {i} took only {took:?}"
        );
    }
}

#[test]
fn a_full_cap_of_busy_connections_admits_a_new_client_when_a_request_ends() {
    let slow = ModuleSpec::new("example.com/slowbusy", "v1.0.0").file("a.go", "package a\n");
    let proxy = TestProxy::start_with([slow.clone()]).unwrap();
    proxy.set_fault(
        slow.path(),
        slow.version(),
        "info",
        Fault::Delay(Duration::from_secs(2)),
    );
    let store = tempfile::tempdir().unwrap();
    let srv = server_with(
        modfs(store.path(), Some(&proxy.url())),
        HttpOptions {
            max_connections: 2,
            header_timeout: Duration::from_secs(120),
            ..HttpOptions::default()
        },
    );
    let addr = srv.local_addr();
    // Two kept-alive connections, each with a request waiting 2 s on the
    // upstream: the cap is full of busy connections.
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let path = format!("/proxy{}", slow.url_path("info"));
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
                let status = read_response(&mut s);
                // Stay connected (idle) long after the response.
                std::thread::sleep(Duration::from_secs(8));
                status
            })
        })
        .collect();
    assert!(proxy.wait_for_requests(".info", 1, Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let (status, text) = raw(
        addr,
        b"GET /status.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        false,
    );
    assert_eq!(status, 200, "{text}");
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(6),
        "the new client waited {waited:?} for requests that ended after about 2 s"
    );
    for b in busy {
        assert_eq!(b.join().unwrap(), 200);
    }
}
