//! Giving memory back to the system after the kernel forgets many nodes.
//!
//! When the kernel drops its inodes (memory pressure, `drop_caches`), it
//! sends a FORGET for each, and the core releases their nodes. The freed
//! memory is scattered over the allocator's arenas; glibc keeps it unless
//! asked, so the resident size would stay at its peak for ever. After every
//! [`TRIM_EVERY`] forgotten nodes, the allocator is asked to return free
//! pages (`malloc_trim`, glibc only; elsewhere nothing is done).

use std::sync::atomic::{AtomicU64, Ordering};

/// Forgotten nodes between two trims.
pub(crate) const TRIM_EVERY: u64 = 16 * 1024;

/// Counts forgotten nodes and trims the allocator now and then.
#[derive(Default)]
pub(crate) struct Trim {
    forgotten: AtomicU64,
}

impl Trim {
    /// One node was forgotten.
    pub(crate) fn forgot(&self) {
        if self.forgotten.fetch_add(1, Ordering::Relaxed) % TRIM_EVERY == TRIM_EVERY - 1 {
            trim();
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only inspects and releases the allocator's free
    // memory; it takes the arena locks itself.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
