//! Where module versions live once fetched: the [`Store`] trait and its
//! implementations.
//!
//! A store holds, per module version, the proxy's `.info` and `.mod` bytes,
//! the `h1:` hash of the zip, and the zip's files (names relative to the
//! module root, contents as blobs). Stores are content-addressed: a file that
//! appears in many versions is stored once. Contents never change once put, so
//! callers may cache anything a store returns forever.
//!
//! # Implementing a store
//!
//! - Lookups return `Ok(None)` for "not stored"; `Err` only for failures.
//! - [`Store::put_module`] is atomic: a concurrent or later reader (in this or
//!   any other process sharing the store) sees the whole module or nothing,
//!   also if the process is killed in the middle of the put.
//! - Puts are idempotent: putting the same module twice, even from two
//!   processes at once, is harmless.
//! - [`Store::meta`] answers for a module put with [`Store::put_module`] too.
//! - A stored copy that cannot be read back as it was stored is reported as
//!   [`Error::Damaged`](crate::Error::Damaged); the node API then fetches
//!   the module again and calls [`Store::replace_module`].

pub mod children;
pub mod git;
pub mod memory;

use crate::error::Result;
use crate::modpath::ModuleVersion;
use crate::modzip::ModuleZip;
use bytes::Bytes;
use std::fmt;
use std::sync::Arc;

pub use children::StoreChild;
pub use git::GitStore;
pub use memory::MemoryStore;

/// The two proxy files that may be stored without the module zip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetaFile {
    /// `<version>.info`: JSON with `Version` and `Time`.
    Info,
    /// `<version>.mod`: the module's go.mod as served by the proxy.
    Mod,
}

impl MetaFile {
    /// The file extension in the download cache, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            MetaFile::Info => "info",
            MetaFile::Mod => "mod",
        }
    }

    /// The other of the two.
    pub fn other(self) -> MetaFile {
        match self {
            MetaFile::Info => MetaFile::Mod,
            MetaFile::Mod => MetaFile::Info,
        }
    }
}

/// A store-defined identifier of a file's contents (for the git store, the
/// git object id). Up to 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId {
    len: u8,
    bytes: [u8; 32],
}

impl BlobId {
    /// Makes an id from up to 32 bytes; `None` if `id` is longer.
    pub fn from_slice(id: &[u8]) -> Option<Self> {
        if id.len() > 32 {
            return None;
        }
        let mut bytes = [0u8; 32];
        bytes[..id.len()].copy_from_slice(id);
        Some(BlobId {
            len: id.len() as u8,
            bytes,
        })
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// One file of a stored module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// Path relative to the module root (`<path>@<version>/` removed),
    /// `/`-separated, exactly as in the zip.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Where the contents are: pass to [`Store::blob`].
    pub blob: BlobId,
}

/// A stored module version: everything but file contents, which are read
/// through [`Store::blob`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredModule {
    /// The proxy's `.info` bytes, verbatim.
    pub info: Bytes,
    /// The proxy's `.mod` bytes, verbatim.
    pub go_mod: Bytes,
    /// `h1:` hash of the zip (the `.ziphash` file's contents).
    pub ziphash: String,
    /// The files, sorted bytewise by path.
    pub files: Vec<StoredFile>,
}

/// A module version to put: the validated contents of its zip and its proxy
/// files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleContents {
    /// The proxy's `.info` bytes.
    pub info: Bytes,
    /// The proxy's `.mod` bytes.
    pub go_mod: Bytes,
    /// `h1:` hash of the zip.
    pub ziphash: String,
    /// `(path relative to the module root, contents)`, in any order; paths are
    /// already validated (unique, no `..`, no empty elements).
    pub files: Vec<(String, Bytes)>,
}

/// One entry of [`Store::list`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreEntry {
    /// The module version.
    pub module: ModuleVersion,
    /// True if the whole module (zip) is stored, false if only `.info` and/or
    /// `.mod` are.
    pub complete: bool,
}

/// What a store holds, if it can tell cheaply.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, PartialEq, Eq)]
pub struct StoreUsage {
    /// Complete module versions stored.
    pub modules: u64,
    /// Bytes the store occupies on its medium.
    pub bytes: u64,
}

/// Storage for module versions. See the [module documentation](self) for the
/// contract an implementation must keep.
pub trait Store: Send + Sync {
    /// The whole module, if stored.
    fn module(&self, module: &ModuleVersion) -> Result<Option<StoredModule>>;

    /// Stores a whole module atomically (all or nothing, also across a crash).
    fn put_module(&self, module: &ModuleVersion, contents: &ModuleContents) -> Result<()>;

    /// Stores a module again because its stored copy was found damaged: as
    /// atomic as [`Store::put_module`], but writes everything anew rather
    /// than trusting what is already stored, and replaces the module's entry
    /// even if it looks the same. The default calls `put_module`; a store
    /// that wraps another forwards this call to it.
    fn replace_module(&self, module: &ModuleVersion, contents: &ModuleContents) -> Result<()> {
        self.put_module(module, contents)
    }

    /// Stores a whole module from its validated zip on disk (`zip`), with
    /// the proxy's `.info` and `.mod`: as [`Store::replace_module`] with
    /// `replace`, else as [`Store::put_module`], and as atomic. The default
    /// reads every file into memory and calls one of those; the git store
    /// writes its pack from the zip with memory bounded whatever the
    /// module's size.
    fn put_module_zip(
        &self,
        module: &ModuleVersion,
        zip: &ModuleZip,
        info: &Bytes,
        go_mod: &Bytes,
        replace: bool,
    ) -> Result<()> {
        let contents = zip.to_contents(info.clone(), go_mod.clone())?;
        if replace {
            self.replace_module(module, &contents)
        } else {
            self.put_module(module, &contents)
        }
    }

    /// A directory for temporary files of this store (downloads being
    /// validated), on the store's own file system if it has one; the
    /// default is the system's temporary directory.
    fn scratch_dir(&self) -> std::path::PathBuf {
        std::env::temp_dir()
    }

    /// A `.info` or `.mod` file, if stored on its own or as part of a module.
    fn meta(&self, module: &ModuleVersion, file: MetaFile) -> Result<Option<Bytes>>;

    /// Stores a `.info` or `.mod` file on its own.
    fn put_meta(&self, module: &ModuleVersion, file: MetaFile, data: &Bytes) -> Result<()>;

    /// The contents of a file, by the id a [`StoredFile`] gave.
    fn blob(&self, id: &BlobId) -> Result<Option<Bytes>>;

    /// How many modules the store holds and how many bytes it occupies, if
    /// it can tell; `Ok(None)` (the default) if it cannot. Called at most
    /// every few seconds, for status reports.
    fn usage(&self) -> Result<Option<StoreUsage>> {
        Ok(None)
    }

    /// Everything stored, in no particular order; may be slow for very
    /// large stores (directory listings use [`Store::children`] and
    /// [`Store::versions_of`]).
    fn list(&self) -> Result<Vec<StoreEntry>>;

    /// The stored versions (complete or `.info`/`.mod` only) of the module
    /// whose escaped path is `escaped_path`, sorted. The default filters
    /// [`Store::list`]; a store with many modules should answer from an
    /// index or its layout.
    fn versions_of(&self, escaped_path: &str) -> Result<Vec<StoreEntry>> {
        Ok(children::versions_in(self.list()?, escaped_path))
    }

    /// The path elements directly below escaped module path prefix `prefix`
    /// (`""` for the top) that lead to stored module versions, sorted by
    /// name; with `complete_only`, only complete modules count. What a
    /// directory listing outside module trees needs. The default filters
    /// [`Store::list`]; a store with many modules should answer without
    /// listing them all.
    fn children(&self, prefix: &str, complete_only: bool) -> Result<Vec<StoreChild>> {
        Ok(children::children_in(self.list()?, prefix, complete_only))
    }

    /// Records that `module` is being served, for `gomodfs gc`'s last-use
    /// times. Called by the node API the first time it serves a module in a
    /// process and about once a day after that; the default does nothing.
    fn note_used(&self, module: &ModuleVersion) -> Result<()> {
        let _ = module;
        Ok(())
    }
}

macro_rules! forward_store {
    ($($ty:ty),*) => {$(
        impl<T: Store + ?Sized> Store for $ty {
            fn module(&self, module: &ModuleVersion) -> Result<Option<StoredModule>> {
                (**self).module(module)
            }
            fn put_module(&self, module: &ModuleVersion, contents: &ModuleContents) -> Result<()> {
                (**self).put_module(module, contents)
            }
            fn replace_module(&self, module: &ModuleVersion, contents: &ModuleContents) -> Result<()> {
                (**self).replace_module(module, contents)
            }
            fn put_module_zip(
                &self,
                module: &ModuleVersion,
                zip: &ModuleZip,
                info: &Bytes,
                go_mod: &Bytes,
                replace: bool,
            ) -> Result<()> {
                (**self).put_module_zip(module, zip, info, go_mod, replace)
            }
            fn scratch_dir(&self) -> std::path::PathBuf {
                (**self).scratch_dir()
            }
            fn meta(&self, module: &ModuleVersion, file: MetaFile) -> Result<Option<Bytes>> {
                (**self).meta(module, file)
            }
            fn put_meta(&self, module: &ModuleVersion, file: MetaFile, data: &Bytes) -> Result<()> {
                (**self).put_meta(module, file, data)
            }
            fn blob(&self, id: &BlobId) -> Result<Option<Bytes>> {
                (**self).blob(id)
            }
            fn list(&self) -> Result<Vec<StoreEntry>> {
                (**self).list()
            }
            fn versions_of(&self, escaped_path: &str) -> Result<Vec<StoreEntry>> {
                (**self).versions_of(escaped_path)
            }
            fn children(&self, prefix: &str, complete_only: bool) -> Result<Vec<StoreChild>> {
                (**self).children(prefix, complete_only)
            }
            fn usage(&self) -> Result<Option<StoreUsage>> {
                (**self).usage()
            }
            fn note_used(&self, module: &ModuleVersion) -> Result<()> {
                (**self).note_used(module)
            }
        }
    )*};
}

forward_store!(&T, Arc<T>, Box<T>);
