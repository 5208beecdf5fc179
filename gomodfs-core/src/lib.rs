//! gomodfs-core: everything of gomodfs that does not know about a protocol.
//!
//! - [`modpath`]: module path and version escaping and validation.
//! - [`dirhash`]: the `h1:` hash `go` checks against go.sum.
//! - [`modzip`]: module zip validation and extraction.
//! - [`proxy`]: the GOPROXY client.
//! - `remote` (feature `remote`): the fleet tier on S3-compatible object storage.
//! - [`store`]: the [`Store`] trait, the git object store and an in-memory store.
//! - [`fs`]: [`ModFs`], the node API every frontend calls.
//! - [`stats`]: per-operation counters and the status JSON.
//! - [`zipgen`]: deterministic module zips, generated from stored files.
//! - [`sumdb`]: checking modules against the checksum database.
#![deny(missing_docs)]

pub mod dirhash;
pub mod error;
mod fetch;
mod fetched_zips;
pub mod fs;
pub mod modpath;
pub mod modzip;
pub mod proxy;
#[cfg(feature = "remote")]
pub mod remote;
mod remote_hook;
pub mod stats;
pub mod store;
pub mod sumdb;
#[cfg(test)]
mod test_log;
mod time;
mod unreachable;
pub mod zipgen;

pub use error::{Error, ErrorKind, Result};
pub use fetched_zips::FetchedZips;
pub use fs::{
    Attr, Caching, Call, Chunk, DirEntry, DirPage, Entry, Lifetime, Listing, ModFs, ModFsOptions,
    NodeId, NodeKind, OpenFile, With,
};
pub use modpath::ModuleVersion;
pub use store::{Store, StoredModule};
