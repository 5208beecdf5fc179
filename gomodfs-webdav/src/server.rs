//! The HTTP server: one listener for WebDAV, the GOPROXY endpoint and the
//! status JSON, on its own tokio runtime.

use crate::body::{self, Body};
use crate::connections::{Connections, Tracked, http1_builder};
use crate::davfs::DavFs;
use crate::files::{self, Validators};
use crate::goproxy::GoProxy;
use crate::passthrough::Passthrough;
use crate::request::blocking;
use crate::{HttpOptions, WebdavError};
use bytes::Buf;
use dav_server::davpath::DavPath;
use dav_server::{DavHandler, DavMethodSet};
use gomodfs_core::{ModFs, NodeKind};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::Body as HttpBody;
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// Where the status JSON is served.
pub const STATUS_PATH: &str = "/status.json";

/// Where the Prometheus metrics are served.
pub const METRICS_PATH: &str = "/metrics";

/// Methods allowed on the WebDAV namespace (everything else is a write or
/// a lock: 405).
const DAV_ALLOW: &str = "GET, HEAD, OPTIONS, PROPFIND";

/// Largest PROPFIND response rewritten in memory (see `fix_content_types`).
const PROPFIND_MAX: usize = 64 << 20;

/// Answers every request of the server; usable on its own to embed gomodfs
/// in another hyper (or any `http`-typed) server.
pub struct Handler {
    fs: Arc<ModFs>,
    dav: DavHandler,
    proxy: GoProxy,
    proxy_prefix: String,
    body_timeout: Duration,
}

impl Handler {
    /// A handler serving `fs` with `options` (the address is not used).
    pub fn new(fs: Arc<ModFs>, options: &HttpOptions) -> Handler {
        let dav = DavHandler::builder()
            .filesystem(Box::new(DavFs::new(fs.clone())))
            .methods(DavMethodSet::WEBDAV_RO)
            .autoindex(true)
            .build_handler();
        let mut prefix = options.proxy_prefix.trim_matches('/').to_owned();
        prefix = format!("/{prefix}/");
        let zip_cache = options.zip_cache.as_ref().and_then(open_zip_cache);
        if let Some(cache) = &zip_cache {
            // A `.zip` request that makes gomodfs fetch the module is
            // answered with the zip as fetched, kept in the cache.
            fs.keep_fetched_zips(cache.clone());
        }
        Handler {
            proxy: GoProxy {
                fs: fs.clone(),
                passthrough: Passthrough::new(
                    options.passthrough_fresh,
                    options.passthrough_stale,
                    crate::passthrough::DEFAULT_BYTES,
                ),
                zip_level: options.zip_level,
                zip_cache,
            },
            fs,
            dav,
            proxy_prefix: prefix,
            body_timeout: options.header_timeout,
        }
    }

    /// Answers one request.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: HttpBody + Send + 'static,
        B::Data: Buf + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let method = req.method().clone();
        let raw = req.uri().path().to_owned();
        // Every request in a span: what it logs, and the node-API calls
        // it makes (`request::blocking`), name the request.
        let span = tracing::debug_span!("http", %method, path = %raw);
        let resp = self.route(req).instrument(span).await;
        tracing::debug!(%method, path = %raw, status = resp.status().as_u16(), "HTTP request");
        resp
    }

    async fn route<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: HttpBody + Send + 'static,
        B::Data: Buf + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let path = match DavPath::new(req.uri().path()) {
            Ok(p) => match std::str::from_utf8(p.as_bytes()) {
                Ok(s) => s.to_owned(),
                Err(_) => return files::text_response(StatusCode::NOT_FOUND, "not found"),
            },
            Err(e) => {
                return files::text_response(StatusCode::BAD_REQUEST, format!("bad path: {e:?}"));
            }
        };
        let method = req.method().clone();
        let read_only = method == Method::GET || method == Method::HEAD;

        if path == STATUS_PATH || path == METRICS_PATH {
            if !read_only {
                return not_allowed("GET, HEAD");
            }
            let (json, content_type) = if path == STATUS_PATH {
                (self.fs.status_json(), "application/json")
            } else {
                let text = gomodfs_core::stats::prometheus_text(&self.fs.status());
                (
                    bytes::Bytes::from(text),
                    "text/plain; version=0.0.4; charset=utf-8",
                )
            };
            let mut resp = Response::new(if method == Method::HEAD {
                body::empty()
            } else {
                body::full(json.clone())
            });
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(json.len()));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return resp;
        }

        if let Some(rest) = path.strip_prefix(&self.proxy_prefix) {
            if !read_only {
                return not_allowed("GET, HEAD");
            }
            return self.proxy.handle(&method, req.headers(), rest).await;
        }

        if read_only {
            let rel = path.trim_matches('/').to_owned();
            let (m, headers) = (method.clone(), req.headers().clone());
            // One trip off the async threads: resolve, decide the answer,
            // read just the bytes it sends.
            let file = blocking(&self.fs, "get", rel.clone(), move |fs| {
                let attr = fs.resolve(&rel)?;
                match attr.kind {
                    NodeKind::File => get_file(fs, &m, &headers, &rel, attr).map(Some),
                    NodeKind::Directory => Ok(None),
                }
            })
            .await;
            match file {
                Ok(Some(resp)) => return resp,
                Ok(None) => {}
                Err(failure) => return failure.response(),
            }
            // Directories: dav-server's HTML index, a page rendered here
            // rather than the listing itself: revalidated whatever the
            // listing's lifetime.
            let mut resp = self.dav.handle(req).await.map(|b| b.boxed_unsync());
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static(files::REVALIDATE),
            );
            return resp;
        }

        match method.as_str() {
            "OPTIONS" => {
                let mut resp = self.dav.handle(req).await.map(|b| b.boxed_unsync());
                // dav-server always advertises class 2 (locks); we have none,
                // and a class-1 server is what makes macOS mount read-only.
                resp.headers_mut()
                    .insert("DAV", HeaderValue::from_static("1"));
                resp
            }
            "PROPFIND" => {
                if let Some(resp) = crate::propfind::refuse_depth(req.headers()) {
                    return resp;
                }
                let req = match crate::propfind::buffer_body(req, self.body_timeout).await {
                    Ok(req) => req,
                    Err(resp) => return resp,
                };
                let resp = self.dav.handle(req).await;
                fix_content_types(resp).await
            }
            _ => not_allowed(DAV_ALLOW),
        }
    }
}

/// The zip cache of `options`, or none (logged) if its directory is unusable:
/// zips are then generated every time.
fn open_zip_cache(options: &crate::ZipCacheOptions) -> Option<Arc<crate::zipcache::ZipCache>> {
    match crate::zipcache::ZipCache::open(options) {
        Ok(cache) => Some(Arc::new(cache)),
        Err(e) => {
            tracing::warn!(dir = %options.dir.display(), error = %e, "zip cache unusable; generating every zip");
            None
        }
    }
}

/// GET or HEAD of a file, on a blocking thread: validators and caching
/// from the core's answer ([`Validators::of`]), the response decided once
/// ([`files::plan`]), then only the bytes sent read; a snapshot node (the
/// status file) is read whole, once, so size and bytes agree.
fn get_file(
    fs: &ModFs,
    method: &Method,
    headers: &http::HeaderMap,
    rel: &str,
    attr: gomodfs_core::Attr,
) -> gomodfs_core::Result<Response<Body>> {
    let ctype = files::content_type(rel);
    let v = Validators::of(&attr);
    if attr.cache.snapshot {
        let data = fs.open(attr.id)?;
        let len = data.len() as u64;
        return Ok(files::serve(method, headers, ctype, len, &v, |s, e| {
            data.slice(s as usize..e as usize)
        }));
    }
    let (mut resp, range) = files::plan(method, headers, ctype, attr.size, &v);
    let Some((start, end)) = range else {
        return Ok(resp);
    };
    let size = u32::try_from(end - start).unwrap_or(u32::MAX);
    let data = fs.read(attr.id, start, size)?;
    if data.len() as u64 != end - start {
        tracing::warn!(
            path = rel,
            want = end - start,
            got = data.len(),
            "short read"
        );
        return Ok(files::text_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "short read",
        ));
    }
    *resp.body_mut() = body::full(data);
    Ok(resp)
}

fn not_allowed(allow: &'static str) -> Response<Body> {
    let mut resp = files::text_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "gomodfs is read-only: method not allowed",
    );
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}

/// dav-server derives `getcontenttype` from a media list in which `.mod`
/// is video/mpeg: rewrite each response's value with [`files::content_type`]
/// of its href, so PROPFIND and GET agree.
async fn fix_content_types(resp: Response<dav_server::body::Body>) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    let bytes = match http_body_util::Limited::new(body, PROPFIND_MAX)
        .collect()
        .await
    {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            tracing::warn!(error = %e, "PROPFIND response unreadable");
            return files::text_response(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        }
    };
    let fixed = match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("getcontenttype>") => rewrite_content_types(text),
        _ => return Response::from_parts(parts, body::full(bytes)),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, body::full(fixed))
}

/// The rewrite behind [`fix_content_types`], on the XML text.
pub(crate) fn rewrite_content_types(text: &str) -> String {
    const OPEN: &str = "<D:getcontenttype>";
    const CLOSE: &str = "</D:getcontenttype>";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("<D:response>") {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let end = tail.find("</D:response>").map_or(tail.len(), |j| j);
        let (resp, after) = tail.split_at(end);
        let href = resp
            .split_once("<D:href>")
            .and_then(|(_, r)| r.split_once("</D:href>"))
            .map(|(h, _)| h);
        match (href, resp.split_once(OPEN)) {
            (Some(href), Some((before, r))) if !href.ends_with('/') => {
                let name = dav_server::davpath::DavPath::new(href)
                    .ok()
                    .and_then(|p| String::from_utf8(p.as_bytes().to_vec()).ok())
                    .unwrap_or_else(|| href.to_owned());
                match r.split_once(CLOSE) {
                    Some((old, r2)) if old != "httpd/unix-directory" => {
                        out.push_str(before);
                        out.push_str(OPEN);
                        out.push_str(files::content_type(&name));
                        out.push_str(CLOSE);
                        out.push_str(r2);
                    }
                    _ => out.push_str(resp),
                }
            }
            _ => out.push_str(resp),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A running HTTP server. Stops when [`HttpServer::stop`] is called or it
/// is dropped.
pub struct HttpServer {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::watch::Sender<bool>>,
    runtime: Option<tokio::runtime::Runtime>,
    /// What the status reports about this server, while it lives.
    _status: [Arc<gomodfs_core::stats::FrontendStatus>; 2],
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl HttpServer {
    /// Binds `options.addr` and starts serving `fs` on a runtime of its own
    /// (`options.workers` threads, plus tokio's blocking pool for the
    /// [`ModFs`] calls).
    pub fn start(fs: Arc<ModFs>, options: &HttpOptions) -> Result<HttpServer, WebdavError> {
        let listener =
            std::net::TcpListener::bind(options.addr).map_err(|source| WebdavError::Bind {
                addr: options.addr,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| WebdavError::Io("local_addr of the HTTP listener".into(), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| WebdavError::Io("set_nonblocking on the HTTP listener".into(), e))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.workers.max(1))
            // Every admitted connection can have a blocking thread for its
            // request, so a request for a stored file never waits for a
            // thread held by a download (threads are started on demand).
            .max_blocking_threads(options.max_connections.max(1).saturating_add(64).max(512))
            .thread_name("gomodfs-http")
            .enable_all()
            .build()
            .map_err(|e| WebdavError::Io("starting the HTTP runtime".into(), e))?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)
                .map_err(|e| WebdavError::Io("registering the HTTP listener".into(), e))?
        };
        // WebDAV at the root, the GOPROXY endpoint under its prefix.
        let status = [
            ("webdav", "/".to_owned()),
            ("goproxy", options.proxy_prefix.clone()),
        ]
        .map(|(kind, path)| {
            fs.stats()
                .add_frontend(gomodfs_core::stats::FrontendStatus {
                    kind: kind.into(),
                    at: format!("http://{addr}{path}"),
                    transport: None,
                })
        });
        let handler = Arc::new(Handler::new(fs, options));
        let (tx, rx) = tokio::sync::watch::channel(false);
        let limits = (options.max_connections, options.header_timeout);
        runtime.spawn(accept_loop(listener, handler, limits, rx));
        tracing::info!(
            %addr,
            max_connections = options.max_connections,
            header_timeout_s = options.header_timeout.as_secs_f64(),
            "HTTP server listening"
        );
        Ok(HttpServer {
            addr,
            shutdown: Some(tx),
            runtime: Some(runtime),
            _status: status,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, gives requests in progress up to 5 seconds, and
    /// shuts the runtime down.
    pub fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(rt) = self.runtime.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                rt.shutdown_background();
            } else {
                rt.shutdown_timeout(Duration::from_secs(5));
            }
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    handler: Arc<Handler>,
    limits: (usize, Duration),
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let (max_connections, header_timeout) = limits;
    let connections = Connections::new(max_connections);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, open = connections.open(), "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let conn = tokio::select! {
            c = connections.admit() => c,
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let tracker = conn.clone();
            let service = hyper::service::service_fn(move |req| {
                let handler = handler.clone();
                let guard = tracker.request();
                async move {
                    let resp = handler.handle(req).await;
                    Ok::<_, std::convert::Infallible>(resp.map(|b| Tracked::new(b, guard)))
                }
            });
            let conn_fut = http1_builder(header_timeout)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let mut conn_fut = std::pin::pin!(conn_fut);
            tokio::select! {
                result = conn_fut.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
                    }
                }
                _ = conn.evicted() => {
                    conn_fut.as_mut().graceful_shutdown();
                    let _ = conn_fut.await;
                }
                _ = conn_shutdown.changed() => {
                    conn_fut.as_mut().graceful_shutdown();
                    let _ = conn_fut.await;
                }
            }
        });
    }
    tracing::debug!("HTTP server stopped accepting");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_content_types() {
        let xml = "<D:multistatus><D:response><D:href>/cache/download/x/@v/v1.0.0.mod</D:href>\
<D:propstat><D:prop><D:getcontenttype>video/mpeg</D:getcontenttype></D:prop></D:propstat></D:response>\
<D:response><D:href>/x@v1.0.0/</D:href><D:propstat><D:prop><D:getcontenttype>httpd/unix-directory</D:getcontenttype></D:prop></D:propstat></D:response>\
</D:multistatus>";
        let out = rewrite_content_types(xml);
        assert!(!out.contains("video/mpeg"), "{out}");
        assert!(out.contains("<D:getcontenttype>text/plain; charset=utf-8</D:getcontenttype>"));
        assert!(out.contains("httpd/unix-directory"));
        assert!(out.ends_with("</D:multistatus>"));
    }
}
