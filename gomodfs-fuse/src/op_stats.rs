//! Per-opcode counters of the FUSE frontend: how many requests of each kind
//! the kernel sent and how long their handlers took (until the reply, or
//! the hand-off to the download-wait pool). They show where a workload's
//! time goes, round trips against store work: [`Mount::op_counts`] reads
//! them, and the session logs them once when it ends (target
//! `gomodfs_fuse::ops`, debug level: `RUST_LOG=gomodfs_fuse::ops=debug`).
//!
//! [`Mount::op_counts`]: crate::Mount::op_counts

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// The FUSE requests gomodfs answers, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FuseOp {
    /// LOOKUP.
    Lookup,
    /// FORGET (each node of a BATCH_FORGET counts once).
    Forget,
    /// GETATTR.
    Getattr,
    /// OPEN.
    Open,
    /// READ.
    Read,
    /// RELEASE.
    Release,
    /// FLUSH.
    Flush,
    /// OPENDIR.
    Opendir,
    /// READDIR.
    Readdir,
    /// READDIRPLUS.
    Readdirplus,
    /// RELEASEDIR.
    Releasedir,
    /// ACCESS.
    Access,
    /// GETXATTR and LISTXATTR.
    Xattr,
    /// STATFS.
    Statfs,
}

impl FuseOp {
    /// Every counted request, in reporting order.
    pub const ALL: [FuseOp; 14] = [
        FuseOp::Lookup,
        FuseOp::Forget,
        FuseOp::Getattr,
        FuseOp::Open,
        FuseOp::Read,
        FuseOp::Release,
        FuseOp::Flush,
        FuseOp::Opendir,
        FuseOp::Readdir,
        FuseOp::Readdirplus,
        FuseOp::Releasedir,
        FuseOp::Access,
        FuseOp::Xattr,
        FuseOp::Statfs,
    ];

    /// The request's name, lower case.
    pub fn name(self) -> &'static str {
        match self {
            FuseOp::Lookup => "lookup",
            FuseOp::Forget => "forget",
            FuseOp::Getattr => "getattr",
            FuseOp::Open => "open",
            FuseOp::Read => "read",
            FuseOp::Release => "release",
            FuseOp::Flush => "flush",
            FuseOp::Opendir => "opendir",
            FuseOp::Readdir => "readdir",
            FuseOp::Readdirplus => "readdirplus",
            FuseOp::Releasedir => "releasedir",
            FuseOp::Access => "access",
            FuseOp::Xattr => "xattr",
            FuseOp::Statfs => "statfs",
        }
    }
}

/// How many requests of one kind were answered, and the time their
/// handlers took in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpCount {
    /// Requests received.
    pub count: u64,
    /// Time spent in their handlers.
    pub time: Duration,
}

/// The counters of one mount.
#[derive(Debug, Default)]
pub(crate) struct OpStats {
    counts: [AtomicU64; FuseOp::ALL.len()],
    nanos: [AtomicU64; FuseOp::ALL.len()],
}

/// Counts one request when dropped, with the time since it was made.
pub(crate) struct Timed<'a> {
    stats: &'a OpStats,
    op: FuseOp,
    start: Instant,
}

impl Drop for Timed<'_> {
    fn drop(&mut self) {
        let i = self.op as usize;
        let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.stats.nanos[i].fetch_add(nanos, Relaxed);
    }
}

impl OpStats {
    /// Counts one request of `op` now (before it is answered, so whoever
    /// got the answer sees it counted); its time is added when the guard
    /// drops.
    pub(crate) fn time(&self, op: FuseOp) -> Timed<'_> {
        self.counts[op as usize].fetch_add(1, Relaxed);
        Timed {
            stats: self,
            op,
            start: Instant::now(),
        }
    }

    /// The counters so far, in [`FuseOp::ALL`] order.
    pub(crate) fn snapshot(&self) -> Vec<(FuseOp, OpCount)> {
        FuseOp::ALL
            .iter()
            .map(|&op| {
                let i = op as usize;
                let count = OpCount {
                    count: self.counts[i].load(Relaxed),
                    time: Duration::from_nanos(self.nanos[i].load(Relaxed)),
                };
                (op, count)
            })
            .collect()
    }

    /// Logs the requests received (kinds never received left out).
    pub(crate) fn log(&self) {
        for (op, c) in self.snapshot() {
            if c.count > 0 {
                tracing::debug!(
                    target: "gomodfs_fuse::ops",
                    op = op.name(),
                    count = c.count,
                    ms = c.time.as_secs_f64() * 1000.0,
                    "fuse requests"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_kind_apart() {
        let stats = OpStats::default();
        drop(stats.time(FuseOp::Lookup));
        drop(stats.time(FuseOp::Lookup));
        drop(stats.time(FuseOp::Read));
        let snap: std::collections::HashMap<_, _> = stats.snapshot().into_iter().collect();
        assert_eq!(snap[&FuseOp::Lookup].count, 2);
        assert_eq!(snap[&FuseOp::Read].count, 1);
        assert_eq!(snap[&FuseOp::Open].count, 0);
    }
}
