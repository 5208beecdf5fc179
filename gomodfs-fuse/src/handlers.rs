//! The request handlers, one per FUSE operation, shared by both
//! transports: fuser's session (`/dev/fuse`) calls them from its
//! [`Filesystem`](fuser::Filesystem) methods, the io_uring transport
//! (`uring`) from its decoder. Each answers through a reply trait
//! (`replies`), so the two cannot drift apart.

use crate::dir_cache;
use crate::op_stats::FuseOp;
use crate::replies::{
    AttrReply, DataReply, DirPlusReply, DirReply, EmptyReply, EntryReply, OpenReply, Reply, Statfs,
    StatfsReply, XattrReply,
};
use crate::request::Child;
use crate::{FuseFs, Inner, NEGATIVE, file_attr, file_type, slice};
use fuser::{Errno, FileHandle, FileType, FopenFlags, Generation, INodeNo};
use gomodfs_core::fs::STATUS_FILE;
use gomodfs_core::{Entry, NodeId};
use std::sync::atomic::Ordering;

impl FuseFs {
    /// LOOKUP of `name` in directory `parent`.
    pub(crate) fn handle_lookup(&self, parent: u64, name: &[u8], reply: impl EntryReply) {
        let _timed = self.ops.time(FuseOp::Lookup);
        // Every name gomodfs serves is UTF-8; anything else does not exist.
        let Ok(name) = std::str::from_utf8(name) else {
            return reply.fail(Errno::ENOENT);
        };
        let name = name.to_owned();
        if parent == NodeId::ROOT.0 && name == STATUS_FILE {
            return self.inner.status_lookup(reply);
        }
        let subject = Child {
            parent,
            name: name.clone(),
        };
        let shown = subject.clone();
        let parent = NodeId(parent);
        self.request(
            "lookup",
            subject,
            reply,
            move |inner, call| inner.fs.with(call).entry(parent, &name),
            move |inner, entry, reply| match entry {
                Entry::Found(attr) => {
                    reply.entry(&inner.ttl(&attr), &file_attr(&attr), Generation(0))
                }
                Entry::Absent { error, lifetime } => {
                    // Not a failure of the request (it is answered), but
                    // logged as one, at debug.
                    error.log("lookup", &shown);
                    // A negative entry (node id 0) the kernel may cache for
                    // as long as the core says the absence holds.
                    let ttl = lifetime.or_forever(inner.ttl);
                    let mut attr = file_attr(&NEGATIVE);
                    attr.ino = INodeNo(0);
                    reply.entry(&ttl, &attr, Generation(0));
                }
            },
        );
    }

    /// FORGET (and each node of BATCH_FORGET): the kernel dropped
    /// `nlookup` references to `ino`.
    pub(crate) fn handle_forget(&self, ino: u64, nlookup: u64) {
        let _timed = self.ops.time(FuseOp::Forget);
        if self.inner.status.forget(ino, nlookup) {
            return;
        }
        self.inner.fs.forget(NodeId(ino), nlookup);
        self.trim.forgot();
    }

    /// GETATTR of `ino`.
    pub(crate) fn handle_getattr(&self, ino: u64, reply: impl AttrReply) {
        let _timed = self.ops.time(FuseOp::Getattr);
        if let Some((_, attr)) = self.inner.status.get(ino) {
            return reply.attr(&self.inner.ttl, &file_attr(&attr));
        }
        self.on_node(
            "getattr",
            INodeNo(ino),
            reply,
            move |fs, id| fs.getattr(id),
            move |inner, attr, reply| reply.attr(&inner.ttl(&attr), &file_attr(&attr)),
        );
    }

    /// OPEN of file `ino`; `read_only`: opened for reading only.
    pub(crate) fn handle_open(&self, ino: u64, read_only: bool, reply: impl OpenReply) {
        let _timed = self.ops.time(FuseOp::Open);
        if !read_only {
            return reply.fail(Errno::EROFS);
        }
        if self.inner.no_open.load(Ordering::Relaxed) {
            // The kernel opens this file, and every later one, without us.
            return reply.fail(Errno::ENOSYS);
        }
        if let Some((data, _)) = self.inner.status.get(ino) {
            let fh = self.inner.files.insert(data);
            return reply.opened(FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE);
        }
        self.on_node(
            "open",
            INodeNo(ino),
            reply,
            move |fs, id| fs.open_file(id),
            Inner::opened_file,
        );
    }

    /// READ of `size` bytes at `offset` of file `ino` (handle `fh`).
    pub(crate) fn handle_read(
        &self,
        ino: u64,
        fh: u64,
        offset: u64,
        size: u32,
        reply: impl DataReply,
    ) {
        let _timed = self.ops.time(FuseOp::Read);
        if let Some((data, _)) = self.inner.status.get(ino) {
            return reply.data(slice(&data, offset, size));
        }
        if let Some(data) = self.inner.files.get(fh) {
            return reply.data(slice(&data, offset, size));
        }
        self.on_node(
            "read",
            INodeNo(ino),
            reply,
            move |fs, id| fs.read(id, offset, size),
            move |_, data, reply| reply.data(&data),
        );
    }

    /// RELEASE of file handle `fh`.
    pub(crate) fn handle_release(&self, fh: u64, reply: impl EmptyReply) {
        let _timed = self.ops.time(FuseOp::Release);
        self.inner.files.remove(fh);
        reply.ok();
    }

    /// FLUSH: nothing is ever written, so nothing to flush; ENOSYS tells
    /// the kernel never to send FLUSH again, saving a round trip per close.
    pub(crate) fn handle_flush(&self, reply: impl Reply) {
        let _timed = self.ops.time(FuseOp::Flush);
        reply.fail(Errno::ENOSYS);
    }

    /// OPENDIR of `ino`.
    pub(crate) fn handle_opendir(&self, ino: u64, reply: impl OpenReply) {
        let _timed = self.ops.time(FuseOp::Opendir);
        if self.inner.no_opendir.load(Ordering::Relaxed) {
            // The kernel opens this directory, and every later one, itself.
            return reply.fail(Errno::ENOSYS);
        }
        // The listing is taken once per open directory, with attributes, so
        // offsets stay stable and READDIRPLUS needs no lookups. Its entries
        // are pinned (once each) until RELEASEDIR.
        self.on_node(
            "opendir",
            INodeNo(ino),
            reply,
            move |fs, id| fs.opendir(id),
            Inner::opened_dir,
        );
    }

    /// READDIR of directory `ino` (handle `fh`) from `offset`.
    pub(crate) fn handle_readdir(&self, ino: u64, fh: u64, offset: u64, mut reply: impl DirReply) {
        let _timed = self.ops.time(FuseOp::Readdir);
        if dir_cache::without_handle(FileHandle(fh)) {
            return self.list_by_id(INodeNo(ino), offset, reply);
        }
        let Some(dir) = self.inner.dirs.get(fh) else {
            return reply.fail(Errno::EBADF);
        };
        // Offsets: 1 is ".", 2 is "..", 3.. are the entries.
        let dots = [
            (ino, FileType::Directory, "."),
            (ino, FileType::Directory, ".."),
        ];
        let all = dots.into_iter().chain(
            dir.entries
                .iter()
                .map(|(name, a)| (a.id.0, file_type(a.kind), name.as_str())),
        );
        for (i, (id, kind, name)) in all.enumerate().skip(offset as usize) {
            if reply.add(INodeNo(id), i as u64 + 1, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    /// READDIRPLUS of directory `ino` (handle `fh`) from `offset`.
    pub(crate) fn handle_readdirplus(
        &self,
        ino: u64,
        fh: u64,
        offset: u64,
        mut reply: impl DirPlusReply,
    ) {
        let _timed = self.ops.time(FuseOp::Readdirplus);
        if dir_cache::without_handle(FileHandle(fh)) {
            return self.list_plus_by_id(INodeNo(ino), offset, reply);
        }
        let Some(dir) = self.inner.dirs.get(fh) else {
            return reply.fail(Errno::EBADF);
        };
        let dots = [(".", dir.own, false), ("..", dir.own, false)];
        let all = dots.into_iter().chain(
            dir.entries
                .iter()
                .map(|(name, a)| (name.as_str(), *a, true)),
        );
        for (i, (name, attr, counted)) in all.enumerate().skip(offset as usize) {
            let ttl = self.inner.ttl(&attr);
            // The kernel takes a lookup reference on every entry it gets
            // except `.` and `..`: pin before it can FORGET. The open
            // directory's own pin guarantees the node is still known.
            if counted && !self.inner.fs.pin(attr.id) {
                tracing::warn!(id = attr.id.0, name, "listed node unknown; not sent");
                continue;
            }
            if reply.add(
                INodeNo(attr.id.0),
                i as u64 + 1,
                name,
                &ttl,
                &file_attr(&attr),
                Generation(0),
            ) {
                if counted {
                    self.inner.fs.forget(attr.id, 1);
                }
                break;
            }
        }
        reply.ok();
    }

    /// RELEASEDIR of directory handle `fh`.
    pub(crate) fn handle_releasedir(&self, fh: u64, reply: impl EmptyReply) {
        let _timed = self.ops.time(FuseOp::Releasedir);
        if let Some(dir) = self.inner.dirs.remove(fh) {
            for (_, attr) in &dir.entries {
                self.inner.fs.forget(attr.id, 1);
            }
        }
        reply.ok();
    }

    /// STATFS.
    pub(crate) fn handle_statfs(&self, reply: impl StatfsReply) {
        let _timed = self.ops.time(FuseOp::Statfs);
        reply.statfs(&Statfs {
            blocks: 0,
            bfree: 0,
            bavail: 0,
            files: 0,
            ffree: 0,
            bsize: 4096,
            namelen: 255,
            frsize: 4096,
        });
    }

    /// ACCESS of `ino`; `write`: write access asked.
    pub(crate) fn handle_access(&self, ino: u64, write: bool, reply: impl EmptyReply) {
        let _timed = self.ops.time(FuseOp::Access);
        if write {
            return reply.fail(Errno::EROFS);
        }
        if self.inner.status.contains(ino) {
            return reply.ok();
        }
        self.on_node(
            "access",
            INodeNo(ino),
            reply,
            move |fs, id| fs.getattr(id),
            move |_, _, reply| reply.ok(),
        );
    }

    /// GETXATTR: no node has extended attributes.
    pub(crate) fn handle_getxattr(&self, reply: impl XattrReply) {
        let _timed = self.ops.time(FuseOp::Xattr);
        reply.fail(Errno::ENODATA);
    }

    /// LISTXATTR: an empty list (`size` 0 asks for its size).
    pub(crate) fn handle_listxattr(&self, size: u32, reply: impl XattrReply) {
        let _timed = self.ops.time(FuseOp::Xattr);
        if size == 0 {
            reply.size(0);
        } else {
            reply.data(&[]);
        }
    }
}
