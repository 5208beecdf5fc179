//! Counters of `gomodfs cacheprog`, the GOCACHEPROG helper serving go's
//! build cache. Each helper process counts its own and writes them to a
//! file; whoever started it (`gomodfs exec`) sums the files and reports the
//! total in the status outputs through [`Stats::set_build_cache_source`].
//!
//! [`Stats::set_build_cache_source`]: super::Stats::set_build_cache_source

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Build cache counters: per helper process, or summed over several.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct BuildCacheCounters {
    /// Helper processes counted (1 for one process).
    pub processes: u64,
    /// `get` requests.
    pub gets: u64,
    /// `get` requests answered with an object (from any tier).
    pub hits: u64,
    /// `get` requests answered with a miss.
    pub misses: u64,
    /// Hits that came from the remote tier.
    pub remote_hits: u64,
    /// Remote objects refused because their body does not hash to their
    /// OutputID (or their entry is malformed); each is a miss.
    pub verify_failures: u64,
    /// `put` requests.
    pub puts: u64,
    /// Body bytes received in `put` requests.
    pub put_bytes: u64,
    /// Body bytes of the objects served by hits.
    pub hit_bytes: u64,
    /// Bytes downloaded from the remote tier.
    pub remote_bytes: u64,
    /// Requests answered with an error.
    pub errors: u64,
    /// Objects removed from the local directory by trimming.
    pub trimmed: u64,
}

impl std::ops::AddAssign for BuildCacheCounters {
    fn add_assign(&mut self, o: BuildCacheCounters) {
        self.processes += o.processes;
        self.gets += o.gets;
        self.hits += o.hits;
        self.misses += o.misses;
        self.remote_hits += o.remote_hits;
        self.verify_failures += o.verify_failures;
        self.puts += o.puts;
        self.put_bytes += o.put_bytes;
        self.hit_bytes += o.hit_bytes;
        self.remote_bytes += o.remote_bytes;
        self.errors += o.errors;
        self.trimmed += o.trimmed;
    }
}

/// Where a status snapshot gets the build cache counters from.
pub type BuildCacheSource = Arc<dyn Fn() -> Option<BuildCacheCounters> + Send + Sync>;
