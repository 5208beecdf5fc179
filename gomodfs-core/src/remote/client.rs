//! [`Remote`]: get, head, put-if-absent and delete of one key in the remote
//! store, with the prefix applied and every call bounded in time. Large
//! objects can be read as a stream ([`Remote::get_stream`]) and written
//! from a file ([`Remote::put_data_if_absent`]), memory bounded whatever
//! their size.
//!
//! After a failure (not a "not found"), the remote counts as down for
//! [`DOWN_FOR`]: reads skip it ([`Remote::is_down`]) so that a remote that
//! is down, slow or answering 5xx costs a reader at most one timeout per
//! [`DOWN_FOR`], not one per file.

use crate::error::{Error, Result};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use parking_lot::Mutex;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a failed remote is skipped by readers.
pub const DOWN_FOR: Duration = Duration::from_secs(10);

/// Reads, small writes (leases) and deletes give up after this long at
/// most: a slow remote must not hold up a read that upstream can serve.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Objects up to this size are written within [`READ_TIMEOUT`].
const SMALL: usize = 64 << 10;

/// Objects larger than this are written in parts of this size by
/// [`Remote::put_data_if_absent`] (S3's smallest part); smaller ones in one
/// request.
pub const PART_SIZE: usize = 5 << 20;

/// A file is read this much at a time while it is uploaded.
const FILE_CHUNK: usize = 1 << 20;

/// The bytes of an object to write.
#[derive(Debug, Clone)]
pub enum ObjectData {
    /// Held in memory.
    Bytes(Bytes),
    /// `head`, then the `len` bytes of the file at `path`, read while they
    /// are uploaded.
    File {
        /// Bytes before the file's.
        head: Bytes,
        /// The file.
        path: std::path::PathBuf,
        /// How many bytes the file must have.
        len: u64,
    },
    /// The `len` bytes of an open file, from its start: an unnamed
    /// temporary file, gone when its last handle closes (also after a
    /// kill), read while it is uploaded.
    Open {
        /// The file.
        file: Arc<std::fs::File>,
        /// How many bytes the file must have.
        len: u64,
    },
}

/// Where the bytes of a file object are read from.
enum FileSource {
    Path(std::path::PathBuf),
    Open(Arc<std::fs::File>),
}

impl FileSource {
    /// A handle at the file's start (for an open file, a second handle
    /// rewound: one reader at a time).
    fn open(&self) -> std::io::Result<std::fs::File> {
        match self {
            FileSource::Path(path) => std::fs::File::open(path),
            FileSource::Open(file) => {
                let mut handle = file.try_clone()?;
                std::io::Seek::rewind(&mut handle)?;
                Ok(handle)
            }
        }
    }

    /// The file, for messages.
    fn name(&self) -> String {
        match self {
            FileSource::Path(path) => path.display().to_string(),
            FileSource::Open(_) => "the temporary file".to_owned(),
        }
    }
}

impl ObjectData {
    /// The object's size in bytes.
    pub fn len(&self) -> u64 {
        match self {
            ObjectData::Bytes(b) => b.len() as u64,
            ObjectData::File { head, len, .. } => head.len() as u64 + len,
            ObjectData::Open { len, .. } => *len,
        }
    }

    /// Whether the object is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Bytes> for ObjectData {
    fn from(bytes: Bytes) -> ObjectData {
        ObjectData::Bytes(bytes)
    }
}

/// An object being read from the remote ([`Remote::get_stream`]): its
/// chunks as they arrive.
pub struct RemoteBody<'a> {
    remote: &'a Remote,
    key: String,
    size: u64,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
}

impl<'a> RemoteBody<'a> {
    /// A body from `chunks` announced as `size` bytes (tests: bodies that
    /// end early, run long or fail mid-way).
    #[cfg(test)]
    pub(crate) fn from_chunks(
        remote: &'a Remote,
        size: u64,
        chunks: Vec<object_store::Result<Bytes>>,
    ) -> RemoteBody<'a> {
        RemoteBody {
            remote,
            key: "test".to_owned(),
            size,
            stream: futures_util::stream::iter(chunks).boxed(),
        }
    }

    /// The object's size, as the remote announced it.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The next chunk; `None` at the end. Each chunk must arrive within
    /// [`READ_TIMEOUT`] (a stalled transfer is an error, a slow one is not).
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        let RemoteBody {
            remote,
            key,
            stream,
            ..
        } = self;
        let result = remote
            .bounded(key, remote.read_timeout, async {
                stream.next().await.transpose()
            })
            .await;
        remote.note(result)
    }
}

/// The outcome of [`Remote::put_if_absent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// The object was created by this call.
    Created,
    /// An object already existed at the key; it was left as it was.
    Exists,
}

/// A remote object store (a bucket and a prefix). Keys are `/`-separated
/// relative paths; the prefix is applied here. Cheap to share (`Arc`).
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    url: String,
    prefix: String,
    timeout: Duration,
    read_timeout: Duration,
    down_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("url", &self.url).finish()
    }
}

impl Remote {
    /// A remote over `store`, its keys under `prefix` (may be empty), named
    /// `url` in messages; each call gives up after `timeout` (reads after
    /// [`READ_TIMEOUT`] at most).
    pub fn new(store: Arc<dyn ObjectStore>, url: &str, prefix: &str, timeout: Duration) -> Remote {
        Remote {
            store,
            url: url.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            timeout,
            read_timeout: timeout.min(READ_TIMEOUT),
            down_until: Mutex::new(None),
        }
    }

    /// An in-memory remote, for tests.
    pub fn in_memory() -> Remote {
        Remote::new(
            Arc::new(object_store::memory::InMemory::new()),
            "memory://",
            "",
            Duration::from_secs(5),
        )
    }

    /// The URL the user gave.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether a recent call failed (see [`DOWN_FOR`]): readers skip the
    /// remote until then.
    pub fn is_down(&self) -> bool {
        let mut down = self.down_until.lock();
        match *down {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                *down = None;
                false
            }
            None => false,
        }
    }

    /// The object at `key`, `None` if there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let path = self.path(key)?;
        let result = self
            .bounded(key, self.read_timeout, async {
                match self.store.get(&path).await {
                    Ok(found) => found.bytes().await.map(Some),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await;
        self.note(result)
    }

    /// The object at `key` as a stream of chunks, `None` if there is none:
    /// nothing is held in memory whole.
    pub async fn get_stream(&self, key: &str) -> Result<Option<RemoteBody<'_>>> {
        let path = self.path(key)?;
        let result = self
            .bounded(key, self.read_timeout, async {
                match self.store.get(&path).await {
                    Ok(found) => Ok(Some((found.meta.size, found.into_stream()))),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await;
        Ok(self.note(result)?.map(|(size, stream)| RemoteBody {
            remote: self,
            key: key.to_owned(),
            size,
            stream,
        }))
    }

    /// The size of the object at `key`, `None` if there is none.
    pub async fn head(&self, key: &str) -> Result<Option<u64>> {
        let path = self.path(key)?;
        let result = self
            .bounded(key, self.read_timeout, async {
                match self.store.head(&path).await {
                    Ok(meta) => Ok(Some(meta.size)),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await;
        self.note(result)
    }

    /// Creates the object at `key` with `data` unless one exists already
    /// (`If-None-Match: *`): an existing object is never overwritten.
    pub async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<Put> {
        let path = self.path(key)?;
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let limit = if data.len() <= SMALL {
            self.read_timeout
        } else {
            self.timeout
        };
        let result = self
            .bounded(key, limit, async {
                match self
                    .store
                    .put_opts(&path, PutPayload::from_bytes(data), options)
                    .await
                {
                    Ok(_) => Ok(Put::Created),
                    Err(
                        object_store::Error::AlreadyExists { .. }
                        | object_store::Error::Precondition { .. },
                    ) => Ok(Put::Exists),
                    Err(e) => Err(e),
                }
            })
            .await;
        self.note(result)
    }

    /// Creates the object at `key` from `data` unless one exists already.
    /// Up to [`PART_SIZE`] this is [`Remote::put_if_absent`]; a larger file
    /// is uploaded in parts read from it as they go (memory bounded by two
    /// parts), after a check that the key is free: a multipart upload
    /// cannot be conditional, so a writer racing another on the same key
    /// may replace its object (callers write keys whose objects check
    /// themselves, such as content-addressed ones).
    pub async fn put_data_if_absent(&self, key: &str, data: ObjectData) -> Result<Put> {
        let total = data.len();
        let (head, file, len) = match data {
            ObjectData::Bytes(bytes) => return self.put_if_absent(key, bytes).await,
            ObjectData::File { head, path, len } => (head, FileSource::Path(path), len),
            ObjectData::Open { file, len } => (Bytes::new(), FileSource::Open(file), len),
        };
        if total <= PART_SIZE as u64 {
            let read = tokio::task::spawn_blocking(move || -> std::io::Result<Bytes> {
                let mut all = Vec::with_capacity(total as usize);
                all.extend_from_slice(&head);
                read_exactly(&file, len, |chunk| {
                    all.extend_from_slice(chunk);
                    true
                })?;
                Ok(Bytes::from(all))
            })
            .await
            .map_err(|e| self.error(format!("{key}: reading the file to upload: {e}")))?
            .map_err(|e| self.error(format!("{key}: reading the file to upload: {e}")))?;
            return self.put_if_absent(key, read).await;
        }
        if self.head(key).await?.is_some() {
            return Ok(Put::Exists);
        }
        let path = self.path(key)?;
        // Each part has the request timeout; the whole gets one per 64 MiB.
        let parts = u32::try_from(total / (64 << 20)).unwrap_or(u32::MAX);
        let limit = self.timeout.saturating_mul(parts.saturating_add(1));
        let result = self
            .bounded(key, limit, async {
                let upload = self.store.put_multipart(&path).await?;
                let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
                writer.put(head);
                let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(2);
                let reader = tokio::task::spawn_blocking(move || {
                    let sent = read_exactly(&file, len, |chunk| {
                        tx.blocking_send(Ok(Bytes::copy_from_slice(chunk))).is_ok()
                    });
                    if let Err(e) = sent {
                        let _ = tx.blocking_send(Err(e));
                    }
                });
                while let Some(chunk) = rx.recv().await {
                    match chunk {
                        Ok(chunk) => {
                            writer.wait_for_capacity(1).await?;
                            writer.put(chunk);
                        }
                        Err(e) => {
                            let _ = writer.abort().await;
                            return Err(object_store::Error::Generic {
                                store: "file",
                                source: Box::new(e),
                            });
                        }
                    }
                }
                let _ = reader.await;
                writer.finish().await.map(|_| Put::Created)
            })
            .await;
        self.note(result)
    }

    /// Deletes the object at `key` (no error if there is none).
    pub async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        let result = self
            .bounded(key, self.read_timeout, async {
                match self.store.delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            })
            .await;
        self.note(result)
    }

    /// The start-up check: one cheap listing of the prefix. A wrong key, a
    /// missing bucket or an unreachable endpoint is an error naming the URL
    /// and the cause in one line.
    pub async fn probe(&self) -> Result<()> {
        let prefix = if self.prefix.is_empty() {
            None
        } else {
            Some(Path::from(self.prefix.as_str()))
        };
        let listed = tokio::time::timeout(
            self.read_timeout,
            self.store.list_with_delimiter(prefix.as_ref()),
        )
        .await;
        match listed {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.error(probe_cause(&e))),
            Err(_) => Err(self.error(format!(
                "no answer within {:?} (is the endpoint right and up?)",
                self.read_timeout
            ))),
        }
    }

    fn path(&self, key: &str) -> Result<Path> {
        let full = if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        };
        Path::parse(&full).map_err(|e| self.error(format!("invalid key {full:?}: {e}")))
    }

    /// Runs `call` for `key` within `limit`; errors become
    /// [`Error::Remote`] naming the key.
    async fn bounded<T>(
        &self,
        key: &str,
        limit: Duration,
        call: impl Future<Output = object_store::Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(limit, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.error(format!("{key}: {}", one_line(&e)))),
            Err(_) => Err(self.error(format!("{key}: no answer within {limit:?}"))),
        }
    }

    /// Marks the remote down after a failure.
    fn note<T>(&self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            *self.down_until.lock() = Some(Instant::now() + DOWN_FOR);
        }
        result
    }

    fn error(&self, cause: String) -> Error {
        Error::Remote {
            url: self.url.clone(),
            cause,
        }
    }
}

/// Reads exactly `len` bytes of the file `source`, [`FILE_CHUNK`] at a
/// time, into `sink` (which returns `false` to stop early); a file of
/// another length is an error.
fn read_exactly(
    source: &FileSource,
    len: u64,
    mut sink: impl FnMut(&[u8]) -> bool,
) -> std::io::Result<()> {
    let mut file = source.open()?;
    let mut buf = vec![0u8; FILE_CHUNK];
    let mut read = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        read += n as u64;
        if read > len || !sink(&buf[..n]) {
            break;
        }
    }
    if read != len {
        return Err(std::io::Error::other(format!(
            "{} changed: {read} bytes where {len} were expected",
            source.name()
        )));
    }
    Ok(())
}

/// An object_store error on one line, with its sources.
fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Why the start-up probe failed, in words a user can act on: the S3
/// error code when the server sent one, else the innermost cause.
fn probe_cause(e: &object_store::Error) -> String {
    let detail = one_line(e);
    let code = detail
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.to_owned());
    let mut innermost = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        innermost = s.to_string();
        source = s.source();
    }
    let cause = match code.as_deref() {
        Some("NoSuchBucket") => "the bucket does not exist",
        Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied") => {
            "access denied: wrong or unauthorized credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
        }
        Some(_) => "the remote store refused a listing",
        None if detail.contains("403") => "access denied",
        None if detail.contains("error sending request") || detail.contains("connect") => {
            "cannot reach the endpoint"
        }
        None => "the remote store failed a listing",
    };
    let why = code.unwrap_or(innermost);
    format!(
        "{cause} ({})",
        why.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn put_if_absent_never_overwrites() {
        let r = Remote::in_memory();
        assert_eq!(r.get("a/b").await.unwrap(), None);
        assert_eq!(
            r.put_if_absent("a/b", Bytes::from_static(b"one"))
                .await
                .unwrap(),
            Put::Created
        );
        assert_eq!(
            r.put_if_absent("a/b", Bytes::from_static(b"two"))
                .await
                .unwrap(),
            Put::Exists
        );
        assert_eq!(r.get("a/b").await.unwrap().unwrap(), "one");
        assert_eq!(r.head("a/b").await.unwrap(), Some(3));
        r.delete("a/b").await.unwrap();
        r.delete("a/b").await.unwrap();
        assert_eq!(r.head("a/b").await.unwrap(), None);
        assert!(r.probe().await.is_ok());
        assert!(!r.is_down());
    }

    #[tokio::test]
    async fn files_go_up_in_parts_and_come_back_in_chunks() {
        let r = Remote::in_memory();
        let dir = tempfile::tempdir().unwrap();
        for (name, size) in [("small", 1000), ("big", 2 * PART_SIZE + 12345)] {
            let file = dir.path().join(name);
            let body: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            std::fs::write(&file, &body).unwrap();
            let data = ObjectData::File {
                head: Bytes::from_static(b"head\n"),
                path: file.clone(),
                len: size as u64,
            };
            assert_eq!(data.len(), size as u64 + 5);
            let put = r.put_data_if_absent(name, data.clone()).await.unwrap();
            assert_eq!(put, Put::Created);
            let put = r.put_data_if_absent(name, data).await.unwrap();
            assert_eq!(put, Put::Exists);
            let mut stream = r.get_stream(name).await.unwrap().unwrap();
            assert_eq!(stream.size(), size as u64 + 5);
            let mut got = Vec::new();
            while let Some(chunk) = stream.chunk().await.unwrap() {
                got.extend_from_slice(&chunk);
            }
            assert_eq!(&got[..5], b"head\n");
            assert!(got[5..] == body[..], "{name} came back different");
            // A file that is not the length it was queued with is refused.
            let wrong = ObjectData::File {
                head: Bytes::new(),
                path: file,
                len: size as u64 - 1,
            };
            assert!(r.put_data_if_absent("wrong", wrong).await.is_err());
            assert!(r.get_stream("wrong").await.unwrap().is_none());
        }
        assert!(r.get_stream("none").await.unwrap().is_none());
    }

    /// An open (unnamed temporary) file goes up from its start, whatever
    /// its handle's position, small or in parts, and can be sent again
    /// (a retried upload); one shorter than its announced length is
    /// refused.
    #[tokio::test]
    async fn open_files_go_up_from_their_start_and_again() {
        let r = Remote::in_memory();
        for (name, size) in [("small", 1000), ("big", PART_SIZE + 4321)] {
            let body: Vec<u8> = (0..size).map(|i| (i * 13 % 251) as u8).collect();
            let mut file = tempfile::tempfile().unwrap();
            std::io::Write::write_all(&mut file, &body).unwrap();
            let data = ObjectData::Open {
                file: Arc::new(file),
                len: size as u64,
            };
            assert_eq!(data.len(), size as u64);
            for key in [name.to_owned(), format!("{name}-again")] {
                let put = r.put_data_if_absent(&key, data.clone()).await.unwrap();
                assert_eq!(put, Put::Created);
                let got = r.get(&key).await.unwrap().unwrap();
                assert!(got[..] == body[..], "{key} came back different");
            }
            let ObjectData::Open { file, .. } = data else {
                unreachable!()
            };
            let short = ObjectData::Open {
                file,
                len: size as u64 + 1,
            };
            let key = format!("{name}-short");
            assert!(r.put_data_if_absent(&key, short).await.is_err());
            assert!(r.get(&key).await.unwrap().is_none());
        }
    }
}
