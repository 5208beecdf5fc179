//! Putting a module straight from its validated zip on disk
//! ([`GitStore::put_module_zip`](super::GitStore)), with memory bounded
//! whatever the module's size.
//!
//! Two passes over the zip, one entry at a time in small chunks:
//!
//! 1. **Plan**: each file's git blob id and the Adler-32 of its contents,
//!    computed by the validation's single inflate ([`ModuleZip::open`]).
//!    The trees, index and root are built from the ids, as for an
//!    in-memory put.
//! 2. **Write**: the blobs the store lacks go into one pack. A deflated
//!    entry's raw deflate stream is copied as is, between a zlib header and
//!    the Adler-32 trailer: a pack entry is a zlib stream, and a zip entry
//!    a raw deflate one, so nothing is compressed again. An entry whose
//!    deflate stream does not end exactly at its compressed size (trailing
//!    bytes git would trip over), and every stored entry, is compressed
//!    anew.

use super::pack::{self, Kind, Object, PackWriter, WrittenPack};
use crate::modzip::ModuleZip;
use flate2::Compression;
use flate2::write::ZlibEncoder;
use gix_hash::ObjectId;
use std::io;
use std::path::Path;

/// A zlib header (deflate, 32 KiB window, no dictionary); the level bits
/// are informational only.
const ZLIB_HEADER: [u8; 2] = [0x78, 0x01];

/// A file blob of a module zip, to be written from the zip.
#[derive(Debug, Clone)]
pub(crate) struct ZipBlob {
    /// The git blob id.
    pub(crate) id: ObjectId,
    /// Which file of the zip ([`ModuleZip::files`] index).
    file: usize,
    /// Adler-32 of the contents; `Some` if the zip's raw deflate stream can
    /// be copied into the pack as is.
    reuse: Option<u32>,
}

impl ZipBlob {
    /// The Adler-32 of the contents if the zip's raw deflate stream is
    /// copied as is.
    #[cfg(test)]
    pub(crate) fn reuse_raw(&self) -> Option<u32> {
        self.reuse
    }
}

/// Pass 1: the blob id of every file of `zip`, in [`ModuleZip::files`]
/// order, and how each is to be written. Nothing is inflated here: the
/// validation computed the ids and Adler-32s in its own pass.
pub(crate) fn plan(zip: &ModuleZip) -> Vec<ZipBlob> {
    zip.files()
        .iter()
        .enumerate()
        .map(|(i, file)| ZipBlob {
            id: file.git_blob(),
            file: i,
            reuse: file.raw_adler32(),
        })
        .collect()
}

/// Pass 2: writes `objects` (in memory) and `blobs` (from `zip`) as one
/// pack into `pack_dir`, durably; nothing is left behind on error.
pub(crate) fn write_pack(
    pack_dir: &Path,
    objects: &[&Object],
    blobs: &[&ZipBlob],
    zip: &ModuleZip,
    replace: bool,
) -> io::Result<WrittenPack> {
    let mut w = PackWriter::create(pack_dir, objects.len() + blobs.len())?;
    w.set_replace(replace);
    w.add_objects(objects)?;
    for blob in blobs {
        let file = zip
            .files()
            .get(blob.file)
            .ok_or_else(|| io::Error::other("internal: blob of no file"))?;
        let mut header = Vec::with_capacity(16);
        pack::entry_header(Kind::Blob, file.size, &mut header);
        w.add_streamed(blob.id, |out| {
            out.write_all(&header)?;
            let copied = match blob.reuse {
                Some(adler) => zip.read_raw(file, |raw| {
                    out.write_all(&ZLIB_HEADER)?;
                    io::copy(raw, out)?;
                    out.write_all(&adler.to_be_bytes())
                }),
                None => zip.read_contents(file, |contents| {
                    let mut z = ZlibEncoder::new(&mut *out, Compression::default());
                    io::copy(contents, &mut z)?;
                    z.finish().map(|_| ())
                }),
            };
            copied.map_err(|e| io::Error::other(e.to_string()))
        })?;
    }
    w.finish()
}
