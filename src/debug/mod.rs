//! The debug server: `/` (a status page), `/status.json`, `/metrics`
//! (Prometheus text) and `/history.json` (the last hour, sampled every 10 s).
//!
//! [`respond`] is independent of the HTTP server, so any server that wants
//! these routes (the `--http` frontend, say) can answer them too.
//!
//! The server takes at most [`crate::limits::connection_cap`] connections
//! at once (more wait in the kernel's backlog), and closes a connection
//! that sends no complete request headers for 30 s.

use bytes::Bytes;
use gomodfs_core::ModFs;
use gomodfs_core::stats::{Op, prometheus_text};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The status page: hand-written HTML, CSS and JS, no external resources.
const PAGE: &str = include_str!("page.html");

/// How often [`History`] takes a sample, and how many it keeps (one hour).
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
const SAMPLES: usize = 360;

/// How long a connection may wait before sending a request's headers
/// (new or kept alive); then it is closed.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// One sample of the cumulative counters the page plots.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// Seconds since the Unix epoch.
    pub at: u64,
    /// Frontend operations started (lookup, getattr, readdir, open, read, resolve).
    pub requests: u64,
    /// Of those, failed (something went wrong).
    pub errors: u64,
    /// Of those, answered "not found" (routine; not in `errors`).
    pub not_found: u64,
    /// Cache hits (module trees and file contents).
    pub hits: u64,
    /// Cache misses.
    pub misses: u64,
    /// Total seconds spent in ended frontend operations.
    pub busy_seconds: f64,
    /// Frontend operations ended.
    pub ended: u64,
}

/// The last hour of samples.
#[derive(Debug, Default)]
pub struct History(Mutex<VecDeque<Sample>>);

impl History {
    /// Takes a sample of `fs`'s counters now.
    pub fn sample(&self, fs: &ModFs) {
        let s = fs.status();
        let frontend = [
            Op::Lookup,
            Op::Getattr,
            Op::Readdir,
            Op::Open,
            Op::Read,
            Op::Resolve,
        ];
        let ops: Vec<_> = frontend
            .iter()
            .filter_map(|op| s.ops.get(op.name()))
            .collect();
        let sample = Sample {
            at: s.now,
            requests: ops.iter().map(|o| o.started).sum(),
            errors: ops.iter().map(|o| o.errors).sum(),
            not_found: ops.iter().map(|o| o.not_found).sum(),
            ended: ops.iter().map(|o| o.ended).sum(),
            busy_seconds: ops.iter().map(|o| o.total_seconds).sum(),
            hits: s.module_cache.hits + s.blob_cache.hits,
            misses: s.module_cache.misses + s.blob_cache.misses,
        };
        let mut samples = self.0.lock();
        if samples.len() == SAMPLES {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    /// The samples, plus one of the present moment (not kept), so a page
    /// has a line to draw from the first sample on.
    fn json(&self, fs: &ModFs) -> Bytes {
        self.sample(fs);
        let mut samples = self.0.lock();
        let now = samples.pop_back();
        let mut out: Vec<Sample> = samples.iter().copied().collect();
        out.extend(now);
        Bytes::from(serde_json::to_vec(&out).unwrap_or_default())
    }
}

/// A response of the debug routes, independent of any HTTP library.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Content-Type.
    pub content_type: &'static str,
    /// Body.
    pub body: Bytes,
}

/// Answers a debug route, or `None` if `path` is not one.
pub fn respond(fs: &ModFs, history: &History, path: &str) -> Option<Reply> {
    let ok = |content_type, body| {
        Some(Reply {
            status: 200,
            content_type,
            body,
        })
    };
    match path {
        "/" | "/index.html" => ok(
            "text/html; charset=utf-8",
            Bytes::from_static(PAGE.as_bytes()),
        ),
        "/status.json" => ok("application/json", fs.status_json()),
        "/metrics" => ok(
            "text/plain; version=0.0.4; charset=utf-8",
            Bytes::from(prometheus_text(&fs.status())),
        ),
        "/history.json" => ok("application/json", history.json(fs)),
        _ => None,
    }
}

/// A running debug server; stops when dropped.
pub struct DebugServer {
    addr: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

impl DebugServer {
    /// Serves the debug routes for `fs` on `addr` from a thread of its own.
    pub fn start(fs: Arc<ModFs>, addr: SocketAddr) -> Result<DebugServer, crate::Error> {
        let io = |context: String| move |source| crate::Error::Io { context, source };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("gomodfs-debug")
            .enable_all()
            .build()
            .map_err(io("starting the debug server".into()))?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(io(format!("listening on {addr} for the debug server")))?;
        let addr = listener
            .local_addr()
            .map_err(io("reading the debug server's address".into()))?;
        let history = Arc::new(History::default());
        {
            let (fs, history) = (fs.clone(), history.clone());
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(SAMPLE_EVERY);
                loop {
                    tick.tick().await;
                    let (fs, history) = (fs.clone(), history.clone());
                    let _ = tokio::task::spawn_blocking(move || history.sample(&fs)).await;
                }
            });
        }
        let max_connections = crate::limits::connection_cap();
        let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
        runtime.spawn(async move {
            loop {
                // At the cap, new connections wait in the kernel's backlog
                // (no descriptor used) until one closes.
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    break;
                };
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (fs, history) = (fs.clone(), history.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    let service = service_fn(move |req: Request<Incoming>| {
                        let (fs, history) = (fs.clone(), history.clone());
                        async move { Ok::<_, std::convert::Infallible>(handle(fs, history, req).await) }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    if let Err(e) = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT)
                        .serve_connection(io, service)
                        .await
                    {
                        tracing::debug!(error = %e, "debug connection");
                    }
                });
            }
        });
        tracing::info!(%addr, max_connections, "debug server listening");
        Ok(DebugServer {
            addr,
            _runtime: runtime,
        })
    }

    /// The address it listens on (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

async fn handle(
    fs: Arc<ModFs>,
    history: Arc<History>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let reply = if req.method() != hyper::Method::GET && req.method() != hyper::Method::HEAD {
        Reply {
            status: 405,
            content_type: "text/plain; charset=utf-8",
            body: Bytes::from_static(b"read-only\n"),
        }
    } else {
        let path = req.uri().path().to_owned();
        tokio::task::spawn_blocking(move || respond(&fs, &history, &path))
            .await
            .ok()
            .flatten()
            .unwrap_or(Reply {
                status: 404,
                content_type: "text/plain; charset=utf-8",
                body: Bytes::from_static(b"not found\n"),
            })
    };
    let mut response = Response::new(Full::new(reply.body));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    if let Ok(v) = hyper::header::HeaderValue::from_str(reply.content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, v);
    }
    response.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    response
}

impl Drop for DebugServer {
    fn drop(&mut self) {
        tracing::debug!(addr = %self.addr, "debug server stopping");
    }
}
