//! WinFsp frontend of gomodfs: serves a [`ModFs`](gomodfs_core::ModFs) as
//! a read-only, case-sensitive Windows volume through WinFsp (winfsp-rs).
//!
//! Licence: this crate is GPL-3.0, because the `winfsp` crate is; a
//! `gomodfs` binary built with its `winfsp` feature is GPL-3.0 too.
//!
//! Everything that is not a WinFsp call is plain Rust here, built and
//! unit-tested on every host:
//!
//! - [`names`]: WinFsp's UTF-16 paths to core paths and back, case kept.
//! - [`status`]: the one mapping from core error kinds to NTSTATUS codes.
//! - [`facts`]: file attributes, sizes, times and file index numbers.
//! - [`enumerate`]: directory listings in WinFsp's buffers, resumed at
//!   WinFsp's markers over the core's paged listings.
//! - [`security`]: the one security descriptor (everyone may read).
//! - [`mountpoint`]: the mount point argument (`X:`, `*`, a new directory).
//! - [`volume`]: the operations WinFsp calls (open, read, list, close),
//!   over the node API.
//!
//! On Windows, `host.rs` implements WinFsp's `FileSystemContext` by
//! converting types to and from [`volume::Volume`], and [`mount`] mounts;
//! elsewhere [`mount`] answers [`WinfspError::Unsupported`].
#![deny(missing_docs)]

pub mod enumerate;
pub mod facts;
pub mod mountpoint;
pub mod names;
pub mod security;
pub mod status;
pub mod volume;

#[cfg(windows)]
mod host;
#[cfg(not(windows))]
mod unsupported;

#[cfg(windows)]
pub use host::{Mounted, mount};
pub use mountpoint::MountPoint;
pub use status::NtStatus;
#[cfg(not(windows))]
pub use unsupported::{Mounted, mount};
pub use volume::Volume;

/// Errors of the WinFsp frontend.
#[derive(Debug, thiserror::Error)]
pub enum WinfspError {
    /// The mount point argument cannot be used.
    #[error("mount point {arg:?}: {reason}")]
    MountPoint {
        /// The argument as given.
        arg: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// WinFsp refused a step of mounting (loading its DLL, creating the
    /// volume, setting the mount point, starting its dispatcher).
    #[error("WinFsp: {step}: {detail}{hint}")]
    Host {
        /// What was being done.
        step: &'static str,
        /// What WinFsp answered.
        detail: String,
        /// What the user can do about it, if known (starts with "; ").
        hint: &'static str,
    },
    /// Mounting through WinFsp was asked for on another system.
    #[error("WinFsp mounts exist on Windows only: use FUSE, NFS or WebDAV here")]
    Unsupported,
}
