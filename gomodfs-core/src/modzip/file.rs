//! A module zip on disk, validated entry by entry without holding any
//! file's contents in memory: [`ModuleZip`].
//!
//! The checks are those of [`extract`](super::extract) (same metadata pass,
//! same errors); the second pass streams each entry through its CRC-32
//! check and SHA-256 in small chunks, so memory stays bounded whatever the
//! size of the module. The same pass computes each file's git blob id and
//! whether its raw deflate stream can be copied into a pack (see the
//! `digest` module), so storing the module inflates nothing again.

use super::digest::{ContentHashers, EntryDigests, inflate_exact};
use super::{
    Checked, CheckedFile, Limits, Method, central_names, check_entries, check_module,
    check_zip_len, entry_error, invalid, ziphash_of,
};
use crate::error::{Error, Result};
use crate::modpath::ModuleVersion;
use crate::store::ModuleContents;
use bytes::Bytes;
use parking_lot::Mutex;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use zip::ZipArchive;
use zip::read::ZipReadOptions;

/// Bytes read per step when streaming an entry.
const CHUNK: usize = 256 << 10;

/// A larger central directory is refused: it would have to be read into
/// memory (a real module's is well under a megabyte per thousand files).
const MAX_CENTRAL_DIRECTORY: u64 = 64 << 20;

/// One file of a [`ModuleZip`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipFileEntry {
    /// Path relative to the module root.
    pub path: String,
    /// Uncompressed size in bytes (validated: the entry inflates to exactly
    /// this many bytes).
    pub size: u64,
    /// How the entry is compressed.
    pub method: Method,
    /// The entry's compressed size in the zip.
    pub compressed_size: u64,
    index: usize,
    digests: EntryDigests,
}

impl ZipFileEntry {
    /// The git blob id of the contents (computed while validating).
    pub(crate) fn git_blob(&self) -> gix_hash::ObjectId {
        self.digests.blob
    }

    /// The contents' Adler-32 if the entry's raw deflate stream ends
    /// exactly at its compressed size, so a pack can take it as is.
    pub(crate) fn raw_adler32(&self) -> Option<u32> {
        self.digests.raw_adler32
    }
}

/// A module zip in a file, validated like golang.org/x/mod/zip validates
/// one (see [`extract`](super::extract)), with its `h1:` hash. The files
/// are read back from the zip on demand, one at a time.
pub struct ModuleZip {
    module: ModuleVersion,
    archive: Mutex<ZipArchive<BufReader<File>>>,
    files: Vec<ZipFileEntry>,
    ziphash: String,
    len: u64,
}

impl std::fmt::Debug for ModuleZip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleZip")
            .field("module", &self.module)
            .field("files", &self.files.len())
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Reads `file` through the zip reader (inflated, CRC-checked unless its
/// header's CRC is 0, never past its declared size): its compressed size
/// and digests, or the error `extract` gives for it.
fn read_entry(
    module: &ModuleVersion,
    archive: &mut ZipArchive<BufReader<File>>,
    file: &CheckedFile,
    name: &str,
    buf: &mut [u8],
) -> Result<(u64, EntryDigests)> {
    let options = ZipReadOptions::new().ignore_crc32(file.crc32 == 0);
    let mut entry = archive
        .by_index_with_options(file.index, options)
        .map_err(|e| entry_error(module, name.as_bytes(), &e))?;
    let compressed_size = entry.compressed_size();
    let mut hashers = ContentHashers::new(file.size);
    let mut reader = (&mut entry).take(file.size.saturating_add(1));
    let mut got: u64 = 0;
    loop {
        let n = reader
            .read(buf)
            .map_err(|e| entry_error(module, name.as_bytes(), &e))?;
        if n == 0 {
            break;
        }
        hashers.update(&buf[..n]);
        got += n as u64;
    }
    if got != file.size {
        return Err(entry_error(
            module,
            name.as_bytes(),
            &format!(
                "uncompressed size {got} does not match declared size {}",
                file.size
            ),
        ));
    }
    Ok((compressed_size, hashers.finish_contents()))
}

impl ModuleZip {
    /// Validates the module zip in `file` (read from its start) and
    /// computes its `h1:` hash, reading each entry once in small chunks.
    /// Rejects exactly what [`extract`](super::extract) rejects, with the
    /// same [`Error::InvalidZip`] messages; an error reading the file
    /// itself is [`Error::Io`].
    pub fn open(module: &ModuleVersion, mut file: File, limits: &Limits) -> Result<ModuleZip> {
        let io = |e: std::io::Error| Error::io(format!("{module}: reading the module zip"), e);
        check_module(module)?;
        let len = file.seek(SeekFrom::End(0)).map_err(io)?;
        check_zip_len(module, len, limits)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let not_zip =
            |e: zip::result::ZipError| invalid(module, format!("not a valid zip file: {e}"));
        let archive = ZipArchive::new(BufReader::with_capacity(64 << 10, file)).map_err(not_zip)?;
        let start = archive.central_directory_start();
        let tail_len = len.saturating_sub(start);
        if tail_len > MAX_CENTRAL_DIRECTORY {
            return Err(invalid(
                module,
                format!("central directory too large ({tail_len} bytes)"),
            ));
        }
        // The raw central directory, for the names as Go reads them; then
        // the archive again, its reader at a known position.
        let mut reader = archive.into_inner();
        let mut tail = Vec::with_capacity(usize::try_from(tail_len).unwrap_or(0));
        reader.seek(SeekFrom::Start(start)).map_err(io)?;
        (&mut reader)
            .take(tail_len)
            .read_to_end(&mut tail)
            .map_err(io)?;
        reader.seek(SeekFrom::Start(0)).map_err(io)?;
        let mut archive = ZipArchive::new(reader).map_err(not_zip)?;
        let names = central_names(&tail, 0)
            .ok_or_else(|| invalid(module, "cannot read the zip's central directory".into()))?;
        let Checked { files, dirs } = check_entries(module, &archive, &names, limits)?;
        drop(tail);

        // Second pass: each entry streamed through its CRC-32 check and
        // SHA-256, never past its declared size.
        let prefix = module.zip_prefix();
        let mut file_digests = Vec::with_capacity(files.len() + dirs.len());
        let mut entries = Vec::with_capacity(files.len());
        let mut buf = vec![0u8; CHUNK];
        let mut out = vec![0u8; CHUNK];
        let mut read_again = 0usize;
        for file in files {
            let name = format!("{prefix}{}", file.path);
            // Deflated: inflated here, all hashes in one pass; anything not
            // exactly as declared goes through the zip reader below, which
            // accepts it (no raw reuse) or rejects it with its usual error.
            let mut compressed_size = 0;
            let mut one_pass = None;
            if file.method == Method::Deflated
                && let Ok(mut raw) = archive.by_index_raw(file.index)
            {
                compressed_size = raw.compressed_size();
                let crc = (file.crc32 != 0).then_some(file.crc32);
                one_pass = inflate_exact(
                    &mut raw,
                    file.size,
                    compressed_size,
                    crc,
                    &mut buf,
                    &mut out,
                )
                .ok()
                .flatten();
            }
            let digests = match one_pass {
                Some(d) => d,
                None => {
                    read_again += 1;
                    let (size, read) = read_entry(module, &mut archive, &file, &name, &mut buf)?;
                    compressed_size = size;
                    read
                }
            };
            file_digests.push((name, digests.sha256));
            entries.push(ZipFileEntry {
                path: file.path,
                size: file.size,
                method: file.method,
                compressed_size,
                index: file.index,
                digests,
            });
        }
        tracing::debug!(
            %module,
            files = entries.len(),
            read_again,
            "validated zip (files read again through the zip reader: stored, or not exactly as declared)"
        );
        let ziphash = ziphash_of(module, file_digests, &dirs)?;
        entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        Ok(ModuleZip {
            module: module.clone(),
            archive: Mutex::new(archive),
            files: entries,
            ziphash,
            len,
        })
    }

    /// The module version this zip holds.
    pub fn module(&self) -> &ModuleVersion {
        &self.module
    }

    /// The `h1:` hash `go` records for this zip.
    pub fn ziphash(&self) -> &str {
        &self.ziphash
    }

    /// The files, sorted bytewise by path (directory entries not listed).
    pub fn files(&self) -> &[ZipFileEntry] {
        &self.files
    }

    /// Size of the zip file in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the zip file is empty (never, for a validated zip).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Calls `f` with a reader of `file`'s contents (inflated, CRC-checked
    /// at the end, bounded to its size).
    pub fn read_contents<T>(
        &self,
        file: &ZipFileEntry,
        f: impl FnOnce(&mut dyn Read) -> std::io::Result<T>,
    ) -> Result<T> {
        self.read(file, false, |r| f(&mut r.take(file.size)))
    }

    /// Calls `f` with a reader of `file`'s bytes as they are in the zip:
    /// the raw deflate stream for [`Method::Deflated`], the contents for
    /// [`Method::Stored`].
    pub fn read_raw<T>(
        &self,
        file: &ZipFileEntry,
        f: impl FnOnce(&mut dyn Read) -> std::io::Result<T>,
    ) -> Result<T> {
        self.read(file, true, f)
    }

    /// [`ModuleZip::read_raw`] or [`ModuleZip::read_contents`] (unbounded).
    fn read<T>(
        &self,
        file: &ZipFileEntry,
        raw: bool,
        f: impl FnOnce(&mut dyn Read) -> std::io::Result<T>,
    ) -> Result<T> {
        let mut archive = self.archive.lock();
        let entry = if raw {
            archive.by_index_raw(file.index)
        } else {
            archive.by_index(file.index)
        };
        let mut entry = entry.map_err(|e| self.read_error(file, std::io::Error::other(e)))?;
        f(&mut entry).map_err(|e| self.read_error(file, e))
    }

    /// Every file in memory, as [`ModuleContents`] with `info` and
    /// `go_mod`: for stores that take whole modules only.
    pub fn to_contents(&self, info: Bytes, go_mod: Bytes) -> Result<ModuleContents> {
        let mut files = Vec::with_capacity(self.files.len());
        for file in &self.files {
            let data = self.read_contents(file, |r| {
                let mut data = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0));
                r.read_to_end(&mut data)?;
                Ok(data)
            })?;
            files.push((file.path.clone(), Bytes::from(data)));
        }
        Ok(ModuleContents {
            info,
            go_mod,
            ziphash: self.ziphash.clone(),
            files,
        })
    }

    fn read_error(&self, file: &ZipFileEntry, e: std::io::Error) -> Error {
        Error::io(
            format!("{}: reading {} from the module zip", self.module, file.path),
            e,
        )
    }
}
