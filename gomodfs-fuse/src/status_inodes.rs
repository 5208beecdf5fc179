//! The status file as one inode per snapshot.
//!
//! Every other file gomodfs serves never changes, so the mount tells the
//! kernel it needs no OPEN ([`fuser::InitFlags::FUSE_NO_OPEN_SUPPORT`]):
//! that saves an OPEN and a RELEASE round trip per file opened, and the
//! kernel then keeps every file's pages cached. The status file changes on
//! every read, and without OPEN it cannot be read per open with DIRECT_IO.
//! Instead each LOOKUP of `.gomodfs-status` answers a new inode holding one
//! snapshot of the status JSON, its size that snapshot's size, its bytes
//! never changing; the entry's TTL is zero, so every open of the path looks
//! it up again and reads a new snapshot, and a reader never sees a torn
//! document whatever the page cache keeps. The kernel's FORGET frees the
//! snapshot.
//!
//! Snapshot inode numbers have the top bit set and count up from there;
//! the core's inode numbers are hashes of paths, so one of them colliding
//! with a live snapshot's number is as likely as two paths' hashes
//! colliding.

use bytes::Bytes;
use gomodfs_core::{Attr, Caching, NodeId};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The first snapshot inode number.
const FIRST: u64 = 1 << 63;

/// One snapshot, its attributes and the kernel's lookup count on it.
struct Snapshot {
    data: Bytes,
    attr: Attr,
    lookups: u64,
}

/// The snapshots the kernel knows, by inode number.
pub(crate) struct StatusInodes {
    next: AtomicU64,
    live: Mutex<HashMap<u64, Snapshot>>,
}

impl Default for StatusInodes {
    fn default() -> Self {
        StatusInodes {
            next: AtomicU64::new(FIRST),
            live: Mutex::default(),
        }
    }
}

impl StatusInodes {
    /// A new inode holding `data`, with one lookup (the reply's): its
    /// attributes are the status file's `attr` with its own number and
    /// size, cached forever (they never change).
    pub(crate) fn insert(&self, data: Bytes, attr: Attr) -> Attr {
        let ino = self.next.fetch_add(1, Relaxed);
        let attr = Attr {
            id: NodeId(ino),
            size: data.len() as u64,
            cache: Caching::IMMUTABLE,
            ..attr
        };
        let snapshot = Snapshot {
            data,
            attr,
            lookups: 1,
        };
        self.live.lock().insert(ino, snapshot);
        attr
    }

    /// The bytes and attributes of snapshot inode `ino`, if it is one the
    /// kernel knows.
    pub(crate) fn get(&self, ino: u64) -> Option<(Bytes, Attr)> {
        if ino < FIRST {
            return None;
        }
        self.live.lock().get(&ino).map(|s| (s.data.clone(), s.attr))
    }

    /// Whether `ino` is a snapshot inode the kernel knows.
    pub(crate) fn contains(&self, ino: u64) -> bool {
        ino >= FIRST && self.live.lock().contains_key(&ino)
    }

    /// The kernel forgets `n` lookups of `ino`: true if it was a snapshot
    /// (freed at zero lookups).
    pub(crate) fn forget(&self, ino: u64, n: u64) -> bool {
        if ino < FIRST {
            return false;
        }
        let mut live = self.live.lock();
        let Some(s) = live.get_mut(&ino) else {
            return false;
        };
        s.lookups = s.lookups.saturating_sub(n);
        if s.lookups == 0 {
            live.remove(&ino);
        }
        true
    }

    /// How many snapshots are alive.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.live.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_attr() -> Attr {
        Attr {
            id: NodeId(7),
            kind: gomodfs_core::NodeKind::File,
            size: 0,
            perm: 0o444,
            nlink: 1,
            mtime: std::time::UNIX_EPOCH,
            cache: Caching::LIVE,
        }
    }

    #[test]
    fn each_snapshot_is_its_own_inode_until_forgotten() {
        let s = StatusInodes::default();
        let a = s
            .insert(Bytes::from_static(b"{\"a\":1}"), status_attr())
            .id
            .0;
        let b = s
            .insert(Bytes::from_static(b"{\"b\":22}"), status_attr())
            .id
            .0;
        assert_ne!(a, b);
        let (data, attr) = s.get(b).expect("snapshot b");
        assert_eq!(&data[..], b"{\"b\":22}");
        assert_eq!(attr.size, 8, "its own size");
        assert_eq!(attr.cache, Caching::IMMUTABLE, "it never changes");
        assert_eq!(s.get(a).map(|(d, _)| d.len()), Some(7));
        assert!(!s.forget(42, 1), "not a snapshot");
        assert!(s.forget(a, 1));
        assert_eq!(s.get(a), None, "freed at zero lookups");
        assert_eq!(s.len(), 1);
        assert!(s.contains(b));
    }
}
