//! The one error type of gomodfs-core.
//!
//! Every error a user can see names what it is about (module, version, path)
//! and its cause. Frontends do not match on variants: they ask
//! [`Error::kind`] for the protocol-neutral [`ErrorKind`] and map that to
//! errno, NFS status, HTTP status or NTSTATUS in one place each.

use std::sync::Arc;

/// Protocol-neutral classification of an [`Error`], for frontends to map to
/// their own codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The name does not exist (ENOENT, NFS3ERR_NOENT, 404).
    NotFound,
    /// A write was attempted on the read-only filesystem (EROFS, 403/405).
    ReadOnly,
    /// A directory operation on a file (ENOTDIR).
    NotADirectory,
    /// A file operation on a directory (EISDIR).
    IsADirectory,
    /// The request itself is malformed, e.g. a bad offset (EINVAL, 400).
    InvalidArgument,
    /// A persistent node key (an NFS file handle) that names nothing the
    /// store can account for (ESTALE, NFS3ERR_STALE).
    Stale,
    /// Anything else: upstream failures, invalid zips, store failures (EIO, 502/500).
    Io,
}

/// The error type of gomodfs-core.
///
/// It is `Clone` so that one failed download can be reported to every reader
/// that waited for it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A module path failed validation (`module.CheckPath` rules or escaping).
    #[error("invalid module path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given (escaped or not, as it came in).
        path: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A module version failed validation (not canonical semver, bad escaping).
    #[error("invalid version {version:?}: {reason}")]
    InvalidVersion {
        /// The version as given.
        version: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A file name inside a module zip failed validation.
    #[error("invalid file path {path:?}: {reason}")]
    InvalidFilePath {
        /// The file path as given.
        path: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Nothing exists at this name in the filesystem namespace.
    #[error("no such file or directory: {0}")]
    NotFound(String),
    /// The upstream proxy says this module version (or file of it) does not
    /// exist (404 or 410).
    #[error("{module}@{version}: not found upstream: {detail}")]
    ModuleNotFound {
        /// Module path.
        module: String,
        /// Module version.
        version: String,
        /// What the proxy said.
        detail: String,
    },
    /// The upstream failed: network error, 5xx, timeout, truncated body, or a
    /// configuration that forbids fetching (GOPROXY=off, GONOPROXY).
    #[error("{module}@{version}: fetching {what}: {cause}")]
    Upstream {
        /// Module path.
        module: String,
        /// Module version.
        version: String,
        /// Which file: `.info`, `.mod`, `.zip`.
        what: String,
        /// What went wrong.
        cause: String,
    },
    /// The module zip failed validation; nothing of the module is stored.
    #[error("{module}@{version}: invalid module zip: {reason}")]
    InvalidZip {
        /// Module path.
        module: String,
        /// Module version.
        version: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The store failed to read or write.
    #[error("store: {context}: {cause}")]
    Store {
        /// What the store was doing.
        context: String,
        /// What went wrong.
        cause: String,
    },
    /// Something stored cannot be read back as it was stored: a damaged or
    /// edited pack, pack index or ref. The module can be fetched again.
    #[error("{context}: the stored copy is damaged: {cause}")]
    Damaged {
        /// What was being read: module, version and file.
        context: String,
        /// What is wrong, in words.
        cause: String,
    },
    /// The checksum database refused a module version (its hash differs:
    /// "SECURITY ERROR"), misbehaved (a forked log), or could not be
    /// asked: nothing of the module is stored.
    #[error("verifying {context}: {cause}")]
    Checksum {
        /// What was being verified: `module@version` or
        /// `module@version/go.mod`.
        context: String,
        /// Why it failed, in go's words where go has them.
        cause: String,
    },
    /// Configuration is invalid (bad GOPROXY value, bad netrc, ...).
    #[error("configuration: {0}")]
    Config(String),
    /// A write operation on the read-only filesystem.
    #[error("read-only file system")]
    ReadOnly,
    /// A directory operation on something that is not a directory.
    #[error("not a directory: {0}")]
    NotADirectory(String),
    /// A file operation on a directory.
    #[error("is a directory: {0}")]
    IsADirectory(String),
    /// The request is malformed.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A persistent node key names nothing (any more): see
    /// [`ModFs::resolve_key`](crate::ModFs::resolve_key).
    #[error("stale node key: {0}")]
    Stale(String),
    /// A store-only call (see [`ModFs::with`](crate::ModFs::with)) needs
    /// a download, or waits for one, or a read made with
    /// [`With::read_at_cached`](crate::fs::With::read_at_cached) would read
    /// and inflate a file: retry it as a full call. Never returned by calls
    /// that may download.
    #[error(
        "{0}: not answerable store-only (it needs a download, or a long read): retry it as a full call"
    )]
    WouldFetch(String),
    /// The remote store (the fleet tier's object storage, `--remote URL`)
    /// failed, refused or is misconfigured.
    #[error("remote {url}: {cause}")]
    Remote {
        /// The remote's URL, as the user gave it.
        url: String,
        /// What went wrong, in words.
        cause: String,
    },
    /// An I/O error with context.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
}

impl Error {
    /// The protocol-neutral kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidPath { .. }
            | Error::InvalidVersion { .. }
            | Error::NotFound(_)
            | Error::ModuleNotFound { .. } => ErrorKind::NotFound,
            Error::ReadOnly => ErrorKind::ReadOnly,
            Error::NotADirectory(_) => ErrorKind::NotADirectory,
            Error::IsADirectory(_) => ErrorKind::IsADirectory,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::Stale(_) => ErrorKind::Stale,
            Error::InvalidFilePath { .. }
            | Error::Upstream { .. }
            | Error::InvalidZip { .. }
            | Error::Store { .. }
            | Error::Damaged { .. }
            | Error::Checksum { .. }
            | Error::Config(_)
            | Error::WouldFetch(_)
            | Error::Remote { .. }
            | Error::Io { .. } => ErrorKind::Io,
        }
    }

    /// The level this error deserves in logs: a missing name is routine
    /// (debug), everything else is worth a warning.
    pub fn log_level(&self) -> tracing::Level {
        match self.kind() {
            ErrorKind::NotFound | ErrorKind::ReadOnly | ErrorKind::Stale => tracing::Level::DEBUG,
            ErrorKind::NotADirectory | ErrorKind::IsADirectory | ErrorKind::InvalidArgument => {
                tracing::Level::DEBUG
            }
            ErrorKind::Io => tracing::Level::WARN,
        }
    }

    /// Logs this error once, for the request `op` on `subject` (a path, a
    /// node id), at the level it deserves ([`Error::log_level`]): a missing
    /// name and the other routine kinds at debug, everything else at warn,
    /// with the error's `Display` (which names module, version and cause).
    /// Every frontend's request wrapper calls this, and nothing else logs a
    /// failed request.
    pub fn log(&self, op: &str, subject: &dyn std::fmt::Display) {
        match self.log_level() {
            tracing::Level::WARN | tracing::Level::ERROR => {
                tracing::warn!(op, %subject, error = %self, "request failed")
            }
            _ => tracing::debug!(op, %subject, error = %self, "request failed"),
        }
    }

    /// Whether a store-only call needs the network: the caller should
    /// retry it as a full call, where waiting is allowed.
    pub fn would_fetch(&self) -> bool {
        matches!(self, Error::WouldFetch(_))
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source: Arc::new(source),
        }
    }

    /// A damaged store: `context` names module, version and file.
    pub fn damaged(context: impl Into<String>, cause: impl std::fmt::Display) -> Self {
        Error::Damaged {
            context: context.into(),
            cause: cause.to_string(),
        }
    }

    /// A store error with context.
    pub fn store(context: impl Into<String>, cause: impl std::fmt::Display) -> Self {
        Error::Store {
            context: context.into(),
            cause: cause.to_string(),
        }
    }
}

/// Result with the core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The messages of an error and of its sources, each once: a message that
/// an earlier one already contains (most errors repeat their source's
/// words) is left out, and so is an empty one.
pub fn messages(e: &dyn std::error::Error) -> Vec<String> {
    let mut said: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        let text = text.trim();
        if !text.is_empty() && !said.iter().any(|s| s.contains(text)) {
            said.push(text.to_owned());
        }
        next = err.source().map(|s| s as &dyn std::error::Error);
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_log::Events;
    use tracing::Level;

    #[test]
    fn log_names_op_subject_and_cause_at_the_level_the_kind_deserves() {
        let events = Events::default();
        tracing::subscriber::with_default(events.clone(), || {
            Error::NotFound("x/y".into()).log("lookup", &"1/y");
            Error::Upstream {
                module: "example.com/m".into(),
                version: "v1.0.0".into(),
                what: ".zip".into(),
                cause: "502 Bad Gateway".into(),
            }
            .log("open", &42);
        });
        let seen = events.seen();
        assert_eq!(seen.len(), 2, "logged once each: {seen:?}");
        let (level, fields) = &seen[0];
        assert_eq!(*level, Level::DEBUG);
        assert!(fields.contains(&"op=\"lookup\"".to_owned()), "{fields:?}");
        assert!(fields.contains(&"subject=1/y".to_owned()), "{fields:?}");
        let (level, fields) = &seen[1];
        assert_eq!(*level, Level::WARN);
        assert!(fields.contains(&"subject=42".to_owned()), "{fields:?}");
        let error = fields.iter().find(|f| f.starts_with("error=")).cloned();
        let error = error.unwrap_or_default();
        assert!(
            error.contains("example.com/m@v1.0.0") && error.contains("502"),
            "{error}"
        );
    }

    #[test]
    fn messages_name_each_cause_once() {
        #[derive(Debug)]
        struct Layer(String, Option<Box<Layer>>);
        impl std::fmt::Display for Layer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::error::Error for Layer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1
                    .as_deref()
                    .map(|l| l as &(dyn std::error::Error + 'static))
            }
        }
        let layer = |text: &str, below: Option<Layer>| Layer(text.into(), below.map(Box::new));
        let e = layer(
            "reading pack: bad header",
            Some(layer(
                "bad header",
                Some(layer(" ", Some(layer("disk error", None)))),
            )),
        );
        assert_eq!(messages(&e), ["reading pack: bad header", "disk error"]);
    }
}
