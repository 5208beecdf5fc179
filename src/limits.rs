//! The open-file limit, and the connection caps derived from it.
//!
//! Every connection of a network frontend is a file descriptor, and so is
//! every pack the store opens and `/dev/fuse`. The command raises the soft
//! `RLIMIT_NOFILE` to the hard limit at start ([`raise_nofile`]), then caps
//! each listener at [`connection_cap`] so that a flood of connections to
//! one frontend leaves descriptors for the store and the other frontends:
//!
//! `cap = clamp((soft_limit − STORE_RESERVE) / 4, MIN_CONNECTIONS, MAX_CONNECTIONS)`
//!
//! [`STORE_RESERVE`] descriptors plus one quarter of the rest are never
//! used by connections, even with the HTTP, NFS and debug listeners all
//! full (three quarters). With a limit of 1024: 192 connections per
//! listener, 448 descriptors always left to the store.

/// Descriptors kept for the store, FUSE, upstream connections and the
/// process itself before any connection cap is computed.
pub const STORE_RESERVE: u64 = 256;

/// The smallest cap (a tiny limit still admits a few clients).
pub const MIN_CONNECTIONS: usize = 16;

/// The largest cap, whatever the limit.
pub const MAX_CONNECTIONS: usize = 4096;

/// The soft and hard open-file limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    /// The limit in force.
    pub soft: u64,
    /// The ceiling the soft limit may be raised to.
    pub hard: u64,
}

/// The current open-file limits, or `None` where they cannot be read.
#[cfg(unix)]
// rlim_t is u64 on 64-bit targets but not on every 32-bit one.
#[allow(clippy::useless_conversion)]
pub fn nofile() -> Option<NofileLimit> {
    get_raw().map(|lim| NofileLimit {
        soft: u64::try_from(lim.rlim_cur).unwrap_or(u64::MAX),
        hard: u64::try_from(lim.rlim_max).unwrap_or(u64::MAX),
    })
}

/// The current open-file limits, or `None` where they cannot be read.
#[cfg(not(unix))]
pub fn nofile() -> Option<NofileLimit> {
    None
}

#[cfg(unix)]
fn get_raw() -> Option<libc::rlimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a valid pointer to a
    // local of that type.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    (rc == 0).then_some(lim)
}

#[cfg(unix)]
fn set_raw(lim: &libc::rlimit) -> bool {
    // SAFETY: setrlimit reads one `rlimit` through a valid pointer.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, lim) };
    rc == 0
}

/// Raises the soft open-file limit to the hard limit (on macOS, where the
/// hard limit may be "unlimited" but the kernel refuses more than
/// `OPEN_MAX`, to 10240 if the hard limit is refused). Returns the limits
/// before and after; logs both at debug level.
#[cfg(unix)]
pub fn raise_nofile() -> Option<(NofileLimit, NofileLimit)> {
    let before = nofile()?;
    let raw = get_raw()?;
    if raw.rlim_cur < raw.rlim_max {
        let mut want = raw;
        want.rlim_cur = raw.rlim_max;
        if !set_raw(&want) {
            let open_max: libc::rlim_t = 10240;
            if raw.rlim_cur < open_max {
                want.rlim_cur = open_max.min(raw.rlim_max);
                let _ = set_raw(&want);
            }
        }
    }
    let after = nofile().unwrap_or(before);
    tracing::debug!(
        soft_before = before.soft,
        hard = before.hard,
        soft = after.soft,
        connection_cap = cap_for(after.soft),
        "open-file limit"
    );
    Some((before, after))
}

/// Raises the soft open-file limit (not available on this platform).
#[cfg(not(unix))]
pub fn raise_nofile() -> Option<(NofileLimit, NofileLimit)> {
    None
}

/// The connection cap of one listener for a soft open-file limit of
/// `soft` (see the module documentation for the formula).
pub fn cap_for(soft: u64) -> usize {
    let share = soft.saturating_sub(STORE_RESERVE) / 4;
    usize::try_from(share)
        .unwrap_or(MAX_CONNECTIONS)
        .clamp(MIN_CONNECTIONS, MAX_CONNECTIONS)
}

/// The connection cap of one listener under the current open-file limit
/// (1024 assumed where it cannot be read).
pub fn connection_cap() -> usize {
    cap_for(nofile().map_or(1024, |l| l.soft))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps() {
        assert_eq!(cap_for(1024), 192);
        assert_eq!(cap_for(256), MIN_CONNECTIONS);
        assert_eq!(cap_for(0), MIN_CONNECTIONS);
        assert_eq!(cap_for(4096), 960);
        assert_eq!(cap_for(1 << 20), MAX_CONNECTIONS);
        assert_eq!(cap_for(u64::MAX), MAX_CONNECTIONS);
    }
}
