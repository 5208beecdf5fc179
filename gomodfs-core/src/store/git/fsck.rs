//! Checking a whole store (`gomodfs fsck`) and dropping what is broken.
//!
//! - [`GitStore::fsck_refs`] lists every ref under `refs/gomodfs/`: each
//!   must name a module version in this store's spelling and hold an
//!   object id.
//! - [`GitStore::fsck_module`] reads everything of one module: the root
//!   tree and its blobs, every tree of `files` (which must list exactly the
//!   files of the index) and every file's blob (each hashed and checked
//!   against its id, and against its size), then hashes the files as `go`
//!   does and compares that with the recorded `h1:` ziphash.
//! - [`GitStore::drop_module`] removes a broken module's refs and marks it,
//!   so that its next put writes every object again (as
//!   [`Store::replace_module`] does) instead of trusting the damaged copies
//!   the object database still lists: one download restores it.

use super::{GitStore, ROOT_FILES, integrity, pack, refs};
use crate::dirhash;
use crate::error::{Error, Result};
use crate::modpath::ModuleVersion;
use crate::store::{MetaFile, Store};
use gix_hash::ObjectId;
use refs::RefKind;
use sha1::{Digest, Sha1};
use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

/// A blob id of the index as a git object id.
fn object_id(bytes: &[u8]) -> Option<ObjectId> {
    gix_hash::oid::try_from_bytes(bytes)
        .ok()
        .map(ToOwned::to_owned)
}

/// The directory (in the repository) of the marks [`GitStore::drop_module`]
/// leaves: one empty file per module, named by the SHA-1 of its ref name.
const REPAIRED_DIR: &str = "gomodfs-repaired";

/// A problem found by the checks of this module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsckProblem {
    /// The ref concerned, relative to the repository
    /// (`refs/gomodfs/zip/example%2ecom/a/@v/v1%2e0%2e0`).
    pub ref_name: String,
    /// The module version the ref names; `None` when its name names none.
    pub module: Option<ModuleVersion>,
    /// What is wrong, in words.
    pub cause: String,
}

impl fmt::Display for FsckProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Store errors name the module already.
        match &self.module {
            Some(m) if self.cause.starts_with(&format!("{m}: ")) => f.write_str(&self.cause),
            Some(m) => write!(f, "{m}: {}", self.cause),
            None => write!(f, "{}: {}", self.ref_name, self.cause),
        }
    }
}

/// The refs of a store, sorted, as [`GitStore::fsck_refs`] found them.
#[derive(Debug, Default)]
pub struct FsckRefs {
    /// Complete modules: zip refs that hold an object id.
    pub modules: Vec<ModuleVersion>,
    /// `.info` and `.mod` files stored on their own.
    pub metas: Vec<(MetaFile, ModuleVersion)>,
    /// Refs that are not well-formed.
    pub problems: Vec<FsckProblem>,
}

/// What [`GitStore::fsck_module`] read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FsckModule {
    /// Files of the module.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
}

impl GitStore {
    /// Every ref under `refs/gomodfs/`, checked for a module version name
    /// and an object id.
    pub fn fsck_refs(&self) -> Result<FsckRefs> {
        let mut found = FsckRefs::default();
        for kind in [RefKind::Zip, RefKind::Info, RefKind::Mod] {
            let walked = refs::walk(&self.layout.refs, kind)
                .map_err(|e| Error::io(format!("listing refs/gomodfs/{}", kind.dir()), e))?;
            for (rel, path) in walked {
                let ref_name = format!("refs/gomodfs/{}/{rel}", kind.dir());
                let module = refs::parse_rel_name(&rel);
                let problem = |cause: String| FsckProblem {
                    ref_name: ref_name.clone(),
                    module: module.clone(),
                    cause,
                };
                let Some(mv) = module.clone() else {
                    found.problems.push(problem(
                        "the ref name does not name a module version (not one gomodfs writes)"
                            .into(),
                    ));
                    continue;
                };
                match refs::read_ref(&path) {
                    Ok(Some(_)) => match kind {
                        RefKind::Zip => found.modules.push(mv),
                        RefKind::Info => found.metas.push((MetaFile::Info, mv)),
                        RefKind::Mod => found.metas.push((MetaFile::Mod, mv)),
                    },
                    // Removed meanwhile.
                    Ok(None) => {}
                    Err(e) => found.problems.push(problem(e.to_string())),
                }
            }
        }
        found.modules.sort();
        found.metas.sort();
        found.problems.sort_by(|a, b| a.ref_name.cmp(&b.ref_name));
        Ok(found)
    }

    /// Reads and checks everything of one stored module (see the module
    /// docs). A module that is no longer stored (dropped meanwhile) checks
    /// as empty.
    pub fn fsck_module(
        &self,
        module: &ModuleVersion,
    ) -> std::result::Result<FsckModule, FsckProblem> {
        let problem = |cause: String| FsckProblem {
            ref_name: GitStore::ref_name(module),
            module: Some(module.clone()),
            cause,
        };
        let from_error = |e: Error| problem(e.to_string());
        let Some(stored) = self.module(module).map_err(from_error)? else {
            return Ok(FsckModule::default());
        };
        let Some(root) = self.read_ref(RefKind::Zip, module).map_err(from_error)? else {
            return Ok(FsckModule::default());
        };
        // The `files` trees must list exactly the index's files.
        let listed = self.files_tree(module, &root).map_err(from_error)?;
        let indexed: BTreeSet<(String, ObjectId)> = stored
            .files
            .iter()
            .filter_map(|f| Some((f.path.clone(), object_id(f.blob.as_bytes())?)))
            .collect();
        if let Some(first) = listed.symmetric_difference(&indexed).next() {
            return Err(problem(format!(
                "the files tree and the file index disagree (first about {:?})",
                first.0
            )));
        }
        let mut digests = Vec::with_capacity(stored.files.len());
        let mut checked = FsckModule::default();
        for file in &stored.files {
            let what = format!("file {}", file.path);
            let id = object_id(file.blob.as_bytes())
                .ok_or_else(|| problem(format!("{what}: not a git object id")))?;
            let data = self
                .read_hashed(module, &id, gix_object::Kind::Blob, &what)
                .map_err(from_error)?;
            if data.len() as u64 != file.size {
                return Err(problem(format!(
                    "{what}: {} bytes stored, the index says {}",
                    data.len(),
                    file.size
                )));
            }
            digests.push((format!("{module}/{}", file.path), dirhash::sha256(&data)));
            checked.files += 1;
            checked.bytes += file.size;
        }
        let hash = dirhash::h1_from_digests(digests.iter().cloned()).map_err(from_error)?;
        if hash == stored.ziphash {
            return Ok(checked);
        }
        // A zip with directory entries hashes them too, and only files are
        // stored: try again with every directory as an entry.
        let empty = dirhash::sha256(b"");
        let dirs: BTreeSet<String> = stored
            .files
            .iter()
            .flat_map(|f| {
                f.path
                    .match_indices('/')
                    .map(|(i, _)| format!("{module}/{}/", &f.path[..i]))
            })
            .collect();
        let with_dirs = dirhash::h1_from_digests(
            digests
                .into_iter()
                .chain(dirs.into_iter().map(|d| (d, empty))),
        )
        .map_err(from_error)?;
        if with_dirs == stored.ziphash {
            return Ok(checked);
        }
        Err(problem(format!(
            "the stored files hash to {hash}, but the recorded ziphash is {}",
            stored.ziphash
        )))
    }

    /// Checks a `.info` or `.mod` stored on its own: its blob is present
    /// and reads back as stored.
    pub fn fsck_meta(
        &self,
        file: MetaFile,
        module: &ModuleVersion,
    ) -> std::result::Result<(), FsckProblem> {
        let kind = match file {
            MetaFile::Info => RefKind::Info,
            MetaFile::Mod => RefKind::Mod,
        };
        let problem = |e: Error| FsckProblem {
            ref_name: refs::ref_name(kind, module),
            module: Some(module.clone()),
            cause: e.to_string(),
        };
        if let Some(id) = self.read_ref(kind, module).map_err(problem)? {
            let what = format!(".{}", file.extension());
            self.read_hashed(module, &id, gix_object::Kind::Blob, &what)
                .map_err(problem)?;
        }
        Ok(())
    }

    /// Drops a broken module: removes its refs (the module, and its `.info`
    /// and `.mod` stored alone) and marks it, so that the next put of it
    /// writes every object again. Reads then fetch it again.
    pub fn drop_module(&self, module: &ModuleVersion) -> Result<()> {
        let ctx = || format!("{module}: dropping module");
        let marker = self.repair_marker(module);
        let dir = marker.parent().unwrap_or(self.layout.root.as_path());
        super::layout::create_dir_durable(dir).map_err(|e| Error::io(ctx(), e))?;
        let name = marker.file_name().unwrap_or_default().to_string_lossy();
        super::layout::write_atomic(dir, &name, b"").map_err(|e| Error::io(ctx(), e))?;
        for kind in [RefKind::Zip, RefKind::Info, RefKind::Mod] {
            let (dir, name) = refs::ref_file(&self.layout.refs, kind, module);
            match std::fs::remove_file(dir.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(ctx(), e)),
            }
        }
        super::layout::fsync_dir(&self.layout.refs).map_err(|e| Error::io(ctx(), e))?;
        tracing::info!(%module, "dropped a broken module; it is fetched again when read");
        Ok(())
    }

    /// The mark [`GitStore::drop_module`] leaves for `module`.
    pub(super) fn repair_marker(&self, module: &ModuleVersion) -> PathBuf {
        let digest = Sha1::digest(GitStore::ref_name(module).as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.layout.root.join(REPAIRED_DIR).join(hex)
    }

    /// Reads an object as every read does, then hashes it as git does and
    /// compares that with `id`: reads straight from a pack are checked by
    /// the index's CRC-32 only, fsck checks everything.
    fn read_hashed(
        &self,
        module: &ModuleVersion,
        id: &ObjectId,
        kind: gix_object::Kind,
        what: &str,
    ) -> Result<bytes::Bytes> {
        let data = self.read_required(module, id, kind, what)?;
        integrity::check_object(id, kind, &data)
            .map_err(|why| Error::damaged(format!("{module}: reading {what}"), why))?;
        Ok(data)
    }

    /// Every file (path, blob id) the `files` tree of the module with root
    /// tree `root` lists, reading every tree on the way.
    fn files_tree(
        &self,
        module: &ModuleVersion,
        root: &ObjectId,
    ) -> Result<BTreeSet<(String, ObjectId)>> {
        let tree = gix_object::Kind::Tree;
        let data = self.read_hashed(module, root, tree, "root tree")?;
        let malformed =
            |what: &str| Error::damaged(format!("{module}: reading {what}"), "malformed tree");
        let files = pack::parse_tree(&data)
            .ok_or_else(|| malformed("root tree"))?
            .into_iter()
            .find(|(name, is_dir, _)| *name == ROOT_FILES.as_bytes() && *is_dir)
            .map(|(_, _, id)| id)
            .ok_or_else(|| {
                Error::damaged(
                    format!("{module}: reading root tree {root}"),
                    "no \"files\" tree",
                )
            })?;
        let mut out = BTreeSet::new();
        let mut stack = vec![(String::new(), files)];
        while let Some((prefix, id)) = stack.pop() {
            let what = if prefix.is_empty() {
                "files tree".to_owned()
            } else {
                format!("tree {prefix}")
            };
            let data = self.read_hashed(module, &id, tree, &what)?;
            let entries = pack::parse_tree(&data).ok_or_else(|| malformed(what.as_str()))?;
            for (name, is_dir, child) in entries {
                let name = String::from_utf8_lossy(name);
                let path = if prefix.is_empty() {
                    name.into_owned()
                } else {
                    format!("{prefix}/{name}")
                };
                if is_dir {
                    stack.push((path, child));
                } else {
                    out.insert((path, child));
                }
            }
        }
        Ok(out)
    }
}
