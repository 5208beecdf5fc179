//! `.gomodfs-status` over a stateless protocol.
//!
//! NFS has no open/close, so a client reads the status file as GETATTR (for
//! the size) followed by one or more READs. Each core call makes a fresh
//! snapshot, and two snapshots differ in size and bytes, so a client could
//! see a torn document. This module keeps one snapshot for a short window:
//! every GETATTR and READ of the status file within it answers from the same
//! bytes.

use bytes::Bytes;
use gomodfs_core::{Attr, ModFs, NodeId};
use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// How long one snapshot of the status file answers GETATTR and READ.
pub const STATUS_WINDOW: Duration = Duration::from_secs(1);

/// The current snapshot of the status file and when it was taken.
pub(crate) struct StatusWindow {
    /// The status file's node id.
    id: NodeId,
    current: Mutex<Option<(Instant, Bytes)>>,
}

impl StatusWindow {
    /// A window for the status file `id`.
    pub(crate) fn new(id: NodeId) -> StatusWindow {
        StatusWindow {
            id,
            current: Mutex::new(None),
        }
    }

    /// Whether `id` is the status file.
    pub(crate) fn is_status(&self, id: NodeId) -> bool {
        id == self.id
    }

    /// The snapshot in force, taking a new one if the window has passed.
    pub(crate) fn snapshot(&self, fs: &ModFs) -> Result<Bytes, gomodfs_core::Error> {
        let mut current = self.current.lock();
        if let Some((taken, bytes)) = current.as_ref()
            && taken.elapsed() < STATUS_WINDOW
        {
            return Ok(bytes.clone());
        }
        let bytes = fs.open(self.id)?;
        *current = Some((Instant::now(), bytes.clone()));
        Ok(bytes)
    }

    /// `attr` as the client must see it: for the status file, with the size
    /// of the snapshot in force; any other node's unchanged.
    pub(crate) fn attr_of(&self, fs: &ModFs, mut attr: Attr) -> Result<Attr, gomodfs_core::Error> {
        if self.is_status(attr.id) {
            attr.size = self.snapshot(fs)?.len() as u64;
        }
        Ok(attr)
    }
}
