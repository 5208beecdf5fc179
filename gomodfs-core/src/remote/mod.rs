//! The fleet tier: a shared store on S3-compatible object storage
//! (`--remote s3://bucket/prefix`), between the local store and the
//! upstream proxy, so a new host starts warm.
//!
//! - [`config`]: the URL, the standard AWS variables, the flags, the probe.
//! - [`client`]: [`Remote`], get / head / put-if-absent / delete of one key,
//!   bounded in time, streamed for large objects; reusable for any kind of
//!   object.
//! - [`layout`]: the object keys of module versions (documented there and
//!   in docs/ARCHITECTURE.md).
//! - [`queue`]: [`WriteBehind`], the durable write-behind upload queue;
//!   reusable (the caller supplies the bytes through an [`UploadSource`]).
//! - [`lease`]: one download per module across hosts.
//! - [`tier`]: [`FleetTier`], the module read and write paths the fetcher
//!   calls.

pub mod client;
pub mod config;
pub mod layout;
pub mod lease;
pub mod queue;
pub mod tier;

pub use client::{ObjectData, Put, Remote, RemoteBody};
pub use config::RemoteConfig;
pub use queue::{Pending, QueueStats, UploadSource, WriteBehind, WriteBehindOptions};
pub use tier::{FleetTier, RemoteMeta, RemoteModule, RemoteSnapshot, TierOptions, Upload};
