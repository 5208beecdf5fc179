//! Directory listings cached by the kernel (FUSE_NO_OPENDIR_SUPPORT).
//!
//! When the kernel grants it, opening a directory costs no OPENDIR and
//! closing it no RELEASEDIR: the first OPENDIR is answered ENOSYS, and from
//! then on the kernel opens every directory itself, with `fh` 0, and keeps
//! every listing it reads in its page cache (KEEP_CACHE and CACHE_DIR are
//! its defaults then). READDIRPLUS therefore lists by node id
//! ([`FuseFs::list_by_id`]), and the listings that grow (directories
//! outside module trees, [`Caching::GROWING`]) are dropped from the
//! kernel's cache with `inval_inode`:
//!
//! - at once, before a request that downloaded is answered (so whatever it
//!   stored is listed by the next `readdir`);
//! - every [`ABSENT_TTL`] (10 s), for what other processes store in the
//!   same store (the same delay as a name found absent upstream).
//!
//! Only the growing directories listed since the last drop are dropped
//! ([`ListedDirs`]): the kernel holds no other listing, and their
//! attributes never change. Dropping every pinned growing directory after
//! every download cost O(downloads x directories) notifications: 14,727
//! for one cold `go mod verify` of realapp (37 modules).
//!
//! Module trees never change, so their cached listings are kept forever.

use crate::replies::{DirPlusReply, DirReply};
use crate::{FuseFs, Inner, file_attr, file_type};
use fuser::{FileHandle, Generation, INodeNo, Notifier};
use gomodfs_core::fs::ABSENT_TTL;
use gomodfs_core::{Attr, Caching, Listing};
use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

impl Inner {
    /// Drops the kernel's cached listings (and attributes) of every
    /// directory outside module trees it knows, if it caches listings.
    pub(crate) fn invalidate_growing(&self) {
        if !self.no_opendir.load(Ordering::Relaxed) {
            return;
        }
        let Some(notifier) = self.notifier.get() else {
            tracing::debug!("no notifier: growing listings not invalidated");
            return;
        };
        self.listed_growing.drain(|ino| {
            self.listing_ends.lock().remove(&ino);
            invalidate(notifier, ino);
        });
    }
}

/// The growing directories listed since their listings were last dropped
/// from the kernel's cache (see the module docs).
#[derive(Default)]
pub(crate) struct ListedDirs(parking_lot::Mutex<std::collections::HashSet<u64>>);

impl ListedDirs {
    /// Notes that the kernel gets (and keeps) a listing of `listing`'s
    /// directory `ino`, if it is a growing one.
    fn note(&self, ino: INodeNo, listing: &Listing) {
        if listing.dir.cache == Caching::GROWING {
            self.0.lock().insert(ino.0);
        }
    }

    /// Forgets every noted directory, calling `drop` on each. Holds the
    /// set meanwhile: a request that waited on the same download as
    /// another one answers only after that one's drops are done.
    fn drain(&self, mut drop: impl FnMut(u64)) {
        let mut listed = self.0.lock();
        for ino in listed.drain() {
            drop(ino);
        }
    }
}

/// Drops what the kernel cached of inode `ino` (ENOENT: it holds nothing).
fn invalidate(notifier: &Notifier, ino: u64) {
    if let Err(e) = notifier.inval_inode(INodeNo(ino), 0, 0)
        && e.raw_os_error() != Some(libc::ENOENT)
    {
        tracing::debug!(ino, error = %e, "inval_inode failed");
    }
}

/// Every [`ABSENT_TTL`], drops the growing listings the kernel cached, so
/// that modules stored by other processes show; ends with the mount.
pub(crate) fn refresh_periodically(inner: Weak<Inner>) {
    refresh_every(inner, ABSENT_TTL);
}

fn refresh_every(inner: Weak<Inner>, every: Duration) {
    let spawned = std::thread::Builder::new()
        .name("gomodfs-dirs".into())
        .spawn(move || {
            loop {
                std::thread::sleep(every);
                match inner.upgrade() {
                    Some(inner) => inner.invalidate_growing(),
                    None => break,
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "growing listings are refreshed only after downloads");
    }
}

/// One entry of a listing as READDIRPLUS sends it: name, attributes, and
/// whether the kernel takes a lookup reference on it (all but `.` and `..`).
type Sent = (String, Attr, bool);

/// The entries of `listing` in offset order: `.`, `..`, then its entries.
fn with_dots(listing: Listing) -> impl Iterator<Item = Sent> {
    let own = listing.dir;
    [(".".to_owned(), own, false), ("..".to_owned(), own, false)]
        .into_iter()
        .chain(listing.entries.into_iter().map(|(e, a)| (e.name, a, true)))
}

/// Most directories whose end offset is remembered ([`Inner::listing_ends`]).
const ENDS_KEPT: usize = 4096;

/// Offers the entries of `listing` from `offset` on to `add` (which
/// answers true once the reply is full), then gives back the pins the
/// kernel does not keep: those of the entries not sent, and when `kept` is
/// false (READDIR takes no lookup references) all of them. When every
/// entry was sent, the end offset is remembered for `ino`.
fn fill(
    inner: &Inner,
    ino: INodeNo,
    listing: Listing,
    offset: u64,
    kept: bool,
    mut add: impl FnMut(u64, &str, &Attr) -> bool,
) {
    let mut full = false;
    let mut end = 0;
    for (i, (name, attr, counted)) in with_dots(listing).enumerate() {
        let i = i as u64;
        end = i + 1;
        let sent = !full && i >= offset && {
            full = add(i + 1, &name, &attr);
            !full
        };
        if counted && !(kept && sent) {
            inner.fs.forget(attr.id, 1);
        }
    }
    if !full {
        let mut ends = inner.listing_ends.lock();
        if ends.len() >= ENDS_KEPT {
            ends.clear();
        }
        ends.insert(ino.0, end);
    }
}

impl Inner {
    /// Whether a listing of `ino` from `offset` is known to be empty: the
    /// kernel asks once more after the last entry (to learn the end), and
    /// that call need not list the directory again. Forgotten once used.
    fn past_the_end(&self, ino: INodeNo, offset: u64) -> bool {
        let mut ends = self.listing_ends.lock();
        match ends.get(&ino.0) {
            Some(&end) if offset >= end => {
                ends.remove(&ino.0);
                true
            }
            _ => false,
        }
    }
}

impl FuseFs {
    /// READDIRPLUS of a directory the kernel opened without OPENDIR: the
    /// listing taken anew (its entries pinned once each by the call); the
    /// kernel keeps the pins of the entries it gets.
    pub(crate) fn list_plus_by_id(&self, ino: INodeNo, offset: u64, reply: impl DirPlusReply) {
        if self.inner.past_the_end(ino, offset) {
            return reply.ok();
        }
        self.on_node(
            "readdirplus",
            ino,
            reply,
            move |fs, id| fs.opendir(id),
            move |inner, listing, mut reply| {
                inner.listed_growing.note(ino, &listing);
                fill(inner, ino, listing, offset, true, |next, name, attr| {
                    let ttl = inner.ttl(attr);
                    let ino = INodeNo(attr.id.0);
                    reply.add(ino, next, name, &ttl, &file_attr(attr), Generation(0))
                });
                reply.ok();
            },
        );
    }

    /// READDIR of a directory the kernel opened without OPENDIR (a kernel
    /// that lists without READDIRPLUS): nothing stays pinned.
    pub(crate) fn list_by_id(&self, ino: INodeNo, offset: u64, reply: impl DirReply) {
        if self.inner.past_the_end(ino, offset) {
            return reply.ok();
        }
        self.on_node(
            "readdir",
            ino,
            reply,
            move |fs, id| fs.opendir(id),
            move |inner, listing, mut reply| {
                inner.listed_growing.note(ino, &listing);
                fill(inner, ino, listing, offset, false, |next, name, attr| {
                    reply.add(INodeNo(attr.id.0), next, file_type(attr.kind), name)
                });
                reply.ok();
            },
        );
    }
}

/// Whether a READDIR(PLUS) came for a directory opened without OPENDIR.
pub(crate) fn without_handle(fh: FileHandle) -> bool {
    fh.0 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use gomodfs_core::{NodeId, NodeKind};
    use std::time::UNIX_EPOCH;

    fn listing(cache: Caching) -> Listing {
        let dir = Attr {
            id: NodeId(7),
            kind: NodeKind::Directory,
            size: 0,
            perm: 0o555,
            nlink: 1,
            mtime: UNIX_EPOCH,
            cache,
        };
        Listing {
            dir,
            entries: Vec::new(),
        }
    }

    fn drained(listed: &ListedDirs) -> Vec<u64> {
        let mut out = Vec::new();
        listed.drain(|ino| out.push(ino));
        out.sort_unstable();
        out
    }

    /// Only growing directories that were listed are dropped, each once
    /// per listing: downloads alone drop nothing.
    #[test]
    fn only_listed_growing_directories_are_dropped_once() {
        let listed = ListedDirs::default();
        assert!(
            drained(&listed).is_empty(),
            "nothing listed, nothing dropped"
        );
        listed.note(INodeNo(5), &listing(Caching::GROWING));
        listed.note(INodeNo(5), &listing(Caching::GROWING));
        listed.note(INodeNo(6), &listing(Caching::IMMUTABLE));
        listed.note(INodeNo(9), &listing(Caching::GROWING));
        assert_eq!(drained(&listed), vec![5, 9]);
        assert!(drained(&listed).is_empty(), "dropped listings stay dropped");
        listed.note(INodeNo(9), &listing(Caching::GROWING));
        assert_eq!(drained(&listed), vec![9], "listed again: dropped again");
    }
}
