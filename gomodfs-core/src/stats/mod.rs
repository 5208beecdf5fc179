//! Per-operation counters, latency histograms, cache counters and recent
//! downloads and errors, rendered as the status JSON and as Prometheus text.
//!
//! Every public [`ModFs`](crate::fs::ModFs) operation, every upstream fetch
//! and both caches are counted here. Updating is a few relaxed atomics; a
//! snapshot is taken when someone asks (the status file, `/status.json`,
//! `/metrics`).

pub mod build_cache;
mod counted;
mod frontends;
mod prometheus;
mod remote;
pub mod usage;

pub(crate) use counted::CountedStore;

pub use build_cache::BuildCacheCounters;
pub use frontends::FrontendStatus;
pub use prometheus::prometheus_text;
pub use remote::{QueueStats, RemoteSnapshot};

use crate::error::ErrorKind;
use crate::proxy::UpstreamStats;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    /// A whole module fetched from upstream, validated and stored.
    FetchModule,
    /// A `.info` or `.mod` fetched from upstream on its own.
    FetchMeta,
    /// [`Store::module`](crate::Store::module).
    StoreModule,
    /// [`Store::put_module`](crate::Store::put_module).
    StorePutModule,
    /// [`Store::meta`](crate::Store::meta).
    StoreMeta,
    /// [`Store::put_meta`](crate::Store::put_meta).
    StorePutMeta,
    /// [`Store::blob`](crate::Store::blob).
    StoreBlob,
    /// [`Store::list`](crate::Store::list).
    StoreList,
}

impl Op {
    /// Every operation, in reporting order.
    pub const ALL: [Op; 14] = [
        Op::Lookup,
        Op::Getattr,
        Op::Readdir,
        Op::Open,
        Op::Read,
        Op::Resolve,
        Op::FetchModule,
        Op::FetchMeta,
        Op::StoreModule,
        Op::StorePutModule,
        Op::StoreMeta,
        Op::StorePutMeta,
        Op::StoreBlob,
        Op::StoreList,
    ];

    /// The name used in the status JSON and the metrics.
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
            Op::StoreModule => "store_module",
            Op::StorePutModule => "store_put_module",
            Op::StoreMeta => "store_meta",
            Op::StorePutMeta => "store_put_meta",
            Op::StoreBlob => "store_blob",
            Op::StoreList => "store_list",
        }
    }
}

/// Upper bounds (seconds) of the latency histogram buckets; a last,
/// unbounded bucket follows.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0,
];

#[derive(Default)]
struct OpCounters {
    started: AtomicU64,
    ended: AtomicU64,
    errors: AtomicU64,
    not_found: AtomicU64,
    cancelled: AtomicU64,
    nanos: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
}

/// How many nodes the filesystem knows, as reported.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct NodeCounts {
    /// Nodes pinned until a frontend releases them (FUSE FORGET).
    pub pinned: u64,
    /// Unpinned nodes in the bounded cache.
    pub cached: u64,
}

/// Counters of one operation, as reported.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct OpSnapshot {
    /// Calls started.
    pub started: u64,
    /// Calls ended (successfully, with an error, or cancelled).
    pub ended: u64,
    /// Calls that failed: something went wrong (EIO and the like). A name
    /// that does not exist is not a failure: see `not_found`.
    pub errors: u64,
    /// Calls answered "no such file" (ENOENT, NFS3ERR_NOENT, 404): the
    /// routine probes of `go` (`.partial`, `.zip`, `.lock`) and editors
    /// (dotfiles), and versions the upstream does not have. Not in `errors`.
    pub not_found: u64,
    /// Calls abandoned before they had a result (the caller went away).
    pub cancelled: u64,
    /// Total time spent in ended calls, in seconds.
    pub total_seconds: f64,
    /// Latency histogram: calls per bucket of [`LATENCY_BUCKETS`] (not
    /// cumulative), the last for anything slower.
    pub latency_buckets: Vec<u64>,
}

/// The caches counted by [`Stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// Parsed module trees.
    Module,
    /// File contents.
    Blob,
}

#[derive(Default)]
struct CacheCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

/// Counters of one cache.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct CacheSnapshot {
    /// Lookups answered from memory.
    pub hits: u64,
    /// Lookups that went to the store or upstream.
    pub misses: u64,
    /// Entries evicted to stay within the memory budget.
    pub evictions: u64,
}

/// One finished download, for the recent-downloads list.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DownloadRecord {
    /// Module path.
    pub module: String,
    /// Version.
    pub version: String,
    /// What was fetched: `zip` (the whole module), `info` or `mod`.
    pub what: &'static str,
    /// Bytes downloaded (0 on failure).
    pub bytes: u64,
    /// Duration in milliseconds.
    pub millis: u64,
    /// `"ok"`, or the error.
    pub result: String,
    /// `ok`, `not_found` (the upstream does not have it: listed in recent
    /// downloads, not in recent errors) or `error`.
    pub outcome: Outcome,
    /// When it finished, in seconds since the Unix epoch.
    pub at: u64,
}

/// How a call or a download ended, as counted.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It succeeded.
    Ok,
    /// The name or version does not exist ([`ErrorKind::NotFound`]).
    NotFound,
    /// Something went wrong.
    Error,
}

impl Outcome {
    /// The outcome of `result`.
    pub fn of<T>(result: &crate::error::Result<T>) -> Outcome {
        match result {
            Ok(_) => Outcome::Ok,
            Err(e) if e.kind() == ErrorKind::NotFound => Outcome::NotFound,
            Err(_) => Outcome::Error,
        }
    }
}

/// What a store holds: defined beside the `Store` trait, re-exported here
/// because the status reports it.
pub use crate::store::StoreUsage;

/// The whole status, as served in `.gomodfs-status` and `/status.json`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusSnapshot {
    /// Always `"gomodfs"`.
    pub filesystem: &'static str,
    /// gomodfs version.
    pub version: &'static str,
    /// Seconds since the filesystem was created.
    pub uptime: f64,
    /// Seconds since the Unix epoch when the snapshot was taken.
    pub now: u64,
    /// Per-operation counters.
    pub ops: BTreeMap<&'static str, OpSnapshot>,
    /// Module tree cache.
    pub module_cache: CacheSnapshot,
    /// File contents cache.
    pub blob_cache: CacheSnapshot,
    /// Bytes downloaded from upstream (zips and proxy files).
    pub bytes_fetched: u64,
    /// Downloads in flight right now.
    pub downloads_in_flight: u64,
    /// Nodes known to the filesystem: pinned by a frontend (the FUSE
    /// kernel's inodes) and cached unpinned (bounded).
    pub nodes: NodeCounts,
    /// The store's size and module count, when known: the last figure
    /// measured (see [`usage`]), which may be up to a few seconds old.
    pub store: Option<StoreUsage>,
    /// Seconds since `store` was measured (absent when it is).
    pub store_age: Option<f64>,
    /// The upstream client's counters (absent when offline).
    pub upstream: Option<UpstreamStats>,
    /// The fleet tier's counters (absent without `--remote`).
    pub remote: Option<RemoteSnapshot>,
    /// The most recent downloads, newest first.
    pub recent_downloads: Vec<DownloadRecord>,
    /// The most recent failures (downloads and operations), newest first.
    pub recent_errors: Vec<DownloadRecord>,
    /// The build cache helpers' counters (`gomodfs exec` with GOCACHEPROG),
    /// absent when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_cache: Option<BuildCacheCounters>,
    /// The frontends serving the filesystem now (a FUSE mount and its
    /// transport, NFS and WebDAV addresses); absent when none registered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub frontends: Vec<FrontendStatus>,
    /// What the warm start preloaded from the last processes' list
    /// (absent until it has, and without a warm start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_start: Option<WarmStartStatus>,
    /// The warm files this process serves from (absent until opened, and
    /// when the store has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_files: Option<WarmFilesStatus>,
}

/// The warm files a process serves small files from (see
/// `gomodfs_core::fs::WarmFiles`).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct WarmFilesStatus {
    /// Files held.
    pub entries: u64,
    /// Bytes of contents held.
    pub bytes: u64,
    /// Reads served from them.
    pub hits: u64,
    /// Entries found damaged (read from the store instead).
    pub refused: u64,
}

/// What a warm start preloaded (see `gomodfs_core::fs::WarmStart`).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct WarmStartStatus {
    /// Entries the warm list had.
    pub listed: u64,
    /// Module trees and proxy files loaded into the caches.
    pub loaded: u64,
    /// Entries skipped because the store no longer holds them.
    pub missing: u64,
    /// Seconds the preloading took.
    pub seconds: f64,
    /// True once preloading ended (the list done, or stopped).
    pub done: bool,
}

/// How many recent downloads and errors are kept.
const RECENT: usize = 50;

/// Live counters. Cheap to update from many threads.
pub struct Stats {
    start: Instant,
    ops: [OpCounters; Op::ALL.len()],
    caches: [CacheCounters; 2],
    bytes_fetched: AtomicU64,
    in_flight: AtomicU64,
    downloads: Mutex<VecDeque<DownloadRecord>>,
    errors: Mutex<VecDeque<DownloadRecord>>,
    build_cache: Mutex<Option<build_cache::BuildCacheSource>>,
    frontends: frontends::Frontends,
    warm_start: Mutex<Option<WarmStartStatus>>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            start: Instant::now(),
            ops: Default::default(),
            caches: Default::default(),
            bytes_fetched: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            downloads: Mutex::new(VecDeque::with_capacity(RECENT)),
            errors: Mutex::new(VecDeque::with_capacity(RECENT)),
            build_cache: Mutex::new(None),
            frontends: Default::default(),
            warm_start: Mutex::new(None),
        }
    }
}

/// Counts one call of an operation. [`OpTimer::finish`] ends it with its
/// result; dropped without that, the call counts as cancelled.
pub struct OpTimer<'a> {
    stats: &'a Stats,
    op: Op,
    start: Instant,
    done: bool,
}

impl OpTimer<'_> {
    /// Ends the call: an error of kind [`ErrorKind::NotFound`] counts as
    /// not found, any other error as an error.
    pub fn finish<T>(mut self, result: &crate::error::Result<T>) {
        self.end(match Outcome::of(result) {
            Outcome::Ok => End::Ok,
            Outcome::NotFound => End::NotFound,
            Outcome::Error => End::Error,
        });
    }

    /// Takes the call back as if it never started: for a store-only
    /// attempt that is retried as a full call, which is counted instead.
    pub fn discard(mut self) {
        self.done = true;
        self.stats.ops[self.op as usize]
            .started
            .fetch_sub(1, Relaxed);
    }

    fn end(&mut self, how: End) {
        if self.done {
            return;
        }
        self.done = true;
        let c = &self.stats.ops[self.op as usize];
        c.ended.fetch_add(1, Relaxed);
        match how {
            End::Ok => {}
            End::Error => {
                c.errors.fetch_add(1, Relaxed);
            }
            End::NotFound => {
                c.not_found.fetch_add(1, Relaxed);
            }
            End::Cancelled => {
                c.cancelled.fetch_add(1, Relaxed);
            }
        }
        let elapsed = self.start.elapsed();
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        c.nanos.fetch_add(nanos, Relaxed);
        let secs = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(LATENCY_BUCKETS.len());
        c.buckets[bucket].fetch_add(1, Relaxed);
    }
}

enum End {
    Ok,
    Error,
    NotFound,
    Cancelled,
}

impl Drop for OpTimer<'_> {
    fn drop(&mut self) {
        self.end(End::Cancelled);
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

    /// Counts a cache lookup.
    pub fn cache_lookup(&self, cache: Cache, hit: bool) {
        let c = &self.caches[cache as usize];
        if hit {
            c.hits.fetch_add(1, Relaxed);
        } else {
            c.misses.fetch_add(1, Relaxed);
        }
    }

    /// Counts a cache eviction.
    pub fn cache_evicted(&self, cache: Cache) {
        self.caches[cache as usize].evictions.fetch_add(1, Relaxed);
    }

    pub(crate) fn fetched(&self, bytes: u64) {
        self.bytes_fetched.fetch_add(bytes, Relaxed);
    }

    pub(crate) fn download_started(&self) {
        self.in_flight.fetch_add(1, Relaxed);
    }

    /// Records a finished download (and, if it failed, an error).
    pub(crate) fn download_finished(&self, record: DownloadRecord) {
        self.in_flight.fetch_sub(1, Relaxed);
        if record.outcome == Outcome::Error {
            push(&self.errors, record.clone());
        }
        push(&self.downloads, record);
    }

    /// Downloads in flight right now (cheaper than a snapshot).
    pub fn downloads_in_flight(&self) -> u64 {
        self.in_flight.load(Relaxed)
    }

    /// Reports what the warm start preloaded in every snapshot.
    pub fn set_warm_start(&self, status: WarmStartStatus) {
        *self.warm_start.lock() = Some(status);
    }

    /// Reports the build cache counters `source` gives in every snapshot.
    pub fn set_build_cache_source(&self, source: build_cache::BuildCacheSource) {
        *self.build_cache.lock() = Some(source);
    }

    /// Reports `frontend` in every snapshot for as long as the caller keeps
    /// the `Arc` this answers (a frontend holds it while it serves).
    #[must_use = "the frontend is reported only while the answer is kept"]
    pub fn add_frontend(&self, frontend: FrontendStatus) -> std::sync::Arc<FrontendStatus> {
        self.frontends.add(frontend)
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
            not_found: c.not_found.load(Relaxed),
            cancelled: c.cancelled.load(Relaxed),
            total_seconds: Duration::from_nanos(c.nanos.load(Relaxed)).as_secs_f64(),
            latency_buckets: c.buckets.iter().map(|b| b.load(Relaxed)).collect(),
        }
    }

    /// Counters of one cache.
    pub fn cache(&self, cache: Cache) -> CacheSnapshot {
        let c = &self.caches[cache as usize];
        CacheSnapshot {
            hits: c.hits.load(Relaxed),
            misses: c.misses.load(Relaxed),
            evictions: c.evictions.load(Relaxed),
        }
    }

    /// A snapshot of everything counted here; `store` and `upstream` are
    /// filled in by whoever knows them.
    pub fn snapshot(&self) -> StatusSnapshot {
        StatusSnapshot {
            filesystem: "gomodfs",
            version: env!("CARGO_PKG_VERSION"),
            uptime: self.uptime().as_secs_f64(),
            now: unix_now(),
            ops: Op::ALL.iter().map(|&op| (op.name(), self.op(op))).collect(),
            module_cache: self.cache(Cache::Module),
            blob_cache: self.cache(Cache::Blob),
            bytes_fetched: self.bytes_fetched.load(Relaxed),
            downloads_in_flight: self.in_flight.load(Relaxed),
            nodes: NodeCounts::default(),
            store: None,
            store_age: None,
            upstream: None,
            remote: None,
            recent_downloads: self.downloads.lock().iter().rev().cloned().collect(),
            recent_errors: self.errors.lock().iter().rev().cloned().collect(),
            build_cache: self.build_cache.lock().clone().and_then(|source| source()),
            frontends: self.frontends.live(),
            warm_start: *self.warm_start.lock(),
            warm_files: None,
        }
    }
}

fn push(list: &Mutex<VecDeque<DownloadRecord>>, record: DownloadRecord) {
    let mut list = list.lock();
    if list.len() == RECENT {
        list.pop_front();
    }
    list.push_back(record);
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn timers_count_results_latency_and_cancellation() {
        let stats = Stats::default();
        stats.start(Op::Lookup).finish(&Ok(()));
        stats
            .start(Op::Lookup)
            .finish::<()>(&Err(Error::Config("boom".into())));
        stats
            .start(Op::Lookup)
            .finish::<()>(&Err(Error::NotFound("x.partial".into())));
        drop(stats.start(Op::Lookup));
        let s = stats.op(Op::Lookup);
        assert_eq!(
            (s.started, s.ended, s.errors, s.not_found, s.cancelled),
            (4, 4, 1, 1, 1)
        );
        assert_eq!(s.latency_buckets.iter().sum::<u64>(), 4);
        assert_eq!(s.latency_buckets.len(), LATENCY_BUCKETS.len() + 1);
    }

    #[test]
    fn recent_lists_are_bounded_and_newest_first() {
        let stats = Stats::default();
        for i in 0..(RECENT + 5) {
            stats.download_started();
            stats.download_finished(DownloadRecord {
                module: format!("m{i}"),
                version: "v1.0.0".into(),
                what: "zip",
                bytes: 1,
                millis: 1,
                result: ["ok", "boom", "not found upstream"][i % 3].into(),
                outcome: [Outcome::Ok, Outcome::Error, Outcome::NotFound][i % 3],
                at: 0,
            });
        }
        let snap = stats.snapshot();
        assert_eq!(snap.recent_downloads.len(), RECENT);
        assert_eq!(snap.recent_downloads[0].module, format!("m{}", RECENT + 4));
        assert!(snap.recent_errors.iter().all(|r| r.result == "boom"));
        assert_eq!(snap.downloads_in_flight, 0);
    }
}
