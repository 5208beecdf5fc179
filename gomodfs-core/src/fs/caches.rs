//! The node API's caches: parsed module trees and file contents, both
//! `quick_cache` with byte weights. Content is immutable, so entries are
//! only ever evicted, never invalidated; evictions are counted.

use super::tree::ModuleTree;
use crate::modpath::ModuleVersion;
use crate::stats::{Cache, Stats};
use crate::store::{BlobId, MetaFile};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A file's contents in the blob cache, with how many of its bytes have
/// been served as pieces since it was cached.
#[derive(Clone)]
pub(super) struct CachedBlob {
    /// The file's contents.
    pub(super) data: Bytes,
    served: Arc<AtomicU64>,
}

impl CachedBlob {
    pub(super) fn new(data: Bytes) -> Self {
        CachedBlob {
            data,
            served: Arc::default(),
        }
    }

    /// Counts `n` more bytes served; true for the piece that brings the
    /// count to the file's size (once per entry), after which every byte
    /// has been handed out, in whatever order the pieces came.
    pub(super) fn serve(&self, n: u64) -> bool {
        let len = self.data.len() as u64;
        let before = self.served.fetch_add(n, Ordering::Relaxed);
        before < len && before.saturating_add(n) >= len
    }
}

#[derive(Clone)]
pub(super) struct BytesWeighter;
impl quick_cache::Weighter<BlobId, CachedBlob> for BytesWeighter {
    fn weight(&self, _: &BlobId, v: &CachedBlob) -> u64 {
        v.data.len() as u64 + 64
    }
}

/// Counts evictions of one cache.
#[derive(Clone)]
pub(super) struct CountEvictions(Arc<Stats>, Cache);

impl<K, V> quick_cache::Lifecycle<K, V> for CountEvictions {
    type RequestState = ();
    fn on_evict(&self, _: &mut (), _: K, _: V) {
        self.0.cache_evicted(self.1);
    }
}

pub(super) type TreeCache = quick_cache::sync::Cache<
    ModuleVersion,
    Arc<ModuleTree>,
    TreeWeighter,
    quick_cache::DefaultHashBuilder,
    CountEvictions,
>;
pub(super) type BlobCache = quick_cache::sync::Cache<
    BlobId,
    CachedBlob,
    BytesWeighter,
    quick_cache::DefaultHashBuilder,
    CountEvictions,
>;

/// The cache of `.info` and `.mod` files' contents, by module version.
pub(super) type MetaCache = quick_cache::sync::Cache<
    (ModuleVersion, MetaFile),
    Bytes,
    MetaWeighter,
    quick_cache::DefaultHashBuilder,
>;

#[derive(Clone)]
pub(super) struct MetaWeighter;
impl quick_cache::Weighter<(ModuleVersion, MetaFile), Bytes> for MetaWeighter {
    fn weight(&self, (mv, _): &(ModuleVersion, MetaFile), v: &Bytes) -> u64 {
        (v.len() + mv.path().len() + mv.version().len()) as u64 + 64
    }
}

/// What the cache of `.info` and `.mod` files may weigh: a few thousand
/// of them (most are under 4 KiB).
const META_CACHE_BYTES: u64 = 4 << 20;

/// The cache of `.info` and `.mod` files. A client asks for such a file's
/// size (its LOOKUP or GETATTR), then for its bytes, and the store answers
/// both from a ref and an object read from disk; with the cache the
/// second comes from memory (`go list` on a fresh mount of bigapp reads 276
/// of them).
pub(super) fn meta_cache() -> MetaCache {
    MetaCache::with_weighter(1024, META_CACHE_BYTES, MetaWeighter)
}

#[derive(Clone)]
pub(super) struct TreeWeighter;
impl quick_cache::Weighter<ModuleVersion, Arc<ModuleTree>> for TreeWeighter {
    fn weight(&self, _: &ModuleVersion, v: &Arc<ModuleTree>) -> u64 {
        v.weight()
    }
}

/// The cache of parsed module trees, weighing at most `bytes`.
pub(super) fn tree_cache(bytes: u64, stats: Arc<Stats>) -> TreeCache {
    let lifecycle = CountEvictions(stats, Cache::Module);
    match options(1024, bytes) {
        Some(options) => {
            TreeCache::with_options(options, TreeWeighter, Default::default(), lifecycle)
        }
        None => TreeCache::with(1024, bytes, TreeWeighter, Default::default(), lifecycle),
    }
}

/// Shards of each cache. `quick_cache` gives every shard an equal part of
/// the budget and refuses an entry heavier than its shard's part; its
/// default (four shards per CPU) made the largest cacheable file depend on
/// the machine: 8 MiB of the 64 MiB default on 2 CPUs, 0.5 MiB on 32, and
/// a file too heavy to cache is inflated again for every piece a reader
/// asks (a FUSE READ is at most 128 KiB). Four shards: any entry up to
/// about a quarter of the budget is kept, whatever the machine; a handful
/// of request threads hardly contend on them.
const SHARDS: usize = 4;

/// The largest entry (file size) a cache of `bytes` keeps: a shard's part
/// of the budget, less the entry overhead [`BytesWeighter`] counts.
pub(super) fn largest_kept(bytes: u64) -> u64 {
    (bytes / SHARDS as u64).saturating_sub(64)
}

/// The options of a cache of `bytes` and about `estimated_items` entries;
/// `None` only if `quick_cache` refuses them (it refuses unset values).
fn options(estimated_items: usize, bytes: u64) -> Option<quick_cache::Options> {
    quick_cache::OptionsBuilder::new()
        .estimated_items_capacity(estimated_items)
        .weight_capacity(bytes)
        .shards(SHARDS)
        .build()
        .ok()
}

/// The cache of file contents (verified bytes only), weighing at most
/// `bytes`.
pub(super) fn blob_cache(bytes: u64, stats: Arc<Stats>) -> BlobCache {
    let lifecycle = CountEvictions(stats, Cache::Blob);
    match options(4096, bytes) {
        Some(options) => {
            BlobCache::with_options(options, BytesWeighter, Default::default(), lifecycle)
        }
        None => BlobCache::with(4096, bytes, BytesWeighter, Default::default(), lifecycle),
    }
}
