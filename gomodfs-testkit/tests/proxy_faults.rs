//! TestProxy protocol and fault injection, checked with a plain TcpStream
//! client.
#![allow(clippy::unwrap_used, missing_docs)]

use gomodfs_testkit::{Fault, Hostile, ModuleSpec, TestProxy};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

struct Answer {
    status: u16,
    content_length: Option<usize>,
    body: Vec<u8>,
    /// Whether the server closed the connection (EOF) rather than the
    /// client timing out.
    eof: bool,
}

fn get_raw(proxy: &TestProxy, request: &str, read_timeout: Duration) -> Answer {
    let mut s = TcpStream::connect(proxy.addr()).unwrap();
    s.set_read_timeout(Some(read_timeout)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let eof = loop {
        match s.read(&mut chunk) {
            Ok(0) => break true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break false;
            }
            Err(e) => panic!("read: {e}"),
        }
    };
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(buf[..end].to_vec()).unwrap();
    let status = head[9..12].parse().unwrap();
    let content_length = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map(|v| v.parse().unwrap());
    assert!(head.contains("Connection: close"));
    Answer {
        status,
        content_length,
        body: buf[end + 4..].to_vec(),
        eof,
    }
}

fn get(proxy: &TestProxy, path: &str) -> Answer {
    get_raw(
        proxy,
        &format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", proxy.addr()),
        Duration::from_secs(10),
    )
}

fn spec() -> ModuleSpec {
    ModuleSpec::new("example.com/Hello", "v1.0.0-RC1").file("hello.go", "package hello\n")
}

#[test]
fn serves_the_goproxy_protocol() {
    let m = spec();
    let proxy = TestProxy::start_with([
        m.clone(),
        ModuleSpec::new("example.com/Hello", "v1.1.0"),
        ModuleSpec::new("example.com/Hello", "v1.2.0-pre"),
    ])
    .unwrap();
    assert!(proxy.url().starts_with("http://127.0.0.1:"));

    let a = get(&proxy, "/example.com/!hello/@v/v1.0.0-!r!c1.info");
    assert_eq!((a.status, a.body), (200, m.info_bytes()));
    let a = get(&proxy, "/example.com/!hello/@v/v1.0.0-!r!c1.mod");
    assert_eq!((a.status, a.body), (200, m.mod_bytes()));
    // Percent-encoded `!`, as go sends it.
    let a = get(&proxy, "/example.com/%21hello/@v/v1.0.0-%21r%21c1.zip");
    assert_eq!(a.status, 200);
    assert_eq!(a.body, m.zip_bytes());
    assert_eq!(a.content_length, Some(a.body.len()));

    let a = get(&proxy, "/example.com/!hello/@v/list");
    assert_eq!(
        String::from_utf8(a.body).unwrap(),
        "v1.0.0-RC1\nv1.1.0\nv1.2.0-pre\n"
    );
    let a = get(&proxy, "/example.com/!hello/@latest");
    assert_eq!(
        String::from_utf8(a.body).unwrap(),
        r#"{"Version":"v1.1.0","Time":"2024-01-02T03:04:05Z"}"#
    );

    for missing in [
        "/example.com/!hello/@v/v9.9.9.zip",
        "/example.com/other/@v/list",
        "/example.com/Hello/@v/v1.1.0.info", // raw upper case: not escaped
        "/nonsense",
    ] {
        assert_eq!(get(&proxy, missing).status, 404, "{missing}");
    }
    let head = get_raw(
        &proxy,
        "HEAD /example.com/!hello/@v/v1.1.0.mod HTTP/1.1\r\n\r\n",
        Duration::from_secs(10),
    );
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        get_raw(&proxy, "PUT /x HTTP/1.1\r\n\r\n", Duration::from_secs(10)).status,
        405
    );

    assert_eq!(proxy.requests("/example.com/!hello/@v/v1.0.0-!r!c1.zip"), 1);
    assert_eq!(proxy.requests("v1.0.0-!r!c1.zip"), 1);
    assert_eq!(proxy.requests(".info"), 2);
    assert_eq!(proxy.total_requests(), 11);
    assert_eq!(proxy.request_log().len(), 11);
    let recs = proxy.request_records();
    assert_eq!(
        recs[2].raw_path,
        "/example.com/%21hello/@v/v1.0.0-%21r%21c1.zip"
    );
    assert_eq!(recs[2].path, "/example.com/!hello/@v/v1.0.0-!r!c1.zip");
    assert_eq!(proxy.absolute_form_requests(), 0);
}

#[test]
fn absolute_form_is_served_and_recorded() {
    let m = spec();
    let proxy = TestProxy::start_with([m.clone()]).unwrap();
    let a = get_raw(
        &proxy,
        "GET http://goproxy.invalid/example.com/!hello/@v/v1.0.0-!r!c1.mod HTTP/1.1\r\nHost: goproxy.invalid\r\n\r\n",
        Duration::from_secs(10),
    );
    assert_eq!((a.status, a.body), (200, m.mod_bytes()));
    let r = &proxy.request_records()[0];
    assert!(r.absolute_form);
    assert_eq!(r.host.as_deref(), Some("goproxy.invalid"));
    assert_eq!(r.path, "/example.com/!hello/@v/v1.0.0-!r!c1.mod");
    assert_eq!(proxy.absolute_form_requests(), 1);
}

#[test]
fn status_faults() {
    let m = spec();
    let proxy = TestProxy::start_with([m.clone()]).unwrap();
    let zip = m.url_path("zip");
    for code in [500, 404, 410, 503] {
        proxy.set_fault(m.path(), m.version(), "zip", Fault::Status(code));
        assert_eq!(get(&proxy, &zip).status, code);
    }
    // Only that file is affected.
    assert_eq!(get(&proxy, &m.url_path("mod")).status, 200);
    // Faults also apply to modules the proxy does not have.
    proxy.set_fault("example.com/ghost", "v1.0.0", ".info", Fault::Status(502));
    assert_eq!(get(&proxy, "/example.com/ghost/@v/v1.0.0.info").status, 502);
    proxy.set_fault("example.com/ghost", "ignored", "list", Fault::Status(500));
    assert_eq!(get(&proxy, "/example.com/ghost/@v/list").status, 500);

    proxy.clear_fault(m.path(), m.version(), "zip");
    assert_eq!(get(&proxy, &zip).status, 200);

    proxy.set_fault(m.path(), m.version(), "zip", Fault::FailTimes(2, 503));
    assert_eq!(get(&proxy, &zip).status, 503);
    assert_eq!(get(&proxy, &zip).status, 503);
    let a = get(&proxy, &zip);
    assert_eq!((a.status, a.body), (200, m.zip_bytes()));
    assert_eq!(get(&proxy, &zip).status, 200);

    let hostile = Hostile::Duplicate.zip(m.path(), m.version());
    proxy.set_fault(m.path(), m.version(), "zip", Fault::Body(hostile.clone()));
    let a = get(&proxy, &zip);
    assert_eq!((a.status, a.body), (200, hostile));
    proxy.clear_faults();
    assert_eq!(get(&proxy, &zip).body, m.zip_bytes());
}

#[test]
fn truncate_fault() {
    let m = spec();
    let proxy = TestProxy::start_with([m.clone()]).unwrap();
    proxy.set_fault(m.path(), m.version(), "zip", Fault::Truncate);
    let a = get(&proxy, &m.url_path("zip"));
    let full = m.zip_bytes();
    assert_eq!(a.status, 200);
    assert_eq!(a.content_length, Some(full.len()));
    assert_eq!(a.body, full[..full.len() / 2]);
    assert!(a.eof, "the server must close the connection");
}

#[test]
fn stall_fault_times_out_client_and_does_not_block_stop() {
    let m = spec();
    let proxy = TestProxy::start_with([m.clone()]).unwrap();
    proxy.set_fault(m.path(), m.version(), "zip", Fault::Stall);
    let t0 = Instant::now();
    let a = get_raw(
        &proxy,
        &format!("GET {} HTTP/1.1\r\n\r\n", m.url_path("zip")),
        Duration::from_millis(500),
    );
    assert!(!a.eof, "a stalled answer must not end");
    assert!(t0.elapsed() >= Duration::from_millis(500));
    let full = m.zip_bytes();
    assert_eq!(a.content_length, Some(full.len()));
    assert_eq!(a.body, full[..full.len() / 2]);

    // A second client is left hanging while the proxy stops: the stop is
    // quick and the client sees the connection end.
    let mut s = TcpStream::connect(proxy.addr()).unwrap();
    s.write_all(format!("GET {} HTTP/1.1\r\n\r\n", m.url_path("zip")).as_bytes())
        .unwrap();
    assert!(proxy.wait_for_requests(&m.url_path("zip"), 2, Duration::from_secs(10)));
    let t0 = Instant::now();
    proxy.stop();
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut rest = Vec::new();
    let r = s.read_to_end(&mut rest);
    assert!(
        r.is_ok()
            || r.as_ref()
                .is_err_and(|e| e.kind() == ErrorKind::ConnectionReset),
        "{r:?}"
    );
}

#[test]
fn delay_fault() {
    let m = spec();
    let proxy = TestProxy::start_with([m.clone()]).unwrap();
    proxy.set_fault(
        m.path(),
        m.version(),
        "info",
        Fault::Delay(Duration::from_millis(400)),
    );
    let t0 = Instant::now();
    let a = get(&proxy, &m.url_path("info"));
    assert!(t0.elapsed() >= Duration::from_millis(400));
    assert_eq!((a.status, a.body), (200, m.info_bytes()));
    // Concurrent requests are all delayed and all answered.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let addr = proxy.addr();
            let path = m.url_path("info");
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes())
                    .unwrap();
                let mut v = Vec::new();
                s.read_to_end(&mut v).unwrap();
                v
            })
        })
        .collect();
    assert!(proxy.wait_for_requests(&m.url_path("info"), 5, Duration::from_secs(10)));
    for h in handles {
        assert!(h.join().unwrap().starts_with(b"HTTP/1.1 200 OK"));
    }
}

#[test]
fn stop_closes_the_port() {
    let proxy = TestProxy::start_with([spec()]).unwrap();
    let addr = proxy.addr();
    assert_eq!(get(&proxy, &spec().url_path("mod")).status, 200);
    proxy.stop();
    let e = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
}

#[test]
fn drop_closes_the_port() {
    let addr = {
        let proxy = TestProxy::start().unwrap();
        proxy.addr()
    };
    let e = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
}

#[test]
fn a_silent_client_does_not_block_stop() {
    let proxy = TestProxy::start().unwrap();
    // Connects but never sends a request.
    let _s = TcpStream::connect(proxy.addr()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    proxy.stop();
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}
