//! The repository layout on disk: creating it, durable file writes, temp
//! files and their cleanup.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Temp files older than this are left-overs of a killed process.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(3600);

/// Prefix of temp files next to refs and in the repository root. Git's
/// loose-ref reader skips names starting with a dot, and so do we.
pub(crate) const TMP_REF_PREFIX: &str = ".tmp-gomodfs-";
/// Prefix of a pack being written, in `objects/pack`. No `.pack`/`.idx`
/// extension, so no reader (gix, git) takes it for a pack.
pub(crate) const TMP_PACK_PREFIX: &str = "tmp_pack_gomodfs_";
/// Prefix of a pack index being written, in `objects/pack`.
pub(crate) const TMP_IDX_PREFIX: &str = "tmp_idx_gomodfs_";
/// Prefix of a loose object being written, in `objects/`.
pub(crate) const TMP_OBJ_PREFIX: &str = "tmp_obj_gomodfs_";

/// `HEAD` of the bare repository. The branch never exists: there are no commits.
pub(crate) const HEAD: &[u8] = b"ref: refs/heads/main\n";
/// `config` of the bare repository. `gc.packRefs = false` keeps `git gc`
/// from moving our loose refs into `packed-refs` (which this store does not
/// read); `gc.auto = 0` keeps git commands from starting a gc on their own.
pub(crate) const CONFIG: &[u8] = b"[core]\n\trepositoryformatversion = 0\n\tbare = true\n\
[gc]\n\tpackRefs = false\n\tauto = 0\n";

/// Paths inside the repository.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// The repository (`--git-dir`).
    pub(crate) root: PathBuf,
    /// `objects/`.
    pub(crate) objects: PathBuf,
    /// `objects/pack/`.
    pub(crate) pack: PathBuf,
    /// `refs/gomodfs/`.
    pub(crate) refs: PathBuf,
}

impl Layout {
    /// The paths of a repository at `root`; touches nothing.
    pub(crate) fn new(root: &Path) -> Self {
        let objects = root.join("objects");
        Layout {
            root: root.to_owned(),
            pack: objects.join("pack"),
            objects,
            refs: root.join("refs").join("gomodfs"),
        }
    }

    /// Creates whatever of the layout is missing; leaves existing files
    /// (a user's `config`, say) alone. Safe to run from several processes at
    /// once.
    pub(crate) fn create(&self) -> io::Result<()> {
        create_dir_durable(&self.root)?;
        create_dir_durable(&self.pack)?;
        create_dir_durable(&self.root.join("refs").join("heads"))?;
        create_dir_durable(&self.root.join("refs").join("tags"))?;
        create_dir_durable(&self.refs)?;
        create_file_if_missing(&self.root, "HEAD", HEAD)?;
        create_file_if_missing(&self.root, "config", CONFIG)?;
        Ok(())
    }

    /// Removes temp files older than [`STALE_AFTER`] that a killed process
    /// left behind. Best effort: failures are logged, never returned.
    ///
    /// The ref directories (one per module path: thousands in a large
    /// store) are swept at most once per [`STALE_AFTER`], recorded by the
    /// mtime of [`SWEEP_STAMP`]: a temp file only becomes removable
    /// [`STALE_AFTER`] after it was written, so sweeping more often finds
    /// nothing more, and opening a large store stays cheap.
    pub(crate) fn remove_stale_temp_files(&self) {
        let now = SystemTime::now();
        remove_stale_in(&self.root, &[TMP_REF_PREFIX], now);
        remove_stale_in(&self.objects, &[TMP_OBJ_PREFIX], now);
        remove_stale_in(&self.pack, &[TMP_PACK_PREFIX, TMP_IDX_PREFIX], now);
        let stamp = self.root.join(SWEEP_STAMP);
        let swept_recently = fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age < STALE_AFTER);
        if !swept_recently {
            remove_stale_refs(&self.refs, now);
            // Created or truncated: either way its mtime is now.
            if let Err(err) = File::create(&stamp) {
                tracing::debug!(path = %stamp.display(), %err, "cannot record the ref sweep");
            }
        }
    }
}

/// In the repository root: its mtime is the last sweep of the ref
/// directories for temp files (see [`Layout::remove_stale_temp_files`]).
pub(crate) const SWEEP_STAMP: &str = "gomodfs-swept";

fn remove_stale_refs(dir: &Path, now: SystemTime) {
    remove_stale_in(dir, &[TMP_REF_PREFIX], now);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_stale_refs(&entry.path(), now);
        }
    }
}

fn remove_stale_in(dir: &Path, prefixes: &[&str], now: SystemTime) {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(err) => {
            tracing::debug!(dir = %dir.display(), %err, "cannot list directory for temp file cleanup");
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !prefixes.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > STALE_AFTER);
        if stale {
            let path = entry.path();
            match fs::remove_file(&path) {
                Ok(()) => tracing::debug!(path = %path.display(), "removed stale temp file"),
                Err(err) => {
                    tracing::debug!(path = %path.display(), %err, "cannot remove stale temp file")
                }
            }
        }
    }
}

/// A name for a temp file that no other thread or process uses.
pub(crate) fn temp_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{}_{n}_{nanos:08x}", std::process::id())
}

/// Makes the directory entry changes in `dir` (creations, renames) durable.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened as files on Windows; NTFS journals
        // metadata itself.
        let _ = dir;
        Ok(())
    }
}

/// Writes back everything written to the file system holding `dir`:
/// `syncfs(2)` on Linux, `sync(2)` on other Unix systems, nothing
/// elsewhere.
pub(crate) fn sync_file_system(dir: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let file = File::open(dir)?;
        // SAFETY: syncfs only reads the descriptor number, which `file`
        // keeps open for the duration of the call.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::syncfs(file.as_raw_fd()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        let _ = dir;
        // SAFETY: sync takes no arguments and cannot fail.
        #[allow(unsafe_code)]
        unsafe {
            libc::sync()
        };
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// `create_dir_all` that also makes each new directory entry durable.
pub(crate) fn create_dir_durable(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_durable(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fsync_dir(parent)?;
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes those of `dirs` that are empty (best effort: a directory that
/// is not empty, or already gone, is left as it is). For loose objects'
/// fan-out directories a compaction emptied: each costs a block on disk,
/// and a store's 256 of them are a megabyte. A writer that finds its
/// directory gone makes it again ([`TempFile::persist_in`]).
pub(crate) fn remove_empty_dirs<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> usize {
    dirs.into_iter()
        .filter(|dir| fs::remove_dir(dir).is_ok())
        .count()
}

/// Deletes a temp file when dropped, unless [`TempFile::keep`] was called.
pub(crate) struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    /// Creates `dir/<temp_name(prefix)>`, exclusively.
    pub(crate) fn create(dir: &Path, prefix: &str) -> io::Result<(TempFile, File)> {
        let path = dir.join(temp_name(prefix));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok((TempFile { path, armed: true }, file))
    }

    /// The temp file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the temp file to `to` (atomically replacing it) and disarms
    /// the guard.
    pub(crate) fn persist(mut self, to: &Path) -> io::Result<()> {
        fs::rename(&self.path, to)?;
        self.armed = false;
        Ok(())
    }

    /// Renames the temp file to `dir/name`, making `dir` (durably) again
    /// if it vanished meanwhile: a compaction removes loose objects'
    /// fan-out directories once it emptied them
    /// ([`remove_empty_dirs`]).
    pub(crate) fn persist_in(mut self, dir: &Path, name: &str) -> io::Result<()> {
        let to = dir.join(name);
        let mut tries = 0;
        loop {
            match fs::rename(&self.path, &to) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 3 && !dir.is_dir() => {
                    tries += 1;
                    create_dir_durable(dir)?;
                }
                Err(e) => return Err(e),
            }
        }
        self.armed = false;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Writes `data` to `dir/name` atomically and durably: temp file in `dir`,
/// fsync, rename over `name`, fsync `dir`. `dir` must exist.
pub(crate) fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> io::Result<()> {
    let (tmp, mut file) = TempFile::create(dir, TMP_REF_PREFIX)?;
    file.write_all(data)?;
    file.sync_all()?;
    drop(file);
    tmp.persist(&dir.join(name))?;
    fsync_dir(dir)
}

/// Writes `data` to `dir/name` atomically but not durably: temp file in
/// `dir`, rename over `name`, no fsync. A crash of the process leaves the
/// old file or the new one; a power cut before the kernel writes the new
/// one back may also leave it empty (readers must take an empty file for
/// a missing one). `dir` must exist.
pub(crate) fn write_atomic_lazy(dir: &Path, name: &str, data: &[u8]) -> io::Result<()> {
    let (tmp, mut file) = TempFile::create(dir, TMP_REF_PREFIX)?;
    file.write_all(data)?;
    drop(file);
    tmp.persist(&dir.join(name))
}

/// Creates `dir/name` with `data` unless it exists; never replaces an
/// existing file, never leaves a partial one.
fn create_file_if_missing(dir: &Path, name: &str, data: &[u8]) -> io::Result<()> {
    let target = dir.join(name);
    if target.exists() {
        return Ok(());
    }
    let (tmp, mut file) = TempFile::create(dir, TMP_REF_PREFIX)?;
    file.write_all(data)?;
    file.sync_all()?;
    drop(file);
    // A hard link fails if the target exists, so a concurrent creator (or
    // the user) wins; fall back to rename where links are not supported.
    match fs::hard_link(tmp.path(), &target) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(_) if !target.exists() => return tmp.persist(&target).and_then(|()| fsync_dir(dir)),
        Err(_) => {}
    }
    drop(tmp);
    fsync_dir(dir)
}
