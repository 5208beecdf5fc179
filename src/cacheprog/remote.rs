//! The remote tier of the build cache: the fleet's S3-compatible store
//! (`--remote s3://bucket/prefix`, the same client and durable write-behind
//! queue as modules, `gomodfs_core::remote`).
//!
//! One object per action, under the remote's prefix:
//! `gocache/ao/<ActionID hex>` holds a header line `<OutputID hex> <size>`
//! and then the body, so a remote hit is one GET, and an object is written
//! whole or not at all (no entry ever names a missing body).
//!
//! A get that misses locally asks the remote and streams the body into a
//! temporary file in the local directory (the scratch one with
//! `--read-only`) while it hashes it: the body must have the size the
//! header names and hash (SHA-256) to its OutputID, else the temporary file
//! is removed and the get is a miss (counted in `verify_failures`, logged):
//! a poisoned or damaged remote object can cost a rebuild, never a wrong
//! build. A verified object is renamed into place and served from there.
//! Puts are queued for upload after they are stored locally; the upload
//! reads the local file as it goes (memory bounded whatever the size). The
//! queue's markers live in `<dir>/upload-queue`, so uploads a helper could
//! not finish are resumed by the next one.

use super::counters::{Counters, add};
use super::local::{self, Hit, LocalDir};
use super::protocol::Key;
use bytes::Bytes;
use gomodfs_core::remote::{
    ObjectData, Remote, RemoteBody, UploadSource, WriteBehind, WriteBehindOptions,
};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// The key of the object of an action: header line, then body.
pub fn object_key(action: &Key) -> String {
    format!("gocache/ao/{}", local::hex(action))
}

/// The header line of an object.
pub fn header(output: &Key, size: u64) -> String {
    format!("{} {size}\n", local::hex(output))
}

/// A header line is at most this long (64 hex digits, a space, a size).
const MAX_HEADER: usize = 128;

/// The remote tier of one helper.
pub struct RemoteTier {
    remote: Arc<Remote>,
    queue: Option<Arc<WriteBehind>>,
    runtime: tokio::runtime::Runtime,
}

/// Uploads read what the local directory holds for an action.
struct LocalSource {
    local: LocalDir,
}

impl UploadSource for LocalSource {
    fn objects(&self, entry: &str) -> gomodfs_core::Result<Option<Vec<(String, ObjectData)>>> {
        let Some(action) = local::unhex(entry) else {
            return Ok(None);
        };
        // Gone (trimmed) since it was queued: nothing to upload.
        let Ok(Some(hit)) = self.local.get(&action) else {
            return Ok(None);
        };
        let data = ObjectData::File {
            head: Bytes::from(header(&hit.output, hit.size)),
            path: hit.path,
            len: hit.size,
        };
        Ok(Some(vec![(object_key(&action), data)]))
    }
}

/// How a remote get ended.
enum Fetched {
    Missing,
    Stored(Hit),
    /// Refused by the checks (a miss, counted as a verification failure).
    Refused(&'static str),
    /// The remote or the local directory failed (a miss, counted as an
    /// error).
    Failed(String),
}

impl From<gomodfs_core::Error> for Fetched {
    fn from(e: gomodfs_core::Error) -> Fetched {
        Fetched::Failed(e.to_string())
    }
}

/// Reads an object's header line; returns it and the body bytes that came
/// with it.
async fn read_header(body: &mut RemoteBody<'_>) -> Result<(Key, u64, Bytes, u64), Fetched> {
    let mut head = Vec::new();
    loop {
        let Some(chunk) = body.chunk().await? else {
            return Err(Fetched::Refused("object ends inside its header"));
        };
        if let Some(nl) = chunk.iter().position(|&b| b == b'\n') {
            head.extend_from_slice(&chunk[..=nl]);
            let parsed = std::str::from_utf8(&head).ok().and_then(local::parse_entry);
            let Some((output, size)) = parsed else {
                return Err(Fetched::Refused("malformed header"));
            };
            return Ok((output, size, chunk.slice(nl + 1..), head.len() as u64));
        }
        head.extend_from_slice(&chunk);
        if head.len() > MAX_HEADER {
            return Err(Fetched::Refused("malformed header"));
        }
    }
}

impl RemoteTier {
    /// The tier over `remote`; uploads (unless `read_only`) go through a
    /// queue in `<shared>/upload-queue` reading from `shared`.
    pub fn open(
        remote: Remote,
        shared: &LocalDir,
        read_only: bool,
    ) -> Result<RemoteTier, crate::Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|source| crate::Error::Io {
                context: "starting the remote client".into(),
                source,
            })?;
        let remote = Arc::new(remote);
        let queue = if read_only {
            None
        } else {
            let source = Arc::new(LocalSource {
                local: shared.clone(),
            });
            Some(WriteBehind::open(
                &shared.root().join("upload-queue"),
                remote.clone(),
                source,
                WriteBehindOptions::default(),
                runtime.handle().clone(),
            )?)
        };
        Ok(RemoteTier {
            remote,
            queue,
            runtime,
        })
    }

    /// Looks `action` up in the remote; a verified object is stored in
    /// `into` and returned.
    pub fn get(&self, action: &Key, into: &LocalDir, counters: &Counters) -> Option<Hit> {
        if self.remote.is_down() {
            return None;
        }
        let key = object_key(action);
        let fetched = self
            .runtime
            .block_on(self.fetch(&key, action, into, counters))
            .unwrap_or_else(|f| f);
        match fetched {
            Fetched::Stored(hit) => {
                add(&counters.remote_hits, 1);
                Some(hit)
            }
            Fetched::Missing => None,
            Fetched::Refused(why) => {
                tracing::warn!(key, why, "remote build cache object refused: a miss");
                add(&counters.verify_failures, 1);
                None
            }
            Fetched::Failed(error) => {
                tracing::warn!(key, error, "remote build cache get failed: a miss");
                add(&counters.errors, 1);
                None
            }
        }
    }

    /// Streams the object at `key` into a temporary file of `into` while
    /// hashing it; renames it into place if it checks out (the temporary
    /// file is removed otherwise).
    async fn fetch(
        &self,
        key: &str,
        action: &Key,
        into: &LocalDir,
        counters: &Counters,
    ) -> Result<Fetched, Fetched> {
        let Some(mut body) = self.remote.get_stream(key).await? else {
            return Ok(Fetched::Missing);
        };
        let (output, size, first, head_len) = read_header(&mut body).await?;
        if body.size() != head_len + size {
            return Err(Fetched::Refused("body size differs from the header"));
        }
        let local_error = |e: std::io::Error| {
            Fetched::Failed(format!("writing into {}: {e}", into.root().display()))
        };
        let mut object = into.create().map_err(local_error)?;
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        let mut chunk = first;
        loop {
            written += chunk.len() as u64;
            add(&counters.remote_bytes, chunk.len() as u64);
            if written > size {
                return Err(Fetched::Refused("body longer than the header says"));
            }
            hasher.update(&chunk);
            object.write_all(&chunk).map_err(local_error)?;
            match body.chunk().await? {
                Some(next) => chunk = next,
                None => break,
            }
        }
        if written != size {
            return Err(Fetched::Refused("body shorter than the header says"));
        }
        if Key::from(hasher.finalize()) != output {
            return Err(Fetched::Refused("body does not hash to its OutputID"));
        }
        let path = into
            .commit(object, action, &output, size)
            .map_err(local_error)?;
        Ok(Fetched::Stored(Hit { output, size, path }))
    }

    /// Queues the upload of what is stored locally for `action`.
    pub fn upload(&self, action: &Key) {
        if let Some(queue) = &self.queue
            && let Err(e) = queue.enqueue(&local::hex(action))
        {
            tracing::warn!(action = %local::hex(action), error = %e, "queuing a build cache upload");
        }
    }

    /// Waits up to `timeout` for the uploads in flight; returns how many are
    /// left (the next helper resumes them).
    pub fn flush(&self, timeout: Duration) -> u64 {
        self.queue.as_ref().map_or(0, |q| q.flush(timeout))
    }

    /// The remote's URL, for messages.
    pub fn url(&self) -> &str {
        self.remote.url()
    }
}
