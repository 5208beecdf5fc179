//! `gomodfs mount` through WinFsp (the Windows build: feature `winfsp`
//! without `fuse`). Elsewhere mounting answers that WinFsp is Windows only.

use gomodfs::winfsp::MountPoint;
use gomodfs::{Error, Settings};

/// Mounts at `target` (`X:`, `*` or a new directory) until Ctrl-C.
#[cfg_attr(feature = "fuse", allow(dead_code))]
pub(crate) fn run(
    settings: &Settings,
    target: &std::path::Path,
    debug_addr: Option<std::net::SocketAddr>,
) -> Result<(), Error> {
    let point = MountPoint::parse(&target.to_string_lossy())?;
    point.check()?;
    let fs = gomodfs::open(settings)?;
    let _warm = gomodfs::warm_start(&fs, settings)?;
    let _debug = crate::start_debug(&fs, debug_addr)?;
    let mounted = gomodfs::winfsp::mount(fs.clone(), &point)?;
    eprintln!("gomodfs: mounted at {point} (Ctrl-C to unmount)");
    let rt = crate::signal_runtime()?;
    let waited = rt.block_on(crate::wait_for_termination());
    crate::cancel_downloads(&fs);
    tracing::info!("unmounting");
    mounted.unmount();
    waited
}

/// `gomodfs exec`: mounts on a new directory in a temporary one (WinFsp
/// creates the mount directory itself), runs the command with `GOMODCACHE`
/// there, unmounts, and exits with the command's status.
#[cfg_attr(feature = "fuse", allow(dead_code))]
pub(crate) fn exec(
    settings: &Settings,
    command: &[String],
    gocacheprog: Option<&str>,
    debug_addr: Option<std::net::SocketAddr>,
) -> Result<std::process::ExitCode, Error> {
    let (program, args) = crate::split_command(command)?;
    let fs = gomodfs::open(settings)?;
    let _warm = gomodfs::warm_start(&fs, settings)?;
    let _debug = crate::start_debug(&fs, debug_addr)?;
    let parent = crate::temp_mount_dir()?;
    let gomodcache = parent.path().join("gomodcache");
    let mounted = gomodfs::winfsp::mount(fs.clone(), &MountPoint::Directory(gomodcache.clone()))?;
    let status = crate::run_with_gomodcache(&fs, program, args, &gomodcache, gocacheprog);
    mounted.unmount();
    Ok(crate::exit_code(status?))
}
