//! The reply to a request that came over io_uring: the answer is written
//! into the request's own ring entry (out-header in its header, body in its
//! payload), which is then handed back to the kernel by the queue's
//! thread. Implements every reply trait (`replies`), so the handlers
//! answer it as they answer fuser's replies.
#![allow(unsafe_code)]

use super::abi;
use super::queue::{PAYLOAD_LEN, Queue, finish_header};
use crate::replies::{
    AttrReply, DataReply, DirPlusReply, DirReply, EmptyReply, EntryReply, OpenReply, Reply, Statfs,
    StatfsReply, XattrReply,
};
use fuser::{Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation, INodeNo};
use std::sync::Arc;
use std::time::Duration;

/// The one reply to the request in entry `slot` of `queue`. Dropped
/// unanswered (a handler that panicked), it answers EIO, so the entry goes
/// back to the kernel either way.
pub(crate) struct RingReply {
    queue: Arc<Queue>,
    slot: usize,
    unique: u64,
    commit_id: u64,
    /// The most body bytes the request takes (a READ's or READDIR's size).
    limit: usize,
    /// Body bytes written so far (directory replies fill in steps).
    used: usize,
    answered: bool,
}

impl RingReply {
    /// The reply to the request in `slot`, whose body may take `limit`
    /// bytes. The caller owns the entry and hands it to the reply.
    pub(crate) fn new(
        queue: Arc<Queue>,
        slot: usize,
        unique: u64,
        commit_id: u64,
        limit: usize,
    ) -> RingReply {
        RingReply {
            queue,
            slot,
            unique,
            commit_id,
            limit: limit.min(PAYLOAD_LEN),
            used: 0,
            answered: false,
        }
    }

    /// The entry's header and the body's part of its payload.
    fn buffers(&mut self) -> (&mut [u8], &mut [u8]) {
        // SAFETY: the reply owns its entry until `send` commits it, and
        // `&mut self` makes this the only reference to its buffers.
        let (header, payload) = unsafe { self.queue.buffers(self.slot) };
        (header, &mut payload[..self.limit])
    }

    /// Answers with `error` (0 or a negative errno) and the first `body`
    /// bytes of the payload, and hands the entry back.
    fn finish(&mut self, error: i32, body: usize) {
        let unique = self.unique;
        let (header, _) = self.buffers();
        finish_header(header, error, unique, body);
        self.answered = true;
        self.queue.commit(self.slot, self.commit_id);
    }

    /// [`RingReply::finish`], for an answer made.
    fn send(mut self, error: i32, body: usize) {
        self.finish(error, body);
    }

    /// Appends a directory entry written by `put` (which answers its
    /// length, or `None` when it does not fit); true once the reply is
    /// full.
    fn append(&mut self, put: impl FnOnce(&mut [u8]) -> Option<usize>) -> bool {
        let used = self.used;
        let (_, payload) = self.buffers();
        match put(&mut payload[used..]) {
            Some(len) => {
                self.used += len;
                false
            }
            None => true,
        }
    }

    /// Sends the entries appended.
    fn send_listing(self) {
        let used = self.used;
        self.send(0, used);
    }

    /// Answers with `body`, written by `write` into the payload; a body
    /// larger than the request takes is an EIO.
    fn send_with(mut self, len: usize, write: impl FnOnce(&mut [u8])) {
        let (_, payload) = self.buffers();
        match payload.get_mut(..len) {
            Some(body) => {
                write(body);
                self.send(0, len);
            }
            None => {
                tracing::warn!(len, limit = self.limit, "io_uring reply larger than asked");
                self.send(-libc::EIO, 0);
            }
        }
    }
}

impl Drop for RingReply {
    fn drop(&mut self) {
        if !self.answered {
            self.finish(-libc::EIO, 0);
        }
    }
}

impl Reply for RingReply {
    fn fail(self, errno: Errno) {
        self.send(-errno.code(), 0);
    }
}

impl EntryReply for RingReply {
    fn entry(self, ttl: &Duration, attr: &FileAttr, generation: Generation) {
        self.send_with(abi::ENTRY_OUT_LEN, |out| {
            abi::put_entry(out, ttl, attr, generation.0)
        });
    }
}

impl AttrReply for RingReply {
    fn attr(self, ttl: &Duration, attr: &FileAttr) {
        self.send_with(abi::ATTR_OUT_LEN, |out| abi::put_attr_out(out, ttl, attr));
    }
}

impl OpenReply for RingReply {
    fn opened(self, fh: FileHandle, flags: FopenFlags) {
        self.send_with(abi::OPEN_OUT_LEN, |out| {
            abi::put_open(out, fh.0, flags.bits())
        });
    }
}

impl DataReply for RingReply {
    fn data(self, data: &[u8]) {
        // A READ never gets more than it asked for.
        let data = &data[..data.len().min(self.limit)];
        self.send_with(data.len(), |out| out.copy_from_slice(data));
    }
}

impl EmptyReply for RingReply {
    fn ok(self) {
        self.send(0, 0);
    }
}

impl DirReply for RingReply {
    fn add(&mut self, ino: INodeNo, offset: u64, kind: FileType, name: &str) -> bool {
        self.append(|out| abi::put_dirent(out, ino.0, offset, kind, name))
    }
    fn ok(self) {
        self.send_listing();
    }
}

impl DirPlusReply for RingReply {
    fn add(
        &mut self,
        _ino: INodeNo,
        offset: u64,
        name: &str,
        ttl: &Duration,
        attr: &FileAttr,
        generation: Generation,
    ) -> bool {
        self.append(|out| abi::put_direntplus(out, offset, name, ttl, attr, generation.0))
    }
    fn ok(self) {
        self.send_listing();
    }
}

impl StatfsReply for RingReply {
    fn statfs(self, s: &Statfs) {
        self.send_with(abi::STATFS_OUT_LEN, |out| abi::put_statfs(out, s));
    }
}

impl XattrReply for RingReply {
    fn size(self, size: u32) {
        self.send_with(abi::GETXATTR_OUT_LEN, |out| {
            out[..4].copy_from_slice(&size.to_le_bytes());
            out[4..8].fill(0);
        });
    }
    fn data(self, data: &[u8]) {
        self.send_with(data.len(), |out| out.copy_from_slice(data));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uring::abi::{OUT_HEADER_LEN, PAYLOAD_SZ, u32_at, u64_at};
    use std::os::fd::OwnedFd;

    /// A queue of two entries over a descriptor that is never used (these
    /// replies are committed, not submitted).
    fn queue() -> Arc<Queue> {
        let dev: OwnedFd = std::fs::File::open("/dev/null")
            .map(OwnedFd::from)
            .unwrap_or_else(|e| panic!("/dev/null: {e}"));
        Arc::new(Queue::new(0, 2, Arc::new(dev)).unwrap_or_else(|e| panic!("queue: {e}")))
    }

    /// The answered out-header (length, error, unique) and payload size of
    /// entry `slot`.
    fn answer(queue: &Queue, slot: usize) -> (u32, i32, u64, u32) {
        // SAFETY: the test owns the entries; no reply is alive.
        let (header, _) = unsafe { queue.buffers(slot) };
        (
            u32_at(header, 0),
            u32_at(header, 4) as i32,
            u64_at(header, 8),
            u32_at(header, PAYLOAD_SZ),
        )
    }

    #[test]
    fn a_reply_dropped_unanswered_answers_eio_and_hands_its_entry_back() {
        let q = queue();
        drop(RingReply::new(q.clone(), 1, 77, 5, usize::MAX));
        assert_eq!(answer(&q, 1), (OUT_HEADER_LEN as u32, -libc::EIO, 77, 0));
        assert_eq!(*q.commits_for_test(), vec![(1, 5)]);
    }

    #[test]
    fn a_read_gets_no_more_than_it_asked_for() {
        let q = queue();
        DataReply::data(RingReply::new(q.clone(), 0, 9, 3, 4), b"abcdefgh");
        assert_eq!(answer(&q, 0), (OUT_HEADER_LEN as u32 + 4, 0, 9, 4));
        // SAFETY: as above.
        let (_, payload) = unsafe { q.buffers(0) };
        assert_eq!(&payload[..4], b"abcd");
    }

    #[test]
    fn a_listing_stops_at_the_size_asked_and_sends_what_fits() {
        let q = queue();
        // 64 bytes: two 32-byte entries fit, the third does not.
        let mut reply = RingReply::new(q.clone(), 0, 1, 1, 64);
        let mut full = false;
        let mut sent = 0;
        for (i, name) in ["a.go", "b.go", "c.go"].into_iter().enumerate() {
            full = DirReply::add(
                &mut reply,
                INodeNo(10 + i as u64),
                i as u64 + 1,
                FileType::RegularFile,
                name,
            );
            if full {
                break;
            }
            sent += 1;
        }
        assert!(full);
        assert_eq!(sent, 2);
        DirReply::ok(reply);
        assert_eq!(answer(&q, 0).3, 64);
        // SAFETY: as above.
        let (_, payload) = unsafe { q.buffers(0) };
        assert_eq!(u64_at(payload, 32), 11, "the second entry's inode");
    }

    #[test]
    fn an_error_answer_has_no_body() {
        let q = queue();
        Reply::fail(
            RingReply::new(q.clone(), 0, 4, 2, usize::MAX),
            Errno::ENOENT,
        );
        assert_eq!(answer(&q, 0), (OUT_HEADER_LEN as u32, -libc::ENOENT, 4, 0));
    }
}
