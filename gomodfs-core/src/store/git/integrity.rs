//! Checking what is read from the store, and finding an intact copy of an
//! object when the one gix found is damaged.
//!
//! - Every object read through gix is hashed (with its git header) and
//!   compared with the id it was asked for: an index whose offsets were
//!   edited, a pack whose bytes changed, a loose object that was replaced,
//!   all give an error, never wrong bytes. Whole objects read straight from
//!   a pack (`pack_read`, the common case on unix) are checked against the
//!   CRC-32 the index keeps of each entry instead, with the same reach for
//!   damage; what fails that check is read again through gix and this
//!   module. The node API caches file contents after the check, so hot
//!   reads do not pay for it again.
//! - Every pack index is checked when the store is opened: it must be a
//!   regular file whose SHA-1 trailer matches its contents. A damaged one is
//!   renamed to `pack-<sum>.idx.damaged` (its `.pack` stays, for `git
//!   index-pack`), so neither gix nor git use it; the objects only it held
//!   are then missing, which makes their modules damaged (refetched when
//!   the upstream is reachable).
//! - When gix cannot read an object or reads wrong bytes, the other packs
//!   are searched for an intact whole (non-delta) copy: after a damaged
//!   module is fetched again, its objects are in a new pack next to the
//!   damaged ones, and gix may keep finding the damaged copy first.

use super::pack;
use bytes::Bytes;
use flate2::read::ZlibDecoder;
use gix_hash::oid;
use sha1::{Digest, Sha1};
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The suffix added to a damaged pack index's name.
pub(crate) const DAMAGED_SUFFIX: &str = "damaged";

/// Checks that `data`, read as object `id`, hashes to `id`.
pub(crate) fn check_object(id: &oid, kind: gix_object::Kind, data: &[u8]) -> Result<(), String> {
    let actual = super::pack::object_id_of_type(kind.as_bytes(), data);
    if actual == id {
        Ok(())
    } else {
        Err(format!(
            "object {id} read back as a {kind} of {} bytes that hashes to {actual} \
             (a pack or its index was changed on disk)",
            data.len()
        ))
    }
}

/// Metadata of `path` without following a symlink or opening it: a FIFO or
/// device is never opened (opening a FIFO blocks).
pub(crate) fn regular_file_len(path: &Path) -> io::Result<u64> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_file() {
        Ok(meta.len())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is not a regular file (it is a {})",
                path.display(),
                file_type_name(&meta.file_type())
            ),
        ))
    }
}

/// A word for a file type, for messages.
fn file_type_name(t: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "FIFO";
        }
        if t.is_socket() {
            return "socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "device";
        }
    }
    if t.is_symlink() {
        "symbolic link"
    } else if t.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

/// Reads a whole file that must be a regular file (see [`regular_file_len`]).
pub(crate) fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    regular_file_len(path)?;
    fs::read(path)
}

/// Why the pack index at `path` cannot be trusted, if it cannot: not a
/// regular file, too short, or a trailer that does not match its contents.
pub(crate) fn check_idx(path: &Path) -> io::Result<Option<String>> {
    let data = match read_regular(path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(Some(e.to_string())),
        Err(e) => return Err(e),
    };
    // Header, fan-out table, pack checksum, index checksum.
    if data.len() < 8 + 1024 + 40 {
        return Ok(Some(format!("only {} bytes long", data.len())));
    }
    let (body, trailer) = data.split_at(data.len() - 20);
    if Sha1::digest(body).as_slice() != trailer {
        return Ok(Some(
            "its checksum does not match its contents (the file was changed or damaged)".into(),
        ));
    }
    Ok(None)
}

/// The `*.idx` entries of `pack_dir` (whatever their file type).
fn idx_paths(pack_dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(pack_dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "idx") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// What identifies a file's version: its size, modification time and
/// (on unix) device and inode. A file changed in place or replaced has
/// another stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64),
}

impl FileStamp {
    /// The stamp of the file at `path` (not following a symlink).
    pub(crate) fn of(path: &Path) -> Option<FileStamp> {
        let meta = fs::symlink_metadata(path).ok()?;
        #[cfg(unix)]
        let inode = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        Some(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            inode,
        })
    }
}

/// The pack indexes found intact when the store was opened, each with its
/// stamp then: one whose stamp is still the same need not be hashed again
/// (the pack reader maps it).
pub(crate) type IntactIndexes = Vec<(PathBuf, FileStamp)>;

/// Checks every pack index in `pack_dir` (see [`check_idx`]) and renames
/// each damaged one to `<name>.damaged`, logging why. Returns the indexes
/// found intact, each with its stamp (taken before and after the check;
/// an index that changed meanwhile is not among them). Best effort: a
/// failure to list or rename is logged.
pub(crate) fn set_aside_damaged_indexes(pack_dir: &Path) -> IntactIndexes {
    let mut intact = Vec::new();
    let paths = match idx_paths(pack_dir) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return intact,
        Err(e) => {
            tracing::warn!(dir = %pack_dir.display(), error = %e, "cannot list pack indexes to check them");
            return intact;
        }
    };
    for path in paths {
        let before = FileStamp::of(&path);
        let why = match check_idx(&path) {
            Ok(None) => {
                if let Some(stamp) = before.filter(|b| FileStamp::of(&path).as_ref() == Some(b)) {
                    intact.push((path, stamp));
                }
                continue;
            }
            Ok(Some(why)) => why,
            // Removed meanwhile (compaction in another process).
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                tracing::warn!(idx = %path.display(), error = %e, "cannot check pack index");
                continue;
            }
        };
        let mut aside = path.clone().into_os_string();
        aside.push(".");
        aside.push(DAMAGED_SUFFIX);
        match fs::rename(&path, &aside) {
            Ok(()) => {
                tracing::error!(
                    idx = %path.display(),
                    renamed_to = %PathBuf::from(&aside).display(),
                    cause = %why,
                    "pack index is damaged: not using it; modules whose objects only it \
                     held are damaged and fetched again when read"
                );
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::error!(
                idx = %path.display(),
                cause = %why,
                error = %e,
                "pack index is damaged and cannot be set aside"
            ),
        }
    }
    intact
}

/// Searches every pack in `pack_dir` for an intact whole copy of object
/// `id` (one whose bytes hash to `id`) and returns its kind and contents.
/// Delta entries (only in packs git wrote) are not resolved here.
pub(crate) fn find_intact(pack_dir: &Path, id: &oid) -> Option<(gix_object::Kind, Bytes)> {
    let paths = idx_paths(pack_dir).ok()?;
    paths
        .iter()
        .find_map(|idx| read_from_pack(idx, id).ok().flatten())
}

/// Reads object `id` from the pack of index `idx_path`, if the index lists
/// it as a whole object and its bytes hash to `id`.
fn read_from_pack(idx_path: &Path, id: &oid) -> io::Result<Option<(gix_object::Kind, Bytes)>> {
    let idx = read_regular(idx_path)?;
    // parse_idx checks the index's own checksum too.
    let Some((entries, _)) = pack::parse_idx(&idx) else {
        return Ok(None);
    };
    let Ok(i) = entries.binary_search_by(|e| e.id.as_ref().cmp(id)) else {
        return Ok(None);
    };
    let pack_path = idx_path.with_extension("pack");
    regular_file_len(&pack_path)?;
    let mut file = File::open(&pack_path)?;
    file.seek(SeekFrom::Start(entries[i].offset))?;
    // A header is at most 9 bytes (`pack::parse_entry_header`).
    let mut head = Vec::with_capacity(16);
    (&mut file).take(16).read_to_end(&mut head)?;
    let Ok((kind, size, at)) = pack::parse_entry_header(&head, 0) else {
        return Ok(None);
    };
    file.seek(SeekFrom::Start(entries[i].offset.saturating_add(at as u64)))?;
    let r = BufReader::with_capacity(64 << 10, file);
    let Ok(len) = usize::try_from(size) else {
        return Ok(None);
    };
    let mut data = Vec::with_capacity(len.min(64 << 20));
    ZlibDecoder::new(r)
        .take(size.saturating_add(1))
        .read_to_end(&mut data)?;
    if data.len() != len || check_object(id, kind, &data).is_err() {
        return Ok(None);
    }
    Ok(Some((kind, Bytes::from(data))))
}
