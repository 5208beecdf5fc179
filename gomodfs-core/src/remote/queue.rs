//! [`WriteBehind`]: a durable queue of uploads to a [`Remote`].
//!
//! An entry is a caller-chosen string (for modules `zip <module>@<version>`;
//! for build-cache objects an action id). Queuing one writes a marker file
//! into the queue's directory (written, synced, renamed, directory synced)
//! before anything else, so an entry survives `kill -9`; the marker is
//! removed once every object of the entry is in the remote. A process that
//! opens the queue picks up the markers it finds.
//!
//! The bytes to upload come from the caller's [`UploadSource`], asked when
//! the upload starts (for modules: regenerated from the local store), so
//! the queue holds names, not data. Uploads run in the background with
//! bounded concurrency and are retried with exponential backoff until they
//! succeed; nothing waits for them except [`WriteBehind::flush`].

use super::client::{ObjectData, Remote};
use crate::error::{Error, Result};
pub use crate::stats::QueueStats;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What to upload for a queued entry.
pub trait UploadSource: Send + Sync + 'static {
    /// The objects of `entry` as `(key, data)`, uploaded in this order with
    /// [`Remote::put_data_if_absent`] (put the object readers look for
    /// last); a file is read while it is uploaded.
    /// `Ok(None)`: there is nothing to upload any more (the entry is
    /// dropped). Called on a blocking thread.
    fn objects(&self, entry: &str) -> Result<Option<Vec<(String, ObjectData)>>>;

    /// Called once every object of `entry` is in the remote.
    fn uploaded(&self, _entry: &str) {}
}

/// Settings of a [`WriteBehind`] queue.
#[derive(Debug, Clone)]
pub struct WriteBehindOptions {
    /// Uploads running at once.
    pub concurrency: usize,
    /// The first retry waits this long; each further one twice as long.
    pub retry_initial: Duration,
    /// ... up to this.
    pub retry_max: Duration,
}

impl Default for WriteBehindOptions {
    fn default() -> Self {
        WriteBehindOptions {
            concurrency: 4,
            retry_initial: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
        }
    }
}

/// A durable write-behind queue of uploads. See the [module documentation](self).
pub struct WriteBehind {
    dir: PathBuf,
    remote: Arc<Remote>,
    source: Arc<dyn UploadSource>,
    options: WriteBehindOptions,
    runtime: tokio::runtime::Handle,
    slots: Arc<tokio::sync::Semaphore>,
    /// Marker names queued or uploading in this process.
    active: Mutex<HashSet<String>>,
    idle: tokio::sync::Notify,
    done: AtomicU64,
    failed: AtomicU64,
    bytes: AtomicU64,
    existing: AtomicU64,
}

/// An entry recorded durably but not started yet: dropping it (or
/// [`Pending::start`]) starts the upload. Record before writing what the
/// entry names locally, start after, so a crash in between leaves a marker
/// (the next process finds nothing or everything to upload) rather than a
/// local object that never reaches the remote.
#[must_use = "dropping a Pending starts its upload at once"]
pub struct Pending {
    queue: Arc<WriteBehind>,
    entry: Option<String>,
}

impl Pending {
    /// Starts the upload now.
    pub fn start(mut self) {
        if let Some(entry) = self.entry.take() {
            self.queue.spawn(entry);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            self.queue.spawn(entry);
        }
    }
}

/// Marker files end in this; anything else in the directory is ignored
/// (temporary files are removed at start).
const MARKER: &str = ".upload";

impl WriteBehind {
    /// Opens the queue in `dir` (created if needed), uploading to `remote`
    /// what `source` produces, on `runtime`; every marker already in `dir`
    /// (left by an earlier process) is started.
    pub fn open(
        dir: &Path,
        remote: Arc<Remote>,
        source: Arc<dyn UploadSource>,
        options: WriteBehindOptions,
        runtime: tokio::runtime::Handle,
    ) -> Result<Arc<WriteBehind>> {
        let io = |what: &str, e| Error::io(format!("{what} {}", dir.display()), e);
        std::fs::create_dir_all(dir).map_err(|e| io("creating the upload queue", e))?;
        let queue = Arc::new(WriteBehind {
            dir: dir.to_owned(),
            remote,
            source,
            slots: Arc::new(tokio::sync::Semaphore::new(options.concurrency.max(1))),
            options,
            runtime,
            active: Mutex::default(),
            idle: tokio::sync::Notify::new(),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            existing: AtomicU64::new(0),
        });
        let mut left = 0;
        for item in std::fs::read_dir(dir).map_err(|e| io("reading the upload queue", e))? {
            let item = item.map_err(|e| io("reading the upload queue", e))?;
            let name = item.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(item.path());
            } else if name.ends_with(MARKER) {
                match std::fs::read_to_string(item.path()) {
                    Ok(entry) if !entry.is_empty() => {
                        left += 1;
                        queue.spawn(entry);
                    }
                    // A marker is renamed into place whole; an unreadable
                    // one is not ours to keep.
                    _ => {
                        let _ = std::fs::remove_file(item.path());
                    }
                }
            }
        }
        if left > 0 {
            tracing::info!(pending = left, dir = %dir.display(), "resuming uploads left by an earlier process");
        }
        Ok(queue)
    }

    /// Records `entry` durably; its upload starts when the returned
    /// [`Pending`] is started or dropped.
    pub fn record(self: &Arc<Self>, entry: &str) -> Result<Pending> {
        let name = marker_name(entry);
        let path = self.dir.join(&name);
        if !path.exists() {
            let tmp = self.dir.join(format!("{name}.tmp"));
            let write = || -> std::io::Result<()> {
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(entry.as_bytes())?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)?;
                std::fs::File::open(&self.dir)?.sync_all()
            };
            write().map_err(|e| Error::io(format!("queuing the upload of {entry}"), e))?;
        }
        Ok(Pending {
            queue: self.clone(),
            entry: Some(entry.to_owned()),
        })
    }

    /// Records `entry` durably and starts its upload.
    pub fn enqueue(self: &Arc<Self>, entry: &str) -> Result<()> {
        self.record(entry)?.start();
        Ok(())
    }

    /// The counters.
    pub fn stats(&self) -> QueueStats {
        QueueStats {
            done: self.done.load(Ordering::Relaxed),
            pending: self.active.lock().len() as u64,
            failed: self.failed.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            existing: self.existing.load(Ordering::Relaxed),
        }
    }

    /// Waits until nothing is pending or `timeout` has passed; returns how
    /// many entries are still pending (their markers stay for the next
    /// process). Must not be called from inside the queue's runtime.
    pub fn flush(&self, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let pending = self.active.lock().len() as u64;
            if pending == 0 || Instant::now() >= deadline {
                return pending;
            }
            std::thread::sleep(Duration::from_millis(20).min(deadline - Instant::now()));
        }
    }

    /// Waits (async) until nothing is pending.
    pub async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.active.lock().is_empty() {
                return;
            }
            notified.await;
        }
    }

    fn spawn(self: &Arc<Self>, entry: String) {
        let name = marker_name(&entry);
        if !self.active.lock().insert(name.clone()) {
            return; // already queued in this process
        }
        let queue = self.clone();
        self.runtime.spawn(async move {
            queue.upload_until_done(&entry).await;
            let _ = std::fs::remove_file(queue.dir.join(&name));
            queue.active.lock().remove(&name);
            queue.done.fetch_add(1, Ordering::Relaxed);
            queue.idle.notify_waiters();
        });
    }

    async fn upload_until_done(self: &Arc<Self>, entry: &str) {
        let mut wait = self.options.retry_initial;
        loop {
            let result = match self.slots.clone().acquire_owned().await {
                Ok(_slot) => self.upload_once(entry).await,
                Err(_) => return, // closed: never happens
            };
            match result {
                Ok(()) => {
                    self.source.uploaded(entry);
                    return;
                }
                Err(e) => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(entry, error = %e, retry_in_ms = wait.as_millis() as u64, "upload failed; will retry");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.options.retry_max);
                }
            }
        }
    }

    async fn upload_once(&self, entry: &str) -> Result<()> {
        let source = self.source.clone();
        let owned = entry.to_owned();
        let objects = tokio::task::spawn_blocking(move || source.objects(&owned))
            .await
            .map_err(|e| Error::store(entry.to_owned(), e))??;
        let Some(objects) = objects else {
            tracing::debug!(entry, "nothing to upload any more");
            return Ok(());
        };
        for (key, data) in objects {
            let len = data.len();
            match self.remote.put_data_if_absent(&key, data).await? {
                super::client::Put::Created => {
                    self.bytes.fetch_add(len, Ordering::Relaxed);
                }
                super::client::Put::Exists => {
                    self.existing.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        tracing::debug!(entry, "uploaded");
        Ok(())
    }
}

/// The marker file name of `entry`: a hash, so any string is a safe name.
fn marker_name(entry: &str) -> String {
    let digest = Sha256::digest(entry.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}{MARKER}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bytes::Bytes;

    /// Uploads `<entry>/a` and `<entry>/b`; entries starting with `gone`
    /// have nothing to upload.
    struct Letters;

    impl UploadSource for Letters {
        fn objects(&self, entry: &str) -> Result<Option<Vec<(String, ObjectData)>>> {
            if entry.starts_with("gone") {
                return Ok(None);
            }
            Ok(Some(vec![
                (format!("{entry}/a"), Bytes::from_static(b"a").into()),
                (format!("{entry}/b"), Bytes::from_static(b"b").into()),
            ]))
        }
    }

    #[test]
    fn markers_survive_until_uploaded_and_a_new_queue_resumes_them() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let remote = Arc::new(Remote::in_memory());
        let open = || {
            WriteBehind::open(
                dir.path(),
                remote.clone(),
                Arc::new(Letters),
                WriteBehindOptions::default(),
                rt.handle().clone(),
            )
            .unwrap()
        };
        // A marker left by an earlier process.
        let pending = open().record("left").unwrap();
        std::mem::forget(pending); // as if killed before starting it
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        let queue = open();
        queue.enqueue("x/y").unwrap();
        queue.enqueue("gone").unwrap();
        assert_eq!(queue.flush(Duration::from_secs(10)), 0);
        rt.block_on(async {
            for key in ["left/a", "left/b", "x/y/a", "x/y/b"] {
                assert!(remote.get(key).await.unwrap().is_some(), "{key}");
            }
        });
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let stats = queue.stats();
        assert_eq!((stats.done, stats.pending, stats.bytes), (3, 0, 4));
    }
}
