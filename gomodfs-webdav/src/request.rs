//! The request wrapper of the HTTP frontend: every node-API call of a
//! request runs through [`blocking`], which runs it off the async threads
//! (the node API blocks while a module downloads) in a span naming the
//! operation and the path, and logs and maps a failure once.

use crate::body::Body;
use crate::files;
use crate::status::{to_fs_error, to_status};
use gomodfs_core::{Error, ModFs};
use http::{Response, StatusCode};
use std::sync::Arc;

/// A failed request, logged once and mapped to its HTTP status once.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// The status the request answers.
    pub(crate) status: StatusCode,
    /// The body's text: the error's `Display` (`go` shows the body of a
    /// 404 to the user, so it is the reason).
    pub(crate) message: String,
}

impl Failure {
    /// Logs `error` (of operation `op` on `subject`) at the level it
    /// deserves and maps it to its status.
    pub(crate) fn new(op: &str, subject: &str, error: &Error) -> Failure {
        error.log(op, &subject);
        Failure {
            status: to_status(error),
            message: error.to_string(),
        }
    }

    /// The response answering the request.
    pub(crate) fn response(&self) -> Response<Body> {
        files::text_response(self.status, self.message.clone())
    }

    /// The same failure in dav-server's terms.
    pub(crate) fn fs_error(&self) -> dav_server::fs::FsError {
        to_fs_error(self.status)
    }
}

/// Runs `f` on the node API off the async threads, in a span (`op`, the
/// path), logging and mapping its error once.
pub(crate) async fn blocking<T: Send + 'static>(
    fs: &Arc<ModFs>,
    op: &'static str,
    subject: String,
    f: impl FnOnce(&ModFs) -> gomodfs_core::Result<T> + Send + 'static,
) -> Result<T, Failure> {
    let fs = fs.clone();
    let span = tracing::debug_span!("node_api", op, path = %subject);
    let joined = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        f(&fs).map_err(|e| Failure::new(op, &subject, &e))
    })
    .await;
    joined.unwrap_or_else(|e| {
        tracing::error!(op, error = %e, "HTTP request handler failed");
        Err(Failure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: e.to_string(),
        })
    })
}
