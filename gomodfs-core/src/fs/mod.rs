//! [`ModFs`]: the node API every frontend calls.
//!
//! The API is synchronous-looking: plain blocking methods that hide the async
//! download machinery, so FUSE callbacks call it directly and async frontends
//! call it from `spawn_blocking`. A frontend with a fixed set of workers asks
//! first with a store-only [`Call`] (answered at local speed, or refused at
//! once when a download is needed) and waits for downloads elsewhere. Node
//! ids are deterministic: the same path gets the same id in every process and
//! after every restart. Which nodes are kept in memory is up to the node
//! table: pinned ones until released, a bounded cache of the others.

mod attach;
mod caches;
mod caching;
mod endpoint;
mod handle;
mod large_files;
mod node;
mod nodes;
mod page;
mod proxy_path;
mod replies;
mod shutdown;
mod sumdb_files;
mod tree;
mod use_notes;
mod warm;
mod warm_files;

pub use caching::{ABSENT_TTL, Caching, Lifetime};
pub use handle::NODE_KEY_MAX;
pub use node::STATUS_FILE;
pub use nodes::RECENT_NODES;
pub use page::DirPage;
pub use proxy_path::{PassRequest, ProxyRequest};
pub use replies::{Chunk, Entry, Listing, OpenFile};
pub use warm::{
    SAVE_EVERY, WARM_LIST_MAX, WarmEntry, WarmKind, WarmStart, format_list, parse_list, read_list,
    write_list,
};
pub use warm_files::{
    WARM_FILE_MAX, WARM_FILES_MAX_BYTES, WARM_FILES_MAX_COUNT, WarmFiles, warm_files_path,
};

use crate::dirhash::H1_LEN;
use crate::error::{Error, Result};
use crate::fetch::Fetcher;
use crate::modpath::ModuleVersion;
use crate::modzip::Limits;
use crate::proxy::Upstream;
use crate::stats::{Cache, Op, Stats, StatusSnapshot};
use crate::store::{BlobId, MetaFile, Store, StoredFile, StoredModule};
use bytes::Bytes;
use caches::{BlobCache, CachedBlob, TreeCache};
use node::{DownloadFile, Node};
use nodes::NodeTable;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tree::{ModuleTree, TreeEntry};

/// A node id, stable across processes and restarts (derived from the path).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u64);

impl NodeId {
    /// The root directory.
    pub const ROOT: NodeId = NodeId(1);
}

/// File or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// A directory.
    Directory,
    /// A regular file.
    File,
}

/// Attributes of a node (docs/SEMANTICS.md section 6). Owner is always root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    /// The node's id.
    pub id: NodeId,
    /// File or directory.
    pub kind: NodeKind,
    /// Exact size in bytes (0 for directories).
    pub size: u64,
    /// Permission bits: 0o444 for files, 0o555 for directories and executables.
    pub perm: u16,
    /// Link count.
    pub nlink: u32,
    /// Modification time, fixed per module version.
    pub mtime: SystemTime,
    /// How frontends may cache the node: attributes, contents, absent
    /// names, snapshots (the policy lives in the core: see [`Caching`]).
    pub cache: Caching,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name, as the filesystem spells it.
    pub name: String,
    /// The entry's id.
    pub id: NodeId,
    /// File or directory.
    pub kind: NodeKind,
}

/// How a call made through [`ModFs::with`] may proceed. The default is what
/// the plain methods ([`ModFs::lookup`] and the others) do: download what is
/// missing, pin nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Call {
    /// Answer from the store and the caches alone: a call that would
    /// download, or wait for a download, fails at once with an error whose
    /// [`Error::would_fetch`] is true, so the caller can retry it as a full
    /// call where waiting does not hold anything up (FUSE hands it to a
    /// separate pool).
    pub store_only: bool,
    /// Pin the nodes the call returns ([`With::lookup`]: one pin;
    /// [`With::readdir_plus`]: one pin per entry) until [`ModFs::forget`]
    /// releases them, for frontends whose clients hold node ids rather than
    /// paths or keys (the FUSE kernel module). Unpinned nodes live in a
    /// bounded cache and may be forgotten at any time.
    pub pin: bool,
}

/// Whether a read may load a module file from the store (read and inflate
/// it), or only take it from the caches ([`With::read_at_cached`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loads {
    /// From the caches, else from the store.
    Any,
    /// From the caches only; else [`Error::WouldFetch`].
    CachedOnly,
}

/// The node API with a [`Call`] mode: see [`ModFs::with`].
pub struct With<'a> {
    fs: &'a ModFs,
    call: Call,
}

impl With<'_> {
    /// The mode these calls are made in.
    pub fn call(&self) -> Call {
        self.call
    }

    /// Looks up `name` in directory `parent`.
    pub fn lookup(&self, parent: NodeId, name: &str) -> Result<Attr> {
        match self.entry(parent, name)? {
            Entry::Found(attr) => Ok(attr),
            Entry::Absent { error, .. } => Err(error),
        }
    }

    /// Looks up `name` in directory `parent`, answering an absent name
    /// with how long its absence holds (for negative entries) rather than
    /// with an error.
    pub fn entry(&self, parent: NodeId, name: &str) -> Result<Entry> {
        let fs = self.fs;
        // A parent the node table does not know is treated as a directory
        // outside module trees.
        let mut absent = Caching::GROWING.absent;
        let found = fs.timed(Op::Lookup, self.call, || {
            let p = fs.node(parent)?;
            absent = Caching::of(&p).absent;
            fs.lookup_node(&p, name, self.call)
        });
        match found {
            Ok(attr) => Ok(Entry::Found(attr)),
            Err(error) if error.kind() == crate::ErrorKind::NotFound => Ok(Entry::Absent {
                error,
                lifetime: absent,
            }),
            Err(e) => Err(e),
        }
    }

    /// Attributes of a node.
    pub fn getattr(&self, id: NodeId) -> Result<Attr> {
        let fs = self.fs;
        fs.timed(Op::Getattr, self.call, || {
            fs.attr(&fs.node(id)?, id, self.call)
        })
    }

    /// The whole contents of a file. For the status file this is one
    /// snapshot; a frontend that keeps it per open file serves reads that
    /// are never torn.
    pub fn open(&self, id: NodeId) -> Result<Bytes> {
        Ok(self.open_file(id)?.data)
    }

    /// The whole contents of a file with how they may be cached: what
    /// opening a file needs, in one call.
    pub fn open_file(&self, id: NodeId) -> Result<OpenFile> {
        let fs = self.fs;
        fs.timed(Op::Open, self.call, || {
            let node = fs.node(id)?;
            Ok(OpenFile {
                data: fs.contents(&node, self.call)?,
                cache: Caching::of(&node),
            })
        })
    }

    /// Up to `size` bytes of a file from `offset` (fewer at the end).
    pub fn read(&self, id: NodeId, offset: u64, size: u32) -> Result<Bytes> {
        Ok(self.read_at(id, offset, size)?.data)
    }

    /// Like [`With::read`], saying whether the read reached the end of the
    /// file (what NFS READ answers), in one call.
    pub fn read_at(&self, id: NodeId, offset: u64, size: u32) -> Result<Chunk> {
        let fs = self.fs;
        fs.timed(Op::Read, self.call, || {
            let node = fs.node(id)?;
            fs.piece(&node, self.call, Loads::Any, offset, size)
        })
    }

    /// [`With::read_at`] from what is at hand: the blob cache, the
    /// large-file cache and the warm files. A piece of a module file none
    /// of them holds, which would have to be read from the store and
    /// inflated first (milliseconds for a large generated file), fails at
    /// once with an error whose [`Error::would_fetch`] is true, as a
    /// store-only call that needs a download does: the caller makes that
    /// read where a long one holds nothing up (NFS: off its async worker),
    /// and its later pieces come from the caches here.
    pub fn read_at_cached(&self, id: NodeId, offset: u64, size: u32) -> Result<Chunk> {
        let fs = self.fs;
        // Timed as a store-only attempt: a refusal is not counted, the
        // retry is.
        let timing = Call {
            store_only: true,
            ..self.call
        };
        fs.timed(Op::Read, timing, || {
            let node = fs.node(id)?;
            fs.piece(&node, self.call, Loads::CachedOnly, offset, size)
        })
    }

    /// The entries of a directory with their attributes, as
    /// [`With::lookup`] would give them, sorted by name. Every entry becomes
    /// a known node, so a frontend can answer READDIRPLUS-style requests
    /// (FUSE, NFS, PROPFIND depth 1) without a lookup per entry.
    pub fn readdir_plus(&self, id: NodeId) -> Result<Vec<(DirEntry, Attr)>> {
        let fs = self.fs;
        fs.timed(Op::Readdir, self.call, || {
            let node = fs.node(id)?;
            let names = fs.list(&node, self.call)?.into_iter();
            fs.with_attrs(&node, names.map(|e| (e.name, e.kind)), self.call)
        })
    }

    /// Up to `max` entries of directory `id` with their attributes: what
    /// [`ModFs::readdir_page`] gives, in this call's mode.
    pub fn readdir_page(&self, id: NodeId, after: Option<NodeId>, max: usize) -> Result<DirPage> {
        let fs = self.fs;
        fs.timed(Op::Readdir, self.call, || {
            fs.page(&fs.node(id)?, after, max, self.call)
        })
    }

    /// The node a key from [`ModFs::node_key`] names, as
    /// [`ModFs::resolve_key`] finds it, in this call's mode (store-only: a
    /// key whose module would have to be downloaded fails with an error
    /// whose [`Error::would_fetch`] is true).
    pub fn resolve_key(&self, key: &[u8]) -> Result<NodeId> {
        self.fs.resolve_key_in(key, self.call)
    }

    /// [`With::resolve_key`] and [`With::getattr`] of the node in one call
    /// (counted as a `getattr`): where checking the key already took the
    /// attributes (a known module node), they are not taken again. What an
    /// NFS call on a handle needs first.
    pub fn resolve_key_attr(&self, key: &[u8]) -> Result<Attr> {
        let fs = self.fs;
        match fs.resolve_key_checked(key, self.call)? {
            (_, Some(attr)) => fs.timed(Op::Getattr, self.call, || Ok(attr)),
            (id, None) => self.getattr(id),
        }
    }

    /// What opening a directory needs, in one call: its own attributes
    /// (counted as a `getattr`) and its entries as [`With::readdir_plus`]
    /// gives them.
    pub fn opendir(&self, id: NodeId) -> Result<Listing> {
        Ok(Listing {
            dir: self.getattr(id)?,
            entries: self.readdir_plus(id)?,
        })
    }
}

/// Tuning for [`ModFs`].
#[derive(Debug, Clone)]
pub struct ModFsOptions {
    /// Memory budget for parsed module trees, in bytes.
    pub module_cache_bytes: u64,
    /// Memory budget for file contents, in bytes: files read in several
    /// pieces, each kept until all its bytes have been read (and files
    /// read whole through [`ModFs::open`] or [`ModFs::file_contents`]).
    pub blob_cache_bytes: u64,
    /// Disk budget for files too large for the blob cache that are read in
    /// pieces, in bytes: such a file is inflated once into an unnamed
    /// temporary file next to the store, and its pieces are read from
    /// there. 0 reads the whole file from the store for every piece.
    pub large_file_cache_bytes: u64,
    /// Limits applied to module zips.
    pub limits: Limits,
    /// Runtime for downloads; `None` makes a private one with 2 workers.
    pub runtime: Option<tokio::runtime::Handle>,
    /// The fleet tier between the store and upstream (`--remote`).
    #[cfg(feature = "remote")]
    pub remote: Option<Arc<crate::remote::FleetTier>>,
    /// The checksum database every downloaded module is checked against
    /// before it is stored, and whose verified files are served under
    /// `cache/download/sumdb/`; `None` (the default for the library)
    /// checks nothing. The `gomodfs` command passes
    /// [`SumDbConfig::from_env`](crate::sumdb::SumDbConfig::from_env).
    pub sumdb: Option<crate::sumdb::SumDbConfig>,
}

impl Default for ModFsOptions {
    fn default() -> Self {
        ModFsOptions {
            module_cache_bytes: 64 << 20,
            blob_cache_bytes: 64 << 20,
            large_file_cache_bytes: 1 << 30,
            limits: Limits::default(),
            runtime: None,
            #[cfg(feature = "remote")]
            remote: None,
            sumdb: None,
        }
    }
}

/// The time of everything outside module trees: a constant, so attributes
/// never change (2019-08-29, when the Go module mirror launched).
const FIXED_MTIME: Duration = Duration::from_secs(1_567_036_800);

/// The gomodfs namespace over a [`Store`], fetching on demand from an
/// [`Upstream`].
pub struct ModFs {
    store: Arc<dyn Store>,
    fetcher: Fetcher,
    nodes: NodeTable,
    trees: TreeCache,
    /// What `trees` may weigh ([`ModFsOptions::module_cache_bytes`]).
    tree_budget: u64,
    blobs: BlobCache,
    /// The warm files read at start (see `warm_files`), once opened.
    warm_files: std::sync::OnceLock<warm_files::WarmFiles>,
    /// The small files this process read whole, for the next warm files.
    files_read: warm_files::ReadRecord,
    /// `.info` and `.mod` files read lately.
    metas: caches::MetaCache,
    /// The largest file the blob cache keeps, in bytes.
    largest_cached: u64,
    /// Files larger than that, read in pieces.
    large: large_files::LargeFiles,
    stats: Arc<Stats>,
    /// The store's last measured usage (measured in the background when
    /// slow).
    usage: Arc<crate::stats::usage::UsageCache>,
    runtime: Option<tokio::runtime::Runtime>,
    #[cfg(feature = "remote")]
    remote: Option<Arc<crate::remote::FleetTier>>,
    /// The checksum database, if checked (see [`ModFsOptions::sumdb`]).
    checker: Option<Arc<crate::sumdb::Checker>>,
    /// Which modules were served, for the store's last-use times.
    used: use_notes::UseNotes,
    /// What was served, in order, for the next process's warm start.
    served: warm::ServedRecord,
}

impl Drop for ModFs {
    fn drop(&mut self) {
        // Metadata files answered but still being stored: a moment to
        // finish, so that the next process finds them.
        let left = self.fetcher.settle(std::time::Duration::from_secs(10));
        if left > 0 {
            tracing::warn!(
                left,
                "metadata files not stored at exit (fetched again next time)"
            );
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl ModFs {
    /// A filesystem over `store`; `upstream` `None` serves only what is
    /// stored (offline).
    pub fn new(
        store: Arc<dyn Store>,
        upstream: Option<Upstream>,
        options: ModFsOptions,
    ) -> Result<ModFs> {
        let (runtime, handle) = match options.runtime {
            Some(h) => (None, h),
            None => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("gomodfs-fetch")
                    .enable_all()
                    .build()
                    .map_err(|e| Error::io("starting the download runtime", e))?;
                let h = rt.handle().clone();
                (Some(rt), h)
            }
        };
        let stats = Arc::new(Stats::default());
        // Every store call is counted and timed (the `store_*` operations).
        let store: Arc<dyn Store> = Arc::new(crate::stats::CountedStore {
            inner: store,
            stats: stats.clone(),
        });
        #[cfg(feature = "remote")]
        let hook = crate::remote_hook::RemoteHook(options.remote.clone());
        #[cfg(not(feature = "remote"))]
        let hook = crate::remote_hook::RemoteHook;
        let checker = match &options.sumdb {
            Some(config) => crate::sumdb::checker(config, upstream.clone())?.map(Arc::new),
            None => None,
        };
        let fetcher = Fetcher::new(
            store.clone(),
            upstream.map(Arc::new),
            options.limits,
            handle,
            stats.clone(),
            hook,
            checker.clone(),
        );
        Ok(ModFs {
            store,
            fetcher,
            nodes: NodeTable::default(),
            trees: caches::tree_cache(options.module_cache_bytes, stats.clone()),
            tree_budget: options.module_cache_bytes,
            blobs: caches::blob_cache(options.blob_cache_bytes, stats.clone()),
            metas: caches::meta_cache(),
            largest_cached: caches::largest_kept(options.blob_cache_bytes),
            large: large_files::LargeFiles::new(options.large_file_cache_bytes),
            usage: Arc::default(),
            stats,
            runtime,
            #[cfg(feature = "remote")]
            remote: options.remote,
            checker,
            used: use_notes::UseNotes::default(),
            served: warm::ServedRecord::default(),
            warm_files: std::sync::OnceLock::new(),
            files_read: warm_files::ReadRecord::default(),
        })
    }

    /// The fleet tier, if `--remote` is set (for flushing uploads at exit).
    #[cfg(feature = "remote")]
    pub fn remote(&self) -> Option<&Arc<crate::remote::FleetTier>> {
        self.remote.as_ref()
    }

    /// The live counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The upstream client, `None` when offline. Frontends pass requests
    /// through with [`ModFs::pass_through`].
    pub(crate) fn upstream(&self) -> Option<&Upstream> {
        self.fetcher.upstream()
    }

    /// A whole module version (fetched and stored first if needed), for
    /// frontends that serve modules rather than files (e.g. generating a
    /// `.zip`). File contents come from [`ModFs::file_contents`].
    pub fn module(&self, module: &ModuleVersion) -> Result<StoredModule> {
        Ok(self.tree(module, Call::default())?.module.clone())
    }

    /// Hands every module zip this process fetches and stores, and
    /// `receiver` wants, to `receiver` as fetched (see [`FetchedZips`]):
    /// a frontend serving `.zip` files keeps them instead of generating
    /// them again. Replaces an earlier receiver.
    ///
    /// [`FetchedZips`]: crate::FetchedZips
    pub fn keep_fetched_zips(&self, receiver: Arc<dyn crate::FetchedZips>) {
        self.fetcher.zip_receiver().set(receiver);
    }

    /// A `.info` or `.mod` file (fetched on its own if needed).
    pub fn meta(&self, module: &ModuleVersion, file: MetaFile) -> Result<Bytes> {
        self.fetcher.meta(module, file)
    }

    /// The contents of one file of a module returned by [`ModFs::module`],
    /// through the same cache the node API reads from.
    pub fn file_contents(&self, module: &ModuleVersion, file: &StoredFile) -> Result<Bytes> {
        self.blob(module, &file.blob, &file.path)
    }

    /// The node API with another [`Call`] mode: store-only calls, pinning.
    pub fn with(&self, call: Call) -> With<'_> {
        With { fs: self, call }
    }

    /// Releases `n` pins of a node pinned by calls with [`Call::pin`] (the
    /// FUSE kernel module's FORGET). A node without pins stays known only
    /// while the bounded cache of recent nodes keeps it.
    pub fn forget(&self, id: NodeId, n: u64) {
        self.nodes.forget(id, n);
    }

    /// Adds one pin to a known node, as a [`Call::pin`] call would; false
    /// (and nothing pinned) if the id is unknown.
    pub fn pin(&self, id: NodeId) -> bool {
        self.nodes.pin(id)
    }

    /// How many nodes are pinned, and how many unpinned ones are cached (at
    /// most about [`RECENT_NODES`]).
    pub fn node_counts(&self) -> (usize, usize) {
        self.nodes.counts()
    }

    /// Looks up `name` in directory `parent`.
    pub fn lookup(&self, parent: NodeId, name: &str) -> Result<Attr> {
        self.with(Call::default()).lookup(parent, name)
    }

    /// Attributes of a node.
    pub fn getattr(&self, id: NodeId) -> Result<Attr> {
        self.with(Call::default()).getattr(id)
    }

    /// Resolves a `/`-separated path relative to the root ("" is the root).
    pub fn resolve(&self, path: &str) -> Result<Attr> {
        let call = Call::default();
        self.timed(Op::Resolve, call, || {
            let mut node = Node::Root;
            for name in path.split('/').filter(|s| !s.is_empty()) {
                self.attr(&node, id_of(&node), call)?;
                node = self.child(&node, name)?;
            }
            let attr = self.attr(&node, id_of(&node), call)?;
            let id = self.register(&node);
            Ok(Attr { id, ..attr })
        })
    }

    /// The entries of a directory with their attributes, as [`ModFs::lookup`]
    /// would give them, sorted by name. Every entry becomes a known node, so
    /// a frontend can answer READDIRPLUS-style requests (FUSE, NFS, PROPFIND
    /// depth 1) without a lookup per entry.
    pub fn readdir_plus(&self, id: NodeId) -> Result<Vec<(DirEntry, Attr)>> {
        self.with(Call::default()).readdir_plus(id)
    }

    /// The whole contents of a file. For the status file this is one
    /// snapshot; a frontend that keeps it per open file serves reads that
    /// are never torn.
    pub fn open(&self, id: NodeId) -> Result<Bytes> {
        self.with(Call::default()).open(id)
    }

    /// Up to `size` bytes of a file from `offset` (fewer at the end).
    pub fn read(&self, id: NodeId, offset: u64, size: u32) -> Result<Bytes> {
        self.with(Call::default()).read(id, offset, size)
    }

    /// Like [`ModFs::read`], saying whether the read reached the end of the
    /// file.
    pub fn read_at(&self, id: NodeId, offset: u64, size: u32) -> Result<Chunk> {
        self.with(Call::default()).read_at(id, offset, size)
    }

    /// Runs one counted call of `op`. A store-only attempt that needs a
    /// download is not counted: its retry as a full call is.
    fn timed<T>(&self, op: Op, call: Call, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let timer = self.stats.start(op);
        let result = f();
        match &result {
            Err(e) if call.store_only && e.would_fetch() => timer.discard(),
            _ => timer.finish(&result),
        }
        result
    }

    /// Everything worth reporting, in one snapshot: counters, caches, recent
    /// downloads and errors, the store's size, the upstream's counters.
    pub fn status(&self) -> StatusSnapshot {
        let mut snapshot = self.stats.snapshot();
        snapshot.upstream = self.upstream().map(Upstream::stats);
        #[cfg(feature = "remote")]
        {
            snapshot.remote = self.remote.as_ref().map(|t| t.snapshot());
        }
        let stored = self.stats.op(Op::FetchModule).ended + self.stats.op(Op::FetchMeta).ended;
        let usage = self.usage.reading(&self.store, stored);
        snapshot.store = usage.usage;
        snapshot.store_age = usage.age;
        snapshot.warm_files = self.warm_files.get().map(warm_files::WarmFiles::status);
        let (pinned, cached) = self.nodes.counts();
        snapshot.nodes = crate::stats::NodeCounts {
            pinned: pinned as u64,
            cached: cached as u64,
        };
        snapshot
    }

    /// The status JSON served as `.gomodfs-status`.
    pub fn status_json(&self) -> Bytes {
        let mut json = serde_json::to_vec_pretty(&self.status()).unwrap_or_default();
        json.push(b'\n');
        Bytes::from(json)
    }

    fn node(&self, id: NodeId) -> Result<Node> {
        self.nodes
            .get(id)
            .ok_or_else(|| Error::NotFound(format!("unknown node id {}", id.0)))
    }

    /// Registers a node without pinning it.
    fn register(&self, node: &Node) -> NodeId {
        self.nodes.register(node, false)
    }

    fn child(&self, parent: &Node, name: &str) -> Result<Node> {
        if parent.is_dir() == Some(false) {
            return Err(Error::NotADirectory(parent.path()));
        }
        parent
            .child(name)
            .ok_or_else(|| Error::NotFound(tree::join(&parent.path(), name)))
    }

    fn lookup_node(&self, parent: &Node, name: &str, call: Call) -> Result<Attr> {
        if let Node::Module(mv, rel) = parent {
            let tree = self.tree(mv, call)?;
            if !matches!(tree.entry(rel), Some(TreeEntry::Dir { .. })) {
                return Err(Error::NotADirectory(parent.path()));
            }
        }
        let child = self.child(parent, name)?;
        let attr = self.attr(&child, id_of(&child), call)?;
        let id = self.nodes.register(&child, call.pin);
        Ok(Attr { id, ..attr })
    }

    fn tree(&self, mv: &ModuleVersion, call: Call) -> Result<Arc<ModuleTree>> {
        if let Some(tree) = self.trees.get(mv) {
            self.stats.cache_lookup(Cache::Module, true);
            self.serving(mv);
            return Ok(tree);
        }
        let stored = if call.store_only {
            // A missing or unreadable module goes to the full call, which
            // downloads (or repairs) it.
            match self.store.module(mv) {
                Ok(Some(m)) => m,
                Ok(None) | Err(_) => return Err(Error::WouldFetch(mv.to_string())),
            }
        } else {
            Arc::unwrap_or_clone(self.fetcher.module(mv)?)
        };
        self.stats.cache_lookup(Cache::Module, false);
        let tree = Arc::new(self.build_tree(mv, stored));
        self.trees.insert(mv.clone(), tree.clone());
        self.serving(mv);
        Ok(tree)
    }

    /// The tree of a stored module, dated by its `.info`.
    fn build_tree(&self, mv: &ModuleVersion, stored: StoredModule) -> ModuleTree {
        let mtime = info_time(&stored.info);
        ModuleTree::new(mv, stored, mtime)
    }

    /// Notes that module `mv`'s tree is served: for gc's last-use times and,
    /// the first time in this process, the next warm start (one map
    /// look-up on later calls).
    fn serving(&self, mv: &ModuleVersion) {
        if self.used.serving(&*self.store, mv) {
            self.served.note(warm::WarmKind::Tree, mv);
        }
    }

    fn attr(&self, node: &Node, id: NodeId, call: Call) -> Result<Attr> {
        let fixed = UNIX_EPOCH + FIXED_MTIME;
        let dir = |nlink| Attr {
            id,
            kind: NodeKind::Directory,
            size: 0,
            perm: 0o555,
            nlink,
            mtime: fixed,
            cache: Caching::of(node),
        };
        let file = |size: usize| Attr {
            id,
            kind: NodeKind::File,
            size: size as u64,
            perm: 0o444,
            nlink: 1,
            mtime: fixed,
            cache: Caching::of(node),
        };
        Ok(match node {
            Node::Root
            | Node::Cache
            | Node::Download
            | Node::DownloadPrefix(_)
            | Node::Versions(_)
            | Node::TreePrefix(_) => dir(1),
            Node::SumDb(crate::sumdb::SumDbName::Dir(rel)) => {
                self.sumdb_dir(rel)?;
                dir(1)
            }
            Node::DownloadFile(mv, DownloadFile::Ziphash) if self.trees.get(mv).is_none() => {
                // go stats a `.ziphash` (DownloadDir) without reading it;
                // its size is that of every `h1:`. The module's `.info`
                // says that the version exists; the zip is fetched when
                // the file is read.
                self.version_info(mv, call)?;
                file(H1_LEN)
            }
            Node::Status | Node::DownloadFile(..) | Node::SumDb(_) => {
                file(self.contents(node, call)?.len())
            }
            Node::Module(mv, rel) if rel.is_empty() => {
                // A module's root is dated by its `.info`, which also says
                // that the version exists. One not stored begins its
                // download and is answered once the `.info` is in, not the
                // zip: go checks that the directory is there (DownloadDir)
                // for every module `go list -m all` prints, and a build
                // reads the `.ziphash` next, which waits for the download.
                // Its link count is 1 (unknown, as for the directories
                // outside module trees), so it does not depend on whether
                // the tree is loaded.
                let store_only = Call {
                    store_only: true,
                    ..call
                };
                let mtime = match self.tree(mv, store_only) {
                    Ok(tree) => tree.mtime,
                    Err(e) if e.would_fetch() && !call.store_only => {
                        self.fetcher.begin_module(mv);
                        info_time(&self.version_info(mv, call)?)
                    }
                    Err(e) => return Err(e),
                };
                Attr { mtime, ..dir(1) }
            }
            Node::Module(mv, rel) => {
                let tree = self.tree(mv, call)?;
                match tree.entry(rel) {
                    None => return Err(Error::NotFound(node.path())),
                    Some(TreeEntry::Dir { subdirs }) => Attr {
                        mtime: tree.mtime,
                        ..dir(2 + subdirs)
                    },
                    Some(TreeEntry::File(i)) => {
                        let size = tree.file(i).map_or(0, |f| f.size);
                        Attr {
                            size,
                            mtime: tree.mtime,
                            perm: if tree.executable(rel) { 0o555 } else { 0o444 },
                            ..file(0)
                        }
                    }
                }
            }
        })
    }

    /// The `.info` of module version `mv` (which exists, then).
    fn version_info(&self, mv: &ModuleVersion, call: Call) -> Result<Bytes> {
        let info = Node::DownloadFile(mv.clone(), DownloadFile::Meta(MetaFile::Info));
        self.contents(&info, call)
    }

    /// A file's whole contents (for an open, or a size).
    fn contents(&self, node: &Node, call: Call) -> Result<Bytes> {
        match node {
            Node::Status => Ok(self.status_json()),
            Node::DownloadFile(mv, DownloadFile::Meta(kind)) => {
                let key = (mv.clone(), *kind);
                if let Some(data) = self.metas.get(&key) {
                    self.served.note(warm::WarmKind::Meta(*kind), mv);
                    return Ok(data);
                }
                let data = if call.store_only {
                    match self.store.meta(mv, *kind) {
                        Ok(Some(data)) => data,
                        Ok(None) | Err(_) => return Err(Error::WouldFetch(node.path())),
                    }
                } else {
                    self.fetcher.meta(mv, *kind)?
                };
                self.metas.insert(key, data.clone());
                self.served.note(warm::WarmKind::Meta(*kind), mv);
                Ok(data)
            }
            Node::SumDb(name) => self.sumdb_contents(name, call),
            Node::DownloadFile(mv, DownloadFile::Ziphash) => {
                Ok(Bytes::from(self.tree(mv, call)?.module.ziphash.clone()))
            }
            Node::Module(mv, rel) => {
                let tree = self.tree(mv, call)?;
                let file = module_file(&tree, node, rel)?;
                self.blob(mv, &file.blob, &file.path)
            }
            _ => Err(Error::IsADirectory(node.path())),
        }
    }

    /// Up to `size` bytes of a file from `offset`, and whether they reach
    /// its end.
    ///
    /// - A read of a whole module file at once (offset 0, at least its
    ///   size) does not keep the contents in the blob cache: the reader has
    ///   them all and its own cache keeps them (FUSE and NFS clients: the
    ///   kernel's page cache); the blob cache is for files read in several
    ///   pieces. Kept, they filled the cache at every start-up with what
    ///   nobody asked for again (bigapp's `go build`: 33 MiB for 192 hits
    ///   out of 3,811 lookups).
    /// - For the same reason a file read in pieces leaves the blob cache
    ///   once its pieces have handed out as many bytes as it has (in any
    ///   order): kept, every file `go mod verify` reads in pieces stayed
    ///   until the cache was full (realapp: 81 MiB allocated at the end).
    ///   A file read only in part (`go list` reads the imports at the top)
    ///   stays.
    /// - A piece of a file too large for the blob cache comes from the
    ///   large-file cache (see `large_files`): inflated once, not once per
    ///   piece.
    fn piece(
        &self,
        node: &Node,
        call: Call,
        loads: Loads,
        offset: u64,
        size: u32,
    ) -> Result<Chunk> {
        let Node::Module(mv, rel) = node else {
            return Ok(chunk_of(&self.contents(node, call)?, offset, size));
        };
        let tree = self.tree(mv, call)?;
        let file = module_file(&tree, node, rel)?;
        if offset >= file.size {
            return Ok(Chunk {
                data: Bytes::new(),
                eof: true,
            });
        }
        if offset == 0 && u64::from(size) >= file.size {
            let data = self.uncached_blob(mv, &file.blob, &file.path, loads)?;
            return Ok(chunk_of(&data, offset, size));
        }
        if file.size > self.largest_cached {
            return self.large_file_piece(mv, file, loads, offset, size);
        }
        let cached = self.cached_blob(mv, &file.blob, &file.path, loads)?;
        let chunk = chunk_of(&cached.data, offset, size);
        if cached.serve(chunk.data.len() as u64) {
            self.blobs.remove(&file.blob);
        }
        Ok(chunk)
    }

    fn blob(&self, mv: &ModuleVersion, id: &BlobId, path: &str) -> Result<Bytes> {
        Ok(self.cached_blob(mv, id, path, Loads::Any)?.data)
    }

    /// A file's contents from the blob cache if there, else from the store
    /// without caching them (a whole-file read: the reader keeps them).
    fn uncached_blob(
        &self,
        mv: &ModuleVersion,
        id: &BlobId,
        path: &str,
        loads: Loads,
    ) -> Result<Bytes> {
        if let Some(cached) = self.blobs.get(id) {
            self.stats.cache_lookup(Cache::Blob, true);
            return Ok(cached.data);
        }
        self.count_miss(loads);
        self.stored_blob(mv, id, path, loads)
    }

    /// A file's blob cache entry, read from the store and cached on a miss.
    fn cached_blob(
        &self,
        mv: &ModuleVersion,
        id: &BlobId,
        path: &str,
        loads: Loads,
    ) -> Result<CachedBlob> {
        if let Some(cached) = self.blobs.get(id) {
            self.stats.cache_lookup(Cache::Blob, true);
            return Ok(cached);
        }
        self.count_miss(loads);
        let cached = CachedBlob::new(self.stored_blob(mv, id, path, loads)?);
        self.blobs.insert(*id, cached.clone());
        Ok(cached)
    }

    /// Counts a blob cache miss, unless the read may not load: a refused
    /// [`Loads::CachedOnly`] read is made again, and its retry counts.
    fn count_miss(&self, loads: Loads) {
        if loads == Loads::Any {
            self.stats.cache_lookup(Cache::Blob, false);
        }
    }

    /// A module file's contents from the warm files if they hold them
    /// intact, else from the store (unless `loads` says not to); noted for
    /// the next warm files.
    fn stored_blob(
        &self,
        mv: &ModuleVersion,
        id: &BlobId,
        path: &str,
        loads: Loads,
    ) -> Result<Bytes> {
        let warm = self.warm_files.get().and_then(|w| w.get(id));
        let data = match warm {
            Some(data) => data,
            None if loads == Loads::CachedOnly => return Err(not_cached(mv, path)),
            None => self.load_blob(mv, id, path)?,
        };
        self.files_read.note(id, data.len());
        Ok(data)
    }

    /// A file's contents from the store. A damaged store: the module is
    /// fetched again (see `read_stored`).
    fn load_blob(&self, mv: &ModuleVersion, id: &BlobId, path: &str) -> Result<Bytes> {
        let read = || self.store.blob(id);
        self.fetcher.read_stored(mv, path, read)?.ok_or_else(|| {
            Error::store(
                format!("{mv}: reading {path}"),
                format!("{id:?} is missing from the store"),
            )
        })
    }

    /// A piece of module file `file`, too large for the blob cache, read
    /// through the large-file cache (see `large_files`).
    fn large_file_piece(
        &self,
        mv: &ModuleVersion,
        file: &StoredFile,
        loads: Loads,
        offset: u64,
        size: u32,
    ) -> Result<Chunk> {
        let (piece, kept) = if loads == Loads::CachedOnly {
            let piece = self
                .large
                .read_kept(&file.blob, (offset, size))
                .ok_or_else(|| not_cached(mv, &file.path))?;
            (piece, true)
        } else {
            let load = || self.load_blob(mv, &file.blob, &file.path);
            let dir = self.store.scratch_dir();
            self.large
                .read(&file.blob, file.size, (offset, size), &dir, load)?
        };
        self.stats.cache_lookup(Cache::Blob, kept);
        // The end is where the blob ends (its index entry says the same
        // size unless the store is inconsistent).
        Ok(match piece {
            large_files::Piece::Kept(data, len) => {
                let eof = offset.saturating_add(data.len() as u64) >= len;
                Chunk { data, eof }
            }
            large_files::Piece::Loaded(all) => chunk_of(&all, offset, size),
        })
    }

    fn list(&self, node: &Node, call: Call) -> Result<Vec<DirEntry>> {
        let parent_path = node.path();
        let mut names: BTreeMap<String, NodeKind> = BTreeMap::new();
        match node {
            Node::Status | Node::DownloadFile(..) => {
                return Err(Error::NotADirectory(parent_path));
            }
            Node::SumDb(name) => names.extend(self.sumdb_list(name)?),
            Node::Module(mv, rel) => {
                let tree = self.tree(mv, call)?;
                let children = tree
                    .children(rel)
                    .ok_or_else(|| Error::NotADirectory(parent_path.clone()))?;
                for (name, entry) in children.iter() {
                    let kind = match entry {
                        TreeEntry::Dir { .. } => NodeKind::Directory,
                        TreeEntry::File(_) => NodeKind::File,
                    };
                    names.insert(name.to_owned(), kind);
                }
            }
            Node::Cache => {
                names.insert("download".into(), NodeKind::Directory);
            }
            Node::Download if self.checker.is_some() => {
                names.insert("sumdb".into(), NodeKind::Directory);
                self.list_stored(&mut names, "", false)?;
            }
            Node::Root => {
                names.insert(STATUS_FILE.into(), NodeKind::File);
                names.insert("cache".into(), NodeKind::Directory);
                self.list_stored(&mut names, "", true)?;
            }
            Node::TreePrefix(p) => self.list_stored(&mut names, p, true)?,
            Node::Download => self.list_stored(&mut names, "", false)?,
            Node::DownloadPrefix(p) => self.list_stored(&mut names, p, false)?,
            Node::Versions(m) => {
                for entry in self.store.versions_of(m)? {
                    let mv = &entry.module;
                    let v = mv.escaped_version();
                    let mut files = vec![];
                    if entry.complete {
                        files = vec!["info", "mod", "ziphash"];
                    } else {
                        for kind in [MetaFile::Info, MetaFile::Mod] {
                            if self.store.meta(mv, kind)?.is_some() {
                                files.push(kind.extension());
                            }
                        }
                    }
                    for ext in files {
                        names.insert(format!("{v}.{ext}"), NodeKind::File);
                    }
                }
            }
        }
        Ok(names
            .into_iter()
            .map(|(name, kind)| DirEntry {
                id: NodeId(hash_path(&tree::join(&parent_path, &name))),
                name,
                kind,
            })
            .collect())
    }

    /// Adds the children of path prefix `prefix` ("" for the top) that the
    /// store holds: module trees (`elem@version`) when `trees`, else
    /// download-cache prefixes (and `@v`). Asks the store only about this
    /// prefix ([`Store::children`]), not for everything it holds.
    fn list_stored(
        &self,
        names: &mut BTreeMap<String, NodeKind>,
        prefix: &str,
        trees: bool,
    ) -> Result<()> {
        if !trees && !prefix.is_empty() && !self.store.versions_of(prefix)?.is_empty() {
            names.insert("@v".into(), NodeKind::Directory);
        }
        for child in self.store.children(prefix, trees)? {
            if !trees || child.deeper {
                names.insert(child.name.clone(), NodeKind::Directory);
            }
            if trees {
                for entry in &child.versions {
                    let name = format!("{}@{}", child.name, entry.module.escaped_version());
                    names.insert(name, NodeKind::Directory);
                }
            }
        }
        Ok(())
    }
}

fn id_of(node: &Node) -> NodeId {
    NodeId(hash_node(node))
}

/// A node id from a canonical path: the first 8 bytes of its SHA-256,
/// never 0 or 1 (the root).
fn hash_path(path: &str) -> u64 {
    if path.is_empty() {
        return NodeId::ROOT.0;
    }
    id_from_digest(Sha256::new_with_prefix(path.as_bytes()))
}

/// [`hash_path`] of [`Node::path`], hashed as it is written (no string
/// built: ids are taken on every lookup and every known handle's check).
fn hash_node(node: &Node) -> u64 {
    struct Hashing(Sha256);
    impl std::fmt::Write for Hashing {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.update(s.as_bytes());
            Ok(())
        }
    }
    // The root is the one node whose path is empty.
    if matches!(node, Node::Root) {
        return NodeId::ROOT.0;
    }
    let mut hashing = Hashing(Sha256::new());
    // Hashing cannot fail.
    let _ = node.write_path(&mut hashing);
    id_from_digest(hashing.0)
}

fn id_from_digest(hasher: Sha256) -> u64 {
    let digest = hasher.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    let h = u64::from_le_bytes(b);
    if h < 2 { h + 2 } else { h }
}

/// The file entry `rel` of `tree` (`node`, for errors).
fn module_file<'t>(tree: &'t ModuleTree, node: &Node, rel: &str) -> Result<&'t StoredFile> {
    match tree.entry(rel) {
        Some(TreeEntry::File(i)) => tree.file(i).ok_or_else(|| Error::NotFound(node.path())),
        Some(TreeEntry::Dir { .. }) => Err(Error::IsADirectory(node.path())),
        None => Err(Error::NotFound(node.path())),
    }
}

/// The refusal of a read made with [`Loads::CachedOnly`] whose file is in
/// no cache: it would be read from the store and inflated.
fn not_cached(mv: &ModuleVersion, path: &str) -> Error {
    Error::WouldFetch(format!(
        "{mv}: {path} (in no cache: reading it inflates it)"
    ))
}

/// The piece of `data` a read of `size` bytes at `offset` gets.
fn chunk_of(data: &Bytes, offset: u64, size: u32) -> Chunk {
    let chunk = slice(data, offset, size);
    let eof = offset.saturating_add(chunk.len() as u64) >= data.len() as u64;
    Chunk { data: chunk, eof }
}

fn slice(data: &Bytes, offset: u64, size: u32) -> Bytes {
    let len = data.len() as u64;
    let start = offset.min(len);
    let end = offset.saturating_add(u64::from(size)).min(len);
    data.slice(start as usize..end as usize)
}

/// The `Time` of a `.info` file, or the fixed time if it has none.
fn info_time(info: &[u8]) -> SystemTime {
    #[derive(serde::Deserialize)]
    struct Info {
        #[serde(rename = "Time")]
        time: Option<String>,
    }
    serde_json::from_slice::<Info>(info)
        .ok()
        .and_then(|i| i.time)
        .and_then(|t| crate::time::parse_rfc3339(&t))
        .unwrap_or(UNIX_EPOCH + FIXED_MTIME)
}
