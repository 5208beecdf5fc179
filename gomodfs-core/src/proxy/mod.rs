//! The GOPROXY client.
//!
//! [`Upstream`] fetches a module version's `.info`, `.mod` and `.zip` from
//! the GOPROXY list (section 4 of the spec): `,` and `|` fall-through like
//! `go`, `off`, `direct` (not supported: reported clearly), `http(s)://` and
//! `file://` proxies, GONOPROXY/GOPRIVATE refusal, netrc credentials, the
//! environment's HTTP(S)_PROXY, retries with backoff for transient errors,
//! an idle timeout and a minimum transfer rate (no total timeout), a body
//! size limit, cancellation of every fetch at shutdown, a negative cache for
//! 404/410 and single flight for identical concurrent fetches.
//! [`check_answer`] refuses the `.info` and `.mod` answers `go` would refuse
//! (not JSON, another version, a go.mod without the right module line).
//!
//! Errors: [`Error::ModuleNotFound`](crate::Error::ModuleNotFound) when the
//! proxies say 404/410; [`Error::Upstream`](crate::Error::Upstream) for
//! everything else; [`Error::Config`](crate::Error::Config) from
//! [`Upstream::new`] for an unusable configuration.
//!
//! Without the cargo feature `net` (on by default) the HTTP client and its
//! TLS stack are left out: [`Upstream`] is then a type without values
//! (`offline.rs`), so only an offline [`ModFs`](crate::ModFs) can be made.

mod answers;
#[cfg(feature = "net")]
mod client;
#[cfg(feature = "net")]
mod config;
#[cfg(feature = "net")]
mod negative;
#[cfg(feature = "net")]
mod netrc;
#[cfg(not(feature = "net"))]
mod offline;
mod pattern;
#[cfg(feature = "net")]
mod rate;
#[cfg(feature = "net")]
mod sink;
mod validate;

pub use answers::{RawResponse, UpstreamStats};
#[cfg(feature = "net")]
pub use client::Upstream;
#[cfg(feature = "net")]
pub use config::{DEFAULT_GOPROXY, DEFAULT_MIN_RATE, HttpProxy, UpstreamConfig};
#[cfg(not(feature = "net"))]
pub use offline::Upstream;
pub(crate) use pattern::match_prefix_patterns;
pub use validate::check_answer;

use std::fmt;

/// One of the files a module proxy serves for a module version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProxyFile {
    /// `<version>.info`: JSON with `Version` and `Time`.
    Info,
    /// `<version>.mod`: the go.mod file.
    Mod,
    /// `<version>.zip`: the module zip.
    Zip,
}

impl ProxyFile {
    /// The file name extension without the dot: `info`, `mod` or `zip`.
    pub fn extension(self) -> &'static str {
        match self {
            ProxyFile::Info => "info",
            ProxyFile::Mod => "mod",
            ProxyFile::Zip => "zip",
        }
    }
}

impl From<crate::store::MetaFile> for ProxyFile {
    /// The proxy file a stored `.info` or `.mod` is.
    fn from(file: crate::store::MetaFile) -> ProxyFile {
        match file {
            crate::store::MetaFile::Info => ProxyFile::Info,
            crate::store::MetaFile::Mod => ProxyFile::Mod,
        }
    }
}

impl fmt::Display for ProxyFile {
    /// `.info`, `.mod` or `.zip`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, ".{}", self.extension())
    }
}
