//! A bounded on-disk cache of the `.zip`s the GOPROXY endpoint generates.
//!
//! Generating a zip deflates every file of the module again; with the
//! cache, the second request for the same zip is a file read. Only the
//! GOPROXY endpoint uses it: the filesystem's read path never does.
//!
//! - One file per zip, named by module version, `h1:` and deflate level
//!   ([`ZipCache::name`]): a name can only ever hold one content, so an
//!   entry is never stale; a name that would not fit a file name is not
//!   cached.
//! - An entry is written to a temporary file while the response streams,
//!   synced and renamed into place only after the whole zip was sent, so a
//!   crash or a client that went away never leaves a partial entry.
//! - Size-capped: when the entries exceed [`ZipCacheOptions::max_bytes`],
//!   the least recently used are deleted (recency is kept in memory; at
//!   start-up the files' modification times order them). A zip larger
//!   than the cap is not cached.
//! - A zip the fetcher validated while a `.zip` request waited for it
//!   ([`ZipCache::want`]) is handed to that request as fetched
//!   ([`FetchedZips`]; its temporary file, no copy), which streams it and
//!   keeps it under a name of its own ([`ZipCache::fetched_name`]):
//!   serving it saves generating the zip, the costly part of a first
//!   request.
//! - Any cache failure (disk full, a file deleted by hand or by another
//!   process) is logged and the zip is generated as without a cache.

use gomodfs_core::{FetchedZips, ModuleVersion};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Settings of the zip cache ([`crate::HttpOptions::zip_cache`]).
#[derive(Debug, Clone)]
pub struct ZipCacheOptions {
    /// Directory of the cache (created if missing). `gomodfs serve`
    /// uses `<store>/zip-cache`.
    pub dir: PathBuf,
    /// Most bytes of zips kept; least recently used are deleted beyond.
    pub max_bytes: u64,
}

/// Suffix of cache entries.
const SUFFIX: &str = ".zip";
/// Prefix of entries being written.
const TMP_PREFIX: &str = ".tmp-";
/// Temporary files older than this at start-up are leftovers of a crash.
const TMP_STALE: Duration = Duration::from_secs(3600);
/// Longest entry name (file systems allow 255 bytes).
const NAME_MAX: usize = 250;

#[derive(Debug)]
struct Entry {
    size: u64,
    used: u64,
}

#[derive(Debug, Default)]
struct Index {
    entries: HashMap<String, Entry>,
    total: u64,
    tick: u64,
}

/// The cache: a directory and the in-memory index of its entries.
#[derive(Debug)]
pub(crate) struct ZipCache {
    dir: PathBuf,
    max_bytes: u64,
    index: Mutex<Index>,
    tmp_seq: AtomicU64,
    /// Modules whose `.zip` requests wait for a fetch: how many wait, and
    /// the zip the fetch handed over (its `h1:` and file), until one of
    /// them takes it.
    wanted: Mutex<HashMap<ModuleVersion, Waiting>>,
}

/// The `.zip` requests waiting for one module's fetch.
#[derive(Debug, Default)]
struct Waiting {
    requests: usize,
    handed: Option<(String, File)>,
    /// Woken when a zip is handed over.
    arrived: Arc<tokio::sync::Notify>,
}

impl ZipCache {
    /// Opens (creates) the cache directory and indexes what it holds.
    pub(crate) fn open(options: &ZipCacheOptions) -> std::io::Result<ZipCache> {
        std::fs::create_dir_all(&options.dir)?;
        let mut found = Vec::new();
        for item in std::fs::read_dir(&options.dir)? {
            let item = item?;
            let name = item.file_name().to_string_lossy().into_owned();
            let Ok(meta) = item.metadata() else { continue };
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if name.starts_with(TMP_PREFIX) {
                let old = modified.elapsed().map(|a| a > TMP_STALE).unwrap_or(false);
                if old {
                    let _ = std::fs::remove_file(item.path());
                }
            } else if name.ends_with(SUFFIX) && meta.is_file() {
                found.push((modified, name, meta.len()));
            }
        }
        found.sort();
        let mut index = Index::default();
        for (_, name, size) in found {
            index.tick += 1;
            index.total += size;
            let used = index.tick;
            index.entries.insert(name, Entry { size, used });
        }
        let cache = ZipCache {
            dir: options.dir.clone(),
            max_bytes: options.max_bytes,
            index: Mutex::new(index),
            tmp_seq: AtomicU64::new(0),
            wanted: Mutex::default(),
        };
        cache.evict();
        tracing::debug!(
            dir = %cache.dir.display(),
            entries = cache.index.lock().entries.len(),
            bytes = cache.index.lock().total,
            "zip cache opened"
        );
        Ok(cache)
    }

    /// The entry name of a zip: `<escaped path with / as +>@<escaped
    /// version>.<h1 in URL-safe base64>.z<level>.zip` (module paths have no
    /// `+` or `@`, and escaped ones no upper case, so names are unique on
    /// case-insensitive file systems too); `None` if it would be too long.
    pub(crate) fn name(mv: &ModuleVersion, ziphash: &str, level: u32) -> Option<String> {
        Self::entry_name(mv, ziphash, &format!("z{level}"))
    }

    /// The entry name of a zip kept as fetched (upstream's or the fleet
    /// tier's bytes, not generated here): as [`ZipCache::name`] with `f`
    /// for the level.
    pub(crate) fn fetched_name(mv: &ModuleVersion, ziphash: &str) -> Option<String> {
        Self::entry_name(mv, ziphash, "f")
    }

    fn entry_name(mv: &ModuleVersion, ziphash: &str, kind: &str) -> Option<String> {
        let hash: String = ziphash
            .chars()
            .map(|c| match c {
                '/' => '_',
                '+' => '-',
                ':' => '-',
                c => c,
            })
            .collect();
        let name = format!(
            "{}@{}.{hash}.{kind}{SUFFIX}",
            mv.escaped_path().replace('/', "+"),
            mv.escaped_version()
        );
        (name.len() <= NAME_MAX).then_some(name)
    }

    /// The cached zip `name`, opened, with its length; `None` when it is
    /// not cached (or its file disappeared).
    pub(crate) fn get(&self, name: &str) -> Option<(File, u64)> {
        {
            let mut index = self.index.lock();
            index.tick += 1;
            let tick = index.tick;
            index.entries.get_mut(name)?.used = tick;
        }
        let opened = File::open(self.dir.join(name)).and_then(|f| {
            let len = f.metadata()?.len();
            Ok((f, len))
        });
        match opened {
            Ok(found) => Some(found),
            Err(e) => {
                tracing::debug!(name, error = %e, "zip cache: entry gone");
                self.forget(name);
                None
            }
        }
    }

    /// A writer for a new entry `name` (a temporary file until
    /// [`Pending::commit`]); `None` if the file cannot be created.
    pub(crate) fn start(&self, name: &str) -> Option<Pending<'_>> {
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .dir
            .join(format!("{TMP_PREFIX}{}-{seq}", std::process::id()));
        match File::create(&tmp) {
            Ok(file) => Some(Pending {
                cache: self,
                name: name.to_owned(),
                tmp,
                file: Some(file),
                size: 0,
            }),
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "zip cache: cannot create an entry");
                None
            }
        }
    }

    /// Marks `mv`'s zip as wanted until the guard is dropped: a fetch
    /// finishing meanwhile hands its zip over ([`Want::take`]).
    pub(crate) fn want(self: &Arc<Self>, mv: &ModuleVersion) -> Want {
        self.wanted.lock().entry(mv.clone()).or_default().requests += 1;
        Want {
            cache: self.clone(),
            mv: mv.clone(),
        }
    }

    fn forget(&self, name: &str) {
        let mut index = self.index.lock();
        if let Some(e) = index.entries.remove(name) {
            index.total -= e.size;
        }
    }

    fn insert(&self, name: String, size: u64) {
        {
            let mut index = self.index.lock();
            index.tick += 1;
            let used = index.tick;
            if let Some(old) = index.entries.insert(name, Entry { size, used }) {
                index.total -= old.size;
            }
            index.total += size;
        }
        self.evict();
    }

    /// Deletes least recently used entries until the total fits the cap.
    fn evict(&self) {
        loop {
            let victim = {
                let mut index = self.index.lock();
                if index.total <= self.max_bytes {
                    return;
                }
                let Some(name) = index
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.used)
                    .map(|(n, _)| n.clone())
                else {
                    return;
                };
                if let Some(e) = index.entries.remove(&name) {
                    index.total -= e.size;
                }
                name
            };
            if let Err(e) = std::fs::remove_file(self.dir.join(&victim)) {
                tracing::debug!(name = victim, error = %e, "zip cache: evicting failed");
            }
        }
    }

    /// Bytes of zips the index holds.
    #[cfg(test)]
    fn total(&self) -> u64 {
        self.index.lock().total
    }
}

/// A `.zip` request waiting for its module ([`ZipCache::want`]).
pub(crate) struct Want {
    cache: Arc<ZipCache>,
    mv: ModuleVersion,
}

/// A zip a fetch handed over: its `h1:`, file (read with positional reads
/// only, see [`FetchedZips::keep`]) and length.
pub(crate) type Handed = (String, File, u64);

impl Want {
    /// The zip a fetch handed over for this module, if one did: only one
    /// of the requests waiting gets it.
    pub(crate) fn take(&self) -> Option<Handed> {
        let (hash, file) = self.cache.wanted.lock().get_mut(&self.mv)?.handed.take()?;
        let len = file.metadata().ok()?.len();
        Some((hash, file, len))
    }

    /// Waits until a fetch hands this module's zip over, and takes it
    /// (forever, if none does: race it against the fetch itself).
    pub(crate) async fn handed(&self) -> Handed {
        let arrived = self
            .cache
            .wanted
            .lock()
            .get(&self.mv)
            .map(|w| w.arrived.clone());
        let Some(arrived) = arrived else {
            return std::future::pending().await;
        };
        loop {
            let notified = arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(handed) = self.take() {
                return handed;
            }
            notified.await;
        }
    }
}

impl Drop for Want {
    fn drop(&mut self) {
        let mut wanted = self.cache.wanted.lock();
        if let Some(w) = wanted.get_mut(&self.mv) {
            w.requests -= 1;
            if w.requests == 0 {
                wanted.remove(&self.mv); // and a zip nobody took
            }
        }
    }
}

impl FetchedZips for ZipCache {
    fn wants(&self, module: &ModuleVersion) -> bool {
        self.wanted.lock().contains_key(module)
    }

    fn keep(&self, module: &ModuleVersion, ziphash: &str, zip: &mut File) {
        // A second handle: the fetcher closes its own when this returns.
        let file = match zip.try_clone() {
            Ok(file) => file,
            Err(e) => {
                tracing::debug!(%module, error = %e, "zip cache: cannot keep a fetched zip");
                return;
            }
        };
        if let Some(w) = self.wanted.lock().get_mut(module) {
            w.handed = Some((ziphash.to_owned(), file));
            w.arrived.notify_waiters();
        }
    }
}

/// An entry being written; deleted unless [`Pending::commit`]ted.
pub(crate) struct Pending<'a> {
    cache: &'a ZipCache,
    name: String,
    tmp: PathBuf,
    file: Option<File>,
    size: u64,
}

impl Pending<'_> {
    /// Appends `data`; after a failure (logged once) the entry is dropped
    /// and further writes do nothing.
    pub(crate) fn write(&mut self, data: &[u8]) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        self.size += data.len() as u64;
        if self.size > self.cache.max_bytes {
            self.file = None; // larger than the whole cache: not kept
            return;
        }
        if let Err(e) = file.write_all(data) {
            tracing::warn!(path = %self.tmp.display(), error = %e, "zip cache: write failed; not caching this zip");
            self.file = None;
        }
    }

    /// Syncs the entry and renames it into place.
    pub(crate) fn commit(mut self) {
        let Some(file) = self.file.take() else {
            return;
        };
        let target = self.cache.dir.join(&self.name);
        let done = file
            .sync_data()
            .and_then(|()| std::fs::rename(&self.tmp, &target));
        match done {
            Ok(()) => self.cache.insert(std::mem::take(&mut self.name), self.size),
            Err(e) => {
                tracing::warn!(path = %target.display(), error = %e, "zip cache: cannot keep the zip")
            }
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        // Renamed (committed) or not: the temporary name is gone either way.
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// The directory `gomodfs serve` gives the cache: beside the store's own
/// files.
pub fn default_dir(store: &Path) -> PathBuf {
    store.join("zip-cache")
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn mv(v: &str) -> gomodfs_core::Result<ModuleVersion> {
        ModuleVersion::new("example.com/Upper/m", v)
    }

    #[test]
    fn names_are_unique_and_file_safe() -> TestResult {
        let a = ZipCache::name(&mv("v1.0.0")?, "h1:ab/c+d=", 1).ok_or("no name")?;
        assert_eq!(a, "example.com+!upper+m@v1.0.0.h1-ab_c-d=.z1.zip");
        let b = ZipCache::name(&mv("v1.0.0")?, "h1:ab/c+d=", 0).ok_or("no name")?;
        assert_ne!(a, b);
        let long = ModuleVersion::new(&format!("example.com/{0}/{0}", "x".repeat(150)), "v1.0.0")?;
        assert_eq!(ZipCache::name(&long, "h1:abc", 1), None);
        Ok(())
    }

    #[test]
    fn a_fetched_zip_goes_to_a_request_waiting_for_it_and_only_then() -> TestResult {
        let dir = tempfile::tempdir()?;
        let cache = Arc::new(ZipCache::open(&ZipCacheOptions {
            dir: dir.path().to_owned(),
            max_bytes: 1 << 20,
        })?);
        let (m, other) = (mv("v1.0.0")?, mv("v2.0.0")?);
        let mut zip = tempfile::tempfile()?;
        zip.write_all(b"PK zip bytes")?;
        std::io::Seek::rewind(&mut zip)?; // handed over at its start
        // Nobody waits: not wanted, and a zip handed anyway is dropped.
        assert!(!cache.wants(&m));
        cache.keep(&m, "h1:a", &mut zip);
        assert!(cache.wanted.lock().is_empty());

        let first = cache.want(&m);
        let second = cache.want(&m);
        assert!(cache.wants(&m) && !cache.wants(&other));
        assert!(first.take().is_none(), "nothing handed yet");
        cache.keep(&m, "h1:a", &mut zip);
        let (hash, mut file, len) = first.take().ok_or("handed zip")?;
        assert_eq!((hash.as_str(), len), ("h1:a", 12));
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes)?;
        assert_eq!(bytes, b"PK zip bytes", "read from its start");
        assert!(second.take().is_none(), "one request gets it");
        // A request waiting for the hand-over wakes when it comes.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handed = rt.block_on(async {
            let waiting = second.handed();
            tokio::pin!(waiting);
            let early =
                tokio::time::timeout(std::time::Duration::from_millis(20), &mut waiting).await;
            assert!(early.is_err(), "handed before anything was kept");
            cache.keep(&m, "h1:c", &mut zip);
            waiting.await
        });
        assert_eq!(handed.0, "h1:c");
        // The last request gone: nothing left behind.
        cache.keep(&m, "h1:a", &mut zip);
        drop((first, second));
        assert!(!cache.wants(&m) && cache.wanted.lock().is_empty());
        let fetched = ZipCache::fetched_name(&m, "h1:ab/c+d=").ok_or("no name")?;
        assert_eq!(fetched, "example.com+!upper+m@v1.0.0.h1-ab_c-d=.f.zip");
        Ok(())
    }

    #[test]
    fn keeps_within_the_cap_evicting_least_recently_used() -> TestResult {
        let dir = tempfile::tempdir()?;
        let cache = ZipCache::open(&ZipCacheOptions {
            dir: dir.path().to_owned(),
            max_bytes: 25,
        })?;
        for name in ["a.zip", "b.zip"] {
            let mut p = cache.start(name).ok_or("start")?;
            p.write(&[7; 10]);
            p.commit();
        }
        assert!(cache.get("a.zip").is_some()); // a is now the most recent
        let mut p = cache.start("c.zip").ok_or("start")?;
        p.write(&[7; 10]);
        p.commit();
        assert!(cache.get("b.zip").is_none(), "b was least recently used");
        assert!(!dir.path().join("b.zip").exists());
        assert_eq!(cache.get("a.zip").map(|(_, n)| n), Some(10));
        assert_eq!(cache.total(), 20);

        // Larger than the cap: not kept. Not committed: not kept either.
        let mut p = cache.start("big.zip").ok_or("start")?;
        p.write(&[7; 26]);
        p.commit();
        let mut p = cache.start("gone.zip").ok_or("start")?;
        p.write(&[7; 1]);
        drop(p);
        assert!(cache.get("big.zip").is_none() && cache.get("gone.zip").is_none());
        let left = std::fs::read_dir(dir.path())?.count();
        assert_eq!(left, 2, "temporary or oversized files left");

        // Reopened: the same entries, found on disk.
        drop(cache);
        let cache = ZipCache::open(&ZipCacheOptions {
            dir: dir.path().to_owned(),
            max_bytes: 25,
        })?;
        assert_eq!(cache.total(), 20);
        assert!(cache.get("c.zip").is_some());
        Ok(())
    }
}
