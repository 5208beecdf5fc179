//! What Windows is told about a node: attributes, sizes, times and the
//! file index, from the core's [`Attr`]. The fields are those of WinFsp's
//! `FSP_FSCTL_FILE_INFO`, which the Windows glue copies them into.

use gomodfs_core::{Attr, NodeKind};
use std::time::{SystemTime, UNIX_EPOCH};

/// `FILE_ATTRIBUTE_READONLY`: every file and directory of the volume.
pub const FILE_ATTRIBUTE_READONLY: u32 = 0x0000_0001;
/// `FILE_ATTRIBUTE_DIRECTORY`.
pub const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x0000_0010;

/// The volume's allocation unit (sector size times sectors per unit), to
/// which allocation sizes are rounded.
pub const ALLOCATION_UNIT: u64 = 4096;

/// Seconds from 1601-01-01 (the FILETIME epoch) to 1970-01-01.
const FILETIME_UNIX_OFFSET_SECS: u64 = 11_644_473_600;

/// What Windows is told about one node (`FSP_FSCTL_FILE_INFO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileFacts {
    /// `FILE_ATTRIBUTE_*` flags: read-only, and directory for directories.
    pub attributes: u32,
    /// The exact size in bytes (0 for directories).
    pub file_size: u64,
    /// The size rounded up to [`ALLOCATION_UNIT`].
    pub allocation_size: u64,
    /// The module version's time (its `.info` `Time`) as a FILETIME:
    /// creation, last access, last write and change time alike.
    pub time: u64,
    /// The file index (`FileInternalInformation`): the core's node id,
    /// stable across mounts and restarts, unique per path.
    pub index_number: u64,
}

impl FileFacts {
    /// The facts of a node with attributes `attr`.
    pub fn of(attr: &Attr) -> FileFacts {
        let directory = attr.kind == NodeKind::Directory;
        let file_size = if directory { 0 } else { attr.size };
        FileFacts {
            attributes: FILE_ATTRIBUTE_READONLY
                | if directory {
                    FILE_ATTRIBUTE_DIRECTORY
                } else {
                    0
                },
            file_size,
            allocation_size: file_size.div_ceil(ALLOCATION_UNIT) * ALLOCATION_UNIT,
            time: filetime(attr.mtime),
            index_number: attr.id.0,
        }
    }

    /// Whether these are a directory's facts.
    pub fn is_directory(&self) -> bool {
        self.attributes & FILE_ATTRIBUTE_DIRECTORY != 0
    }
}

/// A time as a FILETIME: 100-nanosecond intervals since 1601-01-01 UTC
/// (times before 1970 are not in module caches and become 1970).
pub fn filetime(t: SystemTime) -> u64 {
    let since_unix = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    (FILETIME_UNIX_OFFSET_SECS + since_unix.as_secs()) * 10_000_000
        + u64::from(since_unix.subsec_nanos() / 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gomodfs_core::{Caching, NodeId};
    use std::time::Duration;

    fn attr(kind: NodeKind, size: u64) -> Attr {
        Attr {
            id: NodeId(0x1234_5678_9abc_def0),
            kind,
            size,
            perm: 0o444,
            nlink: 1,
            mtime: UNIX_EPOCH + Duration::from_secs(1_704_164_645),
            cache: Caching::IMMUTABLE,
        }
    }

    #[test]
    fn files_are_read_only_with_exact_and_rounded_sizes() {
        let facts = FileFacts::of(&attr(NodeKind::File, 4097));
        assert_eq!(facts.attributes, FILE_ATTRIBUTE_READONLY);
        assert!(!facts.is_directory());
        assert_eq!(facts.file_size, 4097);
        assert_eq!(facts.allocation_size, 8192);
        assert_eq!(FileFacts::of(&attr(NodeKind::File, 0)).allocation_size, 0);
        assert_eq!(
            FileFacts::of(&attr(NodeKind::File, 4096)).allocation_size,
            4096
        );
    }

    #[test]
    fn directories_are_read_only_directories_of_size_zero() {
        let facts = FileFacts::of(&attr(NodeKind::Directory, 7));
        assert_eq!(
            facts.attributes,
            FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_DIRECTORY
        );
        assert!(facts.is_directory());
        assert_eq!((facts.file_size, facts.allocation_size), (0, 0));
    }

    #[test]
    fn the_file_index_is_the_node_id() {
        let facts = FileFacts::of(&attr(NodeKind::File, 1));
        assert_eq!(facts.index_number, 0x1234_5678_9abc_def0);
    }

    #[test]
    fn times_are_filetimes() {
        // 2024-01-02T03:04:05Z, as Windows' FILETIME.
        let facts = FileFacts::of(&attr(NodeKind::File, 1));
        assert_eq!(facts.time, 133_486_382_450_000_000);
        assert_eq!(filetime(UNIX_EPOCH), 116_444_736_000_000_000);
        let t = UNIX_EPOCH + Duration::new(1, 250);
        assert_eq!(filetime(t), 116_444_736_010_000_002);
    }
}
