//! A mount point left behind by a gomodfs that died (SIGKILL, a crash, the
//! OOM killer): the kernel still has the FUSE mount, nobody serves it, and
//! every access fails with "Transport endpoint is not connected" (ENOTCONN).
//! [`clear_stale_mount`] finds such a mount of gomodfs in
//! `/proc/self/mountinfo` and detaches it, so the next `mount` can start.

use crate::FuseError;
use std::io;
use std::path::{Path, PathBuf};

/// The file system type of every gomodfs FUSE mount (`fuse.` + subtype).
const FSTYPE: &str = "fuse.gomodfs";

/// If `dir` is a dead gomodfs mount (ENOTCONN), detaches it lazily and
/// returns true; returns false when `dir` is not a dead mount. A dead mount
/// of another file system is left alone: the error says how to clear it.
pub fn clear_stale_mount(dir: &Path) -> Result<bool, FuseError> {
    match std::fs::metadata(dir) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {}
        _ => return Ok(false),
    }
    let stale = |why: String| FuseError::Mount {
        mountpoint: dir.to_owned(),
        source: io::Error::other(why),
    };
    let absolute = std::path::absolute(dir).map_err(|e| stale(e.to_string()))?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let fstype = mount_type(&mountinfo, &absolute);
    if fstype.as_deref() != Some(FSTYPE) {
        let shown = absolute.display();
        return Err(stale(format!(
            "the mount point is a dead mount ({}) that gomodfs did not make: \
             unmount it first (fusermount3 -u {shown} or umount -l {shown})",
            fstype.unwrap_or_else(|| "transport endpoint is not connected".into()),
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

/// The file system type of the last mount at `dir` in a mountinfo text.
fn mount_type(mountinfo: &str, dir: &Path) -> Option<String> {
    mountinfo
        .lines()
        .filter_map(|line| {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
            let mut fields = line.split(' ');
            let mountpoint = unescape(fields.nth(4)?);
            let fstype = line.split(" - ").nth(1)?.split(' ').next()?;
            Some((mountpoint, fstype.to_owned()))
        })
        .filter(|(mountpoint, _)| mountpoint == dir)
        .map(|(_, fstype)| fstype)
        .last()
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
    fn finds_the_type_of_the_last_mount_at_a_path() {
        let info = "22 1 0:21 / /proc rw - proc proc rw\n\
                    90 22 0:50 / /tmp/a\\040b rw,nosuid - fuse.gomodfs gomodfs ro\n\
                    91 22 0:51 / /tmp/c rw shared:5 - fuse.sshfs host: rw\n";
        assert_eq!(
            mount_type(info, Path::new("/tmp/a b")).as_deref(),
            Some(FSTYPE)
        );
        assert_eq!(
            mount_type(info, Path::new("/tmp/c")).as_deref(),
            Some("fuse.sshfs")
        );
        assert_eq!(mount_type(info, Path::new("/tmp/d")), None);
    }
}
