//! Whole objects read straight from the store's packs: found through the
//! pack index, inflated in one call into a buffer of the size the entry
//! declares (libdeflate), and checked against the CRC-32 the index keeps
//! of every entry's packed bytes.
//!
//! This is the read path of every file a mount serves. Through gix an
//! object costs a streaming inflate and a SHA-1 of the result; here the
//! inflate is about 1.5x faster and the check is a CRC-32 over the
//! compressed bytes (a fraction of a microsecond), so a first read of a
//! small file costs about half (docs/BENCHMARKS.md, "Objects read straight
//! from the packs"). The check has the reach the SHA-1 had for damage on
//! disk: changed pack bytes, an edited offset (the CRC is stored by id, so
//! another entry's bytes do not match it) or a changed CRC table all fail
//! it; the index itself is checked against its SHA-1 trailer when it is
//! first mapped, unless the store's open hashed it already and its stamp
//! (size, mtime, inode) is unchanged since. Only a forged pack and index
//! pair gets past, which whoever
//! can write the store can make anyway.
//!
//! Anything this path does not answer goes to gix, whose path (with its
//! SHA-1 check and the search for an intact copy, see `integrity`) is
//! unchanged: objects that are loose or deltified (packs git wrote), packs
//! that appeared since the last scan of the pack directory, and every
//! entry that fails a check here.

use super::integrity::{self, FileStamp, IntactIndexes};
use super::pack::{self, IDX_FANOUT, IDX_IDS, be32};
use bytes::Bytes;
use gix_hash::oid;
use parking_lot::Mutex;
use sha1::{Digest, Sha1};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The largest object read here; larger ones (none in a module: Go limits
/// a module zip to 500 MB) go to gix.
const MAX_OBJECT: u64 = 1 << 30;

/// Deflate cannot expand data more than about 1032 times: an entry that
/// declares more than that of what is left of its pack is damaged.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// A scan this soon after the directory's last change may have raced
/// with another change in the same timestamp tick (which leaves the mtime
/// as it was): a miss scans such a directory again.
const MTIME_SLACK: Duration = Duration::from_millis(50);

/// The packs of one store, mapped on first use and rescanned when the pack
/// directory changes.
pub(crate) struct PackReader {
    dir: PathBuf,
    scan: Mutex<Scan>,
    /// The indexes hashed when the store was opened, with their stamps
    /// then: mapped without hashing them again while the stamp holds.
    checked: HashMap<PathBuf, FileStamp>,
}

/// The last scan of the pack directory: what it mapped, and when.
#[derive(Default)]
struct Scan {
    /// The packs mapped.
    packs: Arc<Vec<Arc<MappedPack>>>,
    /// The store's epoch (bumped after packs were merged or replaced) at
    /// the scan.
    epoch: Option<u64>,
    /// The directory's mtime at the scan.
    mtime: Option<SystemTime>,
    /// Whether the scan came at least [`MTIME_SLACK`] after that mtime (or
    /// the mtime lies ahead of the clock): then an unchanged mtime means an
    /// unchanged directory.
    settled: bool,
}

/// A pack and its index, both mapped.
struct MappedPack {
    /// Where the index is.
    idx_path: PathBuf,
    /// The two files' ids when they were mapped (`None`: unknown, never
    /// kept across scans).
    files: Option<FileIds>,
    idx: memmap2::Mmap,
    pack: memmap2::Mmap,
    /// Objects in the index.
    count: usize,
}

impl PackReader {
    /// A reader of the packs in `dir` (`objects/pack`); nothing is mapped
    /// until the first read. `checked`: the indexes whose trailers the
    /// caller hashed already (see `integrity::set_aside_damaged_indexes`).
    pub(crate) fn new(dir: PathBuf, checked: IntactIndexes) -> PackReader {
        PackReader {
            dir,
            scan: Mutex::new(Scan::default()),
            checked: checked.into_iter().collect(),
        }
    }

    /// Object `id`, if a mapped pack holds it whole and intact; `None`
    /// sends the caller to gix. `epoch` is the store's: when it moved since
    /// the last scan, packs were merged or replaced and the directory is
    /// scanned again first.
    pub(crate) fn read(&self, id: &oid, epoch: u64) -> Option<(gix_object::Kind, Bytes)> {
        let packs = self.current(epoch, false);
        if let Some(found) = find_in(&packs, id) {
            return found;
        }
        // Not in the packs seen so far: a pack written since then may hold it.
        let rescanned = self.current(epoch, true);
        if Arc::ptr_eq(&packs, &rescanned) {
            return None;
        }
        find_in(&rescanned, id).flatten()
    }

    /// The packs to read from: the last scan's, or a new scan's when the
    /// epoch moved or (with `on_miss`) the directory changed since.
    fn current(&self, epoch: u64, on_miss: bool) -> Arc<Vec<Arc<MappedPack>>> {
        let mut scan = self.scan.lock();
        if scan.epoch == Some(epoch) && !(on_miss && self.dir_changed(&scan)) {
            return Arc::clone(&scan.packs);
        }
        let mtime = std::fs::metadata(&self.dir).and_then(|m| m.modified()).ok();
        let packs = Arc::new(map_packs(&self.dir, &scan.packs, &self.checked));
        let settled = mtime.is_some_and(|m| {
            SystemTime::now()
                .duration_since(m)
                .map_or(true, |age| age >= MTIME_SLACK)
        });
        *scan = Scan {
            packs: Arc::clone(&packs),
            epoch: Some(epoch),
            mtime,
            settled,
        };
        packs
    }

    /// Whether the pack directory may have changed since `scan`.
    fn dir_changed(&self, scan: &Scan) -> bool {
        let now = std::fs::metadata(&self.dir).and_then(|m| m.modified()).ok();
        !scan.settled || now.is_none() || now != scan.mtime
    }
}

/// Looks `id` up in `packs`: `None` if no pack lists it, `Some(None)` if
/// one does but the entry is not answered here (a delta, or damaged).
fn find_in(packs: &[Arc<MappedPack>], id: &oid) -> Option<Option<(gix_object::Kind, Bytes)>> {
    let mut listed = false;
    for p in packs {
        let Some(i) = p.position(id) else {
            continue;
        };
        listed = true;
        match p.read_entry(i) {
            Ok(found) => return Some(Some(found)),
            Err(why) => tracing::debug!(%id, %why, "left to gix"),
        }
    }
    listed.then_some(None)
}

/// Maps every pack of `dir` whose index is intact; the others are left to
/// gix (and to `integrity`). A pack of `previous` whose two files are still
/// the same (inode numbers) is kept as it is: a cold fetch adds a pack per
/// module, and each scan maps and checks only the new ones. An index in
/// `checked` whose stamp is unchanged is not hashed again.
fn map_packs(
    dir: &Path,
    previous: &[Arc<MappedPack>],
    checked: &HashMap<PathBuf, FileStamp>,
) -> Vec<Arc<MappedPack>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let previous: HashMap<&Path, &Arc<MappedPack>> =
        previous.iter().map(|p| (p.idx_path.as_path(), p)).collect();
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "idx") {
            continue;
        }
        let files = FileIds::of(&path);
        let same = previous
            .get(path.as_path())
            .filter(|kept| files.is_some() && kept.files == files);
        if let Some(&kept) = same {
            out.push(Arc::clone(kept));
            continue;
        }
        let hashed = checked
            .get(&path)
            .is_some_and(|stamp| FileStamp::of(&path).as_ref() == Some(stamp));
        match MappedPack::open(&path, files, hashed) {
            Ok(p) => out.push(Arc::new(p)),
            Err(why) => tracing::debug!(idx = %path.display(), %why, "pack left to gix"),
        }
    }
    out
}

/// The inode numbers of an index and its pack: a file renamed over either
/// changes them.
#[derive(Clone, Copy, PartialEq, Eq)]
struct FileIds {
    idx: (u64, u64),
    pack: (u64, u64),
}

impl FileIds {
    /// The ids of `idx_path` and its pack, `None` if either is missing.
    fn of(idx_path: &Path) -> Option<FileIds> {
        use std::os::unix::fs::MetadataExt;
        let id = |p: &Path| {
            std::fs::symlink_metadata(p)
                .ok()
                .map(|m| (m.dev(), m.ino()))
        };
        Some(FileIds {
            idx: id(idx_path)?,
            pack: id(&idx_path.with_extension("pack"))?,
        })
    }
}

impl MappedPack {
    /// Maps the index at `idx_path` (after checking its trailer, unless
    /// `hashed`: checked already) and its pack.
    fn open(idx_path: &Path, files: Option<FileIds>, hashed: bool) -> Result<MappedPack, String> {
        let idx = map(idx_path)?;
        if idx.get(..8) != Some(pack::IDX_V2_MAGIC.as_slice()) {
            return Err("not a v2 pack index".into());
        }
        let count = be32(&idx, IDX_FANOUT + 255 * 4).ok_or("truncated fan-out table")? as usize;
        // ids, CRCs, offsets, then the two checksums (large offsets between).
        let min_len = count
            .checked_mul(28)
            .and_then(|n| n.checked_add(IDX_IDS + 40))
            .ok_or("object count out of range")?;
        if idx.len() < min_len {
            return Err(format!(
                "{} bytes long, too short for {count} objects",
                idx.len()
            ));
        }
        let (body, trailer) = idx.split_at(idx.len() - 20);
        if !hashed && Sha1::digest(body).as_slice() != trailer {
            return Err("its checksum does not match its contents".into());
        }
        let pack = map(&idx_path.with_extension("pack"))?;
        Ok(MappedPack {
            idx_path: idx_path.to_path_buf(),
            files,
            idx,
            pack,
            count,
        })
    }

    /// The position of `id` in the index.
    fn position(&self, id: &oid) -> Option<usize> {
        let id = id.as_bytes();
        let first = usize::from(*id.first()?);
        let lo = match first {
            0 => 0,
            _ => be32(&self.idx, IDX_FANOUT + (first - 1) * 4)? as usize,
        };
        let hi = (be32(&self.idx, IDX_FANOUT + first * 4)? as usize).min(self.count);
        let (mut lo, mut hi) = (lo.min(hi), hi);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let at = IDX_IDS + mid * 20;
            match self.idx.get(at..at + 20)?.cmp(id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// Reads the entry at index position `i`: a whole object whose packed
    /// bytes match the index's CRC-32.
    fn read_entry(&self, i: usize) -> Result<(gix_object::Kind, Bytes), String> {
        let entry = pack::idx_entry(&self.idx, self.count, i)
            .ok_or("index truncated, or a large offset out of range")?;
        let (crc, offset) = (entry.crc, entry.offset);
        let start = usize::try_from(offset).map_err(|_| "offset out of range")?;
        // The pack ends in its 20-byte checksum.
        let body = self
            .pack
            .len()
            .checked_sub(20)
            .and_then(|end| self.pack.get(..end))
            .ok_or("pack shorter than its checksum")?;
        let (kind, size, data_at) = pack::parse_entry_header(body, start)?;
        let input = body.get(data_at..).ok_or("entry past the end")?;
        let room = (input.len() as u64)
            .saturating_mul(MAX_DEFLATE_RATIO)
            .saturating_add(64);
        if size > MAX_OBJECT.min(room) {
            return Err(format!("entry declares {size} bytes"));
        }
        let mut out = vec![0u8; size as usize];
        let used = inflate::zlib_exact(input, &mut out)?;
        let packed = body
            .get(start..data_at + used)
            .ok_or("entry past the end")?;
        let actual = crc32fast::hash(packed);
        if actual != crc {
            return Err(format!(
                "CRC-32 {actual:08x} of the entry at {offset}, the index says {crc:08x}"
            ));
        }
        Ok((kind, Bytes::from(out)))
    }
}

/// Maps the regular file at `path` read-only.
fn map(path: &Path) -> Result<memmap2::Mmap, String> {
    // Never open a FIFO or device that took a pack's name.
    integrity::regular_file_len(path).map_err(|e| e.to_string())?;
    let file = File::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    #[allow(unsafe_code)]
    // SAFETY: packs and indexes are written to temp files and renamed into
    // place, never changed after (gc and compaction delete whole files,
    // which a mapping outlives). A process that truncated one in place
    // would fault this mapping as it faults gix's own maps of the same files.
    let mapped = unsafe { memmap2::Mmap::map(&file) };
    mapped.map_err(|e| format!("mapping {}: {e}", path.display()))
}

/// One-call zlib inflation into a buffer of the exact size.
mod inflate {
    use super::RefCell;
    use std::ptr::NonNull;

    /// A libdeflate decompressor (its tables), one per thread.
    struct Decompressor(NonNull<libdeflate_sys::libdeflate_decompressor>);

    impl Drop for Decompressor {
        fn drop(&mut self) {
            #[allow(unsafe_code)]
            // SAFETY: allocated by libdeflate_alloc_decompressor, freed once.
            unsafe {
                libdeflate_sys::libdeflate_free_decompressor(self.0.as_ptr())
            };
        }
    }

    thread_local! {
        static DECOMPRESSOR: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
    }

    /// Inflates the zlib stream at the start of `input` into `out`, which
    /// it must fill exactly; returns the stream's length in `input`.
    pub(super) fn zlib_exact(input: &[u8], out: &mut [u8]) -> Result<usize, String> {
        DECOMPRESSOR.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                #[allow(unsafe_code)]
                // SAFETY: no arguments; returns null when out of memory.
                let raw = unsafe { libdeflate_sys::libdeflate_alloc_decompressor() };
                *slot = Some(Decompressor(
                    NonNull::new(raw).ok_or("no memory for a decompressor")?,
                ));
            }
            let d = slot.as_ref().ok_or("no decompressor")?;
            let mut used: usize = 0;
            let mut written: usize = 0;
            #[allow(unsafe_code)]
            // SAFETY: `d` is a live decompressor used by this thread only;
            // the pointers and lengths are those of the two slices, which
            // outlive the call; libdeflate writes at most `out.len()` bytes.
            let result = unsafe {
                libdeflate_sys::libdeflate_zlib_decompress_ex(
                    d.0.as_ptr(),
                    input.as_ptr().cast(),
                    input.len(),
                    out.as_mut_ptr().cast(),
                    out.len(),
                    &mut used,
                    &mut written,
                )
            };
            if result != libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS {
                return Err(format!(
                    "the zlib stream does not inflate (libdeflate {result})"
                ));
            }
            if written != out.len() || used > input.len() {
                return Err(format!(
                    "inflates to {written} bytes, the entry declares {}",
                    out.len()
                ));
            }
            Ok(used)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::git::pack::{Kind, Object, write_pack};

    fn objects() -> Vec<Object> {
        (0..50u32)
            .map(|i| {
                let text = format!("package p{i}\n").repeat(1 + i as usize * 40);
                Object::new(Kind::Blob, Bytes::from(text))
            })
            .collect()
    }

    /// A directory holding one pack of [`objects`].
    fn one_pack() -> (tempfile::TempDir, Vec<Object>, pack::WrittenPack) {
        let dir = tempfile::tempdir().unwrap();
        let objs = objects();
        let refs: Vec<&Object> = objs.iter().collect();
        let written = write_pack(dir.path(), &refs).unwrap();
        (dir, objs, written)
    }

    #[test]
    fn reads_every_object_of_a_pack_it_did_not_see_at_first() {
        let dir = tempfile::tempdir().unwrap();
        let reader = PackReader::new(dir.path().to_path_buf(), Vec::new());
        let objs = objects();
        assert!(reader.read(&objs[0].id, 0).is_none(), "empty directory");
        let refs: Vec<&Object> = objs.iter().collect();
        write_pack(dir.path(), &refs).unwrap();
        for o in &objs {
            let (kind, data) = reader.read(&o.id, 0).expect("found after a rescan");
            assert_eq!(kind, gix_object::Kind::Blob);
            assert_eq!(data, o.data);
        }
        let absent = gix_hash::ObjectId::from_bytes_or_panic(&[7u8; 20]);
        assert!(reader.read(&absent, 0).is_none());
    }

    #[test]
    fn a_rescan_keeps_the_packs_it_mapped_before() {
        let dir = tempfile::tempdir().unwrap();
        let objs = objects();
        let (first, second) = objs.split_at(25);
        write_pack(dir.path(), &first.iter().collect::<Vec<_>>()).unwrap();
        let reader = PackReader::new(dir.path().to_path_buf(), Vec::new());
        assert!(reader.read(&first[0].id, 0).is_some());
        let before = Arc::clone(&reader.scan.lock().packs[0]);
        write_pack(dir.path(), &second.iter().collect::<Vec<_>>()).unwrap();
        assert!(reader.read(&second[0].id, 0).is_some(), "found by a rescan");
        let after = Arc::clone(&reader.scan.lock().packs);
        assert_eq!(after.len(), 2);
        assert!(
            after.iter().any(|p| Arc::ptr_eq(p, &before)),
            "the first pack is not mapped and checked again"
        );
    }

    /// A pack of one entry: a header declaring `declared` bytes, then a
    /// zlib stream of `data`, with the entry's true CRC-32 (so only the
    /// size checks can refuse it).
    fn one_entry(dir: &Path, declared: u64, data: &[u8]) -> gix_hash::ObjectId {
        let id = pack::object_id(Kind::Blob, data);
        let mut entry = Vec::new();
        pack::entry_header(Kind::Blob, declared, &mut entry);
        let mut z = flate2::write::ZlibEncoder::new(entry, flate2::Compression::default());
        std::io::Write::write_all(&mut z, data).unwrap();
        let entry = z.finish().unwrap();
        let mut w = pack::PackWriter::create(dir, 1).unwrap();
        w.add_entry(id, &entry, crc32fast::hash(&entry)).unwrap();
        w.finish().unwrap();
        id
    }

    #[test]
    fn a_declared_size_that_is_wrong_or_absurd_sends_the_read_to_gix() {
        let data = b"package p\n".repeat(100);
        for (declared, why) in [
            (data.len() as u64, "right"),
            (data.len() as u64 + 1, "one byte more than the stream holds"),
            (data.len() as u64 - 1, "one byte less"),
            // Without the bound, a buffer of 1 TiB (the process aborts).
            (1 << 40, "more than deflate can make of what is left"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let id = one_entry(dir.path(), declared, &data);
            let found = PackReader::new(dir.path().to_path_buf(), Vec::new()).read(&id, 0);
            if why == "right" {
                assert_eq!(found.map(|(_, d)| d.len()), Some(data.len()), "{why}");
            } else {
                assert!(found.is_none(), "{why}");
            }
        }
    }

    #[test]
    fn a_changed_byte_sends_the_read_to_gix() {
        let (dir, objs, written) = one_pack();
        let reader = PackReader::new(dir.path().to_path_buf(), Vec::new());
        let target = &objs[20];
        assert!(reader.read(&target.id, 0).is_some());
        // Flip a byte inside the target's compressed data.
        let idx = std::fs::read(&written.idx).unwrap();
        let (entries, _) = pack::parse_idx(&idx).unwrap();
        let at = entries.iter().find(|e| e.id == target.id).unwrap().offset as usize + 12;
        let mut bytes = std::fs::read(&written.pack).unwrap();
        bytes[at] ^= 0x55;
        let tmp = written.pack.with_extension("tmp");
        std::fs::write(&tmp, &bytes).unwrap();
        std::fs::rename(&tmp, &written.pack).unwrap();
        // A new epoch (as after a replacement) maps the changed file.
        assert!(reader.read(&target.id, 1).is_none());
        assert_eq!(reader.read(&objs[3].id, 1).unwrap().1, objs[3].data);
    }

    #[test]
    fn an_edited_offset_fails_the_crc() {
        let (dir, _, written) = one_pack();
        let mut idx = std::fs::read(&written.idx).unwrap();
        let (entries, _) = pack::parse_idx(&idx).unwrap();
        let n = entries.len();
        // Point entry 0 at entry 1's bytes and fix the trailer, as a
        // careless edit of the index would.
        let offsets = IDX_IDS + n * 24;
        let other = idx[offsets + 4..offsets + 8].to_vec();
        idx[offsets..offsets + 4].copy_from_slice(&other);
        let end = idx.len() - 20;
        let sum = Sha1::digest(&idx[..end]);
        idx[end..].copy_from_slice(&sum);
        std::fs::write(&written.idx, &idx).unwrap();
        let reader = PackReader::new(dir.path().to_path_buf(), Vec::new());
        assert!(reader.read(&entries[0].id, 0).is_none());
        assert!(reader.read(&entries[2].id, 0).is_some());
    }

    #[test]
    fn an_index_with_a_bad_trailer_is_not_mapped() {
        let (dir, objs, written) = one_pack();
        let mut idx = std::fs::read(&written.idx).unwrap();
        let last = idx.len() - 1;
        idx[last] ^= 1;
        std::fs::write(&written.idx, &idx).unwrap();
        let reader = PackReader::new(dir.path().to_path_buf(), Vec::new());
        assert!(reader.read(&objs[1].id, 0).is_none());
    }

    #[test]
    fn an_index_hashed_at_open_is_not_hashed_again_unless_it_changed_since() {
        let (dir, objs, written) = one_pack();
        let intact = integrity::set_aside_damaged_indexes(dir.path());
        assert_eq!(intact.len(), 1);
        // A trailer broken behind the reader's back, keeping size, mtime
        // and inode: the stamp holds, so the index is taken as hashed
        // (and its entries still pass their CRC-32s).
        let stamped = std::fs::metadata(&written.idx).unwrap().modified().unwrap();
        let mut idx = std::fs::read(&written.idx).unwrap();
        let last = idx.len() - 1;
        idx[last] ^= 1;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&written.idx, std::fs::Permissions::from_mode(0o644)).unwrap();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&written.idx)
            .unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, &idx, 0).unwrap();
        file.set_modified(stamped).unwrap();
        let reader = PackReader::new(dir.path().to_path_buf(), intact.clone());
        let (_, data) = reader.read(&objs[1].id, 0).unwrap();
        assert_eq!(data, objs[1].data);
        // The same change with a new mtime: hashed, refused.
        file.set_modified(stamped + Duration::from_secs(1)).unwrap();
        let reader = PackReader::new(dir.path().to_path_buf(), intact);
        assert!(reader.read(&objs[1].id, 0).is_none());
    }
}
