//! Ending a mount so that the mount point is always usable again.
//!
//! A plain unmount fails with EBUSY while a process has a file open or its
//! working directory inside the mount. Exiting then would leave a dead
//! mount ("Transport endpoint is not connected"), so a busy mount is
//! detached lazily instead (`fusermount3 -u -z`, like `umount -l`): the
//! mount point shows the empty directory at once, and the processes still
//! inside see errors once gomodfs exits.

use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long an unmount waits for the session's threads to finish before
/// giving up on them (the mount itself is gone by then).
const SESSION_END_WAIT: Duration = Duration::from_secs(5);

/// Unmounts `session` (mounted at `mountpoint`) and waits up to
/// [`SESSION_END_WAIT`] for it to end; a busy mount is detached lazily.
pub(crate) fn unmount(session: fuser::BackgroundSession, mountpoint: &Path) -> io::Result<()> {
    let (tx, rx) = mpsc::sync_channel(1);
    // A thread of its own: joining the session can take as long as the
    // processes inside a lazily detached mount keep it alive.
    std::thread::Builder::new()
        .name("gomodfs-unmount".into())
        .spawn(move || {
            let _ = tx.send(session.umount_and_join());
        })?;
    match rx.recv_timeout(SESSION_END_WAIT) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) if e.raw_os_error() == Some(libc::EBUSY) => {
            detach_lazily(mountpoint)?;
            tracing::warn!(
                mountpoint = %mountpoint.display(),
                "the mount was busy (a process has a file open or its working directory in it): \
                 detached it lazily; the mount point is usable again, and the processes inside \
                 get errors from now on"
            );
            Ok(())
        }
        Ok(Err(e)) => Err(e),
        Err(_) => {
            tracing::warn!(
                mountpoint = %mountpoint.display(),
                wait = ?SESSION_END_WAIT,
                "unmounted, but the FUSE session did not end in time (a process still uses the \
                 detached mount); not waiting for it"
            );
            Ok(())
        }
    }
}

/// `fusermount3 -u -z` (else `fusermount -u -z`, else `umount -l`).
pub(crate) fn detach_lazily(mountpoint: &Path) -> io::Result<()> {
    let attempts: [(&str, &[&str]); 3] = [
        ("fusermount3", &["-u", "-z", "--"]),
        ("fusermount", &["-u", "-z", "--"]),
        ("umount", &["-l", "--"]),
    ];
    let mut failures = Vec::new();
    for (program, args) in attempts {
        match Command::new(program)
            .args(args)
            .arg(mountpoint)
            .stdout(Stdio::null())
            .output()
        {
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) => failures.push(format!(
                "{program}: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => failures.push(format!("{program}: {e}")),
        }
    }
    Err(io::Error::other(format!(
        "the mount at {} is busy and could not be detached lazily either ({})",
        mountpoint.display(),
        failures.join("; ")
    )))
}
