//! The git object store: module versions as git trees and blobs in a bare
//! repository, readable with ordinary git.
//!
//! [`GitStore`] keeps no state of its own beyond what is on disk, so any
//! number of processes may open the same directory and put and read at the
//! same time.
//!
//! # On-disk layout
//!
//! ```text
//! DIR/                            a bare git repository (`git --git-dir=DIR ...` works)
//!   HEAD                          "ref: refs/heads/main\n" (the branch never exists)
//!   config                        [core] bare = true; [gc] packRefs = false, auto = 0
//!   objects/pack/pack-<sum>.pack  one pack per put_module (only the objects that were new,
//!                                 and the module's blobs that were loose), and packs
//!                                 merged from those (see "Pack compaction")
//!   objects/pack/pack-<sum>.idx   its index (v2); <sum> is the pack's trailing SHA-1
//!   objects/xx/yyyy...            loose blobs written by put_meta (packed, and
//!                                 deleted, by the next compaction or gc)
//!   refs/gomodfs/zip/<P>/@v/<V>   a complete module: "<hex id of its root tree>\n"
//!   refs/gomodfs/info/<P>/@v/<V>  a .info stored alone: "<hex id of the blob>\n"
//!   refs/gomodfs/mod/<P>/@v/<V>   a .mod stored alone: "<hex id of the blob>\n"
//!   gomodfs-compact.lock          exists while a pack compaction runs
//!   gomodfs-repaired/<sha1>       a module dropped by fsck --repair: its next put
//!                                 writes every object again (see the `fsck` module)
//!   gomodfs-used/<P>/@v/<V>       its mtime: the module's last use, to within a day;
//!                                 none while its ref is less than a day old
//!                                 (see the `last_use` module)
//!   gomodfs-gc.lock               held shared by puts, exclusive by gc deleting packs;
//!   gomodfs-gc.generation         bumped by each gc (see the `gc_lock` module)
//!   gomodfs-gc-pending            modules gc removed, kept for the grace period (`gc`)
//!   gomodfs-swept                 its mtime: the last sweep of refs/ for temp files
//!                                 (at most hourly, so opening a large store is cheap)
//! ```
//!
//! `<P>` and `<V>` are the *escaped* module path and version (upper case
//! written as `!` + lower case, as in the module cache) with every byte
//! other than `a-z 0-9 _ -` (and `/` in `<P>`) written as `%xx` in
//! lower-case hex: `github.com/BurntSushi/toml@v1.2.3` is
//! `refs/gomodfs/zip/github%2ecom/%21burnt%21sushi/toml/@v/v1%2e2%2e3`.
//! These names are valid git ref names, hold no upper case (so they are
//! unique on case-insensitive file systems too) and decode back to exactly
//! one module version.
//!
//! A module's root tree:
//!
//! | entry     | object | contents |
//! |-----------|--------|----------|
//! | `files`   | tree   | the module's files as a normal git tree: mode 100644 files, nested subdirectory trees |
//! | `index`   | blob   | `gomodfs-index 1\n`, then per file in bytewise path order `<hex blob id> <size> <path>\n` |
//! | `info`    | blob   | the proxy's `.info` bytes |
//! | `mod`     | blob   | the proxy's `.mod` bytes |
//! | `ziphash` | blob   | the `h1:` hash |
//!
//! [`Store::module`] reads the ref, the root tree and its four blobs: five
//! object reads whatever the size of the module. The `files` tree is what
//! keeps the store inspectable: `git ls-tree -r <ref>:files`. There are no
//! commits.
//!
//! # Atomicity and crash safety
//!
//! A put writes its objects first and its ref last. A pack is written to
//! `objects/pack/tmp_pack_gomodfs_*` and `tmp_idx_gomodfs_*`, fsynced, then
//! the `.pack` is renamed into place, then the `.idx` (readers find packs by
//! their `.idx`; a `.pack` without one is ignored), and the directory is
//! fsynced. Then the ref is written to `.tmp-gomodfs-*` next to it and
//! renamed over the ref name. A module is therefore visible complete or not
//! at all, also after `kill -9` or a power cut.
//!
//! A new ref (where there was none) is not fsynced: the kernel writes it
//! back within its writeback interval (30 s by default), and a power cut
//! before that leaves no ref, or an empty one, which reads as "not stored":
//! the module is fetched again, at worst. It never leaves a ref naming an
//! object that is not durable, since the objects were fsynced before the
//! ref was written. That saves about a dozen fsyncs per module version on
//! a cold fetch (the ref, its directory and the nested directories of each
//! of its three refs), which is time `go` waits for. A ref that *replaces*
//! another one (a refetch of a damaged module) is fsynced with its
//! directory, as the objects of the old ref may be collected once it is
//! gone. `gomodfs prefetch` and `import` end with a `syncfs` of the store
//! (see [`GitStore::sync_to_disk`]), so what they report stored is on disk
//! when they exit.
//! Temp files are ignored by readers (and by git) and removed by
//! [`GitStore::open`] once they are more than an hour old (those next to
//! refs by the first open an hour after the last sweep of `refs/`).
//!
//! Objects that already exist (in any pack, also one written by another
//! process since this one started) are not written again, so a file that is
//! the same in many versions is stored once. Two processes putting
//! overlapping modules at once may both write some object; duplicates in two
//! packs are harmless.
//!
//! # Pack compaction
//!
//! Every `put_module` adds a pack, and gix-odb slows down with many packs
//! (quadratically when it picks up a new one). So once a put leaves 16 or
//! more packs, a background thread merges the smaller ones the way
//! `git repack --geometric=2` does, keeping the number of packs logarithmic
//! in the store size; [`GitStore::compact`] does the same on demand. A pack
//! is deleted only after the merged pack holding its objects is durable, so
//! readers and writers in any process keep finding every object. Lock file:
//! `DIR/gomodfs-compact.lock`. See the `compact` module for details.
//! Compaction (and gc) first packs the loose objects `put_meta` wrote, so
//! that a fresh process reads a `.mod` from a pack rather than its own file
//! (see the `loose` module).
//!
//! # Integrity
//!
//! Every object read is checked against its id, pack indexes are checked
//! when the store is opened (a damaged one is renamed to `*.idx.damaged`),
//! ref files are never opened unless they are regular files, and a read
//! that finds a damaged copy looks for an intact one in the other packs;
//! see the `integrity` module. Damage is reported as
//! [`crate::Error::Damaged`], upon which the node API
//! fetches the module again and replaces it with
//! [`Store::replace_module`].
//!
//! # git fsck
//!
//! `git fsck --strict` passes on a store of ordinary modules. Files are
//! stored under their names as they are, so a module whose zip holds a
//! `.git` path element or a `.gitmodules` file git finds dangerous makes
//! fsck report `hasDotgit` or `gitmodules*` for that tree or blob; the store
//! itself is unaffected (it reads the `index` blob, never checks out).
//!
//! `gomodfs gc` removes modules and reclaims their space safely while
//! other processes read and put; see the `gc` module.
//!
//! `git --git-dir=DIR gc` also works on the store: it keeps every object
//! reachable from our refs and, with the `config` above, leaves the refs
//! loose. Do not run it with `--prune=now` while gomodfs may be putting:
//! the objects of a put whose ref is not written yet are unreachable.

mod compact;
mod from_zip;
mod fsck;
mod gc;
mod gc_lock;
mod integrity;
mod last_use;
mod layout;
mod loose;
mod pack;
#[cfg(unix)]
mod pack_read;
mod prefix;
mod refs;
#[cfg(test)]
mod tests;

use super::{
    BlobId, MetaFile, ModuleContents, Store, StoreChild, StoreEntry, StoredFile, StoredModule,
};
use crate::error::{Error, Result};
use crate::modpath::ModuleVersion;
use bytes::Bytes;
use gix_hash::{ObjectId, oid};
use gix_object::{Exists, Find};
use layout::Layout;
use pack::{Kind, Object, TreeEntry};
use parking_lot::Mutex;
use refs::{RefKind, RefWrite};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use compact::CompactStats;
pub use fsck::{FsckModule, FsckProblem, FsckRefs};
pub use gc::{GcOptions, GcReport, GcVictim};
pub use last_use::MARK_EVERY;

/// A handle to the object database. Handles are `Send` but not `Sync`
/// (they cache a snapshot of the pack list in `RefCell`s), so the store
/// keeps a pool of them and lends one to each reading thread.
type OdbHandle = gix_odb::store::Handle<Arc<gix_odb::Store>>;

/// Handles kept for reuse; more may exist while many threads read at once.
const MAX_POOLED_HANDLES: usize = 64;

/// Index slots of the object database. gix fixes the number at open time
/// and fails lookups once more pack indexes exist than slots, so take the
/// most it allows (about 24 bytes each).
const ODB_SLOTS: u16 = (1 << 15) - 1;

/// First line of the `index` blob.
const INDEX_HEADER: &str = "gomodfs-index 1\n";

/// Names in a module's root tree.
const ROOT_FILES: &str = "files";
const ROOT_INDEX: &str = "index";
const ROOT_INFO: &str = "info";
const ROOT_MOD: &str = "mod";
const ROOT_ZIPHASH: &str = "ziphash";

/// A [`Store`] in a bare git repository; see the [module docs](self) for the
/// layout. Cheap to share between threads (`Arc<GitStore>`); any number of
/// processes may open the same directory.
pub struct GitStore {
    layout: Layout,
    odb: Arc<gix_odb::Store>,
    /// Handles for reuse, each with the [`GitStore::epoch`] it was made in.
    handles: Mutex<Vec<(u64, OdbHandle)>>,
    /// Bumped after this instance merged packs: pooled handles from before
    /// hold snapshots that keep the deleted packs mapped, so they are
    /// dropped instead of reused.
    epoch: Arc<AtomicU64>,
    /// True while a background compaction started by this instance runs.
    compacting: Arc<AtomicBool>,
    /// The gc generation this instance's object database has seen (see the
    /// `gc_lock` module).
    gc_generation: AtomicU64,
    /// Whole objects read straight from the packs (before gix).
    #[cfg(unix)]
    packs: pack_read::PackReader,
}

impl fmt::Debug for GitStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitStore")
            .field("dir", &self.layout.root)
            .finish_non_exhaustive()
    }
}

/// What [`GitStore::put_module_counted`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PutStats {
    /// Objects (blobs and trees) the module consists of, after removing
    /// duplicates within the module.
    pub objects: usize,
    /// Objects that were new and went into the pack; 0 if no pack was
    /// written.
    pub written: usize,
}

impl GitStore {
    /// Opens the store at `dir`, creating the repository layout where it is
    /// missing (existing files are left alone), and removes temp files that
    /// killed processes left behind more than an hour ago.
    pub fn open(dir: &Path) -> Result<GitStore> {
        let root = std::path::absolute(dir)
            .map_err(|e| Error::io(format!("opening git store {}", dir.display()), e))?;
        let layout = Layout::new(&root);
        layout
            .create()
            .map_err(|e| Error::io(format!("creating git store {}", root.display()), e))?;
        layout.remove_stale_temp_files();
        // Before gix sees them: a damaged index is set aside, not used.
        let intact = integrity::set_aside_damaged_indexes(&layout.pack);
        #[cfg(not(unix))]
        drop(intact);
        let odb = gix_odb::Store::at_opts(
            layout.objects.clone(),
            gix_hash::Kind::Sha1,
            &mut std::iter::empty(),
            gix_odb::store::init::Options {
                slots: gix_odb::store::init::Slots::Given(ODB_SLOTS),
                current_dir: Some(root.clone()),
                ..Default::default()
            },
        )
        .map_err(|e| Error::io(format!("opening object database of {}", root.display()), e))?;
        Ok(GitStore {
            #[cfg(unix)]
            packs: pack_read::PackReader::new(layout.pack.clone(), intact),
            layout,
            odb: Arc::new(odb),
            handles: Mutex::new(Vec::new()),
            epoch: Arc::new(AtomicU64::new(0)),
            compacting: Arc::new(AtomicBool::new(false)),
            gc_generation: AtomicU64::new(gc_lock::generation(&root)),
        })
    }

    /// The repository directory (absolute).
    pub fn dir(&self) -> &Path {
        &self.layout.root
    }

    /// Makes everything written to the store so far durable: new refs are
    /// not fsynced one by one (see "Atomicity and crash safety"), so a
    /// batch of puts that must be on disk when it ends (`gomodfs
    /// prefetch`, `import`) ends with this. One `syncfs(2)` of the store's
    /// file system on Linux, `sync(2)` on other Unix systems; nothing
    /// elsewhere.
    pub fn sync_to_disk(&self) -> Result<()> {
        layout::sync_file_system(&self.layout.root)
            .map_err(|e| Error::io(format!("syncing {} to disk", self.layout.root.display()), e))
    }

    /// The git ref under which a complete module is stored, e.g.
    /// `refs/gomodfs/zip/github%2ecom/%21burnt%21sushi/toml/@v/v1%2e2%2e3`.
    /// `git --git-dir=DIR ls-tree -r <ref>:files` lists its files.
    pub fn ref_name(module: &ModuleVersion) -> String {
        refs::ref_name(RefKind::Zip, module)
    }

    /// Like [`Store::put_module`], and says how many objects were new.
    pub fn put_module_counted(
        &self,
        module: &ModuleVersion,
        contents: &ModuleContents,
    ) -> Result<PutStats> {
        self.put(module, contents, false)
    }

    /// Puts a module; with `replace`, writes all its objects into a new
    /// pack and its ref even if they exist (the existing copies may be
    /// damaged; reads find the intact copy, see the `integrity` module).
    fn put(
        &self,
        module: &ModuleVersion,
        contents: &ModuleContents,
        replace: bool,
    ) -> Result<PutStats> {
        if let Some(why) = refs::unstorable(module) {
            return Err(Error::store(format!("{module}: putting module"), why));
        }
        let built = build_module(module, contents)?;
        self.commit(module, &built, replace, None)
    }

    /// Writes the objects of `built` that are missing (all of them with
    /// `replace`) as one pack, the streamed blobs read from `zip`, then the
    /// module's ref.
    fn commit(
        &self,
        module: &ModuleVersion,
        built: &BuiltModule,
        replace: bool,
        zip: Option<&crate::modzip::ModuleZip>,
    ) -> Result<PutStats> {
        let ctx = || format!("{module}: putting module");
        // Dropped by `fsck --repair`: its old objects may be damaged.
        let repaired = self.repair_marker(module);
        let replace = replace || repaired.exists();
        // Held until the ref is written: gc deletes no pack meanwhile.
        let _gc_lock = self.lock_for_put().map_err(|e| Error::io(ctx(), e))?;
        let (ref_dir, ref_name) = refs::ref_file(&self.layout.refs, RefKind::Zip, module);
        let ref_path = ref_dir.join(&ref_name);
        let mut stats = PutStats {
            objects: built.objects.len() + built.streamed.len(),
            written: 0,
        };
        let current = match refs::read_ref(&ref_path) {
            Ok(id) => id,
            // A damaged ref is replaced.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => None,
            Err(e) => return Err(Error::io(ctx(), e)),
        };
        if !replace && current == Some(built.root) {
            // Already stored (the ref is only written once its objects are durable).
            return Ok(stats);
        }
        let (missing, streamed): (Vec<&Object>, Vec<&from_zip::ZipBlob>) = if replace {
            (
                built.objects.iter().collect(),
                built.streamed.iter().collect(),
            )
        } else {
            self.missing_objects(built)
        };
        if missing.is_empty() && streamed.is_empty() {
            // The objects may sit in a pack another process has just renamed
            // into place; make sure that is durable before our ref is.
            layout::fsync_dir(&self.layout.pack).map_err(|e| Error::io(ctx(), e))?;
        } else {
            let writing = std::time::Instant::now();
            let written = match zip {
                Some(zip) if !streamed.is_empty() => {
                    from_zip::write_pack(&self.layout.pack, &missing, &streamed, zip, replace)
                }
                _ => pack::write_pack_with(&self.layout.pack, &missing, replace),
            }
            .map_err(|e| Error::io(format!("{module}: writing pack"), e))?;
            tracing::debug!(
                %module,
                objects = written.objects,
                pack = %written.pack.display(),
                ms = writing.elapsed().as_millis() as u64,
                "wrote pack"
            );
            stats.written = written.objects;
        }
        refs::write_ref(&ref_dir, &ref_name, &built.root, RefWrite::over(current)).map_err(
            |e| {
                Error::io(
                    format!(
                        "{module}: writing ref {}",
                        refs::ref_name(RefKind::Zip, module)
                    ),
                    e,
                )
            },
        )?;
        if replace {
            // A miss makes gix re-read the pack directory, so it maps the
            // replaced files; handles holding the old snapshot retire.
            self.with_handle(|h| h.exists(&ObjectId::null(gix_hash::Kind::Sha1)));
            self.epoch.fetch_add(1, Ordering::AcqRel);
            let _ = std::fs::remove_file(&repaired);
        }
        if stats.written > 0 {
            self.maybe_compact();
        }
        Ok(stats)
    }

    /// Takes the gc lock shared for a put; when gc deleted packs since this
    /// instance last looked, first makes the object database forget them
    /// (see the `gc_lock` module).
    fn lock_for_put(&self) -> std::io::Result<gc_lock::GcLock> {
        let lock = gc_lock::GcLock::shared(&self.layout.root)?;
        let generation = gc_lock::generation(&self.layout.root);
        if self.gc_generation.swap(generation, Ordering::AcqRel) != generation {
            self.forget_deleted_packs();
        }
        Ok(lock)
    }

    /// Makes the object database re-read the pack directory (a miss does)
    /// and retires the pooled handles whose snapshots may still map packs
    /// that are gone.
    fn forget_deleted_packs(&self) {
        self.odb
            .to_handle_arc()
            .exists(&ObjectId::null(gix_hash::Kind::Sha1));
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// The objects of `built` that the store does not hold yet.
    fn missing_objects<'a>(
        &self,
        built: &'a BuiltModule,
    ) -> (Vec<&'a Object>, Vec<&'a from_zip::ZipBlob>) {
        self.with_handle(|h| {
            // A miss refreshes the list of packs from disk once, so packs
            // that other processes wrote since then count too; after that,
            // checks stay in memory (plus a stat for loose objects).
            h.exists(&built.root);
            // A blob stored alone as a loose object (`put_meta`: the
            // `.mod` go read before the zip) goes into the pack too: gix
            // looks in packs first, and a loose read (open, read, inflate)
            // costs a fresh process 20-100 us per module on every first
            // touch. Only the root's few blobs can be loose.
            let objects = built
                .objects
                .iter()
                .filter(|o| {
                    !h.exists_without_refresh(&o.id)
                        || (o.kind == Kind::Blob && self.is_loose(&o.id))
                })
                .collect();
            let streamed = built
                .streamed
                .iter()
                .filter(|b| !h.exists_without_refresh(&b.id))
                .collect();
            (objects, streamed)
        })
    }

    /// Whether `id` is stored as a loose object (it may be packed too).
    fn is_loose(&self, id: &oid) -> bool {
        let (dir, name) = pack::loose_place(&self.layout.objects, id);
        dir.join(name).is_file()
    }

    /// Lends a handle of the object database to `f`.
    fn with_handle<R>(&self, f: impl FnOnce(&OdbHandle) -> R) -> R {
        let epoch = self.epoch.load(Ordering::Acquire);
        let pooled = self.handles.lock().pop().filter(|(e, _)| *e == epoch);
        let handle = pooled.map_or_else(|| self.odb.to_handle_arc(), |(_, h)| h);
        let result = f(&handle);
        let mut pool = self.handles.lock();
        if pool.len() < MAX_POOLED_HANDLES {
            pool.push((epoch, handle));
        }
        result
    }

    /// Reads an object: its kind and contents (checked against `id`), or
    /// `None` if it does not exist. A whole object in a pack is read
    /// straight from it (`pack_read`, checked by the index's CRC-32); the
    /// rest goes through gix. When the copy gix finds is damaged, another
    /// intact copy in any pack is used (see the `integrity` module).
    fn read_object(
        &self,
        id: &oid,
    ) -> std::result::Result<Option<(gix_object::Kind, Bytes)>, String> {
        #[cfg(unix)]
        if let Some(found) = self.packs.read(id, self.epoch.load(Ordering::Acquire)) {
            return Ok(Some(found));
        }
        match self.with_handle(|h| read_object(h, id)) {
            Err(why) => match integrity::find_intact(&self.layout.pack, id) {
                Some(found) => {
                    tracing::debug!(%id, damaged = %why, "read an intact copy of a damaged object");
                    Ok(Some(found))
                }
                None => Err(why),
            },
            found => found,
        }
    }

    /// Reads an object a ref or tree of `module` names: it must exist and be
    /// of `kind`.
    fn read_required(
        &self,
        module: &ModuleVersion,
        id: &oid,
        kind: gix_object::Kind,
        what: &str,
    ) -> Result<Bytes> {
        let damaged = |why: String| Error::damaged(format!("{module}: reading {what}"), why);
        let mut found = self.read_object(id);
        if matches!(found, Ok(None)) {
            // The pack may have been replaced (by gc or a compaction) while
            // this process's view of the pack directory was being
            // refreshed: look once more with a fresh view.
            self.forget_deleted_packs();
            found = self.read_object(id);
        }
        match found {
            Ok(Some((k, data))) if k == kind => Ok(data),
            Ok(Some((k, _))) => Err(damaged(format!("object {id} is a {k}, not a {kind}"))),
            Ok(None) => Err(damaged(format!(
                "object {id} is missing from the object database"
            ))),
            Err(why) => Err(damaged(why)),
        }
    }

    fn read_ref(&self, kind: RefKind, module: &ModuleVersion) -> Result<Option<ObjectId>> {
        let (dir, name) = refs::ref_file(&self.layout.refs, kind, module);
        refs::read_ref(&dir.join(name)).map_err(|e| {
            let context = format!("{module}: reading ref {}", refs::ref_name(kind, module));
            if e.kind() == std::io::ErrorKind::InvalidData {
                Error::damaged(context, e)
            } else {
                Error::io(context, e)
            }
        })
    }

    /// The entries of a module's root tree that this store needs.
    fn read_root(&self, module: &ModuleVersion, root: &oid) -> Result<RootTree> {
        let data = self.read_required(module, root, gix_object::Kind::Tree, "root tree")?;
        let bad = |why: &str| Error::damaged(format!("{module}: reading root tree {root}"), why);
        let entries = pack::parse_tree(&data).ok_or_else(|| bad("malformed tree"))?;
        let find = |name: &str| {
            entries
                .iter()
                .find(|(n, is_dir, _)| *n == name.as_bytes() && !is_dir)
                .map(|(_, _, id)| *id)
                .ok_or_else(|| bad(&format!("no {name:?} entry")))
        };
        Ok(RootTree {
            index: find(ROOT_INDEX)?,
            info: find(ROOT_INFO)?,
            go_mod: find(ROOT_MOD)?,
            ziphash: find(ROOT_ZIPHASH)?,
        })
    }
}

/// Reads an object through `h`: its kind and contents, or `None` if it does
/// not exist.
fn read_object(
    h: &OdbHandle,
    id: &oid,
) -> std::result::Result<Option<(gix_object::Kind, Bytes)>, String> {
    let mut buf = Vec::new();
    let found = h.try_find(id, &mut buf).map_err(|e| {
        format!(
            "object {id} cannot be read from its pack ({})",
            error_in_words(&e)
        )
    })?;
    let Some((kind, ptr, len)) = found.map(|d| (d.kind, d.data.as_ptr() as usize, d.data.len()))
    else {
        return Ok(None);
    };
    // The data lies in `buf` (no object cache is configured), normally all
    // of it: then hand the buffer over without copying.
    let start = ptr.wrapping_sub(buf.as_ptr() as usize);
    let bytes = match start.checked_add(len) {
        _ if len == 0 => Bytes::new(),
        Some(end) if start == 0 && end <= buf.len() => {
            buf.truncate(len);
            Bytes::from(buf)
        }
        Some(end) if end <= buf.len() => Bytes::copy_from_slice(&buf[start..end]),
        _ => return Err(format!("object {id}: data outside the read buffer")),
    };
    integrity::check_object(id, kind, &bytes)?;
    Ok(Some((kind, bytes)))
}

/// An error (from gix) as words: the messages of its chain, each once.
fn error_in_words(e: &(dyn std::error::Error + 'static)) -> String {
    let parts = crate::error::messages(e);
    if parts.is_empty() {
        "unknown error".to_owned()
    } else {
        parts.join(": ")
    }
}

/// The blobs of a module's root tree.
struct RootTree {
    index: ObjectId,
    info: ObjectId,
    go_mod: ObjectId,
    ziphash: ObjectId,
}

/// The objects of one module version.
struct BuiltModule {
    /// The root tree.
    root: ObjectId,
    /// Every object in memory, each once, the root first.
    objects: Vec<Object>,
    /// File blobs still in the module zip, written from it (each once, none
    /// of them among `objects`).
    streamed: Vec<from_zip::ZipBlob>,
}

/// A directory while building the `files` tree.
#[derive(Default)]
struct Dir {
    files: Vec<(String, ObjectId)>,
    dirs: BTreeMap<String, Dir>,
}

impl Dir {
    /// Encodes this directory and its subdirectories, appending the trees to
    /// `out` (parents before children) and returning this tree's id.
    fn encode(self, out: &mut Vec<Object>) -> ObjectId {
        let mut entries: Vec<TreeEntry> = Vec::with_capacity(self.files.len() + self.dirs.len());
        let mut children = Vec::new();
        for (name, dir) in self.dirs {
            let mut sub = Vec::new();
            let id = dir.encode(&mut sub);
            children.push(sub);
            entries.push(TreeEntry {
                name,
                is_dir: true,
                id,
            });
        }
        for (name, id) in self.files {
            entries.push(TreeEntry {
                name,
                is_dir: false,
                id,
            });
        }
        let tree = Object::new(Kind::Tree, Bytes::from(pack::encode_tree(&mut entries)));
        let id = tree.id;
        // Parents before children, for locality in the pack.
        out.push(tree);
        for sub in children {
            out.extend(sub);
        }
        id
    }
}

/// Checks a file path well enough to build trees and the index from it.
fn check_file_path(module: &ModuleVersion, path: &str) -> Result<()> {
    let bad = |why: &str| {
        Error::store(
            format!("{module}: putting module"),
            format!("file path {path:?}: {why}"),
        )
    };
    if path.contains('\n') || path.contains('\0') {
        return Err(bad("contains a newline or NUL"));
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(bad("empty, '.' or '..' path element"));
    }
    Ok(())
}

/// Builds the objects of a module: blobs, the `files` trees, the index and
/// the root tree.
fn build_module(module: &ModuleVersion, contents: &ModuleContents) -> Result<BuiltModule> {
    let ctx = || format!("{module}: putting module");
    let mut files: Vec<&(String, Bytes)> = contents.files.iter().collect();
    files.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for w in files.windows(2) {
        if w[0].0 == w[1].0 {
            return Err(Error::store(
                ctx(),
                format!("duplicate file path {:?}", w[0].0),
            ));
        }
    }
    for (path, _) in &files {
        check_file_path(module, path)?;
    }
    let blobs = pack::par_map(&files, pack::worker_threads(), |(_, data)| {
        Object::new(Kind::Blob, data.clone())
    });
    let listing: Vec<(&str, u64, ObjectId)> = files
        .iter()
        .zip(&blobs)
        .map(|((path, data), blob)| (path.as_str(), data.len() as u64, blob.id))
        .collect();
    let meta = RootMeta {
        info: &contents.info,
        go_mod: &contents.go_mod,
        ziphash: &contents.ziphash,
    };
    let (root, trees) = build_trees(module, &listing, &meta)?;
    let mut seen = HashSet::new();
    let objects = trees
        .into_iter()
        .chain(blobs)
        .filter(|o| seen.insert(o.id))
        .collect();
    Ok(BuiltModule {
        root,
        objects,
        streamed: Vec::new(),
    })
}

/// The root tree's blobs besides the index.
struct RootMeta<'a> {
    info: &'a Bytes,
    go_mod: &'a Bytes,
    ziphash: &'a str,
}

/// Builds everything of a module but its file blobs: the `files` trees,
/// the index, the `.info`/`.mod`/ziphash blobs and the root tree, from
/// `files` as `(path, size, blob id)` sorted bytewise by path. Returns the
/// root's id and the objects, the root first.
fn build_trees(
    module: &ModuleVersion,
    files: &[(&str, u64, ObjectId)],
    meta: &RootMeta<'_>,
) -> Result<(ObjectId, Vec<Object>)> {
    let mut index = String::with_capacity(INDEX_HEADER.len() + files.len() * 64);
    index.push_str(INDEX_HEADER);
    let mut root_dir = Dir::default();
    for (path, size, id) in files {
        index.push_str(&format!("{} {size} {path}\n", id.to_hex()));
        let mut dir = &mut root_dir;
        let (parents, name) = match path.rsplit_once('/') {
            Some((p, n)) => (Some(p), n),
            None => (None, *path),
        };
        for component in parents.into_iter().flat_map(|p| p.split('/')) {
            dir = dir.dirs.entry(component.to_owned()).or_default();
        }
        dir.files.push((name.to_owned(), *id));
    }
    check_no_file_dir_clash(module, &root_dir)?;

    let mut trees = Vec::new();
    let files_tree = root_dir.encode(&mut trees);
    let meta = [
        (ROOT_INDEX, Object::new(Kind::Blob, Bytes::from(index))),
        (ROOT_INFO, Object::new(Kind::Blob, meta.info.clone())),
        (ROOT_MOD, Object::new(Kind::Blob, meta.go_mod.clone())),
        (
            ROOT_ZIPHASH,
            Object::new(Kind::Blob, Bytes::from(meta.ziphash.to_owned())),
        ),
    ];
    let mut root_entries: Vec<TreeEntry> = meta
        .iter()
        .map(|(name, o)| TreeEntry {
            name: (*name).to_owned(),
            is_dir: false,
            id: o.id,
        })
        .collect();
    root_entries.push(TreeEntry {
        name: ROOT_FILES.to_owned(),
        is_dir: true,
        id: files_tree,
    });
    let root = Object::new(
        Kind::Tree,
        Bytes::from(pack::encode_tree(&mut root_entries)),
    );
    let root_id = root.id;
    let objects = std::iter::once(root)
        .chain(meta.into_iter().map(|(_, o)| o))
        .chain(trees)
        .collect();
    Ok((root_id, objects))
}

/// Rejects a name that is both a file and a directory (`a` and `a/b`).
fn check_no_file_dir_clash(module: &ModuleVersion, dir: &Dir) -> Result<()> {
    for (name, _) in &dir.files {
        if dir.dirs.contains_key(name) {
            return Err(Error::store(
                format!("{module}: putting module"),
                format!("{name:?} is both a file and a directory"),
            ));
        }
    }
    dir.dirs
        .values()
        .try_for_each(|d| check_no_file_dir_clash(module, d))
}

/// Parses the `index` blob.
fn parse_index(module: &ModuleVersion, data: &[u8]) -> Result<Vec<StoredFile>> {
    let bad = |why: String| Error::damaged(format!("{module}: reading file index"), why);
    let text = std::str::from_utf8(data).map_err(|e| bad(e.to_string()))?;
    let body = text
        .strip_prefix(INDEX_HEADER)
        .ok_or_else(|| bad("unknown index format".into()))?;
    let mut files = Vec::new();
    for line in body.split_terminator('\n') {
        let parse = || -> Option<StoredFile> {
            let (hex, rest) = line.split_once(' ')?;
            let (size, path) = rest.split_once(' ')?;
            let id = ObjectId::from_hex(hex.as_bytes()).ok()?;
            Some(StoredFile {
                path: path.to_owned(),
                size: size.parse().ok()?,
                blob: BlobId::from_slice(id.as_bytes())?,
            })
        };
        files.push(parse().ok_or_else(|| bad(format!("malformed line {line:?}")))?);
    }
    if !files.is_sorted_by(|a, b| a.path.as_bytes() <= b.path.as_bytes()) {
        files.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    }
    Ok(files)
}

impl Store for GitStore {
    fn module(&self, module: &ModuleVersion) -> Result<Option<StoredModule>> {
        let Some(root) = self.read_ref(RefKind::Zip, module)? else {
            return Ok(None);
        };
        let root = self.read_root(module, &root)?;
        let blob = gix_object::Kind::Blob;
        let index = self.read_required(module, &root.index, blob, "file index")?;
        let ziphash = self.read_required(module, &root.ziphash, blob, "ziphash")?;
        let ziphash = String::from_utf8(ziphash.to_vec())
            .map_err(|e| Error::damaged(format!("{module}: reading ziphash"), e))?;
        Ok(Some(StoredModule {
            info: self.read_required(module, &root.info, blob, ".info")?,
            go_mod: self.read_required(module, &root.go_mod, blob, ".mod")?,
            ziphash,
            files: parse_index(module, &index)?,
        }))
    }

    fn put_module(&self, module: &ModuleVersion, contents: &ModuleContents) -> Result<()> {
        self.put_module_counted(module, contents).map(|_| ())
    }

    fn replace_module(&self, module: &ModuleVersion, contents: &ModuleContents) -> Result<()> {
        self.put(module, contents, true).map(|_| ())
    }

    fn put_module_zip(
        &self,
        module: &ModuleVersion,
        zip: &crate::modzip::ModuleZip,
        info: &Bytes,
        go_mod: &Bytes,
        replace: bool,
    ) -> Result<()> {
        if let Some(why) = refs::unstorable(module) {
            return Err(Error::store(format!("{module}: putting module"), why));
        }
        for file in zip.files() {
            check_file_path(module, &file.path)?;
        }
        let planned = std::time::Instant::now();
        let blobs = from_zip::plan(zip);
        tracing::debug!(%module, ms = planned.elapsed().as_millis() as u64, "planned blobs from zip");
        let listing: Vec<(&str, u64, ObjectId)> = zip
            .files()
            .iter()
            .zip(&blobs)
            .map(|(file, blob)| (file.path.as_str(), file.size, blob.id))
            .collect();
        let meta = RootMeta {
            info,
            go_mod,
            ziphash: zip.ziphash(),
        };
        let (root, trees) = build_trees(module, &listing, &meta)?;
        let mut seen = HashSet::new();
        let objects: Vec<Object> = trees.into_iter().filter(|o| seen.insert(o.id)).collect();
        let streamed = blobs.into_iter().filter(|b| seen.insert(b.id)).collect();
        let built = BuiltModule {
            root,
            objects,
            streamed,
        };
        self.commit(module, &built, replace, Some(zip)).map(|_| ())
    }

    fn meta(&self, module: &ModuleVersion, file: MetaFile) -> Result<Option<Bytes>> {
        let (kind, what) = match file {
            MetaFile::Info => (RefKind::Info, ".info"),
            MetaFile::Mod => (RefKind::Mod, ".mod"),
        };
        // Stored alone, or else (also when that copy is damaged) as part
        // of the module.
        let mut damaged_alone = None;
        match self.read_ref(kind, module) {
            Ok(Some(id)) => match self.read_required(module, &id, gix_object::Kind::Blob, what) {
                Ok(data) => return Ok(Some(data)),
                Err(e @ Error::Damaged { .. }) => damaged_alone = Some(e),
                Err(e) => return Err(e),
            },
            Ok(None) => {}
            Err(e @ Error::Damaged { .. }) => damaged_alone = Some(e),
            Err(e) => return Err(e),
        }
        let Some(root) = self.read_ref(RefKind::Zip, module)? else {
            return damaged_alone.map_or(Ok(None), Err);
        };
        let root = self.read_root(module, &root)?;
        let id = match file {
            MetaFile::Info => root.info,
            MetaFile::Mod => root.go_mod,
        };
        self.read_required(module, &id, gix_object::Kind::Blob, what)
            .map(Some)
    }

    fn put_meta(&self, module: &ModuleVersion, file: MetaFile, data: &Bytes) -> Result<()> {
        let kind = match file {
            MetaFile::Info => RefKind::Info,
            MetaFile::Mod => RefKind::Mod,
        };
        let ctx = || format!("{module}: putting .{}", file.extension());
        if let Some(why) = refs::unstorable(module) {
            return Err(Error::store(ctx(), why));
        }
        let obj = Object::new(Kind::Blob, data.clone());
        let _gc_lock = self.lock_for_put().map_err(|e| Error::io(ctx(), e))?;
        let (ref_dir, ref_name) = refs::ref_file(&self.layout.refs, kind, module);
        let current = match refs::read_ref(&ref_dir.join(&ref_name)) {
            Ok(id) => id,
            // A damaged ref is replaced.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => None,
            Err(e) => return Err(Error::io(ctx(), e)),
        };
        if current == Some(obj.id) {
            return Ok(());
        }
        // A single small blob: a loose object, not a pack of one (go reads
        // the .mod of every module in the build graph, most of which never
        // get their zip fetched).
        if self.repair_marker(module).exists() || !self.with_handle(|h| h.exists(&obj.id)) {
            pack::write_loose(&self.layout.objects, &obj).map_err(|e| Error::io(ctx(), e))?;
        }
        refs::write_ref(&ref_dir, &ref_name, &obj.id, RefWrite::over(current)).map_err(|e| {
            Error::io(
                format!("{}: writing ref {}", ctx(), refs::ref_name(kind, module)),
                e,
            )
        })
    }

    fn blob(&self, id: &BlobId) -> Result<Option<Bytes>> {
        let Ok(id) = oid::try_from_bytes(id.as_bytes()) else {
            return Ok(None);
        };
        match self.read_object(id) {
            Ok(Some((gix_object::Kind::Blob, data))) => Ok(Some(data)),
            Ok(_) => Ok(None),
            Err(why) => Err(Error::damaged(format!("reading blob {id}"), why)),
        }
    }

    fn note_used(&self, module: &ModuleVersion) -> Result<()> {
        GitStore::note_used(self, module)
    }

    fn scratch_dir(&self) -> PathBuf {
        self.layout.root.clone()
    }

    fn usage(&self) -> Result<Option<crate::store::StoreUsage>> {
        let modules = refs::count(&self.layout.refs, RefKind::Zip)
            .map_err(|e| Error::io("counting stored modules", e))? as u64;
        let bytes = dir_bytes(&self.layout.objects)
            .map_err(|e| Error::io(format!("sizing {}", self.layout.objects.display()), e))?;
        Ok(Some(crate::store::StoreUsage { modules, bytes }))
    }

    fn versions_of(&self, escaped_path: &str) -> Result<Vec<StoreEntry>> {
        prefix::versions_of(&self.layout.refs, escaped_path)
            .map_err(|e| Error::io(format!("listing the stored versions of {escaped_path}"), e))
    }

    fn children(&self, prefix: &str, complete_only: bool) -> Result<Vec<StoreChild>> {
        prefix::children(&self.layout.refs, prefix, complete_only)
            .map_err(|e| Error::io(format!("listing the stored modules below {prefix:?}"), e))
    }

    fn list(&self) -> Result<Vec<StoreEntry>> {
        let list = |kind: RefKind| {
            refs::list(&self.layout.refs, kind).map_err(|e| {
                Error::io(
                    format!(
                        "listing {}",
                        PathBuf::from("refs/gomodfs").join(kind.dir()).display()
                    ),
                    e,
                )
            })
        };
        let complete: HashSet<ModuleVersion> = list(RefKind::Zip)?.into_iter().collect();
        let mut partial: HashSet<ModuleVersion> = HashSet::new();
        for kind in [RefKind::Info, RefKind::Mod] {
            partial.extend(list(kind)?.into_iter().filter(|m| !complete.contains(m)));
        }
        Ok(prefix::store_entries(complete, partial))
    }
}

/// Bytes of the files below `dir` (the object database: packs, indexes and
/// loose objects).
fn dir_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let meta = match entry.metadata() {
                Ok(m) => m,
                // A temp file renamed or removed meanwhile (a put, gc).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    Ok(total)
}
