//! Warm files: the contents of the small module files the last processes
//! on a store read whole, kept uncompressed in one file beside the store
//! (`gomodfs-warm.files`, beside the warm list), so that a new process
//! serves them with one positioned read instead of finding and inflating
//! them in the packs.
//!
//! A fresh mount serves every file go reads once (the kernel caches it
//! after), so on a fresh-mount `go build` inflating is most of the
//! server's own work, on the path of go's every read, with both CPUs
//! busy: loading the same contents ahead in a thread only moves that work
//! (docs/BENCHMARKS.md). Kept uncompressed, the work is gone.
//!
//! The file is a cache: content-addressed (an entry is the contents of
//! the object its id names), checked at every read (a CRC-32 of each
//! entry's bytes, and of the index when opened), bounded
//! ([`WARM_FILES_MAX_BYTES`], files up to [`WARM_FILE_MAX`]), written
//! whole to a temporary file and renamed into place. Whatever is wrong
//! with it (missing, truncated, damaged, another format) only means the
//! contents come from the store as without it. `gomodfs gc` removes it
//! with the modules it removes; the next process writes it again.
//!
//! The format, integers little-endian:
//!
//! ```text
//! magic      24 bytes  "gomodfs warm files v1\n" and two zero bytes
//! count      u32       entries in the index
//! index_crc  u32       CRC-32 of the index
//! index      count x { id_len u8, id [u8; 32], offset u64, len u32, crc u32 }
//! data       each entry's bytes at its offset (CRC-32 `crc`)
//! ```

use crate::store::BlobId;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The most bytes of file contents the warm files hold.
pub const WARM_FILES_MAX_BYTES: u64 = 64 << 20;

/// The largest file kept in the warm files: go's sources, `go.mod`s and
/// the like; larger files are few and read in pieces.
pub const WARM_FILE_MAX: u64 = 256 << 10;

const MAGIC: &[u8; 24] = b"gomodfs warm files v1\n\0\0";
const HEADER_LEN: u64 = 24 + 4 + 4;
const ENTRY_LEN: usize = 1 + 32 + 8 + 4 + 4;
/// More entries than a file of [`WARM_FILES_MAX_BYTES`] holds of
/// anything but empty files; a count above it is damage.
const MAX_ENTRIES: u32 = 1 << 20;
/// The most files a process records and a file is written with (64 MiB
/// of 1 KiB files): bounds the record's memory whatever the file sizes.
pub const WARM_FILES_MAX_COUNT: usize = 1 << 16;

/// The warm files of the warm list at `list`: the same name with
/// `.files` added.
pub fn warm_files_path(list: &Path) -> PathBuf {
    let mut name = list.as_os_str().to_owned();
    name.push(".files");
    PathBuf::from(name)
}

/// Where an entry's bytes are, and their CRC-32.
#[derive(Debug, Clone, Copy)]
struct Slot {
    offset: u64,
    len: u32,
    crc: u32,
}

/// An open warm files file: its index in memory, contents read on demand.
pub struct WarmFiles {
    file: File,
    /// The entries in the file's order (the order they were first read).
    order: Vec<(BlobId, u32)>,
    index: HashMap<BlobId, Slot>,
    bytes: u64,
    hits: AtomicU64,
    refused: AtomicU64,
}

impl std::fmt::Debug for WarmFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmFiles")
            .field("entries", &self.order.len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

impl WarmFiles {
    /// Opens the warm files at `path`: `Ok(None)` if there are none, an
    /// `InvalidData` error if the path is not a regular file, or the
    /// header or the index is damaged or points past the file's end.
    pub fn open(path: &Path) -> io::Result<Option<WarmFiles>> {
        // Never open a FIFO or device that took the name (it could block).
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.is_file() => return Err(invalid("not a regular file")),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
        let mut file = File::open(path)?;
        let file_len = file.metadata()?.len();
        let mut header = [0u8; HEADER_LEN as usize];
        file.read_exact(&mut header)
            .map_err(|_| invalid("shorter than its header"))?;
        if &header[..24] != MAGIC {
            return Err(invalid("not gomodfs warm files v1"));
        }
        let count = u32_at(&header, 24);
        let index_crc = u32_at(&header, 28);
        if count > MAX_ENTRIES {
            return Err(invalid(format!("{count} entries")));
        }
        let index_len = count as usize * ENTRY_LEN;
        if HEADER_LEN + index_len as u64 > file_len {
            return Err(invalid("shorter than its index"));
        }
        let mut raw = vec![0u8; index_len];
        file.read_exact(&mut raw)?;
        if crc32fast::hash(&raw) != index_crc {
            return Err(invalid("the index's CRC-32 does not match"));
        }
        let mut order = Vec::with_capacity(count as usize);
        let mut index = HashMap::with_capacity(count as usize);
        let mut bytes = 0u64;
        for e in raw.chunks_exact(ENTRY_LEN) {
            let id_len = usize::from(e[0]);
            let id = (id_len <= 32)
                .then(|| BlobId::from_slice(&e[1..1 + id_len]))
                .flatten()
                .ok_or_else(|| invalid("an id longer than 32 bytes"))?;
            let slot = Slot {
                offset: u64_at(e, 33),
                len: u32_at(e, 41),
                crc: u32_at(e, 45),
            };
            let end = slot.offset.checked_add(u64::from(slot.len));
            if slot.offset < HEADER_LEN + index_len as u64 || end.is_none_or(|end| end > file_len) {
                return Err(invalid("an entry outside the data"));
            }
            if index.insert(id, slot).is_none() {
                order.push((id, slot.len));
                bytes += u64::from(slot.len);
            }
        }
        Ok(Some(WarmFiles {
            file,
            order,
            index,
            bytes,
            hits: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }))
    }

    /// The contents of `id` if held and intact (their CRC-32 matches);
    /// `None` otherwise, and the caller reads the store. Counted in
    /// [`WarmFiles::status`].
    pub fn get(&self, id: &BlobId) -> Option<Bytes> {
        let read = self.read(id)?;
        let counter = if read.is_some() {
            &self.hits
        } else {
            &self.refused
        };
        counter.fetch_add(1, Ordering::Relaxed);
        read
    }

    /// [`WarmFiles::get`] without counting (copying entries to new warm
    /// files): `None` if not held, `Some(None)` if damaged.
    pub(super) fn read(&self, id: &BlobId) -> Option<Option<Bytes>> {
        let slot = *self.index.get(id)?;
        let mut data = vec![0u8; slot.len as usize];
        Some(match read_exact_at(&self.file, &mut data, slot.offset) {
            Ok(()) if crc32fast::hash(&data) == slot.crc => Some(Bytes::from(data)),
            Ok(()) => {
                tracing::debug!(
                    ?id,
                    "warm files: an entry's CRC-32 does not match; reading the store"
                );
                None
            }
            Err(e) => {
                tracing::debug!(?id, error = %e, "warm files: cannot read an entry; reading the store");
                None
            }
        })
    }

    /// The ids held, with their sizes, in the file's order.
    pub fn entries(&self) -> &[(BlobId, u32)] {
        &self.order
    }

    /// What the file holds and what reads found in it so far.
    pub fn status(&self) -> crate::stats::WarmFilesStatus {
        crate::stats::WarmFilesStatus {
            entries: self.order.len() as u64,
            bytes: self.bytes,
            hits: self.hits.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, offset)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// The small files a process read whole, in the order it first read them,
/// up to [`WARM_FILES_MAX_BYTES`] of contents.
#[derive(Default)]
pub(super) struct ReadRecord {
    inner: Mutex<Record>,
    /// Every file read noted, recorded or not (past the budget, too big).
    reads: AtomicU64,
}

#[derive(Default)]
struct Record {
    order: Vec<(BlobId, u32)>,
    seen: HashSet<BlobId>,
    bytes: u64,
}

impl ReadRecord {
    /// Notes that the file with contents `id`, `len` bytes, was read.
    pub(super) fn note(&self, id: &BlobId, len: usize) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let len = len as u64;
        if len > WARM_FILE_MAX {
            return;
        }
        let mut r = self.inner.lock();
        if r.bytes + len > WARM_FILES_MAX_BYTES
            || r.order.len() >= WARM_FILES_MAX_COUNT
            || !r.seen.insert(*id)
        {
            return;
        }
        r.bytes += len;
        r.order.push((*id, len as u32));
    }

    /// The files noted so far, in order.
    pub(super) fn entries(&self) -> Vec<(BlobId, u32)> {
        self.inner.lock().order.clone()
    }

    /// How many files were noted.
    pub(super) fn len(&self) -> usize {
        self.inner.lock().order.len()
    }

    /// How many file reads were noted, the ones not recorded too: while it
    /// grows, files are being read.
    pub(super) fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

/// What the next warm files hold: `first` (this process's reads), then
/// the entries of `old` that are not among them, while the contents stay
/// within `max` bytes and [`WARM_FILES_MAX_COUNT`] files.
pub fn plan(first: &[(BlobId, u32)], old: &[(BlobId, u32)], max: u64) -> Vec<(BlobId, u32)> {
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut out = Vec::new();
    for &(id, len) in first.iter().chain(old) {
        if total + u64::from(len) > max || out.len() >= WARM_FILES_MAX_COUNT {
            break;
        }
        if seen.insert(id) {
            total += u64::from(len);
            out.push((id, len));
        }
    }
    out
}

/// True when `old` holds nine in ten of the files of `plan` already, so
/// writing is not worth it. (A process that read more than the budget
/// holds, a `go mod verify`, records another cut of the same files each
/// time, as go reads them in a different order.)
pub fn mostly_held(plan: &[(BlobId, u32)], old: &[(BlobId, u32)]) -> bool {
    let old: HashSet<&BlobId> = old.iter().map(|(id, _)| id).collect();
    let held = plan.iter().filter(|(id, _)| old.contains(id)).count();
    held * 10 >= plan.len() * 9
}

/// Writes the warm files at `path`: the entries of `plan` whose contents
/// `load` gives (an entry it has none for is left out, as is one whose
/// contents are not the size planned), to a temporary file beside `path`
/// renamed into place. Returns the entries written.
pub fn write(
    path: &Path,
    plan: &[(BlobId, u32)],
    mut load: impl FnMut(&BlobId) -> Option<Bytes>,
) -> io::Result<usize> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-gomodfs-warm-files-")
        .tempfile_in(dir)?;
    let data_start = HEADER_LEN + (plan.len() * ENTRY_LEN) as u64;
    let mut index = Vec::with_capacity(plan.len() * ENTRY_LEN);
    let mut count = 0u32;
    let mut offset = data_start;
    {
        let out = tmp.as_file_mut();
        out.seek(SeekFrom::Start(data_start))?;
        let mut out = io::BufWriter::with_capacity(256 << 10, &mut *out);
        for (id, len) in plan {
            let Some(data) = load(id).filter(|d| d.len() as u64 == u64::from(*len)) else {
                continue;
            };
            out.write_all(&data)?;
            let raw = id.as_bytes();
            index.push(raw.len() as u8);
            let mut padded = [0u8; 32];
            padded[..raw.len()].copy_from_slice(raw);
            index.extend_from_slice(&padded);
            index.extend_from_slice(&offset.to_le_bytes());
            index.extend_from_slice(&len.to_le_bytes());
            index.extend_from_slice(&crc32fast::hash(&data).to_le_bytes());
            offset += u64::from(*len);
            count += 1;
        }
        out.flush()?;
    }
    // Entries left out leave index room unused: the data starts where
    // the planned index would have ended, and offsets are absolute.
    let mut header = Vec::with_capacity(HEADER_LEN as usize);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&count.to_le_bytes());
    header.extend_from_slice(&crc32fast::hash(&index).to_le_bytes());
    let out = tmp.as_file_mut();
    out.seek(SeekFrom::Start(0))?;
    out.write_all(&header)?;
    out.write_all(&index)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(count as usize)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn id(n: u8) -> BlobId {
        BlobId::from_slice(&[n; 20]).unwrap()
    }

    fn contents(n: u8) -> Bytes {
        Bytes::from(vec![n; usize::from(n) * 100])
    }

    fn write_some(path: &Path, ns: &[u8]) -> usize {
        let plan: Vec<_> = ns
            .iter()
            .map(|&n| (id(n), contents(n).len() as u32))
            .collect();
        write(path, &plan, |i| {
            ns.iter().find(|&&n| id(n) == *i).map(|&n| contents(n))
        })
        .unwrap()
    }

    #[test]
    fn what_is_written_reads_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.files");
        assert!(WarmFiles::open(&path).unwrap().is_none());
        assert_eq!(write_some(&path, &[3, 1, 2, 0]), 4);
        let w = WarmFiles::open(&path).unwrap().unwrap();
        let order: Vec<_> = w.entries().iter().map(|(i, _)| *i).collect();
        assert_eq!(order, vec![id(3), id(1), id(2), id(0)]);
        for n in [0, 1, 2, 3] {
            assert_eq!(w.get(&id(n)).unwrap(), contents(n));
        }
        assert!(w.get(&id(9)).is_none());
        let s = w.status();
        assert_eq!((s.entries, s.bytes, s.hits, s.refused), (4, 600, 4, 0));
    }

    #[test]
    fn an_entry_without_contents_or_of_another_size_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.files");
        let plan = vec![(id(1), 100), (id(2), 200), (id(3), 999)];
        let n = write(&path, &plan, |i| {
            (*i != id(2)).then(|| contents(if *i == id(1) { 1 } else { 3 }))
        })
        .unwrap();
        assert_eq!(n, 1);
        let w = WarmFiles::open(&path).unwrap().unwrap();
        assert_eq!(w.entries(), &[(id(1), 100)]);
        assert_eq!(w.get(&id(1)).unwrap(), contents(1));
    }

    #[test]
    fn a_changed_byte_of_contents_is_refused_and_the_rest_still_served() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.files");
        write_some(&path, &[1, 2]);
        let mut raw = std::fs::read(&path).unwrap();
        let last = raw.len() - 1; // in entry 2's contents
        raw[last] ^= 1;
        std::fs::write(&path, &raw).unwrap();
        let w = WarmFiles::open(&path).unwrap().unwrap();
        assert!(w.get(&id(2)).is_none());
        assert_eq!(w.get(&id(1)).unwrap(), contents(1));
        assert_eq!((w.status().hits, w.status().refused), (1, 1));
    }

    #[test]
    fn a_damaged_header_index_or_length_is_an_error_not_a_wrong_answer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.files");
        write_some(&path, &[1, 2]);
        let good = std::fs::read(&path).unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("magic", {
                let mut b = good.clone();
                b[0] ^= 1;
                b
            }),
            ("index byte", {
                let mut b = good.clone();
                b[HEADER_LEN as usize + 40] ^= 1;
                b
            }),
            ("count", {
                let mut b = good.clone();
                b[24] = 3;
                b
            }),
            ("truncated data", good[..good.len() - 1].to_vec()),
            ("truncated header", good[..10].to_vec()),
        ];
        for (what, bytes) in cases {
            std::fs::write(&path, &bytes).unwrap();
            let e = WarmFiles::open(&path).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{what}: {e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_in_their_place_is_refused_without_opening_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.files");
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        let e = WarmFiles::open(&path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    }

    #[test]
    fn the_plan_puts_this_process_first_and_keeps_within_the_budget() {
        let first = vec![(id(1), 10), (id(2), 10)];
        let old = vec![(id(2), 10), (id(3), 10), (id(4), 10)];
        assert_eq!(
            plan(&first, &old, 30),
            vec![(id(1), 10), (id(2), 10), (id(3), 10)]
        );
        assert_eq!(plan(&first, &old, 1000).len(), 4);
        assert!(mostly_held(&plan(&[], &old, 1000), &old));
        assert!(!mostly_held(&plan(&first, &old, 1000), &old));
        let many: Vec<_> = (10..30).map(|n| (id(n), 1)).collect();
        let one_new: Vec<_> = std::iter::once((id(1), 1)).chain(many.clone()).collect();
        assert!(mostly_held(&plan(&one_new, &many, 1000), &many));
    }

    #[test]
    fn the_record_and_the_plan_stop_at_the_count_however_small_the_files() {
        let r = ReadRecord::default();
        let ids: Vec<BlobId> = (0..=WARM_FILES_MAX_COUNT as u32)
            .map(|n| BlobId::from_slice(&n.to_le_bytes()).unwrap())
            .collect();
        for id in &ids {
            r.note(id, 0);
        }
        assert_eq!(r.len(), WARM_FILES_MAX_COUNT);
        let all: Vec<_> = ids.iter().map(|id| (*id, 0)).collect();
        assert_eq!(plan(&all, &all, u64::MAX).len(), WARM_FILES_MAX_COUNT);
    }

    #[test]
    fn the_record_keeps_small_files_once_and_stops_at_the_budget() {
        let r = ReadRecord::default();
        r.note(&id(1), 10);
        r.note(&id(1), 10);
        r.note(&id(2), WARM_FILE_MAX as usize + 1);
        assert_eq!(r.entries(), vec![(id(1), 10)]);
        assert_eq!(r.reads(), 3);
        for n in 0..=255u8 {
            r.note(
                &BlobId::from_slice(&[n, 7]).unwrap(),
                WARM_FILE_MAX as usize,
            );
        }
        let total: u64 = r.entries().iter().map(|(_, l)| u64::from(*l)).sum();
        assert!(total <= WARM_FILES_MAX_BYTES, "{total}");
        assert_eq!(
            r.len(),
            1 + (WARM_FILES_MAX_BYTES / WARM_FILE_MAX) as usize - 1
        );
    }
}
