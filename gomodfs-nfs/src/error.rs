//! The crate's error type, and the one place where core errors become NFS
//! status codes.

use gomodfs_core::{Error, ErrorKind};
use nfs3_server::nfs3_types::nfs3::nfsstat3;

/// Errors of the NFS frontend itself (starting and stopping the server).
/// Errors of requests are NFS status codes, from [`to_nfsstat`].
#[derive(Debug, thiserror::Error)]
pub enum NfsError {
    /// The listen address is not `PORT` or `IPv4:PORT`.
    #[error("invalid NFS listen address {addr:?}: {reason}")]
    Address {
        /// The address as given.
        addr: String,
        /// Why it was refused.
        reason: String,
    },
    /// Binding the listener failed (port in use, no permission, ...).
    #[error("listening for NFS on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// Starting the server's runtime failed.
    #[error("starting the NFS server runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// From the core.
    #[error(transparent)]
    Core(#[from] Error),
}

/// Maps a core error to the NFS status a request answers. Exhaustive over
/// [`ErrorKind`], so a new kind cannot be forgotten: a failed download is
/// `NFS3ERR_IO`, never `NFS3ERR_NOENT`.
pub fn to_nfsstat(error: &Error) -> nfsstat3 {
    match error.kind() {
        ErrorKind::NotFound => nfsstat3::NFS3ERR_NOENT,
        ErrorKind::ReadOnly => nfsstat3::NFS3ERR_ROFS,
        ErrorKind::NotADirectory => nfsstat3::NFS3ERR_NOTDIR,
        ErrorKind::IsADirectory => nfsstat3::NFS3ERR_ISDIR,
        ErrorKind::InvalidArgument => nfsstat3::NFS3ERR_INVAL,
        ErrorKind::Stale => nfsstat3::NFS3ERR_STALE,
        ErrorKind::Io => nfsstat3::NFS3ERR_IO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_kinds() {
        assert_eq!(
            to_nfsstat(&Error::NotFound("x".into())),
            nfsstat3::NFS3ERR_NOENT
        );
        assert_eq!(to_nfsstat(&Error::ReadOnly), nfsstat3::NFS3ERR_ROFS);
        assert_eq!(
            to_nfsstat(&Error::Stale("k".into())),
            nfsstat3::NFS3ERR_STALE
        );
        let upstream = Error::Upstream {
            module: "m".into(),
            version: "v1.0.0".into(),
            what: "zip".into(),
            cause: "500".into(),
        };
        assert_eq!(to_nfsstat(&upstream), nfsstat3::NFS3ERR_IO);
        let invalid = Error::InvalidZip {
            module: "m".into(),
            version: "v1.0.0".into(),
            reason: "bomb".into(),
        };
        assert_eq!(to_nfsstat(&invalid), nfsstat3::NFS3ERR_IO);
        let missing = Error::ModuleNotFound {
            module: "m".into(),
            version: "v1.0.0".into(),
            detail: "404".into(),
        };
        assert_eq!(to_nfsstat(&missing), nfsstat3::NFS3ERR_NOENT);
    }
}
