//! A tiny hand-written zip writer with full control over every header field.
//!
//! The `zip` crate's writer refuses to write broken archives (duplicate
//! names, lying sizes, ...), which is exactly what hostile-zip tests need.
//! This writer writes what it is told: local file headers, the central
//! directory and the end-of-central-directory record, no data descriptors, no
//! zip64, fixed timestamps, so the output is byte-for-byte deterministic.

use flate2::Compression;
use flate2::write::DeflateEncoder;
use std::io::Write;

/// Compression method "stored" (no compression).
pub const METHOD_STORED: u16 = 0;
/// Compression method "deflate".
pub const METHOD_DEFLATE: u16 = 8;

/// Unix mode of a regular file (`-rw-r--r--`), as put in the external
/// attributes.
pub const MODE_FILE: u32 = 0o100_644;
/// Unix mode of a symbolic link (`lrwxrwxrwx`).
pub const MODE_SYMLINK: u32 = 0o120_777;
/// Unix mode of a directory (`drwxr-xr-x`).
pub const MODE_DIR: u32 = 0o040_755;

/// DOS time of every entry: 03:04:04 (two-second resolution).
const DOS_TIME: u16 = (3 << 11) | (4 << 5) | 2;
/// DOS date of every entry: 2024-01-02.
const DOS_DATE: u16 = ((2024 - 1980) << 9) | (1 << 5) | 2;

/// One entry, exactly as it will be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// The entry name, raw bytes (need not be UTF-8, may contain anything).
    pub name: Vec<u8>,
    /// [`METHOD_STORED`] or [`METHOD_DEFLATE`] (or anything else, for tests).
    pub method: u16,
    /// The bytes written after the local header (already compressed when
    /// `method` is deflate).
    pub data: Vec<u8>,
    /// CRC-32 written into the headers.
    pub crc32: u32,
    /// Uncompressed size written into the headers (may lie).
    pub uncompressed_size: u32,
    /// Unix mode, stored in the high 16 bits of the external attributes with
    /// "version made by" = Unix. `None` writes "made by MS-DOS" and zero
    /// attributes, as Go's `archive/zip` does for `Create`.
    pub unix_mode: Option<u32>,
}

impl RawEntry {
    /// A deflate-compressed entry with honest sizes and CRC and mode
    /// [`MODE_FILE`].
    pub fn deflated(name: impl Into<Vec<u8>>, content: &[u8]) -> RawEntry {
        RawEntry {
            name: name.into(),
            method: METHOD_DEFLATE,
            data: deflate(content),
            crc32: crc32fast::hash(content),
            uncompressed_size: size_u32(content.len()),
            unix_mode: Some(MODE_FILE),
        }
    }

    /// A stored (uncompressed) entry with honest sizes and CRC and mode
    /// [`MODE_FILE`].
    pub fn stored(name: impl Into<Vec<u8>>, content: &[u8]) -> RawEntry {
        RawEntry {
            name: name.into(),
            method: METHOD_STORED,
            data: content.to_vec(),
            crc32: crc32fast::hash(content),
            uncompressed_size: size_u32(content.len()),
            unix_mode: Some(MODE_FILE),
        }
    }

    /// Replaces the unix mode (e.g. [`MODE_SYMLINK`]).
    pub fn with_mode(mut self, mode: Option<u32>) -> RawEntry {
        self.unix_mode = mode;
        self
    }

    /// Replaces the declared uncompressed size (to make it lie).
    pub fn with_declared_size(mut self, size: u32) -> RawEntry {
        self.uncompressed_size = size;
        self
    }

    /// Replaces the declared CRC-32 (to make it lie).
    pub fn with_crc32(mut self, crc: u32) -> RawEntry {
        self.crc32 = crc;
        self
    }
}

/// Deflates `content` (raw deflate, no zlib header), deterministically.
pub fn deflate(content: &[u8]) -> Vec<u8> {
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    match enc.write_all(content).and_then(|()| enc.finish()) {
        Ok(v) => v,
        Err(e) => unreachable!("deflate into a Vec failed: {e}"),
    }
}

fn size_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Writes `entries` in order into one zip archive. Nothing is checked:
/// duplicates, lying sizes and strange names are written as given.
pub fn write_zip(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offsets = Vec::with_capacity(entries.len());
    for e in entries {
        offsets.push(size_u32(out.len()));
        let flags: u16 = if e.name.is_ascii() { 0 } else { 0x0800 };
        put32(&mut out, 0x0403_4b50);
        put16(&mut out, 20); // version needed
        put16(&mut out, flags);
        put16(&mut out, e.method);
        put16(&mut out, DOS_TIME);
        put16(&mut out, DOS_DATE);
        put32(&mut out, e.crc32);
        put32(&mut out, size_u32(e.data.len()));
        put32(&mut out, e.uncompressed_size);
        put16(&mut out, u16::try_from(e.name.len()).unwrap_or(u16::MAX));
        put16(&mut out, 0); // extra length
        out.extend_from_slice(&e.name);
        out.extend_from_slice(&e.data);
    }
    let cd_start = out.len();
    for (e, &offset) in entries.iter().zip(&offsets) {
        let flags: u16 = if e.name.is_ascii() { 0 } else { 0x0800 };
        let (made_by, external) = match e.unix_mode {
            Some(mode) => ((3u16 << 8) | 20, mode << 16),
            None => (20, 0),
        };
        put32(&mut out, 0x0201_4b50);
        put16(&mut out, made_by);
        put16(&mut out, 20); // version needed
        put16(&mut out, flags);
        put16(&mut out, e.method);
        put16(&mut out, DOS_TIME);
        put16(&mut out, DOS_DATE);
        put32(&mut out, e.crc32);
        put32(&mut out, size_u32(e.data.len()));
        put32(&mut out, e.uncompressed_size);
        put16(&mut out, u16::try_from(e.name.len()).unwrap_or(u16::MAX));
        put16(&mut out, 0); // extra length
        put16(&mut out, 0); // comment length
        put16(&mut out, 0); // disk number start
        put16(&mut out, 0); // internal attributes
        put32(&mut out, external);
        put32(&mut out, offset);
        out.extend_from_slice(&e.name);
    }
    let cd_size = out.len() - cd_start;
    let count = u16::try_from(entries.len()).unwrap_or(u16::MAX);
    put32(&mut out, 0x0605_4b50);
    put16(&mut out, 0); // this disk
    put16(&mut out, 0); // disk with central directory
    put16(&mut out, count);
    put16(&mut out, count);
    put32(&mut out, size_u32(cd_size));
    put32(&mut out, size_u32(cd_start));
    put16(&mut out, 0); // comment length
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Read};

    #[test]
    fn zip_crate_reads_what_we_write() {
        let zip = write_zip(&[
            RawEntry::deflated("m@v1.0.0/a.txt", b"hello hello hello"),
            RawEntry::stored("m@v1.0.0/b/é.txt", b"stored"),
        ]);
        let mut ar = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
        assert_eq!(ar.len(), 2);
        let mut s = String::new();
        ar.by_index(0).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello hello hello");
        let f = ar.by_index(1).unwrap();
        assert_eq!(f.name().unwrap(), "m@v1.0.0/b/é.txt");
        assert_eq!(f.unix_mode(), Some(MODE_FILE));
    }

    #[test]
    fn deterministic() {
        let e = [RawEntry::deflated("x", &[7u8; 10_000])];
        assert_eq!(write_zip(&e), write_zip(&e));
    }
}
