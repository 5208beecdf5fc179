//! The one place where core errors become errno values.

use fuser::Errno;
use gomodfs_core::{Error, ErrorKind};

/// Maps a core error to the errno FUSE returns. Exhaustive over
/// [`ErrorKind`], so a new kind cannot be forgotten.
pub fn to_errno(error: &Error) -> Errno {
    match error.kind() {
        ErrorKind::NotFound => Errno::ENOENT,
        ErrorKind::ReadOnly => Errno::EROFS,
        ErrorKind::NotADirectory => Errno::ENOTDIR,
        ErrorKind::IsADirectory => Errno::EISDIR,
        ErrorKind::InvalidArgument => Errno::EINVAL,
        ErrorKind::Stale => Errno::ESTALE,
        ErrorKind::Io => Errno::EIO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_kinds() {
        assert_eq!(to_errno(&Error::NotFound("x".into())), Errno::ENOENT);
        assert_eq!(to_errno(&Error::ReadOnly), Errno::EROFS);
        let upstream = Error::Upstream {
            module: "m".into(),
            version: "v1.0.0".into(),
            what: "zip".into(),
            cause: "500".into(),
        };
        assert_eq!(to_errno(&upstream), Errno::EIO);
        let missing = Error::ModuleNotFound {
            module: "m".into(),
            version: "v1.0.0".into(),
            detail: "404".into(),
        };
        assert_eq!(to_errno(&missing), Errno::ENOENT);
    }
}
