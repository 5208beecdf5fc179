//! Putting a module straight from its validated zip on disk
//! ([`GitStore::put_module_zip`](super::GitStore)), with memory bounded
//! whatever the module's size.
//!
//! Two passes over the zip, one entry at a time in small chunks:
//!
//! 1. **Plan**: each file is inflated once to compute its git blob id
//!    (the `blob <size>\0` header takes the size the validation checked)
//!    and the Adler-32 of its contents. The trees, index and root are built
//!    from the ids, as for an in-memory put.
//! 2. **Write**: the blobs the store lacks go into one pack. A deflated
//!    entry's raw deflate stream is copied as is, between a zlib header and
//!    the Adler-32 trailer: a pack entry is a zlib stream, and a zip entry
//!    a raw deflate one, so nothing is compressed again. An entry whose
//!    deflate stream does not end exactly at its compressed size (trailing
//!    bytes git would trip over), and every stored entry, is compressed
//!    anew.

use super::pack::{self, Kind, Object, PackWriter, WrittenPack};
use crate::error::Result;
use crate::modzip::{Method, ModuleZip, ZipFileEntry};
use flate2::write::ZlibEncoder;
use flate2::{Compression, Decompress, FlushDecompress, Status};
use gix_hash::ObjectId;
use sha1::{Digest, Sha1};
use std::io::{self, Read};
use std::path::Path;

/// Bytes read or inflated per step.
const CHUNK: usize = 256 << 10;

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
/// order, and how each is to be written.
pub(crate) fn plan(zip: &ModuleZip) -> Result<Vec<ZipBlob>> {
    let mut out = Vec::with_capacity(zip.files().len());
    let mut input = vec![0u8; CHUNK];
    let mut output = vec![0u8; CHUNK];
    for (i, file) in zip.files().iter().enumerate() {
        let reused = match file.method {
            Method::Deflated => zip.read_raw(file, |raw| {
                hash_deflated(raw, file, &mut input, &mut output)
            })?,
            Method::Stored => None,
        };
        let blob = match reused {
            Some((id, adler)) => ZipBlob {
                id,
                file: i,
                reuse: Some(adler),
            },
            None => ZipBlob {
                id: zip.read_contents(file, |r| hash_contents(r, file.size, &mut input))?,
                file: i,
                reuse: None,
            },
        };
        out.push(blob);
    }
    Ok(out)
}

/// A hasher for the git blob id of `size` bytes.
fn blob_hasher(size: u64) -> Sha1 {
    let mut h = Sha1::new();
    h.update(format!("blob {size}\0").as_bytes());
    h
}

/// The blob id of the `size` bytes `r` yields.
fn hash_contents(r: &mut dyn Read, size: u64, buf: &mut [u8]) -> io::Result<ObjectId> {
    let mut h = blob_hasher(size);
    let mut got = 0u64;
    loop {
        let n = r.read(buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        got += n as u64;
    }
    if got != size {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("read {got} bytes, expected {size}"),
        ));
    }
    Ok(ObjectId::from_bytes_or_panic(h.finalize().as_slice()))
}

/// Inflates the raw deflate stream `raw` of `file`: its blob id and
/// Adler-32, or `None` unless the stream ends exactly at the entry's
/// compressed size with exactly its size (then the entry is read again
/// through the zip reader and compressed anew).
fn hash_deflated(
    raw: &mut dyn Read,
    file: &ZipFileEntry,
    input: &mut [u8],
    output: &mut [u8],
) -> io::Result<Option<(ObjectId, u32)>> {
    let mut z = Decompress::new(false);
    let mut h = blob_hasher(file.size);
    let mut adler = Adler32::default();
    let (mut start, mut end) = (0, 0);
    let mut eof = false;
    loop {
        if start == end && !eof {
            end = raw.read(input)?;
            start = 0;
            eof = end == 0;
        }
        let (before_in, before_out) = (z.total_in(), z.total_out());
        let flush = if eof {
            FlushDecompress::Finish
        } else {
            FlushDecompress::None
        };
        let status = match z.decompress(&input[start..end], output, flush) {
            Ok(s) => s,
            Err(_) => return Ok(None),
        };
        let used = (z.total_in() - before_in) as usize;
        let made = (z.total_out() - before_out) as usize;
        start += used;
        h.update(&output[..made]);
        adler.update(&output[..made]);
        if z.total_out() > file.size {
            return Ok(None);
        }
        match status {
            Status::StreamEnd => break,
            _ if used == 0 && made == 0 && (eof || start < end) => return Ok(None),
            _ => {}
        }
    }
    // Nothing may follow the end of the stream.
    let trailing = start < end || raw.read(&mut input[..1])? != 0;
    if trailing || z.total_in() != file.compressed_size || z.total_out() != file.size {
        return Ok(None);
    }
    Ok(Some((
        ObjectId::from_bytes_or_panic(h.finalize().as_slice()),
        adler.finish(),
    )))
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

/// Adler-32, as zlib computes it for its trailer.
struct Adler32 {
    a: u32,
    b: u32,
}

impl Default for Adler32 {
    fn default() -> Self {
        Adler32 { a: 1, b: 0 }
    }
}

impl Adler32 {
    const MOD: u32 = 65521;
    /// Bytes that can be summed before `b` could overflow.
    const NMAX: usize = 5552;

    fn update(&mut self, data: &[u8]) {
        for chunk in data.chunks(Self::NMAX) {
            for &byte in chunk {
                self.a += u32::from(byte);
                self.b += self.a;
            }
            self.a %= Self::MOD;
            self.b %= Self::MOD;
        }
    }

    fn finish(&self) -> u32 {
        (self.b << 16) | self.a
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Adler32;

    #[test]
    fn adler32_matches_zlib() {
        // zlib.adler32(b"Wikipedia") == 0x11E60398
        let mut a = Adler32::default();
        a.update(b"Wikipedia");
        assert_eq!(a.finish(), 0x11E6_0398);
        // Long input split unevenly: the same as in one go.
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let mut one = Adler32::default();
        one.update(&data);
        let mut parts = Adler32::default();
        for part in data.chunks(777) {
            parts.update(part);
        }
        assert_eq!(one.finish(), parts.finish());
        // The trailer of a zlib stream of the same data.
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut z, &data).unwrap();
        let stream = z.finish().unwrap();
        assert_eq!(stream[stream.len() - 4..], one.finish().to_be_bytes());
    }
}
