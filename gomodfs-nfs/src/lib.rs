//! NFSv3 frontend of gomodfs: serves a [`ModFs`] through `nfs3_server`.
//!
//! An adapter and nothing more: every request resolves its file handle
//! with [`ModFs::resolve_key`], calls the node API and maps the result. The
//! MOUNT, NFSv3 and portmapper programs share one TCP port.
//!
//! - File handles are the core's persistent node keys behind a fixed
//!   generation number, so a handle issued before a restart resolves after
//!   it, to the same file with the same attributes, with no state kept.
//! - READDIR/READDIRPLUS cookies are entry ids: a page resumes after the
//!   last entry the client saw, in O(log n + page) inside module trees, and
//!   cookies stay valid across restarts. The cookie verifier is derived from
//!   the directory's fixed mtime.
//! - Every write is `NFS3ERR_ROFS`; a failed download is `NFS3ERR_IO`, never
//!   `NFS3ERR_NOENT`.
//! - MOUNT accepts any export path: one that names a directory of the
//!   namespace mounts that directory, anything else mounts the root.
//! - What clients can make the server hold is capped ([`default_limits`]:
//!   record size, bytes per connection, connections), in a patched copy of
//!   `nfs3_server` (third_party/nfs3_server/PATCHES.md).
//! - There is no NLM (lock manager) program: clients must lock locally
//!   (Linux `local_lock=all`, macOS `locallocks`); see docs/NFS.md.
//!
//! ```no_run
//! # fn main() -> Result<(), gomodfs_nfs::NfsError> {
//! # let fs: std::sync::Arc<gomodfs_core::ModFs> = todo!();
//! let server = gomodfs_nfs::serve(fs, "127.0.0.1:2049")?;
//! println!("mount -t nfs -o vers=3,tcp,port={0},mountport={0},local_lock=all,ro 127.0.0.1:/ /mnt",
//!     server.local_addr().port());
//! server.stop();
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod error;
mod status_window;

pub use error::{NfsError, to_nfsstat};
pub use status_window::STATUS_WINDOW;

/// Limits on record sizes, bytes per connection and connections (from the
/// patched `nfs3_server`; see [`default_limits`]).
pub use nfs3_server::limits::Limits;
use status_window::StatusWindow;

use bytes::Bytes;
use gomodfs_core::fs::{NODE_KEY_MAX, STATUS_FILE};
use gomodfs_core::{Attr, Call, DirPage, Error, ErrorKind, ModFs, NodeId, NodeKind, With};
use nfs3_server::nfs3_types::nfs3::{
    FSF3_HOMOGENEOUS, FSINFO3resok, createverf3, fattr3, filename3, ftype3, nfspath3, nfsstat3,
    nfstime3, post_op_attr, sattr3, specdata3, stable_how,
};
use nfs3_server::tcp::{NFSTcp, NFSTcpListener};
use nfs3_server::vfs::{
    DirEntryPlus, FileHandle, NextResult, NfsFileSystem, NfsReadFileSystem, ReadDirPlusIterator,
    VFSCapabilities,
};
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// The generation number in every file handle. It is fixed, so handles
/// survive restarts; bump it only if the key format of
/// [`ModFs::node_key`] changes incompatibly.
pub const HANDLE_GENERATION: u64 = 1;

/// The largest READ the server offers (FSINFO `rtmax`), and its preferred
/// READ and READDIR sizes. Linux clients use at most 1 MiB.
pub const MAX_TRANSFER: u32 = 1 << 20;

/// The largest RPC record accepted: a WRITE of [`MAX_TRANSFER`] (the
/// largest legal call; it is answered `NFS3ERR_ROFS`) with its RPC and NFS
/// headers, which take well under 4 KiB.
pub const MAX_RECORD_SIZE: usize = MAX_TRANSFER as usize + 4096;

/// The bytes one connection may hold at once (calls being handled, replies
/// reserved or waiting to be sent): eight READs of [`MAX_TRANSFER`].
pub const MAX_CONNECTION_BYTES: usize = 8 * MAX_TRANSFER as usize;

/// The most NFS connections served at once (a Linux or macOS mount uses
/// one; libnfs tools one each).
pub const MAX_CONNECTIONS: usize = 32;

/// The limits [`serve`] uses: [`MAX_RECORD_SIZE`],
/// [`MAX_CONNECTION_BYTES`] and [`MAX_CONNECTIONS`]. At most about
/// `MAX_CONNECTIONS × (MAX_CONNECTION_BYTES + MAX_RECORD_SIZE)` = 288 MiB
/// is held for clients, whatever they send.
pub fn default_limits() -> Limits {
    Limits {
        max_record_size: MAX_RECORD_SIZE,
        max_connection_bytes: MAX_CONNECTION_BYTES,
        max_connections: MAX_CONNECTIONS,
    }
}

/// Threads for node API calls. A call that waits on a download holds one
/// until the download ends, so this many requests can wait on the network
/// at once before a READ of a stored file has to wait for a free thread.
/// (A connection may have as many calls in progress as its byte budget
/// admits, 8,192 with [`default_limits`]; before 2026-12-04 nfs3_server
/// capped them at 256 and failed the rest with `SYSTEM_ERR`.)
pub const BLOCKING_THREADS: usize = 1024;

/// The async workers: one per CPU, 2 to 16. Requests for stored files are
/// answered on them (see [`stored_first`]), so they bound how many such
/// requests run at once.
fn worker_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 16))
}

/// Entries computed per step of a directory listing. A READDIRPLUS reply
/// takes as many as fit; at most one step is computed in vain.
const PAGE_STEP: usize = 256;

/// The `fsid` of every node: one filesystem.
const FSID: u64 = 0x0067_6f6d_6f64_6673; // "gomodfs"

/// A file handle: a persistent node key of the core.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NfsHandle(Vec<u8>);

impl FileHandle for NfsHandle {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        (!bytes.is_empty() && bytes.len() <= NODE_KEY_MAX).then(|| NfsHandle(bytes.to_vec()))
    }
}

/// The NFS view of a [`ModFs`]: implements `nfs3_server`'s filesystem
/// traits (read-only; every write answers `NFS3ERR_ROFS`).
pub struct NfsFs {
    fs: Arc<ModFs>,
    root: NfsHandle,
    status: Arc<StatusWindow>,
}

impl NfsFs {
    /// The NFS view of `fs`.
    pub fn new(fs: Arc<ModFs>) -> Result<NfsFs, NfsError> {
        let root = NfsHandle(fs.node_key(NodeId::ROOT)?);
        let status = Arc::new(StatusWindow::new(fs.resolve(STATUS_FILE)?.id));
        Ok(NfsFs { fs, root, status })
    }

    /// The request wrapper: runs `f` on the node API (with the status
    /// file's snapshot window) in a span naming the operation and `subject`
    /// (the handle or path), and logs and maps its error once. See
    /// [`stored_first`]: store-only on the async worker first, then, if it
    /// needs a download, as a full call in place.
    async fn call<T: Send + 'static>(
        &self,
        op: &'static str,
        subject: impl std::fmt::Display + Send + 'static,
        f: impl Fn(&With<'_>, &ModFs, &StatusWindow) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, nfsstat3> {
        stored_first(op, subject, self.fs.clone(), self.status.clone(), f).await
    }
}

/// Calls made on the async worker: from the store and the caches alone.
const STORED: Call = Call {
    store_only: true,
    pin: false,
};

/// Calls that may download (or wait for a download).
const FULL: Call = Call {
    store_only: false,
    pin: false,
};

/// Runs `f` store-only ([`Call::store_only`]) right on the async worker,
/// where nearly every request is answered: the module is stored, so the
/// call reads the caches or the local store and never waits on the
/// network. Only a call that would download, or wait for a download, is
/// made again as a full call through [`blocking`] (in place, the worker's
/// other tasks moving to another thread). Handing every call to
/// [`tokio::task::block_in_place`] woke a thread per request: reading
/// spf13/cobra's 66 files one at a time took 13 ms instead of 7.
async fn stored_first<T: Send + 'static>(
    op: &'static str,
    subject: impl std::fmt::Display + Send + 'static,
    fs: Arc<ModFs>,
    status: Arc<StatusWindow>,
    f: impl Fn(&With<'_>, &ModFs, &StatusWindow) -> Result<T, Error> + Send + 'static,
) -> Result<T, nfsstat3> {
    if in_place_allowed() {
        let first = {
            let span = tracing::debug_span!("nfs", op, %subject);
            let _entered = span.enter();
            // A panic answers SERVERFAULT, as in `blocking`.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                f(&fs.with(STORED), &fs, &status)
            }))
        };
        match first {
            Ok(Err(e)) if e.would_fetch() => {}
            Ok(result) => return answered(op, &subject, result),
            Err(_) => return handler_failed(op, &"panicked"),
        }
    }
    blocking(op, subject, move || f(&fs.with(FULL), &fs, &status)).await
}

/// What [`NfsFs::call`] does, for callers holding the pieces themselves.
///
/// On the server's multi-thread runtime `f` runs in place
/// ([`tokio::task::block_in_place`]): the request goes on on its own
/// thread while the worker's other tasks move to another one, where
/// `spawn_blocking` cost two thread hand-offs per request (to a blocking
/// thread and back), each a wake-up that waits for a CPU on a busy
/// machine. A call that waits on a download holds its thread as before.
/// Elsewhere (a current-thread runtime) `f` goes to the blocking pool.
async fn blocking<T: Send + 'static>(
    op: &'static str,
    subject: impl std::fmt::Display + Send + 'static,
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, nfsstat3> {
    let span = tracing::debug_span!("nfs", op, %subject);
    let run = move || {
        let _entered = span.enter();
        answered(op, &subject, f())
    };
    if in_place_allowed() {
        // Leave the connection's task first: nfs3_server polls each call
        // once in the task that reads the connection and moves it to a
        // task of its own only when it yields, so blocking before that
        // would hold up every call behind it on the connection (a LOOKUP
        // waiting for a download would delay the stored READs after it).
        tokio::task::yield_now().await;
        // A panic answers SERVERFAULT, as a failed blocking task does.
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            tokio::task::block_in_place(run)
        }));
        return caught.unwrap_or_else(|_| handler_failed(op, &"panicked"));
    }
    tokio::task::spawn_blocking(run)
        .await
        .unwrap_or_else(|e| handler_failed(op, &e))
}

/// A handler's result as the reply's: an error is logged once (at the
/// level its kind deserves) and mapped to its NFS status.
fn answered<T>(
    op: &'static str,
    subject: &dyn std::fmt::Display,
    result: Result<T, Error>,
) -> Result<T, nfsstat3> {
    result.map_err(|e| {
        e.log(op, subject);
        to_nfsstat(&e)
    })
}

/// A handler that panicked (or whose task failed): SERVERFAULT, logged.
fn handler_failed<T>(op: &'static str, why: &dyn std::fmt::Display) -> Result<T, nfsstat3> {
    tracing::error!(op, error = %why, "NFS request handler failed");
    Err(nfsstat3::NFS3ERR_SERVERFAULT)
}

/// Whether [`tokio::task::block_in_place`] may run here: on a
/// multi-thread runtime (it panics on a current-thread one).
fn in_place_allowed() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// A file handle (a node key) as a log field: its bytes in hex.
struct Key(Vec<u8>);

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// NFS attributes of a node (docs/SEMANTICS.md section 6): owner root, the core's
/// permissions, sizes and fixed times; `fileid` is the node id.
pub fn fattr(attr: &Attr) -> fattr3 {
    let time = attr
        .mtime
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let time = nfstime3 {
        seconds: u32::try_from(time.as_secs()).unwrap_or(u32::MAX),
        nseconds: time.subsec_nanos(),
    };
    fattr3 {
        type_: match attr.kind {
            NodeKind::Directory => ftype3::NF3DIR,
            NodeKind::File => ftype3::NF3REG,
        },
        mode: u32::from(attr.perm),
        nlink: attr.nlink,
        uid: 0,
        gid: 0,
        size: attr.size,
        used: attr.size,
        rdev: specdata3::default(),
        fsid: FSID,
        fileid: attr.id.0,
        atime: time,
        mtime: time,
        ctime: time,
    }
}

fn name_of<'a>(name: &'a filename3<'_>) -> Result<&'a str, Error> {
    // Every name in the namespace is UTF-8; anything else does not exist.
    std::str::from_utf8(name.as_ref())
        .map_err(|_| Error::NotFound(String::from_utf8_lossy(name.as_ref()).into_owned()))
}

impl NfsReadFileSystem for NfsFs {
    type Handle = NfsHandle;

    fn root_dir(&self) -> NfsHandle {
        self.root.clone()
    }

    async fn lookup(&self, dir: &NfsHandle, name: &filename3<'_>) -> Result<NfsHandle, nfsstat3> {
        let dir = dir.0.clone();
        let name = name_of(name).map(str::to_owned);
        let subject = format!("{}/{}", Key(dir.clone()), name.as_deref().unwrap_or("?"));
        self.call("lookup", subject, move |api, fs, _| {
            let attr = api.lookup(api.resolve_key(&dir)?, name.as_ref().map_err(Clone::clone)?)?;
            Ok(NfsHandle(fs.node_key(attr.id)?))
        })
        .await
    }

    /// LOOKUP's directory attributes, handle and object attributes in one
    /// call to the node API, where nfs3_server's default makes a GETATTR, a
    /// LOOKUP and a GETATTR.
    async fn lookup_with_attributes(
        &self,
        dir: &NfsHandle,
        name: &filename3<'_>,
    ) -> (
        Result<fattr3, nfsstat3>,
        Result<(NfsHandle, Result<fattr3, nfsstat3>), nfsstat3>,
    ) {
        let dir = dir.0.clone();
        let name = name_of(name).map(str::to_owned);
        let subject = format!("{}/{}", Key(dir.clone()), name.as_deref().unwrap_or("?"));
        let found_subject = subject.clone();
        let both = self
            .call("lookup", subject, move |api, fs, status| {
                let dir = api.resolve_key_attr(&dir)?;
                let dir_attr = fattr(&status.attr_of(fs, dir)?);
                let dir = dir.id;
                let found: Result<_, Error> = (|| {
                    let name = name.as_ref().map_err(Clone::clone)?;
                    let attr = status.attr_of(fs, api.lookup(dir, name)?)?;
                    Ok((NfsHandle(fs.node_key(attr.id)?), fattr(&attr)))
                })();
                let found = match found {
                    // A store-only attempt that would download: made again
                    // as a full call.
                    Err(e) if e.would_fetch() => return Err(e),
                    other => answered("lookup", &found_subject, other),
                };
                Ok((dir_attr, found))
            })
            .await;
        match both {
            Ok((dir_attr, found)) => (Ok(dir_attr), found.map(|(h, a)| (h, Ok(a)))),
            Err(status) => (Err(status), Err(status)),
        }
    }

    /// MOUNT of any path: a path naming a directory mounts it; a path that
    /// does not exist (`/gomodcache`, a Windows share name) mounts the root.
    async fn lookup_by_path(&self, path: &str) -> Result<NfsHandle, nfsstat3> {
        let path = path.to_owned();
        let fs = self.fs.clone();
        blocking("mount", path.clone(), move || {
            let id = match fs.resolve(&path) {
                Ok(attr) if attr.kind == NodeKind::Directory => attr.id,
                Ok(_) => return Err(Error::NotADirectory(path)),
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    tracing::info!(
                        path,
                        "mount of a path outside the namespace: serving the root"
                    );
                    NodeId::ROOT
                }
                Err(e) => return Err(e),
            };
            Ok(NfsHandle(fs.node_key(id)?))
        })
        .await
    }

    async fn getattr(&self, id: &NfsHandle) -> Result<fattr3, nfsstat3> {
        let key = id.0.clone();
        self.call("getattr", Key(key.clone()), move |api, fs, status| {
            let attr = api.resolve_key_attr(&key)?;
            Ok(fattr(&status.attr_of(fs, attr)?))
        })
        .await
    }

    async fn read(
        &self,
        id: &NfsHandle,
        offset: u64,
        count: u32,
    ) -> Result<(Vec<u8>, bool), nfsstat3> {
        let (_, read) = self.read_with_attributes(id, offset, count).await;
        read.map(|(data, eof)| (data.to_vec(), eof))
    }

    /// READ's attributes and data in one call to the node API (one handle
    /// resolution, one thread hand-off), where nfs3_server's default makes
    /// a GETATTR and a READ of it. The data is the node API's own buffer:
    /// the reply is written to the socket from it, not copied.
    async fn read_with_attributes(
        &self,
        id: &NfsHandle,
        offset: u64,
        count: u32,
    ) -> (Result<fattr3, nfsstat3>, Result<(Bytes, bool), nfsstat3>) {
        let key = id.0.clone();
        let both = self
            .call("read", Key(key.clone()), move |api, fs, status| {
                let attr = api.resolve_key_attr(&key)?;
                let id = attr.id;
                let data = read_node(api, fs, status, (id, attr.size), offset, count)?;
                Ok((fattr(&status.attr_of(fs, attr)?), data))
            })
            .await;
        match both {
            Ok((attr, data)) => (Ok(attr), Ok(data)),
            Err(status) => (Err(status), Err(status)),
        }
    }

    async fn readdirplus(
        &self,
        dir: &NfsHandle,
        cookie: u64,
    ) -> Result<impl ReadDirPlusIterator<NfsHandle>, nfsstat3> {
        let key = dir.0.clone();
        let after = (cookie != 0).then_some(NodeId(cookie));
        let (dir, first) = self
            .call("readdirplus", Key(key.clone()), move |api, fs, status| {
                let dir = api.resolve_key(&key)?;
                let page = api.readdir_page(dir, after, PAGE_STEP)?;
                Ok((dir, entries(fs, status, page)?))
            })
            .await
            .map_err(|status| match status {
                // A cookie that names no entry of the directory.
                nfsstat3::NFS3ERR_INVAL if after.is_some() => nfsstat3::NFS3ERR_BAD_COOKIE,
                other => other,
            })?;
        Ok(Listing {
            fs: self.fs.clone(),
            status: self.status.clone(),
            dir,
            buffer: first.0.into(),
            last: after,
            eof: first.1,
        })
    }

    async fn readlink(&self, id: &NfsHandle) -> Result<nfspath3<'_>, nfsstat3> {
        // There are no symbolic links: INVAL, once the handle is known good.
        self.getattr(id).await?;
        Err(nfsstat3::NFS3ERR_INVAL)
    }

    async fn fsinfo(&self, root: &NfsHandle) -> Result<FSINFO3resok, nfsstat3> {
        let obj_attributes = post_op_attr::Some(self.getattr(root).await?);
        Ok(FSINFO3resok {
            obj_attributes,
            rtmax: MAX_TRANSFER,
            rtpref: MAX_TRANSFER,
            rtmult: 4096,
            wtmax: MAX_TRANSFER,
            wtpref: MAX_TRANSFER,
            wtmult: 4096,
            dtpref: MAX_TRANSFER,
            maxfilesize: 1 << 40,
            time_delta: nfstime3 {
                seconds: 1,
                nseconds: 0,
            },
            // Read-only, no links, no settable times.
            properties: FSF3_HOMOGENEOUS,
        })
    }
}

/// The largest file read on an async worker whatever it takes (see
/// [`stored_first`]): the first READ of a larger one may inflate all of it
/// (about 1 ms per MiB; tens of milliseconds for a large generated table),
/// holding up the worker's other requests that long. A READ of a larger
/// file is answered on the worker only from the caches
/// ([`With::read_at_cached`]: the blob cache keeps a file read in pieces
/// once its first piece loaded it); else it is made as a full call, in
/// place.
///
/// Until 2026-12-04 every READ of a larger file was a full call:
/// golang.org/x/text's files over 1 MiB made 27 of them per walk, now 9.
/// Reading files up to 16 MiB in place instead, as FUSE's queues do, was
/// measured and not kept: 4 readers 0.93x FUSE against 0.88x, but one
/// reader 0.65x against 0.98x (docs/BENCHMARKS.md, "Large files on the
/// async worker").
const INLINE_FILE_MAX: u64 = MAX_TRANSFER as u64;

/// READ of `count` bytes (at most [`MAX_TRANSFER`]) at `offset` of the
/// file `id`, of `size` bytes: the bytes and whether they reach its end.
fn read_node(
    api: &With<'_>,
    fs: &ModFs,
    status: &StatusWindow,
    (id, size): (NodeId, u64),
    offset: u64,
    count: u32,
) -> Result<(Bytes, bool), Error> {
    let count = count.min(MAX_TRANSFER);
    if status.is_status(id) {
        // Every READ within the window sees the same snapshot.
        let data = status.snapshot(fs)?;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let end = start.saturating_add(count as usize).min(data.len());
        return Ok((Bytes::copy_from_slice(&data[start..end]), end == data.len()));
    }
    // A slice of the contents, sharing their buffer. A large file's piece
    // is read store-only from the caches alone; a refusal is made again
    // off the worker (as a call that needs a download is).
    let chunk = if api.call().store_only && size > INLINE_FILE_MAX {
        api.read_at_cached(id, offset, count)?
    } else {
        api.read_at(id, offset, count)?
    };
    Ok((chunk.data, chunk.eof))
}

type Entries = (Vec<DirEntryPlus<NfsHandle>>, bool);

fn entries(fs: &ModFs, status: &StatusWindow, page: DirPage) -> Result<Entries, Error> {
    let mut out = Vec::with_capacity(page.entries.len());
    for (entry, attr) in page.entries {
        let attr = status.attr_of(fs, attr)?;
        out.push(DirEntryPlus {
            fileid: entry.id.0,
            name: entry.name.into_bytes().into(),
            // The entry's id: where the next page starts.
            cookie: entry.id.0,
            name_attributes: Some(fattr(&attr)),
            name_handle: Some(NfsHandle(fs.node_key(entry.id)?)),
        });
    }
    Ok((out, page.eof))
}

/// A directory listing in steps of [`PAGE_STEP`] entries, each step
/// computed when the previous one is used up.
struct Listing {
    fs: Arc<ModFs>,
    status: Arc<StatusWindow>,
    dir: NodeId,
    buffer: VecDeque<DirEntryPlus<NfsHandle>>,
    /// The id of the last entry handed out (or the request's cookie).
    last: Option<NodeId>,
    eof: bool,
}

impl ReadDirPlusIterator<NfsHandle> for Listing {
    async fn next(&mut self) -> NextResult<DirEntryPlus<NfsHandle>> {
        if self.buffer.is_empty() && !self.eof {
            let (fs, dir, after) = (self.fs.clone(), self.dir, self.last);
            let status = self.status.clone();
            match stored_first("readdirplus", dir.0, fs, status, move |api, fs, status| {
                entries(fs, status, api.readdir_page(dir, after, PAGE_STEP)?)
            })
            .await
            {
                Ok((more, eof)) => {
                    self.buffer = more.into();
                    self.eof = eof;
                }
                Err(status) => return NextResult::Err(status),
            }
        }
        match self.buffer.pop_front() {
            Some(entry) => {
                self.last = Some(NodeId(entry.cookie));
                NextResult::Ok(entry)
            }
            None => NextResult::Eof,
        }
    }
}

impl NfsFileSystem for NfsFs {
    fn capabilities(&self) -> VFSCapabilities {
        VFSCapabilities::ReadOnly
    }

    async fn setattr(&self, _id: &NfsHandle, _attr: sattr3) -> Result<fattr3, nfsstat3> {
        Err(nfsstat3::NFS3ERR_ROFS)
    }

    async fn write(
        &self,
        _id: &NfsHandle,
        _offset: u64,
        _data: &[u8],
        _stable: stable_how,
    ) -> Result<(fattr3, stable_how), nfsstat3> {
        Err(nfsstat3::NFS3ERR_ROFS)
    }

    async fn create(
        &self,
        _dir: &NfsHandle,
        _name: &filename3<'_>,
        _attr: sattr3,
    ) -> Result<(NfsHandle, fattr3), nfsstat3> {
        Err(nfsstat3::NFS3ERR_ROFS)
    }

    async fn create_exclusive(
        &self,
        _dir: &NfsHandle,
        _name: &filename3<'_>,
        _verf: createverf3,
    ) -> Result<NfsHandle, nfsstat3> {
        Err(nfsstat3::NFS3ERR_ROFS)
    }

    async fn mkdir(
        &self,
        _dir: &NfsHandle,
        _name: &filename3<'_>,
    ) -> Result<(NfsHandle, fattr3), nfsstat3> {
        Err(nfsstat3::NFS3ERR_ROFS)
    }

    async fn remove(&self, _dir: &NfsHandle, _name: &filename3<'_>) -> Result<(), nfsstat3> {
        Err(nfsstat3::NFS3ERR_ROFS)
    }

    async fn rename<'a>(
        &self,
        _from_dir: &NfsHandle,
        _from_name: &filename3<'a>,
        _to_dir: &NfsHandle,
        _to_name: &filename3<'a>,
    ) -> Result<(), nfsstat3> {
        Err(nfsstat3::NFS3ERR_ROFS)
    }

    async fn symlink<'a>(
        &self,
        _dir: &NfsHandle,
        _name: &filename3<'a>,
        _target: &nfspath3<'a>,
        _attr: &sattr3,
    ) -> Result<(NfsHandle, fattr3), nfsstat3> {
        Err(nfsstat3::NFS3ERR_ROFS)
    }

    async fn commit(&self, _id: &NfsHandle, _offset: u64, _count: u32) -> Result<(), nfsstat3> {
        Err(nfsstat3::NFS3ERR_ROFS)
    }
}

/// A running NFS server: MOUNT, NFSv3 and a portmapper on one TCP port.
/// Stops when dropped or by [`NfsServer::stop`].
pub struct NfsServer {
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    /// What the status reports about this server, while it lives.
    _status: Arc<gomodfs_core::stats::FrontendStatus>,
}

impl NfsServer {
    /// The address the server listens on (the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and closes the open ones, waiting up to
    /// a few seconds for requests in progress.
    pub fn stop(mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
        tracing::info!(addr = %self.addr, "NFS server stopped");
    }
}

impl Drop for NfsServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Parses a listen address: `PORT` (on 127.0.0.1) or `IPv4:PORT`.
pub fn parse_addr(addr: &str) -> Result<SocketAddrV4, NfsError> {
    let invalid = |reason: &str| NfsError::Address {
        addr: addr.to_owned(),
        reason: reason.to_owned(),
    };
    if let Ok(port) = addr.parse::<u16>() {
        return Ok(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    }
    match addr.parse::<SocketAddr>() {
        Ok(SocketAddr::V4(a)) => Ok(a),
        Ok(SocketAddr::V6(_)) => Err(invalid("IPv6 is not supported (nfs3_server binds IPv4)")),
        Err(_) => Err(invalid("expected PORT or IPv4:PORT, e.g. 127.0.0.1:2049")),
    }
}

/// Serves `fs` over NFSv3 on `addr` (`PORT` means 127.0.0.1:PORT; port 0
/// picks a free one) from a runtime of its own, until stopped, with
/// [`default_limits`].
pub fn serve(fs: Arc<ModFs>, addr: &str) -> Result<NfsServer, NfsError> {
    serve_with_limits(fs, addr, default_limits())
}

/// Like [`serve`], with other limits on record sizes, bytes per connection
/// and connections.
pub fn serve_with_limits(
    fs: Arc<ModFs>,
    addr: &str,
    limits: Limits,
) -> Result<NfsServer, NfsError> {
    let want = parse_addr(addr)?;
    let stats_of = fs.clone();
    let nfs = NfsFs::new(fs)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads())
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_name("gomodfs-nfs")
        .enable_all()
        .build()
        .map_err(NfsError::Runtime)?;
    let mut listener = runtime
        .block_on(NFSTcpListener::bind_with_generation(
            &want.to_string(),
            nfs,
            HANDLE_GENERATION,
        ))
        .map_err(|source| NfsError::Bind {
            addr: want.to_string(),
            source,
        })?;
    listener.with_limits(limits);
    let local = SocketAddr::new(listener.get_listen_ip(), listener.get_listen_port());
    runtime.spawn(async move {
        if let Err(e) = listener.handle_forever().await {
            tracing::error!(error = %e, "NFS listener stopped");
        }
    });
    tracing::info!(addr = %local, "NFS server listening");
    let status = stats_of
        .stats()
        .add_frontend(gomodfs_core::stats::FrontendStatus {
            kind: "nfs".into(),
            at: local.to_string(),
            transport: None,
        });
    Ok(NfsServer {
        addr: local,
        runtime: Some(runtime),
        _status: status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler that panics answers SERVERFAULT, whether it ran in place
    /// (multi-thread runtime) or on the blocking pool (current-thread), and
    /// the runtime keeps serving.
    #[test]
    fn a_panicking_handler_answers_serverfault_on_both_runtimes() {
        let runtimes = [
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .build(),
            tokio::runtime::Builder::new_current_thread().build(),
        ];
        for rt in runtimes {
            let rt = rt.expect("a test runtime");
            let failed: Result<u8, nfsstat3> =
                rt.block_on(blocking("read", "test", || panic!("handler bug")));
            assert_eq!(failed, Err(nfsstat3::NFS3ERR_SERVERFAULT));
            let served: Result<u8, nfsstat3> = rt.block_on(blocking("read", "test", || Ok(7)));
            assert_eq!(served, Ok(7));
        }
    }

    /// A file system over one stored module: `small.txt` and a file one
    /// byte over [`INLINE_FILE_MAX`].
    fn stored() -> (NfsFs, Vec<u8>) {
        let store = Arc::new(gomodfs_core::store::MemoryStore::new());
        let big: Vec<u8> = (0..=INLINE_FILE_MAX).map(|i| (i % 251) as u8).collect();
        let files: [(&str, &[u8]); 2] = [("small.txt", b"small\n"), ("big.bin", &big)];
        gomodfs_testkit::seed::put(store.as_ref(), "example.com/m", "v1.0.0", &files)
            .expect("a seeded module");
        let fs = ModFs::new(store, None, gomodfs_core::ModFsOptions::default()).expect("a ModFs");
        (NfsFs::new(Arc::new(fs)).expect("an NfsFs"), big)
    }

    /// On the multi-thread runtime a call is tried store-only first: one
    /// that would download is made again as a full call, and a panic in
    /// the store-only attempt answers SERVERFAULT.
    #[test]
    fn a_store_only_attempt_that_would_fetch_is_made_again_as_a_full_call() {
        let (nfs, _) = stored();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .expect("a test runtime");
        let modes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = modes.clone();
        let answer = rt.block_on(nfs.call("getattr", "test", move |api, _, _| {
            seen.lock()
                .expect("not poisoned")
                .push(api.call().store_only);
            if api.call().store_only {
                return Err(Error::WouldFetch("example.com/m@v1.0.0".into()));
            }
            Ok(7u8)
        }));
        assert_eq!(answer, Ok(7));
        assert_eq!(*modes.lock().expect("not poisoned"), [true, false]);

        let failed: Result<u8, nfsstat3> =
            rt.block_on(nfs.call("getattr", "test", |_, _, _| panic!("handler bug")));
        assert_eq!(failed, Err(nfsstat3::NFS3ERR_SERVERFAULT));
    }

    /// A store-only READ of a file over [`INLINE_FILE_MAX`] that no cache
    /// holds is refused as one that would fetch (so it is made again off
    /// the async worker); once a full call has read a piece of it (and the
    /// blob cache keeps it), its other pieces are read store-only. A small
    /// file is read store-only from the start.
    #[test]
    fn a_large_file_is_read_store_only_only_from_the_caches() {
        let (nfs, big) = stored();
        let (fs, status) = (&nfs.fs, &nfs.status);
        let file = |name: &str| {
            let attr = fs
                .resolve(&format!("example.com/m@v1.0.0/{name}"))
                .expect("a stored file");
            (attr.id, attr.size)
        };
        let local = fs.with(STORED);
        let (data, eof) = read_node(&local, fs, status, file("small.txt"), 0, 1024)
            .expect("a small file reads store-only");
        assert_eq!((&data[..], eof), (&b"small\n"[..], true));
        let refused = read_node(&local, fs, status, file("big.bin"), 0, 1024)
            .expect_err("a large file in no cache is not read store-only");
        assert!(refused.would_fetch(), "{refused}");
        let (data, eof) = read_node(&fs.with(FULL), fs, status, file("big.bin"), 0, 1024)
            .expect("a full call reads it");
        assert_eq!((&data[..], eof), (&big[..1024], false));
        let end = big.len() - 100;
        let (data, eof) = read_node(&local, fs, status, file("big.bin"), end as u64, 1024)
            .expect("its last piece, from the blob cache, reads store-only");
        assert_eq!((&data[..], eof), (&big[end..], true));
    }
}
