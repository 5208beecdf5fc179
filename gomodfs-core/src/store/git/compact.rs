//! Merging small packs, so that their number stays small.
//!
//! Every `put_module` adds a pack. gix-odb costs per pack: a lookup that
//! misses probes every index, and each time it notices a new pack on disk it
//! re-registers all indexes one by one, rebuilding its snapshot each time
//! (quadratic in the number of packs: with 2000 packs a put took 220 ms and
//! a miss 14 ms). So packs are merged the way `git repack --geometric=2`
//! does: sorted by size, the smallest packs are rolled up into one until
//! the remaining ones each hold at least twice as much as all smaller ones
//! together. The number of packs stays logarithmic in the store size, and
//! each object is copied a logarithmic number of times.
//!
//! Entries are copied raw (they are whole objects, never deltas, in the
//! packs this store writes; their CRC-32 is checked on the way). Delta
//! entries, found only in packs git wrote (`git gc`), are resolved through
//! gix and stored whole. A source pack found damaged on the way (a CRC
//! mismatch, an entry past its end, an object that does not hash to its
//! id) is left out and left alone, and the others are merged without it,
//! so one damaged pack cannot block compaction.
//!
//! Safety with concurrent readers and writers, in this and other processes:
//! a pack is deleted only after the merged pack holding all of its objects
//! is durable and in place, so every object stays findable all the time
//! (gix refreshes its view of the pack directory when a pack it expected is
//! gone). The `.idx` goes before the `.pack`. One compaction runs at a time
//! (a lock file in the repository); should two run anyway, each deletes
//! only packs whose objects it has copied. Packs with a `.keep`,
//! `.promisor` or `.mtimes` file, and stores with a `multi-pack-index`, are
//! left alone.

use super::layout::{self, STALE_AFTER};
use super::pack::{self, Kind, Object, PackWriter};
use super::{GitStore, OdbHandle, integrity, read_object};
use crate::error::{Error, Result};
use gix_hash::ObjectId;
use gix_object::Exists;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A put that leaves at least this many packs starts a compaction in the
/// background.
pub(crate) const AUTO_COMPACT_PACKS: usize = 16;

/// The geometric factor: a pack stays if it is at least this many times as
/// large as all smaller packs together.
const FACTOR: u64 = 2;

/// The lock file, in the repository root.
const LOCK_NAME: &str = "gomodfs-compact.lock";
#[cfg(test)]
pub(crate) const LOCK_NAME_FOR_TESTS: &str = LOCK_NAME;

/// What [`GitStore::compact`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompactStats {
    /// Packs merged (and deleted); 0 if nothing needed merging or another
    /// compaction was running.
    pub packs_merged: usize,
    /// Objects in the merged pack.
    pub objects: usize,
    /// Loose objects written into a pack of their own (and deleted), before
    /// merging (see the `loose` module).
    pub loose_packed: usize,
}

/// A pack in `objects/pack`.
#[derive(Debug, Clone)]
pub(crate) struct PackFile {
    pub(crate) pack: PathBuf,
    pub(crate) idx: PathBuf,
    pub(crate) size: u64,
}

/// The packs that may be merged: `pack-*.idx` with their `.pack`, without
/// `.keep`, `.promisor` or `.mtimes` files.
pub(crate) fn list_packs(pack_dir: &Path) -> io::Result<Vec<PackFile>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(pack_dir)? {
        let path = entry?.path();
        let is_idx = path.extension().is_some_and(|e| e == "idx")
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("pack-"));
        if !is_idx {
            continue;
        }
        let pack = path.with_extension("pack");
        // Never a FIFO or device (opening one could block).
        let Ok(meta) = fs::symlink_metadata(&pack) else {
            continue;
        };
        if !meta.is_file() || !fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        if ["keep", "promisor", "mtimes"]
            .iter()
            .any(|ext| path.with_extension(ext).exists())
        {
            continue;
        }
        out.push(PackFile {
            pack,
            idx: path,
            size: meta.len(),
        });
    }
    Ok(out)
}

/// The number of pack indexes in `pack_dir`.
pub(crate) fn count_packs(pack_dir: &Path) -> io::Result<usize> {
    let mut n = 0;
    for entry in fs::read_dir(pack_dir)? {
        if entry?.path().extension().is_some_and(|e| e == "idx") {
            n += 1;
        }
    }
    Ok(n)
}

/// How many of the packs (sizes sorted ascending) to roll up, as git's
/// geometric repack decides: the largest packs that form a progression with
/// [`FACTOR`] stay, unless the roll-up of everything below them is big
/// enough to join them.
fn rollup_split(sizes: &[u64]) -> usize {
    if sizes.len() < 2 {
        return 0;
    }
    let mut i = sizes.len() - 1;
    while i > 0 {
        if sizes[i] < FACTOR.saturating_mul(sizes[i - 1]) {
            break;
        }
        i -= 1;
    }
    let mut split = if i == 0 { 0 } else { i + 1 };
    let mut total: u64 = sizes[..split].iter().sum();
    while split < sizes.len() {
        if FACTOR.saturating_mul(total) < sizes[split] {
            break;
        }
        total += sizes[split];
        split += 1;
    }
    split
}

/// Held while compacting; removes the lock file when dropped.
pub(crate) struct CompactLock(PathBuf);

impl CompactLock {
    /// Takes the lock, or `None` if another compaction holds it. A lock
    /// older than [`STALE_AFTER`] belonged to a killed process and is taken
    /// over.
    pub(crate) fn acquire(root: &Path) -> io::Result<Option<CompactLock>> {
        let path = root.join(LOCK_NAME);
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => return Ok(Some(CompactLock(path))),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let stale = fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > STALE_AFTER);
                    if !stale {
                        return Ok(None);
                    }
                    let _ = fs::remove_file(&path);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}

impl Drop for CompactLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Merges packs as described in the [module docs](self).
pub(crate) fn compact(layout: &layout::Layout, odb: &Arc<gix_odb::Store>) -> Result<CompactStats> {
    let pack_dir = &layout.pack;
    let ctx = || format!("compacting packs of {}", layout.root.display());
    let io_err = |e: io::Error| Error::io(ctx(), e);
    if pack_dir.join("multi-pack-index").exists() {
        tracing::debug!(dir = %pack_dir.display(), "multi-pack-index present: not compacting");
        return Ok(CompactStats::default());
    }
    let Some(_lock) = CompactLock::acquire(&layout.root).map_err(io_err)? else {
        tracing::debug!(dir = %pack_dir.display(), "another compaction is running");
        return Ok(CompactStats::default());
    };
    let loose_packed = match super::loose::pack_loose(layout) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(cause = %e, "packing loose objects failed; merging packs anyway");
            0
        }
    };
    let mut packs = list_packs(pack_dir).map_err(io_err)?;
    // A damaged pack is left out (and alone), so it cannot block compaction.
    loop {
        match merge(layout, odb, &mut packs)? {
            Merge::Done(stats) => {
                return Ok(CompactStats {
                    loose_packed,
                    ..stats
                });
            }
            Merge::Damaged(pack, e) => {
                tracing::warn!(
                    pack = %pack.display(),
                    cause = %e,
                    "pack is damaged: leaving it out of compaction"
                );
                packs.retain(|p| p.pack != pack);
            }
        }
    }
}

/// What one attempt of [`merge`] did.
enum Merge {
    /// Merged (or found nothing to merge).
    Done(CompactStats),
    /// This source pack turned out damaged; nothing was merged.
    Damaged(PathBuf, io::Error),
}

/// Merges the smaller of `packs` into one (see [`compact`]).
fn merge(
    layout: &layout::Layout,
    odb: &Arc<gix_odb::Store>,
    packs: &mut [PackFile],
) -> Result<Merge> {
    let pack_dir = &layout.pack;
    let ctx = || format!("compacting packs of {}", layout.root.display());
    let io_err = |e: io::Error| Error::io(ctx(), e);
    packs.sort_by_key(|p| p.size);
    let sizes: Vec<u64> = packs.iter().map(|p| p.size).collect();
    let split = rollup_split(&sizes);
    if split < 2 {
        return Ok(Merge::Done(CompactStats::default()));
    }

    let mut sources = Vec::new();
    let mut seen = HashSet::new();
    let mut count = 0;
    for p in &packs[..split] {
        let data = match integrity::read_regular(&p.idx) {
            Ok(d) => d,
            // Deleted meanwhile (by git, or a compaction whose lock we
            // thought stale): its objects are elsewhere.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                tracing::warn!(idx = %p.idx.display(), cause = %e, "leaving the pack alone");
                continue;
            }
            Err(e) => return Err(io_err(e)),
        };
        let Some((entries, _)) = pack::parse_idx(&data) else {
            tracing::warn!(idx = %p.idx.display(), "not a v2 pack index: leaving the pack alone");
            continue;
        };
        count += entries.iter().filter(|e| seen.insert(e.id)).count();
        sources.push((p, entries));
    }
    if sources.len() < 2 {
        return Ok(Merge::Done(CompactStats::default()));
    }

    let mut writer = PackWriter::create(pack_dir, count).map_err(io_err)?;
    let mut taken = HashSet::with_capacity(count);
    let handle = odb.to_handle_arc();
    for (p, entries) in &mut sources {
        entries.sort_unstable_by_key(|e| e.offset);
        match copy_pack(p, entries, &mut taken, &mut writer, &handle) {
            Ok(()) => {}
            // The writer's temp file goes with it.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
                ) =>
            {
                return Ok(Merge::Damaged(p.pack.clone(), e));
            }
            Err(e) => {
                return Err(Error::io(
                    format!("{}: copying {}", ctx(), p.pack.display()),
                    e,
                ));
            }
        }
    }
    let written = writer.finish().map_err(io_err)?;

    // The merged pack is durable and in place: the sources may go.
    for (p, _) in &sources {
        if p.idx == written.idx {
            continue;
        }
        remove_pack(p);
    }
    layout::fsync_dir(pack_dir).map_err(io_err)?;
    let stats = CompactStats {
        packs_merged: sources.len(),
        objects: count,
        loose_packed: 0,
    };
    tracing::debug!(packs = stats.packs_merged, objects = stats.objects, pack = %written.pack.display(), "merged packs");
    Ok(Merge::Done(stats))
}

/// Deletes a pack whose objects are elsewhere now: its index first (readers
/// find packs by it), then the pack and git's companion files.
pub(crate) fn remove_pack(p: &PackFile) {
    for path in [
        p.idx.clone(),
        p.pack.clone(),
        p.pack.with_extension("rev"),
        p.pack.with_extension("bitmap"),
    ] {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            // A reader holds it open on Windows: duplicates are harmless.
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove a replaced pack")
            }
        }
    }
}

/// [`compact`], then makes the object database notice the deleted packs
/// and retires the pooled handles whose snapshots still map them.
fn compact_and_refresh(
    layout: &layout::Layout,
    odb: &Arc<gix_odb::Store>,
    epoch: &AtomicU64,
) -> Result<CompactStats> {
    let stats = compact(layout, odb)?;
    if stats.packs_merged > 0 || stats.loose_packed > 0 {
        // A miss makes gix re-read the pack directory and drop the packs
        // that are gone.
        odb.to_handle_arc()
            .exists(&ObjectId::null(gix_hash::Kind::Sha1));
        epoch.fetch_add(1, Ordering::AcqRel);
    }
    Ok(stats)
}

/// Copies the entries of one pack (`entries` sorted by offset) that are not
/// `taken` yet into `writer`.
fn copy_pack(
    p: &PackFile,
    entries: &[pack::IdxEntry],
    taken: &mut HashSet<ObjectId>,
    writer: &mut PackWriter,
    handle: &OdbHandle,
) -> io::Result<()> {
    let corrupt = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
    let file = File::open(&p.pack)?;
    let len = file.metadata()?.len();
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut header = [0u8; 12];
    r.read_exact(&mut header)?;
    if &header[..4] != b"PACK" || !matches!(header[4..8], [0, 0, 0, 2] | [0, 0, 0, 3]) {
        return Err(corrupt("not a pack file".into()));
    }
    let data_end = len
        .checked_sub(20)
        .ok_or_else(|| corrupt("pack too short".into()))?;
    let mut pos = 12u64;
    for (i, e) in entries.iter().enumerate() {
        let end = entries.get(i + 1).map_or(data_end, |n| n.offset);
        if e.offset < pos || end <= e.offset || end > data_end {
            return Err(corrupt(format!(
                "bad offset {} of object {}",
                e.offset, e.id
            )));
        }
        io::copy(&mut (&mut r).take(e.offset - pos), &mut io::sink())?;
        let n = usize::try_from(end - e.offset).map_err(|_| corrupt("entry too large".into()))?;
        let mut buf = vec![0u8; n];
        r.read_exact(&mut buf)?;
        pos = end;
        if !taken.insert(e.id) {
            continue;
        }
        match pack::entry_type(buf[0]) {
            1..=4 => {
                if crc32fast::hash(&buf) != e.crc {
                    return Err(corrupt(format!("CRC mismatch for object {}", e.id)));
                }
                writer.add_entry(e.id, &buf, e.crc)?;
            }
            _ => {
                // A delta: let gix resolve it, store the whole object.
                let (kind, data) = read_object(handle, &e.id)
                    .map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why))?
                    .ok_or_else(|| corrupt(format!("object {} cannot be read", e.id)))?;
                let kind = match kind {
                    gix_object::Kind::Blob => Kind::Blob,
                    gix_object::Kind::Tree => Kind::Tree,
                    other => return Err(corrupt(format!("object {} is a {other}", e.id))),
                };
                let obj = Object::new(kind, data);
                if obj.id != e.id {
                    return Err(corrupt(format!("object {} hashes to {}", e.id, obj.id)));
                }
                let (entry, crc) = pack::packed_entry(&obj)?;
                writer.add_entry(e.id, &entry, crc)?;
            }
        }
    }
    Ok(())
}

impl GitStore {
    /// Merges small packs into one, as `git repack --geometric=2` would (see
    /// [pack compaction](super#pack-compaction)); safe while other threads
    /// and processes read and put. [`Store::put_module`](super::Store::put_module)
    /// starts this in the background once there are 16 or more packs, so
    /// calling it is only needed to force a compaction. Returns at once,
    /// merging nothing, if another compaction is running.
    pub fn compact(&self) -> Result<CompactStats> {
        compact_and_refresh(&self.layout, &self.odb, &self.epoch)
    }

    /// Starts a compaction in a background thread if there are many packs
    /// and none is running from this instance.
    pub(crate) fn maybe_compact(&self) {
        match count_packs(&self.layout.pack) {
            Ok(n) if n >= AUTO_COMPACT_PACKS => {}
            Ok(_) => return,
            Err(e) => {
                tracing::debug!(error = %e, "cannot count packs");
                return;
            }
        }
        if self.compacting.swap(true, Ordering::AcqRel) {
            return;
        }
        let layout = self.layout.clone();
        let odb = Arc::clone(&self.odb);
        let epoch = Arc::clone(&self.epoch);
        let running: Arc<AtomicBool> = Arc::clone(&self.compacting);
        let spawned = std::thread::Builder::new()
            .name("gomodfs-compact".into())
            .spawn(move || {
                if let Err(e) = compact_and_refresh(&layout, &odb, &epoch) {
                    tracing::warn!(error = %e, "compacting packs failed");
                }
                running.store(false, Ordering::Release);
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start pack compaction");
            self.compacting.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometric_split() {
        assert_eq!(rollup_split(&[]), 0);
        assert_eq!(rollup_split(&[5]), 0);
        // Already a progression: nothing to do.
        assert_eq!(rollup_split(&[1, 2, 4, 8]), 0);
        // Equal small packs roll up, then join whatever they reach.
        assert_eq!(rollup_split(&[1, 1, 1, 1, 100]), 4);
        assert_eq!(rollup_split(&[1, 1, 1, 1, 5]), 5);
        assert_eq!(rollup_split(&[1, 1, 1, 1]), 4);
        assert_eq!(rollup_split(&[3, 10, 11, 1000]), 3);
    }
}
