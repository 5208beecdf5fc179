//! The one place where core errors become HTTP status codes.

use gomodfs_core::{Error, ErrorKind};
use http::StatusCode;

/// Maps a core error to the HTTP status a frontend answers with.
/// Exhaustive over [`ErrorKind`], so a new kind cannot be forgotten.
///
/// | kind | status |
/// | --- | --- |
/// | `NotFound` (also a version the upstream does not have) | 404 |
/// | `ReadOnly` | 403 |
/// | `NotADirectory` (a file used as a directory in a path) | 404 |
/// | `IsADirectory` | 403 |
/// | `InvalidArgument` | 400 |
/// | `Stale` (a persistent node key naming nothing) | 404 |
/// | `Io`: store and local I/O failures | 500 |
/// | `Io`: upstream failures, invalid zips, configuration | 502 |
pub fn to_status(error: &Error) -> StatusCode {
    match error.kind() {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::ReadOnly => StatusCode::FORBIDDEN,
        ErrorKind::NotADirectory => StatusCode::NOT_FOUND,
        ErrorKind::IsADirectory => StatusCode::FORBIDDEN,
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        // Persistent node keys (NFS handles) are not used over HTTP; if one
        // ever is, it names nothing any more.
        ErrorKind::Stale => StatusCode::NOT_FOUND,
        ErrorKind::Io => match error {
            Error::Store { .. } | Error::Damaged { .. } | Error::Io { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            // Upstream, invalid zip, configuration (and anything added later):
            // the gateway's upstream failed us.
            _ => StatusCode::BAD_GATEWAY,
        },
    }
}

/// A status from [`to_status`] in dav-server's terms, so that the two
/// never disagree.
pub(crate) fn to_fs_error(status: StatusCode) -> dav_server::fs::FsError {
    use dav_server::fs::FsError;
    match status {
        StatusCode::NOT_FOUND => FsError::NotFound,
        StatusCode::FORBIDDEN => FsError::Forbidden,
        // dav-server answers 502 for IsRemote.
        StatusCode::BAD_GATEWAY => FsError::IsRemote,
        _ => FsError::GeneralFailure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_kinds() {
        assert_eq!(to_status(&Error::NotFound("x".into())), 404);
        assert_eq!(to_status(&Error::ReadOnly), 403);
        let missing = Error::ModuleNotFound {
            module: "m".into(),
            version: "v1.0.0".into(),
            detail: "404".into(),
        };
        assert_eq!(to_status(&missing), 404);
        let upstream = Error::Upstream {
            module: "m".into(),
            version: "v1.0.0".into(),
            what: ".zip".into(),
            cause: "500".into(),
        };
        assert_eq!(to_status(&upstream), 502);
        assert_eq!(to_status(&Error::store("reading", "broken")), 500);
        assert_eq!(to_status(&Error::InvalidArgument("x".into())), 400);
        assert_eq!(to_status(&Error::Stale("k".into())), 404);
    }
}
