//! Hermetic tests of the GOPROXY client against a tiny HTTP/1.1 server on
//! 127.0.0.1 that this file controls.
#![allow(clippy::unwrap_used)]

use gomodfs_core::proxy::{HttpProxy, ProxyFile, Upstream, UpstreamConfig};
use gomodfs_core::{Error, ErrorKind, ModuleVersion};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------
// The test server.

/// What the server answers.
#[derive(Clone, Debug)]
enum Reply {
    /// This status with this body (and a correct Content-Length).
    Status(u16, Vec<u8>),
    /// 200 with Content-Length `len`, sends `sent` bytes, then stalls.
    Stall { len: usize, sent: usize },
    /// 200 with Content-Length `len`, sends `sent` bytes, then closes.
    Truncate { len: usize, sent: usize },
    /// 200 without Content-Length: the body ends when the connection closes.
    Unsized(Vec<u8>),
    /// 200 whose body comes in `chunks` pieces, `gap` apart.
    Drip {
        body: Vec<u8>,
        chunks: usize,
        gap: Duration,
    },
    /// Reads the request and never answers.
    Silent,
    /// Waits, then replies.
    Delay(Duration, Box<Reply>),
}

fn ok(body: &str) -> Reply {
    Reply::Status(200, body.as_bytes().to_vec())
}

fn status(code: u16) -> Reply {
    Reply::Status(
        code,
        format!("status {code} from test server\n").into_bytes(),
    )
}

/// A request as the server saw it.
#[derive(Clone, Debug)]
struct Req {
    /// The request line, e.g. `GET /x HTTP/1.1`.
    line: String,
    /// The request target (path, absolute URL or authority).
    target: String,
    /// Headers, names in lower case.
    headers: Vec<(String, String)>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

type Handler = dyn Fn(&Req, usize) -> Reply + Send + Sync;

struct Server {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Req>>>,
}

impl Server {
    /// Starts a server; `handler` gets each request and how many requests
    /// for the same target came before it.
    async fn start(handler: impl Fn(&Req, usize) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log2 = Arc::clone(&log);
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                let log = Arc::clone(&log2);
                let handler = Arc::clone(&handler);
                tokio::spawn(serve(conn, log, handler));
            }
        });
        Server { addr, log }
    }

    /// A server that answers every request the same way.
    async fn fixed(reply: Reply) -> Server {
        Server::start(move |_, _| reply.clone()).await
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn count(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }
}

async fn serve(mut conn: TcpStream, log: Arc<Mutex<Vec<Req>>>, handler: Arc<Handler>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or("").to_owned();
    let target = line.split(' ').nth(1).unwrap_or("").to_owned();
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let req = Req {
        line,
        target,
        headers,
    };
    let nth = {
        let mut log = log.lock().unwrap();
        let nth = log.iter().filter(|r| r.target == req.target).count();
        log.push(req.clone());
        nth
    };
    let mut reply = handler(&req, nth);
    while let Reply::Delay(d, inner) = reply {
        tokio::time::sleep(d).await;
        reply = *inner;
    }
    let head = |code: u16, len: Option<usize>| {
        let mut h =
            format!("HTTP/1.1 {code} X\r\nConnection: close\r\nContent-Type: text/plain\r\n");
        if let Some(len) = len {
            h.push_str(&format!("Content-Length: {len}\r\n"));
        }
        h.push_str("\r\n");
        h.into_bytes()
    };
    let _ = match reply {
        Reply::Status(code, body) => {
            let mut out = head(code, Some(body.len()));
            out.extend_from_slice(&body);
            conn.write_all(&out).await
        }
        Reply::Stall { len, sent } => {
            let mut out = head(200, Some(len));
            out.extend(std::iter::repeat_n(b'x', sent));
            let _ = conn.write_all(&out).await;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
        Reply::Truncate { len, sent } => {
            let mut out = head(200, Some(len));
            out.extend(std::iter::repeat_n(b'x', sent));
            conn.write_all(&out).await
        }
        Reply::Unsized(body) => {
            let mut out = head(200, None);
            out.extend_from_slice(&body);
            conn.write_all(&out).await
        }
        Reply::Drip { body, chunks, gap } => {
            let _ = conn.write_all(&head(200, Some(body.len()))).await;
            for piece in body.chunks(body.len().div_ceil(chunks)) {
                tokio::time::sleep(gap).await;
                if conn.write_all(piece).await.is_err() {
                    break;
                }
            }
            Ok(())
        }
        Reply::Silent => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
        Reply::Delay(..) => Ok(()),
    };
    let _ = conn.shutdown().await;
}

// ---------------------------------------------------------------------------
// Helpers.

/// A hermetic configuration: no forward proxy from the environment, short
/// backoff.
fn cfg(list: &str) -> UpstreamConfig {
    let mut c = UpstreamConfig::with_proxy(list);
    c.http_proxy = HttpProxy::Disabled;
    c.retry_backoff = Duration::from_millis(10);
    c.idle_timeout = Duration::from_secs(5);
    c
}

fn upstream(c: UpstreamConfig) -> Upstream {
    Upstream::new(c).unwrap()
}

fn mv() -> ModuleVersion {
    ModuleVersion::new("example.com/mod", "v1.0.0").unwrap()
}

const MOD_PATH: &str = "/example.com/mod/@v/v1.0.0.mod";

fn assert_not_found(r: Result<bytes::Bytes, Error>) -> String {
    match r {
        Err(e @ Error::ModuleNotFound { .. }) => {
            assert_eq!(e.kind(), ErrorKind::NotFound);
            e.to_string()
        }
        other => panic!("expected ModuleNotFound, got {other:?}"),
    }
}

fn assert_upstream(r: Result<bytes::Bytes, Error>) -> String {
    match r {
        Err(e @ Error::Upstream { .. }) => {
            assert_eq!(e.kind(), ErrorKind::Io);
            e.to_string()
        }
        other => panic!("expected Upstream error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// URLs, headers, success.

#[tokio::test]
async fn fetches_escaped_url_with_trailing_slash() {
    let s = Server::start(|req, _| ok(&format!("served {}", req.target))).await;
    let up = upstream(cfg(&format!("{}/goproxy/", s.url())));
    let m = ModuleVersion::new("github.com/BurntSushi/toml", "v1.2.3-RC1").unwrap();

    let body = up.fetch(&m, ProxyFile::Mod).await.unwrap();
    assert_eq!(
        &body[..],
        b"served /goproxy/github.com/!burnt!sushi/toml/@v/v1.2.3-!r!c1.mod"
    );
    up.fetch(&m, ProxyFile::Info).await.unwrap();
    up.fetch(&m, ProxyFile::Zip).await.unwrap();

    let reqs = s.requests();
    let targets: Vec<_> = reqs.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "/goproxy/github.com/!burnt!sushi/toml/@v/v1.2.3-!r!c1.mod",
            "/goproxy/github.com/!burnt!sushi/toml/@v/v1.2.3-!r!c1.info",
            "/goproxy/github.com/!burnt!sushi/toml/@v/v1.2.3-!r!c1.zip",
        ]
    );
    assert!(reqs[0].line.starts_with("GET "), "{}", reqs[0].line);
    let ua = reqs[0].header("user-agent").unwrap();
    assert!(ua.starts_with("gomodfs/"), "{ua}");
    assert_eq!(reqs[0].header("authorization"), None);

    let st = up.stats();
    assert_eq!(st.requests, 3);
    assert_eq!(st.errors + st.not_found + st.retries, 0);
    assert!(st.bytes > 0);
    assert_eq!(ProxyFile::Zip.extension(), "zip");
    assert_eq!(ProxyFile::Info.to_string(), ".info");
}

// ---------------------------------------------------------------------------
// Not found and the negative cache.

#[tokio::test]
async fn not_found_is_remembered() {
    let s = Server::start(|req, _| {
        if req.target.ends_with(".zip") {
            Reply::Status(410, b"gone: no zip here".to_vec())
        } else {
            Reply::Status(404, b"not found: example.com/mod@v1.0.0: nope".to_vec())
        }
    })
    .await;
    let up = upstream(cfg(&s.url()));

    let msg = assert_not_found(up.fetch(&mv(), ProxyFile::Mod).await);
    assert!(msg.contains("404") && msg.contains("nope"), "{msg}");
    assert!(msg.contains(MOD_PATH), "{msg}");
    // The second fetch is answered from the negative cache.
    let again = assert_not_found(up.fetch(&mv(), ProxyFile::Mod).await);
    assert_eq!(msg, again);
    assert_eq!(s.count(), 1);

    // Per file: .zip is its own entry; 410 is not-found as well.
    let msg = assert_not_found(up.fetch(&mv(), ProxyFile::Zip).await);
    assert!(msg.contains("410") && msg.contains("gone"), "{msg}");
    assert_not_found(up.fetch(&mv(), ProxyFile::Zip).await);
    assert_eq!(s.count(), 2);

    let st = up.stats();
    assert_eq!(st.not_found, 2);
    assert_eq!(st.negative_hits, 2);
    assert_eq!(st.errors, 0);
    assert_eq!(st.retries, 0, "404/410 are not retried");
}

#[tokio::test]
async fn negative_cache_expires() {
    let s = Server::fixed(status(404)).await;
    let mut c = cfg(&s.url());
    c.negative_ttl = Duration::from_millis(150);
    let up = upstream(c);
    assert_not_found(up.fetch(&mv(), ProxyFile::Mod).await);
    assert_not_found(up.fetch(&mv(), ProxyFile::Mod).await);
    assert_eq!(s.count(), 1);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_not_found(up.fetch(&mv(), ProxyFile::Mod).await);
    assert_eq!(s.count(), 2);

    // Zero TTL: nothing is remembered.
    let s = Server::fixed(status(404)).await;
    let mut c = cfg(&s.url());
    c.negative_ttl = Duration::ZERO;
    let up = upstream(c);
    assert_not_found(up.fetch(&mv(), ProxyFile::Mod).await);
    assert_not_found(up.fetch(&mv(), ProxyFile::Mod).await);
    assert_eq!(s.count(), 2);
}

#[tokio::test]
async fn errors_are_not_remembered() {
    let s = Server::start(|_, nth| if nth == 0 { status(500) } else { ok("fine") }).await;
    let mut c = cfg(&s.url());
    c.retries = 0;
    let up = upstream(c);
    assert_upstream(up.fetch(&mv(), ProxyFile::Mod).await);
    assert_eq!(&up.fetch(&mv(), ProxyFile::Mod).await.unwrap()[..], b"fine");
    assert_eq!(s.count(), 2);
}

// ---------------------------------------------------------------------------
// GOPROXY list semantics.

#[tokio::test]
async fn comma_falls_through_only_on_not_found() {
    let a404 = Server::fixed(status(404)).await;
    let a410 = Server::fixed(status(410)).await;
    let a500 = Server::fixed(status(500)).await;
    let a403 = Server::fixed(status(403)).await;
    let b = Server::fixed(ok("from b")).await;

    let up = upstream(cfg(&format!("{},{},{}", a404.url(), a410.url(), b.url())));
    assert_eq!(
        &up.fetch(&mv(), ProxyFile::Mod).await.unwrap()[..],
        b"from b"
    );
    assert_eq!((a404.count(), a410.count(), b.count()), (1, 1, 1));

    let mut c = cfg(&format!("{},{}", a500.url(), b.url()));
    c.retries = 0;
    let msg = assert_upstream(upstream(c).fetch(&mv(), ProxyFile::Mod).await);
    assert!(msg.contains("500"), "{msg}");
    assert_eq!(b.count(), 1, "b must not be asked after a 500 with ','");

    // 403 is neither not-found nor transient: stop, no retries.
    let up = upstream(cfg(&format!("{},{}", a403.url(), b.url())));
    let msg = assert_upstream(up.fetch(&mv(), ProxyFile::Mod).await);
    assert!(msg.contains("403"), "{msg}");
    assert_eq!(a403.count(), 1);
    assert_eq!(b.count(), 1);
    assert_eq!(up.stats().retries, 0);
}

#[tokio::test]
async fn pipe_falls_through_on_any_error() {
    let a500 = Server::fixed(status(500)).await;
    let a403 = Server::fixed(status(403)).await;
    let b = Server::fixed(ok("from b")).await;
    let mut c = cfg(&format!("{}|{}|{}", a500.url(), a403.url(), b.url()));
    c.retries = 1;
    let up = upstream(c);
    assert_eq!(
        &up.fetch(&mv(), ProxyFile::Mod).await.unwrap()[..],
        b"from b"
    );
    assert_eq!(a500.count(), 2, "retried once before falling through");
    assert_eq!(a403.count(), 1);
    assert_eq!(up.stats().errors, 0);

    // A connection refused also falls through with '|'.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let mut c = cfg(&format!("{dead_url}|{}", b.url()));
    c.retries = 0;
    assert!(upstream(c).fetch(&mv(), ProxyFile::Mod).await.is_ok());
}

#[tokio::test]
async fn most_useful_error_wins_like_go() {
    // A proxy error beats a later not-found: go reports the 500.
    let a500 = Server::fixed(status(500)).await;
    let b404 = Server::fixed(status(404)).await;
    let mut c = cfg(&format!("{}|{}", a500.url(), b404.url()));
    c.retries = 0;
    let msg = assert_upstream(upstream(c).fetch(&mv(), ProxyFile::Mod).await);
    assert!(msg.contains("500"), "{msg}");
    assert_eq!(b404.count(), 1);

    // All not-found: not-found, naming the last proxy asked.
    let a404 = Server::fixed(status(404)).await;
    let up = upstream(cfg(&format!("{},{}", a404.url(), b404.url())));
    let msg = assert_not_found(up.fetch(&mv(), ProxyFile::Mod).await);
    assert!(msg.contains(&b404.url()), "{msg}");
}

#[tokio::test]
async fn off_and_direct() {
    let a = Server::fixed(ok("a")).await;
    let a404 = Server::fixed(status(404)).await;
    let a500 = Server::fixed(status(500)).await;

    let msg = assert_upstream(upstream(cfg("off")).fetch(&mv(), ProxyFile::Mod).await);
    assert!(
        msg.contains("module lookup disabled by GOPROXY=off"),
        "{msg}"
    );

    // The list ends at off: later entries are ignored.
    let up = upstream(cfg(&format!("off,{}", a.url())));
    assert_eq!(up.proxies(), "off");
    assert_upstream(up.fetch(&mv(), ProxyFile::Mod).await);
    assert_eq!(a.count(), 0);

    let msg = assert_upstream(upstream(cfg("direct")).fetch(&mv(), ProxyFile::Mod).await);
    assert!(
        msg.contains("direct") && msg.contains("does not support"),
        "{msg}"
    );

    // Go's default shape "proxy,direct": a 404 from the proxy stays a
    // not-found (ENOENT), with a note that direct is not supported.
    let up = upstream(cfg(&format!("{},direct", a404.url())));
    let msg = assert_not_found(up.fetch(&mv(), ProxyFile::Mod).await);
    assert!(msg.contains("404") && msg.contains("direct"), "{msg}");
    let up = upstream(cfg(&format!("{},off", a404.url())));
    let msg = assert_not_found(up.fetch(&mv(), ProxyFile::Mod).await);
    assert!(msg.contains("off"), "{msg}");

    // A proxy error falling through to direct reports the proxy error.
    let mut c = cfg(&format!("{}|direct", a500.url()));
    c.retries = 0;
    let msg = assert_upstream(upstream(c).fetch(&mv(), ProxyFile::Mod).await);
    assert!(msg.contains("500") && msg.contains("direct"), "{msg}");

    assert_eq!(
        Upstream::new(UpstreamConfig::default()).unwrap().proxies(),
        "https://proxy.golang.org,direct"
    );
    assert_eq!(
        upstream(cfg(" goproxy.example/x/ | file:///tmp/p, direct, off")).proxies(),
        "https://goproxy.example/x|file:///tmp/p,direct"
    );
}

#[tokio::test]
async fn bad_configuration_is_a_config_error() {
    for list in [",", " | ", "ftp://x.example", "noproxy", "http://[::1"] {
        match Upstream::new(cfg(list)) {
            Err(Error::Config(msg)) => assert!(!msg.is_empty()),
            other => panic!("{list:?}: {other:?}"),
        }
    }
    let mut c = cfg("https://proxy.example");
    c.http_proxy = HttpProxy::Url("::not a url::".into());
    assert!(matches!(Upstream::new(c), Err(Error::Config(_))));
}

#[tokio::test]
async fn gonoproxy_refuses_matching_modules() {
    let s = Server::fixed(ok("x")).await;
    let mut c = cfg(&s.url());
    c.noproxy = "example.com/private,*.corp.example".into();
    let up = upstream(c);
    for path in [
        "example.com/private",
        "example.com/private/sub",
        "git.corp.example/a",
    ] {
        let m = ModuleVersion::new(path, "v1.0.0").unwrap();
        let msg = assert_upstream(up.fetch(&m, ProxyFile::Mod).await);
        assert!(
            msg.contains("GONOPROXY") && msg.contains("GONOPROXY=none"),
            "{msg}"
        );
    }
    assert_eq!(s.count(), 0);
    up.fetch(&mv(), ProxyFile::Mod).await.unwrap();
    let m = ModuleVersion::new("example.com/privateer", "v1.0.0").unwrap();
    up.fetch(&m, ProxyFile::Mod).await.unwrap();
    assert_eq!(s.count(), 2);

    let mut c = cfg(&s.url());
    c.noproxy = "none".into();
    let m = ModuleVersion::new("example.com/private", "v1.0.0").unwrap();
    upstream(c).fetch(&m, ProxyFile::Mod).await.unwrap();
}

// ---------------------------------------------------------------------------
// Retries and timeouts.

#[tokio::test]
async fn transient_errors_are_retried() {
    let s = Server::start(|_, nth| match nth {
        0 => status(500),
        1 => status(429),
        2 => status(503),
        _ => ok("third time lucky"),
    })
    .await;
    let up = upstream(cfg(&s.url()));
    let body = up.fetch(&mv(), ProxyFile::Mod).await.unwrap();
    assert_eq!(&body[..], b"third time lucky");
    assert_eq!(s.count(), 4);
    let st = up.stats();
    assert_eq!((st.requests, st.retries, st.errors), (4, 3, 0));
}

#[tokio::test]
async fn persistent_5xx_is_an_upstream_error_after_backoff() {
    let s = Server::fixed(status(502)).await;
    let mut c = cfg(&s.url());
    c.retries = 3;
    c.retry_backoff = Duration::from_millis(40);
    let up = upstream(c);
    let started = Instant::now();
    let msg = assert_upstream(up.fetch(&mv(), ProxyFile::Mod).await);
    let took = started.elapsed();
    assert!(
        msg.contains("502") && msg.contains("after 4 attempts"),
        "{msg}"
    );
    assert!(msg.contains("fetching .mod"), "{msg}");
    // 40 + 80 + 160 ms of backoff.
    assert!(took >= Duration::from_millis(280), "{took:?}");
    assert_eq!(s.count(), 4);
    let st = up.stats();
    assert_eq!((st.requests, st.retries, st.errors), (4, 3, 1));
}

#[tokio::test]
async fn stalled_body_hits_the_idle_timeout() {
    let s = Server::fixed(Reply::Stall {
        len: 10_000,
        sent: 100,
    })
    .await;
    let mut c = cfg(&s.url());
    c.idle_timeout = Duration::from_millis(300);
    c.retries = 1;
    let up = upstream(c);
    let started = Instant::now();
    let msg = assert_upstream(up.fetch(&mv(), ProxyFile::Zip).await);
    assert!(
        msg.contains("no data for") && msg.contains("after 100 bytes"),
        "{msg}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.count(), 2, "a stall is transient and retried");
}

#[tokio::test]
async fn missing_response_hits_the_idle_timeout() {
    let s = Server::fixed(Reply::Silent).await;
    let mut c = cfg(&s.url());
    c.idle_timeout = Duration::from_millis(200);
    c.retries = 0;
    let msg = assert_upstream(upstream(c).fetch(&mv(), ProxyFile::Info).await);
    assert!(msg.contains("no response within"), "{msg}");
}

#[tokio::test]
async fn slow_but_steady_body_has_no_total_timeout() {
    let body: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let s = Server::fixed(Reply::Drip {
        body: body.clone(),
        chunks: 8,
        gap: Duration::from_millis(100),
    })
    .await;
    let mut c = cfg(&s.url());
    c.idle_timeout = Duration::from_millis(400);
    let up = upstream(c);
    let started = Instant::now();
    let got = up.fetch(&mv(), ProxyFile::Zip).await.unwrap();
    assert!(started.elapsed() > Duration::from_millis(700));
    assert_eq!(&got[..], &body[..]);
    assert_eq!(up.stats().bytes, body.len() as u64);
}

#[tokio::test]
async fn a_drip_below_the_minimum_rate_fails_within_a_window() {
    // 20 bytes/s: every chunk comes well within the idle timeout.
    let s = Server::fixed(Reply::Drip {
        body: vec![b'x'; 10_000],
        chunks: 10_000,
        gap: Duration::from_millis(50),
    })
    .await;
    let mut c = cfg(&s.url());
    c.idle_timeout = Duration::from_millis(400);
    c.min_rate = 1024;
    c.retries = 0;
    let up = upstream(c);
    let started = Instant::now();
    let msg = assert_upstream(up.fetch(&mv(), ProxyFile::Zip).await);
    assert!(msg.contains("too slow"), "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn shutdown_cancels_fetches_in_flight_and_refuses_new_ones() {
    let s = Server::fixed(Reply::Stall {
        len: 10_000,
        sent: 100,
    })
    .await;
    let mut c = cfg(&s.url());
    c.idle_timeout = Duration::from_secs(60);
    let up = upstream(c);
    let fetch = tokio::spawn({
        let up = up.clone();
        async move { up.fetch(&mv(), ProxyFile::Zip).await }
    });
    while s.count() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    up.shutdown();
    assert!(up.is_shut_down());
    let result = tokio::time::timeout(Duration::from_secs(5), fetch)
        .await
        .expect("the stalled fetch must end at shutdown")
        .unwrap();
    let msg = assert_upstream(result);
    assert!(msg.contains("shutting down"), "{msg}");
    assert!(started.elapsed() < Duration::from_secs(1));
    let msg = assert_upstream(up.fetch(&mv(), ProxyFile::Mod).await);
    assert!(msg.contains("shutting down"), "{msg}");
    assert_eq!(s.count(), 1, "no request after shutdown");
}

#[tokio::test]
async fn truncated_body_is_never_ok() {
    let s = Server::fixed(Reply::Truncate {
        len: 1000,
        sent: 500,
    })
    .await;
    let mut c = cfg(&s.url());
    c.retries = 1;
    let up = upstream(c);
    let msg = assert_upstream(up.fetch(&mv(), ProxyFile::Zip).await);
    assert!(msg.contains("after 2 attempts"), "{msg}");
    assert_eq!(s.count(), 2);

    // Truncated once, then complete: the retry succeeds with all the data.
    let s = Server::start(|_, nth| {
        if nth == 0 {
            Reply::Truncate {
                len: 1000,
                sent: 10,
            }
        } else {
            Reply::Status(200, vec![b'x'; 1000])
        }
    })
    .await;
    let got = upstream(cfg(&s.url()))
        .fetch(&mv(), ProxyFile::Zip)
        .await
        .unwrap();
    assert_eq!(got.len(), 1000);
}

#[tokio::test]
async fn oversized_body_is_an_error() {
    let big = Server::fixed(Reply::Status(200, vec![b'x'; 2000])).await;
    let unsized_big = Server::fixed(Reply::Unsized(vec![b'x'; 2000])).await;
    let exact = Server::fixed(Reply::Unsized(vec![b'x'; 1000])).await;
    let limited = |url: String| {
        let mut c = cfg(&url);
        c.max_body = 1000;
        upstream(c)
    };

    let up = limited(big.url());
    let msg = assert_upstream(up.fetch(&mv(), ProxyFile::Zip).await);
    assert!(msg.contains("exceeds the limit of 1000 bytes"), "{msg}");
    assert_eq!(big.count(), 1, "too large is not retried");
    assert_eq!(up.stats().retries, 0);

    let msg = assert_upstream(
        limited(unsized_big.url())
            .fetch(&mv(), ProxyFile::Zip)
            .await,
    );
    assert!(msg.contains("exceeds the limit of 1000 bytes"), "{msg}");

    let got = limited(exact.url())
        .fetch(&mv(), ProxyFile::Zip)
        .await
        .unwrap();
    assert_eq!(got.len(), 1000);
}

// ---------------------------------------------------------------------------
// Single flight.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_fetches_share_one_request() {
    let s = Server::fixed(Reply::Delay(
        Duration::from_millis(300),
        Box::new(ok("shared body")),
    ))
    .await;
    let up = upstream(cfg(&s.url()));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let up = up.clone();
        tasks.spawn(async move { up.fetch(&mv(), ProxyFile::Zip).await });
    }
    while let Some(r) = tasks.join_next().await {
        assert_eq!(&r.unwrap().unwrap()[..], b"shared body");
    }
    assert_eq!(s.count(), 1);
    let st = up.stats();
    assert_eq!((st.requests, st.coalesced), (1, 15));

    // Different files are different fetches.
    let m = mv();
    let (a, b) = tokio::join!(up.fetch(&m, ProxyFile::Info), up.fetch(&m, ProxyFile::Mod));
    a.unwrap();
    b.unwrap();
    assert_eq!(s.count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_fetches_share_one_error() {
    let s = Server::fixed(Reply::Delay(
        Duration::from_millis(200),
        Box::new(status(500)),
    ))
    .await;
    let mut c = cfg(&s.url());
    c.retries = 0;
    let up = upstream(c);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let up = up.clone();
        tasks.spawn(async move { up.fetch(&mv(), ProxyFile::Zip).await });
    }
    while let Some(r) = tasks.join_next().await {
        assert_upstream(r.unwrap());
    }
    assert_eq!(s.count(), 1);
    assert_eq!(up.stats().errors, 1);
}

#[tokio::test]
async fn abandoned_fetch_is_not_cancelled_for_others() {
    let s = Server::fixed(Reply::Delay(
        Duration::from_millis(300),
        Box::new(ok("finished anyway")),
    ))
    .await;
    let up = upstream(cfg(&s.url()));
    // The first caller gives up early.
    let first =
        tokio::time::timeout(Duration::from_millis(50), up.fetch(&mv(), ProxyFile::Zip)).await;
    assert!(first.is_err(), "the first caller should have timed out");
    // The second caller joins the download still in flight.
    let got = up.fetch(&mv(), ProxyFile::Zip).await.unwrap();
    assert_eq!(&got[..], b"finished anyway");
    assert_eq!(s.count(), 1);
    assert_eq!(up.stats().coalesced, 1);
}

// ---------------------------------------------------------------------------
// file:// proxies.

#[tokio::test]
async fn file_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let vdir = dir.path().join("github.com/!burnt!sushi/toml/@v");
    std::fs::create_dir_all(&vdir).unwrap();
    std::fs::write(
        vdir.join("v1.2.3.mod"),
        b"module github.com/BurntSushi/toml\n",
    )
    .unwrap();
    let m = ModuleVersion::new("github.com/BurntSushi/toml", "v1.2.3").unwrap();
    let file_url = format!("file://{}/", dir.path().display());

    let up = upstream(cfg(&file_url));
    let got = up.fetch(&m, ProxyFile::Mod).await.unwrap();
    assert_eq!(&got[..], b"module github.com/BurntSushi/toml\n");
    let msg = assert_not_found(up.fetch(&m, ProxyFile::Info).await);
    assert!(msg.contains("v1.2.3.info"), "{msg}");
    assert_not_found(up.fetch(&mv(), ProxyFile::Mod).await);

    // Not found in the directory falls through to the next proxy.
    let s = Server::fixed(ok("{}")).await;
    let up = upstream(cfg(&format!("{file_url},{}", s.url())));
    assert_eq!(&up.fetch(&m, ProxyFile::Info).await.unwrap()[..], b"{}");
    assert_eq!(s.count(), 1);

    // The body limit applies to files too.
    let mut c = cfg(&file_url);
    c.max_body = 4;
    let msg = assert_upstream(upstream(c).fetch(&m, ProxyFile::Mod).await);
    assert!(msg.contains("exceeds the limit"), "{msg}");
}

// ---------------------------------------------------------------------------
// Credentials.

#[tokio::test]
async fn netrc_credentials_are_sent_to_matching_hosts() {
    let s = Server::fixed(ok("x")).await;
    let dir = tempfile::tempdir().unwrap();
    let netrc = dir.path().join("netrc");
    std::fs::write(
        &netrc,
        "machine other.example login eve password nope\n\
         machine 127.0.0.1\n  login alice\n  password s3cret\n\
         default login anon password anon\n",
    )
    .unwrap();
    let mut c = cfg(&s.url());
    c.netrc = Some(netrc.clone());
    upstream(c).fetch(&mv(), ProxyFile::Mod).await.unwrap();
    assert_eq!(
        s.requests()[0].header("authorization"),
        Some("Basic YWxpY2U6czNjcmV0")
    );

    // No machine entry for this host: nothing is sent (not even `default`).
    std::fs::write(
        &netrc,
        "machine other.example login eve password nope\ndefault login anon password anon\n",
    )
    .unwrap();
    let mut c = cfg(&s.url());
    c.netrc = Some(netrc.clone());
    upstream(c).fetch(&mv(), ProxyFile::Mod).await.unwrap();
    assert_eq!(s.requests()[1].header("authorization"), None);

    // A missing netrc file is fine.
    let mut c = cfg(&s.url());
    c.netrc = Some(dir.path().join("absent"));
    upstream(c).fetch(&mv(), ProxyFile::Mod).await.unwrap();
    assert_eq!(s.requests()[2].header("authorization"), None);
}

#[tokio::test]
async fn url_credentials_are_sent_and_never_shown() {
    let s = Server::fixed(status(500)).await;
    let url = format!("http://bob:p%40ss@{}", s.addr);
    let mut c = cfg(&url);
    c.retries = 0;
    let up = upstream(c);
    let msg = assert_upstream(up.fetch(&mv(), ProxyFile::Mod).await);
    assert_eq!(
        s.requests()[0].header("authorization"),
        Some("Basic Ym9iOnBAc3M=")
    );
    assert!(!msg.contains("p%40ss") && !msg.contains("bob"), "{msg}");
    assert!(!up.proxies().contains("bob"), "{}", up.proxies());
    assert!(!format!("{up:?}").contains("p%40ss"));
}

// ---------------------------------------------------------------------------
// Forward proxies.

#[tokio::test]
async fn explicit_http_proxy_is_used() {
    // The "proxy" answers itself: upstream.invalid does not resolve, so a
    // success proves the request went through the proxy.
    let proxy = Server::fixed(ok("via proxy")).await;
    let mut c = cfg("http://upstream.invalid/base");
    c.http_proxy = HttpProxy::Url(proxy.url());
    let got = upstream(c).fetch(&mv(), ProxyFile::Mod).await.unwrap();
    assert_eq!(&got[..], b"via proxy");
    assert_eq!(
        proxy.requests()[0].line,
        format!("GET http://upstream.invalid/base{MOD_PATH} HTTP/1.1")
    );
}

/// Environment variables are process-wide, so the test runs a copy of this
/// test binary with them set (`child_env_proxy`) and checks what the proxy
/// and the upstream server saw.
#[tokio::test]
async fn environment_proxy_variables_are_honoured() {
    let proxy = Server::start(|req, _| {
        if req.line.starts_with("CONNECT ") {
            status(403)
        } else {
            ok("via env proxy")
        }
    })
    .await;
    let direct = Server::fixed(ok("direct")).await;
    let exe = std::env::current_exe().unwrap();
    let out = tokio::process::Command::new(exe)
        .args(["--exact", "child_env_proxy", "--ignored", "--nocapture"])
        .env("GOMODFS_TEST_CHILD", "1")
        .env("GOMODFS_TEST_DIRECT", direct.url())
        .env("HTTP_PROXY", proxy.url())
        .env("HTTPS_PROXY", proxy.url())
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("no_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .env_remove("REQUEST_METHOD")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "child did not run:\n{stdout}");

    let lines: Vec<String> = proxy.requests().into_iter().map(|r| r.line).collect();
    assert_eq!(
        lines,
        [
            format!("GET http://upstream.invalid{MOD_PATH} HTTP/1.1"),
            "CONNECT secure.invalid:443 HTTP/1.1".to_owned(),
        ]
    );
    assert_eq!(direct.count(), 1, "NO_PROXY host must be reached directly");
}

/// Run by `environment_proxy_variables_are_honoured` in a child process.
#[tokio::test]
#[ignore = "run by environment_proxy_variables_are_honoured in a child process"]
async fn child_env_proxy() {
    if std::env::var_os("GOMODFS_TEST_CHILD").is_none() {
        return;
    }
    let env_cfg = |list: &str| {
        let mut c = UpstreamConfig::with_proxy(list);
        c.retries = 0;
        c.idle_timeout = Duration::from_secs(5);
        assert_eq!(c.http_proxy, HttpProxy::FromEnv);
        upstream(c)
    };
    // HTTP_PROXY: absolute-form request to the proxy.
    let got = env_cfg("http://upstream.invalid")
        .fetch(&mv(), ProxyFile::Mod)
        .await
        .unwrap();
    assert_eq!(&got[..], b"via env proxy");
    // HTTPS_PROXY: a CONNECT tunnel, which the test proxy refuses.
    let msg = assert_upstream(
        env_cfg("https://secure.invalid")
            .fetch(&mv(), ProxyFile::Mod)
            .await,
    );
    eprintln!("refused tunnel: {msg}");
    // NO_PROXY: straight to the server.
    let direct = std::env::var("GOMODFS_TEST_DIRECT").unwrap();
    let got = env_cfg(&direct).fetch(&mv(), ProxyFile::Mod).await.unwrap();
    assert_eq!(&got[..], b"direct");
}

#[test]
fn upstream_and_its_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync + Clone + 'static>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<Upstream>();
    let up = Upstream::new(cfg("off")).unwrap();
    let m = mv();
    let fut = up.fetch(&m, ProxyFile::Mod);
    send(&fut);
}

/// A zip fetched into a file: a retried attempt starts the file over, so it
/// holds exactly the body however many attempts it took; a not-found is
/// remembered like any fetch's.
#[tokio::test]
async fn fetch_to_file_holds_exactly_the_body_after_a_truncated_attempt() {
    use std::io::{Read, Seek};
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let answer = body.clone();
    let s = Server::start(move |req, before| {
        if req.target.contains("missing") {
            status(404)
        } else if before == 0 {
            Reply::Truncate {
                len: answer.len(),
                sent: answer.len() / 2,
            }
        } else {
            Reply::Status(200, answer.clone())
        }
    })
    .await;
    let up = upstream(cfg(&s.url()));
    let mut file = tempfile::tempfile().unwrap();
    let len = up
        .fetch_to_file(&mv(), ProxyFile::Zip, &mut file)
        .await
        .unwrap();
    assert_eq!(len, body.len() as u64);
    assert!(up.stats().retries >= 1, "the first attempt was cut short");
    file.rewind().unwrap();
    let mut got = Vec::new();
    file.read_to_end(&mut got).unwrap();
    assert!(got == body, "{} bytes, not exactly the body", got.len());

    let missing = ModuleVersion::new("example.com/missing", "v1.0.0").unwrap();
    let mut file = tempfile::tempfile().unwrap();
    let err = up
        .fetch_to_file(&missing, ProxyFile::Zip, &mut file)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ModuleNotFound { .. }), "{err}");
    let again = up.fetch_to_file(&missing, ProxyFile::Zip, &mut file).await;
    assert!(matches!(again, Err(Error::ModuleNotFound { .. })));
    assert_eq!(up.stats().negative_hits, 1);
}

/// A `file://` zip larger than one read step reaches the file exactly, on a
/// multi-thread runtime too (there the copy runs off the async workers).
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn fetch_to_file_copies_a_large_file_proxy_zip_exactly() {
    use std::io::{Read, Seek};
    let dir = tempfile::tempdir().unwrap();
    let m = mv();
    let vdir = dir.path().join(format!("{}/@v", m.escaped_path()));
    std::fs::create_dir_all(&vdir).unwrap();
    let body: Vec<u8> = (0..3_500_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(vdir.join(format!("{}.zip", m.escaped_version())), &body).unwrap();
    let up = upstream(cfg(&format!("file://{}/", dir.path().display())));
    let mut file = tempfile::tempfile().unwrap();
    let len = up
        .fetch_to_file(&m, ProxyFile::Zip, &mut file)
        .await
        .unwrap();
    assert_eq!(len, body.len() as u64);
    file.rewind().unwrap();
    let mut got = Vec::new();
    file.read_to_end(&mut got).unwrap();
    assert!(got == body, "{} bytes, not exactly the file", got.len());
}
