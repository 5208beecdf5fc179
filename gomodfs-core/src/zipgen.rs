//! Deterministic module zips, generated entry by entry.
//!
//! A module's `.zip` is rebuilt from the store whenever a client asks for it
//! through the GOPROXY endpoint. The bytes depend only on the file names,
//! their contents and the compression level:
//!
//! - entries `<path>@<version>/<file>` in the order given (the store's
//!   bytewise-sorted order), files only: no directory entries (`go`'s
//!   `HashZip` would count them and the `h1:` would differ);
//! - one fixed timestamp (1980-01-01 00:00, the DOS epoch), no extra fields,
//!   no comments, no external attributes, the UTF-8 flag for non-ASCII names;
//! - deflate at a fixed level (or stored, level 0), one entry at a time:
//!   each entry is compressed whole before its local header is written, so
//!   sizes and CRC sit in the local header and no data descriptors are
//!   needed. Memory is bounded by the largest file, never the whole zip.
//!
//! The `h1:` of the result equals the stored `.ziphash` by construction: it
//! hashes names and contents, which are exactly the stored ones.

use crate::error::{Error, Result};
use flate2::Compression;
use flate2::write::DeflateEncoder;
use std::io::Write;

/// 1980-01-01 00:00:00 in MS-DOS date format (time is 0).
const DOS_DATE: u16 = (1 << 5) | 1;
/// Zip's "version needed to extract" for deflate (2.0).
const VERSION_DEFLATE: u16 = 20;
/// ... and for stored entries (1.0).
const VERSION_STORED: u16 = 10;
/// General purpose flag: names are UTF-8.
const FLAG_UTF8: u16 = 1 << 11;

/// Writes a zip one entry at a time: [`ZipEncoder::entry`] returns the bytes
/// of one entry (local header and data), [`ZipEncoder::finish`] the central
/// directory and end records. Concatenated in order, they are the zip.
#[derive(Debug)]
pub struct ZipEncoder {
    level: u32,
    offset: u64,
    count: u64,
    central: Vec<u8>,
}

impl ZipEncoder {
    /// An encoder deflating at `level` (1-9), or storing when `level` is 0.
    pub fn new(level: u32) -> ZipEncoder {
        ZipEncoder {
            level: level.min(9),
            offset: 0,
            count: 0,
            central: Vec::new(),
        }
    }

    /// The bytes of one file entry named `name` with contents `data`.
    pub fn entry(&mut self, name: &str, data: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.entry_into(&mut out, name, data)?;
        Ok(out)
    }

    /// Writes one file entry named `name` with contents `data` to `out`
    /// (no copy of the entry is made: memory is `data` and its deflated
    /// form); returns how many bytes were written.
    pub fn entry_into(&mut self, out: &mut impl Write, name: &str, data: &[u8]) -> Result<u64> {
        let too_large = |what| too_large(name, what);
        let name_len = u16::try_from(name.len()).map_err(|_| too_large("the name"))?;
        let size = u32::try_from(data.len()).map_err(|_| too_large("the size"))?;
        let offset = u32::try_from(self.offset).map_err(|_| too_large("the offset"))?;
        let crc = crc32fast::hash(data);
        let (method, version, compressed) = if self.level == 0 {
            (0u16, VERSION_STORED, None)
        } else {
            // Above deflate's worst case (zlib's deflateBound: about one
            // byte per 4 KiB more than the input), so the buffer never
            // grows by copying; pages it does not fill are never touched.
            let mut enc = DeflateEncoder::new(
                Vec::with_capacity(data.len() + data.len() / 2048 + 64),
                Compression::new(self.level),
            );
            let out = enc
                .write_all(data)
                .and_then(|()| enc.finish())
                .map_err(|source| Error::io(format!("compressing zip entry {name:?}"), source))?;
            (8u16, VERSION_DEFLATE, Some(out))
        };
        let payload: &[u8] = compressed.as_deref().unwrap_or(data);
        let csize = u32::try_from(payload.len()).map_err(|_| too_large("the compressed size"))?;
        let flags = if name.is_ascii() { 0 } else { FLAG_UTF8 };

        let mut head = Vec::with_capacity(30 + name.len());
        put32(&mut head, 0x0403_4b50);
        put16(&mut head, version);
        put16(&mut head, flags);
        put16(&mut head, method);
        put16(&mut head, 0); // time
        put16(&mut head, DOS_DATE);
        put32(&mut head, crc);
        put32(&mut head, csize);
        put32(&mut head, size);
        put16(&mut head, name_len);
        put16(&mut head, 0); // extra
        head.extend_from_slice(name.as_bytes());
        out.write_all(&head)
            .and_then(|()| out.write_all(payload))
            .map_err(|source| Error::io(format!("writing zip entry {name:?}"), source))?;
        let written = (head.len() + payload.len()) as u64;

        let c = &mut self.central;
        put32(c, 0x0201_4b50);
        put16(c, version); // made by: MS-DOS, same version
        put16(c, version);
        put16(c, flags);
        put16(c, method);
        put16(c, 0);
        put16(c, DOS_DATE);
        put32(c, crc);
        put32(c, csize);
        put32(c, size);
        put16(c, name_len);
        put16(c, 0); // extra
        put16(c, 0); // comment
        put16(c, 0); // disk
        put16(c, 0); // internal attributes
        put32(c, 0); // external attributes
        put32(c, offset);
        c.extend_from_slice(name.as_bytes());

        self.offset += written;
        self.count += 1;
        Ok(written)
    }

    /// The central directory and the end records (zip64 end records too
    /// when there are more than 65534 entries).
    pub fn finish(self) -> Result<Vec<u8>> {
        let too_large = |what| too_large("", what);
        let cd_offset = self.offset;
        let cd_size = self.central.len() as u64;
        let mut out = self.central;
        let zip64 = self.count >= 0xFFFF;
        if zip64 {
            let eocd64 = cd_offset + cd_size;
            put32(&mut out, 0x0606_4b50);
            put64(&mut out, 44); // size of the rest of this record
            put16(&mut out, VERSION_DEFLATE.max(45));
            put16(&mut out, 45);
            put32(&mut out, 0);
            put32(&mut out, 0);
            put64(&mut out, self.count);
            put64(&mut out, self.count);
            put64(&mut out, cd_size);
            put64(&mut out, cd_offset);
            // locator
            put32(&mut out, 0x0706_4b50);
            put32(&mut out, 0);
            put64(&mut out, eocd64);
            put32(&mut out, 1);
        }
        let count16 = if zip64 { 0xFFFF } else { self.count as u16 };
        put32(&mut out, 0x0605_4b50);
        put16(&mut out, 0);
        put16(&mut out, 0);
        put16(&mut out, count16);
        put16(&mut out, count16);
        put32(
            &mut out,
            u32::try_from(cd_size).map_err(|_| too_large("the central directory"))?,
        );
        put32(
            &mut out,
            u32::try_from(cd_offset).map_err(|_| too_large("the central directory offset"))?,
        );
        put16(&mut out, 0); // comment
        Ok(out)
    }
}

/// A name or size that does not fit the classic zip format (names over
/// 64 KiB, files or offsets over 4 GiB; module zips are limited to 500 MiB).
fn too_large(name: &str, what: &str) -> Error {
    Error::InvalidArgument(format!(
        "zip entry {name:?}: {what} does not fit in a zip without zip64"
    ))
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn build(level: u32, files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut enc = ZipEncoder::new(level);
        let mut out = Vec::new();
        for (name, data) in files {
            out.extend(enc.entry(name, data).unwrap());
        }
        out.extend(enc.finish().unwrap());
        out
    }

    #[test]
    fn deterministic_and_hash_matches() {
        let files: Vec<(&str, &[u8])> = vec![
            ("example.com/m@v1.0.0/LICENSE", b"no rights\n"),
            ("example.com/m@v1.0.0/a b/naïve.txt", b"caf\xc3\xa9\n"),
            ("example.com/m@v1.0.0/empty", b""),
            ("example.com/m@v1.0.0/go.mod", b"module example.com/m\n"),
        ];
        for level in [0, 1, 6, 9] {
            let a = build(level, &files);
            let b = build(level, &files);
            assert_eq!(a, b, "level {level} not deterministic");
            let want = gomodfs_testkit::h1_hash(files.iter().map(|(n, d)| (*n, *d)));
            assert_eq!(gomodfs_testkit::zip_h1(&a).unwrap(), want, "level {level}");
        }
    }

    #[test]
    fn many_entries_use_zip64_end_records() {
        let names: Vec<String> = (0..70_000)
            .map(|i| format!("m.com/x@v1.0.0/f{i}"))
            .collect();
        let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
        let zip = build(0, &files);
        let want = gomodfs_testkit::h1_hash(files.iter().map(|(n, d)| (*n, *d)));
        assert_eq!(gomodfs_testkit::zip_h1(&zip).unwrap(), want);
    }
}
