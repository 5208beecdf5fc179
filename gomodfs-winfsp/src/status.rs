//! The one place where core errors become NTSTATUS codes.

use gomodfs_core::{Error, ErrorKind};
use std::fmt;

/// An NTSTATUS code, as WinFsp takes it (`FspError::NTSTATUS`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NtStatus(pub i32);

impl NtStatus {
    /// `STATUS_INVALID_PARAMETER`: a malformed request (ERROR_INVALID_PARAMETER).
    pub const INVALID_PARAMETER: NtStatus = NtStatus(0xC000_000D_u32 as i32);
    /// `STATUS_END_OF_FILE`: a read at or past the end of a file.
    pub const END_OF_FILE: NtStatus = NtStatus(0xC000_0011_u32 as i32);
    /// `STATUS_OBJECT_NAME_INVALID`: a name gomodfs can never hold
    /// (ERROR_INVALID_NAME).
    pub const OBJECT_NAME_INVALID: NtStatus = NtStatus(0xC000_0033_u32 as i32);
    /// `STATUS_OBJECT_NAME_NOT_FOUND`: no such file or directory
    /// (ERROR_FILE_NOT_FOUND, which `go` reads as "does not exist").
    pub const OBJECT_NAME_NOT_FOUND: NtStatus = NtStatus(0xC000_0034_u32 as i32);
    /// `STATUS_FILE_INVALID`: the volume changed under an open file; what a
    /// stale node key is.
    pub const FILE_INVALID: NtStatus = NtStatus(0xC000_0098_u32 as i32);
    /// `STATUS_MEDIA_WRITE_PROTECTED`: every write-like call on the
    /// read-only volume (ERROR_WRITE_PROTECT).
    pub const MEDIA_WRITE_PROTECTED: NtStatus = NtStatus(0xC000_00A2_u32 as i32);
    /// `STATUS_FILE_IS_A_DIRECTORY`: a file operation on a directory.
    pub const FILE_IS_A_DIRECTORY: NtStatus = NtStatus(0xC000_00BA_u32 as i32);
    /// `STATUS_NOT_A_DIRECTORY`: a directory operation on a file
    /// (ERROR_DIRECTORY).
    pub const NOT_A_DIRECTORY: NtStatus = NtStatus(0xC000_0103_u32 as i32);
    /// `STATUS_IO_DEVICE_ERROR`: upstream, zip and store failures
    /// (ERROR_IO_DEVICE); the log says which.
    pub const IO_DEVICE_ERROR: NtStatus = NtStatus(0xC000_0185_u32 as i32);
    /// `STATUS_BUFFER_OVERFLOW`: the caller's buffer is too small for the
    /// answer (a security descriptor).
    pub const BUFFER_OVERFLOW: NtStatus = NtStatus(0x8000_0005_u32 as i32);

    /// The status for a core error: [`ntstatus`] of its kind.
    pub fn of(error: &Error) -> NtStatus {
        ntstatus(error.kind())
    }
}

impl fmt::Debug for NtStatus {
    /// In hex, as Windows documentation spells NTSTATUS codes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NTSTATUS({:#010X})", self.0 as u32)
    }
}

/// Maps a core error kind to the NTSTATUS WinFsp returns. Exhaustive over
/// [`ErrorKind`], so a new kind cannot be forgotten.
pub fn ntstatus(kind: ErrorKind) -> NtStatus {
    match kind {
        ErrorKind::NotFound => NtStatus::OBJECT_NAME_NOT_FOUND,
        ErrorKind::ReadOnly => NtStatus::MEDIA_WRITE_PROTECTED,
        ErrorKind::NotADirectory => NtStatus::NOT_A_DIRECTORY,
        ErrorKind::IsADirectory => NtStatus::FILE_IS_A_DIRECTORY,
        ErrorKind::InvalidArgument => NtStatus::INVALID_PARAMETER,
        ErrorKind::Stale => NtStatus::FILE_INVALID,
        ErrorKind::Io => NtStatus::IO_DEVICE_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// One error of every variant of the core's error type, with the
    /// status Windows must see for it.
    fn every_error() -> Vec<(Error, NtStatus)> {
        let s = || "x".to_owned();
        let (not_found, io) = (NtStatus::OBJECT_NAME_NOT_FOUND, NtStatus::IO_DEVICE_ERROR);
        let io_error = Arc::new(std::io::Error::other("x"));
        vec![
            (
                Error::InvalidPath {
                    path: s(),
                    reason: s(),
                },
                not_found,
            ),
            (
                Error::InvalidVersion {
                    version: s(),
                    reason: s(),
                },
                not_found,
            ),
            (
                Error::InvalidFilePath {
                    path: s(),
                    reason: s(),
                },
                io,
            ),
            (Error::NotFound(s()), not_found),
            (
                Error::ModuleNotFound {
                    module: s(),
                    version: s(),
                    detail: s(),
                },
                not_found,
            ),
            (
                Error::Upstream {
                    module: s(),
                    version: s(),
                    what: s(),
                    cause: s(),
                },
                io,
            ),
            (
                Error::InvalidZip {
                    module: s(),
                    version: s(),
                    reason: s(),
                },
                io,
            ),
            (
                Error::Store {
                    context: s(),
                    cause: s(),
                },
                io,
            ),
            (
                Error::Damaged {
                    context: s(),
                    cause: s(),
                },
                io,
            ),
            (Error::Config(s()), io),
            (Error::ReadOnly, NtStatus::MEDIA_WRITE_PROTECTED),
            (Error::NotADirectory(s()), NtStatus::NOT_A_DIRECTORY),
            (Error::IsADirectory(s()), NtStatus::FILE_IS_A_DIRECTORY),
            (Error::InvalidArgument(s()), NtStatus::INVALID_PARAMETER),
            (Error::Stale(s()), NtStatus::FILE_INVALID),
            (Error::WouldFetch(s()), io),
            (
                Error::Io {
                    context: s(),
                    source: io_error,
                },
                io,
            ),
        ]
    }

    #[test]
    fn every_error_variant_maps_to_its_ntstatus() {
        let errors = every_error();
        assert_eq!(
            errors.len(),
            17,
            "list every variant of gomodfs_core::Error"
        );
        for (error, expected) in &errors {
            assert_eq!(NtStatus::of(error), *expected, "{error:?}");
        }
    }

    #[test]
    fn every_error_kind_has_a_distinct_failure_status() {
        let kinds = [
            ErrorKind::NotFound,
            ErrorKind::ReadOnly,
            ErrorKind::NotADirectory,
            ErrorKind::IsADirectory,
            ErrorKind::InvalidArgument,
            ErrorKind::Stale,
            ErrorKind::Io,
        ];
        let mut seen = std::collections::HashSet::new();
        for kind in kinds {
            let status = ntstatus(kind);
            // Severity "error" (the top two bits 11): Windows treats it as failure.
            assert_eq!(status.0 as u32 >> 30, 0b11, "{kind:?}: {status:?}");
            assert!(seen.insert(status), "{kind:?} shares {status:?}");
        }
        // Every kind reached by some variant of the error type.
        let reached: std::collections::HashSet<_> =
            every_error().iter().map(|(e, _)| e.kind()).collect();
        assert_eq!(reached.len(), kinds.len());
    }

    #[test]
    fn statuses_print_as_windows_spells_them() {
        assert_eq!(
            format!("{:?}", NtStatus::OBJECT_NAME_NOT_FOUND),
            "NTSTATUS(0xC0000034)"
        );
    }
}
