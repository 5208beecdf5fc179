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
use crate::zipgen::ZipEncoder;
use bytes::Bytes;
use gomodfs_core::fs::{PassRequest, ProxyRequest};
use gomodfs_core::proxy::ProxyFile;
use gomodfs_core::store::MetaFile;
use gomodfs_core::{ModFs, ModuleVersion};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use std::sync::Arc;

/// Settings of the endpoint.
pub(crate) struct GoProxy {
    pub(crate) fs: Arc<ModFs>,
    pub(crate) passthrough: Passthrough,
    pub(crate) zip_level: u32,
}

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
        let module = match blocking(&self.fs, "goproxy", what, move |fs| fs.module(&mv2)).await {
            Ok(m) => m,
            Err(failure) => return failure.response(),
        };
        // Same files and level, same bytes: the ETag names both.
        let v = Validators {
            etag: Some(format!("{}-z{}", module.ziphash, self.zip_level)),
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
            // The length is not known before the zip is written, so ranges
            // are not offered: `go` never asks for them.
            files::Conditional::Serve { .. } => {}
        }
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/zip"),
        );
        if method == Method::HEAD {
            return resp;
        }
        let (tx, body) = ChannelBody::channel(4);
        let fs = self.fs.clone();
        let level = self.zip_level;
        // The body's producer, not a request's core call: it runs as long
        // as the client reads, and logs a failed file itself.
        tokio::task::spawn_blocking(move || {
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
                let failed = chunk.is_err();
                if tx.blocking_send(chunk.map(Bytes::from)).is_err() || failed {
                    return; // client gone, or the error is sent
                }
            }
            let end = enc
                .finish()
                .map_err(|e| std::io::Error::other(e.to_string()));
            let _ = tx.blocking_send(end.map(Bytes::from));
        });
        *resp.body_mut() = body;
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
