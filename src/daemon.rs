//! Behaving as a service: the systemd readiness protocol (`Type=notify`)
//! and noticing that the mount point was unmounted from outside.

/// How often a mount checks whether it was unmounted from outside.
#[cfg(feature = "fuse")]
const ENDED_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Sends `state` (`READY=1`, `STOPPING=1`, `STATUS=...`) to the service
/// manager through `$NOTIFY_SOCKET`, as `sd_notify(3)` does; nothing when
/// the variable is not set (not started by systemd with `Type=notify`).
/// A failure is logged, never fatal.
pub(crate) fn notify(state: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET").filter(|s| !s.is_empty()) else {
        return;
    };
    if let Err(e) = send(&socket, state) {
        tracing::warn!(socket = %socket.to_string_lossy(), error = %e, "notifying the service manager");
    }
}

#[cfg(unix)]
fn send(socket: &std::ffi::OsStr, state: &str) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::UnixDatagram;
    let sock = UnixDatagram::unbound()?;
    match socket.as_bytes().strip_prefix(b"@") {
        #[cfg(target_os = "linux")]
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)?;
        }
        _ => {
            sock.send_to(state.as_bytes(), socket)?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn send(_: &std::ffi::OsStr, _: &str) -> std::io::Result<()> {
    Ok(())
}

/// Returns once `mount` was unmounted from outside (`fusermount3 -u`,
/// `umount`, `umount -l` once the last process inside lets go).
#[cfg(feature = "fuse")]
pub(crate) async fn unmounted_from_outside(mount: &gomodfs::fuse::Mount) {
    while !mount.is_ended() {
        tokio::time::sleep(ENDED_POLL).await;
    }
}
