//! The request wrapper of the FUSE frontend: every handler that calls the
//! core goes through [`FuseFs::request`], which
//!
//! - opens a span naming the operation and its subject (node id, or parent
//!   and name);
//! - runs the core call store-only on the FUSE worker, and again as a full
//!   call on the download-wait pool if it needs a download (so stored
//!   modules are served at local speed whatever is downloading);
//! - logs a failure once ([`Error::log`]) and maps it once
//!   ([`to_errno`](crate::to_errno)), or hands the answer to the handler's
//!   reply.

use crate::replies::Reply;
use crate::{FuseFs, Inner};
use fuser::INodeNo;
use gomodfs_core::{Call, Error, NodeId, With};
use std::fmt::Display;

/// Calls made by a FUSE worker: store-only, pinning what the kernel learns.
const LOCAL: Call = Call {
    store_only: true,
    pin: true,
};

/// Calls made by the download-wait pool.
const WAITING: Call = Call {
    store_only: false,
    pin: true,
};

/// A name in a directory, as a log field: `parent/name`.
#[derive(Clone)]
pub(crate) struct Child {
    /// The directory's node id.
    pub(crate) parent: u64,
    /// The name.
    pub(crate) name: String,
}

impl Display for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.parent, self.name)
    }
}

impl FuseFs {
    /// Serves one request: `work` makes the core call (store-only first,
    /// then, if it needs a download, as a full call on the download-wait
    /// pool), `done` answers `reply` with its result; a failure is logged
    /// once and answered with its errno.
    pub(crate) fn request<T, R: Reply>(
        &self,
        op: &'static str,
        subject: impl Display + Send + 'static,
        reply: R,
        work: impl Fn(&Inner, Call) -> Result<T, Error> + Send + 'static,
        done: impl FnOnce(&Inner, T, R) + Send + 'static,
    ) {
        let span = tracing::debug_span!("fuse", op, %subject);
        let _entered = span.enter();
        let finish = move |inner: &Inner, result: Result<T, Error>| match result {
            Ok(value) => done(inner, value, reply),
            Err(e) => {
                e.log(op, &subject);
                reply.fail(crate::to_errno(&e));
            }
        };
        match work(&self.inner, LOCAL) {
            Err(e) if e.would_fetch() => {
                let inner = self.inner.clone();
                let span = span.clone();
                self.waiters.run(move || {
                    let _entered = span.enter();
                    let result = work(&inner, WAITING);
                    // It may have stored something: listings the kernel
                    // cached must show it before the answer arrives.
                    inner.invalidate_growing();
                    finish(&inner, result);
                });
            }
            result => finish(&self.inner, result),
        }
    }

    /// [`FuseFs::request`] on one node: the span names the node id, and
    /// `work` gets the node API in the call's mode and the id.
    pub(crate) fn on_node<T, R: Reply>(
        &self,
        op: &'static str,
        ino: INodeNo,
        reply: R,
        work: impl Fn(With<'_>, NodeId) -> Result<T, Error> + Send + 'static,
        done: impl FnOnce(&Inner, T, R) + Send + 'static,
    ) {
        let id = NodeId(ino.0);
        let work = move |inner: &Inner, call| work(inner.fs.with(call), id);
        self.request(op, id.0, reply, work, done);
    }
}
