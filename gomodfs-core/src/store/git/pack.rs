//! Git objects, packs (v2, no deltas) and pack indexes (v2), written by hand.
//!
//! Pack: `PACK`, version 2, object count (all big-endian u32), then per
//! object a type/size header (type in bits 4-6 of the first byte, size in 4
//! bits then 7 bits per byte, little-endian groups, MSB = more) followed by
//! the zlib-deflated object, and finally the SHA-1 of everything before.
//!
//! Index: `\xfftOc`, version 2, 256 cumulative fan-out counts, the sorted
//! object ids, the CRC-32 of each object's packed bytes (header and deflated
//! data), 4-byte offsets (MSB set: index into the following table of 8-byte
//! offsets, used for offsets of 2^31 and above), the pack checksum, and the
//! SHA-1 of everything before.

use super::layout::{self, TempFile};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::ZlibEncoder;
use gix_hash::ObjectId;
use sha1::{Digest, Sha1};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The two object kinds this store writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A directory listing.
    Tree,
    /// File contents.
    Blob,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Tree => "tree",
            Kind::Blob => "blob",
        }
    }

    /// The type number in a pack entry header.
    fn pack_type(self) -> u8 {
        match self {
            Kind::Tree => 2,
            Kind::Blob => 3,
        }
    }
}

/// An object to write: kind, contents and id.
#[derive(Debug, Clone)]
pub(crate) struct Object {
    /// Blob or tree.
    pub(crate) kind: Kind,
    /// The object's contents (without the `<kind> <size>\0` header).
    pub(crate) data: Bytes,
    /// SHA-1 of header and contents.
    pub(crate) id: ObjectId,
}

impl Object {
    /// Hashes `data` as an object of `kind`.
    pub(crate) fn new(kind: Kind, data: Bytes) -> Self {
        let id = object_id(kind, &data);
        Object { kind, data, id }
    }
}

/// The git object id of `data` as an object of `kind`.
pub(crate) fn object_id(kind: Kind, data: &[u8]) -> ObjectId {
    object_id_of_type(kind.name().as_bytes(), data)
}

/// The git object id of `data` as an object whose type is named `kind`
/// (`blob`, `tree`, ...): SHA-1 of the header `<kind> <size>\0` and data.
pub(crate) fn object_id_of_type(kind: &[u8], data: &[u8]) -> ObjectId {
    let mut h = Sha1::new();
    h.update(kind);
    h.update(b" ");
    h.update(data.len().to_string().as_bytes());
    h.update([0u8]);
    h.update(data);
    ObjectId::from_bytes_or_panic(h.finalize().as_slice())
}

/// One entry of a tree to encode.
#[derive(Debug, Clone)]
pub(crate) struct TreeEntry {
    /// The entry's name (no `/`).
    pub(crate) name: String,
    /// True for a subdirectory (mode 40000), false for a file (mode 100644).
    pub(crate) is_dir: bool,
    /// The object the entry names.
    pub(crate) id: ObjectId,
}

/// Encodes a tree, sorting the entries as git requires: by name bytes, with
/// a directory's name compared as if it ended in `/`.
pub(crate) fn encode_tree(entries: &mut [TreeEntry]) -> Vec<u8> {
    entries.sort_by(|a, b| {
        let ka = a.name.bytes().chain(a.is_dir.then_some(b'/'));
        let kb = b.name.bytes().chain(b.is_dir.then_some(b'/'));
        ka.cmp(kb)
    });
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.name.len() + 28).sum());
    for e in entries.iter() {
        out.extend_from_slice(if e.is_dir { b"40000 " } else { b"100644 " });
        out.extend_from_slice(e.name.as_bytes());
        out.push(0);
        out.extend_from_slice(e.id.as_bytes());
    }
    out
}

/// Parses a tree into `(name, is_dir, id)` entries; `None` if malformed.
pub(crate) fn parse_tree(mut data: &[u8]) -> Option<Vec<(&[u8], bool, ObjectId)>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let sp = data.iter().position(|&b| b == b' ')?;
        let mode = &data[..sp];
        let rest = &data[sp + 1..];
        let nul = rest.iter().position(|&b| b == 0)?;
        let name = &rest[..nul];
        let id = rest.get(nul + 1..nul + 21)?;
        out.push((name, mode == b"40000", ObjectId::try_from(id).ok()?));
        data = &rest[nul + 21..];
    }
    Some(out)
}

/// Runs `f` over `items` on up to `threads` threads, keeping the order of
/// results. Items are handed out one by one, so one huge item does not hold
/// up the rest.
pub(crate) fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = threads.min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut parts: Vec<Vec<(usize, R)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut all: Vec<(usize, R)> = parts.iter_mut().flat_map(std::mem::take).collect();
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// How many threads to use for hashing and compression.
pub(crate) fn worker_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
}

/// The pack entry header of an object of `kind` and `size` bytes.
pub(crate) fn entry_header(kind: Kind, size: u64, out: &mut Vec<u8>) {
    let mut size = size;
    let mut b = (kind.pack_type() << 4) | (size & 0x0f) as u8;
    size >>= 4;
    while size != 0 {
        out.push(b | 0x80);
        b = (size & 0x7f) as u8;
        size >>= 7;
    }
    out.push(b);
}

/// An object's complete pack entry: header and deflated contents.
fn pack_entry(obj: &Object) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(obj.data.len() / 2 + 16);
    entry_header(obj.kind, obj.data.len() as u64, &mut out);
    let mut z = ZlibEncoder::new(out, Compression::default());
    z.write_all(&obj.data)?;
    z.finish()
}

/// A writer that hashes and counts what passes through.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha1,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A writer that computes the CRC-32 of what passes through.
struct CrcWriter<'a, W> {
    inner: &'a mut W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for CrcWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A pack that was written and moved into place.
#[derive(Debug, Clone)]
pub(crate) struct WrittenPack {
    /// `objects/pack/pack-<checksum>.pack`.
    pub(crate) pack: PathBuf,
    /// `objects/pack/pack-<checksum>.idx`.
    pub(crate) idx: PathBuf,
    /// Number of objects in it.
    pub(crate) objects: usize,
}

/// Objects compressed per round: bounds the memory held in compressed form.
const BATCH_BYTES: usize = 32 << 20;

/// Writes `objects` (unique ids, in the order given) as one pack with its
/// index into `pack_dir`, durably (see [`PackWriter::finish`]). Nothing is
/// left behind on error.
#[cfg(test)]
pub(crate) fn write_pack(pack_dir: &Path, objects: &[&Object]) -> io::Result<WrittenPack> {
    write_pack_with(pack_dir, objects, false)
}

/// [`write_pack`]; with `replace`, a pack of the same name that already
/// exists is replaced (its files may be damaged) rather than kept.
pub(crate) fn write_pack_with(
    pack_dir: &Path,
    objects: &[&Object],
    replace: bool,
) -> io::Result<WrittenPack> {
    let mut w = PackWriter::create(pack_dir, objects.len())?;
    w.replace = replace;
    w.add_objects(objects)?;
    w.finish()
}

impl PackWriter {
    /// Compresses and appends `objects`, in batches of about
    /// [`BATCH_BYTES`] compressed on [`worker_threads`] threads.
    pub(crate) fn add_objects(&mut self, objects: &[&Object]) -> io::Result<()> {
        let threads = worker_threads();
        let mut start = 0;
        while start < objects.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < objects.len() && (end == start || bytes < BATCH_BYTES) {
                bytes += objects[end].data.len();
                end += 1;
            }
            let batch = &objects[start..end];
            let packed = par_map(batch, threads, |o| pack_entry(o));
            for (obj, entry) in batch.iter().zip(packed) {
                let entry = entry?;
                self.add_entry(obj.id, &entry, crc32fast::hash(&entry))?;
            }
            start = end;
        }
        Ok(())
    }
}

/// Compresses `obj` into a complete pack entry and returns it with its CRC-32.
pub(crate) fn packed_entry(obj: &Object) -> io::Result<(Vec<u8>, u32)> {
    let entry = pack_entry(obj)?;
    let crc = crc32fast::hash(&entry);
    Ok((entry, crc))
}

/// A pack being written to a temp file in `objects/pack`.
pub(crate) struct PackWriter {
    dir: PathBuf,
    tmp: TempFile,
    w: HashingWriter<BufWriter<std::fs::File>>,
    /// (id, offset, crc32) per entry written.
    entries: Vec<(ObjectId, u64, u32)>,
    count: usize,
    /// Replace a pack of the same name instead of keeping it.
    replace: bool,
}

impl PackWriter {
    /// Starts a pack of exactly `count` objects in `pack_dir`.
    pub(crate) fn create(pack_dir: &Path, count: usize) -> io::Result<PackWriter> {
        let n = u32::try_from(count).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "too many objects for one pack")
        })?;
        let (tmp, file) = TempFile::create(pack_dir, layout::TMP_PACK_PREFIX)?;
        let mut w = HashingWriter {
            inner: BufWriter::with_capacity(1 << 20, file),
            hasher: Sha1::new(),
            written: 0,
        };
        w.write_all(b"PACK")?;
        w.write_all(&2u32.to_be_bytes())?;
        w.write_all(&n.to_be_bytes())?;
        Ok(PackWriter {
            dir: pack_dir.to_owned(),
            tmp,
            w,
            entries: Vec::with_capacity(count),
            count,
            replace: false,
        })
    }

    /// Appends a complete pack entry (header and deflated data, no delta)
    /// of object `id`, whose CRC-32 is `crc`.
    pub(crate) fn add_entry(&mut self, id: ObjectId, entry: &[u8], crc: u32) -> io::Result<()> {
        if self.entries.len() == self.count {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "more objects than announced",
            ));
        }
        self.entries.push((id, self.w.written, crc));
        self.w.write_all(entry)
    }

    /// With `replace`, [`PackWriter::finish`] replaces a pack of the same
    /// name (its files may be damaged) rather than keeping it.
    pub(crate) fn set_replace(&mut self, replace: bool) {
        self.replace = replace;
    }

    /// Appends the pack entry of object `id` that `write` writes (header
    /// and zlib stream, no delta), computing its CRC-32 on the way.
    pub(crate) fn add_streamed(
        &mut self,
        id: ObjectId,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        if self.entries.len() == self.count {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "more objects than announced",
            ));
        }
        let offset = self.w.written;
        let mut out = CrcWriter {
            inner: &mut self.w,
            crc: crc32fast::Hasher::new(),
        };
        write(&mut out)?;
        let crc = out.crc.finalize();
        self.entries.push((id, offset, crc));
        Ok(())
    }

    /// Finishes the pack durably: trailer, fsync, index to a temp file,
    /// fsync, rename the `.pack` into place, then the `.idx` (readers find
    /// packs by their index), then fsync the directory.
    pub(crate) fn finish(self) -> io::Result<WrittenPack> {
        let PackWriter {
            dir,
            tmp: tmp_pack,
            mut w,
            mut entries,
            count,
            replace,
        } = self;
        if entries.len() != count {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "fewer objects than announced",
            ));
        }
        let checksum: [u8; 20] = w.hasher.finalize_reset().into();
        let mut file = w.inner.into_inner().map_err(|e| e.into_error())?;
        file.write_all(&checksum)?;
        let syncing = std::time::Instant::now();
        file.sync_all()?;
        let mut synced = syncing.elapsed();
        drop(file);

        let idx = encode_idx(&mut entries, &checksum);
        let (tmp_idx, mut file) = TempFile::create(&dir, layout::TMP_IDX_PREFIX)?;
        file.write_all(&idx)?;
        let syncing = std::time::Instant::now();
        file.sync_all()?;
        synced += syncing.elapsed();
        drop(file);

        let name = format!("pack-{}", ObjectId::from_bytes_or_panic(&checksum).to_hex());
        let pack_path = dir.join(format!("{name}.pack"));
        let idx_path = dir.join(format!("{name}.idx"));
        // A pack of that name holds exactly these bytes (the name is their
        // checksum), and files only ever appear complete, by rename: if
        // another process wrote the same pack, keep its files (replacing a
        // mapped file fails on Windows) and let the guards delete ours.
        // Unless replacing: the existing files may be damaged copies.
        if replace || !pack_path.exists() {
            tmp_pack.persist(&pack_path)?;
        }
        if replace || !idx_path.exists() {
            tmp_idx.persist(&idx_path)?;
        }
        let syncing = std::time::Instant::now();
        layout::fsync_dir(&dir)?;
        synced += syncing.elapsed();
        tracing::debug!(
            objects = count,
            fsync_ms = synced.as_millis() as u64,
            "pack made durable"
        );
        Ok(WrittenPack {
            pack: pack_path,
            idx: idx_path,
            objects: count,
        })
    }
}

/// One object of a pack index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdxEntry {
    /// The object id.
    pub(crate) id: ObjectId,
    /// Where its entry starts in the pack.
    pub(crate) offset: u64,
    /// CRC-32 of its packed bytes.
    pub(crate) crc: u32,
}

/// The first 8 bytes of a v2 pack index.
pub(crate) const IDX_V2_MAGIC: &[u8; 8] = b"\xfftOc\0\0\0\x02";
/// Where a v2 pack index's fan-out table starts.
pub(crate) const IDX_FANOUT: usize = 8;
/// Where a v2 pack index's sorted object ids start (after the fan-out).
pub(crate) const IDX_IDS: usize = IDX_FANOUT + 256 * 4;

/// A big-endian u32 at `at` of `data`.
pub(crate) fn be32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// One entry of a v2 pack index, as [`idx_entry`] reads it.
pub(crate) struct IdxSlot<'a> {
    /// The object id's bytes.
    pub(crate) id: &'a [u8],
    /// The CRC-32 of the entry's packed bytes.
    pub(crate) crc: u32,
    /// Where the entry starts in the pack.
    pub(crate) offset: u64,
    /// The position in the large-offset table, for offsets of 2 GiB and up.
    pub(crate) large: Option<usize>,
}

/// Entry `i` of the v2 pack index `idx` of `count` objects (ids, then
/// CRC-32s, then 31-bit offsets or positions in the large-offset table
/// after them); `None` where the index is too short.
pub(crate) fn idx_entry(idx: &[u8], count: usize, i: usize) -> Option<IdxSlot<'_>> {
    let ids_at = IDX_IDS;
    let crcs_at = ids_at + count * 20;
    let offs_at = crcs_at + count * 4;
    let large_at = offs_at + count * 4;
    let id = idx.get(ids_at + i * 20..ids_at + i * 20 + 20)?;
    let crc = be32(idx, crcs_at + i * 4)?;
    let off = be32(idx, offs_at + i * 4)?;
    if off & 0x8000_0000 == 0 {
        return Some(IdxSlot {
            id,
            crc,
            offset: u64::from(off),
            large: None,
        });
    }
    let j = (off & 0x7fff_ffff) as usize;
    let raw = idx.get(large_at + j * 8..large_at + j * 8 + 8)?;
    Some(IdxSlot {
        id,
        crc,
        offset: u64::from_be_bytes(raw.try_into().ok()?),
        large: Some(j),
    })
}

/// Parses a v2 pack index: its entries (in id order) and the pack checksum
/// it names; `None` if it is not a well-formed v2 index.
pub(crate) fn parse_idx(idx: &[u8]) -> Option<(Vec<IdxEntry>, [u8; 20])> {
    if idx.get(..8)? != IDX_V2_MAGIC {
        return None;
    }
    let n = be32(idx, IDX_FANOUT + 255 * 4)? as usize;
    let large_at = IDX_IDS + n * 28;
    let mut large_count = 0;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let e = idx_entry(idx, n, i)?;
        if let Some(j) = e.large {
            large_count = large_count.max(j + 1);
        }
        out.push(IdxEntry {
            id: ObjectId::try_from(e.id).ok()?,
            offset: e.offset,
            crc: e.crc,
        });
    }
    let sum_at = large_at + large_count * 8;
    let checksum: [u8; 20] = idx.get(sum_at..sum_at + 20)?.try_into().ok()?;
    if idx.len() != sum_at + 40
        || Sha1::digest(&idx[..sum_at + 20]).as_slice() != &idx[sum_at + 20..]
    {
        return None;
    }
    Some((out, checksum))
}

/// The type number of a pack entry, from its first byte: 1-4 are whole
/// objects, 6 and 7 deltas.
pub(crate) fn entry_type(first_byte: u8) -> u8 {
    (first_byte >> 4) & 7
}

/// The kind, size and data offset of the pack entry that starts at `start`
/// in `body` (the reverse of [`entry_header`]); deltas are refused (the
/// readers here take whole objects only).
pub(crate) fn parse_entry_header(
    body: &[u8],
    start: usize,
) -> Result<(gix_object::Kind, u64, usize), String> {
    let mut at = start;
    let mut byte = *body.get(at).ok_or("offset past the end")?;
    at += 1;
    let kind = match entry_type(byte) {
        1 => gix_object::Kind::Commit,
        2 => gix_object::Kind::Tree,
        3 => gix_object::Kind::Blob,
        4 => gix_object::Kind::Tag,
        6 | 7 => return Err("a delta".into()),
        t => return Err(format!("entry type {t}")),
    };
    let mut size = u64::from(byte & 0x0f);
    let mut shift = 4;
    while byte & 0x80 != 0 {
        if shift > 57 {
            return Err("size field too long".into());
        }
        byte = *body.get(at).ok_or("header past the end")?;
        at += 1;
        size |= u64::from(byte & 0x7f) << shift;
        shift += 7;
    }
    Ok((kind, size, at))
}

/// Encodes a v2 pack index for `entries` (sorted here by id).
fn encode_idx(entries: &mut [(ObjectId, u64, u32)], pack_checksum: &[u8; 20]) -> Vec<u8> {
    entries.sort_unstable_by_key(|e| e.0);
    let n = entries.len();
    let mut out = Vec::with_capacity(8 + 1024 + n * 28 + 40);
    out.extend_from_slice(b"\xfftOc");
    out.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for (id, _, _) in entries.iter() {
        fanout[usize::from(id.as_bytes()[0])] += 1;
    }
    let mut total = 0u32;
    for f in fanout {
        total += f;
        out.extend_from_slice(&total.to_be_bytes());
    }
    for (id, _, _) in entries.iter() {
        out.extend_from_slice(id.as_bytes());
    }
    for (_, _, crc) in entries.iter() {
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut large = Vec::new();
    for (_, offset, _) in entries.iter() {
        if *offset < 0x8000_0000 {
            out.extend_from_slice(&(*offset as u32).to_be_bytes());
        } else {
            let i = large.len() as u32;
            out.extend_from_slice(&(0x8000_0000 | i).to_be_bytes());
            large.push(*offset);
        }
    }
    for offset in large {
        out.extend_from_slice(&offset.to_be_bytes());
    }
    out.extend_from_slice(pack_checksum);
    let idx_checksum: [u8; 20] = Sha1::digest(&out).into();
    out.extend_from_slice(&idx_checksum);
    out
}

/// Writes `obj` as a loose object (`objects/xx/yyyy…`), durably: temp file
/// in `objects/`, fsync, rename, fsync the fan-out directory. Replaces an
/// existing copy (same contents) harmlessly.
pub(crate) fn write_loose(objects_dir: &Path, obj: &Object) -> io::Result<()> {
    let (dir, name) = loose_place(objects_dir, &obj.id);
    layout::create_dir_durable(&dir)?;
    let (tmp, file) = TempFile::create(objects_dir, layout::TMP_OBJ_PREFIX)?;
    let mut z = ZlibEncoder::new(BufWriter::new(file), Compression::default());
    write!(z, "{} {}\0", obj.kind.name(), obj.data.len())?;
    z.write_all(&obj.data)?;
    let file = z.finish()?.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    tmp.persist_in(&dir, &name)?;
    layout::fsync_dir(&dir)
}

/// Where the loose copy of `id` lives: its fan-out directory
/// `objects/xx` and its name there, `yyyy…`.
pub(crate) fn loose_place(objects_dir: &Path, id: &gix_hash::oid) -> (PathBuf, String) {
    let hex = id.to_hex().to_string();
    let (fan, rest) = hex.split_at(2);
    (objects_dir.join(fan), rest.to_owned())
}

/// The object ids in a v2 pack index (tests).
#[cfg(test)]
pub(crate) fn idx_object_ids(idx: &[u8]) -> Option<Vec<ObjectId>> {
    parse_idx(idx).map(|(entries, _)| entries.into_iter().map(|e| e.id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_git() {
        // `git hash-object --stdin </dev/null` and `printf hello | git hash-object --stdin`.
        assert_eq!(
            object_id(Kind::Blob, b"").to_hex().to_string(),
            "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
        );
        assert_eq!(
            object_id(Kind::Blob, b"hello").to_hex().to_string(),
            "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0"
        );
        // The empty tree.
        assert_eq!(
            object_id(Kind::Tree, &encode_tree(&mut []))
                .to_hex()
                .to_string(),
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        );
    }

    #[test]
    fn tree_order_treats_dirs_as_slash_terminated() {
        let id = object_id(Kind::Blob, b"");
        let mut entries: Vec<TreeEntry> =
            [("a.b", false), ("a", true), ("a-", false), ("a0", false)]
                .iter()
                .map(|(n, d)| TreeEntry {
                    name: (*n).into(),
                    is_dir: *d,
                    id,
                })
                .collect();
        let data = encode_tree(&mut entries);
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        // '-' (0x2d) < '.' (0x2e) < '/' (0x2f) < '0' (0x30)
        assert_eq!(names, ["a-", "a.b", "a", "a0"]);
        let parsed = parse_tree(&data).expect("parses");
        assert_eq!(parsed.len(), 4);
        assert_eq!(parsed[2], (&b"a"[..], true, id));
    }

    #[test]
    fn entry_headers_parse_back_and_refuse_deltas() {
        for size in [0u64, 15, 16, 4095, 1 << 20, 1 << 33] {
            let mut v = vec![9u8];
            entry_header(Kind::Tree, size, &mut v);
            assert_eq!(
                parse_entry_header(&v, 1),
                Ok((gix_object::Kind::Tree, size, v.len()))
            );
        }
        // Type blob, size field 2^39 (continuation bytes), then no data.
        let mut body = vec![0xb0u8 | 0x80];
        body.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
        let (kind, size, at) = parse_entry_header(&body, 0).expect("a well-formed header");
        assert_eq!(kind, gix_object::Kind::Blob);
        assert_eq!(size, 1 << 39);
        assert_eq!(at, body.len());
        assert!(
            parse_entry_header(&[0x9f; 12], 0).is_err(),
            "size field too long"
        );
        assert!(parse_entry_header(&[0x60], 0).is_err(), "a delta");
    }

    #[test]
    fn entry_header_sizes() {
        let mut v = Vec::new();
        entry_header(Kind::Blob, 15, &mut v);
        assert_eq!(v, [0x3f]);
        v.clear();
        entry_header(Kind::Blob, 16, &mut v);
        assert_eq!(v, [0xb0, 0x01]);
        v.clear();
        entry_header(Kind::Tree, 1 << 20, &mut v);
        assert_eq!(v, [0xa0, 0x80, 0x80, 0x04]);
    }

    #[test]
    fn large_offsets_use_the_second_table() {
        let a = ObjectId::from_bytes_or_panic(&[1; 20]);
        let b = ObjectId::from_bytes_or_panic(&[2; 20]);
        let mut entries = vec![(b, 0x1_0000_0000, 7), (a, 12, 5)];
        let idx = encode_idx(&mut entries, &[9; 20]);
        assert_eq!(idx.len(), 8 + 1024 + 2 * (20 + 4 + 4) + 8 + 40);
        assert_eq!(idx_object_ids(&idx), Some(vec![a, b]));
        let off = 8 + 1024 + 40 + 8;
        assert_eq!(idx[off..off + 4], 12u32.to_be_bytes());
        assert_eq!(idx[off + 4..off + 8], 0x8000_0000u32.to_be_bytes());
        assert_eq!(idx[off + 8..off + 16], 0x1_0000_0000u64.to_be_bytes());
    }
}
