//! The HTTP server under hostile or careless clients, in-process: malformed
//! request bodies, PROPFIND without a depth, idle and slow connections, and
//! stored files while many downloads wait on a slow upstream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gomodfs_core::proxy::{Upstream, UpstreamConfig};
use gomodfs_core::store::GitStore;
use gomodfs_core::{ModFs, ModFsOptions};
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
    let bad_chunk = format!("{head}Transfer-Encoding: chunked\r\n\r\nzz\r\n<D:propfind/>\r\n0\r\n\r\n");
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
    let good = format!(
        "{head}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, text) = raw(addr, good.as_bytes(), false);
    assert_eq!(status, 207, "good body: {text}");
}
