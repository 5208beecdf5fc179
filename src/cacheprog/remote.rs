//! The remote tier of the build cache: the fleet's S3-compatible store
//! (`--remote s3://bucket/prefix`, the same client and durable write-behind
//! queue as modules, `gomodfs_core::remote`).
//!
//! Keys, under the remote's prefix:
//!
//! - `gocache/o/<OutputID hex>`: an object body;
//! - `gocache/a/<ActionID hex>`: its action entry, `<OutputID hex> <size>`
//!   (uploaded after the body, so a reader that finds the entry finds the
//!   body).
//!
//! A get that misses locally asks the remote; the body must have the size
//! the entry names and hash (SHA-256) to its OutputID, else it is refused
//! (a miss, counted in `verify_failures`, logged): a poisoned or damaged
//! remote object can cost a rebuild, never a wrong build. A verified object
//! is stored in the local directory (the scratch one with `--read-only`)
//! and served from there. Puts are queued for upload after they are stored
//! locally; the queue's markers live in `<dir>/upload-queue`, so uploads a
//! helper could not finish are resumed by the next one.

use super::counters::{Counters, add};
use super::local::{self, Hit, LocalDir};
use super::protocol::Key;
use bytes::Bytes;
use gomodfs_core::remote::{Remote, UploadSource, WriteBehind, WriteBehindOptions};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// The key of an object body.
fn object_key(output: &Key) -> String {
    format!("gocache/o/{}", local::hex(output))
}

/// The key of an action entry.
fn action_key(action: &Key) -> String {
    format!("gocache/a/{}", local::hex(action))
}

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
    fn objects(&self, entry: &str) -> gomodfs_core::Result<Option<Vec<(String, Bytes)>>> {
        let Some(action) = local::unhex(entry) else {
            return Ok(None);
        };
        // Gone (trimmed) since it was queued: nothing to upload.
        let Ok(Some(hit)) = self.local.get(&action) else {
            return Ok(None);
        };
        let body = match std::fs::read(&hit.path) {
            Ok(b) => b,
            Err(_) => return Ok(None),
        };
        let line = format!("{} {}\n", local::hex(&hit.output), hit.size);
        Ok(Some(vec![
            (object_key(&hit.output), Bytes::from(body)),
            (action_key(&action), Bytes::from(line)),
        ]))
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
        let hexa = local::hex(action);
        let fetch = |key: String| match self.runtime.block_on(self.remote.get(&key)) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(key, error = %e, "remote build cache get failed: a miss");
                add(&counters.errors, 1);
                None
            }
        };
        let entry = fetch(action_key(action))?;
        let refuse = |why: &str| {
            tracing::warn!(action = %hexa, why, "remote build cache object refused: a miss");
            add(&counters.verify_failures, 1);
            None
        };
        let Some((output, size)) = std::str::from_utf8(&entry)
            .ok()
            .and_then(local::parse_entry)
        else {
            return refuse("malformed action entry");
        };
        let body = fetch(object_key(&output))?;
        add(&counters.remote_bytes, body.len() as u64);
        if body.len() as u64 != size {
            return refuse("body size differs from the entry");
        }
        let sum: Key = Sha256::digest(&body).into();
        if sum != output {
            return refuse("body does not hash to its OutputID");
        }
        let stored = into.create().and_then(|mut object| {
            object.write_all(&body)?;
            into.commit(object, action, &output, size)
        });
        match stored {
            Ok(path) => {
                add(&counters.remote_hits, 1);
                Some(Hit { output, size, path })
            }
            Err(e) => {
                tracing::warn!(action = %hexa, error = %e, "storing a remote build cache object");
                add(&counters.errors, 1);
                None
            }
        }
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
