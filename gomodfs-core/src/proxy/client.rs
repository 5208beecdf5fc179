//! [`Upstream`]: fetching files from the GOPROXY list.

use super::ProxyFile;
use super::answers::{RawResponse, UpstreamStats};
use super::config::{HttpProxy, ProxyEntry, Target, UpstreamConfig, parse_goproxy};
use super::negative::{Key, NegativeCache};
use super::rate::RateWindow;
use super::sink::{BodySink, FileSink};
use super::{netrc, pattern};
use crate::error::{Error, Result};
use crate::modpath::ModuleVersion;
use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How much of an error response's body is quoted in messages.
const ERROR_SNIPPET: usize = 512;

/// What the `direct` GOPROXY entry answers.
const DIRECT_UNSUPPORTED: &str = "GOPROXY entry \"direct\": gomodfs does not support fetching \
     directly from version control; list a module proxy in GOPROXY instead";
/// Why fetches fail after [`Upstream::shutdown`].
const SHUTTING_DOWN: &str = "cancelled: gomodfs is shutting down";
/// What the `off` GOPROXY entry answers.
const OFF: &str = "module lookup disabled by GOPROXY=off";

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    bytes: AtomicU64,
    not_found: AtomicU64,
    errors: AtomicU64,
    retries: AtomicU64,
    negative_hits: AtomicU64,
    coalesced: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

type Shared = watch::Receiver<Option<Result<Bytes>>>;

/// The GOPROXY client. Cheap to clone (all clones share one connection
/// pool, negative cache, single-flight table and counters); `Send + Sync`.
#[derive(Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
}

struct Inner {
    entries: Vec<ProxyEntry>,
    noproxy: String,
    client: reqwest::Client,
    idle_timeout: Duration,
    min_rate: u64,
    retries: u32,
    retry_backoff: Duration,
    max_body: u64,
    negative: NegativeCache,
    inflight: Mutex<HashMap<Key, Shared>>,
    stats: Counters,
    /// `true` once [`Upstream::shutdown`] was called.
    shutdown: watch::Sender<bool>,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("proxies", &self.proxies())
            .field("noproxy", &self.inner.noproxy)
            .finish_non_exhaustive()
    }
}

/// How one attempt failed.
enum Failure {
    /// 404 or 410: what the proxy said (status and body on one line), the
    /// status code and the start of the body as sent.
    NotFound(String, u16, Bytes),
    /// Worth retrying: connect/I-O errors, timeouts, truncation, 5xx, 429.
    Transient(String),
    /// Not worth retrying: other 4xx, body too large, bad request.
    Fatal(String),
}

impl Upstream {
    /// Builds the client: parses the GOPROXY list and the netrc file and
    /// sets up the HTTP client (rustls with the ring provider, verifying
    /// certificates with the platform's roots).
    ///
    /// Fails with [`Error::Config`] for an unusable GOPROXY list, an
    /// unreadable netrc file, or an invalid forward proxy URL.
    pub fn new(cfg: UpstreamConfig) -> Result<Upstream> {
        let mut entries = parse_goproxy(&cfg.goproxy)?;

        if let Some(path) = &cfg.netrc {
            let creds = match std::fs::read_to_string(path) {
                Ok(text) => netrc::parse(&text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => {
                    return Err(Error::Config(format!(
                        "reading netrc file {}: {e}",
                        path.display()
                    )));
                }
            };
            for entry in &mut entries {
                if let Target::Http {
                    host, port, auth, ..
                } = &mut entry.target
                    && auth.is_none()
                    && let Some(c) = netrc::lookup(&creds, host, *port)
                {
                    *auth = Some((c.login.clone(), c.password.clone()));
                }
            }
        }

        // reqwest's rustls-no-provider feature takes the process-wide default
        // provider (and panics when there is none): install ring unless some
        // provider is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();

        let mut builder = reqwest::Client::builder()
            .tls_backend_rustls()
            .user_agent(cfg.user_agent.clone())
            .connect_timeout(cfg.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90));
        builder = match &cfg.http_proxy {
            HttpProxy::FromEnv => builder,
            HttpProxy::Disabled => builder.no_proxy(),
            HttpProxy::Url(url) => {
                let proxy = reqwest::Proxy::all(url.as_str()).map_err(|e| {
                    Error::Config(format!("invalid HTTP proxy URL {url:?}: {}", chain(&e)))
                })?;
                builder.proxy(proxy)
            }
        };
        let client = builder
            .build()
            .map_err(|e| Error::Config(format!("building the HTTP client: {}", chain(&e))))?;

        Ok(Upstream {
            inner: Arc::new(Inner {
                entries,
                noproxy: cfg.noproxy.trim().to_owned(),
                client,
                idle_timeout: cfg.idle_timeout,
                min_rate: cfg.min_rate,
                retries: cfg.retries,
                retry_backoff: cfg.retry_backoff,
                max_body: cfg.max_body,
                negative: NegativeCache::new(cfg.negative_ttl),
                inflight: Mutex::new(HashMap::new()),
                stats: Counters::default(),
                shutdown: watch::Sender::new(false),
            }),
        })
    }

    /// Fetches one file of a module version from the GOPROXY list:
    /// `<proxy>/<E(path)>/@v/<E(version)>.<ext>`.
    ///
    /// Identical concurrent fetches share one request, which runs in its own
    /// task: a caller that goes away does not cancel it for the others. A
    /// not-found answer is remembered for the negative TTL.
    ///
    /// Errors: [`Error::ModuleNotFound`] when the proxies answer 404/410;
    /// [`Error::Upstream`] for everything else (network, 5xx, timeouts, a
    /// body slower than the minimum rate, truncated or oversized bodies,
    /// `off`, `direct`, GONOPROXY, [`Upstream::shutdown`]). The body is not
    /// checked here: the fetcher checks `.info` and `.mod` before storing.
    pub async fn fetch(&self, module: &ModuleVersion, file: ProxyFile) -> Result<Bytes> {
        if self.is_shut_down() {
            return Err(upstream_err(module, file, SHUTTING_DOWN));
        }
        let key: Key = (module.clone(), file);
        let mut rx = {
            let mut inflight = self.inner.inflight.lock();
            if let Some(rx) = inflight.get(&key) {
                bump(&self.inner.stats.coalesced, 1);
                rx.clone()
            } else {
                if let Some(err) = self.inner.negative.get(&key) {
                    bump(&self.inner.stats.negative_hits, 1);
                    return Err(err);
                }
                let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
                    upstream_err(module, file, format!("no tokio runtime to fetch in: {e}"))
                })?;
                let (tx, rx) = watch::channel(None);
                inflight.insert(key.clone(), rx.clone());
                let guard = InflightGuard {
                    inner: Arc::clone(&self.inner),
                    key,
                };
                runtime.spawn(async move {
                    let (module, file) = &guard.key;
                    let result = tokio::select! {
                        result = guard.inner.fetch_list(module, *file) => result,
                        () = guard.inner.shut_down() => Err(upstream_err(module, *file, SHUTTING_DOWN)),
                    };
                    match &result {
                        Err(e @ Error::ModuleNotFound { .. }) => {
                            guard.inner.negative.insert(guard.key.clone(), e.clone());
                        }
                        Err(_) => bump(&guard.inner.stats.errors, 1),
                        Ok(_) => {}
                    }
                    // Receivers that arrive between this send and the guard's
                    // removal of the entry still see the value.
                    let _ = tx.send(Some(result));
                    drop(guard);
                });
                rx
            }
        };
        match rx.wait_for(Option::is_some).await {
            Ok(value) => match &*value {
                Some(result) => result.clone(),
                None => Err(upstream_err(module, file, "fetch ended without a result")),
            },
            Err(_) => Err(upstream_err(
                module,
                file,
                "the fetch task ended without a result (panicked or runtime shut down)",
            )),
        }
    }

    /// Fetches one file of a module version like [`Upstream::fetch`], into
    /// `out` (from its start; a retry starts it over) instead of memory:
    /// for module zips, so memory stays bounded whatever their size.
    /// Returns the body's length. Same GOPROXY walk, retries, timeouts,
    /// body limit, negative cache and errors as [`Upstream::fetch`], but
    /// no single flight (the caller's own single flight covers zips); an
    /// error writing `out` is [`Error::Upstream`] naming it.
    pub async fn fetch_to_file(
        &self,
        module: &ModuleVersion,
        file: ProxyFile,
        out: &mut std::fs::File,
    ) -> Result<u64> {
        if self.is_shut_down() {
            return Err(upstream_err(module, file, SHUTTING_DOWN));
        }
        let key: Key = (module.clone(), file);
        if let Some(err) = self.inner.negative.get(&key) {
            bump(&self.inner.stats.negative_hits, 1);
            return Err(err);
        }
        let mut sink = FileSink::new(out);
        let result = tokio::select! {
            result = self.inner.fetch_list_into(module, file, &mut sink) => result,
            () = self.inner.shut_down() => Err(upstream_err(module, file, SHUTTING_DOWN)),
        };
        match &result {
            Err(e @ Error::ModuleNotFound { .. }) => self.inner.negative.insert(key, e.clone()),
            Err(_) => bump(&self.inner.stats.errors, 1),
            Ok(()) => {}
        }
        result.map(|()| sink.len())
    }

    /// Fetches any proxy URL path (`<E(path)>/@v/list`, `<E(path)>/@latest`,
    /// `sumdb/<name>/...`) from the GOPROXY list, for frontends that pass
    /// such requests through. `url_path` has no leading `/` and is appended
    /// to each proxy's base URL as is (it must already be escaped).
    ///
    /// The list is walked like [`Upstream::fetch`] walks it (`,` falls
    /// through on 404/410, `|` on any error), with the same retries, idle
    /// timeout, body limit and credentials, but without single flight or
    /// negative cache: callers cache the answers they want to keep.
    /// `module`, when given, is checked against GONOPROXY/GOPRIVATE, so a
    /// private module's name is never sent to a public proxy.
    ///
    /// Returns the answer for 200, 404 and 410 (a 404/410 body is the start
    /// of what the proxy said, at most 512 bytes). Errors
    /// ([`Error::Io`](crate::Error::Io)): network errors, other statuses,
    /// timeouts, `off`, `direct`, GONOPROXY.
    pub async fn fetch_raw(&self, url_path: &str, module: Option<&str>) -> Result<RawResponse> {
        let inner = &self.inner;
        let fail = |cause: String| {
            Error::io(
                format!("fetching {url_path} from the GOPROXY list"),
                std::io::Error::other(cause),
            )
        };
        if let Some(module) = module
            && !inner.noproxy.is_empty()
            && pattern::match_prefix_patterns(&inner.noproxy, module)
        {
            return Err(fail(format!(
                "{module} matches GONOPROXY/GOPRIVATE ({:?}); gomodfs does not fetch it",
                inner.noproxy
            )));
        }
        if self.is_shut_down() {
            return Err(fail(SHUTTING_DOWN.to_owned()));
        }
        tokio::select! {
            result = self.fetch_raw_list(url_path) => result.map_err(fail),
            () = inner.shut_down() => Err(fail(SHUTTING_DOWN.to_owned())),
        }
    }

    /// [`Upstream::fetch_raw`] once the path is allowed: walks the list.
    async fn fetch_raw_list(&self, url_path: &str) -> Result<RawResponse, String> {
        let inner = &self.inner;
        let mut not_found: Option<RawResponse> = None;
        let mut error: Option<String> = None;
        for entry in &inner.entries {
            let result = match &entry.target {
                Target::Off => Err(OFF.to_owned()),
                Target::Direct => Err(DIRECT_UNSUPPORTED.to_owned()),
                Target::Http { base, auth, .. } => {
                    inner.fetch_raw_http(base, auth.as_ref(), url_path).await
                }
                Target::File { dir, url } => inner.fetch_raw_file(dir, url, url_path).await,
            };
            match result {
                Ok(resp) if resp.status == 200 => return Ok(resp),
                Ok(resp) => not_found = Some(resp),
                Err(cause) => {
                    let last = matches!(entry.target, Target::Off | Target::Direct);
                    if !(last && not_found.is_some()) {
                        error.get_or_insert(cause);
                    }
                    if !entry.fallback_on_error {
                        break;
                    }
                }
            }
        }
        match (error, not_found) {
            (Some(cause), _) => {
                bump(&inner.stats.errors, 1);
                Err(cause)
            }
            (None, Some(resp)) => Ok(resp),
            (None, None) => Err("the GOPROXY list is empty".into()),
        }
    }

    /// Cancels every fetch in flight and refuses new ones, for a prompt
    /// shutdown: their callers get [`Error::Upstream`] ("gomodfs is
    /// shutting down") at once instead of waiting for a slow or stalled
    /// upstream. Affects every clone of this client; it cannot be undone.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Whether [`Upstream::shutdown`] was called.
    pub fn is_shut_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> UpstreamStats {
        let s = &self.inner.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        UpstreamStats {
            requests: get(&s.requests),
            bytes: get(&s.bytes),
            not_found: get(&s.not_found),
            errors: get(&s.errors),
            retries: get(&s.retries),
            negative_hits: get(&s.negative_hits),
            coalesced: get(&s.coalesced),
        }
    }

    /// The parsed GOPROXY list for display (URLs without credentials and
    /// trailing slashes, `off`, `direct`), each followed by the separator
    /// that came after it (`,` or `|`), except the last.
    pub fn proxies(&self) -> String {
        let mut out = String::new();
        let n = self.inner.entries.len();
        for (i, e) in self.inner.entries.iter().enumerate() {
            out.push_str(e.target.display());
            if i + 1 < n {
                out.push(if e.fallback_on_error { '|' } else { ',' });
            }
        }
        out
    }
}

/// Removes the single-flight entry when the fetch task ends, even by panic.
struct InflightGuard {
    inner: Arc<Inner>,
    key: Key,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.inner.inflight.lock().remove(&self.key);
    }
}

impl Inner {
    /// Completes once [`Upstream::shutdown`] is called (never before).
    async fn shut_down(&self) {
        let mut rx = self.shutdown.subscribe();
        // Err only if the sender is gone, which `self` prevents.
        let _ = rx.wait_for(|down| *down).await;
    }

    /// [`Inner::fetch_list_into`] memory.
    async fn fetch_list(&self, module: &ModuleVersion, file: ProxyFile) -> Result<Bytes> {
        let mut body = BytesMut::new();
        self.fetch_list_into(module, file, &mut body).await?;
        Ok(body.freeze())
    }

    /// Walks the GOPROXY list like `go`'s `TryProxies`, writing the body
    /// that one proxy answers into `sink`.
    async fn fetch_list_into(
        &self,
        module: &ModuleVersion,
        file: ProxyFile,
        sink: &mut dyn BodySink,
    ) -> Result<()> {
        if !self.noproxy.is_empty() && pattern::match_prefix_patterns(&self.noproxy, module.path())
        {
            return Err(upstream_err(
                module,
                file,
                format!(
                    "the module path matches GONOPROXY/GOPRIVATE ({:?}), so go would fetch it \
                     directly from version control, which gomodfs does not support; set \
                     GONOPROXY=none to fetch it through GOPROXY",
                    self.noproxy
                ),
            ));
        }

        // The most useful error, ranked like go: proxy errors over not-found.
        // `off` and `direct` (always last) rank lowest here, so that a
        // not-found from the proxies before them stays a not-found: the
        // default list "https://proxy.golang.org,direct" must give ENOENT
        // for a version that does not exist, not EIO.
        let mut best: Option<(u8, Error)> = None;
        let mut note: Option<&str> = None;
        for entry in &self.entries {
            let result = match &entry.target {
                Target::Off => Err(upstream_err(module, file, OFF)),
                Target::Direct => Err(upstream_err(module, file, DIRECT_UNSUPPORTED)),
                Target::Http { base, auth, .. } => {
                    self.fetch_http(module, file, base, auth.as_ref(), sink)
                        .await
                }
                Target::File { dir, url } => self.fetch_file(module, file, dir, url, sink).await,
            };
            let err = match result {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let not_found = matches!(err, Error::ModuleNotFound { .. });
            let rank = match (&entry.target, not_found) {
                (Target::Off, _) => {
                    note = Some("the GOPROXY list ends at \"off\"");
                    0
                }
                (Target::Direct, _) => {
                    note = Some(
                        "\"direct\" (fetching from version control) is not supported by gomodfs",
                    );
                    0
                }
                (_, true) => 1,
                (_, false) => 2,
            };
            if best.as_ref().is_none_or(|(r, _)| rank >= *r) {
                best = Some((rank, err));
            }
            if !entry.fallback_on_error && !not_found {
                break;
            }
        }
        Err(match (best, note) {
            (Some((rank, err)), Some(note)) if rank > 0 => add_note(err, note),
            (Some((_, err)), _) => err,
            // parse_goproxy never returns an empty list.
            (None, _) => upstream_err(module, file, "the GOPROXY list is empty"),
        })
    }

    /// Fetches from one HTTP(S) proxy into `sink`, retrying transient
    /// failures.
    async fn fetch_http(
        &self,
        module: &ModuleVersion,
        file: ProxyFile,
        base: &str,
        auth: Option<&(String, String)>,
        sink: &mut dyn BodySink,
    ) -> Result<()> {
        let url = format!(
            "{base}/{}/@v/{}.{}",
            module.escaped_path(),
            module.escaped_version(),
            file.extension()
        );
        let mut attempt: u32 = 0;
        loop {
            bump(&self.stats.requests, 1);
            let started = Instant::now();
            let (status, result) = self.attempt(&url, auth, sink).await;
            tracing::debug!(
                url = %url,
                status = %status.map_or_else(|| "-".to_owned(), |s| s.as_u16().to_string()),
                bytes = if result.is_ok() { sink.len() } else { 0 },
                duration_ms = started.elapsed().as_millis() as u64,
                "GOPROXY request"
            );
            let cause = match result {
                Ok(()) => {
                    bump(&self.stats.bytes, sink.len());
                    return Ok(());
                }
                Err(Failure::NotFound(detail, ..)) => {
                    bump(&self.stats.not_found, 1);
                    return Err(Error::ModuleNotFound {
                        module: module.path().to_owned(),
                        version: module.version().to_owned(),
                        detail: format!("{url}: {detail}"),
                    });
                }
                Err(Failure::Fatal(cause)) => {
                    return Err(upstream_err(module, file, format!("{url}: {cause}")));
                }
                Err(Failure::Transient(cause)) => cause,
            };
            if attempt >= self.retries {
                let tries = if attempt == 0 {
                    String::new()
                } else {
                    format!(" (after {} attempts)", attempt + 1)
                };
                return Err(upstream_err(module, file, format!("{url}: {cause}{tries}")));
            }
            let delay = self
                .retry_backoff
                .saturating_mul(2u32.saturating_pow(attempt));
            attempt += 1;
            bump(&self.stats.retries, 1);
            tracing::warn!(
                module = %module.path(),
                version = %module.version(),
                file = %file,
                proxy = %base,
                attempt,
                retries = self.retries,
                delay_ms = delay.as_millis() as u64,
                cause = %cause,
                "upstream fetch failed, retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// [`Upstream::fetch_raw`] from one HTTP(S) proxy, retrying transient
    /// failures. `Err` is the cause, for the caller's message.
    async fn fetch_raw_http(
        &self,
        base: &str,
        auth: Option<&(String, String)>,
        url_path: &str,
    ) -> Result<RawResponse, String> {
        let url = format!("{base}/{url_path}");
        let mut attempt: u32 = 0;
        loop {
            bump(&self.stats.requests, 1);
            let mut body = BytesMut::new();
            let (status, result) = self.attempt(&url, auth, &mut body).await;
            tracing::debug!(
                url = %url,
                status = %status.map_or_else(|| "-".to_owned(), |s| s.as_u16().to_string()),
                "GOPROXY pass-through request"
            );
            let cause = match result {
                Ok(()) => {
                    bump(&self.stats.bytes, body.len() as u64);
                    return Ok(RawResponse {
                        status: 200,
                        body: body.freeze(),
                    });
                }
                Err(Failure::NotFound(_, status, body)) => {
                    bump(&self.stats.not_found, 1);
                    return Ok(RawResponse { status, body });
                }
                Err(Failure::Fatal(cause)) => return Err(format!("{url}: {cause}")),
                Err(Failure::Transient(cause)) => cause,
            };
            if attempt >= self.retries {
                return Err(format!("{url}: {cause}"));
            }
            let delay = self
                .retry_backoff
                .saturating_mul(2u32.saturating_pow(attempt));
            attempt += 1;
            bump(&self.stats.retries, 1);
            tracing::debug!(url = %url, attempt, cause = %cause, "pass-through request failed, retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// [`Upstream::fetch_raw`] from a `file://` proxy: a missing file is 404.
    async fn fetch_raw_file(
        &self,
        dir: &std::path::Path,
        url: &str,
        url_path: &str,
    ) -> Result<RawResponse, String> {
        bump(&self.stats.requests, 1);
        // The path came from a URL: refuse anything that could leave `dir`.
        if url_path
            .split('/')
            .any(|e| e.is_empty() || e == "." || e == ".." || e.contains('\\'))
        {
            return Ok(RawResponse {
                status: 404,
                body: Bytes::from_static(b"not found\n"),
            });
        }
        let path = dir.join(url_path);
        let max = self.max_body;
        let read = tokio::task::spawn_blocking(move || -> std::io::Result<Result<Vec<u8>, u64>> {
            let len = std::fs::metadata(&path)?.len();
            if len > max {
                return Ok(Err(len));
            }
            std::fs::read(&path).map(Ok)
        })
        .await;
        match read {
            Ok(Ok(Ok(data))) => {
                bump(&self.stats.bytes, data.len() as u64);
                Ok(RawResponse {
                    status: 200,
                    body: Bytes::from(data),
                })
            }
            Ok(Ok(Err(len))) => Err(format!(
                "{url}/{url_path}: file of {len} bytes exceeds the limit of {max} bytes"
            )),
            Ok(Err(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                bump(&self.stats.not_found, 1);
                Ok(RawResponse {
                    status: 404,
                    body: Bytes::from(format!("not found: {url_path}\n")),
                })
            }
            Ok(Err(e)) => Err(format!("{url}/{url_path}: {e}")),
            Err(e) => Err(format!("{url}/{url_path}: {e}")),
        }
    }

    /// One HTTP request, its body written to `sink` (started over first).
    /// Returns the status (if a response came) and how it failed.
    async fn attempt(
        &self,
        url: &str,
        auth: Option<&(String, String)>,
        sink: &mut dyn BodySink,
    ) -> (Option<reqwest::StatusCode>, Result<(), Failure>) {
        if let Err(e) = sink.reset() {
            return (None, Err(sink_failure(&e)));
        }
        let mut req = self.client.get(url);
        if let Some((user, pass)) = auth {
            req = req.basic_auth(user, Some(pass));
        }
        let mut resp = match tokio::time::timeout(self.idle_timeout, req.send()).await {
            Err(_) => {
                return (
                    None,
                    Err(Failure::Transient(format!(
                        "no response within {:?}",
                        self.idle_timeout
                    ))),
                );
            }
            Ok(Err(e)) => {
                let cause = chain(&e);
                let failure = if e.is_builder() || e.is_redirect() {
                    Failure::Fatal(cause)
                } else {
                    Failure::Transient(cause)
                };
                return (None, Err(failure));
            }
            Ok(Ok(resp)) => resp,
        };
        let status = resp.status();
        if status.is_success() {
            return (Some(status), self.read_body(&mut resp, sink).await);
        }
        let raw = self.read_snippet(&mut resp).await;
        let snippet = one_line(&raw);
        let said = if snippet.is_empty() {
            status.to_string()
        } else {
            format!("{status}: {snippet}")
        };
        let failure = match status.as_u16() {
            code @ (404 | 410) => Failure::NotFound(said, code, raw),
            429 | 500..=599 => Failure::Transient(said),
            _ => Failure::Fatal(said),
        };
        (Some(status), Err(failure))
    }

    /// Reads a whole body: idle timeout, minimum rate (see
    /// [`UpstreamConfig::min_rate`]), size limit, and a check against
    /// Content-Length so a truncated body is never returned.
    async fn read_body(
        &self,
        resp: &mut reqwest::Response,
        sink: &mut dyn BodySink,
    ) -> Result<(), Failure> {
        let declared = resp.content_length();
        if let Some(n) = declared
            && n > self.max_body
        {
            return Err(Failure::Fatal(format!(
                "response of {n} bytes exceeds the limit of {} bytes",
                self.max_body
            )));
        }
        sink.expect(declared.unwrap_or(0));
        let mut rate = RateWindow::new(self.idle_timeout, self.min_rate);
        loop {
            let deadline = rate.deadline();
            match tokio::time::timeout_at(deadline.into(), resp.chunk()).await {
                Err(_) => {
                    if let Some(cause) = rate.check(sink.len() as usize) {
                        return Err(Failure::Transient(cause));
                    }
                }
                Ok(Err(e)) => {
                    return Err(Failure::Transient(format!(
                        "reading the body after {} bytes: {}",
                        sink.len(),
                        chain(&e)
                    )));
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => {
                    if sink.len() + chunk.len() as u64 > self.max_body {
                        return Err(Failure::Fatal(format!(
                            "response body exceeds the limit of {} bytes",
                            self.max_body
                        )));
                    }
                    sink.append(&chunk).map_err(|e| sink_failure(&e))?;
                    rate.received(chunk.len());
                    if let Some(cause) = rate.check(sink.len() as usize) {
                        return Err(Failure::Transient(cause));
                    }
                }
            }
        }
        if let Some(n) = declared
            && sink.len() != n
        {
            return Err(Failure::Transient(format!(
                "truncated body: got {} of {n} bytes",
                sink.len()
            )));
        }
        Ok(())
    }

    /// The start of an error response's body (at most [`ERROR_SNIPPET`]
    /// bytes), as sent. A drip gets one idle timeout in all.
    async fn read_snippet(&self, resp: &mut reqwest::Response) -> Bytes {
        let mut buf = Vec::new();
        let deadline = tokio::time::Instant::now() + self.idle_timeout;
        while buf.len() < ERROR_SNIPPET {
            match tokio::time::timeout_at(deadline, resp.chunk()).await {
                Ok(Ok(Some(chunk))) => buf.extend_from_slice(&chunk),
                _ => break,
            }
        }
        buf.truncate(ERROR_SNIPPET);
        Bytes::from(buf)
    }

    /// Reads `<dir>/<E(path)>/@v/<E(version)>.<ext>` of a `file://` proxy
    /// into `sink`, in chunks, off the async workers (a large zip takes a
    /// while to copy; a current-thread runtime runs the copy inline).
    async fn fetch_file(
        &self,
        module: &ModuleVersion,
        file: ProxyFile,
        dir: &std::path::Path,
        url: &str,
        sink: &mut dyn BodySink,
    ) -> Result<()> {
        bump(&self.stats.requests, 1);
        let rel = format!(
            "{}/@v/{}.{}",
            module.escaped_path(),
            module.escaped_version(),
            file.extension()
        );
        let path = dir.join(&rel);
        let max = self.max_body;
        let started = Instant::now();
        let where_ = format!("{url}/{rel}");
        let copy = |sink: &mut dyn BodySink| -> std::io::Result<Result<(), u64>> {
            let mut f = std::fs::File::open(&path)?;
            let len = f.metadata()?.len();
            if len > max {
                return Ok(Err(len));
            }
            sink.reset()?;
            sink.expect(len);
            let mut buf = vec![0u8; FILE_CHUNK];
            loop {
                let n = std::io::Read::read(&mut f, &mut buf)?;
                if n == 0 {
                    return Ok(Ok(()));
                }
                if sink.len() + n as u64 > max {
                    return Ok(Err(sink.len() + n as u64));
                }
                sink.append(&buf[..n])?;
            }
        };
        let copied = match tokio::runtime::Handle::current().runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| copy(sink))
            }
            _ => copy(sink),
        };
        let result = match copied {
            Ok(Ok(())) => {
                bump(&self.stats.bytes, sink.len());
                Ok(())
            }
            Ok(Err(len)) => Err(upstream_err(
                module,
                file,
                format!("{where_}: file of {len} bytes exceeds the limit of {max} bytes"),
            )),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                bump(&self.stats.not_found, 1);
                Err(Error::ModuleNotFound {
                    module: module.path().to_owned(),
                    version: module.version().to_owned(),
                    detail: format!("{where_}: {e}"),
                })
            }
            Err(e) => Err(upstream_err(module, file, format!("{where_}: {e}"))),
        };
        tracing::debug!(
            url = %where_,
            status = if result.is_ok() { "ok" } else { "error" },
            bytes = if result.is_ok() { sink.len() } else { 0 },
            duration_ms = started.elapsed().as_millis() as u64,
            "GOPROXY file read"
        );
        result
    }
}

/// Bytes read per step from a `file://` proxy.
const FILE_CHUNK: usize = 1 << 20;

/// A failure to write a body where it goes (a full disk, say): not worth
/// retrying.
fn sink_failure(e: &std::io::Error) -> Failure {
    Failure::Fatal(format!("writing the download to a temporary file: {e}"))
}

/// A body snippet on one line, for messages.
fn one_line(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn upstream_err(module: &ModuleVersion, file: ProxyFile, cause: impl Into<String>) -> Error {
    Error::Upstream {
        module: module.path().to_owned(),
        version: module.version().to_owned(),
        what: file.to_string(),
        cause: cause.into(),
    }
}

/// Appends why the rest of the GOPROXY list was not tried.
fn add_note(err: Error, note: &str) -> Error {
    match err {
        Error::ModuleNotFound {
            module,
            version,
            detail,
        } => Error::ModuleNotFound {
            module,
            version,
            detail: format!("{detail}; {note}"),
        },
        Error::Upstream {
            module,
            version,
            what,
            cause,
        } => Error::Upstream {
            module,
            version,
            what,
            cause: format!("{cause}; {note}"),
        },
        other => other,
    }
}

/// An error and its sources on one line (reqwest's own message alone often
/// hides the cause, e.g. "error sending request").
fn chain(e: &dyn std::error::Error) -> String {
    crate::error::messages(e).join(": ")
}

/// Reaching a checksum database, as `go` reaches it (cmd/go's
/// `dbClient.initBase`).
impl Upstream {
    /// Whether checksum database `name` is reached through the GOPROXY
    /// list: true once a proxy answers `sumdb/<name>/supported` with 200;
    /// false when every proxy says 404/410, or the list reaches `off` or
    /// `direct` first (then go asks the database itself). `file://`
    /// entries are passed over. An error from a proxy not followed by `|` is an error.
    pub(crate) async fn sumdb_through_proxy(&self, name: &str) -> Result<bool> {
        let path = format!("sumdb/{name}/supported");
        for entry in &self.inner.entries {
            let (base, auth) = match &entry.target {
                Target::Http { base, auth, .. } => (base, auth),
                // go finds no `supported` file there and goes on.
                Target::File { .. } => continue,
                Target::Off | Target::Direct => return Ok(false),
            };
            match self.inner.fetch_raw_http(base, auth.as_ref(), &path).await {
                Ok(resp) if resp.status == 200 => return Ok(true),
                Ok(_) => {}
                Err(_) if entry.fallback_on_error => {}
                Err(cause) => {
                    return Err(Error::io(
                        format!("asking {base} whether it proxies the checksum database {name}"),
                        std::io::Error::other(cause),
                    ));
                }
            }
        }
        Ok(false)
    }

    /// GETs `<base>/<url_path>` directly (no GOPROXY list), with the same
    /// client, retries, timeouts and body limit as every fetch; 200, 404
    /// and 410 are answers, anything else an error.
    pub(crate) async fn fetch_url(&self, base: &str, url_path: &str) -> Result<RawResponse> {
        if self.is_shut_down() {
            return Err(Error::io(
                format!("fetching {base}/{url_path}"),
                std::io::Error::other(SHUTTING_DOWN),
            ));
        }
        tokio::select! {
            result = self.inner.fetch_raw_http(base, None, url_path) => result.map_err(|cause| {
                Error::io(format!("fetching {base}/{url_path}"), std::io::Error::other(cause))
            }),
            () = self.inner.shut_down() => Err(Error::io(
                format!("fetching {base}/{url_path}"),
                std::io::Error::other(SHUTTING_DOWN),
            )),
        }
    }
}
