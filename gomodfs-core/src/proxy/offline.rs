//! The stand-in for the upstream client when gomodfs-core is built without
//! its network client (feature `net` off, e.g. for a cross-check of a
//! frontend on a target whose TLS stack cannot be built here).
//!
//! [`Upstream`] has no values: the only filesystem such a build can make
//! is an offline one (`ModFs::new(store, None, ..)`), which serves what
//! the store holds and answers everything else as not downloadable.

use super::ProxyFile;
use super::answers::{RawResponse, UpstreamStats};
use crate::error::Result;
use crate::modpath::ModuleVersion;
use bytes::Bytes;

/// The GOPROXY client of a build without the network client: it cannot be
/// made, so every `Option<Upstream>` is `None`.
#[derive(Debug, Clone)]
pub enum Upstream {}

impl Upstream {
    /// Never called: there is no upstream to fetch from.
    pub async fn fetch(&self, _module: &ModuleVersion, _file: ProxyFile) -> Result<Bytes> {
        match *self {}
    }

    /// Never called: there is no upstream to fetch from.
    pub async fn fetch_to_file(
        &self,
        _module: &ModuleVersion,
        _file: ProxyFile,
        _out: &mut std::fs::File,
    ) -> Result<u64> {
        match *self {}
    }

    /// Never called: there is no upstream to ask.
    pub async fn fetch_raw(&self, _url_path: &str, _module: Option<&str>) -> Result<RawResponse> {
        match *self {}
    }

    /// Never called: nothing to cancel.
    pub fn shutdown(&self) {
        match *self {}
    }

    /// Never called.
    pub fn is_shut_down(&self) -> bool {
        match *self {}
    }

    /// Never called: no counters.
    pub fn stats(&self) -> UpstreamStats {
        match *self {}
    }

    /// Never called: no proxies.
    pub fn proxies(&self) -> String {
        match *self {}
    }

    /// Never called: no proxy to ask about a checksum database.
    pub(crate) async fn sumdb_through_proxy(&self, _name: &str) -> Result<bool> {
        match *self {}
    }

    /// Never called: no network client.
    pub(crate) async fn fetch_url(&self, _base: &str, _url_path: &str) -> Result<RawResponse> {
        match *self {}
    }
}
