//! gomodfs-webdav: the gomodfs namespace over HTTP.
//!
//! One HTTP/1.1 server ([`HttpServer`]) answers:
//!
//! - WebDAV, read-only (dav-server): mount it with macOS `mount_webdav`,
//!   davfs2, rclone or Windows. GET/HEAD of files have exact
//!   `Content-Type`s ([`content_type`]), strong ETags and Last-Modified from
//!   immutable content, conditional requests (304), single byte ranges
//!   (206) and a one-year `immutable` Cache-Control inside module trees.
//!   PROPFIND depth 0 and 1 list exactly what [`ModFs`] lists; writes and
//!   locks are 405.
//! - The GOPROXY protocol under `/proxy/` (see [`HttpOptions::proxy_prefix`]):
//!   `.info`, `.mod` and a `.zip` generated from the store (deterministic,
//!   streamed, with the stored `h1:`), `@v/list` and `@latest` passed
//!   through to the upstream with a short cache and stale-if-error, and
//!   `sumdb/` passed through.
//! - `/status.json`: [`ModFs::status_json`].
//!
//! Every request runs in a span (method, path); every [`ModFs`] call runs
//! through one wrapper (`request::blocking`: off the async threads, the
//! error logged and mapped once); path meaning stays in the core
//! ([`ModFs::resolve`]) and so does caching policy (`Attr::cache`). Core
//! errors become HTTP statuses in one place, [`to_status`].
#![deny(missing_docs)]

mod body;
mod connections;
mod davfs;
mod files;
mod goproxy;
mod passthrough;
mod propfind;
mod request;
mod server;
mod status;
mod zipcache;
pub use gomodfs_core::zipgen;

pub use body::Body;
pub use files::content_type;
pub use gomodfs_core::ModFs;
pub use server::{Handler, HttpServer, STATUS_PATH};
pub use status::to_status;
pub use zipcache::{ZipCacheOptions, default_dir as default_zip_cache_dir};

use std::net::SocketAddr;
use std::time::Duration;

/// The default listening address: loopback only.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// Settings of [`HttpServer`].
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Where to listen (default 127.0.0.1:8080; port 0 picks a free port).
    pub addr: SocketAddr,
    /// URL prefix of the GOPROXY endpoint (default `/proxy/`).
    pub proxy_prefix: String,
    /// Deflate level of generated `.zip`s, 0 (stored) to 9 (default 1:
    /// fast, and within a few percent of the best ratio on source code).
    pub zip_level: u32,
    /// Keep generated `.zip`s on disk, size-capped (default `None`: every
    /// zip is generated; `gomodfs serve` keeps 1 GiB in `<store>/zip-cache`).
    pub zip_cache: Option<ZipCacheOptions>,
    /// How long `@v/list`, `@latest` and `sumdb/` answers are served from
    /// the cache without asking the upstream (default 60 s).
    pub passthrough_fresh: Duration,
    /// How much longer a cached answer is served when the upstream fails
    /// (default 24 h).
    pub passthrough_stale: Duration,
    /// Worker threads of the server's runtime (default 2).
    pub workers: usize,
    /// Most connections open at once (default [`DEFAULT_MAX_CONNECTIONS`];
    /// the `gomodfs` command derives it from the open-file limit). When it
    /// is reached, a new connection closes the longest-idle one.
    pub max_connections: usize,
    /// How long a connection may take to send a request's headers,
    /// counted from when it opens or its previous response ends; an idle
    /// kept-alive connection is closed after this too (default 30 s).
    pub header_timeout: Duration,
}

/// The default of [`HttpOptions::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            proxy_prefix: "/proxy/".into(),
            zip_level: 1,
            zip_cache: None,
            passthrough_fresh: Duration::from_secs(60),
            passthrough_stale: Duration::from_secs(24 * 3600),
            workers: 2,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: Duration::from_secs(30),
        }
    }
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum WebdavError {
    /// The listening address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Another I/O failure while starting, with what was being done.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
}
