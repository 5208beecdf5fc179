//! The store-wide lock between puts and gc's deletion of packs.
//!
//! A put checks which of its objects exist and then writes only the
//! missing ones and its ref; should gc delete a pack between the check and
//! the ref, the ref would name objects that are gone. So every put holds
//! `DIR/gomodfs-gc.lock` shared (an OS file lock, released when the process
//! dies) from its check to its ref, and gc holds it exclusive while it
//! re-reads the refs and deletes packs. gc then bumps the number in
//! `DIR/gomodfs-gc.generation`; a put that finds a number other than the
//! one its process last saw first makes the object database forget the
//! deleted packs (a long-running process may still have them mapped, and
//! would otherwise count their objects as present).
//!
//! The lock is `flock(2)` on Unix. Elsewhere (Windows, where a pack that a
//! process has mapped cannot be deleted anyway) it is not taken: do not
//! run gc there while other processes put.

use super::layout;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// The lock file, in the repository.
const LOCK_NAME: &str = "gomodfs-gc.lock";
/// The generation file, in the repository.
const GENERATION_NAME: &str = "gomodfs-gc.generation";

/// A held lock; released when dropped.
pub(crate) struct GcLock(File);

impl GcLock {
    /// Takes the lock shared (puts), waiting while gc holds it.
    pub(crate) fn shared(root: &Path) -> io::Result<GcLock> {
        let file = open(root)?;
        flock(&file, Mode::Shared)?;
        Ok(GcLock(file))
    }

    /// Takes the lock exclusive (gc), waiting for the puts that hold it.
    pub(crate) fn exclusive(root: &Path) -> io::Result<GcLock> {
        let file = open(root)?;
        flock(&file, Mode::Exclusive)?;
        Ok(GcLock(file))
    }
}

impl Drop for GcLock {
    fn drop(&mut self) {
        let _ = flock(&self.0, Mode::Unlock);
    }
}

/// What [`flock`] does.
#[derive(Clone, Copy)]
enum Mode {
    Shared,
    Exclusive,
    Unlock,
}

/// `flock(2)`, retried when a signal interrupts the wait.
#[cfg(unix)]
fn flock(file: &File, mode: Mode) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let op = match mode {
        Mode::Shared => libc::LOCK_SH,
        Mode::Exclusive => libc::LOCK_EX,
        Mode::Unlock => libc::LOCK_UN,
    };
    loop {
        // SAFETY: flock only reads the descriptor number, which `file`
        // keeps open for the duration of the call.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// No lock outside Unix (see the module docs).
#[cfg(not(unix))]
fn flock(_file: &File, _mode: Mode) -> io::Result<()> {
    Ok(())
}

fn open(root: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(root.join(LOCK_NAME))
}

/// The gc generation: how many times gc deleted packs (0 if never).
pub(crate) fn generation(root: &Path) -> u64 {
    std::fs::read_to_string(root.join(GENERATION_NAME))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Bumps the gc generation (under the exclusive lock).
pub(crate) fn bump_generation(root: &Path) -> io::Result<u64> {
    let next = generation(root).wrapping_add(1);
    layout::write_atomic(root, GENERATION_NAME, format!("{next}\n").as_bytes())?;
    Ok(next)
}
