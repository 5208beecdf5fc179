//! The `gomodfs` command: mount a read-only GOMODCACHE, or run one command
//! with it.

mod cacheprog_cmd;
mod daemon;
#[cfg(feature = "fuse")]
mod exec_mount;
mod fuse_transport;
mod serve;
mod status;
#[cfg(feature = "winfsp")]
mod winfsp_mount;

use clap::{Args, Parser, Subcommand};
use fuse_transport::{FuseIoUring, FuseIoUringFlag};
use gomodfs::{Error, Settings};
use std::path::PathBuf;
use std::process::ExitCode;

/// A read-only GOMODCACHE where every module version is already there.
#[derive(Parser)]
#[command(name = "gomodfs", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Common {
    /// Store directory (default: $GOMODFS_STORE, else ~/.cache/gomodfs).
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
    /// Upstream GOPROXY list (default: $GOPROXY, else https://proxy.golang.org).
    #[arg(long, value_name = "URL[,URL|URL]")]
    proxy: Option<String>,
    /// Serve only what the store holds; never contact upstream.
    #[arg(long)]
    offline: bool,
    /// The checksum database every module is checked against before it
    /// is stored, as go's GOSUMDB: "off", a name, or "KEY [URL]"
    /// (default: $GOSUMDB, else sum.golang.org).
    #[arg(long, value_name = "DB")]
    gosumdb: Option<String>,
    /// Abort a download when no bytes arrive for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    fetch_timeout: f64,
    /// Abort a download slower than this over a --fetch-timeout window
    /// (bytes per second; 0 disables).
    #[arg(long, value_name = "BYTES_PER_SEC", default_value_t = gomodfs::core::proxy::DEFAULT_MIN_RATE)]
    min_rate: u64,
    /// Memory for the contents of files read through the mount in several
    /// pieces, each kept until all its pieces are read (a cache; contents
    /// beyond it are read from the store again), e.g. 64MiB.
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = gomodfs::ops::units::parse_size)]
    blob_cache: u64,
    /// Disk for files too large for --blob-cache that are read in pieces:
    /// each is inflated once into an unnamed temporary file next to the
    /// store and its pieces read from there; 0 reads the whole file from
    /// the store for every piece.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = gomodfs::ops::units::parse_size)]
    large_file_cache: u64,
    /// Do not preload, at start, the module trees the last mounts on this
    /// store served first (listed in <store>/gomodfs-warm), nor serve small
    /// files from the warm files (<store>/gomodfs-warm.files), nor update
    /// either (mount, exec, serve); prefetch: do not put what it fetched
    /// in that list.
    #[arg(long, env = "GOMODFS_NO_WARM_START")]
    no_warm_start: bool,
    /// Serve a status page, /status.json and /metrics (Prometheus) on ADDR,
    /// e.g. 127.0.0.1:6060.
    #[arg(long, value_name = "ADDR")]
    debug_addr: Option<std::net::SocketAddr>,
    /// Log every operation (debug level); RUST_LOG overrides.
    #[arg(short, long)]
    verbose: bool,
    #[cfg(feature = "remote")]
    #[command(flatten)]
    remote: RemoteArgs,
}

/// The fleet tier's flags.
#[cfg(feature = "remote")]
#[derive(Args, Clone)]
struct RemoteArgs {
    /// Shared store on S3-compatible object storage, between the local store
    /// and upstream: s3://BUCKET[/PREFIX]. Credentials, region and endpoint
    /// from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
    /// AWS_REGION, AWS_ENDPOINT_URL.
    #[arg(long, value_name = "URL", env = "GOMODFS_REMOTE")]
    remote: Option<String>,
    /// S3 endpoint, e.g. http://127.0.0.1:8333 (overrides AWS_ENDPOINT_URL).
    #[arg(long, value_name = "URL")]
    remote_endpoint: Option<String>,
    /// Region (overrides AWS_REGION; default us-east-1).
    #[arg(long, value_name = "REGION")]
    remote_region: Option<String>,
    /// Path-style requests (true) or virtual-hosted style (false); default:
    /// path style with a custom endpoint.
    #[arg(long, value_name = "BOOL")]
    remote_path_style: Option<bool>,
    /// At a clean stop, wait at most this long for pending uploads; the
    /// rest is uploaded by the next gomodfs on the same store.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    flush_timeout: f64,
}

#[cfg(feature = "remote")]
impl RemoteArgs {
    fn config(&self) -> Result<Option<gomodfs::core::remote::RemoteConfig>, Error> {
        let Some(url) = self.remote.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let mut config = gomodfs::core::remote::RemoteConfig::from_env(url)?;
        if let Some(e) = &self.remote_endpoint {
            config.endpoint = Some(e.clone());
        }
        if let Some(r) = &self.remote_region {
            config.region = Some(r.clone());
        }
        if let Some(p) = self.remote_path_style {
            config.path_style = Some(p);
        }
        Ok(Some(config))
    }
}

impl Common {
    /// How long a clean stop waits for pending uploads.
    fn flush_timeout(&self) -> std::time::Duration {
        #[cfg(feature = "remote")]
        let secs = self.remote.flush_timeout;
        #[cfg(not(feature = "remote"))]
        let secs = 0.0;
        std::time::Duration::try_from_secs_f64(secs).unwrap_or_default()
    }
}

#[derive(Subcommand)]
enum Command {
    /// Mount at DIR until interrupted (SIGINT or SIGTERM unmounts cleanly).
    Mount {
        /// The mount point (an empty directory, made with its parents if
        /// missing; on Windows with WinFsp: a drive letter such as X:, *
        /// for the next free one, or a directory that does not exist yet).
        dir: PathBuf,
        /// Let other users read the mount (FUSE allow_other).
        #[arg(long)]
        allow_other: bool,
        #[command(flatten)]
        fuse_io_uring: FuseIoUringFlag,
        #[command(flatten)]
        common: Common,
    },
    /// Serve the namespace through one or more frontends at once until
    /// interrupted (SIGINT or SIGTERM stops everything cleanly).
    Serve {
        #[command(flatten)]
        frontends: serve::Frontends,
        #[command(flatten)]
        common: Common,
    },
    /// Print a short summary of a running gomodfs: from a mount's
    /// .gomodfs-status file, or from a debug server's URL.
    Status {
        /// A mount point, or http://HOST:PORT of a --debug-addr server
        /// (default: $GOMODCACHE).
        target: Option<String>,
        /// Print the raw JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Check every stored module (objects present and readable, files
    /// hashing to the recorded h1:, refs well-formed); exit 1 on problems.
    Fsck(gomodfs::ops::fsck::FsckArgs),
    /// Remove the least recently used modules (--max-size) and/or those
    /// unused for a while (--unused-for) and reclaim their space, safely
    /// while mounts serve the store.
    Gc(gomodfs::ops::gc::GcArgs),
    /// Import an existing GOMODCACHE (its cache/download zips, else the
    /// extracted trees), validated like downloads; exit 1 naming any
    /// module skipped.
    Import(gomodfs::ops::import::ImportArgs),
    /// Fetch every module version the projects at PATH need into the store
    /// (in parallel, with progress); exit 1 naming any that failed.
    Prefetch {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: gomodfs::ops::prefetch::PrefetchArgs,
    },
    /// Mount on a temporary directory, run COMMAND with GOMODCACHE pointing at
    /// it (and GOPROXY=off unless GOPROXY is set), unmount, and exit with the
    /// command's status.
    Exec {
        #[command(flatten)]
        fuse_io_uring: FuseIoUringFlag,
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        build_cache: cacheprog_cmd::ExecBuildCache,
        /// The command and its arguments.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Serve go's build cache as a GOCACHEPROG helper: go runs it, e.g.
    /// GOCACHEPROG="gomodfs cacheprog --dir DIR".
    Cacheprog(cacheprog_cmd::CacheprogArgs),
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    if let Command::Status { target, json } = &cli.command {
        return match status::run(target.as_deref(), *json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gomodfs: {e}");
                ExitCode::from(2)
            }
        };
    }
    if let Command::Cacheprog(args) = &cli.command {
        return cacheprog_cmd::run(args);
    }
    if let Some(code) = run_ops(&cli.command) {
        return code;
    }
    let common = match &cli.command {
        Command::Mount { common, .. }
        | Command::Exec { common, .. }
        | Command::Serve { common, .. }
        | Command::Prefetch { common, .. } => common.clone(),
        Command::Status { .. }
        | Command::Cacheprog(_)
        | Command::Fsck(_)
        | Command::Gc(_)
        | Command::Import(_) => {
            return ExitCode::SUCCESS;
        }
    };
    if matches!(cli.command, Command::Prefetch { .. }) {
        init_ops_logging(common.verbose);
    } else {
        init_logging(common.verbose);
    }
    // Before any frontend starts: connection caps derive from the result.
    gomodfs::limits::raise_nofile();
    #[cfg(feature = "remote")]
    let remote = match common.remote.config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("gomodfs: {e}");
            return ExitCode::from(2);
        }
    };
    let settings = Settings {
        store: common.store.clone(),
        proxy: common.proxy.clone(),
        offline: common.offline,
        fetch_timeout: std::time::Duration::try_from_secs_f64(common.fetch_timeout).ok(),
        min_rate: Some(common.min_rate),
        #[cfg(feature = "remote")]
        remote,
        gosumdb: common.gosumdb.clone(),
        flush_timeout: common.flush_timeout(),
        blob_cache_bytes: Some(common.blob_cache),
        large_file_cache_bytes: Some(common.large_file_cache),
        warm_start: !common.no_warm_start,
    };
    let flush = common.flush_timeout();
    let result = match cli.command {
        Command::Mount {
            dir,
            allow_other,
            fuse_io_uring,
            ..
        } => {
            let flags = MountFlags {
                allow_other,
                io_uring: fuse_io_uring.when,
            };
            run_mount(&settings, &dir, flags, common.debug_addr, flush).map(|()| ExitCode::SUCCESS)
        }
        Command::Exec {
            command,
            build_cache,
            fuse_io_uring,
            ..
        } => {
            let flags = MountFlags {
                allow_other: false,
                io_uring: fuse_io_uring.when,
            };
            build_cache
                .setup(settings.store.as_deref(), &remote_words(&common))
                .and_then(|cache| {
                    run_exec(&settings, &command, cache, flags, common.debug_addr, flush)
                })
        }
        Command::Serve { frontends, .. } => {
            serve::run(&settings, &frontends, common.debug_addr, flush).map(|()| ExitCode::SUCCESS)
        }
        Command::Prefetch { args, .. } => {
            gomodfs::ops::prefetch::run(&settings, &args).map(ok_or_1)
        }
        Command::Status { .. }
        | Command::Cacheprog(_)
        | Command::Fsck(_)
        | Command::Gc(_)
        | Command::Import(_) => Ok(ExitCode::SUCCESS),
    };
    report(result)
}

/// Runs the store operations (`fsck`, ...): `None` for other commands.
/// Exit status: 0 done, 1 problems found or items failed, 2 usage or I/O
/// error.
fn run_ops(command: &Command) -> Option<ExitCode> {
    let result = match command {
        Command::Fsck(args) => {
            init_ops_logging(args.verbose);
            gomodfs::ops::fsck::run(args)
        }
        Command::Gc(args) => {
            init_ops_logging(args.verbose);
            gomodfs::ops::gc::run(args)
        }
        Command::Import(args) => {
            init_ops_logging(args.verbose);
            gomodfs::ops::import::run(args)
        }
        _ => return None,
    };
    Some(report(result.map(ok_or_1)))
}

/// Exit status 0 when a store operation found everything fine, else 1.
fn ok_or_1(fine: bool) -> ExitCode {
    if fine {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// An error as printed: `gomodfs: ERROR`, then a `caused by:` line for
/// each cause its message does not already say.
fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let top = e.to_string();
    let mut text = format!("gomodfs: {top}\n");
    let messages = gomodfs::core::error::messages(e);
    for cause in messages.iter().filter(|m| **m != top.trim()) {
        text += &format!("  caused by: {cause}\n");
    }
    text
}

/// The exit code of a command's result; an error is printed with its causes.
fn report(result: Result<ExitCode, Error>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprint!("{}", error_text(&e));
            ExitCode::from(2)
        }
    }
}

/// The remote flags `exec` passes on to its build cache helper.
fn remote_words(common: &Common) -> Vec<String> {
    #[cfg(feature = "remote")]
    return common.remote.words();
    #[cfg(not(feature = "remote"))]
    {
        let _ = common;
        Vec::new()
    }
}

/// The crates whose logs `-v` turns to debug (everything else stays at info,
/// or warn without `-v`).
const OUR_CRATES: &[&str] = &[
    "gomodfs",
    "gomodfs_core",
    "gomodfs_fuse",
    "gomodfs_nfs",
    "gomodfs_webdav",
    "gomodfs_winfsp",
];

/// The log filter used when `RUST_LOG` is not set.
fn default_log_filter(verbose: bool) -> String {
    let (ours, others) = if verbose {
        ("debug", "info")
    } else {
        ("info", "warn")
    };
    let mut filter: Vec<String> = OUR_CRATES.iter().map(|c| format!("{c}={ours}")).collect();
    filter.push(others.to_owned());
    filter.join(",")
}

fn init_logging(verbose: bool) {
    init_logging_at(verbose, "info");
}

/// Logging for the store operations (prefetch, import, fsck, gc): their
/// progress output says what info lines would, so only warnings, or info
/// with `-v`.
fn init_ops_logging(verbose: bool) {
    if verbose {
        init_logging_at(false, "info");
    } else {
        init_logging_with("warn");
    }
}

/// Logging to stderr: our crates at `quiet` (debug with `verbose`).
pub(crate) fn init_logging_at(verbose: bool, quiet: &str) {
    let default = if verbose {
        default_log_filter(true)
    } else {
        default_log_filter(false).replace("=info", &format!("={quiet}"))
    };
    init_logging_with(&default);
}

fn init_logging_with(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

pub(crate) fn signal_runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            context: "starting the signal handler".into(),
            source,
        })
}

/// How `mount` mounts (the flags of its command line).
#[derive(Clone, Copy)]
struct MountFlags {
    /// FUSE allow_other.
    #[cfg_attr(not(feature = "fuse"), allow(dead_code))]
    allow_other: bool,
    /// FUSE over io_uring.
    #[cfg_attr(not(feature = "fuse"), allow(dead_code))]
    io_uring: FuseIoUring,
}

/// "mounted at DIR", and ", FUSE over io_uring" when the mount uses it.
#[cfg(feature = "fuse")]
fn mounted_at(mount: &gomodfs::fuse::Mount, dir: &std::path::Path) -> String {
    let over = if mount.io_uring_requests().is_some() {
        ", FUSE over io_uring"
    } else {
        ""
    };
    format!("mounted at {}{over}", dir.display())
}

#[cfg(feature = "fuse")]
fn run_mount(
    settings: &Settings,
    dir: &std::path::Path,
    flags: MountFlags,
    debug_addr: Option<std::net::SocketAddr>,
    flush: std::time::Duration,
) -> Result<(), Error> {
    let fs = gomodfs::open(settings)?;
    let _warm = gomodfs::warm_start(&fs, settings)?;
    let _debug = start_debug(&fs, debug_addr)?;
    let options = gomodfs::fuse::MountOptions {
        allow_other: flags.allow_other,
        io_uring: flags.io_uring.into(),
        ..Default::default()
    };
    ensure_mount_point(dir)?;
    let mount = gomodfs::fuse::mount(fs.clone(), dir, &options)?;
    eprintln!("gomodfs: {} (Ctrl-C to unmount)", mounted_at(&mount, dir));
    daemon::notify("READY=1");
    let rt = signal_runtime()?;
    let outside = rt.block_on(async {
        tokio::select! {
            signal = wait_for_termination() => signal.map(|()| false),
            () = daemon::unmounted_from_outside(&mount) => Ok(true),
        }
    })?;
    daemon::notify("STOPPING=1");
    cancel_downloads(&fs);
    if outside {
        tracing::info!(mountpoint = %dir.display(), "unmounted from outside; exiting");
    } else {
        tracing::info!("unmounting");
    }
    let unmounted = mount.unmount();
    // Also when the mount was gone already: the uploads are the store's.
    gomodfs::flush_uploads(&fs, flush);
    unmounted?;
    Ok(())
}

#[cfg(feature = "fuse")]
fn run_exec(
    settings: &Settings,
    command: &[String],
    build_cache: Option<cacheprog_cmd::ExecCache>,
    flags: MountFlags,
    debug_addr: Option<std::net::SocketAddr>,
    flush: std::time::Duration,
) -> Result<ExitCode, Error> {
    let (program, args) = split_command(command)?;
    let fs = gomodfs::open(settings)?;
    let _warm = gomodfs::warm_start(&fs, settings)?;
    if let Some(cache) = &build_cache {
        let stats = cache.stats.path().to_owned();
        fs.stats()
            .set_build_cache_source(std::sync::Arc::new(move || {
                gomodfs::cacheprog::counters::sum_dir(&stats)
            }));
    }
    let _debug = start_debug(&fs, debug_addr)?;
    let store = match &settings.store {
        Some(s) => s.clone(),
        None => gomodfs::default_store_dir()?,
    };
    let (mount, dir) = exec_mount::mount_on_slot(&store, |dir| {
        let options = gomodfs::fuse::MountOptions {
            io_uring: flags.io_uring.into(),
            ..Default::default()
        };
        Ok(gomodfs::fuse::mount(fs.clone(), dir, &options)?)
    })?;
    let gocacheprog = build_cache.as_ref().map(|c| c.gocacheprog.as_str());
    let status = run_with_gomodcache(&fs, program, args, dir.dir(), gocacheprog);
    if let Some(c) = build_cache
        .as_ref()
        .and_then(|c| gomodfs::cacheprog::counters::sum_dir(c.stats.path()))
    {
        eprintln!(
            "gomodfs: build cache: {}",
            gomodfs::cacheprog::counters::summary(&c)
        );
    }
    let unmounted = mount.unmount();
    gomodfs::flush_uploads(&fs, flush);
    let status = status?;
    unmounted?;
    Ok(exit_code(status))
}

/// Without FUSE, with WinFsp (the Windows build): through WinFsp.
#[cfg(all(feature = "winfsp", not(feature = "fuse")))]
fn run_exec(
    settings: &Settings,
    command: &[String],
    build_cache: Option<cacheprog_cmd::ExecCache>,
    _flags: MountFlags,
    debug_addr: Option<std::net::SocketAddr>,
    _flush: std::time::Duration,
) -> Result<ExitCode, Error> {
    let gocacheprog = build_cache.as_ref().map(|c| c.gocacheprog.as_str());
    winfsp_mount::exec(settings, command, gocacheprog, debug_addr)
}

/// `exec`'s command line: the program and its arguments.
#[cfg(any(feature = "fuse", feature = "winfsp"))]
pub(crate) fn split_command(command: &[String]) -> Result<(&String, &[String]), Error> {
    command
        .split_first()
        .ok_or_else(|| Error::Usage("exec needs a command after --".into()))
}

/// A new temporary directory for the WinFsp `exec`'s mount, removed when
/// dropped.
#[cfg(feature = "winfsp")]
pub(crate) fn temp_mount_dir() -> Result<tempfile::TempDir, Error> {
    tempfile::Builder::new()
        .prefix("gomodfs-")
        .tempdir()
        .map_err(|source| Error::Io {
            context: "creating a temporary mount point".into(),
            source,
        })
}

/// Runs `program` with `args`, `GOMODCACHE` set to `gomodcache` (and
/// `GOPROXY=off` unless set; `GOCACHEPROG` when given), until it exits. A
/// stop signal cancels the downloads in flight and is passed on to the
/// command.
#[cfg(any(feature = "fuse", feature = "winfsp"))]
pub(crate) fn run_with_gomodcache(
    fs: &gomodfs::core::ModFs,
    program: &str,
    args: &[String],
    gomodcache: &std::path::Path,
    gocacheprog: Option<&str>,
) -> Result<std::process::ExitStatus, Error> {
    let rt = signal_runtime()?;
    rt.block_on(async {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args).env("GOMODCACHE", gomodcache);
        if std::env::var_os("GOPROXY").is_none() {
            cmd.env("GOPROXY", "off");
        }
        if let Some(gocacheprog) = gocacheprog {
            cmd.env("GOCACHEPROG", gocacheprog);
        }
        let mut child = cmd.spawn().map_err(|source| Error::Io {
            context: format!("running {program}"),
            source,
        })?;
        tokio::select! {
            status = child.wait() => status.map_err(|source| Error::Io {
                context: format!("waiting for {program}"),
                source,
            }),
            signal = wait_for_termination() => {
                signal?;
                cancel_downloads(fs);
                // Let the command see the signal too (it shares our process
                // group for Ctrl-C; SIGTERM may have come to us alone).
                if let Some(pid) = child.id() {
                    forward_sigterm(pid);
                }
                child.wait().await.map_err(|source| Error::Io {
                    context: format!("waiting for {program}"),
                    source,
                })
            }
        }
    })
}

/// On a stop signal: fail every download in flight (their readers get EIO)
/// so that no frontend waits for a slow upstream while shutting down, and
/// give the frontends a moment (at most [`CANCEL_GRACE`]) to send those
/// errors before the mounts go.
pub(crate) fn cancel_downloads(fs: &gomodfs::core::ModFs) {
    let in_flight = fs.cancel_downloads();
    if in_flight == 0 {
        return;
    }
    tracing::info!(in_flight, "cancelled the downloads in flight");
    let deadline = std::time::Instant::now() + CANCEL_GRACE;
    while fs.stats().downloads_in_flight() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // The waiting readers are answered right after their download ends.
    std::thread::sleep(std::time::Duration::from_millis(50));
}

/// How long a stop waits for cancelled downloads to end.
const CANCEL_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Creates the mount point if it does not exist yet, and detaches a dead
/// gomodfs mount left there by a process that died.
pub(crate) fn ensure_mount_point(dir: &std::path::Path) -> Result<(), Error> {
    #[cfg(feature = "fuse")]
    gomodfs::fuse::clear_stale_mount(dir)?;
    if dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        context: format!("creating the mount point {}", dir.display()),
        source,
    })
}

/// Starts the debug server if asked for.
pub(crate) fn start_debug(
    fs: &std::sync::Arc<gomodfs::core::ModFs>,
    addr: Option<std::net::SocketAddr>,
) -> Result<Option<gomodfs::debug::DebugServer>, Error> {
    addr.map(|addr| {
        let server = gomodfs::debug::DebugServer::start(fs.clone(), addr)?;
        eprintln!("gomodfs: status page at http://{}/", server.addr());
        Ok(server)
    })
    .transpose()
}

/// Without FUSE, with WinFsp (the Windows build): through WinFsp.
#[cfg(all(feature = "winfsp", not(feature = "fuse")))]
fn run_mount(
    settings: &Settings,
    dir: &std::path::Path,
    _flags: MountFlags,
    debug_addr: Option<std::net::SocketAddr>,
    _flush: std::time::Duration,
) -> Result<(), Error> {
    winfsp_mount::run(settings, dir, debug_addr)
}

#[cfg(not(any(feature = "fuse", feature = "winfsp")))]
fn run_mount(
    _: &Settings,
    _: &std::path::Path,
    _: MountFlags,
    _: Option<std::net::SocketAddr>,
    _: std::time::Duration,
) -> Result<(), Error> {
    Err(Error::Usage(
        "this gomodfs was built without the fuse feature".into(),
    ))
}

#[cfg(not(any(feature = "fuse", feature = "winfsp")))]
fn run_exec(
    _: &Settings,
    _: &[String],
    _: Option<cacheprog_cmd::ExecCache>,
    _: MountFlags,
    _: Option<std::net::SocketAddr>,
    _: std::time::Duration,
) -> Result<ExitCode, Error> {
    Err(Error::Usage(
        "this gomodfs was built without the fuse feature".into(),
    ))
}

/// Most glibc malloc arenas. By default glibc gives threads up to eight
/// arenas per core; memory freed in one (a wave of FUSE FORGETs) stays
/// pinned there by a few long-lived neighbours, and the resident size of a
/// long-running daemon creeps up. Two arenas keep it flat (see the README,
/// "Memory and concurrency").
const MALLOC_ARENAS: i32 = 2;

/// Allocations from this size up get their own mapping, a fixed threshold.
/// Left alone, glibc raises its threshold (128 KiB at first) to the
/// size of the largest mapped block freed, up to 32 MiB; after that each
/// FUSE thread's 16 MiB request buffer (`vec![0; ..]`) came from an arena
/// and was zeroed page by page: 16 MiB resident per buffer that requests
/// never touch (33 of realapp's 46 MiB RssAnon after a build). A fixed
/// threshold keeps such buffers mapped and untouched
/// (docs/BENCHMARKS.md, "Peak RSS at start-up").
const MALLOC_MMAP_THRESHOLD: i32 = 1 << 20;

/// Free memory at the top of a malloc arena kept for the next allocations
/// rather than given back to the system. Fixing the mmap threshold (above)
/// also stops glibc from raising this one from its 128 KiB start, and
/// then every freed file buffer (a read's contents, an NFS reply) at the
/// top of an arena was unmapped and the next one faulted in and zeroed
/// again, page by page: 26,000 page faults for one NFS read of
/// golang.org/x/text, 12,600 with 8 MiB kept (docs/BENCHMARKS.md, "NFS
/// against FUSE").
const MALLOC_TRIM_THRESHOLD: i32 = 8 << 20;

fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any
    // thread is started.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD);
    }
}

fn forward_sigterm(pid: u32) {
    // Elsewhere (Windows) Ctrl-C reaches the child's console group already.
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill(2) with the pid of our own child and a valid signal
        // number has no memory-safety preconditions.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}

fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    if let Some(code) = status.code() {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return ExitCode::from(u8::try_from(128 + sig).unwrap_or(1));
        }
    }
    ExitCode::from(1)
}

pub(crate) async fn wait_for_termination() -> Result<(), Error> {
    let io = |source| Error::Io {
        context: "installing signal handlers".into(),
        source,
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(io)?;
        let mut int = signal(SignalKind::interrupt()).map_err(io)?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn verbose_covers_every_workspace_crate() {
        // Every member of the workspace that logs (all but the testkit) must
        // be in OUR_CRATES, or `-v` silently leaves it at warn.
        let manifest = include_str!("../Cargo.toml");
        let members = manifest
            .lines()
            .find(|l| l.starts_with("members"))
            .unwrap_or_default();
        let mut found = 0;
        for member in members.split('"').filter(|m| m.starts_with("gomodfs-")) {
            if member == "gomodfs-testkit" {
                continue;
            }
            found += 1;
            let krate = member.replace('-', "_");
            assert!(OUR_CRATES.contains(&krate.as_str()), "{krate} missing");
            assert!(default_log_filter(true).contains(&format!("{krate}=debug")));
            assert!(default_log_filter(false).contains(&format!("{krate}=info")));
        }
        assert!(found >= 4, "no workspace members found in {members}");
    }

    /// What `--fuse-io-uring` becomes on `mount`, `exec` and `serve`.
    fn io_uring_of(args: &[&str]) -> Result<FuseIoUring, String> {
        let cli = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
        match cli.command {
            Command::Mount { fuse_io_uring, .. } | Command::Exec { fuse_io_uring, .. } => {
                Ok(fuse_io_uring.when)
            }
            #[cfg(feature = "fuse")]
            Command::Serve { frontends, .. } => Ok(frontends.fuse_io_uring.when),
            _ => Err("not a mounting command".into()),
        }
    }

    #[test]
    fn fuse_io_uring_is_auto_unless_said_and_the_flag_alone_means_on() {
        // The environment of the test run may choose (README, tests).
        let default = match std::env::var("GOMODFS_FUSE_IO_URING") {
            Ok(v) => FuseIoUring::from_str(&v, true).unwrap_or_else(|e| panic!("{e}")),
            Err(_) => FuseIoUring::Auto,
        };
        assert_eq!(io_uring_of(&["gomodfs", "mount", "/m"]), Ok(default));
        assert_eq!(
            io_uring_of(&["gomodfs", "mount", "--fuse-io-uring", "/m"]),
            Ok(FuseIoUring::On),
            "the flag alone does not take the mount point as its value"
        );
        for (said, meant) in [
            ("auto", FuseIoUring::Auto),
            ("on", FuseIoUring::On),
            ("true", FuseIoUring::On),
            ("off", FuseIoUring::Off),
            ("false", FuseIoUring::Off),
        ] {
            let flag = format!("--fuse-io-uring={said}");
            assert_eq!(io_uring_of(&["gomodfs", "mount", &flag, "/m"]), Ok(meant));
            assert_eq!(
                io_uring_of(&["gomodfs", "exec", &flag, "--", "go", "build"]),
                Ok(meant)
            );
            #[cfg(feature = "fuse")]
            assert_eq!(
                io_uring_of(&["gomodfs", "serve", "--mount", "/m", &flag]),
                Ok(meant)
            );
        }
        let wrong = io_uring_of(&["gomodfs", "mount", "--fuse-io-uring=sometimes", "/m"])
            .expect_err("not a choice");
        assert!(wrong.contains("auto") && wrong.contains("off"), "{wrong}");
    }

    #[test]
    fn an_error_names_each_cause_once() {
        #[derive(Debug)]
        struct Wrapped(std::io::Error, &'static str);
        impl std::fmt::Display for Wrapped {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}: {}", self.1, self.0)
            }
        }
        impl std::error::Error for Wrapped {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let gone = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        // The message says its cause already: no "caused by" line.
        let said = error_text(&Wrapped(gone(), "creating git store /x"));
        assert_eq!(said, "gomodfs: creating git store /x: no such file\n");
        // A cause the message leaves out is named.
        #[derive(Debug)]
        struct Terse(std::io::Error);
        impl std::fmt::Display for Terse {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("opening the store")
            }
        }
        impl std::error::Error for Terse {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let said = error_text(&Terse(gone()));
        assert_eq!(
            said,
            "gomodfs: opening the store\n  caused by: no such file\n"
        );
    }
}
