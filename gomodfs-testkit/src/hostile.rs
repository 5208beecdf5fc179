//! Hostile module zips, as raw bytes, for the validation rules of docs/SEMANTICS.md section 5
//! section 5. Each one is a valid module zip (a `go.mod` and an `ok.go`
//! under the right prefix) except for the one defect it is named after, so a
//! test that expects rejection proves that *this* defect is caught.
//!
//! Serve one with [`crate::Fault::Body`] or build a module store input
//! directly:
//!
//! ```
//! use gomodfs_testkit::Hostile;
//! let zip = Hostile::DotDot.zip("example.com/evil", "v1.0.0");
//! assert!(zip.starts_with(b"PK\x03\x04"));
//! ```

use crate::rawzip::{self, METHOD_DEFLATE, MODE_SYMLINK, RawEntry};
use std::sync::OnceLock;

/// Uncompressed size of the bomb entry: 600 MiB of zeros (the limit is
/// 500 MiB).
pub const BOMB_SIZE: u64 = 600 << 20;

/// Size of `go.mod` / `LICENSE` in [`Hostile::OversizedGoMod`] and
/// [`Hostile::OversizedLicense`]: 17 MiB (the limit is 16 MiB).
pub const OVERSIZED_FILE_SIZE: usize = 17 << 20;

/// Declared uncompressed size of the bomb entry in
/// [`Hostile::BombLyingSize`].
pub const BOMB_LYING_DECLARED_SIZE: u32 = 1024;

/// A kind of hostile (or deliberately odd) module zip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hostile {
    /// An entry `<prefix>../escape.go` (contains `..`).
    DotDot,
    /// An entry `/<prefix>abs.go` (absolute, and so also outside the prefix).
    AbsolutePath,
    /// An entry `<prefix>a\b.go` (contains a backslash).
    Backslash,
    /// An entry `<prefix>a\0b.go` (contains NUL).
    NulByte,
    /// An entry `<prefix>a//b.go` (empty path element).
    EmptyElement,
    /// The same entry name `<prefix>dup.go` twice (different contents).
    Duplicate,
    /// `<prefix>a/File.go` and `<prefix>a/file.go`.
    CaseCollision,
    /// `<prefix>a/k.go` and `<prefix>a/\u{212A}.go` (KELVIN SIGN folds to `k`).
    UnicodeCaseCollision,
    /// A symlink entry `<prefix>link` (unix mode 0o120777, target `go.mod`).
    ///
    /// Note: the real `go` (golang.org/x/mod/zip `checkZip`) does *not*
    /// reject this: it ignores the mode and extracts a regular file whose
    /// content is the link target. gomodfs does the same (docs/SEMANTICS.md
    /// section 5).
    Symlink,
    /// A `go.mod` in a subdirectory, `<prefix>sub/go.mod` (go: "go.mod file
    /// not in module root directory").
    NestedGoMod,
    /// `<prefix>GO.MOD` besides `<prefix>go.mod` (go: a case collision).
    GoModCase,
    /// An entry `stray.go` without the module prefix.
    MissingPrefix,
    /// An entry under another module's prefix, `example.com/other@v1.0.0/x.go`.
    WrongPrefix,
    /// An entry that inflates to [`BOMB_SIZE`] (600 MiB of zeros) from well
    /// under 1 MiB, with honest declared sizes and CRC.
    Bomb,
    /// The same bomb, but its headers declare an uncompressed size of
    /// [`BOMB_LYING_DECLARED_SIZE`] bytes: exercises "declared size does not
    /// match what inflates" and that inflating stops at the declared size.
    BombLyingSize,
    /// `go.mod` of [`OVERSIZED_FILE_SIZE`] bytes (a valid go.mod padded with a
    /// comment).
    OversizedGoMod,
    /// `LICENSE` of [`OVERSIZED_FILE_SIZE`] bytes.
    OversizedLicense,
    /// An entry whose declared uncompressed size (1000) is larger than its
    /// real content.
    SizeMismatch,
    /// An entry whose declared CRC-32 is wrong.
    CrcMismatch,
    /// Not a zip at all: a short text body.
    NotAZip,
    /// A valid zip truncated in the middle (no central directory).
    Truncated,
}

impl Hostile {
    /// Every variant, for table-driven tests.
    pub const ALL: [Hostile; 21] = [
        Hostile::DotDot,
        Hostile::AbsolutePath,
        Hostile::Backslash,
        Hostile::NulByte,
        Hostile::EmptyElement,
        Hostile::Duplicate,
        Hostile::CaseCollision,
        Hostile::UnicodeCaseCollision,
        Hostile::Symlink,
        Hostile::NestedGoMod,
        Hostile::GoModCase,
        Hostile::MissingPrefix,
        Hostile::WrongPrefix,
        Hostile::Bomb,
        Hostile::BombLyingSize,
        Hostile::OversizedGoMod,
        Hostile::OversizedLicense,
        Hostile::SizeMismatch,
        Hostile::CrcMismatch,
        Hostile::NotAZip,
        Hostile::Truncated,
    ];

    /// Every variant except the two bombs (which cost a second or so to
    /// build the first time and much more to inflate).
    pub fn cheap() -> impl Iterator<Item = Hostile> {
        Hostile::ALL
            .into_iter()
            .filter(|h| !matches!(h, Hostile::Bomb | Hostile::BombLyingSize))
    }

    /// Whether the real `go` (`go mod download`) refuses this zip: true for
    /// every variant except [`Hostile::Symlink`] (checked against the real
    /// `go` by this crate's tests).
    pub fn go_rejects(self) -> bool {
        !matches!(self, Hostile::Symlink)
    }

    /// The zip bytes for module `path` at `version`.
    pub fn zip(self, path: &str, version: &str) -> Vec<u8> {
        let p = format!("{path}@{version}/");
        let go_mod = format!("module {path}\n\ngo 1.21\n");
        let base = |extra: Vec<RawEntry>| -> Vec<u8> {
            let mut entries = vec![
                RawEntry::deflated(format!("{p}go.mod"), go_mod.as_bytes()),
                RawEntry::deflated(format!("{p}ok.go"), b"package ok\n"),
            ];
            entries.extend(extra);
            rawzip::write_zip(&entries)
        };
        let file = |name: String| RawEntry::deflated(name, b"package x\n");
        match self {
            Hostile::DotDot => base(vec![file(format!("{p}../escape.go"))]),
            Hostile::AbsolutePath => base(vec![file(format!("/{p}abs.go"))]),
            Hostile::Backslash => base(vec![file(format!("{p}a\\b.go"))]),
            Hostile::NulByte => base(vec![file(format!("{p}a\0b.go"))]),
            Hostile::EmptyElement => base(vec![file(format!("{p}a//b.go"))]),
            Hostile::Duplicate => base(vec![
                RawEntry::deflated(format!("{p}dup.go"), b"package dup // one\n"),
                RawEntry::deflated(format!("{p}dup.go"), b"package dup // two\n"),
            ]),
            Hostile::CaseCollision => base(vec![
                file(format!("{p}a/File.go")),
                file(format!("{p}a/file.go")),
            ]),
            Hostile::UnicodeCaseCollision => base(vec![
                file(format!("{p}a/k.go")),
                file(format!("{p}a/\u{212A}.go")),
            ]),
            Hostile::Symlink => base(vec![
                RawEntry::stored(format!("{p}link"), b"go.mod").with_mode(Some(MODE_SYMLINK)),
            ]),
            Hostile::NestedGoMod => base(vec![RawEntry::deflated(
                format!("{p}sub/go.mod"),
                format!("module {path}/sub\n").as_bytes(),
            )]),
            Hostile::GoModCase => base(vec![RawEntry::deflated(
                format!("{p}GO.MOD"),
                go_mod.as_bytes(),
            )]),
            Hostile::MissingPrefix => base(vec![file("stray.go".to_owned())]),
            Hostile::WrongPrefix => base(vec![file("example.com/other@v1.0.0/x.go".to_owned())]),
            Hostile::Bomb => base(vec![bomb_entry(format!("{p}bomb.txt"), None)]),
            Hostile::BombLyingSize => base(vec![bomb_entry(
                format!("{p}bomb.txt"),
                Some(BOMB_LYING_DECLARED_SIZE),
            )]),
            Hostile::OversizedGoMod => {
                let mut big = go_mod.clone().into_bytes();
                big.extend_from_slice(b"// ");
                big.resize(OVERSIZED_FILE_SIZE - 1, b'x');
                big.push(b'\n');
                rawzip::write_zip(&[
                    RawEntry::deflated(format!("{p}go.mod"), &big),
                    RawEntry::deflated(format!("{p}ok.go"), b"package ok\n"),
                ])
            }
            Hostile::OversizedLicense => {
                let big = vec![b'L'; OVERSIZED_FILE_SIZE];
                base(vec![RawEntry::deflated(format!("{p}LICENSE"), &big)])
            }
            Hostile::SizeMismatch => base(vec![
                RawEntry::deflated(format!("{p}short.go"), b"package short\n")
                    .with_declared_size(1000),
            ]),
            Hostile::CrcMismatch => base(vec![
                RawEntry::deflated(format!("{p}crc.go"), b"package crc\n").with_crc32(0xdead_beef),
            ]),
            Hostile::NotAZip => b"this is not a zip file\n".to_vec(),
            Hostile::Truncated => {
                let full = base(vec![]);
                full[..full.len() / 2].to_vec()
            }
        }
    }
}

/// The raw deflate stream of [`BOMB_SIZE`] zeros and its CRC-32, built once.
///
/// Built fast: one 1 MiB chunk of zeros is deflated with a full flush (which
/// resets the compressor), so the same compressed block can be repeated; an
/// empty final block ends the stream.
pub fn bomb_stream() -> &'static (Vec<u8>, u32) {
    static BOMB: OnceLock<(Vec<u8>, u32)> = OnceLock::new();
    BOMB.get_or_init(|| {
        use flate2::{Compress, Compression, FlushCompress};
        const CHUNK: usize = 1 << 20;
        let zeros = vec![0u8; CHUNK];
        let block = {
            let mut c = Compress::new(Compression::best(), false);
            let mut out = Vec::with_capacity(64 << 10);
            // A full flush of 1 MiB of zeros fits easily in 64 KiB; the
            // compressor never fails on in-memory input.
            let _ = c.compress_vec(&zeros, &mut out, FlushCompress::Full);
            out
        };
        let end = {
            let mut c = Compress::new(Compression::best(), false);
            let mut out = Vec::with_capacity(64);
            let _ = c.compress_vec(&[], &mut out, FlushCompress::Finish);
            out
        };
        let n = usize::try_from(BOMB_SIZE).unwrap_or(usize::MAX) / CHUNK;
        let mut stream = Vec::with_capacity(block.len() * n + end.len());
        let mut crc = crc32fast::Hasher::new();
        for _ in 0..n {
            stream.extend_from_slice(&block);
            crc.update(&zeros);
        }
        stream.extend_from_slice(&end);
        (stream, crc.finalize())
    })
}

fn bomb_entry(name: String, declared: Option<u32>) -> RawEntry {
    let (stream, crc) = bomb_stream();
    RawEntry {
        name: name.into_bytes(),
        method: METHOD_DEFLATE,
        data: stream.clone(),
        crc32: *crc,
        uncompressed_size: declared.unwrap_or(u32::try_from(BOMB_SIZE).unwrap_or(u32::MAX)),
        unix_mode: Some(rawzip::MODE_FILE),
    }
}

/// Adds to `proxy`, at `version`, one module per way a download can fail
/// that every frontend must report as an I/O error (never "not found"):
/// each zip the real `go` rejects ([`Hostile::go_rejects`]) under
/// `example.com/hostile/<variant>`, and a truncated body, a 500 and a stall
/// under `example.com/faulty/<kind>`. Their `.info` and `.mod` are fine; only
/// the zip fails. Returns the module paths.
pub fn add_failing_modules(proxy: &crate::TestProxy, version: &str) -> Vec<String> {
    let mut cases: Vec<(String, crate::Fault)> = Vec::new();
    for h in Hostile::ALL.into_iter().filter(|h| h.go_rejects()) {
        let path = format!("example.com/hostile/{}", format!("{h:?}").to_lowercase());
        let zip = h.zip(&path, version);
        cases.push((path, crate::Fault::Body(zip)));
    }
    for (name, fault) in [
        ("truncated-body", crate::Fault::Truncate),
        ("status-500", crate::Fault::Status(500)),
        ("stall", crate::Fault::Stall),
    ] {
        cases.push((format!("example.com/faulty/{name}"), fault));
    }
    for (path, fault) in &cases {
        proxy.add(crate::ModuleSpec::new(path, version).file("x.go", "package x\n"));
        proxy.set_fault(path, version, "zip", fault.clone());
    }
    cases.into_iter().map(|(path, _)| path).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Read};

    #[test]
    fn bomb_inflates_to_600_mib_of_zeros() {
        let (stream, crc) = bomb_stream();
        assert!(
            stream.len() < (1 << 20),
            "bomb stream is {} bytes",
            stream.len()
        );
        let mut dec = flate2::read::DeflateDecoder::new(stream.as_slice());
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        let mut h = crc32fast::Hasher::new();
        loop {
            let n = dec.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            assert!(buf[..n].iter().all(|&b| b == 0));
            h.update(&buf[..n]);
            total += n as u64;
        }
        assert_eq!(total, BOMB_SIZE);
        assert_eq!(h.finalize(), *crc);
    }

    #[test]
    fn bomb_zip_is_small() {
        let z = Hostile::Bomb.zip("example.com/bomb", "v1.0.0");
        assert!(z.len() < (1 << 20));
        let ar = zip::ZipArchive::new(Cursor::new(z)).unwrap();
        assert_eq!(ar.len(), 3);
    }

    #[test]
    fn hostile_zips_parse_as_zip_where_expected() {
        for h in Hostile::cheap() {
            let z = h.zip("example.com/evil", "v1.0.0");
            let parsed = zip::ZipArchive::new(Cursor::new(z));
            match h {
                Hostile::NotAZip | Hostile::Truncated => assert!(parsed.is_err(), "{h:?}"),
                _ => {
                    // The zip crate may refuse some (e.g. duplicates); it must
                    // at least not be for lack of a central directory.
                    if let Err(e) = parsed {
                        assert!(matches!(h, Hostile::Duplicate), "{h:?}: {e}");
                    }
                }
            }
        }
    }

    #[test]
    fn duplicate_has_two_entries_with_same_name() {
        let z = Hostile::Duplicate.zip("example.com/evil", "v1.0.0");
        let needle = b"example.com/evil@v1.0.0/dup.go";
        let count = z.windows(needle.len()).filter(|w| w == needle).count();
        // Two local headers and two central directory records.
        assert_eq!(count, 4);
    }

    #[test]
    fn symlink_mode() {
        let z = Hostile::Symlink.zip("example.com/evil", "v1.0.0");
        let mut ar = zip::ZipArchive::new(Cursor::new(z)).unwrap();
        let f = ar.by_name("example.com/evil@v1.0.0/link").unwrap();
        assert_eq!(f.unix_mode(), Some(MODE_SYMLINK));
        assert!(f.is_symlink());
    }

    #[test]
    fn lying_bomb_declares_small_size() {
        let z = Hostile::BombLyingSize.zip("example.com/bomb", "v1.0.0");
        let mut ar = zip::ZipArchive::new(Cursor::new(z)).unwrap();
        let f = ar.by_name("example.com/bomb@v1.0.0/bomb.txt").unwrap();
        assert_eq!(f.size(), u64::from(BOMB_LYING_DECLARED_SIZE));
    }
}
