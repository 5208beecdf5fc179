//! Per-operation counters and the status JSON.
//!
//! Every public [`ModFs`](crate::fs::ModFs) operation and every upstream
//! download is counted: started, ended, errors and total duration. The
//! snapshot is rendered as JSON for `.gomodfs-status`.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Operations counted by [`Stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// Name lookup in a directory.
    Lookup,
    /// Attributes of a node.
    Getattr,
    /// Directory listing.
    Readdir,
    /// Opening a file (loading its contents).
    Open,
    /// Reading file bytes.
    Read,
    /// Path resolution from the root.
    Resolve,
    /// A whole module fetched from upstream and stored.
    FetchModule,
    /// A `.info` or `.mod` fetched from upstream on its own.
    FetchMeta,
}

impl Op {
    const ALL: [Op; 8] = [
        Op::Lookup,
        Op::Getattr,
        Op::Readdir,
        Op::Open,
        Op::Read,
        Op::Resolve,
        Op::FetchModule,
        Op::FetchMeta,
    ];

    /// The name used in the status JSON.
    pub fn name(self) -> &'static str {
        match self {
            Op::Lookup => "lookup",
            Op::Getattr => "getattr",
            Op::Readdir => "readdir",
            Op::Open => "open",
            Op::Read => "read",
            Op::Resolve => "resolve",
            Op::FetchModule => "fetch_module",
            Op::FetchMeta => "fetch_meta",
        }
    }
}

#[derive(Default)]
struct OpCounters {
    started: AtomicU64,
    ended: AtomicU64,
    errors: AtomicU64,
    nanos: AtomicU64,
}

/// Counters of one operation, as reported.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct OpSnapshot {
    /// Calls started.
    pub started: u64,
    /// Calls ended (successfully or not).
    pub ended: u64,
    /// Calls that ended in an error.
    pub errors: u64,
    /// Total time spent in ended calls, in seconds.
    pub total_seconds: f64,
}

/// Cache counters.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct CacheSnapshot {
    /// Lookups answered from memory.
    pub hits: u64,
    /// Lookups that went to the store or upstream.
    pub misses: u64,
}

/// The whole status, as served in `.gomodfs-status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusSnapshot {
    /// Always `"gomodfs"`.
    pub filesystem: &'static str,
    /// gomodfs version.
    pub version: &'static str,
    /// Seconds since the filesystem was created.
    pub uptime: f64,
    /// Per-operation counters.
    pub ops: BTreeMap<&'static str, OpSnapshot>,
    /// Module tree cache.
    pub module_cache: CacheSnapshot,
    /// File contents cache.
    pub blob_cache: CacheSnapshot,
    /// Bytes downloaded from upstream (zips and proxy files).
    pub bytes_fetched: u64,
}

/// Live counters. Cheap to update from many threads.
pub struct Stats {
    start: Instant,
    ops: [OpCounters; Op::ALL.len()],
    module_hits: AtomicU64,
    module_misses: AtomicU64,
    blob_hits: AtomicU64,
    blob_misses: AtomicU64,
    bytes_fetched: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            start: Instant::now(),
            ops: Default::default(),
            module_hits: AtomicU64::new(0),
            module_misses: AtomicU64::new(0),
            blob_hits: AtomicU64::new(0),
            blob_misses: AtomicU64::new(0),
            bytes_fetched: AtomicU64::new(0),
        }
    }
}

/// Counts one call of an operation; ends it when dropped unless
/// [`OpTimer::finish`] was called.
pub struct OpTimer<'a> {
    stats: &'a Stats,
    op: Op,
    start: Instant,
    done: bool,
}

impl OpTimer<'_> {
    /// Ends the call, counting an error if `result` is one.
    pub fn finish<T, E>(mut self, result: &Result<T, E>) {
        self.end(result.is_err());
    }

    fn end(&mut self, error: bool) {
        if self.done {
            return;
        }
        self.done = true;
        let c = &self.stats.ops[self.op as usize];
        c.ended.fetch_add(1, Relaxed);
        if error {
            c.errors.fetch_add(1, Relaxed);
        }
        let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        c.nanos.fetch_add(nanos, Relaxed);
    }
}

impl Drop for OpTimer<'_> {
    fn drop(&mut self) {
        self.end(false);
    }
}

impl Stats {
    /// Starts counting one call of `op`.
    pub fn start(&self, op: Op) -> OpTimer<'_> {
        self.ops[op as usize].started.fetch_add(1, Relaxed);
        OpTimer {
            stats: self,
            op,
            start: Instant::now(),
            done: false,
        }
    }

    pub(crate) fn module_cache(&self, hit: bool) {
        if hit {
            self.module_hits.fetch_add(1, Relaxed);
        } else {
            self.module_misses.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn blob_cache(&self, hit: bool) {
        if hit {
            self.blob_hits.fetch_add(1, Relaxed);
        } else {
            self.blob_misses.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn fetched(&self, bytes: u64) {
        self.bytes_fetched.fetch_add(bytes, Relaxed);
    }

    /// Time since the stats were created.
    pub fn uptime(&self) -> Duration {
        self.start.elapsed()
    }

    /// Counters of one operation.
    pub fn op(&self, op: Op) -> OpSnapshot {
        let c = &self.ops[op as usize];
        OpSnapshot {
            started: c.started.load(Relaxed),
            ended: c.ended.load(Relaxed),
            errors: c.errors.load(Relaxed),
            total_seconds: Duration::from_nanos(c.nanos.load(Relaxed)).as_secs_f64(),
        }
    }

    /// A consistent-enough snapshot of everything.
    pub fn snapshot(&self) -> StatusSnapshot {
        StatusSnapshot {
            filesystem: "gomodfs",
            version: env!("CARGO_PKG_VERSION"),
            uptime: self.uptime().as_secs_f64(),
            ops: Op::ALL.iter().map(|&op| (op.name(), self.op(op))).collect(),
            module_cache: CacheSnapshot {
                hits: self.module_hits.load(Relaxed),
                misses: self.module_misses.load(Relaxed),
            },
            blob_cache: CacheSnapshot {
                hits: self.blob_hits.load(Relaxed),
                misses: self.blob_misses.load(Relaxed),
            },
            bytes_fetched: self.bytes_fetched.load(Relaxed),
        }
    }
}
