//! `--fuse-io-uring[=WHEN]`: how a FUSE mount takes the kernel's requests
//! (see `gomodfs_fuse::IoUring`).

use clap::ValueEnum;

/// When a FUSE mount is served over io_uring instead of `/dev/fuse`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum FuseIoUring {
    /// io_uring when the kernel's switch is already on, else /dev/fuse.
    #[default]
    Auto,
    /// io_uring, turning the kernel's switch on (as root).
    #[value(alias = "true", alias = "yes", alias = "1")]
    On,
    /// /dev/fuse only.
    #[value(alias = "false", alias = "no", alias = "0")]
    Off,
}

#[cfg(feature = "fuse")]
impl From<FuseIoUring> for gomodfs::fuse::IoUring {
    fn from(when: FuseIoUring) -> Self {
        match when {
            FuseIoUring::Auto => gomodfs::fuse::IoUring::Auto,
            FuseIoUring::On => gomodfs::fuse::IoUring::On,
            FuseIoUring::Off => gomodfs::fuse::IoUring::Off,
        }
    }
}
