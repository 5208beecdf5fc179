//! `--fuse-io-uring[=WHEN]`: how a FUSE mount takes the kernel's requests
//! (see `gomodfs_fuse::IoUring`).

use clap::{Args, ValueEnum};

/// The `--fuse-io-uring` flag of every command that mounts (`mount`,
/// `exec`, `serve --mount`).
#[derive(Args, Clone, Copy, Debug, Default)]
pub(crate) struct FuseIoUringFlag {
    /// Serve over FUSE over io_uring (Linux 6.14+) instead of /dev/fuse
    /// reads: shorter round trips, a faster fresh `go list` and `go build`
    /// (docs/BENCHMARKS.md). auto (the default): when the kernel's switch
    /// /sys/module/fuse/parameters/enable_uring is on; on (the flag
    /// alone): turn the switch on (as root); off: never. Where io_uring is
    /// not to be had, the log says why and the mount serves over /dev/fuse.
    /// (`serve`: for its --mount.)
    #[arg(
        long = "fuse-io-uring",
        env = "GOMODFS_FUSE_IO_URING",
        value_enum,
        value_name = "WHEN",
        default_value_t,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "on"
    )]
    pub(crate) when: FuseIoUring,
}

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
