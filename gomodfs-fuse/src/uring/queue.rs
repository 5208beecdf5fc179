//! One queue of FUSE over io_uring: ring entries (a header and a payload
//! buffer each) registered with the kernel, and the thread that waits for
//! their requests, answers them and hands them back.
//!
//! A queue starts with the entries it is given and registers
//! [`GROW_ENTRIES`] more whenever no more than [`LOW_ENTRIES`] are left
//! with the kernel, up to its capacity: a request waiting for a download
//! keeps its entry until the download ends, and while every entry of a
//! queue is held, the requests of its CPU for stored modules wait behind
//! them. It grows while a few are left because the kernel gives a request
//! that found none free to the next entry that comes back from a request,
//! not to one registered after it came. An entry's buffers are allocated
//! when it is first registered.
//!
//! An entry's buffers belong to one party at a time: to the kernel from
//! its REGISTER or COMMIT_AND_FETCH until the completion that says a
//! request is in it, then to that request's one [`RingReply`]
//! (`reply.rs`) until the reply is committed. That hand-over is what makes
//! the unsafe accesses below sound.
#![allow(unsafe_code)]

use super::abi::{self, CMD_COMMIT_AND_FETCH, CMD_REGISTER, HEADER_LEN};
use io_uring::{IoUring, cqueue, opcode, squeue, types};
use parking_lot::Mutex;
use std::cell::{Cell, UnsafeCell};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, OnceLock};

/// The largest reply body and request payload: the kernel refuses
/// entries smaller than its largest READ (`max_pages`, 256 pages) or
/// WRITE (`max_write`, set to this at INIT).
pub(crate) const PAYLOAD_LEN: usize = 1 << 20;

/// `user_data` of the wake-up read (the entries' are their indexes).
const WAKE: u64 = u64::MAX;

/// Entries registered at once when a queue runs low.
const GROW_ENTRIES: usize = 8;
/// A queue grows when no more entries than this are left with the kernel
/// (registered, and neither holding a request nor failed).
const LOW_ENTRIES: usize = 4;

// The 128-byte SQE whose `len` (offset 24) `fuse_cmd` sets.
const _: () = assert!(std::mem::size_of::<squeue::Entry128>() == 128);

thread_local! {
    /// The queue whose ring this thread serves (its address), if any: a
    /// reply made on that thread needs no wake-up.
    static SERVING: Cell<usize> = const { Cell::new(0) };
}

/// One ring entry's buffers and the iovecs that describe them. The
/// buffers are raw allocations, reached only through raw pointers, since
/// the kernel writes them while Rust holds no reference.
struct Slot {
    header: *mut u8,
    payload: *mut u8,
    iov: Box<[libc::iovec; 2]>,
}

impl Slot {
    fn new() -> Slot {
        let header = Box::into_raw(vec![0u8; HEADER_LEN].into_boxed_slice()).cast::<u8>();
        let payload = Box::into_raw(vec![0u8; PAYLOAD_LEN].into_boxed_slice()).cast::<u8>();
        let iov = Box::new([
            libc::iovec {
                iov_base: header.cast(),
                iov_len: HEADER_LEN,
            },
            libc::iovec {
                iov_base: payload.cast(),
                iov_len: PAYLOAD_LEN,
            },
        ]);
        Slot {
            header,
            payload,
            iov,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // SAFETY: the allocations `new` made, of these lengths, freed once;
        // a queue (and so its slots) is dropped only when the kernel holds
        // none of its entries (see `serve` and `uring::start`).
        unsafe {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.header,
                HEADER_LEN,
            )));
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.payload,
                PAYLOAD_LEN,
            )));
        }
    }
}

/// A queue: its entries, the `/dev/fuse` descriptor the commands go to,
/// and the answers waiting to be committed.
pub(crate) struct Queue {
    qid: u16,
    dev: Arc<OwnedFd>,
    /// Room for the queue's capacity; an entry's buffers are allocated
    /// when it is first registered.
    slots: Box<[OnceLock<Slot>]>,
    /// Entries registered so far.
    registered: std::sync::atomic::AtomicUsize,
    /// Answered entries (index, commit id) the ring thread has yet to hand
    /// back.
    commits: Mutex<Vec<(usize, u64)>>,
    /// Wakes the ring thread for answers made on other threads.
    wake: OwnedFd,
    /// The wake-up read's buffer; the ring's, whenever a read is armed.
    wake_buf: UnsafeCell<[u8; 8]>,
}

// SAFETY: the raw pointers (iovecs) and cells are only used under the
// ownership hand-over described at the top of this module; the rest is
// Send and Sync.
unsafe impl Send for Queue {}
// SAFETY: as above.
unsafe impl Sync for Queue {}

impl Queue {
    /// Queue `qid` with room for `capacity` entries, commanding through
    /// `dev`.
    pub(crate) fn new(qid: u16, capacity: usize, dev: Arc<OwnedFd>) -> io::Result<Queue> {
        // SAFETY: a plain syscall; the descriptor is owned below.
        let wake = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if wake < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor nobody else owns.
        let wake = unsafe { OwnedFd::from_raw_fd(wake) };
        Ok(Queue {
            qid,
            dev,
            slots: (0..capacity).map(|_| OnceLock::new()).collect(),
            registered: Default::default(),
            commits: Mutex::new(Vec::with_capacity(capacity)),
            wake,
            wake_buf: UnsafeCell::new([0; 8]),
        })
    }

    /// The request in entry `slot`: header and payload.
    ///
    /// # Safety
    ///
    /// The caller owns the entry (see the module's doc) and holds no other
    /// reference to its buffers.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn buffers(&self, slot: usize) -> (&mut [u8], &mut [u8]) {
        // Allocated before its REGISTER, so before any request is in it
        // (allocating it here would only ever hand out fresh buffers).
        let s = self.slot(slot);
        // SAFETY: live allocations of these lengths (see `Slot`), and the
        // caller's promise that nobody else uses them now.
        unsafe {
            (
                std::slice::from_raw_parts_mut(s.header, HEADER_LEN),
                std::slice::from_raw_parts_mut(s.payload, PAYLOAD_LEN),
            )
        }
    }

    /// Entries registered so far (the ring thread's count).
    pub(crate) fn registered(&self) -> usize {
        self.registered.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Entry `slot`'s buffers, allocated on first use.
    fn slot(&self, slot: usize) -> &Slot {
        self.slots[slot].get_or_init(Slot::new)
    }

    /// Hands entry `slot`, answered, back to the ring thread to commit.
    pub(crate) fn commit(&self, slot: usize, commit_id: u64) {
        self.commits.lock().push((slot, commit_id));
        if SERVING.with(Cell::get) != self as *const Queue as usize {
            let one = 1u64.to_ne_bytes();
            // SAFETY: an 8-byte write to our eventfd.
            let n = unsafe { libc::write(self.wake.as_raw_fd(), one.as_ptr().cast(), 8) };
            if n != 8 {
                tracing::warn!(qid = self.qid, error = %io::Error::last_os_error(), "waking an io_uring queue failed");
            }
        }
    }

    /// The answered entries not yet handed back (tests).
    #[cfg(test)]
    pub(crate) fn commits_for_test(&self) -> parking_lot::MutexGuard<'_, Vec<(usize, u64)>> {
        self.commits.lock()
    }

    /// The command for entry `slot`: `fuse_uring_cmd_req` in the SQE's
    /// command area and the entry's two iovecs (the kernel wants `len` 2,
    /// which the io-uring crate does not set for this opcode).
    fn command(&self, op: u32, slot: usize, commit_id: u64) -> squeue::Entry128 {
        let mut cmd = [0u8; 80];
        cmd[8..16].copy_from_slice(&commit_id.to_le_bytes());
        cmd[16..18].copy_from_slice(&self.qid.to_le_bytes());
        let sqe = opcode::UringCmd80::new(types::Fd(self.dev.as_raw_fd()), op)
            .cmd(cmd)
            .addr(Some(self.slot(slot).iov.as_ptr() as u64))
            .build()
            .user_data(slot as u64);
        // SAFETY: Entry128 is the plain 128-byte SQE (asserted above);
        // offset 24 is its `len`.
        let mut raw: [u8; 128] = unsafe { std::mem::transmute(sqe) };
        raw[24..28].copy_from_slice(&2u32.to_le_bytes());
        // SAFETY: as above.
        unsafe { std::mem::transmute::<[u8; 128], squeue::Entry128>(raw) }
    }

    /// The read that wakes the ring thread when another thread answers.
    fn wake_read(&self) -> squeue::Entry128 {
        opcode::Read::new(
            types::Fd(self.wake.as_raw_fd()),
            self.wake_buf.get().cast(),
            8,
        )
        .build()
        .user_data(WAKE)
        .into()
    }
}

/// A ring with 128-byte submission entries, as FUSE commands need.
pub(crate) type Ring = IoUring<squeue::Entry128, cqueue::Entry>;

/// The ring for a queue of up to `capacity` entries (and its wake-up
/// read). Made
/// before any queue registers, so that a system where io_uring cannot be
/// set up (a seccomp profile that forbids it, `kernel.io_uring_disabled`,
/// a locked-memory limit) keeps serving over `/dev/fuse`.
pub(crate) fn new_ring(capacity: usize) -> io::Result<Ring> {
    let entries = u32::try_from(capacity + 1)
        .map_err(|_| io::Error::other("too many ring entries"))?
        .next_power_of_two()
        .max(8);
    IoUring::builder().build(entries)
}

/// Pushes `sqe`, submitting first if the ring is full.
fn push(ring: &mut Ring, sqe: &squeue::Entry128) -> io::Result<()> {
    loop {
        // SAFETY: every buffer an SQE points to (entry buffers, iovecs,
        // the wake buffer) lives in the queue, which outlives the ring.
        if unsafe { ring.submission().push(sqe) }.is_ok() {
            return Ok(());
        }
        ring.submit()?;
    }
}

/// Whether a failed entry completion means the connection is gone.
fn connection_ended(res: i32) -> bool {
    [libc::ENOTCONN, libc::ENODEV, libc::ECANCELED].contains(&-res)
}

/// Whether a failed `io_uring_enter` is worth trying again: the kernel was
/// short of memory for a moment, or of room for completions (which
/// reaping them makes).
fn transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAGAIN | libc::EBUSY | libc::ENOMEM)
    )
}

/// How long a queue waits before trying a transient failure again.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_millis(1);

/// Serves `queue` until the connection ends: registers its first
/// `initial` entries, then hands each request to `dispatch` (which answers
/// it through a reply that calls [`Queue::commit`]), commits the answers,
/// and registers more entries when few are left (see the module's doc). A
/// submission the kernel has no memory or room for is tried again; an
/// entry that fails is dropped and the queue goes on with the others;
/// when none is left for another reason than the connection's end, an
/// error says so.
pub(crate) fn serve(
    queue: &Arc<Queue>,
    mut ring: Ring,
    initial: usize,
    mut dispatch: impl FnMut(&Arc<Queue>, usize),
) -> io::Result<()> {
    pin_to_cpu(queue.qid);
    SERVING.with(|s| s.set(Arc::as_ptr(queue) as usize));
    let capacity = queue.slots.len();
    let mut registered = initial.max(1).min(capacity);
    for slot in 0..registered {
        push(&mut ring, &queue.command(CMD_REGISTER, slot, 0))?;
    }
    push(&mut ring, &queue.wake_read())?;
    queue
        .registered
        .store(registered, std::sync::atomic::Ordering::Relaxed);
    // Registered entries neither failed nor ended, and of those the ones
    // holding a request (dispatched, not yet committed).
    let mut live = registered;
    let mut held = 0usize;
    // Entries that failed for another reason than the connection's end,
    // and the last such failure.
    let mut failed = 0;
    let mut last_failure = None;
    let mut ending = false;
    let mut retrying = false;
    let mut done = Vec::with_capacity(registered + 1);
    while live > 0 {
        match ring.submit_and_wait(1) {
            Ok(_) => retrying = false,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) if transient(&e) => {
                if !retrying {
                    tracing::warn!(qid = queue.qid, error = %e, "io_uring submission failed for now; trying again");
                    retrying = true;
                }
                std::thread::sleep(RETRY_AFTER);
                // On to the completions: reaping them is what makes room.
            }
            Err(e) => return Err(e),
        }
        done.extend(ring.completion().map(|c| (c.user_data(), c.result())));
        for (data, res) in done.drain(..) {
            if data == WAKE {
                if res < 0 && -res != libc::EINTR {
                    tracing::warn!(qid = queue.qid, error = %io::Error::from_raw_os_error(-res), "io_uring wake-up read failed");
                }
                push(&mut ring, &queue.wake_read())?;
                continue;
            }
            if res < 0 {
                live -= 1;
                let e = io::Error::from_raw_os_error(-res);
                if connection_ended(res) {
                    tracing::debug!(qid = queue.qid, error = %e, "io_uring entry ended");
                    ending = true;
                } else {
                    tracing::warn!(qid = queue.qid, error = %e, "io_uring entry failed; the queue goes on with fewer");
                    failed += 1;
                    last_failure = Some(e);
                }
                continue;
            }
            held += 1;
            dispatch(queue, data as usize);
        }
        let answered = std::mem::take(&mut *queue.commits.lock());
        for (slot, commit_id) in answered {
            held = held.saturating_sub(1);
            push(
                &mut ring,
                &queue.command(CMD_COMMIT_AND_FETCH, slot, commit_id),
            )?;
        }
        if !ending && registered < capacity && live.saturating_sub(held) <= LOW_ENTRIES {
            let more = GROW_ENTRIES.min(capacity - registered);
            tracing::debug!(
                qid = queue.qid,
                held,
                registered = registered + more,
                "io_uring queue grows"
            );
            for slot in registered..registered + more {
                push(&mut ring, &queue.command(CMD_REGISTER, slot, 0))?;
            }
            registered += more;
            live += more;
            queue
                .registered
                .store(registered, std::sync::atomic::Ordering::Relaxed);
        }
    }
    match last_failure {
        // Not one entry left, and not because the connection ended: the
        // queue is gone while the mount lives, which its owner must hear.
        Some(e) if failed == registered => Err(io::Error::new(
            e.kind(),
            format!("all {registered} entries failed, the last with: {e}"),
        )),
        _ => Ok(()),
    }
}

/// Runs this thread on CPU `cpu`, whose requests its queue gets (best
/// effort: an offline CPU's queue runs anywhere).
fn pin_to_cpu(cpu: u16) {
    // SAFETY: a zeroed cpu_set_t with one bit set, for this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if usize::from(cpu) < 8 * std::mem::size_of::<libc::cpu_set_t>() {
            libc::CPU_SET(usize::from(cpu), &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
}

/// The reply's out-header and payload size, written into an entry's
/// header.
pub(crate) fn finish_header(header: &mut [u8], error: i32, unique: u64, body: usize) {
    header[..abi::OUT_HEADER_LEN].copy_from_slice(&abi::out_header(
        abi::OUT_HEADER_LEN + body,
        error,
        unique,
    ));
    header[abi::PAYLOAD_SZ..abi::PAYLOAD_SZ + 4].copy_from_slice(&(body as u32).to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_of_memory_or_room_submission_is_tried_again_and_others_are_not() {
        for errno in [libc::EAGAIN, libc::EBUSY, libc::ENOMEM] {
            assert!(transient(&io::Error::from_raw_os_error(errno)), "{errno}");
        }
        for errno in [libc::EBADF, libc::EINVAL, libc::EFAULT, libc::EOPNOTSUPP] {
            assert!(!transient(&io::Error::from_raw_os_error(errno)), "{errno}");
        }
        for errno in [libc::ENOTCONN, libc::ENODEV, libc::ECANCELED] {
            assert!(connection_ended(-errno), "{errno}");
        }
        assert!(!connection_ended(-libc::EINVAL));
    }

    /// A queue whose every entry fails while the connection lives (here:
    /// FUSE commands sent to a file that is not /dev/fuse and takes no
    /// commands, so the kernel refuses each REGISTER) ends with an error
    /// that says so, rather than ending quietly as at an unmount: its
    /// CPU's requests would wait unanswered, and the log must say why.
    /// (Not /dev/null: recent kernels complete any command sent to it.)
    #[test]
    fn a_queue_whose_every_entry_fails_ends_with_an_error() {
        let dev: OwnedFd = std::fs::File::open("/proc/version")
            .map(OwnedFd::from)
            .unwrap_or_else(|e| panic!("/proc/version: {e}"));
        let queue = Arc::new(Queue::new(0, 3, Arc::new(dev)).unwrap_or_else(|e| panic!("{e}")));
        let ring = match new_ring(3) {
            Ok(ring) => ring,
            // This test needs io_uring; say so rather than pass.
            Err(e) => panic!("io_uring cannot be set up here: {e}"),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut dispatched = 0;
            let result = serve(&queue, ring, 3, |_, _| dispatched += 1);
            let _ = tx.send((result, dispatched));
        });
        // Were a command accepted, the queue would wait for requests
        // forever: fail instead of hanging the test run.
        let (result, dispatched) = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap_or_else(|_| {
                panic!("the queue still serves: the kernel took a FUSE command on /proc/version")
            });
        let e = result.expect_err("every entry failed");
        assert!(
            e.to_string()
                .starts_with("all 3 entries failed, the last with: "),
            "{e}"
        );
        assert_eq!(dispatched, 0);
    }
}
