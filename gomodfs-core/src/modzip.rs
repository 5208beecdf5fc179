//! Module zip validation and extraction, as golang.org/x/mod/zip `CheckZip`
//! and `Unzip` check them.
//!
//! [`extract`] either returns every file of a module zip with its `h1:` hash,
//! or rejects the whole zip with [`Error::InvalidZip`] naming the module,
//! version and offending entry. It never inflates more than a file's
//! declared size plus one byte, and the declared sizes are checked against
//! [`Limits`] before anything is inflated.
//!
//! Entry names are taken from the central directory as raw bytes, the way
//! Go's `archive/zip` reads them (the zip crate would apply Info-ZIP Unicode
//! Path extra fields and fold duplicate names into one; such zips are
//! rejected or handled as Go handles them).

use crate::dirhash::{self, FileDigest};
use crate::error::{Error, Result};
use crate::modpath::{self, ModuleVersion};
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Read, Seek};
use zip::read::ZipReadOptions;
use zip::{CompressionMethod, ZipArchive};

mod digest;
mod file;
pub use file::{ModuleZip, ZipFileEntry};

/// Size limits for a module zip. The defaults are Go's (`zip.MaxZipFile`,
/// `zip.MaxGoMod`, `zip.MaxLICENSE`) plus a cap on the number of entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Maximum size of the zip file itself and of all files uncompressed
    /// (500 MiB).
    pub max_total: u64,
    /// Maximum size of the module root's `go.mod` (16 MiB).
    pub max_go_mod: u64,
    /// Maximum size of the module root's `LICENSE` (16 MiB).
    pub max_license: u64,
    /// Maximum number of zip entries, directories included (100 000; Go has
    /// no such limit, the largest real modules hold a few ten thousand).
    pub max_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_total: 500 << 20,
            max_go_mod: 16 << 20,
            max_license: 16 << 20,
            max_files: 100_000,
        }
    }
}

/// The validated content of a module zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedModule {
    /// Every file, as (path relative to the module root, content), sorted
    /// bytewise by path. Directory entries are not listed.
    pub files: Vec<(String, Bytes)>,
    /// The `h1:` hash `go` records for this zip (`dirhash.HashZip`): over
    /// `files` with the `<path>@<version>/` prefix, plus any directory
    /// entries of the zip as empty files, exactly as `go mod download` does.
    pub ziphash: String,
}

/// Validates a module zip like golang.org/x/mod/zip (`CheckZip`, then
/// `Unzip`) and returns its files and `h1:` hash.
///
/// Rejects, with [`Error::InvalidZip`]: a path and version that do not go
/// together (`module.Check`); a zip or total uncompressed size over
/// [`Limits::max_total`]; an entry outside `<path>@<version>/`; a file path
/// `module.CheckFilePath` rejects (absolute, `..`, `\`, NUL, empty
/// element, ...); two entries equal or equal under Unicode case folding, or
/// both a file and a directory; `go.mod` outside the root or not lower-case;
/// root `go.mod` or `LICENSE` over their limits; encrypted entries; compression other than stored or
/// deflate; content that does not inflate to exactly its declared size or
/// fails its CRC-32; a corrupt or truncated zip.
pub fn extract(module: &ModuleVersion, zip: &[u8], limits: &Limits) -> Result<ExtractedModule> {
    let bad = |reason: String| invalid(module, reason);
    check_module(module)?;
    check_zip_len(module, zip.len() as u64, limits)?;
    let mut archive =
        ZipArchive::new(Cursor::new(zip)).map_err(|e| bad(format!("not a valid zip file: {e}")))?;
    let names = central_names(zip, archive.central_directory_start())
        .ok_or_else(|| bad("cannot read the zip's central directory".into()))?;
    let checked = check_entries(module, &archive, &names, limits)?;

    // Second pass: inflate, never past the declared size.
    let mut digests: Vec<(String, FileDigest)> =
        Vec::with_capacity(checked.files.len() + checked.dirs.len());
    let mut out = Vec::with_capacity(checked.files.len());
    for file in checked.files {
        let name = format!("{}{}", module.zip_prefix(), file.path);
        let data = inflate(&mut archive, file.index, file.size, file.crc32 != 0)
            .map_err(|e| entry_error(module, name.as_bytes(), &e))?;
        digests.push((name, dirhash::sha256(&data)));
        out.push((file.path, Bytes::from(data)));
    }
    let ziphash = ziphash_of(module, digests, &checked.dirs)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(ExtractedModule {
        files: out,
        ziphash,
    })
}

/// An [`Error::InvalidZip`] for `module`.
fn invalid(module: &ModuleVersion, reason: String) -> Error {
    Error::InvalidZip {
        module: module.path().to_owned(),
        version: module.version().to_owned(),
        reason,
    }
}

/// An [`Error::InvalidZip`] about entry `name`.
fn entry_error(module: &ModuleVersion, name: &[u8], reason: &dyn std::fmt::Display) -> Error {
    invalid(
        module,
        format!("entry {:?}: {reason}", String::from_utf8_lossy(name)),
    )
}

/// Checks that the module path and version go together (`module.Check`).
fn check_module(module: &ModuleVersion) -> Result<()> {
    let (_, path_major) = modpath::split_path_version(module.path())
        .ok_or_else(|| invalid(module, "invalid module path".into()))?;
    modpath::check_path_major(module.version(), path_major)
        .map_err(|e| invalid(module, e.to_string()))
}

/// Checks the size of the zip file itself against [`Limits::max_total`].
fn check_zip_len(module: &ModuleVersion, len: u64, limits: &Limits) -> Result<()> {
    if len > limits.max_total {
        return Err(invalid(
            module,
            format!(
                "module zip file is too large ({len} bytes; limit is {} bytes)",
                limits.max_total
            ),
        ));
    }
    Ok(())
}

/// The `h1:` hash of a zip from its files' digests (full names) and its
/// directory entries (counted as empty files, as `dirhash.HashZip` does).
fn ziphash_of(
    module: &ModuleVersion,
    mut digests: Vec<(String, FileDigest)>,
    dirs: &[String],
) -> Result<String> {
    let empty = dirhash::sha256(b"");
    digests.extend(dirs.iter().map(|d| (d.clone(), empty)));
    dirhash::h1_from_digests(digests).map_err(|e| invalid(module, e.to_string()))
}

/// A file entry that passed the metadata checks.
struct CheckedFile {
    /// Its index in the archive.
    index: usize,
    /// Its path relative to the module root.
    path: String,
    /// Its declared uncompressed size.
    size: u64,
    /// The CRC-32 its header declares (0: not checked, like Go).
    crc32: u32,
    /// How it is compressed.
    method: Method,
}

/// What the metadata pass found: the files, and the directory entries by
/// full name.
struct Checked {
    files: Vec<CheckedFile>,
    dirs: Vec<String>,
}

/// How a zip entry is compressed (the two methods Go accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Stored as is.
    Stored,
    /// A raw deflate stream.
    Deflated,
}

/// The metadata pass of [`extract`]: names, collisions, sizes, methods,
/// all before anything is inflated. `names`: the raw central directory
/// names, in order.
fn check_entries<R: Read + Seek>(
    module: &ModuleVersion,
    archive: &ZipArchive<R>,
    names: &[&[u8]],
    limits: &Limits,
) -> Result<Checked> {
    let bad = |reason: String| invalid(module, reason);
    let entry_err = |name: &[u8], reason: &dyn std::fmt::Display| entry_error(module, name, reason);
    if names.len() > limits.max_files {
        return Err(bad(format!(
            "too many entries ({}; limit is {})",
            names.len(),
            limits.max_files
        )));
    }
    if names.iter().collect::<HashSet<_>>().len() != archive.len() {
        return Err(bad("central directory is inconsistent".into()));
    }

    let prefix = module.zip_prefix();
    let mut collisions = CollisionChecker::default();
    let mut dirs: Vec<String> = Vec::new();
    let mut files: Vec<CheckedFile> = Vec::new();
    let mut total: u64 = 0;
    for name in names {
        let name: &[u8] = name;
        let index = archive
            .index_for_name_raw(name)
            .ok_or_else(|| entry_err(name, &"renamed by an Info-ZIP Unicode Path extra field"))?;
        let entry = archive
            .by_index_data(index)
            .map_err(|e| entry_err(name, &e))?;
        let full = std::str::from_utf8(name).map_err(|_| entry_err(name, &"invalid UTF-8"))?;
        let rel = full
            .strip_prefix(&prefix)
            .ok_or_else(|| entry_err(name, &format!("path does not have prefix {prefix:?}")))?;
        // Like go (x/mod/zip never looks at file modes), a symlink or other
        // special entry is served as a regular file holding its stored bytes.
        let size = entry.size();
        if rel.is_empty() || rel.ends_with('/') {
            if size != 0 {
                return Err(entry_err(name, &"directory entry has content"));
            }
            if let Some(dir) = rel.strip_suffix('/') {
                modpath::check_file_path(dir).map_err(|e| entry_err(name, &e))?;
                collisions
                    .check(dir, true)
                    .map_err(|e| entry_err(name, &e))?;
            }
            dirs.push(full.to_owned());
            continue;
        }
        modpath::check_file_path(rel).map_err(|e| entry_err(name, &e))?;
        collisions
            .check(rel, false)
            .map_err(|e| entry_err(name, &e))?;
        let base = rel.rsplit('/').next().unwrap_or(rel);
        if base.eq_ignore_ascii_case("go.mod") && base != rel {
            return Err(entry_err(name, &"go.mod file not in module root directory"));
        }
        if base.eq_ignore_ascii_case("go.mod") && rel != "go.mod" {
            return Err(entry_err(name, &"go.mod files must have lowercase names"));
        }
        if entry.encrypted() {
            return Err(entry_err(name, &"encrypted entries are not supported"));
        }
        let method = match entry.compression() {
            CompressionMethod::Stored => Method::Stored,
            CompressionMethod::Deflated => Method::Deflated,
            other => {
                return Err(entry_err(
                    name,
                    &format!("unsupported compression method {other:?}"),
                ));
            }
        };
        total = total.saturating_add(size);
        if total > limits.max_total {
            return Err(bad(format!(
                "total uncompressed size of module contents too large (max size is {} bytes)",
                limits.max_total
            )));
        }
        for (file, max) in [
            ("go.mod", limits.max_go_mod),
            ("LICENSE", limits.max_license),
        ] {
            if rel == file && size > max {
                return Err(entry_err(
                    name,
                    &format!("{file} file too large ({size} bytes; max size is {max} bytes)"),
                ));
            }
        }
        files.push(CheckedFile {
            index,
            path: rel.to_owned(),
            size,
            crc32: entry.crc32(),
            method,
        });
    }
    Ok(Checked { files, dirs })
}

/// Inflates entry `index`, which must be exactly `size` bytes. Reads at most
/// `size + 1` bytes; the buffer is never larger than a deflate stream of the
/// entry's compressed size could fill (deflate expands at most 1032:1).
/// Like Go, checks the CRC-32 only if the header's is not zero.
fn inflate(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    index: usize,
    size: u64,
    check_crc: bool,
) -> Result<Vec<u8>, String> {
    let options = ZipReadOptions::new().ignore_crc32(!check_crc);
    let entry = archive
        .by_index_with_options(index, options)
        .map_err(|e| e.to_string())?;
    let bound = entry
        .compressed_size()
        .saturating_mul(1032)
        .saturating_add(1);
    let capacity = usize::try_from(size.min(bound)).map_err(|e| e.to_string())?;
    let mut data = Vec::with_capacity(capacity);
    entry
        .take(size.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| e.to_string())?;
    if data.len() as u64 != size {
        return Err(format!(
            "uncompressed size {} does not match declared size {size}",
            data.len()
        ));
    }
    Ok(data)
}

/// The raw names of the central directory entries starting at `start`, in
/// order and with duplicates, as Go's `archive/zip` reads them. `None` if
/// the headers run past the end of `zip`.
fn central_names(zip: &[u8], start: u64) -> Option<Vec<&[u8]>> {
    const HEADER_LEN: usize = 46;
    let mut pos = usize::try_from(start).ok()?;
    let mut names = Vec::new();
    while zip.get(pos..pos.checked_add(4)?) == Some(b"PK\x01\x02") {
        let header = zip.get(pos..pos.checked_add(HEADER_LEN)?)?;
        let u16_at = |i: usize| usize::from(u16::from_le_bytes([header[i], header[i + 1]]));
        let (name_len, extra_len, comment_len) = (u16_at(28), u16_at(30), u16_at(32));
        let name_start = pos + HEADER_LEN;
        names.push(zip.get(name_start..name_start + name_len)?);
        pos = name_start + name_len + extra_len + comment_len;
    }
    Some(names)
}

/// golang.org/x/mod/zip `collisionChecker`: finds paths equal under Unicode
/// case folding and paths used as both file and directory.
#[derive(Default)]
struct CollisionChecker {
    /// Folded path -> (path, is directory).
    seen: HashMap<String, (String, bool)>,
}

impl CollisionChecker {
    fn check(&mut self, path: &str, is_dir: bool) -> std::result::Result<(), String> {
        let mut path = path;
        let mut is_dir = is_dir;
        loop {
            let key = fold(path);
            match self.seen.get(&key) {
                Some((other, _)) if other != path => {
                    return Err(format!(
                        "case-insensitive file name collision: {other:?} and {path:?}"
                    ));
                }
                Some((_, other_is_dir)) if *other_is_dir != is_dir => {
                    return Err(format!("entry {path:?} is both a file and a directory"));
                }
                Some(_) if !is_dir => return Err(format!("multiple entries for file {path:?}")),
                // A directory seen before: its parents were checked then.
                Some(_) => return Ok(()),
                None => {
                    self.seen.insert(key, (path.to_owned(), is_dir));
                }
            }
            match path.rsplit_once('/') {
                Some((parent, _)) => (path, is_dir) = (parent, true),
                None => return Ok(()),
            }
        }
    }
}

/// The collision key of a path: each character replaced by the smallest
/// character of its Unicode simple case folding orbit, as `strToFold` in
/// golang.org/x/mod/zip (then ASCII lower-cased). Exact for every character
/// [`modpath::check_file_path`] allows (checked against Go for all of them;
/// U+0131 `ı` is the one character upper-then-lower-casing gets wrong).
fn fold(path: &str) -> String {
    fn single(mut chars: impl Iterator<Item = char>) -> Option<char> {
        let c = chars.next()?;
        chars.next().is_none().then_some(c)
    }
    path.chars()
        .map(|c| {
            if c.is_ascii() || c == 'ı' {
                return c.to_ascii_lowercase();
            }
            let upper = single(c.to_uppercase()).unwrap_or(c);
            single(upper.to_lowercase()).unwrap_or(upper)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use std::io::Write as _;
    use zip::write::SimpleFileOptions;

    const P: &str = "example.com/m@v1.0.0/";

    fn mv() -> ModuleVersion {
        ModuleVersion::new("example.com/m", "v1.0.0").unwrap()
    }

    fn opts() -> SimpleFileOptions {
        SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
    }

    /// A zip of (full name, content); names ending in `/` become directories.
    fn build(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            if name.ends_with('/') {
                w.add_directory(*name, opts()).unwrap();
            } else {
                w.start_file(*name, opts()).unwrap();
                w.write_all(data).unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    fn extract_default(zip: &[u8]) -> Result<ExtractedModule> {
        extract(&mv(), zip, &Limits::default())
    }

    /// Asserts an InvalidZip for example.com/m@v1.0.0 whose reason contains
    /// `needle`.
    #[track_caller]
    fn assert_rejected(res: Result<ExtractedModule>, needle: &str) {
        match res {
            Err(Error::InvalidZip {
                module,
                version,
                reason,
            }) => {
                assert_eq!(
                    (module.as_str(), version.as_str()),
                    ("example.com/m", "v1.0.0")
                );
                assert!(
                    reason.contains(needle),
                    "reason {reason:?} lacks {needle:?}"
                );
            }
            other => panic!("expected InvalidZip containing {needle:?}, got {other:?}"),
        }
    }

    /// Replaces every occurrence of `from` with `to` (same length) in `zip`:
    /// names are stored in both the local and the central header.
    fn patch_all(zip: &mut [u8], from: &[u8], to: &[u8]) {
        assert_eq!(from.len(), to.len());
        let mut found = 0;
        for i in 0..=zip.len() - from.len() {
            if &zip[i..i + from.len()] == from {
                zip[i..i + from.len()].copy_from_slice(to);
                found += 1;
            }
        }
        assert!(found > 0, "{:?} not found", String::from_utf8_lossy(from));
    }

    /// Offsets of the local and central headers of entry `name`.
    fn headers(zip: &[u8], name: &str) -> (usize, usize) {
        let find = |sig: &[u8], name_at: usize| {
            (0..zip.len() - name_at)
                .find(|&i| {
                    zip[i..].starts_with(sig) && zip[i + name_at..].starts_with(name.as_bytes())
                })
                .unwrap()
        };
        (find(b"PK\x03\x04", 30), find(b"PK\x01\x02", 46))
    }

    /// Writes `value` at `local + local_off` and `central + central_off`.
    fn patch_field(zip: &mut [u8], name: &str, local_off: usize, central_off: usize, value: &[u8]) {
        let (local, central) = headers(zip, name);
        zip[local + local_off..][..value.len()].copy_from_slice(value);
        zip[central + central_off..][..value.len()].copy_from_slice(value);
    }

    #[test]
    fn valid_module_round_trip() -> Result<()> {
        let license = b"Permission is granted.\n".repeat(100);
        let entries: &[(&str, &[u8])] = &[
            ("example.com/m@v1.0.0/go.mod", b"module example.com/m\n"),
            ("example.com/m@v1.0.0/z.go", b"package m\n"),
            ("example.com/m@v1.0.0/LICENSE", &license),
            ("example.com/m@v1.0.0/sub/Déjà vu.txt", b"x"),
            ("example.com/m@v1.0.0/sub/empty", b""),
            ("example.com/m@v1.0.0/.github/ci.yml", b"on: push\n"),
            ("example.com/m@v1.0.0/sub/LICENSE", &[b'x'; 100]),
        ];
        let got = extract_default(&build(entries))?;
        let mut want: Vec<(String, Bytes)> = entries
            .iter()
            .map(|(n, d)| (n[P.len()..].to_owned(), Bytes::copy_from_slice(d)))
            .collect();
        want.sort();
        assert_eq!(got.files, want);
        assert_eq!(got.ziphash, dirhash::h1(entries.iter().copied())?);
        Ok(())
    }

    /// example.com/Hello@v1.0.0 as golang.org/x/mod/zip.Create wrote it;
    /// `go mod download` of it from a file:// proxy gave this Sum.
    const GO_HELLO_ZIP: &str = "UEsDBBQACAAIAAAAAAAAAAAAAAAAAAAAAAAfAAAAZXhhbXBsZS5jb20vSGVsbG9AdjEuMC4wL2dvLm1vZMrNTynNSVVIrUjMLchJ1UvOz9X3SM3JyefiSs9XMNQzMuQCBAAA//9QSwcIPFDN8ygAAAAiAAAAUEsDBBQACAAIAAAAAAAAAAAAAAAAAAAAAAAhAAAAZXhhbXBsZS5jb20vSGVsbG9AdjEuMC4wL2hlbGxvLmdvKkhMzk5MT1XISM3JyefiSivNS1bwALE1NBWKS4oy89IVqhWKUktKi/IUlDIOr8zJyVdSqOUCBAAA//9QSwcIoQvfLjsAAAA3AAAAUEsDBBQACAAIAAAAAAAAAAAAAAAAAAAAAAAgAAAAZXhhbXBsZS5jb20vSGVsbG9AdjEuMC4wL0xJQ0VOU0UKSC3KzSwuzszPU8gsVkgvSswrSU3R4xoVHhUeFR5AYUAAAAD//1BLBwijAuqCJgAAAJgDAABQSwMEFAAIAAgAAAAAAAAAAAAAAAAAAAAAACYAAABleGFtcGxlLmNvbS9IZWxsb0B2MS4wLjAvc3ViL2VtcHR5LnR4dAEAAP//UEsHCAAAAAAFAAAAAAAAAFBLAwQUAAgICAAAAAAAAAAAAAAAAAAAAAAAKgAAAGV4YW1wbGUuY29tL0hlbGxvQHYxLjAuMC9zdWIvRMOpasOgIHZ1LnR4dKoABAAA//9QSwcIgxbcjAcAAAABAAAAUEsDBBQACAAIAAAAAAAAAAAAAAAAAAAAAAAnAAAAZXhhbXBsZS5jb20vSGVsbG9AdjEuMC4wLy5naXRodWIvY2kueW1sys+zUigoLc7gAgQAAP//UEsHCKF5eBUPAAAACQAAAFBLAQIUABQACAAIAAAAAAA8UM3zKAAAACIAAAAfAAAAAAAAAAAAAAAAAAAAAABleGFtcGxlLmNvbS9IZWxsb0B2MS4wLjAvZ28ubW9kUEsBAhQAFAAIAAgAAAAAAKEL3y47AAAANwAAACEAAAAAAAAAAAAAAAAAdQAAAGV4YW1wbGUuY29tL0hlbGxvQHYxLjAuMC9oZWxsby5nb1BLAQIUABQACAAIAAAAAACjAuqCJgAAAJgDAAAgAAAAAAAAAAAAAAAAAP8AAABleGFtcGxlLmNvbS9IZWxsb0B2MS4wLjAvTElDRU5TRVBLAQIUABQACAAIAAAAAAAAAAAABQAAAAAAAAAmAAAAAAAAAAAAAAAAAHMBAABleGFtcGxlLmNvbS9IZWxsb0B2MS4wLjAvc3ViL2VtcHR5LnR4dFBLAQIUABQACAgIAAAAAACDFtyMBwAAAAEAAAAqAAAAAAAAAAAAAAAAAMwBAABleGFtcGxlLmNvbS9IZWxsb0B2MS4wLjAvc3ViL0TDqWrDoCB2dS50eHRQSwECFAAUAAgACAAAAAAAoXl4FQ8AAAAJAAAAJwAAAAAAAAAAAAAAAAArAgAAZXhhbXBsZS5jb20vSGVsbG9AdjEuMC4wLy5naXRodWIvY2kueW1sUEsFBgAAAAAGAAYA6wEAAI8CAAAAAA==";

    /// example.com/dirs@v1.0.0 written by Go's archive/zip with a root
    /// entry, a directory entry twice, and two files. `go mod download`
    /// accepts it; its Sum (= dirhash.HashZip) counts the directory entries.
    const GO_DIRS_ZIP: &str = "UEsDBBQAAAAAAAAAAAAAAAAAAAAAAAAAAAAYAAAAZXhhbXBsZS5jb20vZGlyc0B2MS4wLjAvUEsDBBQACAAIAAAAAAAAAAAAAAAAAAAAAAAeAAAAZXhhbXBsZS5jb20vZGlyc0B2MS4wLjAvZ28ubW9kys1PKc1JVUitSMwtyEnVS87P1U/JLCrmAgQAAP//UEsHCLVb0ZoeAAAAGAAAAFBLAwQUAAAAAAAAAAAAAAAAAAAAAAAAAAAAHAAAAGV4YW1wbGUuY29tL2RpcnNAdjEuMC4wL3N1Yi9QSwMEFAAAAAAAAAAAAAAAAAAAAAAAAAAAABwAAABleGFtcGxlLmNvbS9kaXJzQHYxLjAuMC9zdWIvUEsDBBQACAAIAAAAAAAAAAAAAAAAAAAAAAAgAAAAZXhhbXBsZS5jb20vZGlyc0B2MS4wLjAvc3ViL2EuZ28qSEzOTkxPVSguTeICBAAA//9QSwcIOIglfRIAAAAMAAAAUEsBAhQAFAAAAAAAAAAAAAAAAAAAAAAAAAAAABgAAAAAAAAAAAAAAAAAAAAAAGV4YW1wbGUuY29tL2RpcnNAdjEuMC4wL1BLAQIUABQACAAIAAAAAAC1W9GaHgAAABgAAAAeAAAAAAAAAAAAAAAAADYAAABleGFtcGxlLmNvbS9kaXJzQHYxLjAuMC9nby5tb2RQSwECFAAUAAAAAAAAAAAAAAAAAAAAAAAAAAAAHAAAAAAAAAAAAAAAAACgAAAAZXhhbXBsZS5jb20vZGlyc0B2MS4wLjAvc3ViL1BLAQIUABQAAAAAAAAAAAAAAAAAAAAAAAAAAAAcAAAAAAAAAAAAAAAAANoAAABleGFtcGxlLmNvbS9kaXJzQHYxLjAuMC9zdWIvUEsBAhQAFAAIAAgAAAAAADiIJX0SAAAADAAAACAAAAAAAAAAAAAAAAAAFAEAAGV4YW1wbGUuY29tL2RpcnNAdjEuMC4wL3N1Yi9hLmdvUEsFBgAAAAAFAAUAdAEAAHQBAAAAAA==";

    fn b64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    #[test]
    fn go_made_zip_matches_go_sum() -> Result<()> {
        let m = ModuleVersion::new("example.com/Hello", "v1.0.0")?;
        let got = extract(&m, &b64(GO_HELLO_ZIP), &Limits::default())?;
        assert_eq!(
            got.ziphash,
            "h1:kjq36E+FR1Fo8wWAogONr+HcR3KFVD+Zy1Pt0VV1HhU="
        );
        let names: Vec<&str> = got.files.iter().map(|(n, _)| n.as_str()).collect();
        let want = [
            ".github/ci.yml",
            "LICENSE",
            "go.mod",
            "hello.go",
            "sub/Déjà vu.txt",
            "sub/empty.txt",
        ];
        assert_eq!(names, want);
        assert_eq!(got.files[2].1, "module example.com/Hello\n\ngo 1.21\n");
        Ok(())
    }

    #[test]
    fn directory_entries_count_in_the_hash_only() -> Result<()> {
        let m = ModuleVersion::new("example.com/dirs", "v1.0.0")?;
        let got = extract(&m, &b64(GO_DIRS_ZIP), &Limits::default())?;
        assert_eq!(
            got.ziphash,
            "h1:7qUJjwDDanv2Gv7ivFCUfFhcdwTlDo3iVjLG1tn7O0E="
        );
        let names: Vec<&str> = got.files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["go.mod", "sub/a.go"]);
        Ok(())
    }

    #[test]
    fn rejects_bad_paths() {
        for (name, needle) in [
            (
                "example.com/m@v1.0.0/../x.go",
                "invalid path element \"..\"",
            ),
            (
                "example.com/m@v1.0.0/a/../../x.go",
                "invalid path element \"..\"",
            ),
            ("example.com/m@v1.0.0/./x.go", "invalid path element \".\""),
            ("example.com/m@v1.0.0//etc/passwd", "empty path element"),
            ("/example.com/m@v1.0.0/x.go", "does not have prefix"),
            ("example.com/m@v1.0.0/a\\b.go", "invalid char '\\\\'"),
            ("example.com/m@v1.0.0/a\0b.go", "invalid char '\\0'"),
            (
                "example.com/m@v1.0.0/con.go",
                "disallowed as path element component on Windows",
            ),
            ("example.com/m@v1.0.0/a:b.go", "invalid char ':'"),
            ("example.com/other@v1.0.0/x.go", "does not have prefix"),
            ("example.com/m@v1.0.1/x.go", "does not have prefix"),
            ("example.com/M@v1.0.0/x.go", "does not have prefix"),
            ("example.com/m@v1.0.0x.go", "does not have prefix"),
            (
                "example.com/m@v1.0.0/sub/go.mod",
                "go.mod file not in module root directory",
            ),
            (
                "example.com/m@v1.0.0/GO.MOD",
                "go.mod files must have lowercase names",
            ),
            ("example.com/m@v1.0.0/..", "invalid path element \"..\""),
        ] {
            let zip = build(&[("example.com/m@v1.0.0/ok.go", b"package m\n"), (name, b"x")]);
            let res = extract_default(&zip);
            assert_rejected(res, needle);
        }
    }

    #[test]
    fn rejects_bad_directory_entries() {
        let zip = build(&[("example.com/m@v1.0.0/../", b"")]);
        assert_rejected(extract_default(&zip), "invalid path element");
        let zip = build(&[
            ("example.com/m@v1.0.0/a.go", b""),
            ("example.com/m@v1.0.0/A.GO/", b""),
        ]);
        assert_rejected(
            extract_default(&zip),
            "case-insensitive file name collision",
        );
    }

    #[test]
    fn rejects_unicode_path_renames() {
        // Go reads "a.go"; the zip crate would apply the extra field and
        // read "b.go".
        let (name, other) = (format!("{P}a.go"), format!("{P}b.go"));
        let mut field = vec![1u8];
        field.extend(crc32fast::hash(name.as_bytes()).to_le_bytes());
        field.extend(other.as_bytes());
        let mut o = zip::write::FullFileOptions::default();
        o.add_extra_field(0x7075, field, false).unwrap();
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file(&name, o).unwrap();
        let zip = w.finish().unwrap().into_inner();
        assert_rejected(extract_default(&zip), "Unicode Path");
    }

    #[test]
    fn rejects_duplicates() {
        let mut zip = build(&[
            ("example.com/m@v1.0.0/a.go", b"package a\n"),
            ("example.com/m@v1.0.0/b.go", b"package b\n"),
        ]);
        patch_all(&mut zip, b"@v1.0.0/b.go", b"@v1.0.0/a.go");
        assert_rejected(extract_default(&zip), "multiple entries for file \"a.go\"");
    }

    #[test]
    fn rejects_case_collisions() {
        for (a, b) in [
            ("README", "readme"),
            ("sub/x.go", "SUB/y.go"),
            ("Straße.txt", "STRAßE.txt"),
            ("ſ.txt", "S.txt"),        // U+017F LATIN SMALL LETTER LONG S
            ("K.txt", "\u{212A}.txt"), // KELVIN SIGN
            ("ς.txt", "Σ.txt"),
        ] {
            let zip = build(&[(&format!("{P}{a}"), b"1"), (&format!("{P}{b}"), b"2")]);
            assert_rejected(
                extract_default(&zip),
                "case-insensitive file name collision",
            );
        }
        // Distinct under Go's simple folding.
        for (a, b) in [("ß.txt", "ss.txt"), ("ı.txt", "i.txt"), ("İ.txt", "i.txt")] {
            let zip = build(&[(&format!("{P}{a}"), b"1"), (&format!("{P}{b}"), b"2")]);
            assert!(extract_default(&zip).is_ok(), "{a} {b}");
        }
    }

    #[test]
    fn rejects_file_and_directory() {
        let zip = build(&[(&format!("{P}a"), b"1"), (&format!("{P}a/b.go"), b"2")]);
        assert_rejected(
            extract_default(&zip),
            "entry \"a\" is both a file and a directory",
        );
        let zip = build(&[(&format!("{P}a/b.go"), b"1"), (&format!("{P}a"), b"2")]);
        assert_rejected(extract_default(&zip), "is both a file and a directory");
        let zip = build(&[(&format!("{P}a"), b"1"), (&format!("{P}a/"), b"")]);
        assert_rejected(extract_default(&zip), "is both a file and a directory");
    }

    #[test]
    fn serves_symlinks_and_irregular_files_as_regular_files_like_go() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file(format!("{P}a.go"), opts()).unwrap();
        w.add_symlink(format!("{P}link"), "a.go", opts()).unwrap();
        let zip = w.finish().unwrap().into_inner();
        let m = extract_default(&zip).unwrap();
        let link = m.files.iter().find(|(p, _)| p == "link").unwrap();
        assert_eq!(&link.1[..], b"a.go");

        // A FIFO (mode 0o010644) made by a Unix host.
        let name = format!("{P}fifo");
        let mut zip = build(&[(&name, b"")]);
        let (_, central) = headers(&zip, &name);
        zip[central + 5] = 3; // version made by: Unix
        zip[central + 38..central + 42].copy_from_slice(&(0o010_644u32 << 16).to_le_bytes());
        assert_eq!(extract_default(&zip).unwrap().files.len(), 1);
    }

    #[test]
    fn rejects_encrypted_and_unknown_methods() {
        let name = format!("{P}a.go");
        let mut zip = build(&[(&name, b"package a\n")]);
        patch_field(&mut zip, &name, 6, 8, &[0x01]); // general purpose flag bit 0
        assert_rejected(extract_default(&zip), "encrypted");

        let mut zip = build(&[(&name, b"package a\n")]);
        patch_field(&mut zip, &name, 8, 10, &12u16.to_le_bytes()); // bzip2
        assert_rejected(extract_default(&zip), "unsupported compression method");
    }

    #[test]
    fn rejects_mismatched_sizes_and_checksums() {
        let name = format!("{P}a.go");
        let data = b"package a\n";
        // Declared one byte longer than the content.
        let mut zip = build(&[(&name, data)]);
        patch_field(&mut zip, &name, 22, 24, &11u32.to_le_bytes());
        assert_rejected(extract_default(&zip), "entry");
        // Declared one byte shorter.
        let mut zip = build(&[(&name, data)]);
        patch_field(&mut zip, &name, 22, 24, &9u32.to_le_bytes());
        assert_rejected(extract_default(&zip), "declared");
        // Wrong CRC-32.
        let mut zip = build(&[(&name, data)]);
        patch_field(&mut zip, &name, 14, 16, &1u32.to_le_bytes());
        assert_rejected(extract_default(&zip), "checksum");
    }

    #[test]
    fn zip_bombs_stop_at_the_declared_size() {
        // 64 MiB of zeros deflate to ~64 KiB but declare 1000 bytes.
        let name = format!("{P}bomb");
        let mut zip = build(&[(&name, &vec![0u8; 64 << 20])]);
        assert!(zip.len() < 1 << 20);
        patch_field(&mut zip, &name, 22, 24, &1000u32.to_le_bytes());
        let start = std::time::Instant::now();
        assert_rejected(extract_default(&zip), "declared");
        // Inflating all 64 MiB would take far longer than inflating 1001 bytes.
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn size_limits() {
        let small = Limits {
            max_total: 1000,
            max_go_mod: 10,
            max_license: 20,
            max_files: 3,
        };
        let ex = |entries: &[(&str, &[u8])]| extract(&mv(), &build(entries), &small);
        let f = |n: &str| format!("{P}{n}");
        assert!(ex(&[(&f("go.mod"), &[b'x'; 10]), (&f("LICENSE"), &[b'x'; 20])]).is_ok());
        assert_rejected(ex(&[(&f("go.mod"), &[b'x'; 11])]), "go.mod file too large");
        assert_rejected(
            ex(&[(&f("LICENSE"), &[b'x'; 21])]),
            "LICENSE file too large",
        );
        assert!(ex(&[(&f("sub/LICENSE"), &[b'x'; 21])]).is_ok());
        assert_rejected(
            ex(&[(&f("a"), &[0; 600]), (&f("b"), &[0; 401])]),
            "total uncompressed size of module contents too large",
        );
        assert_rejected(
            ex(&[
                (&f("a"), b""),
                (&f("b"), b""),
                (&f("c"), b""),
                (&f("d"), b""),
            ]),
            "too many entries",
        );
        // The zip itself over max_total: incompressible-ish content, stored.
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        w.start_file(f("a"), stored).unwrap();
        w.write_all(&[7; 990]).unwrap();
        let zip = w.finish().unwrap().into_inner();
        assert_rejected(extract(&mv(), &zip, &small), "module zip file is too large");
    }

    #[test]
    fn declared_size_over_the_limit_is_rejected_before_inflating() {
        // Declares 4 GiB - 1: rejected on metadata, nothing is allocated.
        let name = format!("{P}big");
        let mut zip = build(&[(&name, b"tiny")]);
        patch_field(&mut zip, &name, 22, 24, &u32::MAX.to_le_bytes());
        assert_rejected(extract_default(&zip), "total uncompressed size");
    }

    #[test]
    fn module_path_and_version_must_agree() {
        let m = ModuleVersion::new("example.com/m", "v2.0.0").unwrap();
        let zip = build(&[("example.com/m@v2.0.0/a.go", b"")]);
        assert!(matches!(
            extract(&m, &zip, &Limits::default()),
            Err(Error::InvalidZip { .. })
        ));
    }

    #[test]
    fn empty_truncated_and_corrupt_zips_never_panic() {
        assert_rejected(extract_default(b""), "not a valid zip file");
        assert_rejected(extract_default(b"PK\x03\x04"), "not a valid zip file");
        let zip = build(&[
            (&format!("{P}go.mod"), b"module example.com/m\n"),
            (&format!("{P}a.go"), &b"package a\n".repeat(50)),
        ]);
        assert!(extract_default(&zip).is_ok());
        for len in 0..zip.len() {
            assert!(extract_default(&zip[..len]).is_err(), "truncated at {len}");
        }
        for i in 0..zip.len() {
            for bit in [0x01, 0x80] {
                let mut z = zip.clone();
                z[i] ^= bit;
                let _ = extract_default(&z);
            }
        }
    }

    #[test]
    fn an_empty_module_is_valid() -> Result<()> {
        let got = extract_default(&build(&[]))?;
        assert!(got.files.is_empty());
        assert_eq!(
            got.ziphash,
            dirhash::h1(std::iter::empty::<(&str, &[u8])>())?
        );
        Ok(())
    }
}
