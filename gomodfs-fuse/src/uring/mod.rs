//! FUSE over io_uring (Linux 6.14+): requests come from per-CPU ring
//! queues instead of `read(2)` on `/dev/fuse`, and a reply is committed
//! in the same system call that fetches the next request.
//!
//! Why: a request over `/dev/fuse` wakes a server thread that sleeps in
//! `read(2)` on some CPU; on a VM whose idle CPUs are halted that wake-up
//! dominates a round trip (48-51 us here), while a queue served on the
//! requesting CPU answers in about 5 us (`bench/uring_probe.sh`). go reads
//! thousands of small files one after another, so that is most of a fresh
//! mount's cost (docs/BENCHMARKS.md, "FUSE over io_uring").
//!
//! How: fuser mounts and answers INIT (where [`crate::FuseFs`] asks for
//! FUSE_OVER_IO_URING); then one thread per possible CPU registers a queue
//! of entries and serves it, pinned to its CPU. Until every queue is
//! registered, and for FORGET and INTERRUPT always, the kernel keeps
//! sending over `/dev/fuse`, which fuser's session still serves. Requests
//! are decoded here (`dispatch`) and answered by the same handlers
//! (`handlers`) through a reply that writes into the ring entry (`reply`).

mod abi;
mod dispatch;
mod queue;
mod reply;

use crate::FuseFs;
use queue::Queue;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The kernel's switch for FUSE over io_uring (off by default).
pub(crate) const KERNEL_SWITCH: &str = "/sys/module/fuse/parameters/enable_uring";

/// The most `max_write` a mount served over io_uring announces: every
/// entry's payload must hold the largest WRITE (there are none: the mount
/// is read-only) and the largest READ.
pub(crate) const MAX_WRITE: u32 = queue::PAYLOAD_LEN as u32;

/// Turns the kernel's switch on if it is off (needs root). Answers why
/// not when it stays off.
pub(crate) fn enable_in_kernel() -> Result<(), String> {
    turn_on(Path::new(KERNEL_SWITCH))
}

/// Whether FUSE over io_uring can be used without changing anything: the
/// kernel's switch is on and this process may set up io_uring. Answers
/// why not otherwise.
pub(crate) fn usable_as_is() -> Result<(), String> {
    usable(Path::new(KERNEL_SWITCH))?;
    can_set_up()
}

/// Whether the switch file `switch` is on ("Y"); an error where the
/// kernel has no switch.
fn switch_is_on(switch: &Path) -> Result<bool, String> {
    match std::fs::read_to_string(switch) {
        Ok(v) => Ok(v.trim() == "Y"),
        Err(e) => Err(format!(
            "this kernel has no FUSE over io_uring ({}: {e}; it needs Linux 6.14 or later)",
            switch.display()
        )),
    }
}

/// Whether the switch file `switch` is on, without changing it.
fn usable(switch: &Path) -> Result<(), String> {
    if switch_is_on(switch)? {
        return Ok(());
    }
    Err(format!(
        "FUSE over io_uring is off in this kernel (as root: echo Y > {}; \
         or mount with --fuse-io-uring, which turns it on)",
        switch.display()
    ))
}

/// Whether this process may set up an io_uring like the queues' (a
/// container's seccomp profile, `kernel.io_uring_disabled` or a
/// locked-memory limit can forbid it).
pub(crate) fn can_set_up() -> Result<(), String> {
    queue::new_ring(4)
        .map(drop)
        .map_err(|e| format!("io_uring cannot be set up here ({e})"))
}

/// Turns the switch file `switch` on ("Y") if it is off.
fn turn_on(switch: &Path) -> Result<(), String> {
    if switch_is_on(switch)? {
        return Ok(());
    }
    let shown = switch.display();
    match std::fs::write(switch, "Y") {
        Ok(()) => {
            tracing::info!(switch = %shown, "turned FUSE over io_uring on");
            Ok(())
        }
        Err(e) => Err(format!(
            "{shown} is off and cannot be turned on ({e}); as root: echo Y > {shown}"
        )),
    }
}

/// The queue threads of a mount served over io_uring.
pub(crate) struct Rings {
    threads: Vec<JoinHandle<()>>,
    served: Arc<AtomicU64>,
    queues: Vec<Arc<Queue>>,
}

impl Rings {
    /// Requests answered over the rings so far.
    pub(crate) fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Entries registered over all queues so far.
    pub(crate) fn entries(&self) -> usize {
        self.queues.iter().map(|q| q.registered()).sum()
    }

    /// Waits up to `timeout` for the queue threads, which end when the
    /// connection does: at once after an unmount, or when the last user of
    /// a lazily detached mount lets go (then they are left to end alone).
    pub(crate) fn join(self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.threads.iter().any(|t| !t.is_finished()) {
            if Instant::now() >= deadline {
                tracing::warn!(
                    "io_uring queues still serve the detached mount (a process still uses it); \
                     not waiting for them"
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// The kernel's queues: one per possible CPU (`nr_cpu_ids`), each of which
/// must be registered before the kernel uses the rings.
fn queue_count() -> usize {
    let possible = std::fs::read_to_string("/sys/devices/system/cpu/possible").ok();
    possible
        .as_deref()
        .and_then(last_cpu)
        .map(|last| last + 1)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The highest CPU of a kernel CPU list (`0-3,8-11`).
fn last_cpu(list: &str) -> Option<usize> {
    list.trim()
        .split(',')
        .filter_map(|range| range.rsplit('-').next())
        .filter_map(|n| n.trim().parse().ok())
        .max()
}

/// The most entries a queue registers. A request at a time per CPU is
/// the common case, but a request that waits for a download keeps its
/// entry until the download ends (its answer must go into that entry),
/// and while every entry of a queue waits, the requests of its CPU for
/// stored modules wait too: a burst of 100 cold reads held up a stored
/// file for 66 s with 4 entries (`tests/fuse_load.rs`). Each entry's 1 MiB
/// payload is allocated at its first REGISTER and is address space until
/// a request or answer touches it (bigapp's `go mod verify` over 2 queues
/// of 132: 4-6 MB more resident than with 4 each, 270 MB more address
/// space).
pub(crate) const QUEUE_CAPACITY: usize = 132;

/// Entries a queue registers at its start: all of [`QUEUE_CAPACITY`] on
/// up to 4 CPUs, fewer per queue on more CPUs (at least 12), which
/// register more as they are held (see `queue`). Registered up front
/// because the kernel hands a request that found no free entry only to an
/// entry that comes back from a request, not to one registered later, so
/// growing cannot help a request that came in a burst that used them all.
fn initial_entries(queues: usize) -> usize {
    4 + (512 / queues.max(1)).clamp(8, 128)
}

/// Starts serving the connection `dev` (the session's `/dev/fuse`, INIT
/// answered with FUSE_OVER_IO_URING) over io_uring queues with `fs`.
pub(crate) fn start(dev: BorrowedFd<'_>, fs: &FuseFs, initial: Option<usize>) -> io::Result<Rings> {
    let dev = Arc::new(dev.try_clone_to_owned()?);
    let queues = queue_count();
    let initial = initial
        .unwrap_or_else(|| initial_entries(queues))
        .clamp(1, QUEUE_CAPACITY);
    let served = Arc::new(AtomicU64::new(0));
    // Every queue and ring first: the kernel switches to the rings only
    // when all queues have registered, so failing here leaves the mount
    // on /dev/fuse, whole.
    let mut ready = Vec::with_capacity(queues);
    for qid in 0..queues {
        let qid = u16::try_from(qid).map_err(|_| io::Error::other("too many CPUs"))?;
        let queue = Arc::new(Queue::new(qid, QUEUE_CAPACITY, dev.clone())?);
        let ring = queue::new_ring(QUEUE_CAPACITY)?;
        ready.push((qid, queue, ring));
    }
    let mut threads = Vec::with_capacity(queues);
    let all: Vec<Arc<Queue>> = ready.iter().map(|(_, q, _)| q.clone()).collect();
    for (qid, queue, ring) in ready {
        let fs = fs.share();
        let served = served.clone();
        let thread = std::thread::Builder::new()
            .name(format!("gomodfs-uring-{qid}"))
            .spawn(move || {
                let result = queue::serve(&queue, ring, initial, |queue, slot| {
                    served.fetch_add(1, Ordering::Relaxed);
                    dispatch::dispatch(&fs, queue, slot);
                });
                if let Err(e) = result {
                    tracing::error!(qid, error = %e, "io_uring queue stopped; its CPU's requests go unanswered until unmount");
                    // The kernel may still hold entries and write into
                    // their buffers: they must outlive this thread.
                    std::mem::forget(queue);
                }
            })?;
        threads.push(thread);
    }
    tracing::info!(queues, "serving FUSE over io_uring");
    Ok(Rings {
        threads,
        served,
        queues: all,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory named after `test` with a switch file reading
    /// "N": the directory and the switch's path.
    fn switch_that_is_off(test: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("gomodfs-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let switch = dir.join("enable_uring");
        std::fs::write(&switch, "N\n").unwrap_or_else(|e| panic!("{e}"));
        (dir, switch)
    }

    #[test]
    fn the_switch_is_turned_on_or_the_error_says_how() {
        let (dir, switch) = switch_that_is_off("switch");
        assert_eq!(turn_on(&switch), Ok(()));
        assert_eq!(std::fs::read_to_string(&switch).ok().as_deref(), Some("Y"));
        assert_eq!(turn_on(&switch), Ok(()), "already on");
        let missing = turn_on(&dir.join("absent")).expect_err("no switch");
        assert!(missing.contains("Linux 6.14"), "{missing}");
        // A switch that reads as off and cannot be written, even by root.
        let refused = turn_on(Path::new("/proc/version")).expect_err("read-only");
        assert!(refused.contains("cannot be turned on"), "{refused}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_automatic_choice_reads_the_switch_and_never_writes_it() {
        let (dir, switch) = switch_that_is_off("auto");
        let off = usable(&switch).expect_err("the switch is off");
        assert!(off.contains("echo Y >"), "{off}");
        assert_eq!(
            std::fs::read_to_string(&switch).ok().as_deref(),
            Some("N\n"),
            "left as it was"
        );
        std::fs::write(&switch, "Y\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(usable(&switch), Ok(()));
        let missing = usable(&dir.join("absent")).expect_err("no switch");
        assert!(missing.contains("Linux 6.14"), "{missing}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn queues_start_with_room_for_downloads_and_less_on_many_cpus() {
        assert_eq!(initial_entries(1), 132);
        assert_eq!(initial_entries(2), 132);
        assert_eq!(initial_entries(4), 132);
        assert_eq!(initial_entries(16), 36);
        assert_eq!(initial_entries(64), 12);
        assert_eq!(initial_entries(1024), 12);
        assert!(initial_entries(1) <= QUEUE_CAPACITY);
    }

    #[test]
    fn the_last_possible_cpu_is_read_from_the_kernels_list() {
        assert_eq!(last_cpu("0-1\n"), Some(1));
        assert_eq!(last_cpu("0"), Some(0));
        assert_eq!(last_cpu("0-3,8-11"), Some(11));
        assert_eq!(last_cpu(""), None);
    }
}
