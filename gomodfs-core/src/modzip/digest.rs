//! One pass over a zip entry's contents computes everything a fetch needs
//! from them: the SHA-256 for the `h1:` hash, the git blob id, and (for a
//! deflated entry whose raw stream can go into a pack as is) the Adler-32
//! a zlib trailer takes. Before, validation and the store's blob planning
//! each inflated every entry (issue 15: a third of a cold fetch's CPU).

use gix_hash::ObjectId;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::io::{self, Read};

/// What one pass over an entry's contents yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntryDigests {
    /// SHA-256 of the contents (for the `h1:` hash).
    pub(crate) sha256: [u8; 32],
    /// The git blob id of the contents.
    pub(crate) blob: ObjectId,
    /// The contents' Adler-32 when the entry's raw deflate stream ends
    /// exactly at its compressed size (then it is copied into a pack as
    /// is); `None`: compressed anew.
    pub(crate) raw_adler32: Option<u32>,
}

/// The content hashes, fed chunk by chunk.
pub(crate) struct ContentHashers {
    sha256: Sha256,
    blob: Sha1,
    adler: Adler32,
    crc: crc32fast::Hasher,
}

impl ContentHashers {
    /// Hashers for `size` bytes of contents (the git blob header takes it).
    pub(crate) fn new(size: u64) -> Self {
        let mut blob = Sha1::new();
        blob.update(format!("blob {size}\0").as_bytes());
        ContentHashers {
            sha256: Sha256::new(),
            blob,
            adler: Adler32::default(),
            crc: crc32fast::Hasher::new(),
        }
    }

    /// Feeds the next chunk of contents.
    pub(crate) fn update(&mut self, data: &[u8]) {
        self.sha256.update(data);
        self.blob.update(data);
        self.adler.update(data);
        self.crc.update(data);
    }

    /// The digests; `raw`: whether the raw deflate stream is reusable.
    fn finish(self, raw: bool) -> (EntryDigests, u32) {
        let digests = EntryDigests {
            sha256: self.sha256.finalize().into(),
            blob: ObjectId::from_bytes_or_panic(self.blob.finalize().as_slice()),
            raw_adler32: raw.then(|| self.adler.finish()),
        };
        (digests, self.crc.finalize())
    }

    /// The digests of contents read through another reader (a stored
    /// entry, or a deflated one whose raw stream is not reused).
    pub(crate) fn finish_contents(self) -> EntryDigests {
        self.finish(false).0
    }
}

/// Inflates the raw deflate stream `raw` of an entry of `size` bytes and
/// `compressed_size` compressed bytes, hashing as it goes. `Some` only if
/// everything is exactly as declared: the stream inflates to `size` bytes,
/// ends exactly at `compressed_size` with nothing after it, and (when
/// `crc32` is given) matches it. `None` otherwise, also for a corrupt
/// stream: the caller then reads the entry through the zip reader, which
/// accepts or rejects it with its usual errors. Never inflates more than
/// `size` plus one output buffer.
pub(crate) fn inflate_exact(
    raw: &mut dyn Read,
    size: u64,
    compressed_size: u64,
    crc32: Option<u32>,
    input: &mut [u8],
    output: &mut [u8],
) -> io::Result<Option<EntryDigests>> {
    use flate2::{Decompress, FlushDecompress, Status};
    let mut z = Decompress::new(false);
    let mut hashers = ContentHashers::new(size);
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
        if z.total_out() > size {
            return Ok(None);
        }
        hashers.update(&output[..made]);
        match status {
            Status::StreamEnd => break,
            _ if used == 0 && made == 0 && (eof || start < end) => return Ok(None),
            _ => {}
        }
    }
    // Nothing may follow the end of the stream.
    let trailing = start < end || raw.read(&mut input[..1])? != 0;
    if trailing || z.total_in() != compressed_size || z.total_out() != size {
        return Ok(None);
    }
    let (digests, crc) = hashers.finish(true);
    if crc32.is_some_and(|want| want != crc) {
        return Ok(None);
    }
    Ok(Some(digests))
}

/// Adler-32, as zlib computes it for its trailer.
pub(crate) struct Adler32 {
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

    /// Feeds `data`.
    pub(crate) fn update(&mut self, data: &[u8]) {
        for chunk in data.chunks(Self::NMAX) {
            for &byte in chunk {
                self.a += u32::from(byte);
                self.b += self.a;
            }
            self.a %= Self::MOD;
            self.b %= Self::MOD;
        }
    }

    /// The checksum of everything fed.
    pub(crate) fn finish(&self) -> u32 {
        (self.b << 16) | self.a
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

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
        z.write_all(&data).unwrap();
        let stream = z.finish().unwrap();
        assert_eq!(stream[stream.len() - 4..], one.finish().to_be_bytes());
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(data).unwrap();
        z.finish().unwrap()
    }

    fn run(raw: &[u8], size: u64, compressed: u64, crc: Option<u32>) -> Option<EntryDigests> {
        let (mut input, mut output) = (vec![0u8; 1000], vec![0u8; 700]);
        inflate_exact(
            &mut &raw[..],
            size,
            compressed,
            crc,
            &mut input,
            &mut output,
        )
        .unwrap()
    }

    /// The one pass gives the digests the separate hashes give, and says
    /// `None` for every way the stream differs from what is declared.
    #[test]
    fn one_pass_digests_match_and_anything_off_is_none() {
        let data = b"package m\n// text that deflates well\n".repeat(300);
        let raw = deflate(&data);
        let (size, clen) = (data.len() as u64, raw.len() as u64);
        let crc = crc32fast::hash(&data);
        let got = run(&raw, size, clen, Some(crc)).unwrap();
        assert_eq!(got.sha256, <[u8; 32]>::from(Sha256::digest(&data)));
        let mut git = Sha1::new();
        git.update(format!("blob {size}\0").as_bytes());
        git.update(&data);
        assert_eq!(got.blob.as_bytes(), git.finalize().as_slice());
        let mut adler = Adler32::default();
        adler.update(&data);
        assert_eq!(got.raw_adler32, Some(adler.finish()));
        assert_eq!(run(&raw, size, clen, None), Some(got), "crc 0: not checked");

        assert_eq!(run(&raw, size, clen, Some(crc ^ 1)), None, "wrong crc");
        assert_eq!(
            run(&raw, size - 1, clen, None),
            None,
            "longer than declared"
        );
        assert_eq!(
            run(&raw, size + 1, clen, None),
            None,
            "shorter than declared"
        );
        let mut junk = raw.clone();
        junk.extend_from_slice(b"\0\0\0");
        let jlen = junk.len() as u64;
        assert_eq!(run(&junk, size, jlen, None), None, "bytes after the stream");
        assert_eq!(
            run(&raw[..raw.len() / 2], size, clen / 2, None),
            None,
            "cut short"
        );
        assert_eq!(run(b"\xff\xff\xff\xff", size, 4, None), None, "not deflate");
    }
}
