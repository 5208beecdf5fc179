//! An in-memory store.
//!
//! [`MemoryStore`] keeps everything in hash maps behind one
//! [`parking_lot::RwLock`]. It is meant for tests and as a compact example of
//! the [`Store`] contract; nothing survives the process.
//!
//! A [`BlobId`] is the SHA-256 of the contents, so identical files across
//! module versions share one blob.

use super::{BlobId, MetaFile, ModuleContents, Store, StoreEntry, StoredFile, StoredModule};
use crate::error::{Error, Result};
use crate::modpath::ModuleVersion;
use bytes::Bytes;
use parking_lot::RwLock;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// A [`Store`] that lives in memory. Cheap to create; thread-safe.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Complete modules: everything but the file contents.
    modules: HashMap<ModuleVersion, StoredModule>,
    /// `.info` / `.mod` stored on their own with [`Store::put_meta`].
    meta: HashMap<(ModuleVersion, MetaFile), Bytes>,
    /// File contents by id.
    blobs: HashMap<BlobId, Bytes>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of distinct blobs held (after deduplication).
    pub fn blob_count(&self) -> usize {
        self.inner.read().blobs.len()
    }

    /// The id [`MemoryStore`] gives to `data`: its SHA-256.
    pub fn blob_id(data: &[u8]) -> BlobId {
        BlobId {
            len: 32,
            bytes: Sha256::digest(data).into(),
        }
    }
}

impl Store for MemoryStore {
    fn module(&self, module: &ModuleVersion) -> Result<Option<StoredModule>> {
        Ok(self.inner.read().modules.get(module).cloned())
    }

    fn put_module(&self, module: &ModuleVersion, contents: &ModuleContents) -> Result<()> {
        // Hash outside the lock; the put itself is one critical section, so
        // readers see all of the module or nothing.
        let mut files = Vec::with_capacity(contents.files.len());
        let mut blobs = Vec::with_capacity(contents.files.len());
        for (path, data) in &contents.files {
            let id = Self::blob_id(data);
            files.push(StoredFile {
                path: path.clone(),
                size: data.len() as u64,
                blob: id,
            });
            blobs.push((id, data.clone()));
        }
        files.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        if let Some(dup) = files.windows(2).find(|w| w[0].path == w[1].path) {
            return Err(Error::store(
                format!("{module}: putting module"),
                format!("duplicate file path {:?}", dup[0].path),
            ));
        }
        let stored = StoredModule {
            info: contents.info.clone(),
            go_mod: contents.go_mod.clone(),
            ziphash: contents.ziphash.clone(),
            files,
        };
        let mut inner = self.inner.write();
        for (id, data) in blobs {
            inner.blobs.entry(id).or_insert(data);
        }
        inner.modules.insert(module.clone(), stored);
        Ok(())
    }

    fn meta(&self, module: &ModuleVersion, file: MetaFile) -> Result<Option<Bytes>> {
        let inner = self.inner.read();
        if let Some(m) = inner.modules.get(module) {
            return Ok(Some(match file {
                MetaFile::Info => m.info.clone(),
                MetaFile::Mod => m.go_mod.clone(),
            }));
        }
        Ok(inner.meta.get(&(module.clone(), file)).cloned())
    }

    fn put_meta(&self, module: &ModuleVersion, file: MetaFile, data: &Bytes) -> Result<()> {
        self.inner
            .write()
            .meta
            .insert((module.clone(), file), data.clone());
        Ok(())
    }

    fn blob(&self, id: &BlobId) -> Result<Option<Bytes>> {
        Ok(self.inner.read().blobs.get(id).cloned())
    }

    fn usage(&self) -> Result<Option<crate::store::StoreUsage>> {
        let inner = self.inner.read();
        Ok(Some(crate::store::StoreUsage {
            modules: inner.modules.len() as u64,
            bytes: inner.blobs.values().map(|b| b.len() as u64).sum(),
        }))
    }

    fn list(&self) -> Result<Vec<StoreEntry>> {
        let inner = self.inner.read();
        let mut out: Vec<StoreEntry> = inner
            .modules
            .keys()
            .map(|m| StoreEntry {
                module: m.clone(),
                complete: true,
            })
            .collect();
        let mut partial: Vec<&ModuleVersion> = inner
            .meta
            .keys()
            .map(|(m, _)| m)
            .filter(|m| !inner.modules.contains_key(*m))
            .collect();
        partial.sort();
        partial.dedup();
        out.extend(partial.into_iter().map(|m| StoreEntry {
            module: m.clone(),
            complete: false,
        }));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(p: &str, v: &str) -> ModuleVersion {
        ModuleVersion::new(p, v).expect("valid module version")
    }

    fn contents(files: &[(&str, &str)]) -> ModuleContents {
        ModuleContents {
            info: Bytes::from_static(b"{\"Version\":\"v1.0.0\"}"),
            go_mod: Bytes::from_static(b"module example.com/m\n"),
            ziphash: "h1:abc=".into(),
            files: files
                .iter()
                .map(|(p, c)| ((*p).to_owned(), Bytes::copy_from_slice(c.as_bytes())))
                .collect(),
        }
    }

    #[test]
    fn round_trip_and_dedup() -> Result<()> {
        let s = MemoryStore::new();
        let v1 = mv("example.com/m", "v1.0.0");
        let v2 = mv("example.com/m", "v1.1.0");
        assert_eq!(s.module(&v1)?, None);
        s.put_module(
            &v1,
            &contents(&[("b.go", "package m"), ("a/x.go", "x"), ("LICENSE", "L")]),
        )?;
        s.put_module(
            &v2,
            &contents(&[("b.go", "package m"), ("a/x.go", "y"), ("LICENSE", "L")]),
        )?;
        assert_eq!(s.blob_count(), 4);
        let m = s.module(&v1)?.expect("stored");
        let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["LICENSE", "a/x.go", "b.go"]);
        assert_eq!(s.blob(&m.files[1].blob)?, Some(Bytes::from_static(b"x")));
        assert_eq!(m.files[1].size, 1);
        assert_eq!(s.meta(&v1, MetaFile::Mod)?, Some(m.go_mod.clone()));
        assert_eq!(s.blob(&MemoryStore::blob_id(b"nope"))?, None);
        Ok(())
    }

    #[test]
    fn meta_and_list() -> Result<()> {
        let s = MemoryStore::new();
        let a = mv("example.com/a", "v1.0.0");
        let b = mv("example.com/b", "v0.1.0");
        s.put_meta(
            &a,
            MetaFile::Mod,
            &Bytes::from_static(b"module example.com/a\n"),
        )?;
        s.put_meta(&a, MetaFile::Info, &Bytes::from_static(b"{}"))?;
        s.put_module(&b, &contents(&[("go.mod", "module example.com/b\n")]))?;
        s.put_meta(&b, MetaFile::Info, &Bytes::from_static(b"{}"))?;
        assert_eq!(
            s.meta(&a, MetaFile::Mod)?,
            Some(Bytes::from_static(b"module example.com/a\n"))
        );
        assert_eq!(s.module(&a)?, None);
        let mut l = s.list()?;
        l.sort();
        assert_eq!(
            l,
            vec![
                StoreEntry {
                    module: a,
                    complete: false
                },
                StoreEntry {
                    module: b,
                    complete: true
                },
            ]
        );
        Ok(())
    }

    #[test]
    fn duplicate_paths_are_rejected() {
        let s = MemoryStore::new();
        let m = mv("example.com/m", "v1.0.0");
        let err = s
            .put_module(&m, &contents(&[("a", "1"), ("a", "2")]))
            .expect_err("duplicate");
        assert!(err.to_string().contains("example.com/m@v1.0.0"), "{err}");
    }
}
