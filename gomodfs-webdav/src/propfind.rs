//! What is checked before a PROPFIND reaches dav-server: the `Depth`
//! header and the request body.
//!
//! - `Depth: 0` and `Depth: 1` are served. `Depth: infinity` and a missing
//!   `Depth` (which RFC 4918 section 9.1 defines as infinity) are refused
//!   with 403 and the `propfind-finite-depth` precondition: a walk of the
//!   whole namespace would list the whole store. Every WebDAV client we
//!   know (rclone, macOS webdavfs, davfs2, the Windows mini-redirector)
//!   sends an explicit depth.
//! - The body is read here, whole, at most [`BODY_MAX`] bytes within the
//!   server's header timeout (`HttpOptions::header_timeout`): a malformed body (bad chunk, connection closed
//!   before `Content-Length` bytes) is the client's error, 400; too large
//!   is 413; too slow is 408. dav-server then gets the buffered body.

use crate::body::Body;
use crate::files;
use bytes::{Buf, Bytes};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::Body as HttpBody;
use http_body_util::{BodyExt, Full};
use std::time::Duration;

/// Largest PROPFIND request body accepted (a `propfind` XML naming
/// properties is a few hundred bytes).
pub(crate) const BODY_MAX: usize = 64 << 10;

/// The RFC 4918 error body of a refused infinite-depth PROPFIND.
const FINITE_DEPTH: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
<D:error xmlns:D=\"DAV:\"><D:propfind-finite-depth/></D:error>\n";

/// The response refusing the request when the `Depth` header is not 0 or
/// 1; `None` when it is.
pub(crate) fn refuse_depth(headers: &HeaderMap) -> Option<Response<Body>> {
    let depth = headers
        .get("depth")
        .map(|v| v.to_str().map(|s| s.trim().to_ascii_lowercase()));
    match depth {
        Some(Ok(d)) if d == "0" || d == "1" => None,
        None => Some(finite_depth()),
        Some(Ok(d)) if d == "infinity" => Some(finite_depth()),
        _ => Some(files::text_response(
            StatusCode::BAD_REQUEST,
            "bad Depth header: 0 or 1",
        )),
    }
}

fn finite_depth() -> Response<Body> {
    let mut resp = Response::new(crate::body::full(FINITE_DEPTH));
    *resp.status_mut() = StatusCode::FORBIDDEN;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    resp
}

/// The request with its body read into memory (all of it within
/// `timeout`), or the error response.
pub(crate) async fn buffer_body<B>(
    req: Request<B>,
    timeout: Duration,
) -> Result<Request<Full<Bytes>>, Response<Body>>
where
    B: HttpBody + Send + 'static,
    B::Data: Buf + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let (parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, BODY_MAX);
    let collected = match tokio::time::timeout(timeout, limited.collect()).await {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e)) => {
            let too_large = e.is::<http_body_util::LengthLimitError>();
            tracing::debug!(error = %e, "PROPFIND: unreadable request body");
            return Err(if too_large {
                files::text_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body larger than {BODY_MAX} bytes"),
                )
            } else {
                files::text_response(
                    StatusCode::BAD_REQUEST,
                    format!("malformed request body: {e}"),
                )
            });
        }
        Err(_) => {
            return Err(files::text_response(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "request body not received within {:.1} s",
                    timeout.as_secs_f64()
                ),
            ));
        }
    };
    Ok(Request::from_parts(parts, Full::new(collected)))
}
