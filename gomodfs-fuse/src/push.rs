//! Small files pushed into the kernel's page cache (FUSE_NOTIFY_STORE)
//! right after their LOOKUP is answered, so that the `read()` that
//! usually follows (go reads every `.mod`, `.info` and `go.mod` it looks
//! up) finds the pages filled and the kernel sends no READ: one round trip
//! saved per small file on a fresh mount.
//!
//! Only what is cheap and safe: regular files of at most
//! [`MountOptions::push_max`](crate::MountOptions::push_max) bytes whose
//! contents never change (no status snapshots), read store-only (a file
//! that needs a download is never fetched for this). Files are read
//! without OPEN and with KEEP_CACHE (FUSE_NO_OPEN_SUPPORT), so the pages
//! stay valid. The contents are read before the LOOKUP is answered and
//! stored right after it: the kernel accepts a store only for an inode it
//! knows, and the looking-up process reads at once, so the push must follow
//! the answer as closely as possible. A push that comes too early (the
//! kernel ignores it) or too late (the READ was sent) changes nothing.

use crate::{FuseOp, Inner};
use bytes::Bytes;
use fuser::INodeNo;
use gomodfs_core::{Attr, Call, Lifetime, NodeKind};
use std::sync::atomic::Ordering;

/// Reads for a push: store-only, pinning nothing (the LOOKUP pinned it).
const PUSH: Call = Call {
    store_only: true,
    pin: false,
};

impl Inner {
    /// The contents of the file just looked up (`attr`) to push after the
    /// answer, if it is small, immutable and stored.
    pub(crate) fn push_contents(&self, attr: &Attr) -> Option<Bytes> {
        let max = self.push_max.load(Ordering::Relaxed);
        if max == 0
            || attr.kind != NodeKind::File
            || attr.size == 0
            || attr.size > max
            || attr.cache.snapshot
            || attr.cache.contents != Lifetime::Forever
            || !self.no_open.load(Ordering::Relaxed)
            || self.notifier.get().is_none()
        {
            return None;
        }
        let size = u32::try_from(attr.size).ok()?;
        match self.fs.with(PUSH).read(attr.id, 0, size) {
            Ok(data) => Some(data),
            Err(e) => {
                tracing::debug!(id = attr.id.0, error = %e, "not pushed");
                None
            }
        }
    }

    /// Pushes `data`, the contents of node `ino`, into the kernel's page
    /// cache.
    pub(crate) fn push(&self, ino: u64, data: &[u8]) {
        let Some(notifier) = self.notifier.get() else {
            return;
        };
        let _timed = self.ops.time(FuseOp::Push);
        if let Err(e) = notifier.store(INodeNo(ino), 0, data) {
            tracing::debug!(ino, error = %e, "push refused");
        }
    }
}
