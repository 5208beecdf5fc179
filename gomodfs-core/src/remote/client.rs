//! [`Remote`]: get, head, put-if-absent and delete of one key in the remote
//! store, with the prefix applied and every call bounded in time.
//!
//! After a failure (not a "not found"), the remote counts as down for
//! [`DOWN_FOR`]: reads skip it ([`Remote::is_down`]) so that a remote that
//! is down, slow or answering 5xx costs a reader at most one timeout per
//! [`DOWN_FOR`], not one per file.

use crate::error::{Error, Result};
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a failed remote is skipped by readers.
pub const DOWN_FOR: Duration = Duration::from_secs(10);

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
    down_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("url", &self.url).finish()
    }
}

impl Remote {
    /// A remote over `store`, its keys under `prefix` (may be empty), named
    /// `url` in messages; each call gives up after `timeout`.
    pub fn new(store: Arc<dyn ObjectStore>, url: &str, prefix: &str, timeout: Duration) -> Remote {
        Remote {
            store,
            url: url.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            timeout,
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
            .bounded(key, async {
                match self.store.get(&path).await {
                    Ok(found) => found.bytes().await.map(Some),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await;
        self.note(result)
    }

    /// The size of the object at `key`, `None` if there is none.
    pub async fn head(&self, key: &str) -> Result<Option<u64>> {
        let path = self.path(key)?;
        let result = self
            .bounded(key, async {
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
        let result = self
            .bounded(key, async {
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

    /// Deletes the object at `key` (no error if there is none).
    pub async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        let result = self
            .bounded(key, async {
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
            self.timeout,
            self.store.list_with_delimiter(prefix.as_ref()),
        )
        .await;
        match listed {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.error(probe_cause(&e))),
            Err(_) => Err(self.error(format!(
                "no answer within {:?} (is the endpoint right and up?)",
                self.timeout
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

    /// Runs `call` for `key` within the timeout; errors become
    /// [`Error::Remote`] naming the key.
    async fn bounded<T>(
        &self,
        key: &str,
        call: impl Future<Output = object_store::Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.error(format!("{key}: {}", one_line(&e)))),
            Err(_) => Err(self.error(format!("{key}: no answer within {:?}", self.timeout))),
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

/// Why the start-up probe failed, in words a user can act on.
fn probe_cause(e: &object_store::Error) -> String {
    let detail = one_line(e);
    let cause = if detail.contains("NoSuchBucket") {
        "the bucket does not exist"
    } else if detail.contains("InvalidAccessKeyId")
        || detail.contains("SignatureDoesNotMatch")
        || detail.contains("AccessDenied")
        || detail.contains("403")
    {
        "access denied: wrong or unauthorized credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
    } else if detail.contains("error sending request")
        || detail.contains("connect")
        || detail.contains("dns")
    {
        "cannot reach the endpoint"
    } else {
        "the remote store refused a listing"
    };
    format!("{cause} ({detail})")
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
}
