//! A mount point left behind by a gomodfs that died (SIGKILL, a crash, the
//! OOM killer): the kernel still has the FUSE mount, nobody serves it, and
//! every access fails with "Transport endpoint is not connected" (ENOTCONN).
//! [`clear_stale_mount`] finds such a mount of gomodfs in
//! `/proc/self/mountinfo` and detaches it, so the next `mount` can start.

use crate::FuseError;
use std::io;
use std::path::{Path, PathBuf};

/// The source (FSName) of every gomodfs FUSE mount; its type is `fuse`
/// or `fuse.gomodfs` (with the subtype), depending on how it was mounted.
const SOURCE: &str = "gomodfs";

/// If `dir` is a dead gomodfs mount (ENOTCONN), detaches it lazily and
/// returns true; returns false when `dir` is not a dead mount. A dead mount
/// of another file system is left alone: the error says how to clear it.
pub fn clear_stale_mount(dir: &Path) -> Result<bool, FuseError> {
    if !is_dead(dir) {
        return Ok(false);
    }
    let stale = |why: String| FuseError::Mount {
        mountpoint: dir.to_owned(),
        source: io::Error::other(why),
    };
    let absolute = std::path::absolute(dir).map_err(|e| stale(e.to_string()))?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mount = mount_at(&mountinfo, &absolute);
    let ours = mount
        .as_ref()
        .is_some_and(|(fstype, source)| fstype.starts_with("fuse") && source == SOURCE);
    if !ours {
        let shown = absolute.display();
        return Err(stale(format!(
            "the mount point is a dead mount ({}) that gomodfs did not make: \
             unmount it first (fusermount3 -u {shown} or umount -l {shown})",
            mount.map_or_else(
                || "transport endpoint is not connected".into(),
                |(fstype, source)| format!("{fstype} from {source}")
            ),
        )));
    }
    crate::unmount::detach_lazily(&absolute).map_err(|e| {
        stale(format!(
            "a gomodfs that died left its mount here and detaching it failed ({e}): \
             run fusermount3 -u -z {}",
            absolute.display()
        ))
    })?;
    tracing::warn!(
        mountpoint = %absolute.display(),
        "a previous gomodfs died and left its mount here (transport endpoint is not connected): \
         detached it"
    );
    Ok(true)
}

/// Whether `dir` answers "Transport endpoint is not connected", or, for a
/// mount that was served over io_uring, "Software caused connection
/// abort" (see [`probe_mount`]).
fn is_dead(dir: &Path) -> bool {
    probe_mount(dir).is_err_and(|e| is_dead_mount_error(&e))
}

/// What the mount at `dir` answers when asked: a `stat`, and for a
/// directory an open too (the kernel may answer a dead mount's `stat`
/// from its cache; an open always asks the file system).
///
/// A request that reaches a server killed a moment ago, while the kernel
/// still tears its io_uring down, ends with ECANCELED (the ring's task is
/// dead); the next one gets the steady answer, so this asks again while
/// the answer is ECANCELED (2 s at most).
pub fn probe_mount(dir: &Path) -> io::Result<()> {
    let probe = || match std::fs::metadata(dir) {
        Err(e) => Err(e),
        Ok(meta) if meta.is_dir() => std::fs::read_dir(dir).map(drop),
        Ok(_) => Ok(()),
    };
    let mut answer = probe();
    for _ in 1..TEARDOWN_RETRIES {
        match &answer {
            Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => {
                std::thread::sleep(std::time::Duration::from_millis(50));
                answer = probe();
            }
            _ => break,
        }
    }
    answer
}

/// How many times [`probe_mount`] asks while the answer is ECANCELED (50 ms
/// apart).
const TEARDOWN_RETRIES: usize = 40;

/// Whether `e` is what a dead FUSE mount answers: ENOTCONN, or
/// ECONNABORTED where its server served it over io_uring.
pub(crate) fn is_dead_mount_error(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTCONN | libc::ECONNABORTED))
}

/// The file system type and source of the last mount at `dir` in a
/// mountinfo text.
fn mount_at(mountinfo: &str, dir: &Path) -> Option<(String, String)> {
    mountinfo
        .lines()
        .rev()
        .filter_map(|line| {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
            let mountpoint = unescape(line.split(' ').nth(4)?);
            let mut after = line.split(" - ").nth(1)?.split(' ');
            let fstype = after.next()?.to_owned();
            let source = after.next()?.to_owned();
            Some((mountpoint, (fstype, source)))
        })
        .find(|(mountpoint, _)| mountpoint == dir)
        .map(|(_, mount)| mount)
}

/// Undoes mountinfo's octal escapes (`\040` is a space).
fn unescape(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u32, |n, c| n * 8 + u32::from(c - b'0')));
        match octal.and_then(|n| u8::try_from(n).ok()) {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_type_and_source_of_the_last_mount_at_a_path() {
        let info = "22 1 0:21 / /proc rw - proc proc rw\n\
                    90 22 0:50 / /tmp/a\\040b rw,nosuid - fuse gomodfs ro\n\
                    91 22 0:51 / /tmp/c rw shared:5 - fuse.sshfs host: rw\n";
        let at = |p: &str| mount_at(info, Path::new(p));
        assert_eq!(at("/tmp/a b"), Some(("fuse".into(), SOURCE.into())));
        assert_eq!(at("/tmp/c"), Some(("fuse.sshfs".into(), "host:".into())));
        assert_eq!(at("/tmp/d"), None);
    }
}
