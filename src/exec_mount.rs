//! Where `gomodfs exec` mounts: a stable directory beside the store
//! (`<store>/exec/0`, else `1`, ... when another exec holds it), not a
//! random temporary one. go puts the directory of every package into its
//! build cache keys (without `-trimpath`), so a build cache shared between
//! jobs only hits for module packages when they sit at the same path in
//! every job.

use gomodfs::Error;
use std::path::{Path, PathBuf};

/// How many mount slots are tried.
const SLOTS: u32 = 32;

/// A claimed mount slot; the claim is released on drop.
pub(crate) struct Slot {
    dir: PathBuf,
    claim: PathBuf,
}

impl Slot {
    /// The mount point.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.claim);
    }
}

/// Whether the process `pid` exists.
fn alive(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    #[allow(unsafe_code)]
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Claims slot `n` under `base` (`n.pid` holds the claimer's pid); a
/// claim of a process that no longer exists is taken over.
fn claim(base: &Path, n: u32) -> std::io::Result<Option<Slot>> {
    let claim = base.join(format!("{n}.pid"));
    for _ in 0..2 {
        match std::fs::File::options()
            .write(true)
            .create_new(true)
            .open(&claim)
        {
            Ok(mut f) => {
                use std::io::Write;
                writeln!(f, "{}", std::process::id())?;
                let dir = base.join(n.to_string());
                std::fs::create_dir_all(&dir)?;
                return Ok(Some(Slot { dir, claim }));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = std::fs::read_to_string(&claim)
                    .ok()
                    .and_then(|s| s.trim().parse::<i32>().ok());
                if holder.is_some_and(alive) {
                    return Ok(None);
                }
                let _ = std::fs::remove_file(&claim);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Mounts with `mount` on the first free slot under `<store>/exec`; a slot
/// whose mount fails (a dead gomodfs left it) is skipped.
pub(crate) fn mount_on_slot<M>(
    store: &Path,
    mut mount: impl FnMut(&Path) -> Result<M, Error>,
) -> Result<(M, Slot), Error> {
    let base = store.join("exec");
    std::fs::create_dir_all(&base).map_err(|source| Error::Io {
        context: format!("creating {}", base.display()),
        source,
    })?;
    let mut last = None;
    for n in 0..SLOTS {
        let slot = claim(&base, n).map_err(|source| Error::Io {
            context: format!("claiming a mount point in {}", base.display()),
            source,
        })?;
        let Some(slot) = slot else { continue };
        match mount(slot.dir()) {
            Ok(m) => return Ok((m, slot)),
            Err(e) => {
                tracing::warn!(dir = %slot.dir().display(), error = %e, "mount point unusable, trying the next");
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        Error::Usage(format!(
            "all {SLOTS} mount points in {} are in use by other gomodfs exec processes",
            base.display()
        ))
    }))
}
