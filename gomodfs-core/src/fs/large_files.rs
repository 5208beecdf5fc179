//! Files too large for the blob cache, read in pieces.
//!
//! The blob cache keeps an entry of up to about a quarter of its budget. A
//! larger file read in FUSE-sized pieces (at most 128 KiB each) used to be
//! read from the store and inflated whole again for every piece: reading a
//! 50 MiB file cost 400 inflates of 50 MiB. Such a file is now inflated and
//! checked once, written to an unnamed temporary file next to the store
//! (gone when closed, also when the process is killed), and its pieces are
//! read from there: the kernel's page cache holds the bytes, not this
//! process. The files are bounded by a disk budget and dropped least
//! recently used first.

use crate::store::BlobId;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// At most this many files are kept open, whatever their size.
const MAX_FILES: usize = 64;

/// What a read found.
pub(super) enum Piece {
    /// The piece, read from the file kept for the blob, and the blob's
    /// length.
    Kept(Bytes, u64),
    /// The whole blob, just loaded (the caller slices the piece).
    Loaded(Bytes),
}

/// One blob's slot: filled once by the first reader; later readers of the
/// same blob wait for it instead of loading it again.
type Slot = Arc<Mutex<Option<(Arc<File>, u64)>>>;

struct Entry {
    slot: Slot,
    /// Bytes of its file (0 until filled).
    bytes: u64,
    /// Tick of its last use, for least recently used eviction.
    used: u64,
}

#[derive(Default)]
struct Entries {
    by_id: HashMap<BlobId, Entry>,
    /// Bytes of the files kept.
    bytes: u64,
    clock: u64,
}

impl Entries {
    /// The next tick of the clock, for an entry just used.
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

/// The kept files of large blobs (see the module docs).
pub(super) struct LargeFiles {
    budget: u64,
    entries: Mutex<Entries>,
}

impl LargeFiles {
    /// Keeps up to `budget` bytes of files; 0 keeps none.
    pub(super) fn new(budget: u64) -> LargeFiles {
        LargeFiles {
            budget,
            entries: Mutex::default(),
        }
    }

    /// The piece `offset..offset + size` of blob `id` (`len` bytes long):
    /// read from its kept file, or, the first time, the whole blob from
    /// `load`, which is then written to a file in `dir` (or the system's
    /// temporary directory) for the next pieces. The flag says whether the
    /// piece came from a kept file (the store was spared).
    pub(super) fn read(
        &self,
        id: &BlobId,
        len: u64,
        (offset, size): (u64, u32),
        dir: &Path,
        load: impl FnOnce() -> crate::error::Result<Bytes>,
    ) -> crate::error::Result<(Piece, bool)> {
        if self.budget < len {
            return Ok((Piece::Loaded(load()?), false));
        }
        let slot = self.slot(id);
        let mut filled = slot.lock();
        if let Some((file, kept_len)) = filled.clone() {
            drop(filled);
            match read_piece(&file, offset, size) {
                Ok(piece) => return Ok((Piece::Kept(piece, kept_len), true)),
                Err(e) => {
                    tracing::warn!(blob = ?id, error = %e, "cannot read a kept large file; reading the store");
                    self.remove(id);
                    return Ok((Piece::Loaded(load()?), false));
                }
            }
        }
        let data = match load() {
            Ok(data) => data,
            Err(e) => {
                drop(filled);
                self.remove_if_empty(id);
                return Err(e);
            }
        };
        match write_file(&data, dir) {
            Ok(file) => {
                *filled = Some((Arc::new(file), data.len() as u64));
                drop(filled);
                self.account(id, data.len() as u64);
            }
            Err(e) => {
                // A full or read-only disk: pieces are read from the store.
                tracing::warn!(blob = ?id, error = %e, "cannot keep a large file on disk; its pieces are read from the store");
                drop(filled);
                self.remove_if_empty(id);
            }
        }
        Ok((Piece::Loaded(data), false))
    }

    /// The piece `offset..offset + size` of blob `id` ([`Piece::Kept`]),
    /// if a file is kept for it and readable now: never loads, never waits
    /// for a load under way (`None` then), so it may run where waiting
    /// would hold other work up.
    pub(super) fn read_kept(&self, id: &BlobId, (offset, size): (u64, u32)) -> Option<Piece> {
        let slot = {
            let mut entries = self.entries.lock();
            let now = entries.tick();
            let entry = entries.by_id.get_mut(id)?;
            entry.used = now;
            entry.slot.clone()
        };
        let (file, len) = slot.try_lock()?.clone()?;
        let piece = read_piece(&file, offset, size).ok()?;
        Some(Piece::Kept(piece, len))
    }

    /// The slot of `id`, made if missing; marks it used.
    fn slot(&self, id: &BlobId) -> Slot {
        let mut entries = self.entries.lock();
        let now = entries.tick();
        let entry = entries.by_id.entry(*id).or_insert_with(|| Entry {
            slot: Slot::default(),
            bytes: 0,
            used: now,
        });
        entry.used = now;
        entry.slot.clone()
    }

    /// Counts a filled slot's `bytes` and drops the least recently used
    /// others while over the budget or the file count.
    fn account(&self, id: &BlobId, bytes: u64) {
        let mut entries = self.entries.lock();
        let Some(entry) = entries.by_id.get_mut(id) else {
            return;
        };
        entry.bytes = bytes;
        entries.bytes += bytes;
        while entries.bytes > self.budget || entries.by_id.len() > MAX_FILES {
            let oldest = entries
                .by_id
                .iter()
                .filter(|(k, _)| *k != id)
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| *k);
            let Some(oldest) = oldest else { break };
            if let Some(gone) = entries.by_id.remove(&oldest) {
                entries.bytes -= gone.bytes;
            }
        }
    }

    /// Forgets `id` (its file closes when its last reader is done).
    fn remove(&self, id: &BlobId) {
        let mut entries = self.entries.lock();
        if let Some(gone) = entries.by_id.remove(id) {
            entries.bytes -= gone.bytes;
        }
    }

    /// Forgets `id` if no file was kept for it (a failed load or write).
    fn remove_if_empty(&self, id: &BlobId) {
        let mut entries = self.entries.lock();
        let empty = entries
            .by_id
            .get(id)
            .is_some_and(|e| e.slot.try_lock().is_some_and(|filled| filled.is_none()));
        if empty {
            entries.by_id.remove(id);
        }
    }

    /// How many files are kept and their bytes (for tests).
    #[cfg(test)]
    fn kept(&self) -> (usize, u64) {
        let entries = self.entries.lock();
        let files = entries
            .by_id
            .values()
            .filter(|e| e.slot.try_lock().is_some_and(|f| f.is_some()))
            .count();
        (files, entries.bytes)
    }
}

/// `data` in a new unnamed file in `dir`, or in the system's temporary
/// directory when `dir` refuses one (a read-only store).
fn write_file(data: &[u8], dir: &Path) -> io::Result<File> {
    use std::io::Write;
    let mut file = tempfile::tempfile_in(dir).or_else(|_| tempfile::tempfile())?;
    file.write_all(data)?;
    Ok(file)
}

/// Up to `size` bytes of `file` from `offset` (fewer at its end).
fn read_piece(file: &File, offset: u64, size: u32) -> io::Result<Bytes> {
    let mut buf = vec![0u8; size as usize];
    let mut filled = 0;
    while filled < buf.len() {
        let at = offset + filled as u64;
        let n = read_at(file, &mut buf[filled..], at)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(Bytes::from(buf))
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn blob(n: u8) -> BlobId {
        BlobId::from_slice(&[n; 20]).unwrap()
    }

    fn data(n: usize) -> Bytes {
        Bytes::from((0..n).map(|i| (i % 251) as u8).collect::<Vec<_>>())
    }

    fn bytes_of(piece: Piece) -> Bytes {
        match piece {
            Piece::Kept(b, _) | Piece::Loaded(b) => b,
        }
    }

    #[test]
    fn a_blob_is_loaded_once_and_its_pieces_read_from_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let large = LargeFiles::new(1 << 20);
        let whole = data(300_000);
        let loads = AtomicUsize::new(0);
        let load = || {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(whole.clone())
        };
        let (first, hit) = large
            .read(&blob(1), 300_000, (0, 4096), dir.path(), load)
            .unwrap();
        assert!(!hit);
        assert_eq!(bytes_of(first), whole);
        let mut got = Vec::new();
        for offset in (0..300_000u64).step_by(65_536) {
            let (piece, hit) = large
                .read(&blob(1), 300_000, (offset, 65_536), dir.path(), load)
                .unwrap();
            assert!(hit && matches!(piece, Piece::Kept(_, 300_000)));
            got.extend_from_slice(&bytes_of(piece));
        }
        assert_eq!(got, whole);
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(large.kept(), (1, 300_000));
        // The file is unnamed: nothing is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_least_recently_used_files_go_when_over_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let large = LargeFiles::new(250_000);
        for n in 1..=3 {
            large
                .read(&blob(n), 100_000, (0, 10), dir.path(), || Ok(data(100_000)))
                .unwrap();
            if n == 2 {
                // Blob 1 is used again: blob 2 is now the oldest.
                large
                    .read(&blob(1), 100_000, (0, 10), dir.path(), || unreachable!())
                    .unwrap();
            }
        }
        assert_eq!(large.kept(), (2, 200_000));
        let (_, hit) = large
            .read(&blob(1), 100_000, (5, 10), dir.path(), || Ok(data(100_000)))
            .unwrap();
        assert!(hit, "blob 1 was used last but one and is kept");
        let (_, hit) = large
            .read(&blob(2), 100_000, (5, 10), dir.path(), || Ok(data(100_000)))
            .unwrap();
        assert!(!hit, "blob 2 was the least recently used and is gone");
    }

    #[test]
    fn a_failed_load_keeps_nothing_and_the_next_read_loads_again() {
        let dir = tempfile::tempdir().unwrap();
        let large = LargeFiles::new(1 << 20);
        let err = large.read(&blob(7), 1000, (0, 10), dir.path(), || {
            Err(crate::error::Error::NotFound("x".into()))
        });
        assert!(err.is_err());
        assert_eq!(large.kept(), (0, 0));
        let (piece, hit) = large
            .read(&blob(7), 1000, (10, 5), dir.path(), || Ok(data(1000)))
            .unwrap();
        assert!(!hit);
        assert_eq!(bytes_of(piece).len(), 1000, "the whole blob, just loaded");
    }

    #[test]
    fn a_blob_larger_than_the_budget_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let large = LargeFiles::new(1000);
        for _ in 0..2 {
            let (_, hit) = large
                .read(&blob(3), 2000, (0, 10), dir.path(), || Ok(data(2000)))
                .unwrap();
            assert!(!hit);
        }
        assert_eq!(large.kept(), (0, 0));
    }
}
