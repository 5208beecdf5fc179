//! The GOPROXY protocol under a URL prefix (`/proxy/` by default), backed by
//! the same store as the filesystem.
//!
//! | request | answer |
//! | --- | --- |
//! | `<E(path)>/@v/<E(ver)>.info`, `.mod` | from the store, fetched on demand ([`ModFs::meta`]) |
//! | `<E(path)>/@v/<E(ver)>.zip` | generated from the store, streamed ([`crate::zipgen`]) |
//! | `<E(path)>/@v/list`, `<E(path)>/@latest` | passed through to the upstream, cached (see [`crate::passthrough`]) |
//! | `sumdb/<name>/lookup/…`, `tile/…` of the checked database | from the store's verified sumdb files, fetched and verified on demand ([`ModFs::sumdb_file`]) |
//! | other `sumdb/<name>/...` | passed through to the upstream, cached the same way |
//!
//! The paths are parsed by the core ([`ProxyRequest::parse`]), which also
//! answers each request: this module only speaks HTTP.
//!
//! Stored modules are served with no network at all. A version the upstream
//! does not have is 404 (`go` treats 404 and 410 alike); pass-through
//! answers keep the upstream's status (404 or 410) and text.

use crate::body::{self, Body, ChannelBody};
use crate::files::{self, Validators};
use crate::passthrough::{Freshness, PassError, Passthrough, stored_list};
use crate::request::blocking;
use crate::zipcache::{Handed, Want, ZipCache};
use crate::zipgen::ZipEncoder;
use bytes::Bytes;
use gomodfs_core::fs::{PassRequest, ProxyRequest};
use gomodfs_core::proxy::ProxyFile;
use gomodfs_core::store::MetaFile;
use gomodfs_core::store::StoredModule;
use gomodfs_core::{ModFs, ModuleVersion};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use std::fs::File;
use std::sync::Arc;

/// Settings of the endpoint.
pub(crate) struct GoProxy {
    pub(crate) fs: Arc<ModFs>,
    pub(crate) passthrough: Passthrough,
    pub(crate) zip_level: u32,
    /// Zips kept on disk, generated or as fetched (`None`: every zip is
    /// generated).
    pub(crate) zip_cache: Option<Arc<ZipCache>>,
}

/// Header telling whether a `.zip` came from the zip cache (`hit`), is the
/// zip fetched for this request (`fetched`), or was generated (`miss`);
/// absent without a cache.
pub(crate) const ZIP_CACHE_HEADER: &str = "x-gomodfs-zip-cache";

/// Bytes per chunk when a cached zip is streamed.
const CACHED_CHUNK: usize = 256 << 10;

impl GoProxy {
    /// Answers a GET or HEAD of `path` (below the prefix, percent-decoded).
    pub(crate) async fn handle(
        &self,
        method: &Method,
        headers: &HeaderMap,
        path: &str,
    ) -> Response<Body> {
        let req = match ProxyRequest::parse(path) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(path, why = %e, "GOPROXY: not found");
                return files::text_response(StatusCode::NOT_FOUND, format!("not found: {e}"));
            }
        };
        match req {
            ProxyRequest::File(mv, ProxyFile::Zip) => self.zip(method, headers, mv).await,
            ProxyRequest::File(mv, ProxyFile::Info) => {
                self.meta(method, headers, mv, MetaFile::Info).await
            }
            ProxyRequest::File(mv, ProxyFile::Mod) => {
                self.meta(method, headers, mv, MetaFile::Mod).await
            }
            ProxyRequest::Pass(PassRequest::SumDb(rest)) => {
                let what = format!("sumdb/{rest}");
                let r = rest.clone();
                match blocking(&self.fs, "goproxy", what, move |fs| fs.sumdb_file(&r)).await {
                    Ok(Some(data)) => self.sumdb_file(method, headers, data),
                    Ok(None) => self.pass(method, &PassRequest::SumDb(rest)).await,
                    Err(failure) => failure.response(),
                }
            }
            ProxyRequest::Pass(request) => self.pass(method, &request).await,
        }
    }

    /// A verified lookup or tile: immutable (a partial tile has its width
    /// in its name).
    fn sumdb_file(&self, method: &Method, headers: &HeaderMap, data: Bytes) -> Response<Body> {
        let v = Validators {
            etag: Some(content_etag(&data)),
            modified: None,
            immutable: true,
        };
        let len = data.len() as u64;
        files::serve(
            method,
            headers,
            "text/plain; charset=utf-8",
            len,
            &v,
            |s, e| data.slice(s as usize..e as usize),
        )
    }

    async fn meta(
        &self,
        method: &Method,
        headers: &HeaderMap,
        mv: ModuleVersion,
        file: MetaFile,
    ) -> Response<Body> {
        let ctype = match file {
            MetaFile::Mod => "text/plain; charset=utf-8",
            MetaFile::Info => "application/json",
        };
        let what = format!("{mv} .{}", file.extension());
        let data = match blocking(&self.fs, "goproxy", what, move |fs| fs.meta(&mv, file)).await {
            Ok(data) => data,
            Err(failure) => return failure.response(),
        };
        let v = Validators {
            etag: Some(content_etag(&data)),
            modified: None,
            immutable: true,
        };
        let len = data.len() as u64;
        files::serve(method, headers, ctype, len, &v, |s, e| {
            data.slice(s as usize..e as usize)
        })
    }

    async fn zip(&self, method: &Method, headers: &HeaderMap, mv: ModuleVersion) -> Response<Body> {
        let mv2 = mv.clone();
        let what = format!("{mv} .zip");
        let (level, cache) = (self.zip_level, self.zip_cache.clone());
        let wanted = self.zip_cache.as_ref().map(|c| c.want(&mv));
        // Off the async threads: the stored module and, if its zip is
        // cached (generated, or kept as fetched), the open entry.
        let stored = blocking(&self.fs, "goproxy", what, move |fs| {
            let module = fs.module(&mv2)?;
            let name = cache
                .as_ref()
                .and_then(|_| ZipCache::name(&mv2, &module.ziphash, level));
            let cached = cache
                .as_deref()
                .and_then(|c| cached_zip(c, &mv2, &module.ziphash, name.as_deref()));
            Ok((module, name, cached))
        });
        // A fetch this request set off hands its zip over as soon as it is
        // valid, before the module is stored: whichever comes first.
        let resolved = match &wanted {
            Some(w) => tokio::select! {
                found = stored => found.map(Resolved::Stored),
                handed = w.handed() => Ok(Resolved::Handed(handed)),
            },
            None => stored.await.map(Resolved::Stored),
        };
        let (ziphash, source) = match resolved {
            Err(failure) => return failure.response(),
            Ok(Resolved::Handed((hash, file, len))) => (hash, ZipSource::Fetched(file, len)),
            Ok(Resolved::Stored((module, _, Some((file, len, kept))))) => {
                (module.ziphash, ZipSource::Cached(file, len, kept))
            }
            // Handed over after the put (off unix), or generated now.
            Ok(Resolved::Stored((module, name, None))) => {
                match wanted.as_ref().and_then(Want::take) {
                    Some((hash, file, len)) if hash == module.ziphash => {
                        (hash, ZipSource::Fetched(file, len))
                    }
                    _ => (module.ziphash.clone(), ZipSource::Generate(module, name)),
                }
            }
        };
        drop(wanted);
        // Same files and level, same bytes: the ETag names both (a zip as
        // fetched has bytes of its own, and an ETag of its own).
        let etag = match &source {
            ZipSource::Cached(_, _, Kept::Fetched) | ZipSource::Fetched(..) => {
                format!("{ziphash}-f")
            }
            _ => format!("{ziphash}-z{}", self.zip_level),
        };
        let v = Validators {
            etag: Some(etag),
            modified: None,
            immutable: true,
        };
        let mut resp = Response::new(body::empty());
        files::add_validators(resp.headers_mut(), &v);
        match files::evaluate(headers, &v) {
            files::Conditional::NotModified => {
                *resp.status_mut() = StatusCode::NOT_MODIFIED;
                return resp;
            }
            files::Conditional::Failed => {
                *resp.status_mut() = StatusCode::PRECONDITION_FAILED;
                return resp;
            }
            // The length of a generated zip is not known before it is
            // written, so ranges are not offered: `go` never asks for them.
            files::Conditional::Serve { .. } => {}
        }
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/zip"),
        );
        if self.zip_cache.is_some() {
            let state = match &source {
                ZipSource::Cached(..) => "hit",
                ZipSource::Fetched(..) => "fetched",
                ZipSource::Generate(..) => "miss",
            };
            h.insert(ZIP_CACHE_HEADER, HeaderValue::from_static(state));
        }
        if let ZipSource::Cached(_, len, _) | ZipSource::Fetched(_, len) = &source {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(*len));
        }
        if method == Method::HEAD {
            return resp;
        }
        *resp.body_mut() = match source {
            ZipSource::Cached(file, len, _) => stream_file(mv, file, len, None),
            ZipSource::Fetched(file, len) => {
                let kept = ZipCache::fetched_name(&mv, &ziphash);
                stream_file(mv, file, len, self.zip_cache.clone().zip(kept))
            }
            ZipSource::Generate(module, name) => {
                let pending = self.zip_cache.clone().zip(name);
                generate(self.fs.clone(), mv, module, self.zip_level, pending)
            }
        };
        resp
    }

    async fn pass(&self, method: &Method, request: &PassRequest) -> Response<Body> {
        let ctype = match request {
            PassRequest::Latest(_) => "application/json",
            PassRequest::List(_) | PassRequest::SumDb(_) => "text/plain; charset=utf-8",
        };
        let (status, data, stale) = match self.passthrough.get(&self.fs, request).await {
            Ok((r, fresh)) => (
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::NOT_FOUND),
                r.body,
                fresh == Freshness::Stale,
            ),
            Err(err) => {
                // No answer from upstream and none cached: for a list, the
                // versions the store holds are the best answer there is.
                let PassRequest::List(module) = request else {
                    return pass_error(request, err);
                };
                let m = module.clone();
                let stored = blocking(&self.fs, "goproxy list", module.clone(), move |fs| {
                    stored_list(fs, &m)
                });
                match stored.await {
                    Ok(data) => (StatusCode::OK, data, true),
                    Err(_) => return pass_error(request, err),
                }
            }
        };
        let ctype = if status == StatusCode::OK {
            ctype
        } else {
            "text/plain; charset=utf-8"
        };
        let mut resp = Response::new(if method == Method::HEAD {
            body::empty()
        } else {
            body::full(data.clone())
        });
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(data.len()));
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=60"),
        );
        if stale {
            h.insert(
                header::WARNING,
                HeaderValue::from_static("110 gomodfs \"Response is Stale\""),
            );
        }
        resp
    }
}

/// How a cached zip came to be.
enum Kept {
    /// Generated here, at the endpoint's level.
    Generated,
    /// As fetched (upstream's or the fleet tier's bytes).
    Fetched,
}

/// Where the bytes of a `.zip` answer come from.
enum ZipSource {
    /// A cache entry: its file, length, and how it came to be.
    Cached(File, u64, Kept),
    /// The zip the fetch this request waited for handed over: its file and
    /// length (kept in the cache once sent).
    Fetched(File, u64),
    /// Generated from the stored module now (kept in the cache under the
    /// name, if any, once sent).
    Generate(StoredModule, Option<String>),
}

/// What a `.zip` request waited for first.
enum Resolved {
    /// The stored module, its cache entry name and the cached zip, if any.
    Stored((StoredModule, Option<String>, Option<(File, u64, Kept)>)),
    /// The zip a fetch handed over.
    Handed(Handed),
}

/// `mv`'s zip in `cache`: the entry generated at this level (`name`), else
/// the one kept as fetched.
fn cached_zip(
    cache: &ZipCache,
    mv: &ModuleVersion,
    ziphash: &str,
    name: Option<&str>,
) -> Option<(File, u64, Kept)> {
    if let Some((file, len)) = name.and_then(|n| cache.get(n)) {
        return Some((file, len, Kept::Generated));
    }
    let (file, len) = ZipCache::fetched_name(mv, ziphash).and_then(|n| cache.get(&n))?;
    Some((file, len, Kept::Fetched))
}

/// Streams a zip of `len` bytes from `file`, chunk by chunk, off the async
/// threads; a short file aborts the response. With `pending` (a cache and
/// an entry name) the bytes are also written to the cache, and kept once
/// the whole zip was sent.
fn stream_file(
    mv: ModuleVersion,
    mut file: File,
    len: u64,
    pending: Option<(Arc<ZipCache>, String)>,
) -> Body {
    let (tx, body) = ChannelBody::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut entry = pending.as_ref().and_then(|(c, name)| c.start(name));
        let mut left = len;
        while left > 0 {
            let want = usize::try_from(left).map_or(CACHED_CHUNK, |l| l.min(CACHED_CHUNK));
            let mut buf = vec![0; want];
            let chunk = read_at(&mut file, &mut buf, len - left).map(|()| Bytes::from(buf));
            match (&chunk, entry.as_mut()) {
                (Err(e), _) => {
                    tracing::warn!(module = %mv, error = %e, "zip: reading a kept zip failed; aborting the response");
                }
                (Ok(bytes), Some(e)) => e.write(bytes),
                (Ok(_), None) => {}
            }
            let failed = chunk.is_err();
            if tx.blocking_send(chunk).is_err() || failed {
                return; // client gone, or the error is sent: nothing kept
            }
            left -= want as u64;
        }
        drop(tx);
        if let Some(e) = entry {
            e.commit();
        }
    });
    body
}

/// Reads `buf.len()` bytes of `file` at `offset`: a positional read on
/// unix, which leaves the offset a handed-over zip shares with the store's
/// reader alone ([`gomodfs_core::FetchedZips::keep`]).
fn read_at(file: &mut File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek, SeekFrom};
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(buf)
    }
}

/// Generates the zip of `module` and streams it, entry by entry, off the
/// async threads; with `pending` (a cache and the entry's name) the bytes
/// are also written to the cache, and kept once the whole zip was sent.
fn generate(
    fs: Arc<ModFs>,
    mv: ModuleVersion,
    module: StoredModule,
    level: u32,
    pending: Option<(Arc<ZipCache>, String)>,
) -> Body {
    let (tx, body) = ChannelBody::channel(4);
    // The body's producer, not a request's core call: it runs as long
    // as the client reads, and logs a failed file itself.
    tokio::task::spawn_blocking(move || {
        let mut entry = pending.as_ref().and_then(|(c, name)| c.start(name));
        let prefix = mv.zip_prefix();
        let mut enc = ZipEncoder::new(level);
        for file in &module.files {
            let chunk = fs
                .file_contents(&mv, file)
                .map_err(|e| {
                    tracing::warn!(module = %mv, file = %file.path, error = %e, "zip: reading a file failed; aborting the response");
                    std::io::Error::other(e.to_string())
                })
                .and_then(|data| {
                    enc.entry(&format!("{prefix}{}", file.path), &data)
                        .map_err(|e| std::io::Error::other(e.to_string()))
                });
            if let (Ok(bytes), Some(e)) = (&chunk, entry.as_mut()) {
                e.write(bytes);
            }
            let failed = chunk.is_err();
            if tx.blocking_send(chunk.map(Bytes::from)).is_err() || failed {
                return; // client gone, or the error is sent: nothing kept
            }
        }
        let end = enc
            .finish()
            .map_err(|e| std::io::Error::other(e.to_string()));
        if let (Ok(bytes), Some(e)) = (&end, entry.as_mut()) {
            e.write(bytes);
        }
        let sent = end.is_ok() && tx.blocking_send(end.map(Bytes::from)).is_ok();
        drop(tx);
        if let (true, Some(e)) = (sent, entry) {
            e.commit();
        }
    });
    body
}

fn pass_error(request: &PassRequest, err: PassError) -> Response<Body> {
    let url_path = request.url_path();
    match err {
        PassError::Offline => files::text_response(
            StatusCode::NOT_FOUND,
            format!("{url_path}: not available: gomodfs is offline and has no cached answer"),
        ),
        PassError::Upstream(e) => {
            tracing::warn!(url_path, error = %e, "GOPROXY pass-through failed");
            files::text_response(StatusCode::BAD_GATEWAY, e.to_string())
        }
    }
}

/// An ETag from content: the first 16 bytes of its SHA-256 would do, but
/// the `.info`/`.mod` of a version never change, so a cheap CRC and the
/// length are enough to tell two versions' files apart.
fn content_etag(data: &[u8]) -> String {
    format!("{:08x}-{:x}", crc32fast::hash(data), data.len())
}
