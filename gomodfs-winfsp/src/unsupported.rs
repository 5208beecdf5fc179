//! [`mount`] on hosts other than Windows: a clear error, so that the
//! `gomodfs` command's WinFsp path builds (and is type-checked) anywhere.

use crate::WinfspError;
use crate::mountpoint::MountPoint;
use gomodfs_core::ModFs;
use std::sync::Arc;

/// A mounted volume; never made on this host.
pub struct Mounted {
    never: std::convert::Infallible,
}

impl Mounted {
    /// Where the volume is mounted.
    pub fn mount_point(&self) -> &MountPoint {
        match self.never {}
    }

    /// Stops serving and removes the mount point.
    pub fn unmount(self) {
        match self.never {}
    }
}

/// WinFsp exists on Windows only: always [`WinfspError::Unsupported`].
pub fn mount(_fs: Arc<ModFs>, _point: &MountPoint) -> Result<Mounted, WinfspError> {
    Err(WinfspError::Unsupported)
}
