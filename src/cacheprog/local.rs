//! The local directory tier: go's build cache objects on disk, shared by
//! every helper process on the host.
//!
//! Layout under the root:
//!
//! - `o/XX/<OutputID hex>`: object bodies, content-addressed (`XX` is the
//!   first two hex digits). The path is what go gets as `DiskPath`.
//! - `a/XX/<ActionID hex>`: action entries, one line `<OutputID hex>
//!   <size>`.
//! - `tmp/`: files being written. Every object and entry is written there
//!   first and renamed into place, so a crash never leaves a torn file under
//!   a final name; an entry is written after its object, so no entry names
//!   an object that was never complete.
//!
//! A hit refreshes the object's modification time (at most every
//! [`TOUCH_INTERVAL`]): trimming evicts the least recently used objects.

use super::protocol::Key;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A hit refreshes the object's mtime when it is older than this.
pub const TOUCH_INTERVAL: Duration = Duration::from_secs(600);

/// Lower-case hex of a key.
pub fn hex(key: &Key) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key of a lower-case or upper-case hex string of 64 digits.
pub(crate) fn unhex(text: &str) -> Option<Key> {
    if text.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(key)
}

/// An object found for an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Its OutputID.
    pub output: Key,
    /// Its size in bytes.
    pub size: u64,
    /// The absolute path of its body.
    pub path: PathBuf,
}

/// A cache directory.
#[derive(Debug, Clone)]
pub struct LocalDir {
    root: PathBuf,
    /// Whether hits may refresh mtimes (false for the shared directory of a
    /// `--read-only` helper, which must not change it at all).
    touch: bool,
}

/// A body being written: a temporary file renamed into place by
/// [`LocalDir::commit`].
pub struct NewObject {
    file: io::BufWriter<File>,
    temp: tempfile::TempPath,
}

impl Write for NewObject {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl LocalDir {
    /// The directory at `root` (an absolute path is made from a relative
    /// one), created if `create`.
    pub fn open(root: &Path, create: bool, touch: bool) -> io::Result<LocalDir> {
        let root = std::path::absolute(root)?;
        if create {
            for sub in ["o", "a", "tmp"] {
                fs::create_dir_all(root.join(sub))?;
            }
        }
        Ok(LocalDir { root, touch })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the object `output` lives.
    pub fn object_path(&self, output: &Key) -> PathBuf {
        let h = hex(output);
        self.root.join("o").join(&h[..2]).join(h)
    }

    fn action_path(&self, action: &Key) -> PathBuf {
        let h = hex(action);
        self.root.join("a").join(&h[..2]).join(h)
    }

    /// The object stored for `action`, if its entry and a complete object
    /// (of the size the entry names) are there.
    pub fn get(&self, action: &Key) -> io::Result<Option<Hit>> {
        let mut buf = [0u8; ENTRY_MAX];
        let entry = match read_entry(&self.action_path(action), &mut buf) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some((output, size)) = std::str::from_utf8(entry).ok().and_then(parse_entry) else {
            tracing::warn!(action = %hex(action), "malformed action entry: a miss");
            return Ok(None);
        };
        let path = self.object_path(&output);
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if meta.len() != size {
            tracing::warn!(object = %path.display(), size, found = meta.len(), "object of the wrong size: a miss");
            return Ok(None);
        }
        if self.touch {
            self.refresh(&path, &meta);
        }
        Ok(Some(Hit { output, size, path }))
    }

    /// Sets the mtime of a used object to now if it is older than
    /// [`TOUCH_INTERVAL`] (trimming then keeps it).
    fn refresh(&self, path: &Path, meta: &fs::Metadata) {
        let now = SystemTime::now();
        let stale = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > TOUCH_INTERVAL);
        if stale
            && let Err(e) = File::options()
                .write(true)
                .open(path)
                .and_then(|f| f.set_modified(now))
        {
            tracing::debug!(object = %path.display(), error = %e, "refreshing mtime");
        }
    }

    /// A new temporary file for a body.
    pub fn create(&self) -> io::Result<NewObject> {
        let tmp = self.root.join("tmp");
        let named = match tempfile::Builder::new().prefix("o-").tempfile_in(&tmp) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&tmp)?;
                tempfile::Builder::new().prefix("o-").tempfile_in(&tmp)?
            }
            other => other?,
        };
        let (file, temp) = named.into_parts();
        Ok(NewObject {
            file: io::BufWriter::with_capacity(64 * 1024, file),
            temp,
        })
    }

    /// Moves a complete body into place as object `output` and records
    /// `action` → (`output`, `size`); returns the object's path.
    pub fn commit(
        &self,
        object: NewObject,
        action: &Key,
        output: &Key,
        size: u64,
    ) -> io::Result<PathBuf> {
        let NewObject { file, temp } = object;
        file.into_inner().map_err(io::IntoInnerError::into_error)?;
        let path = self.object_path(output);
        persist(temp, &path)?;
        self.record(action, output, size)?;
        Ok(path)
    }

    /// Writes the entry `action` → (`output`, `size`) atomically.
    pub fn record(&self, action: &Key, output: &Key, size: u64) -> io::Result<()> {
        let mut entry = self.create()?;
        writeln!(entry, "{} {size}", hex(output))?;
        let NewObject { file, temp } = entry;
        file.into_inner().map_err(io::IntoInnerError::into_error)?;
        persist(temp, &self.action_path(action))
    }
}

/// Renames a temporary file to `path`, creating its directory if needed.
fn persist(temp: tempfile::TempPath, path: &Path) -> io::Result<()> {
    match temp.persist(path) {
        Ok(()) => Ok(()),
        Err(e) if e.error.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            e.path.persist(path).map_err(|e| e.error)
        }
        Err(e) => Err(e.error),
    }
}

/// An action entry is shorter than this (64 hex digits, a space, a size
/// and a newline).
const ENTRY_MAX: usize = 128;

/// Reads the entry at `path` into `buf`: open, one read (an entry is a
/// line written whole and renamed into place), close, where
/// `fs::read_to_string` also stats the file and reads once more to find
/// its end. A hit costs these calls and a stat of the object, so they
/// count.
fn read_entry<'a>(path: &Path, buf: &'a mut [u8; ENTRY_MAX]) -> io::Result<&'a [u8]> {
    let mut file = File::open(path)?;
    let mut len = 0;
    while len < buf.len() && !buf[..len].contains(&b'\n') {
        match io::Read::read(&mut file, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(&buf[..len])
}

/// Parses an action entry: `<OutputID hex> <size>`.
pub(crate) fn parse_entry(entry: &str) -> Option<(Key, u64)> {
    let (output, size) = entry.trim_end().split_once(' ')?;
    Some((unhex(output)?, size.parse().ok()?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn put_then_get_and_misses() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalDir::open(dir.path(), true, true).unwrap();
        assert_eq!(local.get(&[1; 32]).unwrap(), None);
        let mut obj = local.create().unwrap();
        obj.write_all(b"body").unwrap();
        let path = local.commit(obj, &[1; 32], &[2; 32], 4).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"body");
        let hit = local.get(&[1; 32]).unwrap().unwrap();
        assert_eq!((hit.output, hit.size, hit.path), ([2; 32], 4, path.clone()));
        // A truncated object is a miss, never a hit of the wrong size.
        fs::write(&path, b"bo").unwrap();
        assert_eq!(local.get(&[1; 32]).unwrap(), None);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        assert_eq!(unhex(&hex(&[0xab; 32])), Some([0xab; 32]));
    }
}
