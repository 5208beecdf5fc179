//! The answers a handler gives, as traits, so that one handler serves
//! both transports: fuser's reply types (requests read from `/dev/fuse`)
//! and the io_uring transport's (`uring`). Each trait mirrors the fuser
//! type of the same role.

use fuser::{
    Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation, INodeNo, ReplyAttr, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyXattr,
};
use std::time::Duration;

/// A reply that can answer an error.
pub(crate) trait Reply: Send + 'static {
    /// Answers `errno`.
    fn fail(self, errno: Errno);
}

/// The answer to LOOKUP.
pub(crate) trait EntryReply: Reply {
    /// The entry, cached for `ttl`.
    fn entry(self, ttl: &Duration, attr: &FileAttr, generation: Generation);
}

/// The answer to GETATTR.
pub(crate) trait AttrReply: Reply {
    /// The attributes, cached for `ttl`.
    fn attr(self, ttl: &Duration, attr: &FileAttr);
}

/// The answer to OPEN and OPENDIR.
pub(crate) trait OpenReply: Reply {
    /// The handle and open flags.
    fn opened(self, fh: FileHandle, flags: FopenFlags);
}

/// The answer to READ.
pub(crate) trait DataReply: Reply {
    /// The bytes read.
    fn data(self, data: &[u8]);
}

/// An answer without a body (ACCESS, RELEASE).
pub(crate) trait EmptyReply: Reply {
    /// Success.
    fn ok(self);
}

/// The answer to READDIR.
pub(crate) trait DirReply: Reply {
    /// Adds an entry; true once the reply is full (the entry not added).
    fn add(&mut self, ino: INodeNo, offset: u64, kind: FileType, name: &str) -> bool;
    /// Sends what was added.
    fn ok(self);
}

/// The answer to READDIRPLUS.
pub(crate) trait DirPlusReply: Reply {
    /// Adds an entry with its attributes; true once the reply is full (the
    /// entry not added).
    fn add(
        &mut self,
        ino: INodeNo,
        offset: u64,
        name: &str,
        ttl: &Duration,
        attr: &FileAttr,
        generation: Generation,
    ) -> bool;
    /// Sends what was added.
    fn ok(self);
}

/// Filesystem statistics (see `statfs(2)`), in `struct fuse_kstatfs`
/// order.
pub(crate) struct Statfs {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
    pub frsize: u32,
}

/// The answer to STATFS.
pub(crate) trait StatfsReply: Reply {
    /// The statistics.
    fn statfs(self, s: &Statfs);
}

/// The answer to GETXATTR and LISTXATTR.
pub(crate) trait XattrReply: Reply {
    /// The size the value or list would take (asked with size 0).
    fn size(self, size: u32);
    /// The value or list.
    fn data(self, data: &[u8]);
}

macro_rules! fuser_replies {
    ($($t:ty),*) => {$(
        impl Reply for $t {
            fn fail(self, errno: Errno) {
                self.error(errno);
            }
        }
    )*};
}
fuser_replies!(
    ReplyEntry,
    ReplyAttr,
    ReplyOpen,
    ReplyData,
    ReplyEmpty,
    ReplyDirectory,
    ReplyDirectoryPlus,
    ReplyStatfs,
    ReplyXattr
);

impl EntryReply for ReplyEntry {
    fn entry(self, ttl: &Duration, attr: &FileAttr, generation: Generation) {
        ReplyEntry::entry(self, ttl, attr, generation);
    }
}

impl AttrReply for ReplyAttr {
    fn attr(self, ttl: &Duration, attr: &FileAttr) {
        ReplyAttr::attr(self, ttl, attr);
    }
}

impl OpenReply for ReplyOpen {
    fn opened(self, fh: FileHandle, flags: FopenFlags) {
        ReplyOpen::opened(self, fh, flags);
    }
}

impl DataReply for ReplyData {
    fn data(self, data: &[u8]) {
        ReplyData::data(self, data);
    }
}

impl EmptyReply for ReplyEmpty {
    fn ok(self) {
        ReplyEmpty::ok(self);
    }
}

impl DirReply for ReplyDirectory {
    fn add(&mut self, ino: INodeNo, offset: u64, kind: FileType, name: &str) -> bool {
        ReplyDirectory::add(self, ino, offset, kind, name)
    }
    fn ok(self) {
        ReplyDirectory::ok(self);
    }
}

impl DirPlusReply for ReplyDirectoryPlus {
    fn add(
        &mut self,
        ino: INodeNo,
        offset: u64,
        name: &str,
        ttl: &Duration,
        attr: &FileAttr,
        generation: Generation,
    ) -> bool {
        ReplyDirectoryPlus::add(self, ino, offset, name, ttl, attr, generation)
    }
    fn ok(self) {
        ReplyDirectoryPlus::ok(self);
    }
}

impl StatfsReply for ReplyStatfs {
    fn statfs(self, s: &Statfs) {
        ReplyStatfs::statfs(
            self, s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.bsize, s.namelen, s.frsize,
        );
    }
}

impl XattrReply for ReplyXattr {
    fn size(self, size: u32) {
        ReplyXattr::size(self, size);
    }
    fn data(self, data: &[u8]) {
        ReplyXattr::data(self, data);
    }
}
