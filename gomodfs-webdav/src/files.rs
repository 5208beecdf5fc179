//! GET and HEAD of files: content types, validators, conditional requests,
//! ranges and caching hints. Shared by the WebDAV namespace and the GOPROXY
//! endpoint.

use crate::body::{self, Body};
use bytes::Bytes;
use gomodfs_core::{Attr, Lifetime};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use std::time::SystemTime;

/// `Cache-Control` of content that never changes.
pub(crate) const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of content that may change (the status file, listings
/// outside module trees): revalidate every time.
pub(crate) const REVALIDATE: &str = "no-cache";

/// The `Content-Type` of a file, by name. Text that `go` and people read
/// (`.mod`, `.info`, `.ziphash`, sources, licenses) is `text/plain`;
/// nothing is guessed from a media list (which calls `.mod` video/mpeg),
/// and nothing is served as HTML or SVG, so module contents cannot run
/// scripts in a browser on this origin.
pub fn content_type(name: &str) -> &'static str {
    const TEXT: &str = "text/plain; charset=utf-8";
    let base = name.rsplit('/').next().unwrap_or(name);
    if base == gomodfs_core::fs::STATUS_FILE {
        return "application/json";
    }
    let ext = match base.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext.to_ascii_lowercase(),
        _ => String::new(),
    };
    match ext.as_str() {
        "mod" | "info" | "ziphash" | "sum" | "go" | "s" | "c" | "h" | "cc" | "cpp" | "hpp"
        | "m" | "txt" | "md" | "markdown" | "rst" | "adoc" | "proto" | "tmpl" | "tpl" | "y"
        | "yaml" | "yml" | "toml" | "ini" | "cfg" | "conf" | "csv" | "tsv" | "sh" | "bash"
        | "py" | "rb" | "pl" | "js" | "ts" | "css" | "html" | "htm" | "xml" | "svg" | "sql"
        | "bazel" | "bzl" | "mk" | "gitignore" | "gitattributes" | "golden" | "patch" | "diff"
        | "license" => TEXT,
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "wasm" => "application/wasm",
        "" => {
            let upper = base.to_ascii_uppercase();
            let textual = [
                "LICENSE",
                "LICENCE",
                "COPYING",
                "README",
                "AUTHORS",
                "CONTRIBUTORS",
                "PATENTS",
                "NOTICE",
                "MAKEFILE",
                "DOCKERFILE",
                "CODEOWNERS",
                "VERSION",
                ".GITIGNORE",
                ".GITATTRIBUTES",
            ];
            if textual.iter().any(|t| upper.starts_with(t)) {
                TEXT
            } else {
                "application/octet-stream"
            }
        }
        _ => "application/octet-stream",
    }
}

/// The strong ETag of a node: derived from its id (the path: content at a
/// stable path never changes) and size.
pub(crate) fn etag(attr: &Attr) -> String {
    format!("{:016x}-{:x}", attr.id.0, attr.size)
}

/// Validators and caching hints of one representation.
pub(crate) struct Validators {
    /// The ETag without quotes, if any.
    pub(crate) etag: Option<String>,
    /// Last-Modified, if meaningful.
    pub(crate) modified: Option<SystemTime>,
    /// Cache forever (true) or revalidate (false).
    pub(crate) immutable: bool,
}

impl Validators {
    /// The validators of a node, from the core's caching answer: contents
    /// that never change get a strong ETag, Last-Modified and a one-year
    /// `immutable` Cache-Control; anything else (the status file) gets no
    /// validators and is revalidated every time.
    pub(crate) fn of(attr: &Attr) -> Validators {
        let forever = attr.cache.contents == Lifetime::Forever;
        Validators {
            etag: forever.then(|| etag(attr)),
            modified: forever.then_some(attr.mtime),
            immutable: forever,
        }
    }
}

/// What the conditional headers decide.
pub(crate) enum Conditional {
    /// Serve the representation (ranges allowed when the flag is true).
    Serve { ranges_ok: bool },
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn etag_list_matches(list: &str, etag: Option<&str>, weak_ok: bool) -> bool {
    list.split(',').map(str::trim).any(|t| {
        if t == "*" {
            return etag.is_some();
        }
        let (weak, t) = match t.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        if weak && !weak_ok {
            return false;
        }
        let t = t.trim_matches('"');
        etag.is_some_and(|e| e == t)
    })
}

/// Evaluates If-Match, If-Unmodified-Since, If-None-Match,
/// If-Modified-Since and If-Range (RFC 9110 section 13.2.2 order).
pub(crate) fn evaluate(headers: &HeaderMap, v: &Validators) -> Conditional {
    let etag = v.etag.as_deref();
    let modified = v.modified.map(httpdate::HttpDate::from);
    if let Some(list) = header_str(headers, header::IF_MATCH) {
        if !etag_list_matches(list, etag, false) {
            return Conditional::Failed;
        }
    } else if let (Some(since), Some(m)) = (
        header_str(headers, header::IF_UNMODIFIED_SINCE).and_then(|s| s.parse().ok()),
        modified,
    ) && m > since
    {
        return Conditional::Failed;
    }
    if let Some(list) = header_str(headers, header::IF_NONE_MATCH) {
        if etag_list_matches(list, etag, true) {
            return Conditional::NotModified;
        }
    } else if let (Some(since), Some(m)) = (
        header_str(headers, header::IF_MODIFIED_SINCE)
            .and_then(|s| s.parse::<httpdate::HttpDate>().ok()),
        modified,
    ) && m <= since
    {
        return Conditional::NotModified;
    }
    let ranges_ok = match header_str(headers, header::IF_RANGE) {
        None => true,
        Some(r) if r.starts_with('"') => etag.is_some_and(|e| r.trim_matches('"') == e),
        Some(r) if r.starts_with("W/") => false,
        Some(r) => match (r.parse::<httpdate::HttpDate>(), modified) {
            (Ok(d), Some(m)) => d == m,
            _ => false,
        },
    };
    Conditional::Serve { ranges_ok }
}

/// A parsed `Range` header against a representation of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RangeSpec {
    /// No usable range: serve everything (absent, not bytes, several ranges).
    Full,
    /// Bytes `start..end` (end exclusive).
    Part(u64, u64),
    /// 416 Range Not Satisfiable.
    Unsatisfiable,
}

/// Parses a single byte range; several ranges are answered in full (allowed
/// by RFC 9110, and simpler than multipart).
pub(crate) fn parse_range(value: Option<&str>, len: u64) -> RangeSpec {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return RangeSpec::Full;
    };
    if spec.contains(',') {
        return RangeSpec::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeSpec::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(start), Ok(last)) if start <= last => {
            if start >= len {
                RangeSpec::Unsatisfiable
            } else {
                RangeSpec::Part(start, last.saturating_add(1).min(len))
            }
        }
        (Ok(start), Err(_)) if b.is_empty() => {
            if start >= len {
                RangeSpec::Unsatisfiable
            } else {
                RangeSpec::Part(start, len)
            }
        }
        (Err(_), Ok(suffix)) if a.is_empty() => {
            if suffix == 0 || len == 0 {
                RangeSpec::Unsatisfiable
            } else {
                RangeSpec::Part(len.saturating_sub(suffix), len)
            }
        }
        _ => RangeSpec::Full,
    }
}

/// Adds the validator and caching headers.
pub(crate) fn add_validators(headers: &mut HeaderMap, v: &Validators) {
    if let Some(e) = &v.etag
        && let Ok(h) = HeaderValue::from_str(&format!("\"{e}\""))
    {
        headers.insert(header::ETAG, h);
    }
    if let Some(m) = v.modified
        && let Ok(h) = HeaderValue::from_str(&httpdate::fmt_http_date(m))
    {
        headers.insert(header::LAST_MODIFIED, h);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if v.immutable { IMMUTABLE } else { REVALIDATE }),
    );
}

/// A response with just a status and a short text body.
pub(crate) fn text_response(status: StatusCode, text: impl Into<String>) -> Response<Body> {
    let mut text = text.into();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let mut resp = Response::new(body::full(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Serves a whole in-memory representation with conditionals and ranges.
/// `read` gives the bytes of `start..end` (called only when a body is sent).
pub(crate) fn serve(
    method: &Method,
    headers: &HeaderMap,
    content_type: &'static str,
    len: u64,
    v: &Validators,
    read: impl FnOnce(u64, u64) -> Bytes,
) -> Response<Body> {
    let (mut resp, range) = plan(method, headers, content_type, len, v);
    if let Some((start, end)) = range {
        *resp.body_mut() = body::full(read(start, end));
    }
    resp
}

/// Decides a GET or HEAD of a representation of `len` bytes once: status
/// and headers (conditionals, `Range`), and the byte range `start..end` to
/// send as the body, `None` when no body is sent (HEAD, 304, 412, 416).
/// The caller reads just that range.
pub(crate) fn plan(
    method: &Method,
    headers: &HeaderMap,
    content_type: &'static str,
    len: u64,
    v: &Validators,
) -> (Response<Body>, Option<(u64, u64)>) {
    let mut resp = Response::new(body::empty());
    add_validators(resp.headers_mut(), v);
    let ranges_ok = match evaluate(headers, v) {
        Conditional::NotModified => {
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
            return (resp, None);
        }
        Conditional::Failed => {
            *resp.status_mut() = StatusCode::PRECONDITION_FAILED;
            return (resp, None);
        }
        Conditional::Serve { ranges_ok } => ranges_ok,
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let range = if ranges_ok {
        parse_range(header_str(headers, header::RANGE), len)
    } else {
        RangeSpec::Full
    };
    let (status, start, end) = match range {
        RangeSpec::Full => (StatusCode::OK, 0, len),
        RangeSpec::Part(s, e) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {s}-{}/{len}", e - 1)) {
                h.insert(header::CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, s, e)
        }
        RangeSpec::Unsatisfiable => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            *resp.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            return (resp, None);
        }
    };
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    *resp.status_mut() = status;
    let body = (method != Method::HEAD).then_some((start, end));
    (resp, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types() {
        for name in [
            "v1.0.0.mod",
            "v1.0.0.info",
            "v1.0.0.ziphash",
            "x/a.go",
            "LICENSE",
            "go.sum",
        ] {
            assert!(content_type(name).starts_with("text/plain"), "{name}");
        }
        assert_eq!(content_type("a/b.bin"), "application/octet-stream");
        assert_eq!(content_type("a/.hidden"), "application/octet-stream");
        assert_eq!(content_type("x.PNG"), "image/png");
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), RangeSpec::Full);
        assert_eq!(parse_range(Some("bytes=0-3"), 10), RangeSpec::Part(0, 4));
        assert_eq!(parse_range(Some("bytes=5-"), 10), RangeSpec::Part(5, 10));
        assert_eq!(parse_range(Some("bytes=-3"), 10), RangeSpec::Part(7, 10));
        assert_eq!(parse_range(Some("bytes=-30"), 10), RangeSpec::Part(0, 10));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), RangeSpec::Part(8, 10));
        assert_eq!(parse_range(Some("bytes=10-"), 10), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), RangeSpec::Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), RangeSpec::Full);
        assert_eq!(parse_range(Some("bytes=4-2"), 10), RangeSpec::Full);
    }
}
