//! FUSE frontend of gomodfs: serves a [`ModFs`] through the kernel's FUSE
//! interface (Linux; macOS with macFUSE).
//!
//! This crate is an adapter and nothing more: every handler is one core call
//! through one request wrapper (`request.rs`: a span, the store-only then
//! download-wait call, the error logged and mapped once), and its caching
//! hints (entry and attribute TTLs, negative entries, KEEP_CACHE and
//! DIRECT_IO) are each one lookup of the core's answer ([`Caching`]).
//!
//! Two rules keep the mount responsive and its memory flat:
//!
//! - A FUSE worker only answers what the store and caches hold (a
//!   store-only [`Call`]); a request that needs a download goes, with its
//!   reply, to a separate pool of waiting threads
//!   ([`MountOptions::download_waiters`]), so stored modules are served at
//!   local speed whatever is downloading.
//! - Every node the kernel learns (LOOKUP, READDIRPLUS) is pinned in the
//!   core until the kernel's FORGET; everything else lives in the core's
//!   bounded node cache.
#![deny(missing_docs)]

mod dir_cache;
mod errno;
mod handlers;
mod handles;
mod op_stats;
mod replies;
mod request;
mod stale;
mod status_inodes;
mod trim;
mod unmount;
#[cfg(target_os = "linux")]
mod uring;
mod waiters;

pub use errno::to_errno;
pub use op_stats::{FuseOp, OpCount};
pub use stale::{clear_stale_mount, probe_mount};

use bytes::Bytes;
use fuser::{
    AccessFlags, BsdFileFlags, Config, Errno, FileAttr, FileHandle, FileType, Filesystem,
    FopenFlags, Generation, INodeNo, InitFlags, KernelConfig, LockOwner, MountOption, OpenAccMode,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, SessionACL,
    TimeOrNow, WriteFlags,
};
use gomodfs_core::fs::STATUS_FILE;
use gomodfs_core::stats::FrontendStatus;
use gomodfs_core::{Attr, Caching, Call, Lifetime, Listing, ModFs, NodeId, NodeKind, OpenFile};
use handles::Handles;
use op_stats::OpStats;
use replies::{EntryReply, OpenReply};
use status_inodes::StatusInodes;
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use waiters::Waiters;

/// Errors of the FUSE frontend.
#[derive(Debug, thiserror::Error)]
pub enum FuseError {
    /// Mounting failed.
    #[error("mounting gomodfs at {mountpoint}: {source}{}", mount_hint(source))]
    Mount {
        /// Where.
        mountpoint: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Unmounting failed.
    #[error("unmounting gomodfs: {0}")]
    Unmount(#[source] io::Error),
}

/// Attributes sent with a negative entry (only the zero node id matters).
const NEGATIVE: Attr = Attr {
    id: NodeId(0),
    kind: NodeKind::File,
    size: 0,
    perm: 0,
    nlink: 0,
    mtime: std::time::UNIX_EPOCH,
    cache: Caching::IMMUTABLE,
};

/// A hint for the mount errors users can fix themselves.
fn mount_hint(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOTCONN | libc::ECONNABORTED) => {
            " (a previous gomodfs died here: run `fusermount3 -u` on it first)".into()
        }
        Some(libc::ENOENT) => " (does the directory exist, and is fusermount3 installed?)".into(),
        Some(libc::EPERM) | Some(libc::EACCES) => {
            " (FUSE needs /dev/fuse access; in a container add --device /dev/fuse --cap-add SYS_ADMIN)"
                .into()
        }
        _ => String::new(),
    }
}

/// Mount settings.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// Worker threads serving requests from the store and caches.
    pub threads: usize,
    /// Most threads waiting for downloads at once; requests past that
    /// queue until one finishes. Requests for stored modules never wait
    /// for these.
    pub download_waiters: usize,
    /// Let users other than the mounting one access the mount
    /// (`allow_other`; needs `user_allow_other` in /etc/fuse.conf unless root).
    pub allow_other: bool,
    /// How long the kernel may cache entries and attributes of immutable nodes.
    pub ttl: Duration,
    /// Whether requests come over FUSE over io_uring (Linux 6.14+) or
    /// `/dev/fuse` reads ([`Mount::transport`] tells which it became).
    pub io_uring: IoUring,
    /// Ring entries each io_uring queue (one per CPU) registers at its
    /// start, at most 132; `None`: by the number of CPUs (132 on up to 4,
    /// fewer on more, at least 12). A queue registers more, up to 132, as
    /// requests waiting for downloads hold its entries
    /// ([`Mount::io_uring_entries`] counts them).
    pub io_uring_entries: Option<usize>,
}

/// How a mount takes the kernel's requests: FUSE over io_uring (Linux
/// 6.14+; per-CPU queues, a round trip several times shorter on machines
/// whose idle CPUs sleep, docs/BENCHMARKS.md) or `read(2)` on `/dev/fuse`.
/// Every choice falls back to `/dev/fuse` where io_uring is not to be had,
/// and the log says why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IoUring {
    /// Always `/dev/fuse`.
    Off,
    /// io_uring when the kernel's switch
    /// (`/sys/module/fuse/parameters/enable_uring`) is already on and this
    /// process may set up io_uring; `/dev/fuse` otherwise. Never changes
    /// the switch.
    #[default]
    Auto,
    /// io_uring, turning the kernel's switch on when it is off (needs
    /// root); `/dev/fuse`, with a warning, where that fails.
    On,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            threads: default_threads(),
            download_waiters: 128,
            allow_other: false,
            ttl: Duration::from_secs(365 * 24 * 3600),
            io_uring: IoUring::default(),
            io_uring_entries: None,
        }
    }
}

/// Worker threads by default: two per CPU, 2 to 16. A request is served
/// in microseconds from the store, so more workers than CPUs only add
/// wake-ups: on 2 CPUs, 4 workers took a fifth less CPU than 16 for a
/// fresh `go mod verify` (docs/BENCHMARKS.md); downloads wait on their own
/// pool.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(16, |n| (n.get() * 2).clamp(2, 16))
}

/// A live mount; unmounts when [`Mount::unmount`] is called or it is dropped.
pub struct Mount {
    session: Option<fuser::BackgroundSession>,
    mountpoint: PathBuf,
    ops: Arc<OpStats>,
    #[cfg(target_os = "linux")]
    rings: Option<uring::Rings>,
}

impl Mount {
    /// Where it is mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// How many requests of each kind the kernel has sent so far, and the
    /// time their handlers took, in [`FuseOp::ALL`] order.
    pub fn op_counts(&self) -> Vec<(FuseOp, OpCount)> {
        self.ops.snapshot()
    }

    /// Ring entries registered over all io_uring queues so far (see
    /// [`MountOptions::io_uring_entries`]), or `None` when the mount is
    /// served over `/dev/fuse` only.
    pub fn io_uring_entries(&self) -> Option<usize> {
        #[cfg(target_os = "linux")]
        {
            self.rings.as_ref().map(uring::Rings::entries)
        }
        #[cfg(not(target_os = "linux"))]
        {
            None
        }
    }

    /// Requests answered over io_uring so far, or `None` when the mount is
    /// served over `/dev/fuse` only ([`MountOptions::io_uring`] off, or
    /// not offered by the kernel).
    pub fn io_uring_requests(&self) -> Option<u64> {
        #[cfg(target_os = "linux")]
        {
            self.rings.as_ref().map(uring::Rings::served)
        }
        #[cfg(not(target_os = "linux"))]
        {
            None
        }
    }

    /// How the kernel's requests arrive: `"io_uring"` or `"/dev/fuse"`.
    pub fn transport(&self) -> &'static str {
        if self.io_uring_requests().is_some() {
            "io_uring"
        } else {
            "/dev/fuse"
        }
    }

    /// Waits (a few seconds at most) for the io_uring queue threads, which
    /// end with the connection.
    fn join_rings(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(rings) = self.rings.take() {
            rings.join(Duration::from_secs(5));
        }
    }

    /// True once the session has ended without [`Mount::unmount`]: the
    /// mount point was unmounted from outside (`fusermount3 -u`, `umount`,
    /// `umount -l`), so the kernel closed the connection.
    pub fn is_ended(&self) -> bool {
        self.session.as_ref().is_none_or(|s| s.guard.is_finished())
    }

    /// Unmounts and waits (a few seconds at most) for the workers to
    /// finish. A busy mount (a process has its working directory or a file
    /// in it) is detached lazily, and says so in the log: afterwards the
    /// mount point is always the plain directory again. A mount that was
    /// already unmounted from outside ([`Mount::is_ended`]) is only
    /// released.
    pub fn unmount(mut self) -> Result<(), FuseError> {
        self.ops.log();
        let result = match self.session.take() {
            Some(s) if s.guard.is_finished() => {
                release_ended(s);
                Ok(())
            }
            Some(s) => unmount::unmount(s, &self.mountpoint).map_err(FuseError::Unmount),
            None => Ok(()),
        };
        // Like the session's, the queue threads of a lazily detached mount
        // serve it until its last user lets go: waited for, not forced.
        self.join_rings();
        result
    }
}

/// Lets go of a session whose mount was unmounted from outside, without
/// unmounting again: fuser's clean-up would unmount the mount point once
/// more, and by then it may be somebody else's mount. The finished thread's
/// handle and the closed connection's descriptor are left to the process.
fn release_ended(session: fuser::BackgroundSession) {
    std::mem::forget(session);
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.session.is_some() {
            self.ops.log();
        }
        if let Some(s) = self.session.take_if(|s| s.guard.is_finished()) {
            release_ended(s);
        }
        if let Some(s) = self.session.take()
            && let Err(e) = unmount::unmount(s, &self.mountpoint)
        {
            tracing::warn!(mountpoint = %self.mountpoint.display(), error = %e, "unmount failed");
        }
        self.join_rings();
    }
}

/// Mounts `fs` read-only at `mountpoint` and serves it from background threads.
pub fn mount(
    fs: Arc<ModFs>,
    mountpoint: &Path,
    options: &MountOptions,
) -> Result<Mount, FuseError> {
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::RO,
        MountOption::FSName("gomodfs".into()),
        MountOption::Subtype("gomodfs".into()),
        MountOption::DefaultPermissions,
        MountOption::NoAtime,
        MountOption::NoDev,
        MountOption::NoSuid,
        MountOption::Exec,
    ];
    if options.allow_other {
        config.acl = SessionACL::All;
    }
    config.n_threads = Some(options.threads.max(1));
    config.clone_fd = cfg!(target_os = "linux");
    let mut adapter = FuseFs::with_waiters(fs, options.ttl, options.download_waiters);
    // This session has a notifier for the listings the kernel caches.
    adapter.cache_dirs = true;
    adapter.io_uring = asks_for_io_uring(options.io_uring);
    let ops = adapter.ops.clone();
    let inner = adapter.inner.clone();
    #[cfg(target_os = "linux")]
    let shared = adapter.share();
    let failed = |source| FuseError::Mount {
        mountpoint: mountpoint.to_owned(),
        source,
    };
    let session = fuser::Session::new(adapter, mountpoint, &config).map_err(failed)?;
    #[cfg(target_os = "linux")]
    let rings = start_rings(&session, &shared, options.io_uring_entries);
    let session = session.spawn().map_err(failed)?;
    let _ = inner.notifier.set(session.notifier());
    dir_cache::refresh_periodically(Arc::downgrade(&inner));
    let mount = Mount {
        session: Some(session),
        mountpoint: mountpoint.to_owned(),
        ops,
        #[cfg(target_os = "linux")]
        rings,
    };
    let status = inner.fs.stats().add_frontend(FrontendStatus {
        kind: "fuse".into(),
        at: mountpoint.display().to_string(),
        transport: Some(mount.transport().into()),
    });
    let _ = inner.frontend.set(status);
    drop(inner);
    tracing::info!(mountpoint = %mountpoint.display(), "mounted");
    Ok(mount)
}

/// Whether the session asks the kernel for FUSE over io_uring at INIT,
/// as `choice` says and the system allows. Logs why not.
fn asks_for_io_uring(choice: IoUring) -> bool {
    #[cfg(target_os = "linux")]
    {
        let usable = match choice {
            IoUring::Off => return false,
            IoUring::Auto => uring::usable_as_is(),
            IoUring::On => uring::enable_in_kernel().and_then(|()| uring::can_set_up()),
        };
        match usable {
            Ok(()) => true,
            Err(why) if choice == IoUring::On => {
                tracing::warn!("serving over /dev/fuse, not io_uring: {why}");
                false
            }
            Err(why) => {
                tracing::info!("serving over /dev/fuse: {why}");
                false
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        if choice == IoUring::On {
            tracing::warn!("serving over /dev/fuse: FUSE over io_uring is Linux's");
        }
        false
    }
}

/// Starts the io_uring queues of a session whose INIT granted them; says
/// why not when its INIT asked for them and the kernel refused.
#[cfg(target_os = "linux")]
fn start_rings(
    session: &fuser::Session<FuseFs>,
    fs: &FuseFs,
    initial_entries: Option<usize>,
) -> Option<uring::Rings> {
    use std::os::fd::AsFd;
    if !fs.inner.io_uring_granted.load(Ordering::Relaxed) {
        if fs.io_uring {
            tracing::warn!(
                "serving over /dev/fuse, not io_uring: the kernel did not offer it at INIT"
            );
        }
        return None;
    }
    match uring::start(session.as_fd(), fs, initial_entries) {
        Ok(rings) => Some(rings),
        Err(e) => {
            tracing::warn!(error = %e, "serving over /dev/fuse, not io_uring: starting its queues failed");
            None
        }
    }
}

/// The [`fuser::Filesystem`] over a [`ModFs`]. Public so that embedders can
/// run their own fuser session with it.
pub struct FuseFs {
    inner: Arc<Inner>,
    waiters: Arc<Waiters>,
    trim: Arc<trim::Trim>,
    ops: Arc<OpStats>,
    /// Ask the kernel to open directories without OPENDIR and cache every
    /// listing (see `dir_cache`): only for sessions that set
    /// [`Inner::notifier`], which drops the listings that grow.
    cache_dirs: bool,
    /// Ask the kernel for FUSE over io_uring at INIT (see `uring`): only
    /// for sessions that then serve its queues.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    io_uring: bool,
}

/// What the handlers share with the download-wait pool.
struct Inner {
    fs: Arc<ModFs>,
    ttl: Duration,
    files: Handles<Bytes>,
    dirs: Handles<DirListing>,
    /// The status file's snapshots, one inode each (see `status_inodes`).
    status: StatusInodes,
    /// The kernel sends no OPEN or RELEASE for files (FUSE_NO_OPEN_SUPPORT
    /// granted): the first OPEN is answered ENOSYS to switch them off.
    no_open: AtomicBool,
    /// The kernel sends no OPENDIR or RELEASEDIR and caches every listing
    /// (FUSE_NO_OPENDIR_SUPPORT granted; see `dir_cache`).
    no_opendir: AtomicBool,
    /// Drops what the kernel cached; set once the session is mounted.
    notifier: OnceLock<fuser::Notifier>,
    /// The kernel granted FUSE over io_uring at INIT.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    io_uring_granted: AtomicBool,
    /// Directory → the offset past its last entry, for listings sent whole
    /// by a READDIR(PLUS) without a handle (see `dir_cache`).
    listing_ends: parking_lot::Mutex<std::collections::HashMap<u64, u64>>,
    /// Growing directories whose listings the kernel may hold (see
    /// `dir_cache`): the ones to drop when the store grows.
    listed_growing: dir_cache::ListedDirs,
    /// What the status reports about the mount: held here, so it drops
    /// out of the status when the session and the io_uring queues end,
    /// also when the mount is unmounted from outside.
    frontend: OnceLock<Arc<FrontendStatus>>,
}

/// An open directory: its own attributes and its entries, each pinned once
/// while the directory is open (so READDIRPLUS can pin what it sends).
struct DirListing {
    own: Attr,
    entries: Vec<(String, Attr)>,
}

impl FuseFs {
    /// An adapter over `fs` with entry/attribute TTL `ttl` for immutable
    /// nodes, and the default number of download-wait threads.
    pub fn new(fs: Arc<ModFs>, ttl: Duration) -> Self {
        Self::with_waiters(fs, ttl, MountOptions::default().download_waiters)
    }

    /// Like [`FuseFs::new`], with at most `download_waiters` threads
    /// waiting for downloads.
    pub fn with_waiters(fs: Arc<ModFs>, ttl: Duration, download_waiters: usize) -> Self {
        FuseFs {
            inner: Arc::new(Inner {
                fs,
                ttl,
                files: Handles::default(),
                dirs: Handles::default(),
                status: StatusInodes::default(),
                no_open: AtomicBool::new(false),
                no_opendir: AtomicBool::new(false),
                notifier: OnceLock::new(),
                io_uring_granted: AtomicBool::new(false),
                listing_ends: Default::default(),
                listed_growing: Default::default(),
                frontend: OnceLock::new(),
            }),
            waiters: Arc::new(Waiters::new(download_waiters)),
            trim: Arc::default(),
            ops: Arc::default(),
            cache_dirs: false,
            io_uring: false,
        }
    }

    /// Another handle on the same adapter (state, pools, counters), for a
    /// second transport serving the same session.
    #[cfg(target_os = "linux")]
    fn share(&self) -> FuseFs {
        FuseFs {
            inner: self.inner.clone(),
            waiters: self.waiters.clone(),
            trim: self.trim.clone(),
            ops: self.ops.clone(),
            cache_dirs: self.cache_dirs,
            io_uring: self.io_uring,
        }
    }
}

impl Inner {
    /// The entry and attribute TTL of a node: the core's lifetime of its
    /// attributes, with the mount's TTL standing for "forever".
    fn ttl(&self, attr: &Attr) -> Duration {
        attr.cache.attr.or_forever(self.ttl)
    }

    /// Answers LOOKUP of the status file: a new inode holding a new
    /// snapshot, with entry TTL zero so that the next open looks it up
    /// again (see `status_inodes`).
    fn status_lookup(&self, reply: impl EntryReply) {
        // Counted as a lookup, not pinned: the kernel learns the
        // snapshot's inode, never the core's.
        let call = Call {
            store_only: true,
            pin: false,
        };
        match self.fs.with(call).lookup(NodeId::ROOT, STATUS_FILE) {
            Ok(attr) => {
                let attr = self.status.insert(self.fs.status_json(), attr);
                reply.entry(&Duration::ZERO, &file_attr(&attr), Generation(0));
            }
            Err(e) => {
                e.log("lookup", &STATUS_FILE);
                reply.fail(to_errno(&e));
            }
        }
    }

    /// Answers OPEN: the file's bytes held until RELEASE.
    fn opened_file(&self, file: OpenFile, reply: impl OpenReply) {
        let flags = open_flags(&file.cache);
        let fh = self.files.insert(file.data);
        reply.opened(FileHandle(fh), flags);
    }

    /// Answers OPENDIR: the listing held (its entries pinned) until
    /// RELEASEDIR.
    fn opened_dir(&self, listing: Listing, reply: impl OpenReply) {
        let own = listing.dir;
        let entries = listing
            .entries
            .into_iter()
            .map(|(e, a)| (e.name, a))
            .collect();
        let fh = self.dirs.insert(DirListing { own, entries });
        // A listing that never changes stays cached across opens.
        let flags = if own.cache.contents == Lifetime::Forever {
            FopenFlags::FOPEN_KEEP_CACHE | FopenFlags::FOPEN_CACHE_DIR
        } else {
            FopenFlags::empty()
        };
        reply.opened(FileHandle(fh), flags);
    }
}

/// The open flags of a file: its pages stay cached across opens when its
/// contents never change; a node read by snapshots bypasses the page cache,
/// so every open sees its own snapshot.
fn open_flags(cache: &Caching) -> FopenFlags {
    if cache.snapshot || cache.contents == Lifetime::Never {
        FopenFlags::FOPEN_DIRECT_IO
    } else if cache.contents == Lifetime::Forever {
        FopenFlags::FOPEN_KEEP_CACHE
    } else {
        FopenFlags::empty()
    }
}

/// Up to `size` bytes of `data` from `offset`.
fn slice(data: &[u8], offset: u64, size: u32) -> &[u8] {
    let len = data.len() as u64;
    let start = offset.min(len) as usize;
    let end = offset.saturating_add(u64::from(size)).min(len) as usize;
    &data[start..end]
}

fn file_type(kind: NodeKind) -> FileType {
    match kind {
        NodeKind::Directory => FileType::Directory,
        NodeKind::File => FileType::RegularFile,
    }
}

fn file_attr(attr: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(attr.id.0),
        size: attr.size,
        blocks: attr.size.div_ceil(512),
        atime: attr.mtime,
        mtime: attr.mtime,
        ctime: attr.mtime,
        crtime: attr.mtime,
        kind: file_type(attr.kind),
        perm: attr.perm,
        nlink: attr.nlink,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

impl Filesystem for FuseFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        let _ = config.set_max_readahead(1 << 20);
        // Listings carry attributes, saving a LOOKUP per entry of the
        // directory walks `go mod verify` does.
        if let Err(missing) = config.add_capabilities(InitFlags::FUSE_DO_READDIRPLUS) {
            tracing::debug!(?missing, "kernel lacks READDIRPLUS");
        }
        // Every file but the status file never changes (and that one is an
        // inode per snapshot): no OPEN and RELEASE round trips, pages kept.
        if config
            .add_capabilities(InitFlags::FUSE_NO_OPEN_SUPPORT)
            .is_ok()
        {
            self.inner.no_open.store(true, Ordering::Relaxed);
        } else {
            tracing::debug!("kernel lacks NO_OPEN_SUPPORT");
        }
        // Directories opened without OPENDIR and RELEASEDIR round trips,
        // every listing cached by the kernel; the growing ones are dropped
        // from its cache when the store grows (see `dir_cache`).
        if self.cache_dirs
            && config
                .add_capabilities(InitFlags::FUSE_NO_OPENDIR_SUPPORT)
                .is_ok()
        {
            self.inner.no_opendir.store(true, Ordering::Relaxed);
        }
        // Without this the kernel serializes lookups in one directory, so a
        // slow download of example.com/a@v1 would block example.com/b@v1.
        if let Err(missing) = config.add_capabilities(InitFlags::FUSE_PARALLEL_DIROPS) {
            tracing::warn!(?missing, "kernel lacks parallel directory operations");
        }
        #[cfg(target_os = "linux")]
        if self.io_uring {
            // Every ring entry holds the largest WRITE: nothing is ever
            // written, so no more than the largest READ.
            let _ = config.set_max_write(uring::MAX_WRITE);
            let granted = config
                .add_capabilities(InitFlags::FUSE_OVER_IO_URING)
                .is_ok();
            self.inner
                .io_uring_granted
                .store(granted, Ordering::Relaxed);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        self.handle_lookup(parent.0, name.as_encoded_bytes(), reply);
    }

    // BATCH_FORGET: fuser's default calls this for each node (its
    // `ForgetOne` type is not public, so it cannot be overridden).
    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.handle_forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.handle_getattr(ino.0, reply);
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let read_only = flags.acc_mode() == OpenAccMode::O_RDONLY;
        self.handle_open(ino.0, read_only, reply);
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.handle_read(ino.0, fh.0, offset, size, reply);
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.handle_release(fh.0, reply);
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.handle_flush(reply);
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.handle_opendir(ino.0, reply);
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectory,
    ) {
        self.handle_readdir(ino.0, fh.0, offset, reply);
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectoryPlus,
    ) {
        self.handle_readdirplus(ino.0, fh.0, offset, reply);
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.handle_releasedir(fh.0, reply);
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        self.handle_statfs(reply);
    }

    fn access(&self, _req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        self.handle_access(ino.0, mask.contains(AccessFlags::W_OK), reply);
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        self.handle_getxattr(reply);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, size: u32, reply: ReplyXattr) {
        self.handle_listxattr(size, reply);
    }

    // Everything that would change the filesystem: EROFS.

    fn setattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mknod(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mkdir(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn unlink(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn rmdir(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn symlink(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _link_name: &OsStr,
        _target: &Path,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn rename(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _newparent: INodeNo,
        _newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        reply.error(Errno::EROFS);
    }

    fn create(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        reply.error(Errno::EROFS);
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }
}
