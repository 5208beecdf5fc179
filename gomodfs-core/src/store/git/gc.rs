//! `gomodfs gc`: removing modules and reclaiming their space, safely while
//! other processes read and put.
//!
//! 1. **Choose.** Every complete module is listed with its last use (see
//!    the `last_use` module) and its objects (root tree, blobs, `files`
//!    trees). With `unused_for`, modules not used for that long go; with
//!    `max_size`, then the least recently used ones, until the estimated
//!    size of the objects still needed is at most `max_size`. Objects that
//!    several modules share count until the last of them goes. A module
//!    used or stored less than the grace period ago is never chosen.
//! 2. **Remove refs.** Each chosen module's ref (and use marker) is removed
//!    and its root tree written to `DIR/gomodfs-gc-pending` with the time:
//!    for the grace period its objects are kept, so a process that has the
//!    module open (its file index in memory) keeps reading it.
//! 3. **Repack.** The objects of the remaining modules, of `.info`/`.mod`
//!    files stored alone and of removed modules still within their grace
//!    period are copied (raw, CRC-checked) from the existing packs into one
//!    new pack, which is made durable.
//! 4. **Delete old packs**, holding the store's gc lock exclusive (see the
//!    `gc_lock` module): puts wait meanwhile. Refs written since step 1 are
//!    read again; objects they name that only the old packs hold are copied
//!    into one more pack first. Then the old packs go.
//!
//! Loose objects are packed first (see the `loose` module), so the repack
//! keeps those a ref names and drops the others. Packs written after step 1
//! (by puts meanwhile), kept packs (`.keep` and the like) and loose objects
//! written meanwhile are left alone. The compaction lock is
//! held throughout, so no compaction deletes packs meanwhile.

use super::compact::{CompactLock, PackFile, list_packs, remove_pack};
use super::gc_lock::{self, GcLock};
use super::pack::{self, Kind, Object, PackWriter};
use super::refs::{self, RefKind};
use super::{GitStore, ROOT_FILES, dir_bytes, layout};
use crate::error::{Error, Result};
use crate::modpath::ModuleVersion;
use gix_hash::ObjectId;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The file of removed modules within their grace period, in the repository.
const PENDING_NAME: &str = "gomodfs-gc-pending";

/// How long gc waits for a running compaction before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(120);

/// What to remove.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Remove the least recently used modules until the objects of those
    /// left take at most this many bytes.
    pub max_size: Option<u64>,
    /// Remove modules not used for this long.
    pub unused_for: Option<Duration>,
    /// Keep the objects of removed modules readable this long.
    pub grace: Duration,
    /// Only say what would go.
    pub dry_run: bool,
}

/// A module gc removes (or would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcVictim {
    /// The module version.
    pub module: ModuleVersion,
    /// Its last use (to within a day), if known.
    pub last_used: Option<SystemTime>,
}

/// What [`GitStore::gc`] did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default)]
pub struct GcReport {
    /// Complete modules before.
    pub modules_before: usize,
    /// The modules removed, least recently used first.
    pub removed: Vec<GcVictim>,
    /// Bytes of the object database before.
    pub bytes_before: u64,
    /// Bytes after (with `dry_run`: the estimate once removed modules'
    /// grace period is over).
    pub bytes_after: u64,
    /// Estimated bytes once the objects kept for the grace period go too.
    pub bytes_after_grace: u64,
    /// Removed modules (of this or earlier runs) whose objects are kept
    /// for the grace period.
    pub in_grace: usize,
    /// Packs deleted.
    pub packs_deleted: usize,
    /// Modules kept because they were used (or stored) within the grace
    /// period although `max_size` or `unused_for` would remove them.
    pub in_use: usize,
}

/// Where an object lies in a pack about to be replaced.
#[derive(Debug, Clone, Copy)]
struct Located {
    /// Index into the list of packs.
    pack: usize,
    offset: u64,
    len: u64,
    crc: u32,
}

/// A complete module as listed in step 1.
struct Listed {
    module: ModuleVersion,
    root: ObjectId,
    last_used: Option<SystemTime>,
    objects: Vec<ObjectId>,
}

/// A removed module within (or past) its grace period.
struct Pending {
    removed_at: u64,
    root: ObjectId,
    name: String,
}

impl GitStore {
    /// Removes modules and reclaims their space by the rules at the top of
    /// `gomodfs-core/src/store/git/gc.rs` (and docs/OPERATIONS.md).
    pub fn gc(&self, options: &GcOptions) -> Result<GcReport> {
        let root = &self.layout.root;
        let ctx = || format!("collecting garbage in {}", root.display());
        let io_err = |e: io::Error| Error::io(ctx(), e);
        if self.layout.pack.join("multi-pack-index").exists() {
            return Err(Error::store(
                ctx(),
                "the store has a multi-pack-index (git wrote it): remove it or run git gc instead",
            ));
        }
        let _compact_lock = if options.dry_run {
            None
        } else {
            Some(wait_for_compact_lock(root).map_err(io_err)?)
        };
        let mut report = GcReport {
            bytes_before: dir_bytes(&self.layout.objects).map_err(io_err)?,
            ..Default::default()
        };
        if !options.dry_run {
            // Loose objects into a pack first, so that the repack below
            // keeps those still named and drops the rest (`loose` module).
            match super::loose::pack_loose(&self.layout) {
                Ok(0) => {}
                Ok(n) => tracing::info!(objects = n, "packed loose objects"),
                Err(e) => {
                    tracing::warn!(cause = %e, "packing loose objects failed; they stay loose")
                }
            }
        }
        let packs = list_packs(&self.layout.pack).map_err(io_err)?;
        let located = locate_objects(&packs).map_err(io_err)?;
        let (mut modules, metas) = self.list_refs()?;
        report.modules_before = modules.len();
        modules.sort_by_key(|m| m.last_used);

        // Step 1: choose.
        let now = SystemTime::now();
        let cutoff = options.unused_for.and_then(|d| now.checked_sub(d));
        let mut uses: HashMap<ObjectId, usize> = HashMap::new();
        let count = |ids: &[ObjectId], uses: &mut HashMap<ObjectId, usize>| {
            for id in ids {
                *uses.entry(*id).or_default() += 1;
            }
        };
        for m in &modules {
            count(&m.objects, &mut uses);
        }
        count(&metas, &mut uses);
        let entry_len = |id: &ObjectId| located.get(id).map_or(0, |l| l.len);
        let other_bytes = report
            .bytes_before
            .saturating_sub(packs.iter().map(|p| p.size).sum::<u64>())
            .saturating_sub(idx_bytes_of(&packs));
        let estimate = |uses: &HashMap<ObjectId, usize>| {
            let n = uses.len() as u64;
            other_bytes + 32 + uses.keys().map(entry_len).sum::<u64>() + idx_bytes(n)
        };
        let mut size = estimate(&uses);
        let mut chosen = Vec::new();
        for (i, m) in modules.iter().enumerate() {
            // Used (or stored) within the grace period: in use, kept.
            let recent = m.last_used.is_some_and(|t| {
                now.duration_since(t)
                    .map_or(true, |age| age < options.grace)
            });
            let unused = cutoff.is_some_and(|c| m.last_used.is_none_or(|t| t < c));
            let too_big = options.max_size.is_some_and(|max| size > max);
            if !unused && !too_big {
                continue;
            }
            if recent {
                report.in_use += 1;
                continue;
            }
            for id in &m.objects {
                if let Some(n) = uses.get_mut(id) {
                    *n -= 1;
                    if *n == 0 {
                        uses.remove(id);
                        size = size.saturating_sub(entry_len(id) + 28);
                    }
                }
            }
            chosen.push(i);
        }
        report.bytes_after_grace = size;
        report.removed = chosen
            .iter()
            .map(|&i| GcVictim {
                module: modules[i].module.clone(),
                last_used: modules[i].last_used,
            })
            .collect();

        // Removed modules still within their grace period.
        let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut pending: Vec<Pending> = self
            .read_pending()
            .into_iter()
            .filter(|p| now_secs.saturating_sub(p.removed_at) < options.grace.as_secs())
            .collect();
        if !options.grace.is_zero() {
            pending.extend(chosen.iter().map(|&i| Pending {
                removed_at: now_secs,
                root: modules[i].root,
                name: modules[i].module.to_string(),
            }));
        }
        report.in_grace = pending.len();
        if options.dry_run {
            report.bytes_after = size;
            return Ok(report);
        }

        // Step 2: remove refs; the pending list first, so that a crash in
        // between cannot cut a grace period short.
        self.write_pending(&pending).map_err(io_err)?;
        for &i in &chosen {
            let m = &modules[i].module;
            let (dir, name) = refs::ref_file(&self.layout.refs, RefKind::Zip, m);
            match fs::remove_file(dir.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("{m}: removing its ref"), e)),
            }
            self.forget_used(m);
            tracing::info!(module = %m, "gc removed module");
        }
        layout::fsync_dir(&self.layout.refs).map_err(io_err)?;

        // Step 3: repack what stays.
        let chosen: HashSet<usize> = chosen.into_iter().collect();
        let mut keep: HashSet<ObjectId> = metas.iter().copied().collect();
        for (i, m) in modules.iter().enumerate() {
            if !chosen.contains(&i) {
                keep.extend(m.objects.iter().copied());
            }
        }
        for p in &pending {
            match self.module_objects(&p.name, &p.root) {
                Ok(ids) => keep.extend(ids),
                // Already gone (a crash, another gc): nothing to keep.
                Err(e) => {
                    tracing::debug!(module = %p.name, error = %e, "pending module unreadable")
                }
            }
        }
        let mut new_packs = Vec::new();
        if let Some(written) = self.write_pack_of(&keep, &located, &packs)? {
            new_packs.push(written);
        }

        // Step 4: with puts held off, cover refs written meanwhile, then
        // delete the old packs.
        {
            let _exclusive = GcLock::exclusive(root).map_err(io_err)?;
            let (now_modules, now_metas) = self.list_refs_roots()?;
            // A root in `keep` came with all its objects; any other (a new
            // put, or a removed module put again) is read now.
            let mut extra = HashSet::new();
            for (name, root_id) in now_modules.iter().filter(|(_, r)| !keep.contains(r)) {
                extra.extend(
                    self.module_objects(name, root_id)?
                        .into_iter()
                        .filter(|id| !keep.contains(id) && located.contains_key(id)),
                );
            }
            extra.extend(
                now_metas
                    .into_iter()
                    .filter(|id| !keep.contains(id) && located.contains_key(id)),
            );
            if !extra.is_empty() {
                tracing::debug!(
                    objects = extra.len(),
                    "packing objects of refs written during gc"
                );
                if let Some(written) = self.write_pack_of(&extra, &located, &packs)? {
                    new_packs.push(written);
                }
            }
            for p in &packs {
                if new_packs.contains(&p.idx) {
                    continue;
                }
                remove_pack(p);
                report.packs_deleted += 1;
            }
            layout::fsync_dir(&self.layout.pack).map_err(io_err)?;
            gc_lock::bump_generation(root).map_err(io_err)?;
        }
        self.forget_deleted_packs();
        report.bytes_after = dir_bytes(&self.layout.objects).map_err(io_err)?;
        Ok(report)
    }

    /// Every complete module with its root, last use and objects, and the
    /// blobs of `.info`/`.mod` files stored alone.
    fn list_refs(&self) -> Result<(Vec<Listed>, Vec<ObjectId>)> {
        let (roots, metas) = self.list_refs_roots()?;
        let mut modules = Vec::with_capacity(roots.len());
        for (name, root) in roots {
            let Ok(module) = name.parse_module() else {
                continue;
            };
            let objects = self.module_objects(&name.0, &root)?;
            modules.push(Listed {
                last_used: self.last_used(&module),
                module,
                root,
                objects,
            });
        }
        Ok((modules, metas))
    }

    /// The zip refs (name, root tree) and the blobs the meta refs name.
    fn list_refs_roots(&self) -> Result<RefRoots> {
        let mut modules = Vec::new();
        let mut metas = Vec::new();
        for kind in [RefKind::Zip, RefKind::Info, RefKind::Mod] {
            let walked = refs::walk(&self.layout.refs, kind)
                .map_err(|e| Error::io(format!("listing refs/gomodfs/{}", kind.dir()), e))?;
            for (rel, path) in walked {
                let id = match refs::read_ref(&path) {
                    Ok(Some(id)) => id,
                    Ok(None) => continue,
                    Err(e) => {
                        return Err(Error::damaged(
                            format!("gc: reading refs/gomodfs/{}/{rel}", kind.dir()),
                            format!("{e}; run gomodfs fsck --repair first"),
                        ));
                    }
                };
                match kind {
                    RefKind::Zip => modules.push((RefName(rel), id)),
                    RefKind::Info | RefKind::Mod => metas.push(id),
                }
            }
        }
        Ok((modules, metas))
    }

    /// Every object of the module with root tree `root`: the root, its
    /// blobs and every tree and blob under `files`.
    fn module_objects(&self, name: &str, root: &ObjectId) -> Result<Vec<ObjectId>> {
        let damaged = |why: String| {
            Error::damaged(
                format!("gc: reading {name}"),
                format!("{why}; run gomodfs fsck --repair first"),
            )
        };
        let mut out = vec![*root];
        let mut trees = vec![*root];
        while let Some(id) = trees.pop() {
            let data = match self.read_object(&id) {
                Ok(Some((gix_object::Kind::Tree, data))) => data,
                Ok(Some((k, _))) => return Err(damaged(format!("object {id} is a {k}"))),
                Ok(None) => return Err(damaged(format!("tree {id} is missing"))),
                Err(why) => return Err(damaged(why)),
            };
            let entries =
                pack::parse_tree(&data).ok_or_else(|| damaged(format!("tree {id} malformed")))?;
            for (entry_name, is_dir, child) in entries {
                // The root's `files` is the only tree it names.
                if is_dir && (id != *root || entry_name == ROOT_FILES.as_bytes()) {
                    trees.push(child);
                }
                out.push(child);
            }
        }
        Ok(out)
    }

    /// Writes the objects `ids` into one new pack: copied raw from the old
    /// packs where they lie there, read whole otherwise (a delta, a damaged
    /// copy). Objects in no old pack (loose, kept packs) stay where they
    /// are. Returns the new pack's index path, `None` if none was needed.
    fn write_pack_of(
        &self,
        ids: &HashSet<ObjectId>,
        located: &HashMap<ObjectId, Located>,
        packs: &[PackFile],
    ) -> Result<Option<std::path::PathBuf>> {
        let ctx = |what: String| format!("gc: {what}");
        let mut order: Vec<(ObjectId, Located)> = Vec::with_capacity(ids.len());
        for id in ids {
            match located.get(id) {
                Some(l) => order.push((*id, *l)),
                None => {
                    if !self.with_handle(|h| gix_object::Exists::exists(h, id)) {
                        return Err(Error::damaged(
                            ctx(format!("object {id} is missing")),
                            "run gomodfs fsck --repair first",
                        ));
                    }
                }
            }
        }
        if order.is_empty() {
            return Ok(None);
        }
        order.sort_by_key(|(_, l)| (l.pack, l.offset));
        let mut writer = PackWriter::create(&self.layout.pack, order.len())
            .map_err(|e| Error::io(ctx("creating a pack".into()), e))?;
        let mut open: Option<(usize, File)> = None;
        let mut buf = Vec::new();
        for (id, l) in order {
            if open.as_ref().is_none_or(|(i, _)| *i != l.pack) {
                let path = &packs[l.pack].pack;
                let file = File::open(path)
                    .map_err(|e| Error::io(ctx(format!("opening {}", path.display())), e))?;
                open = Some((l.pack, file));
            }
            let raw = match open.as_mut() {
                Some((_, file)) => read_entry(file, l, &mut buf).is_ok(),
                None => false,
            };
            let whole =
                raw && matches!(pack::entry_type(buf[0]), 1..=4) && crc32fast::hash(&buf) == l.crc;
            let added = if whole {
                writer.add_entry(id, &buf, l.crc)
            } else {
                // A delta or a damaged copy: read through the object
                // database (which finds an intact copy) and store it whole.
                let obj = self.whole_object(&id)?;
                pack::packed_entry(&obj).and_then(|(entry, crc)| writer.add_entry(id, &entry, crc))
            };
            added.map_err(|e| Error::io(ctx("writing the new pack".into()), e))?;
        }
        let written = writer
            .finish()
            .map_err(|e| Error::io(ctx("writing the new pack".into()), e))?;
        tracing::debug!(objects = written.objects, pack = %written.pack.display(), "gc wrote pack");
        Ok(Some(written.idx))
    }

    /// An object read through the object database, as a pack [`Object`].
    fn whole_object(&self, id: &ObjectId) -> Result<Object> {
        let damaged = |why: String| {
            Error::damaged(
                format!("gc: reading object {id}"),
                format!("{why}; run gomodfs fsck --repair first"),
            )
        };
        let (kind, data) = self
            .read_object(id)
            .map_err(damaged)?
            .ok_or_else(|| damaged("missing".into()))?;
        let kind = match kind {
            gix_object::Kind::Blob => Kind::Blob,
            gix_object::Kind::Tree => Kind::Tree,
            other => return Err(damaged(format!("a {other}"))),
        };
        Ok(Object::new(kind, data))
    }

    /// The pending list, skipping lines that do not parse.
    fn read_pending(&self) -> Vec<Pending> {
        let text = fs::read_to_string(self.layout.root.join(PENDING_NAME)).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, ' ');
                let removed_at = parts.next()?.parse().ok()?;
                let root = ObjectId::from_hex(parts.next()?.as_bytes()).ok()?;
                let name = parts.next()?.to_owned();
                Some(Pending {
                    removed_at,
                    root,
                    name,
                })
            })
            .collect()
    }

    fn write_pending(&self, pending: &[Pending]) -> io::Result<()> {
        let text: String = pending
            .iter()
            .map(|p| format!("{} {} {}\n", p.removed_at, p.root.to_hex(), p.name))
            .collect();
        layout::write_atomic(&self.layout.root, PENDING_NAME, text.as_bytes())
    }
}

/// The zip refs with their root trees, and the blobs of the meta refs.
type RefRoots = (Vec<(RefName, ObjectId)>, Vec<ObjectId>);

/// A zip ref's name relative to `refs/gomodfs/zip/`.
struct RefName(String);

impl RefName {
    fn parse_module(&self) -> std::result::Result<ModuleVersion, ()> {
        refs::parse_rel_name(&self.0).ok_or(())
    }
}

impl std::ops::Deref for RefName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// Waits (up to [`LOCK_WAIT`]) for the compaction lock.
fn wait_for_compact_lock(root: &Path) -> io::Result<CompactLock> {
    let start = std::time::Instant::now();
    loop {
        if let Some(lock) = CompactLock::acquire(root)? {
            return Ok(lock);
        }
        if start.elapsed() > LOCK_WAIT {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "a pack compaction or another gc is still running; try again later",
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Where every object of `packs` lies, with its entry's length.
fn locate_objects(packs: &[PackFile]) -> io::Result<HashMap<ObjectId, Located>> {
    let mut out = HashMap::new();
    for (i, p) in packs.iter().enumerate() {
        let data = super::integrity::read_regular(&p.idx)?;
        let Some((mut entries, _)) = pack::parse_idx(&data) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is not a v2 pack index; run gomodfs fsck",
                    p.idx.display()
                ),
            ));
        };
        entries.sort_unstable_by_key(|e| e.offset);
        let data_end = p.size.saturating_sub(20);
        for (j, e) in entries.iter().enumerate() {
            let end = entries.get(j + 1).map_or(data_end, |n| n.offset);
            out.entry(e.id).or_insert(Located {
                pack: i,
                offset: e.offset,
                len: end.saturating_sub(e.offset),
                crc: e.crc,
            });
        }
    }
    Ok(out)
}

/// Reads the raw entry at `l` into `buf`.
fn read_entry(file: &mut File, l: Located, buf: &mut Vec<u8>) -> io::Result<()> {
    let len = usize::try_from(l.len).map_err(|_| io::Error::other("entry too large"))?;
    if len == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "empty entry"));
    }
    buf.resize(len, 0);
    file.seek(SeekFrom::Start(l.offset))?;
    file.read_exact(buf)
}

/// Bytes of a v2 index of `n` objects (offsets below 2 GiB).
fn idx_bytes(n: u64) -> u64 {
    8 + 1024 + 28 * n + 40
}

/// Bytes of the indexes of `packs` as they are on disk.
fn idx_bytes_of(packs: &[PackFile]) -> u64 {
    packs
        .iter()
        .filter_map(|p| fs::metadata(&p.idx).ok())
        .map(|m| m.len())
        .sum()
}
