//! [`TestProxy`]: an in-process GOPROXY server with fault injection.
//!
//! Hand-written HTTP/1.1 on [`std::net::TcpListener`], a thread per
//! connection, one request per connection (`Connection: close`). No runtime,
//! so it works the same from sync tests, tokio tests and child processes
//! (`go`, `curl`).

use crate::module::{ModuleSpec, unescape};
use crate::{Result, TestkitError};
use parking_lot::{Condvar, Mutex};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a [`Fault::Stall`] hangs at most when the proxy is not stopped.
pub const STALL_MAX: Duration = Duration::from_secs(600);

/// How long the proxy waits for a client to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest accepted request head.
const MAX_HEAD: usize = 64 << 10;

/// A fault injected into the answer for one file of one module version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status code and a short text body (e.g. 500, 404,
    /// 410).
    Status(u16),
    /// Send the headers (with the real `Content-Length`) and the first half
    /// of the body, then hang until the proxy is stopped or [`STALL_MAX`]
    /// passes, then close. Never blocks [`TestProxy::stop`].
    Stall,
    /// Send `Content-Length: N` but only `N/2` bytes of the body, then close.
    Truncate,
    /// Answer 200 with these bytes instead of the real body (e.g. a
    /// [`crate::Hostile`] zip).
    Body(Vec<u8>),
    /// Wait this long (or until the proxy stops) before answering normally.
    Delay(Duration),
    /// Answer with the status the first `n` times, then normally.
    FailTimes(u32, u16),
    /// Send the headers (with the real `Content-Length`) at once, then the
    /// body one byte at a time with this pause before each, until it is all
    /// sent or the proxy stops: a live but hopelessly slow upstream.
    Drip(Duration),
}

/// One request as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The URL path, percent-decoded (still module-escaped), without
    /// scheme, authority and query, e.g. `/example.com/!foo/@v/v1.0.0.zip`.
    pub path: String,
    /// The URL path exactly as sent, e.g. `/example.com/%21foo/@v/v1.0.0.zip`
    /// (`go` percent-encodes the `!`).
    pub raw_path: String,
    /// Whether the request line was in absolute form
    /// (`GET http://host/path HTTP/1.1`), as a client sends it to a forward
    /// proxy (`HTTP_PROXY`).
    pub absolute_form: bool,
    /// The `Host` header, if any.
    pub host: Option<String>,
    /// The status code the proxy decided to answer with.
    pub status: u16,
}

type FaultKey = (String, String, String);

#[derive(Debug)]
struct FaultState {
    fault: Fault,
    remaining: u32,
}

#[derive(Default)]
struct State {
    modules: BTreeMap<(String, String), ModuleSpec>,
    faults: HashMap<FaultKey, FaultState>,
    log: Vec<RequestRecord>,
    /// The checksum database served under `/sumdb/<name>/`, if any.
    #[cfg(feature = "sumdb")]
    sumdb: Option<Arc<crate::sumdb::TestSumDb>>,
}

struct Shared {
    state: Mutex<State>,
    /// Notified on every logged request.
    logged: Condvar,
    stopping: Mutex<bool>,
    /// Notified when `stopping` becomes true.
    stop_cv: Condvar,
    conns: Mutex<HashMap<u64, TcpStream>>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    fn is_stopping(&self) -> bool {
        *self.stopping.lock()
    }

    /// Sleeps up to `d`; returns early (true) when the proxy stops.
    fn sleep_unless_stopped(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut stopping = self.stopping.lock();
        while !*stopping {
            if self.stop_cv.wait_until(&mut stopping, deadline).timed_out() {
                return *stopping;
            }
        }
        true
    }
}

/// An in-process module proxy serving [`ModuleSpec`]s by the GOPROXY
/// protocol on `127.0.0.1:<random port>`.
///
/// Serves `/<E(path)>/@v/<E(version)>.info|.mod|.zip`, `/<E(path)>/@v/list`
/// and `/<E(path)>/@latest`; 404 for anything else. Every request is logged.
/// Stopping (or dropping) closes the port, so later connections are refused.
///
/// ```
/// use gomodfs_testkit::{Fault, ModuleSpec, TestProxy};
/// let proxy = TestProxy::start().unwrap();
/// proxy.add(ModuleSpec::new("example.com/a", "v1.0.0"));
/// proxy.set_fault("example.com/a", "v1.0.0", "zip", Fault::Status(500));
/// let url = proxy.url(); // GOPROXY=<url>
/// # let _ = url;
/// assert_eq!(proxy.requests("/example.com/a/@v/v1.0.0.zip"), 0);
/// proxy.stop();
/// ```
pub struct TestProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TestProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestProxy")
            .field("addr", &self.addr)
            .finish()
    }
}

impl TestProxy {
    /// Binds `127.0.0.1:0` and starts serving (no modules yet).
    pub fn start() -> Result<TestProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| TestkitError::io("bind 127.0.0.1:0", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| TestkitError::io("local_addr of the proxy listener", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| TestkitError::io("set_nonblocking on the proxy listener", e))?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            logged: Condvar::new(),
            stopping: Mutex::new(false),
            stop_cv: Condvar::new(),
            conns: Mutex::new(HashMap::new()),
            handles: Mutex::new(Vec::new()),
        });
        let sh = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name(format!("testproxy-accept-{}", addr.port()))
            .spawn(move || accept_loop(listener, &sh))
            .map_err(|e| TestkitError::io("spawn the proxy accept thread", e))?;
        Ok(TestProxy {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// Starts a proxy serving `modules`.
    pub fn start_with(modules: impl IntoIterator<Item = ModuleSpec>) -> Result<TestProxy> {
        let p = TestProxy::start()?;
        for m in modules {
            p.add(m);
        }
        Ok(p)
    }

    /// Adds (or replaces) a module version.
    pub fn add(&self, spec: ModuleSpec) {
        let key = (spec.path().to_owned(), spec.version().to_owned());
        self.shared.state.lock().modules.insert(key, spec);
    }

    /// Serves `db` under `/sumdb/<name>/` (`supported`, `latest`,
    /// `lookup/…`, `tile/…`), with records for the modules this proxy
    /// serves (feature `sumdb`).
    #[cfg(feature = "sumdb")]
    pub fn serve_sumdb(&self, db: Arc<crate::sumdb::TestSumDb>) {
        self.shared.state.lock().sumdb = Some(db);
    }

    /// Removes a module version (later requests for it get 404).
    pub fn remove(&self, path: &str, version: &str) {
        self.shared
            .state
            .lock()
            .modules
            .remove(&(path.to_owned(), version.to_owned()));
    }

    /// The base URL, `http://127.0.0.1:<port>` (no trailing slash): the value
    /// for `GOPROXY`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Delays every answer for `path@version` (its `.info`, `.mod` and
    /// `.zip`) by `delay`: a module version the upstream is slow to serve.
    pub fn set_slow(&self, path: &str, version: &str, delay: Duration) {
        for ext in ["info", "mod", "zip"] {
            self.set_fault(path, version, ext, Fault::Delay(delay));
        }
    }

    /// Injects `fault` into the answers for `path@version`'s `file_ext`
    /// (`info`, `mod`, `zip`, with or without a leading dot; or `list` /
    /// `latest`, for which `version` is ignored). Replaces an earlier fault
    /// for the same file. Works whether or not the module was added.
    pub fn set_fault(&self, path: &str, version: &str, file_ext: &str, fault: Fault) {
        let ext = file_ext.trim_start_matches('.').to_owned();
        let version = if ext == "list" || ext == "latest" {
            String::new()
        } else {
            version.to_owned()
        };
        let remaining = match fault {
            Fault::FailTimes(n, _) => n,
            _ => 0,
        };
        self.shared.state.lock().faults.insert(
            (path.to_owned(), version, ext),
            FaultState { fault, remaining },
        );
    }

    /// Removes the fault for one file (see [`TestProxy::set_fault`]).
    pub fn clear_fault(&self, path: &str, version: &str, file_ext: &str) {
        let ext = file_ext.trim_start_matches('.').to_owned();
        let version = if ext == "list" || ext == "latest" {
            String::new()
        } else {
            version.to_owned()
        };
        self.shared
            .state
            .lock()
            .faults
            .remove(&(path.to_owned(), version, ext));
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.shared.state.lock().faults.clear();
    }

    /// How many requests had exactly this URL path, or a path ending with
    /// it. Paths are percent-decoded but module-escaped, e.g.
    /// `/example.com/!foo/@v/v1.0.0.zip` (see [`ModuleSpec::url_path`]).
    pub fn requests(&self, path_suffix_or_exact: &str) -> usize {
        self.shared
            .state
            .lock()
            .log
            .iter()
            .filter(|r| r.path.ends_with(path_suffix_or_exact))
            .count()
    }

    /// How many requests were received in total.
    pub fn total_requests(&self) -> usize {
        self.shared.state.lock().log.len()
    }

    /// How many requests came in absolute form (through a forward proxy).
    pub fn absolute_form_requests(&self) -> usize {
        self.shared
            .state
            .lock()
            .log
            .iter()
            .filter(|r| r.absolute_form)
            .count()
    }

    /// Every request's path (percent-decoded, module-escaped), in arrival
    /// order.
    pub fn request_log(&self) -> Vec<String> {
        self.shared
            .state
            .lock()
            .log
            .iter()
            .map(|r| r.path.clone())
            .collect()
    }

    /// Every request in detail, in arrival order.
    pub fn request_records(&self) -> Vec<RequestRecord> {
        self.shared.state.lock().log.clone()
    }

    /// Forgets the request log (faults and modules stay).
    pub fn reset_log(&self) {
        self.shared.state.lock().log.clear();
    }

    /// Waits until at least `n` requests match `path_suffix_or_exact` (as in
    /// [`TestProxy::requests`]); returns whether that happened within
    /// `timeout`.
    pub fn wait_for_requests(
        &self,
        path_suffix_or_exact: &str,
        n: usize,
        timeout: Duration,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.state.lock();
        loop {
            let count = st
                .log
                .iter()
                .filter(|r| r.path.ends_with(path_suffix_or_exact))
                .count();
            if count >= n {
                return true;
            }
            if self.shared.logged.wait_until(&mut st, deadline).timed_out() {
                return false;
            }
        }
    }

    /// Stops serving: closes the listening port (later connections are
    /// refused), cuts every open connection (stalled ones included) and joins
    /// all threads. Dropping the proxy does the same.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        {
            let mut s = self.shared.stopping.lock();
            *s = true;
            self.shared.stop_cv.notify_all();
        }
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for (_, c) in self.shared.conns.lock().drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
        let handles: Vec<JoinHandle<()>> = self.shared.handles.lock().drain(..).collect();
        for h in handles {
            let _ = h.join();
        }
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(listener: TcpListener, sh: &Arc<Shared>) {
    let mut next_id: u64 = 0;
    loop {
        if sh.is_stopping() {
            break;
        }
        match listener.accept() {
            Ok((stream, _)) => {
                next_id += 1;
                let id = next_id;
                if stream.set_nonblocking(false).is_err() {
                    continue;
                }
                if let Ok(clone) = stream.try_clone() {
                    sh.conns.lock().insert(id, clone);
                }
                let sh2 = Arc::clone(sh);
                let spawned = std::thread::Builder::new()
                    .name(format!("testproxy-conn-{id}"))
                    .spawn(move || {
                        handle_conn(stream, &sh2);
                        sh2.conns.lock().remove(&id);
                    });
                let mut handles = sh.handles.lock();
                handles.retain(|h| !h.is_finished());
                match spawned {
                    Ok(h) => handles.push(h),
                    Err(e) => {
                        tracing::warn!("testproxy: cannot spawn a connection thread: {e}");
                        sh.conns.lock().remove(&id);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                sh.sleep_unless_stopped(Duration::from_millis(2));
            }
            Err(e) => {
                tracing::warn!("testproxy: accept failed: {e}");
                sh.sleep_unless_stopped(Duration::from_millis(10));
            }
        }
    }
    // The listener is dropped here: the port is closed.
}

struct Request {
    method: String,
    path: String,
    absolute_form: bool,
    host: Option<String>,
}

fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(pos);
            return Some(buf);
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn parse_head(head: &[u8]) -> Option<Request> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let request_line = lines.next()?;
    let mut parts = request_line.split(' ');
    let method = parts.next()?.to_owned();
    let target = parts.next()?;
    let mut host = None;
    for line in lines {
        if let Some((k, v)) = line.split_once(':')
            && k.trim().eq_ignore_ascii_case("host")
        {
            host = Some(v.trim().to_owned());
        }
    }
    let (absolute_form, path) = if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        match rest.find('/') {
            Some(i) => (true, &rest[i..]),
            None => (true, "/"),
        }
    } else {
        (false, target)
    };
    let path = path.split(['?', '#']).next().unwrap_or("").to_owned();
    Some(Request {
        method,
        path,
        absolute_form,
        host,
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// What a URL path asks for: module path, version ("" for list/latest), ext.
fn route(path: &str) -> Option<FaultKey> {
    let p = percent_decode(path);
    let p = p.strip_prefix('/')?;
    if let Some(module) = p.strip_suffix("/@latest") {
        return Some((unescape(module)?, String::new(), "latest".to_owned()));
    }
    let i = p.rfind("/@v/")?;
    let module = unescape(&p[..i])?;
    let rest = &p[i + 4..];
    if rest == "list" {
        return Some((module, String::new(), "list".to_owned()));
    }
    let (ver, ext) = rest.rsplit_once('.')?;
    if !matches!(ext, "info" | "mod" | "zip") || ver.is_empty() || ver.contains('/') {
        return None;
    }
    Some((module, unescape(ver)?, ext.to_owned()))
}

struct Response {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

impl Response {
    fn text(status: u16, msg: String) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: msg.into_bytes(),
        }
    }
}

fn normal_response(st: &State, key: Option<&FaultKey>, path: &str) -> Response {
    let not_found = || Response::text(404, format!("not found: {path}\n"));
    #[cfg(feature = "sumdb")]
    if let Some(db) = &st.sumdb {
        let decoded = percent_decode(path);
        let prefix = format!("/sumdb/{}/", db.name());
        if let Some(rest) = decoded.strip_prefix(&prefix) {
            let (status, body) = db.answer(rest, &st.modules);
            return Response {
                status,
                content_type: "text/plain; charset=utf-8",
                body,
            };
        }
    }
    let Some((module, version, ext)) = key else {
        return not_found();
    };
    match ext.as_str() {
        "list" | "latest" => {
            let mut versions: Vec<&ModuleSpec> = st
                .modules
                .iter()
                .filter(|((p, _), _)| p == module)
                .map(|(_, m)| m)
                .collect();
            if versions.is_empty() {
                return not_found();
            }
            versions.sort_by(|a, b| semver_cmp(a.version(), b.version()));
            if ext == "list" {
                let mut body = String::new();
                for m in &versions {
                    body.push_str(m.version());
                    body.push('\n');
                }
                Response {
                    status: 200,
                    content_type: "text/plain; charset=utf-8",
                    body: body.into_bytes(),
                }
            } else {
                let release = versions.iter().rev().find(|m| !is_prerelease(m.version()));
                let pick = release.or(versions.last());
                match pick {
                    Some(m) => Response {
                        status: 200,
                        content_type: "application/json",
                        body: m.info_bytes(),
                    },
                    None => not_found(),
                }
            }
        }
        _ => match st.modules.get(&(module.clone(), version.clone())) {
            None => not_found(),
            Some(m) => match ext.as_str() {
                "info" => Response {
                    status: 200,
                    content_type: "application/json",
                    body: m.info_bytes(),
                },
                "mod" => Response {
                    status: 200,
                    content_type: "text/plain; charset=utf-8",
                    body: m.mod_bytes(),
                },
                _ => Response {
                    status: 200,
                    content_type: "application/zip",
                    body: m.zip_bytes(),
                },
            },
        },
    }
}

enum Delivery {
    Full,
    Truncate,
    Stall,
    Drip(Duration),
}

fn handle_conn(mut stream: TcpStream, sh: &Shared) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let Some(head) = read_head(&mut stream) else {
        return;
    };
    let Some(req) = parse_head(&head) else {
        let _ = write_response(
            &mut stream,
            &Response::text(400, "bad request\n".into()),
            false,
            Delivery::Full,
            sh,
        );
        return;
    };
    let head_only = req.method == "HEAD";
    let key = route(&req.path);

    let mut delay = None;
    let (resp, delivery) = {
        let mut st = sh.state.lock();
        let mut delivery = Delivery::Full;
        let mut fault_resp = None;
        if req.method != "GET" && req.method != "HEAD" {
            fault_resp = Some(Response::text(405, "method not allowed\n".into()));
        } else if let Some(k) = &key {
            let mut drop_fault = false;
            if let Some(fs) = st.faults.get_mut(k) {
                match &fs.fault {
                    Fault::Status(code) => {
                        fault_resp =
                            Some(Response::text(*code, format!("injected status {code}\n")));
                    }
                    Fault::FailTimes(_, code) => {
                        if fs.remaining > 0 {
                            fs.remaining -= 1;
                            fault_resp =
                                Some(Response::text(*code, format!("injected status {code}\n")));
                        } else {
                            drop_fault = true;
                        }
                    }
                    Fault::Body(b) => {
                        fault_resp = Some(Response {
                            status: 200,
                            content_type: "application/octet-stream",
                            body: b.clone(),
                        });
                    }
                    Fault::Delay(d) => delay = Some(*d),
                    Fault::Truncate => delivery = Delivery::Truncate,
                    Fault::Stall => delivery = Delivery::Stall,
                    Fault::Drip(d) => delivery = Delivery::Drip(*d),
                }
            }
            if drop_fault {
                st.faults.remove(k);
            }
        }
        let resp = match fault_resp {
            Some(r) => r,
            None => normal_response(&st, key.as_ref(), &req.path),
        };
        st.log.push(RequestRecord {
            method: req.method.clone(),
            path: percent_decode(&req.path),
            raw_path: req.path.clone(),
            absolute_form: req.absolute_form,
            host: req.host.clone(),
            status: resp.status,
        });
        sh.logged.notify_all();
        (resp, delivery)
    };
    if let Some(d) = delay
        && sh.sleep_unless_stopped(d)
    {
        return;
    }
    let _ = write_response(&mut stream, &resp, head_only, delivery, sh);
    let _ = stream.shutdown(Shutdown::Both);
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn write_response(
    stream: &mut TcpStream,
    resp: &Response,
    head_only: bool,
    delivery: Delivery,
    sh: &Shared,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type,
        resp.body.len()
    );
    stream.write_all(head.as_bytes())?;
    if head_only {
        return stream.flush();
    }
    match delivery {
        Delivery::Full => stream.write_all(&resp.body)?,
        Delivery::Truncate => stream.write_all(&resp.body[..resp.body.len() / 2])?,
        Delivery::Stall => {
            stream.write_all(&resp.body[..resp.body.len() / 2])?;
            stream.flush()?;
            sh.sleep_unless_stopped(STALL_MAX);
        }
        Delivery::Drip(pause) => {
            stream.flush()?;
            for byte in &resp.body {
                if sh.sleep_unless_stopped(pause) {
                    break;
                }
                stream.write_all(std::slice::from_ref(byte))?;
                stream.flush()?;
            }
        }
    }
    stream.flush()
}

fn is_prerelease(v: &str) -> bool {
    let core = v.split('+').next().unwrap_or(v);
    core.contains('-')
}

/// Semantic-version order (`vMAJOR.MINOR.PATCH[-pre][+build]`); versions
/// that do not parse sort before those that do, by string.
fn semver_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    fn parse(v: &str) -> Option<([u64; 3], Option<&str>)> {
        let v = v.strip_prefix('v')?;
        let v = v.split('+').next()?;
        let (core, pre) = match v.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (v, None),
        };
        let mut it = core.split('.');
        let mut n = [0u64; 3];
        for slot in &mut n {
            *slot = it.next()?.parse().ok()?;
        }
        if it.next().is_some() {
            return None;
        }
        Some((n, pre))
    }
    match (parse(a), parse(b)) {
        (None, None) => a.cmp(b),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some((na, pa)), Some((nb, pb))) => na.cmp(&nb).then_with(|| match (pa, pb) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(pa), Some(pb)) => {
                let mut ia = pa.split('.');
                let mut ib = pb.split('.');
                loop {
                    match (ia.next(), ib.next()) {
                        (None, None) => return Ordering::Equal,
                        (None, Some(_)) => return Ordering::Less,
                        (Some(_), None) => return Ordering::Greater,
                        (Some(x), Some(y)) => {
                            let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                                (Ok(x), Ok(y)) => x.cmp(&y),
                                (Ok(_), Err(_)) => Ordering::Less,
                                (Err(_), Ok(_)) => Ordering::Greater,
                                (Err(_), Err(_)) => x.cmp(y),
                            };
                            if o != Ordering::Equal {
                                return o;
                            }
                        }
                    }
                }
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route("/example.com/!camel!case/@v/v1.0.0-!r!c1.zip"),
            Some((
                "example.com/CamelCase".into(),
                "v1.0.0-RC1".into(),
                "zip".into()
            ))
        );
        assert_eq!(
            route("/example.com/x/@v/v2.1.0%2Bincompatible.mod"),
            Some((
                "example.com/x".into(),
                "v2.1.0+incompatible".into(),
                "mod".into()
            ))
        );
        assert_eq!(
            route("/example.com/x/@v/list"),
            Some(("example.com/x".into(), String::new(), "list".into()))
        );
        assert_eq!(
            route("/example.com/x/@latest"),
            Some(("example.com/x".into(), String::new(), "latest".into()))
        );
        assert_eq!(route("/example.com/X/@v/list"), None);
        assert_eq!(route("/example.com/x/@v/v1.0.0.tar"), None);
    }

    #[test]
    fn absolute_form() {
        let r =
            parse_head(b"GET http://proxy.invalid/a/@v/list?x=1 HTTP/1.1\r\nHost: proxy.invalid")
                .unwrap();
        assert!(r.absolute_form);
        assert_eq!(r.path, "/a/@v/list");
        assert_eq!(r.host.as_deref(), Some("proxy.invalid"));
    }

    #[test]
    fn semver_order() {
        let mut v = vec![
            "v1.10.0",
            "v1.2.0",
            "v1.2.0-rc.1",
            "v1.2.0-beta",
            "v0.1.0",
            "v2.0.0+incompatible",
        ];
        v.sort_by(|a, b| semver_cmp(a, b));
        assert_eq!(
            v,
            vec![
                "v0.1.0",
                "v1.2.0-beta",
                "v1.2.0-rc.1",
                "v1.2.0",
                "v1.10.0",
                "v2.0.0+incompatible"
            ]
        );
    }
}
