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

#[cfg(test)]
mod tests {
    use super::*;
    use gomodfs_core::ModFsOptions;
    use gomodfs_core::store::MemoryStore;

    #[test]
    fn mounting_elsewhere_than_windows_says_so() {
        let fs =
            ModFs::new(Arc::new(MemoryStore::new()), None, ModFsOptions::default()).expect("modfs");
        let err = mount(Arc::new(fs), &MountPoint::Drive('G')).map(|_| ());
        let message = err.expect_err("no WinFsp here").to_string();
        assert!(message.contains("Windows only"), "{message}");
    }
}
