//! The dav-server filesystem: a thin read-only adapter on [`ModFs`].
//!
//! Every call resolves the path through [`ModFs::resolve`] (path meaning
//! lives in the core) through the request wrapper
//! ([`crate::request::blocking`]), because the node API blocks while a
//! module downloads. dav-server uses it for PROPFIND and for GET on
//! directories (the HTML index); GET/HEAD on files are answered by
//! [`crate::files`] directly.

use bytes::{Buf, Bytes};
use dav_server::davpath::DavPath;
use dav_server::fs::{
    DavDirEntry, DavFile, DavFileSystem, DavMetaData, FsError, FsFuture, FsResult, FsStream,
    OpenOptions, ReadDirMeta,
};
use futures_util::FutureExt;
use gomodfs_core::{Attr, ModFs, NodeKind};
use std::io::SeekFrom;
use std::sync::Arc;
use std::time::SystemTime;

/// The read-only dav-server filesystem over a [`ModFs`].
#[derive(Clone)]
pub(crate) struct DavFs {
    fs: Arc<ModFs>,
}

impl DavFs {
    pub(crate) fn new(fs: Arc<ModFs>) -> DavFs {
        DavFs { fs }
    }
}

/// The path relative to the root, as [`ModFs::resolve`] takes it.
pub(crate) fn rel_path(path: &DavPath) -> FsResult<String> {
    let s = std::str::from_utf8(path.as_bytes()).map_err(|_| FsError::NotFound)?;
    Ok(s.trim_matches('/').to_owned())
}

/// Runs a blocking [`ModFs`] call through the request wrapper, with the
/// failure in dav-server's terms.
async fn blocking<T: Send + 'static>(
    fs: &Arc<ModFs>,
    op: &'static str,
    what: String,
    f: impl FnOnce(&ModFs) -> gomodfs_core::Result<T> + Send + 'static,
) -> FsResult<T> {
    crate::request::blocking(fs, op, what, f)
        .await
        .map_err(|failure| failure.fs_error())
}

/// Attributes in dav-server's terms.
#[derive(Debug, Clone)]
pub(crate) struct Meta(pub(crate) Attr);

impl DavMetaData for Meta {
    fn len(&self) -> u64 {
        self.0.size
    }
    fn modified(&self) -> FsResult<SystemTime> {
        Ok(self.0.mtime)
    }
    fn is_dir(&self) -> bool {
        self.0.kind == NodeKind::Directory
    }
    /// Only contents that never change have an ETag (the core's caching
    /// answer, as for GET): a directory whose listing grows, or the status
    /// file, has none, so no client revalidates a stale copy into a 304.
    fn etag(&self) -> Option<String> {
        crate::files::Validators::of(&self.0).etag
    }
    fn executable(&self) -> FsResult<bool> {
        Ok(self.0.kind == NodeKind::File && self.0.perm & 0o111 != 0)
    }
}

struct Entry {
    name: String,
    meta: Meta,
}

impl DavDirEntry for Entry {
    fn name(&self) -> Vec<u8> {
        self.name.as_bytes().to_vec()
    }
    fn metadata(&self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta: Box<dyn DavMetaData> = Box::new(self.meta.clone());
        futures_util::future::ready(Ok(meta)).boxed()
    }
}

/// An open file: its whole contents (one snapshot for the status file).
#[derive(Debug)]
struct File {
    meta: Meta,
    data: Bytes,
    pos: usize,
}

impl DavFile for File {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let mut meta = self.meta.clone();
        meta.0.size = self.data.len() as u64;
        let meta: Box<dyn DavMetaData> = Box::new(meta);
        futures_util::future::ready(Ok(meta)).boxed()
    }
    fn write_buf(&mut self, _buf: Box<dyn Buf + Send>) -> FsFuture<'_, ()> {
        futures_util::future::ready(Err(FsError::Forbidden)).boxed()
    }
    fn write_bytes(&mut self, _buf: Bytes) -> FsFuture<'_, ()> {
        futures_util::future::ready(Err(FsError::Forbidden)).boxed()
    }
    fn read_bytes(&mut self, count: usize) -> FsFuture<'_, Bytes> {
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(count).min(self.data.len());
        self.pos = end;
        futures_util::future::ready(Ok(self.data.slice(start..end))).boxed()
    }
    fn seek(&mut self, pos: SeekFrom) -> FsFuture<'_, u64> {
        let len = self.data.len() as i128;
        let new = match pos {
            SeekFrom::Start(n) => i128::from(n),
            SeekFrom::End(n) => len + i128::from(n),
            SeekFrom::Current(n) => self.pos as i128 + i128::from(n),
        };
        let result = if new < 0 {
            Err(FsError::GeneralFailure)
        } else {
            self.pos = usize::try_from(new).unwrap_or(usize::MAX);
            Ok(self.pos as u64)
        };
        futures_util::future::ready(result).boxed()
    }
    fn flush(&mut self) -> FsFuture<'_, ()> {
        futures_util::future::ready(Ok(())).boxed()
    }
}

impl DavFileSystem for DavFs {
    fn open<'a>(
        &'a self,
        path: &'a DavPath,
        options: OpenOptions,
    ) -> FsFuture<'a, Box<dyn DavFile>> {
        async move {
            if options.write || options.append || options.truncate || options.create {
                return Err(FsError::Forbidden);
            }
            let rel = rel_path(path)?;
            let (attr, data) = blocking(&self.fs, "open", rel.clone(), move |fs| {
                let attr = fs.resolve(&rel)?;
                let data = fs.open(attr.id)?;
                Ok((attr, data))
            })
            .await?;
            let file: Box<dyn DavFile> = Box::new(File {
                meta: Meta(attr),
                data,
                pos: 0,
            });
            Ok(file)
        }
        .boxed()
    }

    fn read_dir<'a>(
        &'a self,
        path: &'a DavPath,
        _meta: ReadDirMeta,
    ) -> FsFuture<'a, FsStream<Box<dyn DavDirEntry>>> {
        async move {
            let rel = rel_path(path)?;
            let entries = blocking(&self.fs, "readdir", rel.clone(), move |fs| {
                let attr = fs.resolve(&rel)?;
                fs.readdir_plus(attr.id)
            })
            .await?;
            let items: Vec<FsResult<Box<dyn DavDirEntry>>> = entries
                .into_iter()
                .map(|(entry, attr)| {
                    let e: Box<dyn DavDirEntry> = Box::new(Entry {
                        name: entry.name,
                        meta: Meta(attr),
                    });
                    Ok(e)
                })
                .collect();
            let stream: FsStream<Box<dyn DavDirEntry>> =
                Box::pin(futures_util::stream::iter(items));
            Ok(stream)
        }
        .boxed()
    }

    fn metadata<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, Box<dyn DavMetaData>> {
        async move {
            let rel = rel_path(path)?;
            let attr =
                blocking(&self.fs, "getattr", rel.clone(), move |fs| fs.resolve(&rel)).await?;
            let meta: Box<dyn DavMetaData> = Box::new(Meta(attr));
            Ok(meta)
        }
        .boxed()
    }
}
