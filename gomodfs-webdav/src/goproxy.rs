//! The GOPROXY protocol under a URL prefix (`/proxy/` by default), backed by
//! the same store as the filesystem.
//!
//! | request | answer |
//! | --- | --- |
//! | `<E(path)>/@v/<E(ver)>.info`, `.mod` | from the store, fetched on demand ([`ModFs::meta`]) |
//! | `<E(path)>/@v/<E(ver)>.zip` | generated from the store, streamed ([`crate::zipgen`]) |
//! | `<E(path)>/@v/list`, `<E(path)>/@latest` | passed through to the upstream, cached (see [`crate::passthrough`]) |
//! | `sumdb/<name>/...` | passed through to the upstream, cached the same way |
//!
//! Stored modules are served with no network at all. A version the upstream
//! does not have is 404 (`go` treats 404 and 410 alike); pass-through
//! answers keep the upstream's status (404 or 410) and text.

use crate::body::{self, Body, ChannelBody};
use crate::files::{self, Validators};
use crate::passthrough::{Freshness, PassError, Passthrough, stored_list};
use crate::zipgen::ZipEncoder;
use bytes::Bytes;
use gomodfs_core::store::MetaFile;
use gomodfs_core::{ModFs, ModuleVersion};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use std::sync::Arc;

/// What a proxy URL path asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ProxyRequest {
    /// `.info`, `.mod` or `.zip` of a module version.
    File(ModuleVersion, Ext),
    /// `@v/list` (module path unescaped, URL path for the upstream).
    List(String, String),
    /// `@latest`.
    Latest(String, String),
    /// `sumdb/...`: the URL path for the upstream.
    Sumdb(String),
}

/// The per-version files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ext {
    Info,
    Mod,
    Zip,
}

/// Parses a (percent-decoded) path below the prefix. `Err` is why it is
/// not a proxy request (answered 404).
pub(crate) fn parse(path: &str) -> Result<ProxyRequest, String> {
    if let Some(rest) = path.strip_prefix("sumdb/") {
        // What the checksum database protocol uses (escaped module paths,
        // versions, tile coordinates); anything else could change the
        // meaning of the upstream URL once re-sent (`?`, `#`, spaces).
        let safe = |c: char| c.is_ascii_alphanumeric() || "-._~!/@+".contains(c);
        if rest.is_empty()
            || !rest.chars().all(safe)
            || rest
                .split('/')
                .any(|e| e.is_empty() || e == "." || e == "..")
        {
            return Err(format!("invalid sumdb path {path:?}"));
        }
        return Ok(ProxyRequest::Sumdb(path.to_owned()));
    }
    let unescape = |m: &str| {
        let p = gomodfs_core::modpath::unescape_path(m).map_err(|e| e.to_string())?;
        gomodfs_core::modpath::check_path(&p).map_err(|e| e.to_string())?;
        Ok::<String, String>(p)
    };
    if let Some(m) = path.strip_suffix("/@latest") {
        return Ok(ProxyRequest::Latest(unescape(m)?, path.to_owned()));
    }
    let Some((m, file)) = path.split_once("/@v/") else {
        return Err(format!("not a module proxy path: {path:?}"));
    };
    if file == "list" {
        return Ok(ProxyRequest::List(unescape(m)?, path.to_owned()));
    }
    let (ver, ext) = match file.rsplit_once('.') {
        Some((v, "info")) => (v, Ext::Info),
        Some((v, "mod")) => (v, Ext::Mod),
        Some((v, "zip")) => (v, Ext::Zip),
        _ => return Err(format!("not a module proxy file: {file:?}")),
    };
    let mv = ModuleVersion::from_escaped(m, ver).map_err(|e| e.to_string())?;
    Ok(ProxyRequest::File(mv, ext))
}

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
        let req = match parse(path) {
            Ok(r) => r,
            Err(why) => {
                tracing::debug!(path, why, "GOPROXY: not found");
                return files::text_response(StatusCode::NOT_FOUND, format!("not found: {why}"));
            }
        };
        match req {
            ProxyRequest::File(mv, Ext::Zip) => self.zip(method, headers, mv).await,
            ProxyRequest::File(mv, ext) => self.meta(method, headers, mv, ext).await,
            ProxyRequest::List(module, url) => {
                self.pass(
                    method,
                    &url,
                    Some(&module),
                    "text/plain; charset=utf-8",
                    true,
                )
                .await
            }
            ProxyRequest::Latest(module, url) => {
                self.pass(method, &url, Some(&module), "application/json", false)
                    .await
            }
            ProxyRequest::Sumdb(url) => {
                self.pass(method, &url, None, "text/plain; charset=utf-8", false)
                    .await
            }
        }
    }

    async fn meta(
        &self,
        method: &Method,
        headers: &HeaderMap,
        mv: ModuleVersion,
        ext: Ext,
    ) -> Response<Body> {
        let (file, ctype) = match ext {
            Ext::Mod => (MetaFile::Mod, "text/plain; charset=utf-8"),
            _ => (MetaFile::Info, "application/json"),
        };
        let fs = self.fs.clone();
        let mv2 = mv.clone();
        let data = match tokio::task::spawn_blocking(move || fs.meta(&mv2, file)).await {
            Ok(Ok(data)) => data,
            Ok(Err(e)) => return error_response(&format!("{mv} .{}", file.extension()), &e),
            Err(e) => {
                return files::text_response(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
            }
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
        let fs = self.fs.clone();
        let mv2 = mv.clone();
        let module = match tokio::task::spawn_blocking(move || fs.module(&mv2)).await {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => return error_response(&format!("{mv} .zip"), &e),
            Err(e) => {
                return files::text_response(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
            }
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

    async fn pass(
        &self,
        method: &Method,
        url_path: &str,
        module: Option<&str>,
        ctype: &'static str,
        list: bool,
    ) -> Response<Body> {
        let (status, data, stale) = match self.passthrough.get(&self.fs, url_path, module).await {
            Ok((r, fresh)) => (
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::NOT_FOUND),
                r.body,
                fresh == Freshness::Stale,
            ),
            Err(err) => {
                // No answer from upstream and none cached: for a list, the
                // versions the store holds are the best answer there is.
                if list && let Some(m) = module {
                    let fs = self.fs.clone();
                    let m = m.to_owned();
                    if let Ok(Ok(data)) =
                        tokio::task::spawn_blocking(move || stored_list(&fs, &m)).await
                    {
                        (StatusCode::OK, data, true)
                    } else {
                        return pass_error(url_path, err);
                    }
                } else {
                    return pass_error(url_path, err);
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

fn pass_error(url_path: &str, err: PassError) -> Response<Body> {
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

fn error_response(what: &str, e: &gomodfs_core::Error) -> Response<Body> {
    // `go` prints the body of a 404/410 to the user: make it the reason.
    crate::request::Failure::new("goproxy", what, e).response()
}

/// An ETag from content: the first 16 bytes of its SHA-256 would do, but
/// the `.info`/`.mod` of a version never change, so a cheap CRC and the
/// length are enough to tell two versions' files apart.
fn content_etag(data: &[u8]) -> String {
    format!("{:08x}-{:x}", crc32fast::hash(data), data.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses() {
        let mv = ModuleVersion::new("example.com/CamelCase/Mod", "v1.2.3-Beta.1").unwrap();
        assert_eq!(
            parse("example.com/!camel!case/!mod/@v/v1.2.3-!beta.1.zip").unwrap(),
            ProxyRequest::File(mv.clone(), Ext::Zip)
        );
        assert_eq!(
            parse("example.com/!camel!case/!mod/@v/v1.2.3-!beta.1.info").unwrap(),
            ProxyRequest::File(mv, Ext::Info)
        );
        assert_eq!(
            parse("example.com/!x/@v/list").unwrap(),
            ProxyRequest::List("example.com/X".into(), "example.com/!x/@v/list".into())
        );
        assert_eq!(
            parse("example.com/x/@latest").unwrap(),
            ProxyRequest::Latest("example.com/x".into(), "example.com/x/@latest".into())
        );
        assert!(matches!(
            parse("sumdb/sum.golang.org/supported").unwrap(),
            ProxyRequest::Sumdb(_)
        ));
        assert!(parse("sumdb/../x").is_err());
        assert!(parse("sumdb/sum.golang.org/x#y").is_err());
        assert!(parse("sumdb/sum.golang.org/x?y").is_err());
        assert!(matches!(
            parse("sumdb/sum.golang.org/lookup/github.com/!burnt!sushi/toml@v1.0.0").unwrap(),
            ProxyRequest::Sumdb(_)
        ));
        assert!(parse("example.com/X/@v/list").is_err());
        assert!(parse("example.com/x/@v/v1.0.0.partial").is_err());
        assert!(parse("example.com/x/@v/notaversion.zip").is_err());
        assert!(parse("example.com/x").is_err());
    }
}
