//! What the upstream client reports, with or without the network client
//! (feature `net`): its counters and its raw answers.

use bytes::Bytes;

/// Counters of the upstream client, for observability.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct UpstreamStats {
    /// Requests sent to proxies (each HTTP attempt, retries included, and
    /// each `file://` read).
    pub requests: u64,
    /// Body bytes received in successful responses.
    pub bytes: u64,
    /// 404/410 answers received (per request, not per fetch).
    pub not_found: u64,
    /// Fetches that failed with an error other than not-found, after all
    /// retries and the whole GOPROXY list (per fetch, not per caller).
    pub errors: u64,
    /// Retries of transient failures.
    pub retries: u64,
    /// Fetches answered from the negative cache, without a request.
    pub negative_hits: u64,
    /// Fetches that joined an identical fetch already in flight.
    pub coalesced: u64,
}

/// An answer of [`Upstream::fetch_raw`](super::Upstream::fetch_raw).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// 200, 404 or 410.
    pub status: u16,
    /// The body (for 404/410, its first 512 bytes at most).
    pub body: Bytes,
}
