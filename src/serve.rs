//! `gomodfs serve`: one filesystem, several frontends at once.
//!
//! Each frontend adds its flag to [`Frontends`] and its start-up to [`run`];
//! everything it starts is stopped when the process is told to terminate.

use clap::Args;
use gomodfs::{Error, Settings};
use std::path::PathBuf;

/// The frontends to start. At least one is required.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct Frontends {
    /// Also mount through FUSE at DIR.
    #[cfg(feature = "fuse")]
    #[arg(long, value_name = "DIR")]
    pub(crate) mount: Option<PathBuf>,
    /// With --mount: how the mount takes requests (ignored without
    /// --mount).
    #[cfg(feature = "fuse")]
    #[command(flatten)]
    pub(crate) fuse_io_uring: crate::FuseIoUringFlag,
    /// Also serve NFSv3 (MOUNT, NFS and a portmapper on one TCP port) on
    /// ADDR: PORT (on 127.0.0.1) or IPv4:PORT. See docs/NFS.md.
    #[cfg(feature = "nfs")]
    #[arg(long, value_name = "ADDR")]
    pub(crate) nfs: Option<String>,
    /// Also serve WebDAV, the GOPROXY endpoint (/proxy/) and /status.json
    /// over HTTP on ADDR (e.g. 127.0.0.1:8080; loopback unless you say
    /// otherwise).
    #[cfg(feature = "webdav")]
    #[arg(long, value_name = "ADDR")]
    pub(crate) http: Option<std::net::SocketAddr>,
    /// With --http: keep up to MIB mebibytes of the `.zip`s the GOPROXY
    /// endpoint generates in <store>/zip-cache, least recently used
    /// deleted first (0: generate every zip).
    #[cfg(feature = "webdav")]
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub(crate) zip_cache_mib: u64,
}

impl Frontends {
    fn any(&self) -> bool {
        #[allow(unused_mut)]
        let mut any = false;
        #[cfg(feature = "fuse")]
        {
            any |= self.mount.is_some();
        }
        #[cfg(feature = "nfs")]
        {
            any |= self.nfs.is_some();
        }
        #[cfg(feature = "webdav")]
        {
            any |= self.http.is_some();
        }
        any
    }
}

/// Starts every requested frontend on one [`ModFs`](gomodfs::core::ModFs),
/// waits for SIGINT or SIGTERM, then stops them.
pub(crate) fn run(
    settings: &Settings,
    frontends: &Frontends,
    debug_addr: Option<std::net::SocketAddr>,
    flush: std::time::Duration,
) -> Result<(), Error> {
    if !frontends.any() {
        return Err(Error::Usage(
            "serve needs at least one frontend (see gomodfs serve --help)".into(),
        ));
    }
    let fs = gomodfs::open(settings)?;
    let warm = gomodfs::warm_start(&fs, settings)?;
    let _debug = crate::start_debug(&fs, debug_addr)?;
    let rt = crate::signal_runtime()?;

    #[cfg(feature = "fuse")]
    let mount = match &frontends.mount {
        Some(dir) => {
            crate::ensure_mount_point(dir)?;
            let options = gomodfs::fuse::MountOptions {
                io_uring: frontends.fuse_io_uring.when.into(),
                ..Default::default()
            };
            let m = gomodfs::fuse::mount(fs.clone(), dir, &options)?;
            eprintln!("gomodfs: {}", crate::mounted_at(&m, dir));
            Some(m)
        }
        None => None,
    };

    #[cfg(feature = "nfs")]
    let nfs = match &frontends.nfs {
        Some(addr) => {
            let server = gomodfs::nfs::serve(fs.clone(), addr)?;
            let port = server.local_addr().port();
            eprintln!(
                "gomodfs: serving NFSv3 on {} (mount -t nfs -o vers=3,tcp,port={port},mountport={port},local_lock=all,ro {}:/ DIR)",
                server.local_addr(),
                server.local_addr().ip()
            );
            Some(server)
        }
        None => None,
    };

    #[cfg(feature = "webdav")]
    let http = match frontends.http {
        Some(addr) => {
            let options = gomodfs::webdav::HttpOptions {
                addr,
                max_connections: gomodfs::limits::connection_cap(),
                zip_cache: zip_cache(settings, frontends.zip_cache_mib)?,
                ..Default::default()
            };
            let server = gomodfs::webdav::HttpServer::start(fs.clone(), &options)?;
            eprintln!("gomodfs: serving HTTP on http://{}/", server.local_addr());
            Some(server)
        }
        None => None,
    };

    crate::daemon::notify("READY=1");
    rt.block_on(crate::wait_for_termination())?;
    crate::daemon::notify("STOPPING=1");
    tracing::info!("stopping");
    crate::cancel_downloads(&fs);
    #[cfg(feature = "nfs")]
    if let Some(server) = nfs {
        server.stop();
    }
    #[cfg(feature = "webdav")]
    if let Some(server) = http {
        server.stop();
    }
    #[cfg(feature = "fuse")]
    if let Some(m) = mount {
        m.unmount()?;
    }
    gomodfs::flush_uploads(&fs, flush);
    drop(warm);
    drop(fs);
    Ok(())
}

/// The zip cache of `serve --http`: `mib` MiB in `<store>/zip-cache`, or
/// none when `mib` is 0.
#[cfg(feature = "webdav")]
fn zip_cache(
    settings: &Settings,
    mib: u64,
) -> Result<Option<gomodfs::webdav::ZipCacheOptions>, Error> {
    if mib == 0 {
        return Ok(None);
    }
    let store = match &settings.store {
        Some(dir) => dir.clone(),
        None => gomodfs::default_store_dir()?,
    };
    Ok(Some(gomodfs::webdav::ZipCacheOptions {
        dir: gomodfs::webdav::default_zip_cache_dir(&store),
        max_bytes: mib.saturating_mul(1 << 20),
    }))
}
