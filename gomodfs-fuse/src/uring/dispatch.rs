//! Decodes a request that came over io_uring and hands it to its handler
//! (`handlers`), the same one fuser's session calls.
#![allow(unsafe_code)]

use super::abi::{self, InHeader, op};
use super::queue::Queue;
use super::reply::RingReply;
use crate::FuseFs;
use crate::replies::{EmptyReply, Reply};
use fuser::Errno;
use std::sync::Arc;

/// What a request's fixed argument and payload say, copied out of the
/// entry before its reply may write there.
struct Request {
    header: InHeader,
    commit_id: u64,
    op_in: [u8; 128],
    /// The payload's bytes the handlers read: a name, or forgotten nodes.
    payload: Vec<u8>,
}

/// Reads the request in entry `slot`.
fn read(queue: &Queue, slot: usize) -> Request {
    // SAFETY: the queue's thread owns the entry from its completion until
    // it hands it to a reply, which is made after this copy.
    let (header, payload) = unsafe { queue.buffers(slot) };
    let header = &*header;
    let parsed = InHeader::parse(header);
    let size = (abi::u32_at(header, abi::PAYLOAD_SZ) as usize).min(payload.len());
    let mut op_in = [0u8; 128];
    op_in.copy_from_slice(&header[abi::OP_IN..abi::OP_IN + 128]);
    let wanted = match parsed.opcode {
        op::LOOKUP | op::BATCH_FORGET => size,
        _ => 0,
    };
    Request {
        header: parsed,
        commit_id: abi::u64_at(header, abi::COMMIT_ID),
        op_in,
        payload: payload[..wanted].to_vec(),
    }
}

/// Answers the request in entry `slot` of `queue`.
pub(crate) fn dispatch(fs: &FuseFs, queue: &Arc<Queue>, slot: usize) {
    let req = read(queue, slot);
    let (opcode, ino) = (req.header.opcode, req.header.nodeid);
    let arg32 = |at| abi::u32_at(&req.op_in, at);
    let arg64 = |at| abi::u64_at(&req.op_in, at);
    // READ, READDIR(PLUS): `fuse_read_in` (fh, offset, size); GETXATTR
    // and LISTXATTR: `fuse_getxattr_in` (size).
    let limit = match opcode {
        op::READ | op::READDIR | op::READDIRPLUS => arg32(16) as usize,
        op::GETXATTR | op::LISTXATTR if arg32(0) > 0 => arg32(0) as usize,
        _ => usize::MAX,
    };
    let reply = RingReply::new(queue.clone(), slot, req.header.unique, req.commit_id, limit);
    match opcode {
        op::LOOKUP => fs.handle_lookup(ino, abi::name(&req.payload), reply),
        op::GETATTR => fs.handle_getattr(ino, reply),
        op::OPEN => {
            let read_only = arg32(0) as i32 & libc::O_ACCMODE == libc::O_RDONLY;
            fs.handle_open(ino, read_only, reply)
        }
        op::READ => fs.handle_read(ino, arg64(0), arg64(8), arg32(16), reply),
        op::RELEASE => fs.handle_release(arg64(0), reply),
        op::FLUSH => fs.handle_flush(reply),
        op::OPENDIR => fs.handle_opendir(ino, reply),
        op::READDIR => fs.handle_readdir(ino, arg64(0), arg64(8), reply),
        op::READDIRPLUS => fs.handle_readdirplus(ino, arg64(0), arg64(8), reply),
        op::RELEASEDIR => fs.handle_releasedir(arg64(0), reply),
        op::STATFS => fs.handle_statfs(reply),
        op::ACCESS => fs.handle_access(ino, arg32(0) as i32 & libc::W_OK != 0, reply),
        op::GETXATTR => fs.handle_getxattr(reply),
        op::LISTXATTR => fs.handle_listxattr(arg32(0), reply),
        // The kernel sends these over /dev/fuse; answered here too, should
        // a kernel send them over the ring.
        op::FORGET => {
            fs.handle_forget(ino, arg64(0));
            reply.ok()
        }
        op::BATCH_FORGET => {
            for one in req.payload.chunks_exact(16).take(arg32(0) as usize) {
                fs.handle_forget(abi::u64_at(one, 0), abi::u64_at(one, 8));
            }
            reply.ok()
        }
        op::INTERRUPT | op::DESTROY => reply.ok(),
        op::SETATTR
        | op::SYMLINK
        | op::MKNOD
        | op::MKDIR
        | op::UNLINK
        | op::RMDIR
        | op::RENAME
        | op::LINK
        | op::WRITE
        | op::SETXATTR
        | op::REMOVEXATTR
        | op::CREATE
        | op::FALLOCATE
        | op::RENAME2
        | op::COPY_FILE_RANGE
        | op::TMPFILE => reply.fail(Errno::EROFS),
        _ => {
            tracing::debug!(opcode, "io_uring: opcode not implemented");
            reply.fail(Errno::ENOSYS)
        }
    }
}
