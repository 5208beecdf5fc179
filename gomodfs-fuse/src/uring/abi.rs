//! The FUSE wire format the io_uring transport reads and writes
//! (include/uapi/linux/fuse.h): opcodes, the ring entry's header layout,
//! and the reply structures, encoded little-endian (the transport runs
//! on Linux only, on the CPU the kernel runs on).

use crate::replies::Statfs;
use fuser::{FileAttr, FileType};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Opcodes the transport answers.
pub(super) mod op {
    pub const LOOKUP: u32 = 1;
    pub const FORGET: u32 = 2;
    pub const GETATTR: u32 = 3;
    pub const SETATTR: u32 = 4;
    pub const SYMLINK: u32 = 6;
    pub const MKNOD: u32 = 8;
    pub const MKDIR: u32 = 9;
    pub const UNLINK: u32 = 10;
    pub const RMDIR: u32 = 11;
    pub const RENAME: u32 = 12;
    pub const LINK: u32 = 13;
    pub const OPEN: u32 = 14;
    pub const READ: u32 = 15;
    pub const WRITE: u32 = 16;
    pub const STATFS: u32 = 17;
    pub const RELEASE: u32 = 18;
    pub const SETXATTR: u32 = 21;
    pub const GETXATTR: u32 = 22;
    pub const LISTXATTR: u32 = 23;
    pub const REMOVEXATTR: u32 = 24;
    pub const FLUSH: u32 = 25;
    pub const OPENDIR: u32 = 27;
    pub const READDIR: u32 = 28;
    pub const RELEASEDIR: u32 = 29;
    pub const ACCESS: u32 = 34;
    pub const CREATE: u32 = 35;
    pub const INTERRUPT: u32 = 36;
    pub const DESTROY: u32 = 38;
    pub const BATCH_FORGET: u32 = 42;
    pub const FALLOCATE: u32 = 43;
    pub const READDIRPLUS: u32 = 44;
    pub const RENAME2: u32 = 45;
    pub const COPY_FILE_RANGE: u32 = 47;
    pub const TMPFILE: u32 = 51;
}

/// `FUSE_IO_URING_CMD_REGISTER`: hand the kernel an entry to fill.
pub(super) const CMD_REGISTER: u32 = 1;
/// `FUSE_IO_URING_CMD_COMMIT_AND_FETCH`: answer an entry's request and
/// hand the entry back.
pub(super) const CMD_COMMIT_AND_FETCH: u32 = 2;

/// `struct fuse_uring_req_header`: `in_out` (the request's
/// `fuse_in_header`, then the reply's `fuse_out_header`), `op_in` (the
/// opcode's fixed argument), `ring_ent_in_out` (commit id, payload size).
pub(super) const HEADER_LEN: usize = 288;
/// Where `op_in` starts in the header.
pub(super) const OP_IN: usize = 128;
/// Where `ring_ent_in_out` starts in the header.
pub(super) const ENT_IN_OUT: usize = 256;
/// `ring_ent_in_out.commit_id`.
pub(super) const COMMIT_ID: usize = ENT_IN_OUT + 8;
/// `ring_ent_in_out.payload_sz`.
pub(super) const PAYLOAD_SZ: usize = ENT_IN_OUT + 16;
/// `sizeof(struct fuse_out_header)`.
pub(super) const OUT_HEADER_LEN: usize = 16;

/// `sizeof(struct fuse_attr)`.
const ATTR_LEN: usize = 88;
/// `sizeof(struct fuse_entry_out)`.
pub(super) const ENTRY_OUT_LEN: usize = 40 + ATTR_LEN;
/// `sizeof(struct fuse_attr_out)`.
pub(super) const ATTR_OUT_LEN: usize = 16 + ATTR_LEN;
/// `sizeof(struct fuse_open_out)`.
pub(super) const OPEN_OUT_LEN: usize = 16;
/// `sizeof(struct fuse_statfs_out)`.
pub(super) const STATFS_OUT_LEN: usize = 80;
/// `sizeof(struct fuse_getxattr_out)`.
pub(super) const GETXATTR_OUT_LEN: usize = 8;
/// `sizeof(struct fuse_dirent)` without its name.
const DIRENT_LEN: usize = 24;

/// The little-endian `u32` at `at`, or 0 past the end.
pub(super) fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// The little-endian `u64` at `at`, or 0 past the end.
pub(super) fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// The fields of `struct fuse_in_header` the transport uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct InHeader {
    /// The opcode.
    pub opcode: u32,
    /// The request's id, echoed in the reply.
    pub unique: u64,
    /// The node the request is about.
    pub nodeid: u64,
}

impl InHeader {
    /// Reads the header at the start of a ring entry's header.
    pub(super) fn parse(header: &[u8]) -> InHeader {
        InHeader {
            opcode: u32_at(header, 4),
            unique: u64_at(header, 8),
            nodeid: u64_at(header, 16),
        }
    }
}

/// `struct fuse_out_header`: the reply's length, error (0 or a negative
/// errno) and id.
pub(super) fn out_header(len: usize, error: i32, unique: u64) -> [u8; OUT_HEADER_LEN] {
    let mut h = [0u8; OUT_HEADER_LEN];
    h[0..4].copy_from_slice(&(len as u32).to_le_bytes());
    h[4..8].copy_from_slice(&error.to_le_bytes());
    h[8..16].copy_from_slice(&unique.to_le_bytes());
    h
}

/// A name sent in the payload: up to its terminating NUL.
pub(super) fn name(payload: &[u8]) -> &[u8] {
    payload.split(|&b| b == 0).next().unwrap_or_default()
}

/// Seconds and nanoseconds since the epoch (0 before it).
fn time(t: SystemTime) -> (u64, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs(), d.subsec_nanos())
}

/// Seconds and nanoseconds of a TTL.
fn ttl_parts(ttl: &Duration) -> (u64, u32) {
    (ttl.as_secs(), ttl.subsec_nanos())
}

/// The `S_IFMT` bits of a file type.
fn type_bits(kind: FileType) -> u32 {
    match kind {
        FileType::Directory => libc::S_IFDIR,
        FileType::RegularFile => libc::S_IFREG,
        FileType::Symlink => libc::S_IFLNK,
        FileType::NamedPipe => libc::S_IFIFO,
        FileType::CharDevice => libc::S_IFCHR,
        FileType::BlockDevice => libc::S_IFBLK,
        FileType::Socket => libc::S_IFSOCK,
    }
}

/// Writes `struct fuse_attr` into `out` (at least [`ATTR_LEN`] bytes).
fn put_attr(out: &mut [u8], attr: &FileAttr) {
    let (atime, atime_ns) = time(attr.atime);
    let (mtime, mtime_ns) = time(attr.mtime);
    let (ctime, ctime_ns) = time(attr.ctime);
    let mode = type_bits(attr.kind) | u32::from(attr.perm);
    let fields64 = [attr.ino.0, attr.size, attr.blocks, atime, mtime, ctime];
    for (i, v) in fields64.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    let fields32 = [
        atime_ns,
        mtime_ns,
        ctime_ns,
        mode,
        attr.nlink,
        attr.uid,
        attr.gid,
        attr.rdev,
        attr.blksize,
        attr.flags,
    ];
    for (i, v) in fields32.iter().enumerate() {
        out[48 + i * 4..52 + i * 4].copy_from_slice(&v.to_le_bytes());
    }
}

/// Writes `struct fuse_entry_out` into `out` (at least
/// [`ENTRY_OUT_LEN`] bytes).
pub(super) fn put_entry(out: &mut [u8], ttl: &Duration, attr: &FileAttr, generation: u64) {
    let (secs, nanos) = ttl_parts(ttl);
    out[0..8].copy_from_slice(&attr.ino.0.to_le_bytes());
    out[8..16].copy_from_slice(&generation.to_le_bytes());
    out[16..24].copy_from_slice(&secs.to_le_bytes());
    out[24..32].copy_from_slice(&secs.to_le_bytes());
    out[32..36].copy_from_slice(&nanos.to_le_bytes());
    out[36..40].copy_from_slice(&nanos.to_le_bytes());
    put_attr(&mut out[40..ENTRY_OUT_LEN], attr);
}

/// Writes `struct fuse_attr_out` into `out` (at least [`ATTR_OUT_LEN`]
/// bytes).
pub(super) fn put_attr_out(out: &mut [u8], ttl: &Duration, attr: &FileAttr) {
    let (secs, nanos) = ttl_parts(ttl);
    out[0..8].copy_from_slice(&secs.to_le_bytes());
    out[8..12].copy_from_slice(&nanos.to_le_bytes());
    out[12..16].fill(0);
    put_attr(&mut out[16..ATTR_OUT_LEN], attr);
}

/// Writes `struct fuse_open_out` into `out` (at least [`OPEN_OUT_LEN`]
/// bytes).
pub(super) fn put_open(out: &mut [u8], fh: u64, flags: u32) {
    out[0..8].copy_from_slice(&fh.to_le_bytes());
    out[8..12].copy_from_slice(&flags.to_le_bytes());
    out[12..16].fill(0);
}

/// Writes `struct fuse_statfs_out` into `out` (at least
/// [`STATFS_OUT_LEN`] bytes).
pub(super) fn put_statfs(out: &mut [u8], s: &Statfs) {
    out[..STATFS_OUT_LEN].fill(0);
    for (i, v) in [s.blocks, s.bfree, s.bavail, s.files, s.ffree]
        .iter()
        .enumerate()
    {
        out[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    for (i, v) in [s.bsize, s.namelen, s.frsize].iter().enumerate() {
        out[40 + i * 4..44 + i * 4].copy_from_slice(&v.to_le_bytes());
    }
}

/// The bytes `struct fuse_dirent` of `name` takes, padded to 8.
fn dirent_len(name: &str) -> usize {
    (DIRENT_LEN + name.len()).next_multiple_of(8)
}

/// Writes `struct fuse_dirent` at the start of `out` and answers its
/// length, or `None` if it does not fit.
pub(super) fn put_dirent(
    out: &mut [u8],
    ino: u64,
    offset: u64,
    kind: FileType,
    name: &str,
) -> Option<usize> {
    let len = dirent_len(name);
    let out = out.get_mut(..len)?;
    out[0..8].copy_from_slice(&ino.to_le_bytes());
    out[8..16].copy_from_slice(&offset.to_le_bytes());
    out[16..20].copy_from_slice(&(name.len() as u32).to_le_bytes());
    out[20..24].copy_from_slice(&(type_bits(kind) >> 12).to_le_bytes());
    out[DIRENT_LEN..DIRENT_LEN + name.len()].copy_from_slice(name.as_bytes());
    out[DIRENT_LEN + name.len()..].fill(0);
    Some(len)
}

/// Writes `struct fuse_direntplus` (entry, then dirent) at the start of
/// `out` and answers its length, or `None` if it does not fit.
pub(super) fn put_direntplus(
    out: &mut [u8],
    offset: u64,
    name: &str,
    ttl: &Duration,
    attr: &FileAttr,
    generation: u64,
) -> Option<usize> {
    let len = ENTRY_OUT_LEN + dirent_len(name);
    let out = out.get_mut(..len)?;
    put_entry(out, ttl, attr, generation);
    put_dirent(
        &mut out[ENTRY_OUT_LEN..],
        attr.ino.0,
        offset,
        attr.kind,
        name,
    )?;
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuser::INodeNo;

    fn attr(kind: FileType) -> FileAttr {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        FileAttr {
            ino: INodeNo(42),
            size: 1234,
            blocks: 3,
            atime: t,
            mtime: t,
            ctime: t,
            crtime: t,
            kind,
            perm: 0o444,
            nlink: 1,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    #[test]
    fn an_entry_has_the_kernels_layout() {
        let mut out = [0xffu8; ENTRY_OUT_LEN];
        put_entry(
            &mut out,
            &Duration::new(7, 9),
            &attr(FileType::RegularFile),
            0,
        );
        assert_eq!(u64_at(&out, 0), 42, "nodeid");
        assert_eq!(u64_at(&out, 8), 0, "generation");
        assert_eq!((u64_at(&out, 16), u64_at(&out, 24)), (7, 7), "valid");
        assert_eq!((u32_at(&out, 32), u32_at(&out, 36)), (9, 9), "valid_nsec");
        let a = &out[40..];
        assert_eq!(u64_at(a, 0), 42, "ino");
        assert_eq!(u64_at(a, 8), 1234, "size");
        assert_eq!(u64_at(a, 32), 1_700_000_000, "mtime");
        assert_eq!(u32_at(a, 52), 5, "mtimensec");
        assert_eq!(u32_at(a, 60), libc::S_IFREG | 0o444, "mode");
        assert_eq!(u32_at(a, 64), 1, "nlink");
        assert_eq!(u32_at(a, 80), 4096, "blksize");
    }

    #[test]
    fn dirents_are_padded_to_eight_and_refused_when_they_do_not_fit() {
        let mut out = [0xffu8; 64];
        let len = put_dirent(&mut out, 5, 3, FileType::Directory, "abc").unwrap_or(0);
        assert_eq!(len, 32);
        assert_eq!(u32_at(&out, 16), 3, "namelen");
        assert_eq!(u32_at(&out, 20), libc::DT_DIR as u32, "type");
        assert_eq!(&out[24..32], b"abc\0\0\0\0\0");
        assert_eq!(
            put_dirent(&mut out[..31], 5, 3, FileType::Directory, "abc"),
            None
        );
        let plus = put_direntplus(
            &mut [0u8; 256],
            3,
            "go.mod",
            &Duration::ZERO,
            &attr(FileType::RegularFile),
            0,
        );
        assert_eq!(plus, Some(ENTRY_OUT_LEN + 32));
    }

    #[test]
    fn names_end_at_their_nul_and_short_headers_read_as_zero() {
        assert_eq!(name(b"go.mod\0"), b"go.mod");
        assert_eq!(name(b"go.mod"), b"go.mod");
        assert_eq!(name(b""), b"");
        assert_eq!(u64_at(&[1, 2, 3], 0), 0);
        let mut h = [0u8; 40];
        h[4..8].copy_from_slice(&op::READ.to_le_bytes());
        h[8..16].copy_from_slice(&9u64.to_le_bytes());
        h[16..24].copy_from_slice(&1u64.to_le_bytes());
        let parsed = InHeader::parse(&h);
        assert_eq!(
            (parsed.opcode, parsed.unique, parsed.nodeid),
            (op::READ, 9, 1)
        );
    }
}
