//! `@v/list`, `@latest` and `sumdb/` passed through to the upstream, with a
//! short-lived cache and stale-if-error.
//!
//! An answer (200, 404 or 410) is served from the cache for `fresh`; after
//! that the upstream is asked again, and if it fails (network error, 5xx,
//! timeout) the cached answer is served for up to `stale` more, with a
//! `Warning: 110` header. With no upstream at all (offline) a cached answer
//! of any age is served.
//!
//! The request grammar and the upstream fetch are the core's
//! ([`PassRequest`], [`ModFs::pass_through`]); this cache is the HTTP
//! endpoint's policy (its windows are the `Cache-Control` and `Warning`
//! it sends), so it lives here (docs/ARCHITECTURE.md).

use bytes::Bytes;
use gomodfs_core::ModFs;
use gomodfs_core::fs::PassRequest;
use gomodfs_core::proxy::RawResponse;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How an answer was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// From the upstream now, or from the cache within its fresh time.
    Fresh,
    /// From the cache after the upstream failed (or there is none).
    Stale,
}

#[derive(Clone)]
struct Cached {
    at: Instant,
    resp: RawResponse,
}

/// What one cached answer costs besides its key and body bytes: the
/// entry, its `Instant`, the `Bytes` and `String` headers, the cache's own
/// bookkeeping and allocator rounding (measured: a few hundred bytes).
pub(crate) const ENTRY_OVERHEAD: u64 = 256;

/// The default size of the cache: [`ENTRY_OVERHEAD`], keys and bodies
/// together (at most 32,768 small answers such as 404s).
pub(crate) const DEFAULT_BYTES: u64 = 8 << 20;

#[derive(Clone)]
struct Weigher;
impl quick_cache::Weighter<String, Cached> for Weigher {
    fn weight(&self, key: &String, v: &Cached) -> u64 {
        (key.len() + v.resp.body.len()) as u64 + ENTRY_OVERHEAD
    }
}

/// The pass-through cache.
pub(crate) struct Passthrough {
    cache: quick_cache::sync::Cache<String, Cached, Weigher>,
    fresh: Duration,
    stale: Duration,
}

/// Why a pass-through request has no answer.
pub(crate) enum PassError {
    /// No upstream is configured (offline) and nothing is cached.
    Offline,
    /// The upstream failed and nothing usable is cached.
    Upstream(gomodfs_core::Error),
}

impl Passthrough {
    /// A cache of at most `bytes` bytes, counted as [`Weigher`] does.
    pub(crate) fn new(fresh: Duration, stale: Duration, bytes: u64) -> Passthrough {
        let items = usize::try_from(bytes / (ENTRY_OVERHEAD * 2)).unwrap_or(4096);
        Passthrough {
            cache: quick_cache::sync::Cache::with_weighter(items.max(16), bytes, Weigher),
            fresh,
            stale,
        }
    }

    /// The answer to `request`, cached under its URL path.
    pub(crate) async fn get(
        &self,
        fs: &Arc<ModFs>,
        request: &PassRequest,
    ) -> Result<(RawResponse, Freshness), PassError> {
        let url_path = request.url_path();
        let cached = self.cache.get(&url_path);
        if let Some(c) = &cached
            && c.at.elapsed() < self.fresh
        {
            return Ok((c.resp.clone(), Freshness::Fresh));
        }
        match fs.pass_through(request).await {
            Ok(Some(resp)) => {
                // The body may be a slice of a larger read buffer: keep an
                // exact copy, so the weight is what the entry really holds.
                let resp = RawResponse {
                    status: resp.status,
                    body: Bytes::copy_from_slice(&resp.body),
                };
                self.cache.insert(
                    url_path,
                    Cached {
                        at: Instant::now(),
                        resp: resp.clone(),
                    },
                );
                Ok((resp, Freshness::Fresh))
            }
            Ok(None) => match cached {
                Some(c) => Ok((c.resp, Freshness::Stale)),
                None => Err(PassError::Offline),
            },
            Err(e) => match cached {
                Some(c) if c.at.elapsed() < self.fresh + self.stale => {
                    tracing::info!(url_path, error = %e, "upstream failed; serving a stale answer");
                    Ok((c.resp, Freshness::Stale))
                }
                _ => Err(PassError::Upstream(e)),
            },
        }
    }
}

/// The versions of `module` the store holds ([`ModFs::versions`]), one per
/// line: the offline answer to `@v/list`.
pub(crate) fn stored_list(fs: &ModFs, module: &str) -> gomodfs_core::Result<Bytes> {
    let mut out = String::new();
    for v in fs.versions(module)? {
        out.push_str(&v);
        out.push('\n');
    }
    Ok(Bytes::from(out))
}
