//! Giving memory back to the system after the kernel forgets many nodes.
//!
//! When the kernel drops its inodes (memory pressure, `drop_caches`), it
//! sends a FORGET for each, and the core drops their nodes. glibc keeps the
//! freed memory unless asked, so the resident size would stay at its peak.
//! The allocator is asked to return free pages (`malloc_trim`, glibc only;
//! elsewhere nothing is done) every [`TRIM_EVERY`] forgotten nodes, and
//! once more [`TRIM_AFTER`] after a wave of FORGETs ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Forgotten nodes between two trims during a wave of FORGETs.
pub(crate) const TRIM_EVERY: u64 = 16 * 1024;

/// Forgotten nodes that make a wave worth a trim at its end.
const WAVE: u64 = 1024;

/// How long after the start of a wave its final trim runs.
pub(crate) const TRIM_AFTER: Duration = Duration::from_secs(1);

/// Counts forgotten nodes and trims the allocator now and then.
#[derive(Default)]
pub(crate) struct Trim {
    forgotten: AtomicU64,
    /// Forgotten nodes since the last trim.
    since: AtomicU64,
    /// A final trim is scheduled.
    scheduled: AtomicBool,
}

impl Trim {
    /// One node was forgotten.
    pub(crate) fn forgot(self: &Arc<Self>) {
        if self.forgotten.fetch_add(1, Ordering::Relaxed) % TRIM_EVERY == TRIM_EVERY - 1 {
            self.trim();
        }
        if self.since.fetch_add(1, Ordering::Relaxed) >= WAVE
            && !self.scheduled.swap(true, Ordering::AcqRel)
        {
            let me = self.clone();
            let spawned = std::thread::Builder::new()
                .name("gomodfs-trim".into())
                .stack_size(256 << 10)
                .spawn(move || {
                    std::thread::sleep(TRIM_AFTER);
                    me.scheduled.store(false, Ordering::Release);
                    me.trim();
                });
            if let Err(e) = spawned {
                tracing::debug!(error = %e, "starting the trim thread");
                self.scheduled.store(false, Ordering::Release);
            }
        }
    }

    fn trim(&self) {
        self.since.store(0, Ordering::Relaxed);
        malloc_trim();
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn malloc_trim() {
    // SAFETY: malloc_trim only inspects and releases the allocator's free
    // memory; it takes the arena locks itself.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn malloc_trim() {}
