//! gomodfs: a read-only GOMODCACHE served from a content-addressed store.
//!
//! This crate is the `gomodfs` command and a thin facade over the workspace:
//! [`core`] (the store, the fetcher and the [`ModFs`] node API)
//! and one module per frontend, present when its cargo feature is on.
//! [`open`] builds a filesystem from the same settings the command uses.
#![deny(missing_docs)]

pub use gomodfs_core as core;
#[cfg(feature = "fuse")]
pub use gomodfs_fuse as fuse;
#[cfg(feature = "nfs")]
pub use gomodfs_nfs as nfs;
#[cfg(feature = "webdav")]
pub use gomodfs_webdav as webdav;
#[cfg(feature = "winfsp")]
pub use gomodfs_winfsp as winfsp;

use gomodfs_core::fs::WarmStart;
use gomodfs_core::proxy::{Upstream, UpstreamConfig};
use gomodfs_core::store::GitStore;
use gomodfs_core::{ModFs, ModFsOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Errors of the `gomodfs` crate and command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// From the core.
    #[error(transparent)]
    Core(#[from] gomodfs_core::Error),
    /// From the FUSE frontend.
    #[cfg(feature = "fuse")]
    #[error(transparent)]
    Fuse(#[from] gomodfs_fuse::FuseError),
    /// From the NFS frontend.
    #[cfg(feature = "nfs")]
    #[error(transparent)]
    Nfs(#[from] gomodfs_nfs::NfsError),
    /// From the WebDAV/HTTP frontend.
    #[cfg(feature = "webdav")]
    #[error(transparent)]
    Webdav(#[from] gomodfs_webdav::WebdavError),
    /// From the WinFsp frontend.
    #[cfg(feature = "winfsp")]
    #[error(transparent)]
    Winfsp(#[from] gomodfs_winfsp::WinfspError),
    /// Anything else, with context.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A usage problem the user can fix.
    #[error("{0}")]
    Usage(String),
}

/// Settings for [`open`].
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Store directory; `None` is [`default_store_dir`].
    pub store: Option<PathBuf>,
    /// GOPROXY list; `None` reads `$GOPROXY` (default `https://proxy.golang.org`).
    pub proxy: Option<String>,
    /// Serve only what is stored; never contact upstream.
    pub offline: bool,
    /// Abort a download when no bytes arrive for this long (default 60 s).
    pub fetch_timeout: Option<std::time::Duration>,
    /// Abort a download slower than this many bytes per second over a
    /// `fetch_timeout` window (default 1 KiB/s; 0 disables).
    pub min_rate: Option<u64>,
    /// The fleet tier (`--remote`): a shared store on S3-compatible object
    /// storage between the local store and upstream; `None`: none.
    #[cfg(feature = "remote")]
    pub remote: Option<gomodfs_core::remote::RemoteConfig>,
    /// The checksum database, as go's `GOSUMDB` (`off`, a name, or
    /// `KEY [URL]`); `None` reads `$GOSUMDB` (default `sum.golang.org`).
    pub gosumdb: Option<String>,
    /// How long commands that end by themselves (`prefetch`) wait for the
    /// fleet tier's pending uploads (`--flush-timeout`).
    pub flush_timeout: std::time::Duration,
    /// Memory budget for file contents (`--blob-cache`); `None`: the
    /// library's default (64 MiB).
    pub blob_cache_bytes: Option<u64>,
    /// Disk budget for large files read in pieces (`--large-file-cache`,
    /// see [`ModFsOptions::large_file_cache_bytes`]); `None`: the library's
    /// default (1 GiB).
    pub large_file_cache_bytes: Option<u64>,
    /// Preload what the last processes on the store served first, and
    /// keep the list of what this one serves for the next (see
    /// [`warm_start`]); `gomodfs prefetch` puts what it fetched in the
    /// list. False (the default): neither.
    pub warm_start: bool,
}

/// The default store: `$GOMODFS_STORE`, else `gomodfs` in the user's cache
/// directory (`$XDG_CACHE_HOME`, `%LOCALAPPDATA%` on Windows, `~/.cache`,
/// `~/Library/Caches` on macOS).
pub fn default_store_dir() -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os("GOMODFS_STORE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(Path::new(&dir).join("gomodfs"));
    }
    // Windows: the user's local application data (HOME is rarely set there).
    if cfg!(windows)
        && let Some(dir) = std::env::var_os("LOCALAPPDATA").filter(|d| !d.is_empty())
    {
        return Ok(Path::new(&dir).join("gomodfs"));
    }
    let home = std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .ok_or_else(|| {
            Error::Usage("neither HOME nor XDG_CACHE_HOME is set: pass --store DIR".into())
        })?;
    let base = if cfg!(target_os = "macos") {
        Path::new(&home).join("Library/Caches")
    } else {
        Path::new(&home).join(".cache")
    };
    Ok(base.join("gomodfs"))
}

/// Opens the git store and builds the filesystem the command serves.
pub fn open(settings: &Settings) -> Result<Arc<ModFs>, Error> {
    let dir = match &settings.store {
        Some(d) => d.clone(),
        None => default_store_dir()?,
    };
    let store = Arc::new(GitStore::open(&dir)?);
    tracing::info!(store = %dir.display(), "store opened");
    #[cfg(feature = "remote")]
    let remote = match &settings.remote {
        Some(config) => Some(fleet::open(config, store.clone(), &dir)?),
        None => None,
    };
    let upstream = if settings.offline {
        None
    } else {
        let mut config = UpstreamConfig::from_env();
        if let Some(proxy) = &settings.proxy {
            config.goproxy = proxy.clone();
        }
        if let Some(t) = settings.fetch_timeout {
            config.idle_timeout = t;
        }
        if let Some(rate) = settings.min_rate {
            config.min_rate = rate;
        }
        tracing::info!(goproxy = %config.goproxy, "upstream");
        Some(Upstream::new(config)?)
    };
    let mut sumdb = gomodfs_core::sumdb::SumDbConfig::from_env(Some(dir.join("sumdb")));
    if let Some(gosumdb) = &settings.gosumdb {
        sumdb.gosumdb = gosumdb.clone();
    }
    if sumdb.is_off() {
        tracing::warn!("GOSUMDB=off: modules are stored without checking the checksum database");
    } else {
        tracing::info!(gosumdb = %sumdb.gosumdb, gonosumdb = %sumdb.nosumdb, "checksum database");
    }
    let options = ModFsOptions {
        #[cfg(feature = "remote")]
        remote,
        sumdb: Some(sumdb),
        ..ModFsOptions::default()
    };
    let options = ModFsOptions {
        blob_cache_bytes: settings
            .blob_cache_bytes
            .unwrap_or(options.blob_cache_bytes),
        large_file_cache_bytes: settings
            .large_file_cache_bytes
            .unwrap_or(options.large_file_cache_bytes),
        ..options
    };
    Ok(Arc::new(ModFs::new(store, upstream, options)?))
}

/// The warm list of the store at `dir`: what the last processes serving
/// it served first.
pub fn warm_list_path(dir: &Path) -> PathBuf {
    dir.join("gomodfs-warm")
}

/// Starts `fs`'s warm start if `settings` ask for one (see
/// [`gomodfs_core::fs::WarmStart`]): preloads, in the background, what the
/// store's warm list names, and keeps the list of what `fs` serves there.
/// Hold the result while serving; dropping it writes the list a last time.
pub fn warm_start(fs: &Arc<ModFs>, settings: &Settings) -> Result<Option<WarmStart>, Error> {
    if !settings.warm_start {
        return Ok(None);
    }
    let dir = ops::store_dir(settings.store.as_deref())?;
    Ok(Some(WarmStart::start(fs, warm_list_path(&dir))))
}

/// On a clean stop: waits up to `timeout` for the fleet tier's pending
/// uploads (`--flush-timeout`); what is left is uploaded by the next
/// process on the same store. Nothing to do without `--remote`.
pub fn flush_uploads(fs: &ModFs, timeout: std::time::Duration) {
    #[cfg(feature = "remote")]
    fleet::flush(fs, timeout);
    #[cfg(not(feature = "remote"))]
    let _ = (fs, timeout);
}

pub mod cacheprog;
pub mod debug;
#[cfg(feature = "remote")]
pub mod fleet;
pub mod limits;
pub mod ops;
