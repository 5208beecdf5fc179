//! [`FleetTier`]: the remote store as a tier between the local store and
//! the upstream proxy, for module versions.
//!
//! - Reads: the fetcher asks [`FleetTier::module`] (and
//!   [`FleetTier::meta`]) after a local miss. What comes back is only
//!   candidate bytes: the fetcher validates them exactly like an upstream
//!   answer (the same zip rules, `h1:` recomputed and compared with the
//!   recorded one, the same `.info`/`.mod` checks) before the same store put.
//! - Across hosts: before an upstream download, [`FleetTier::lead_or_wait`]
//!   takes the module's lease, or waits for the holder's object.
//! - Writes: after a local put, [`FleetTier::record_upload`] queues the
//!   module in the durable [`WriteBehind`] queue; `ModuleSource`
//!   regenerates the objects from the local store when the upload runs.

use super::client::ObjectData;
use super::client::{Remote, RemoteBody};
use super::layout::{self, ModuleMeta, Object};
use super::lease::{self, Lease};
use super::queue::{Pending, UploadSource, WriteBehind, WriteBehindOptions};
use crate::error::{Error, Result};
use crate::modpath::ModuleVersion;
use crate::proxy::{ProxyFile, check_answer};
pub use crate::stats::RemoteSnapshot;
use crate::store::{MetaFile, Store};
use crate::zipgen::ZipEncoder;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashSet;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Settings of a [`FleetTier`].
#[derive(Debug, Clone)]
pub struct TierOptions {
    /// Lifetime of a download lease.
    pub lease: Duration,
    /// The upload queue's settings.
    pub queue: WriteBehindOptions,
    /// Deflate level of uploaded zips (0 stores).
    pub zip_level: u32,
    /// Largest zip object read from the remote (go's limit on a module
    /// zip, 500 MiB): a larger one is refused before its body is read.
    pub max_zip: u64,
}

impl Default for TierOptions {
    fn default() -> Self {
        TierOptions {
            lease: lease::DEFAULT_LEASE,
            queue: WriteBehindOptions::default(),
            zip_level: 1,
            max_zip: crate::modzip::Limits::default().max_total,
        }
    }
}

/// A module version as found in the remote, not validated yet.
#[derive(Debug)]
pub struct RemoteModule {
    /// The `.info` file (checked like an upstream answer).
    pub info: Bytes,
    /// The `.mod` file (checked like an upstream answer).
    pub go_mod: Bytes,
    /// The zip, to be validated and extracted by the caller: an unnamed
    /// temporary file in the store's scratch directory (gone when closed),
    /// positioned at its start.
    pub zip: std::fs::File,
    /// The `h1:` the uploader recorded: the extracted files must hash to it.
    pub ziphash: String,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    meta_hits: AtomicU64,
    validation_failures: AtomicU64,
    errors: AtomicU64,
    lease_waits: AtomicU64,
    leases_taken: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The remote store as a tier for module versions. See the
/// [module documentation](self).
pub struct FleetTier {
    remote: Arc<Remote>,
    queue: Arc<WriteBehind>,
    options: TierOptions,
    counters: Arc<Counters>,
    /// Leases this process holds, released once the module is uploaded.
    held: Arc<Mutex<HashSet<ModuleVersion>>>,
    /// Where zips read from the remote are written (the store's scratch
    /// directory): a zip is never held in memory whole.
    scratch: PathBuf,
    handle: tokio::runtime::Handle,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for FleetTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetTier")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl Drop for FleetTier {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl FleetTier {
    /// The tier over `remote` for the local `store`, its upload queue in
    /// `queue_dir` (markers left there by an earlier process are uploaded).
    /// Runs its own small runtime for remote calls and uploads.
    pub fn start(
        remote: Remote,
        store: Arc<dyn Store>,
        queue_dir: &Path,
        options: TierOptions,
    ) -> Result<Arc<FleetTier>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("gomodfs-remote")
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the remote runtime", e))?;
        let handle = runtime.handle().clone();
        let remote = Arc::new(remote);
        let held: Arc<Mutex<HashSet<ModuleVersion>>> = Arc::default();
        let scratch = store.scratch_dir();
        let source = Arc::new(ModuleSource {
            store,
            zip_level: options.zip_level,
            remote: remote.clone(),
            held: held.clone(),
            handle: handle.clone(),
        });
        let queue = WriteBehind::open(
            queue_dir,
            remote.clone(),
            source,
            options.queue.clone(),
            handle.clone(),
        )?;
        Ok(Arc::new(FleetTier {
            remote,
            queue,
            options,
            counters: Arc::default(),
            held,
            scratch,
            handle,
            runtime: Some(runtime),
        }))
    }

    /// The remote client (shared with other users of the same bucket).
    pub fn remote(&self) -> &Arc<Remote> {
        &self.remote
    }

    /// The upload queue.
    pub fn queue(&self) -> &Arc<WriteBehind> {
        &self.queue
    }

    /// Checks the remote once (see [`Remote::probe`]); blocking.
    pub fn probe(&self) -> Result<()> {
        let remote = self.remote.clone();
        self.handle.block_on(async move { remote.probe().await })
    }

    /// Waits up to `timeout` for pending uploads; returns how many are left
    /// (uploaded by the next process on this store). Blocking.
    pub fn flush(&self, timeout: Duration) -> u64 {
        self.queue.flush(timeout)
    }

    /// The counters.
    pub fn snapshot(&self) -> RemoteSnapshot {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RemoteSnapshot {
            url: self.remote.url().to_owned(),
            hits: get(&c.hits),
            misses: get(&c.misses),
            meta_hits: get(&c.meta_hits),
            validation_failures: get(&c.validation_failures),
            errors: get(&c.errors),
            lease_waits: get(&c.lease_waits),
            leases_taken: get(&c.leases_taken),
            down: self.remote.is_down(),
            uploads: self.queue.stats(),
        }
    }

    /// Runs `f` on the tier's runtime.
    async fn on_runtime<T: Send + 'static>(
        &self,
        f: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        self.handle.spawn(f).await.map_err(|e| Error::Remote {
            url: self.remote.url().to_owned(),
            cause: format!("remote task failed: {e}"),
        })?
    }

    /// Reads that may use the remote: not while it is known to be down.
    fn usable(&self) -> bool {
        if self.remote.is_down() {
            bump(&self.counters.errors);
            return false;
        }
        true
    }

    /// The module from the remote, if it has it whole. `None` on a miss or
    /// when the remote fails (logged, counted; the caller goes upstream).
    /// The zip is streamed to a temporary file, never held in memory.
    pub async fn module(&self, mv: &ModuleVersion) -> Option<RemoteModule> {
        if !self.usable() {
            return None;
        }
        let remote = self.remote.clone();
        let (mv2, scratch, max_zip) = (mv.clone(), self.scratch.clone(), self.options.max_zip);
        let found = self
            .on_runtime(async move {
                let (meta_key, zip_key) = (
                    layout::key(&mv2, Object::Meta),
                    layout::key(&mv2, Object::Zip),
                );
                let (meta, zip) = tokio::join!(remote.get(&meta_key), remote.get_stream(&zip_key));
                let (Some(meta), Some(mut zip)) = (meta?, zip?) else {
                    return Ok(None);
                };
                // The metadata first: a bad one costs no zip transfer.
                let meta = match ModuleMeta::parse(&mv2, &meta) {
                    Ok(meta) => meta,
                    Err(e) => return Ok(Some(Err(e))),
                };
                if zip.size() > max_zip {
                    let why = format!("{} bytes, over the limit of {max_zip}", zip.size());
                    return Ok(Some(Err(refused_zip(&mv2, why))));
                }
                let file = tempfile::tempfile_in(&scratch).map_err(|e| {
                    Error::io(
                        format!(
                            "{mv2}: creating a temporary file for the fleet tier's zip in {}",
                            scratch.display()
                        ),
                        e,
                    )
                })?;
                Ok(Some(match copy_body(&mut zip, file, max_zip).await? {
                    Ok(zip) => remote_module(&mv2, meta, zip),
                    Err(why) => Err(refused_zip(&mv2, why)),
                }))
            })
            .await;
        match found {
            Ok(Some(Ok(m))) => Some(m),
            Ok(Some(Err(e))) => {
                self.refused(mv, &e);
                None
            }
            Ok(None) => {
                bump(&self.counters.misses);
                None
            }
            Err(e) => {
                bump(&self.counters.errors);
                tracing::warn!(module = mv.path(), version = mv.version(), error = %e, "remote read failed; using upstream");
                None
            }
        }
    }

    /// A remote module refused by validation: logged with module, version
    /// and cause, and counted. The caller fetches it from upstream.
    pub fn refused(&self, mv: &ModuleVersion, error: &Error) {
        bump(&self.counters.validation_failures);
        tracing::warn!(
            module = mv.path(),
            version = mv.version(),
            cause = %error,
            "remote object refused by validation; fetching the module from upstream"
        );
    }

    /// Counts a module read from the remote and stored.
    pub fn hit(&self, mv: &ModuleVersion) {
        bump(&self.counters.hits);
        tracing::info!(
            module = mv.path(),
            version = mv.version(),
            "module from the remote"
        );
    }

    /// Before an upstream download of `mv`: takes the module's lease, or,
    /// when another host holds it, waits for that host's object and
    /// returns it. `None`: download from upstream (this host holds the
    /// lease, the holder gave up, or the remote fails).
    pub async fn lead_or_wait(&self, mv: &ModuleVersion) -> Option<RemoteModule> {
        let key = layout::key(mv, Object::Lease);
        let started = Instant::now();
        let mut waited = false;
        // At most two lifetimes: then download anyway.
        while started.elapsed() < self.options.lease * 2 {
            if !self.usable() {
                return None;
            }
            let remote = self.remote.clone();
            let (key2, ttl) = (key.clone(), self.options.lease);
            match self
                .on_runtime(async move { lease::acquire(&remote, &key2, ttl).await })
                .await
            {
                Ok(Lease::Acquired) => {
                    bump(&self.counters.leases_taken);
                    self.held.lock().insert(mv.clone());
                    // The object may have landed between our miss and this
                    // lease (its uploader releases the lease after the
                    // upload): look once more before downloading.
                    if self.meta_exists(mv).await
                        && let Some(found) = self.module(mv).await
                    {
                        self.release_lease(mv);
                        return Some(found);
                    }
                    return None;
                }
                Ok(Lease::HeldElsewhere { holder, expires }) => {
                    if !waited {
                        waited = true;
                        bump(&self.counters.lease_waits);
                        tracing::info!(module = mv.path(), version = mv.version(), holder = %holder, "another host is downloading this module; waiting for it");
                    }
                    if let Some(found) = self.wait_for_object(mv, expires).await {
                        return Some(found);
                    }
                }
                Err(e) => {
                    bump(&self.counters.errors);
                    tracing::warn!(module = mv.path(), version = mv.version(), error = %e, "remote lease failed; using upstream");
                    return None;
                }
            }
        }
        None
    }

    /// Polls for `mv`'s metadata object until the lease ends (`expires`,
    /// Unix seconds); then reads the module.
    async fn wait_for_object(&self, mv: &ModuleVersion, expires: u64) -> Option<RemoteModule> {
        let meta_key = layout::key(mv, Object::Meta);
        let lease_key = layout::key(mv, Object::Lease);
        let mut poll = Duration::from_millis(50);
        while lease::unix_now() <= expires {
            tokio::time::sleep(poll).await;
            poll = (poll * 2).min(Duration::from_millis(500));
            let remote = self.remote.clone();
            let (mk, lk) = (meta_key.clone(), lease_key.clone());
            let state = self
                .on_runtime(async move {
                    if remote.head(&mk).await?.is_some() {
                        return Ok(Some(true));
                    }
                    // Released without an object: the holder failed.
                    Ok(remote.head(&lk).await?.map(|_| false))
                })
                .await;
            match state {
                Ok(Some(true)) => return self.module(mv).await,
                Ok(Some(false)) => {}
                Ok(None) => return None,
                Err(_) => return None,
            }
        }
        None
    }

    /// Records durably that `mv` (`what`: the zip, or one proxy file) is to
    /// be uploaded; the upload starts when the result is dropped (after the
    /// local put). `None` if the queue failed (logged).
    pub fn record_upload(&self, mv: &ModuleVersion, what: Upload) -> Option<Pending> {
        let entry = format!("{} {mv}", what.word());
        match self.queue.record(&entry) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(module = mv.path(), version = mv.version(), error = %e, "queuing the upload failed");
                None
            }
        }
    }

    /// An upstream download of `mv` failed: lets the other hosts go.
    pub fn download_failed(&self, mv: &ModuleVersion) {
        self.release_lease(mv);
    }

    /// Whether `mv`'s metadata object exists (false on any failure).
    async fn meta_exists(&self, mv: &ModuleVersion) -> bool {
        let remote = self.remote.clone();
        let key = layout::key(mv, Object::Meta);
        matches!(
            self.on_runtime(async move { remote.head(&key).await })
                .await,
            Ok(Some(_))
        )
    }

    /// Releases `mv`'s lease if this process holds it.
    fn release_lease(&self, mv: &ModuleVersion) {
        if self.held.lock().remove(mv) {
            let remote = self.remote.clone();
            let key = layout::key(mv, Object::Lease);
            self.handle.spawn(async move {
                let _ = lease::release(&remote, &key).await;
            });
        }
    }

    /// A `.info` or `.mod` from the remote: from the module's metadata
    /// object (which holds both: the other one comes along), else the file
    /// on its own. Checked like an upstream answer; `None` on a miss, a
    /// refusal or a failure (logged, counted).
    pub async fn meta(&self, mv: &ModuleVersion, file: MetaFile) -> Option<RemoteMeta> {
        if !self.usable() {
            return None;
        }
        let remote = self.remote.clone();
        let mv2 = mv.clone();
        let alone = match file {
            MetaFile::Info => Object::Info,
            MetaFile::Mod => Object::Mod,
        };
        let found = self
            .on_runtime(async move {
                let (meta_key, alone_key) =
                    (layout::key(&mv2, Object::Meta), layout::key(&mv2, alone));
                let (meta, alone) = tokio::join!(remote.get(&meta_key), remote.get(&alone_key));
                Ok((meta?, alone?))
            })
            .await;
        let (data, other) = match found {
            Ok((Some(meta), _)) => match ModuleMeta::parse(mv, &meta) {
                Ok(meta) => {
                    let (info, go_mod) = (Bytes::from(meta.info), Bytes::from(meta.go_mod));
                    match file {
                        MetaFile::Info => (info, Some(go_mod)),
                        MetaFile::Mod => (go_mod, Some(info)),
                    }
                }
                Err(e) => {
                    self.refused(mv, &e);
                    return None;
                }
            },
            Ok((None, Some(data))) => (data, None),
            Ok((None, None)) => return None,
            Err(e) => {
                bump(&self.counters.errors);
                tracing::warn!(module = mv.path(), version = mv.version(), error = %e, "remote read failed; using upstream");
                return None;
            }
        };
        if let Err(e) = check_meta(mv, file, &data) {
            self.refused(mv, &e);
            return None;
        }
        bump(&self.counters.meta_hits);
        // The other file of a metadata object that passed for one: the
        // same checks, and without it only a later read costs more.
        let other = other.and_then(|bytes| match check_meta(mv, file.other(), &bytes) {
            Ok(()) => Some(bytes),
            Err(e) => {
                self.refused(mv, &e);
                None
            }
        });
        Some(RemoteMeta { data, other })
    }
}

/// A `.info` or `.mod` found in the remote ([`FleetTier::meta`]), checked
/// like an upstream answer.
#[derive(Debug, Clone)]
pub struct RemoteMeta {
    /// The file asked for.
    pub data: Bytes,
    /// The other of the two, when both came from the module's metadata
    /// object.
    pub other: Option<Bytes>,
}

/// The module from its metadata object (its `.info` and `.mod` checked
/// like upstream answers) and its zip.
fn remote_module(mv: &ModuleVersion, meta: ModuleMeta, zip: std::fs::File) -> Result<RemoteModule> {
    let info = Bytes::from(meta.info);
    let go_mod = Bytes::from(meta.go_mod);
    check_meta(mv, MetaFile::Info, &info)?;
    check_meta(mv, MetaFile::Mod, &go_mod)?;
    Ok(RemoteModule {
        info,
        go_mod,
        zip,
        ziphash: meta.ziphash,
    })
}

/// A remote zip refused before validation (`why`: its size or length).
fn refused_zip(mv: &ModuleVersion, why: String) -> Error {
    Error::InvalidZip {
        module: mv.path().to_owned(),
        version: mv.version().to_owned(),
        reason: format!("remote zip: {why}"),
    }
}

/// Copies a remote object's body into `file` chunk by chunk, and rewinds
/// it. The inner error is a refusal: a body that ends before or runs past
/// the size the remote announced, or past `max` bytes; the outer one a
/// failed transfer or a failed write of the temporary file.
async fn copy_body(
    body: &mut RemoteBody<'_>,
    mut file: std::fs::File,
    max: u64,
) -> Result<std::result::Result<std::fs::File, String>> {
    let announced = body.size();
    let io = |e| Error::io("writing the fleet tier's zip to a temporary file", e);
    let mut len = 0u64;
    while let Some(chunk) = body.chunk().await? {
        len += chunk.len() as u64;
        if len > announced || len > max {
            return Ok(Err(format!(
                "the body runs past the announced {announced} bytes (or the limit of {max})"
            )));
        }
        file.write_all(&chunk).map_err(io)?;
    }
    if len != announced {
        return Ok(Err(format!(
            "the body ended after {len} of the announced {announced} bytes"
        )));
    }
    file.rewind().map_err(io)?;
    Ok(Ok(file))
}

/// Checks a `.info` or `.mod` of `mv` from the remote like an upstream
/// answer.
fn check_meta(mv: &ModuleVersion, file: MetaFile, data: &[u8]) -> Result<()> {
    let proxy_file = ProxyFile::from(file);
    check_answer(mv, proxy_file, data).map_err(|cause| Error::InvalidZip {
        module: mv.path().to_owned(),
        version: mv.version().to_owned(),
        reason: format!("remote {proxy_file}: {cause}"),
    })
}

/// What of a module version an upload carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    /// The whole module: zip and metadata.
    Module,
    /// The `.info` or `.mod` alone.
    Meta(MetaFile),
}

impl Upload {
    fn word(self) -> &'static str {
        match self {
            Upload::Module => "zip",
            Upload::Meta(f) => f.extension(),
        }
    }
}

/// The module tier's [`UploadSource`]: entries `zip|info|mod <path>@<version>`,
/// objects regenerated from the local store.
struct ModuleSource {
    store: Arc<dyn Store>,
    zip_level: u32,
    remote: Arc<Remote>,
    held: Arc<Mutex<HashSet<ModuleVersion>>>,
    handle: tokio::runtime::Handle,
}

fn parse_entry(entry: &str) -> Result<(Upload, ModuleVersion)> {
    let bad = || Error::store(entry.to_owned(), "not an upload entry of this gomodfs");
    let (word, module) = entry.split_once(' ').ok_or_else(bad)?;
    let (path, version) = module.rsplit_once('@').ok_or_else(bad)?;
    let what = match word {
        "zip" => Upload::Module,
        "info" => Upload::Meta(MetaFile::Info),
        "mod" => Upload::Meta(MetaFile::Mod),
        _ => return Err(bad()),
    };
    Ok((what, ModuleVersion::new(path, version)?))
}

impl UploadSource for ModuleSource {
    fn objects(&self, entry: &str) -> Result<Option<Vec<(String, ObjectData)>>> {
        let (what, mv) = match parse_entry(entry) {
            Ok(parsed) => parsed,
            Err(e) => {
                tracing::warn!(entry, error = %e, "dropping an upload entry");
                return Ok(None);
            }
        };
        match what {
            Upload::Meta(file) => {
                let object = match file {
                    MetaFile::Info => Object::Info,
                    MetaFile::Mod => Object::Mod,
                };
                Ok(self
                    .store
                    .meta(&mv, file)?
                    .map(|data| vec![(layout::key(&mv, object), data.into())]))
            }
            Upload::Module => {
                let Some(module) = self.store.module(&mv)? else {
                    return Ok(None);
                };
                let text = |what: &str, data: &Bytes| {
                    String::from_utf8(data.to_vec())
                        .map_err(|_| Error::store(entry.to_owned(), format!("{what} is not UTF-8")))
                };
                let meta = ModuleMeta {
                    module: mv.path().to_owned(),
                    version: mv.version().to_owned(),
                    ziphash: module.ziphash.clone(),
                    info: text(".info", &module.info)?,
                    go_mod: text(".mod", &module.go_mod)?,
                };
                let prefix = mv.zip_prefix();
                let mut enc = ZipEncoder::new(self.zip_level);
                // The zip goes to an unnamed temporary file (gone once
                // uploaded, also after a kill): never whole in memory.
                let scratch = self.store.scratch_dir();
                let io = |e: std::io::Error| {
                    Error::io(
                        format!("{mv}: writing the zip to upload in {}", scratch.display()),
                        e,
                    )
                };
                let mut zip = std::io::BufWriter::new(tempfile::tempfile_in(&scratch).map_err(io)?);
                let mut digests = Vec::with_capacity(module.files.len());
                for file in &module.files {
                    let data = self.store.blob(&file.blob)?.ok_or_else(|| {
                        Error::damaged(format!("{mv}: {}", file.path), "blob missing")
                    })?;
                    let name = format!("{prefix}{}", file.path);
                    enc.entry_into(&mut zip, &name, &data)?;
                    digests.push((name, crate::dirhash::sha256(&data)));
                }
                zip.write_all(&enc.finish()?).map_err(io)?;
                let zip = zip.into_inner().map_err(|e| io(e.into_error()))?;
                let len = zip.metadata().map_err(io)?.len();
                // A zip with directory entries hashes differently from its
                // files alone, and the store keeps only files: such a
                // module cannot be regenerated exactly, so it stays local
                // (every reader would refuse it).
                if crate::dirhash::h1_from_digests(digests)? != module.ziphash {
                    tracing::info!(
                        module = mv.path(),
                        version = mv.version(),
                        "not uploaded: its zip had directory entries, which a regenerated zip lacks"
                    );
                    return Ok(None);
                }
                // The metadata last: its presence says the module is complete.
                Ok(Some(vec![
                    (
                        layout::key(&mv, Object::Zip),
                        ObjectData::Open {
                            file: Arc::new(zip),
                            len,
                        },
                    ),
                    (layout::key(&mv, Object::Meta), meta.to_bytes().into()),
                ]))
            }
        }
    }

    fn uploaded(&self, entry: &str) {
        let Ok((Upload::Module, mv)) = parse_entry(entry) else {
            return;
        };
        if self.held.lock().remove(&mv) {
            let remote = self.remote.clone();
            let key = layout::key(&mv, Object::Lease);
            self.handle.spawn(async move {
                let _ = lease::release(&remote, &key).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::MemoryStore;

    /// A tier over an in-memory bucket holding module `example.com/a`
    /// v1.0.0 (its metadata object and `zip` as its zip).
    async fn tier_with_module(
        options: TierOptions,
        zip: &'static [u8],
    ) -> (Arc<FleetTier>, ModuleVersion, tempfile::TempDir) {
        let queue = tempfile::tempdir().unwrap();
        let tier = FleetTier::start(
            Remote::in_memory(),
            Arc::new(MemoryStore::new()),
            queue.path(),
            options,
        )
        .unwrap();
        let mv = ModuleVersion::new("example.com/a", "v1.0.0").unwrap();
        let meta = ModuleMeta {
            module: mv.path().to_owned(),
            version: mv.version().to_owned(),
            ziphash: "h1:x".to_owned(),
            info: r#"{"Version":"v1.0.0","Time":"2020-01-01T00:00:00Z"}"#.to_owned(),
            go_mod: "module example.com/a\n".to_owned(),
        };
        let remote = tier.remote.clone();
        let (zip_key, meta_key) = (
            layout::key(&mv, Object::Zip),
            layout::key(&mv, Object::Meta),
        );
        tier.on_runtime(async move {
            remote
                .put_if_absent(&zip_key, Bytes::from_static(zip))
                .await?;
            remote.put_if_absent(&meta_key, meta.to_bytes()).await?;
            Ok(())
        })
        .await
        .unwrap();
        (tier, mv, queue)
    }

    fn contents(mut file: std::fs::File) -> Vec<u8> {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut out).unwrap();
        out
    }

    /// The state a host can meet after a miss: the module landed in the
    /// bucket and its uploader released the lease. Taking the lease must
    /// not lead to a second download: the object is found and the lease
    /// let go.
    #[tokio::test]
    async fn a_lease_taken_after_the_upload_finds_the_object() {
        let (tier, mv, _queue) = tier_with_module(TierOptions::default(), b"zip").await;
        let found = tier.lead_or_wait(&mv).await.unwrap();
        assert_eq!(contents(found.zip), b"zip", "the zip, from its start");
        assert!(tier.held.lock().is_empty(), "the lease is let go");
    }

    /// A zip object larger than the limit is refused (counted as a
    /// validation failure), its body never written anywhere; one at the
    /// limit is read.
    #[tokio::test]
    async fn a_zip_over_the_limit_is_refused_unread() {
        let options = TierOptions {
            max_zip: 4,
            ..TierOptions::default()
        };
        let (tier, mv, _queue) = tier_with_module(options.clone(), b"12345").await;
        assert!(tier.module(&mv).await.is_none());
        let counts = tier.snapshot();
        assert_eq!((counts.validation_failures, counts.errors), (1, 0));

        let (tier, mv, _queue) = tier_with_module(options, b"1234").await;
        let found = tier.module(&mv).await.unwrap();
        assert_eq!(contents(found.zip), b"1234");
        assert_eq!(tier.snapshot().validation_failures, 0);
    }

    /// A zip body is copied only when it is exactly as long as announced:
    /// one that ends early or runs long is refused (the inner error),
    /// one that fails mid-way is a transfer error (the outer one); the
    /// temporary file goes with it.
    #[tokio::test]
    async fn a_body_that_ends_early_runs_long_or_fails_is_not_taken() {
        let remote = Remote::in_memory();
        let chunk = |s: &'static [u8]| Ok(Bytes::from_static(s));
        let file = || tempfile::tempfile().unwrap();
        let copy = |size, chunks, max| {
            let remote = &remote;
            async move {
                let mut body = RemoteBody::from_chunks(remote, size, chunks);
                copy_body(&mut body, file(), max).await
            }
        };

        let f = copy(6, vec![chunk(b"abc"), chunk(b"def")], 6)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(contents(f), b"abcdef".to_vec());

        let short = copy(6, vec![chunk(b"abc")], 100).await.unwrap();
        assert!(
            short
                .unwrap_err()
                .contains("ended after 3 of the announced 6")
        );
        let long = copy(4, vec![chunk(b"abc"), chunk(b"def")], 100)
            .await
            .unwrap();
        assert!(long.unwrap_err().contains("runs past"));
        let over = copy(6, vec![chunk(b"abc"), chunk(b"def")], 5)
            .await
            .unwrap();
        assert!(over.unwrap_err().contains("limit of 5"));

        let failed = copy(
            6,
            vec![
                chunk(b"abc"),
                Err(object_store::Error::Generic {
                    store: "test",
                    source: "connection reset".into(),
                }),
            ],
            100,
        )
        .await;
        let Err(e) = failed else {
            panic!("a failed transfer was taken");
        };
        assert!(e.to_string().contains("connection reset"), "{e}");
    }
}
