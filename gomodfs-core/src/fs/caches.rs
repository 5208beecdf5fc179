//! The node API's caches: parsed module trees and file contents, both
//! `quick_cache` with byte weights. Content is immutable, so entries are
//! only ever evicted, never invalidated; evictions are counted.

use super::tree::ModuleTree;
use crate::modpath::ModuleVersion;
use crate::stats::{Cache, Stats};
use crate::store::BlobId;
use bytes::Bytes;
use std::sync::Arc;

#[derive(Clone)]
pub(super) struct BytesWeighter;
impl quick_cache::Weighter<BlobId, Bytes> for BytesWeighter {
    fn weight(&self, _: &BlobId, v: &Bytes) -> u64 {
        v.len() as u64 + 64
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
    Bytes,
    BytesWeighter,
    quick_cache::DefaultHashBuilder,
    CountEvictions,
>;

#[derive(Clone)]
pub(super) struct TreeWeighter;
impl quick_cache::Weighter<ModuleVersion, Arc<ModuleTree>> for TreeWeighter {
    fn weight(&self, _: &ModuleVersion, v: &Arc<ModuleTree>) -> u64 {
        v.weight()
    }
}

/// The cache of parsed module trees, weighing at most `bytes`.
pub(super) fn tree_cache(bytes: u64, stats: Arc<Stats>) -> TreeCache {
    TreeCache::with(
        1024,
        bytes,
        TreeWeighter,
        Default::default(),
        CountEvictions(stats, Cache::Module),
    )
}

/// The cache of file contents (verified bytes only), weighing at most
/// `bytes`.
pub(super) fn blob_cache(bytes: u64, stats: Arc<Stats>) -> BlobCache {
    BlobCache::with(
        4096,
        bytes,
        BytesWeighter,
        Default::default(),
        CountEvictions(stats, Cache::Blob),
    )
}
