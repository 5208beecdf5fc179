//! When a module was last used: one marker file per module, written at most
//! once a day.
//!
//! `DIR/gomodfs-used/<P>/@v/<V>` (the names of the module's ref below
//! `refs/gomodfs/zip/`) is an empty file whose modification time is the
//! module's last use, to within [`MARK_EVERY`]. The node API calls
//! [`GitStore::note_used`] the first time it serves a module in a process
//! and again once a day while it keeps serving it (also from its caches),
//! so a read costs no write. A module's last use is the later of its
//! marker's time and when its ref was written, so no marker is written
//! while the ref is less than [`MARK_EVERY`] old (a module fetched today).
//! `gomodfs gc` reads these times.

use super::GitStore;
use super::refs::{self, RefKind};
use crate::error::{Error, Result};
use crate::modpath::ModuleVersion;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A marker is rewritten once it is this old.
pub const MARK_EVERY: Duration = Duration::from_secs(24 * 3600);

/// The directory of the markers, in the repository.
pub(crate) const USED_DIR: &str = "gomodfs-used";

impl GitStore {
    /// The marker file of `module`.
    pub(crate) fn used_marker(&self, module: &ModuleVersion) -> PathBuf {
        let mut path = self.layout.root.join(USED_DIR);
        path.extend(refs::rel_name(module).split('/'));
        path
    }

    /// Records that `module` was used now, unless its last use (its
    /// marker's time, or its ref's if stored later) is less than
    /// [`MARK_EVERY`] ago. So a module stored within the day
    /// gets no marker: its ref's time says as much, and a cold fetch makes
    /// no marker directories.
    pub fn note_used(&self, module: &ModuleVersion) -> Result<()> {
        let now = SystemTime::now();
        let path = self.used_marker(module);
        let fresh = self
            .last_used_by(&path, module)
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age < MARK_EVERY);
        if fresh {
            return Ok(());
        }
        let ctx = || format!("{module}: noting its use in {}", path.display());
        if let Some(dir) = path.parent() {
            // Not made durable: a marker lost to a power cut only makes
            // the module look less recently used to gc.
            fs::create_dir_all(dir).map_err(|e| Error::io(ctx(), e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(ctx(), e))?;
        file.set_modified(now).map_err(|e| Error::io(ctx(), e))?;
        tracing::debug!(%module, "noted use");
        Ok(())
    }

    /// When `module` was last used: the later of its marker's time and
    /// when its ref was written; `None` if neither exists.
    pub(crate) fn last_used(&self, module: &ModuleVersion) -> Option<SystemTime> {
        self.last_used_by(&self.used_marker(module), module)
    }

    /// [`GitStore::last_used`] with `module`'s marker path given.
    fn last_used_by(&self, marker: &Path, module: &ModuleVersion) -> Option<SystemTime> {
        let mtime = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
        let (dir, name) = refs::ref_file(&self.layout.refs, RefKind::Zip, module);
        mtime(marker).max(mtime(&dir.join(name)))
    }

    /// Removes the marker of a module gc removed.
    pub(crate) fn forget_used(&self, module: &ModuleVersion) {
        let _ = fs::remove_file(self.used_marker(module));
    }
}
