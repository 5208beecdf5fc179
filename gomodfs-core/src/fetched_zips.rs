//! Module zips handed on as they were fetched: a frontend that serves
//! `.zip` files (the GOPROXY endpoint) can send and keep the zip the
//! fetcher just validated, instead of waiting for the store and
//! generating the zip again from it.

use crate::modpath::ModuleVersion;
use parking_lot::RwLock;
use std::fs::File;
use std::sync::Arc;

/// Receives module zips the fetcher validated (from upstream or the fleet
/// tier), while their temporary files still exist. Set with
/// [`ModFs::keep_fetched_zips`](crate::ModFs::keep_fetched_zips).
pub trait FetchedZips: Send + Sync {
    /// Whether `module`'s zip is wanted; asked before the fetch validates
    /// it, so an unwanted zip costs nothing.
    fn wants(&self, module: &ModuleVersion) -> bool;

    /// The zip of `module`, validated and admitted by the checksum
    /// database: `zip` is at its start, and its files hash to `ziphash`
    /// (the `h1:` go records). A failure is the receiver's to log.
    ///
    /// On unix this runs as soon as the zip is valid, before the module is
    /// stored, while the store reads the same file through a handle that
    /// shares `zip`'s offset: the receiver must read it with positional
    /// reads only (`FileExt::read_at`), never move its offset. Elsewhere it
    /// runs once the module is stored, and the file is the receiver's.
    fn keep(&self, module: &ModuleVersion, ziphash: &str, zip: &mut File);
}

/// Where the fetcher finds the receiver (set at any time, shared with
/// every download task).
#[derive(Clone, Default)]
pub(crate) struct ZipReceiver(Arc<RwLock<Option<Arc<dyn FetchedZips>>>>);

impl ZipReceiver {
    /// Sets (replaces) the receiver.
    pub(crate) fn set(&self, receiver: Arc<dyn FetchedZips>) {
        *self.0.write() = Some(receiver);
    }

    /// The receiver, if one is set and wants `module`'s zip.
    pub(crate) fn wanting(&self, module: &ModuleVersion) -> Option<Arc<dyn FetchedZips>> {
        self.0.read().clone().filter(|r| r.wants(module))
    }
}
