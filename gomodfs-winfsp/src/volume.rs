//! The volume's operations as WinFsp calls them, over [`ModFs`], in plain
//! Rust: the Windows glue (`host.rs`) only converts WinFsp's types to and
//! from these calls. Every call goes through one request wrapper that logs
//! a failure once ([`gomodfs_core::Error::log`]) and maps it once
//! ([`NtStatus::of`]).

use crate::enumerate::{self, DirSink, Dots};
use crate::facts::FileFacts;
use crate::names;
use crate::status::NtStatus;
use bytes::Bytes;
use gomodfs_core::{Attr, Error, ModFs, NodeId};
use std::fmt::Display;
use std::sync::{Arc, OnceLock};

/// The read-only volume over a [`ModFs`].
pub struct Volume {
    fs: Arc<ModFs>,
}

/// An open file or directory: WinFsp's file context. Its node is pinned in
/// the core from [`Volume::open`] to [`Volume::close`].
#[derive(Debug)]
pub struct Handle {
    id: NodeId,
    path: String,
    facts: FileFacts,
    /// Served as one snapshot per open (the status file): its facts are
    /// those of the snapshot.
    snapshot: bool,
    /// A file's contents, read at the first read (or at open for a file
    /// served as a snapshot per open, the status file): every read of this
    /// handle sees the same bytes.
    data: OnceLock<Bytes>,
}

impl Handle {
    /// The core path of the node (`""` for the root).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The facts as of the open.
    pub fn facts(&self) -> &FileFacts {
        &self.facts
    }
}

impl Volume {
    /// The volume over `fs`.
    pub fn new(fs: Arc<ModFs>) -> Volume {
        Volume { fs }
    }

    /// The filesystem served.
    pub fn fs(&self) -> &Arc<ModFs> {
        &self.fs
    }

    /// The file attributes of the node at `name` (a WinFsp path), for
    /// WinFsp's access check before an open.
    pub fn attributes(&self, name: &[u16]) -> Result<u32, NtStatus> {
        let path = names::core_path(name)?;
        let attr = request("getattr", &path, || self.fs.resolve(&path))?;
        Ok(FileFacts::of(&attr).attributes)
    }

    /// Opens the node at `name` (a WinFsp path) and pins it until
    /// [`Volume::close`].
    pub fn open(&self, name: &[u16]) -> Result<Handle, NtStatus> {
        let path = names::core_path(name)?;
        let (attr, data) = request("open", &path, || {
            let attr = self.resolve_pinned(&path)?;
            if !attr.cache.snapshot {
                return Ok((attr, None));
            }
            match self.fs.open(attr.id) {
                Ok(data) => Ok((attr, Some(data))),
                Err(e) => {
                    self.fs.forget(attr.id, 1);
                    Err(e)
                }
            }
        })?;
        let mut facts = FileFacts::of(&attr);
        let cell = OnceLock::new();
        let snapshot = data.is_some();
        if let Some(data) = data {
            facts = FileFacts::of(&Attr {
                size: data.len() as u64,
                ..attr
            });
            let _ = cell.set(data);
        }
        Ok(Handle {
            id: attr.id,
            path,
            facts,
            snapshot,
            data: cell,
        })
    }

    /// Closes a handle: its node's pin is released.
    pub fn close(&self, handle: Handle) {
        self.fs.forget(handle.id, 1);
    }

    /// The facts of an open node now (a snapshot file: of its snapshot).
    pub fn file_info(&self, handle: &Handle) -> Result<FileFacts, NtStatus> {
        if handle.snapshot {
            return Ok(handle.facts);
        }
        let attr = request("getattr", &handle.path, || self.fs.getattr(handle.id))?;
        Ok(FileFacts::of(&attr))
    }

    /// Reads into `buffer` from `offset`; returns how many bytes were read.
    /// A read at or past the end is `STATUS_END_OF_FILE`, as Windows
    /// expects.
    pub fn read(&self, handle: &Handle, buffer: &mut [u8], offset: u64) -> Result<u32, NtStatus> {
        let data = match handle.data.get() {
            Some(data) => data,
            None => {
                let data = request("read", &handle.path, || self.fs.open(handle.id))?;
                handle.data.get_or_init(|| data)
            }
        };
        let start = usize::try_from(offset)
            .ok()
            .filter(|&s| s < data.len())
            .ok_or(NtStatus::END_OF_FILE)?;
        let n = buffer.len().min(data.len() - start).min(u32::MAX as usize);
        buffer[..n].copy_from_slice(&data[start..start + n]);
        Ok(n as u32)
    }

    /// Fills `sink` with the directory's entries after `marker` (see
    /// [`enumerate::fill`]), `.` and `..` first unless it is the root.
    pub fn read_directory(
        &self,
        handle: &Handle,
        marker: Option<&[u16]>,
        sink: &mut dyn DirSink,
    ) -> Result<(), NtStatus> {
        if !handle.facts.is_directory() {
            return Err(NtStatus::NOT_A_DIRECTORY);
        }
        request("readdir", &handle.path, || {
            let dots = match names::parent(&handle.path) {
                None => None,
                Some(parent) => Some(Dots {
                    own: FileFacts::of(&self.fs.getattr(handle.id)?),
                    parent: FileFacts::of(&self.fs.resolve(parent)?),
                }),
            };
            enumerate::fill(&self.fs, handle.id, dots, marker, sink)
        })
    }

    /// Resolves `path` and pins its node. Resolving registers the node
    /// unpinned; should the bounded node cache drop it before the pin (a
    /// burst of other lookups in between), it is resolved once more.
    fn resolve_pinned(&self, path: &str) -> gomodfs_core::Result<Attr> {
        for _ in 0..2 {
            let attr = self.fs.resolve(path)?;
            if self.fs.pin(attr.id) {
                return Ok(attr);
            }
        }
        Err(Error::Stale(format!(
            "{path}: forgotten by the node cache while being opened"
        )))
    }
}

/// Runs one core request: a failure is logged once (at the level its kind
/// deserves) and mapped to its NTSTATUS.
fn request<T>(
    op: &str,
    subject: &dyn Display,
    f: impl FnOnce() -> gomodfs_core::Result<T>,
) -> Result<T, NtStatus> {
    let _span = tracing::debug_span!("winfsp", op, %subject).entered();
    f().map_err(|e| {
        e.log(op, subject);
        NtStatus::of(&e)
    })
}

#[cfg(test)]
mod tests;
