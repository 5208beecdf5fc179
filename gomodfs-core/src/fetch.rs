//! Getting module versions into the store: from the store if there, else
//! from upstream, validated, then put — once per module version however many
//! readers ask at the same moment (single flight).
//!
//! Downloads run as tasks on the filesystem's runtime, so a reader that gives
//! up does not cancel the download for the others. Callers block on the
//! result; this is what makes [`ModFs`](crate::fs::ModFs) synchronous-looking.

use crate::error::{Error, Result};
use crate::fetched_zips::ZipReceiver;
use crate::modpath::ModuleVersion;
use crate::modzip::{Limits, ModuleZip};
use crate::proxy::{ProxyFile, Upstream, check_answer};
use crate::remote_hook::{Candidate, Carries, RemoteHook, Ticket};
use crate::stats::{DownloadRecord, Op, Stats};
use crate::store::{MetaFile, Store, StoredModule};
use crate::sumdb::{Checker, Hashed};
use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, HashSet};
use std::io::Seek;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FlightKey {
    Module(ModuleVersion),
    Meta(ModuleVersion, MetaFile),
    /// A stored module found damaged: fetched again and replaced.
    Refetch(ModuleVersion),
}

#[derive(Clone)]
enum Fetched {
    Module(Arc<StoredModule>),
    Meta(Bytes),
}

#[derive(Default)]
struct Flight {
    result: Mutex<Option<Result<Fetched>>>,
    done: Condvar,
}

impl Flight {
    fn wait(&self) -> Result<Fetched> {
        let mut guard = self.result.lock();
        loop {
            if let Some(result) = guard.as_ref() {
                return result.clone();
            }
            self.done.wait(&mut guard);
        }
    }
}

/// Fetches what the store lacks from upstream, with single flight.
pub(crate) struct Fetcher {
    store: Arc<dyn Store>,
    upstream: Option<Arc<Upstream>>,
    limits: Limits,
    runtime: tokio::runtime::Handle,
    flights: Arc<Mutex<HashMap<FlightKey, Arc<Flight>>>>,
    stats: Arc<Stats>,
    /// Damaged modules this process has fetched again (each at most once).
    refetched: Mutex<HashSet<ModuleVersion>>,
    /// The fleet tier between the store and upstream (`--remote`).
    remote: RemoteHook,
    /// The checksum database every module is checked against before it is
    /// stored (`None`: GOSUMDB=off or not configured).
    checker: Option<Arc<Checker>>,
    /// Who keeps fetched zips as they are (the GOPROXY endpoint).
    zips: ZipReceiver,
    /// Checked metadata files being stored behind an answer.
    staged: Staged,
}

/// Checked `.info`/`.mod` files on their way into the store.
type Staged = Arc<Mutex<HashMap<(ModuleVersion, MetaFile), Bytes>>>;

impl Fetcher {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        upstream: Option<Arc<Upstream>>,
        limits: Limits,
        runtime: tokio::runtime::Handle,
        stats: Arc<Stats>,
        remote: RemoteHook,
        checker: Option<Arc<Checker>>,
    ) -> Self {
        Fetcher {
            store,
            upstream,
            limits,
            runtime,
            flights: Arc::default(),
            stats,
            refetched: Mutex::default(),
            remote,
            checker,
            zips: ZipReceiver::default(),
            staged: Staged::default(),
        }
    }

    /// Waits up to `timeout` for the metadata files being stored behind
    /// their answers ([`Job::stage`]); returns how many are still being
    /// stored (lost if the process ends now: fetched again next time).
    pub(crate) fn settle(&self, timeout: Duration) -> usize {
        let until = Instant::now() + timeout;
        loop {
            let left = self.staged.lock().len();
            if left == 0 || Instant::now() >= until {
                return left;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Who keeps fetched zips as they are.
    pub(crate) fn zip_receiver(&self) -> &ZipReceiver {
        &self.zips
    }

    /// The runtime downloads run on.
    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    /// The upstream client, if not offline.
    pub(crate) fn upstream(&self) -> Option<&Upstream> {
        self.upstream.as_deref()
    }

    /// The whole module: from the store, else downloaded and stored.
    pub(crate) fn module(&self, mv: &ModuleVersion) -> Result<Arc<StoredModule>> {
        if let Some(m) = self.read_stored(mv, "the module", || self.store.module(mv))? {
            return Ok(Arc::new(m));
        }
        match self.fly(FlightKey::Module(mv.clone()))? {
            Fetched::Module(m) => Ok(m),
            Fetched::Meta(_) => Err(Error::store(mv.to_string(), "internal: wrong flight kind")),
        }
    }

    /// A `.info` or `.mod` file: from the store, else downloaded alone.
    pub(crate) fn meta(&self, mv: &ModuleVersion, file: MetaFile) -> Result<Bytes> {
        let what = format!(".{}", file.extension());
        if let Some(data) = self.read_stored(mv, &what, || self.store.meta(mv, file))? {
            return Ok(data);
        }
        if file == MetaFile::Mod && self.upstream.is_some() {
            self.begin_info(mv);
        }
        match self.fly(FlightKey::Meta(mv.clone(), file))? {
            Fetched::Meta(data) => Ok(data),
            Fetched::Module(_) => Err(Error::store(mv.to_string(), "internal: wrong flight kind")),
        }
    }

    /// Reads something of stored module `mv` (`file` says what, for
    /// messages) with `read`. When the store turns out damaged, says which
    /// module and why, fetches the module again when there is an upstream
    /// (the result replaces the stored copy atomically) and reads again.
    /// A module is fetched again at most once per process; a refetch that
    /// failed does not count. Errors name module, version and file.
    pub(crate) fn read_stored<T>(
        &self,
        mv: &ModuleVersion,
        file: &str,
        read: impl Fn() -> Result<T>,
    ) -> Result<T> {
        let error = match read() {
            Ok(found) => return Ok(found),
            Err(e) => e,
        };
        let Error::Damaged { context, cause } = error else {
            return Err(in_file(mv, file, error));
        };
        let context = if context.starts_with(&mv.to_string()) {
            context
        } else {
            format!("{mv}: reading {file} ({context})")
        };
        let not_again = if self.upstream.is_none() {
            Some("not fetched again: gomodfs runs offline")
        } else if !self.refetched.lock().insert(mv.clone()) {
            Some("not fetched again: this process fetched it again once already")
        } else {
            None
        };
        if let Some(not_again) = not_again {
            return Err(Error::Damaged {
                context,
                cause: format!("{cause}; {not_again}"),
            });
        }
        tracing::warn!(
            module = mv.path(),
            version = mv.version(),
            file,
            cause = %cause,
            "stored module is damaged: fetching it again"
        );
        match self.fly(FlightKey::Refetch(mv.clone())) {
            Ok(_) => read().map_err(|e| in_file(mv, file, e)),
            Err(e) => {
                // Not reached (or refused): a later read may try again.
                self.refetched.lock().remove(mv);
                Err(Error::Damaged {
                    context,
                    cause: format!("{cause}; fetching it again failed: {e}"),
                })
            }
        }
    }

    fn fly(&self, key: FlightKey) -> Result<Fetched> {
        self.begin(key).wait()
    }

    /// Starts downloading module `mv` (unless it is on its way) without
    /// waiting for it, with its `.info` first unless that is stored: a
    /// module root is answered from its `.info`, and go's next read (the
    /// `.ziphash`) waits for the module. The module's download takes the
    /// `.info` from that flight, not from a request of its own.
    pub(crate) fn begin_module(&self, mv: &ModuleVersion) {
        self.begin_info(mv);
        self.begin(FlightKey::Module(mv.clone()));
    }

    /// Starts fetching the `.info` of `mv` (unless it is stored, staged or
    /// on its way) without waiting for it. Called beside every go.mod
    /// fetched: go reads a module version's go.mod while loading the graph
    /// and stats its root (answered from the `.info`) later, one module
    /// after the other, so the `.info`'s round trip is off that path.
    fn begin_info(&self, mv: &ModuleVersion) {
        if self
            .staged
            .lock()
            .contains_key(&(mv.clone(), MetaFile::Info))
            || matches!(self.store.meta(mv, MetaFile::Info), Ok(Some(_)))
        {
            return;
        }
        self.begin(FlightKey::Meta(mv.clone(), MetaFile::Info));
    }

    /// The flight for `key`: joined, or started.
    fn begin(&self, key: FlightKey) -> Arc<Flight> {
        let (flight, leader) = {
            let mut flights = self.flights.lock();
            match flights.get(&key) {
                Some(f) => (f.clone(), false),
                None => {
                    let f = Arc::new(Flight::default());
                    flights.insert(key.clone(), f.clone());
                    (f, true)
                }
            }
        };
        if leader {
            self.launch(key, flight.clone());
        }
        flight
    }

    /// Starts the download task for `key`; it publishes its result to
    /// `flight` and removes the flight when done.
    fn launch(&self, key: FlightKey, flight: Arc<Flight>) {
        let job = Job {
            store: self.store.clone(),
            upstream: self.upstream.clone(),
            limits: self.limits.clone(),
            stats: self.stats.clone(),
            remote: self.remote.clone(),
            checker: self.checker.clone(),
            zips: self.zips.clone(),
            staged: self.staged.clone(),
            flights: self.flights.clone(),
        };
        let flights = self.flights.clone();
        self.runtime.spawn(async move {
            let task_key = key.clone();
            // An inner task, so that even a panic reaches the waiters as an error.
            let result = match tokio::spawn(async move { job.run(&task_key).await }).await {
                Ok(result) => result,
                Err(e) => Err(Error::store(
                    format!("{key:?}"),
                    format!("download task failed: {e}"),
                )),
            };
            // Remove first: a reader arriving after this finds the result in
            // the store rather than joining a finished flight.
            let idle = {
                let mut flights = flights.lock();
                flights.remove(&key);
                flights.is_empty()
            };
            *flight.result.lock() = Some(result);
            flight.done.notify_all();
            if idle {
                give_back_memory();
            }
        });
    }
}

/// Where a `.info` or `.mod` came from.
enum MetaSource {
    /// The local store.
    Store,
    /// The fleet tier; with the other of the two files when its metadata
    /// object held both.
    Remote(Option<Bytes>),
    /// The upstream proxy.
    Upstream,
}

/// Everything a download task needs, detached from the fetcher.
struct Job {
    store: Arc<dyn Store>,
    upstream: Option<Arc<Upstream>>,
    limits: Limits,
    stats: Arc<Stats>,
    remote: RemoteHook,
    checker: Option<Arc<Checker>>,
    zips: ZipReceiver,
    staged: Staged,
    /// The fetcher's flights (a module's download joins its `.info`'s).
    flights: Arc<Mutex<HashMap<FlightKey, Arc<Flight>>>>,
}

impl Job {
    async fn run(&self, key: &FlightKey) -> Result<Fetched> {
        let started = Instant::now();
        self.stats.download_started();
        let (mv, what, timer, result) = match key {
            FlightKey::Module(mv) => {
                let timer = self.stats.start(Op::FetchModule);
                (mv, "zip", timer, self.module(mv).await.map(Fetched::Module))
            }
            FlightKey::Meta(mv, file) => {
                let timer = self.stats.start(Op::FetchMeta);
                let result = self.meta(mv, *file).await.map(Fetched::Meta);
                (mv, file.extension(), timer, result)
            }
            FlightKey::Refetch(mv) => {
                let timer = self.stats.start(Op::FetchModule);
                let result = self.module_again(mv).await.map(Fetched::Module);
                (mv, "zip", timer, result)
            }
        };
        timer.finish(&result);
        let bytes = match &result {
            Ok(Fetched::Module(m)) => m.files.iter().map(|f| f.size).sum(),
            Ok(Fetched::Meta(data)) => data.len() as u64,
            Err(_) => 0,
        };
        self.stats.download_finished(DownloadRecord {
            module: mv.path().to_owned(),
            version: mv.version().to_owned(),
            what,
            bytes,
            millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            result: match &result {
                Ok(_) => "ok".to_owned(),
                Err(e) => e.to_string(),
            },
            outcome: crate::stats::Outcome::of(&result),
            at: crate::stats::unix_now(),
        });
        result
    }

    fn upstream(&self, mv: &ModuleVersion, what: &str) -> Result<&Upstream> {
        self.upstream.as_deref().ok_or_else(|| Error::Upstream {
            module: mv.path().to_owned(),
            version: mv.version().to_owned(),
            what: what.to_owned(),
            cause: "not in the store, and gomodfs runs offline (no upstream proxy)".to_owned(),
        })
    }

    /// The `.info` of a module being downloaded: the flight fetching it
    /// alone, if there is one (see [`Fetcher::begin_module`]), else as
    /// [`Job::meta_bytes`].
    async fn info_bytes(&self, mv: &ModuleVersion, remote: bool) -> Result<Bytes> {
        let key = FlightKey::Meta(mv.clone(), MetaFile::Info);
        let flight = self.flights.lock().get(&key).cloned();
        if let Some(flight) = flight
            && let Ok(fetched) = tokio::task::spawn_blocking(move || flight.wait()).await
        {
            match fetched? {
                Fetched::Meta(data) => return Ok(data),
                Fetched::Module(_) => {}
            }
        }
        self.meta_bytes(mv, MetaFile::Info, remote).await
    }

    /// A `.info` or `.mod`, from the store or upstream, without storing it.
    /// `remote`: whether the fleet tier may answer (not once it gave a
    /// refused copy of this module).
    async fn meta_bytes(&self, mv: &ModuleVersion, file: MetaFile, remote: bool) -> Result<Bytes> {
        self.meta_source(mv, file, remote)
            .await
            .map(|(data, _)| data)
    }

    /// [`Job::meta_bytes`], and where the bytes came from.
    async fn meta_source(
        &self,
        mv: &ModuleVersion,
        file: MetaFile,
        remote: bool,
    ) -> Result<(Bytes, MetaSource)> {
        // Another process may have stored it since we looked. A damaged
        // stored copy is fetched again.
        match self.store.meta(mv, file) {
            Ok(Some(data)) => return Ok((data, MetaSource::Store)),
            Ok(None) | Err(Error::Damaged { .. }) => {}
            Err(e) => return Err(e),
        }
        // Checked and on its way into the store.
        if let Some(data) = self.staged.lock().get(&(mv.clone(), file)) {
            return Ok((data.clone(), MetaSource::Store));
        }
        // The fleet tier, checked like an upstream answer.
        if remote && let Some(found) = self.remote.meta(mv, file).await {
            return Ok((found.data, MetaSource::Remote(found.other)));
        }
        let proxy_file = ProxyFile::from(file);
        let data = self
            .upstream(mv, proxy_file.extension())?
            .fetch(mv, proxy_file)
            .await?;
        self.stats.fetched(data.len() as u64);
        // A 200 that go would refuse (an HTML error page, another version's
        // .info) is an error: never stored, asked again next time.
        // The frontends log the error with module, version and cause.
        check_answer(mv, proxy_file, &data).map_err(|cause| Error::Upstream {
            module: mv.path().to_owned(),
            version: mv.version().to_owned(),
            what: proxy_file.to_string(),
            cause,
        })?;
        Ok((data, MetaSource::Upstream))
    }

    /// A `.info` or `.mod` on its own: fetched, checked and answered at
    /// once, stored behind the answer ([`Job::stage`]; and, from upstream,
    /// uploaded to the fleet tier after the put). The answer does not wait
    /// for the store's synced writes: go asks for one file after the other,
    /// and a `go mod download` of a large graph would wait for thousands of
    /// them. From the fleet tier's metadata object, the other of the two is
    /// staged too: go asks for both, and this saves the second round of
    /// remote reads.
    async fn meta(&self, mv: &ModuleVersion, file: MetaFile) -> Result<Bytes> {
        // A go.mod is checked with the database: its record is fetched
        // while the go.mod downloads.
        let source = self.meta_source(mv, file, true);
        let (mut data, mut source) = if file == MetaFile::Mod {
            beside_record(source, self.prefetch_record(mv)).await?
        } else {
            source.await?
        };
        if file == MetaFile::Mod
            && let Err(e) = self.check_go_mod(mv, &data).await
        {
            // The fleet tier's copy is only a candidate: refused, the
            // file comes from upstream (and is checked again).
            if !matches!(source, MetaSource::Remote(_)) {
                return Err(e);
            }
            self.remote.refused(mv, &e);
            (data, source) = self.meta_source(mv, file, false).await?;
            self.check_go_mod(mv, &data).await?;
        }
        let ticket = match source {
            // Stored already, or staged and being stored: nothing to write.
            MetaSource::Store => return Ok(data),
            MetaSource::Upstream => self.remote.record(mv, Carries::Meta(file)),
            MetaSource::Remote(_) => Ticket::none(),
        };
        self.stage(mv, file, data.clone(), ticket);
        // A go.mod the checksum database refuses is left for its own read
        // to report.
        if let MetaSource::Remote(Some(bytes)) = source
            && (file.other() == MetaFile::Info || self.check_go_mod(mv, &bytes).await.is_ok())
        {
            self.stage(mv, file.other(), bytes, Ticket::none());
        }
        Ok(data)
    }

    /// Stores a checked metadata file behind its answer; until it is stored
    /// (or the put failed), reads find it staged ([`Job::meta_source`]).
    /// `ticket`: the upload, started after the put.
    fn stage(&self, mv: &ModuleVersion, kind: MetaFile, bytes: Bytes, ticket: Ticket) {
        let key = (mv.clone(), kind);
        self.staged.lock().insert(key.clone(), bytes.clone());
        let (store, staged) = (self.store.clone(), self.staged.clone());
        tokio::task::spawn_blocking(move || {
            let (mv, kind) = &key;
            let put = match store.meta(mv, *kind) {
                Ok(Some(_)) => Ok(()),
                _ => store.put_meta(mv, *kind, &bytes),
            };
            if let Err(e) = put {
                tracing::warn!(module = mv.path(), version = mv.version(), file = kind.extension(), error = %e, "storing a metadata file failed (it was served; it is fetched again next time)");
            }
            ticket.start(); // the upload, after the put
            staged.lock().remove(&key);
        });
    }

    async fn module(&self, mv: &ModuleVersion) -> Result<Arc<StoredModule>> {
        if let Some(m) = self.store.module(mv)? {
            return Ok(Arc::new(m));
        }
        self.download(mv, false).await
    }

    /// A damaged module fetched again, replacing the stored copy.
    async fn module_again(&self, mv: &ModuleVersion) -> Result<Arc<StoredModule>> {
        self.download(mv, true).await
    }

    /// The gate every module passes right before it is stored, whatever it
    /// was fetched from: its zip and go.mod hashes must agree with the
    /// checksum database (unless GOSUMDB=off or GONOSUMDB exempts it).
    async fn admit(&self, mv: &ModuleVersion, ziphash: &str, go_mod: &[u8]) -> Result<()> {
        let Some(checker) = &self.checker else {
            return Ok(());
        };
        checker.check(mv, Hashed::Zip(ziphash)).await?;
        self.check_go_mod(mv, go_mod).await
    }

    /// Checks a go.mod's hash against the checksum database.
    async fn check_go_mod(&self, mv: &ModuleVersion, go_mod: &[u8]) -> Result<()> {
        let Some(checker) = &self.checker else {
            return Ok(());
        };
        let h1 = crate::dirhash::h1([("go.mod", go_mod)])?;
        checker.check(mv, Hashed::GoMod(&h1)).await
    }

    /// Fetches (and verifies) `mv`'s checksum-database record ahead of
    /// [`Job::admit`], so it arrives while the zip downloads. Failures are
    /// left for `admit` to report.
    async fn prefetch_record(&self, mv: &ModuleVersion) {
        if let Some(checker) = &self.checker
            && !checker.skips(mv.path())
            && let Err(e) = checker.lookup_file(mv).await
        {
            tracing::debug!(module = mv.path(), version = mv.version(), error = %e, "checksum database lookup");
        }
    }

    /// Downloads, validates and stores a module (with `replace`, through
    /// [`Store::replace_module`]).
    async fn download(&self, mv: &ModuleVersion, replace: bool) -> Result<Arc<StoredModule>> {
        let started = Instant::now();
        // The fleet tier first (another host's download, or wait for the
        // host downloading it now); validated and stored like upstream's.
        let mut candidate = self.remote.module(mv).await;
        if candidate.is_none() && self.upstream.is_some() {
            candidate = self.remote.lead_or_wait(mv).await;
        }
        // Once the fleet tier's copy is refused, its .info and .mod are
        // not trusted either (a go.mod the checksum database refuses).
        let mut remote_ok = true;
        if let Some(c) = candidate {
            match self.store_remote_zip(mv, c, replace).await {
                Ok(stored) => {
                    self.remote.hit(mv);
                    return Ok(Arc::new(stored));
                }
                Err(e) => {
                    self.remote.refused(mv, &e);
                    remote_ok = false;
                }
            }
        }
        let upstream = self.upstream(mv, "zip")?;
        // The zip goes to an unnamed temporary file in the store's scratch
        // directory (gone on every path, a kill included), not to memory.
        let mut zip_file = temp_zip(self.store.as_ref(), mv)?;
        // .info and .mod are stored with the module, only if the zip is
        // valid: a rejected module leaves nothing behind.
        // The checksum database's record is fetched while the zip downloads.
        let downloaded = beside_record(
            async {
                let (info, go_mod, zip_len) = tokio::join!(
                    self.info_bytes(mv, remote_ok),
                    self.meta_bytes(mv, MetaFile::Mod, remote_ok),
                    upstream.fetch_to_file(mv, ProxyFile::Zip, &mut zip_file),
                );
                Ok((info?, go_mod?, zip_len?))
            },
            self.prefetch_record(mv),
        )
        .await;
        let fetched = started.elapsed();
        let result = async {
            let (info, go_mod, zip_len) = downloaded?;
            self.stats.fetched(zip_len);
            let ticket = self.remote.record(mv, Carries::Module);
            let stored = self
                .store_zip_file(mv, (info, go_mod, zip_file), None, replace, ticket)
                .await?;
            Ok::<_, Error>((stored, zip_len))
        }
        .await;
        if result.is_err() {
            self.remote.download_failed(mv);
        }
        let elapsed = started.elapsed();
        match result {
            Ok((stored, zip_len)) => {
                tracing::info!(
                    module = mv.path(),
                    version = mv.version(),
                    bytes = zip_len,
                    files = stored.files.len(),
                    ms = elapsed.as_millis() as u64,
                    fetch_ms = fetched.as_millis() as u64,
                    "downloaded"
                );
                Ok(Arc::new(stored))
            }
            Err(e) => {
                tracing::warn!(
                    module = mv.path(),
                    version = mv.version(),
                    ms = elapsed.as_millis() as u64,
                    error = %e,
                    "download failed"
                );
                Err(e)
            }
        }
    }
}

/// Runs `work` (a module's downloads, or its go.mod's) beside the fetch of
/// its checksum-database record. `work` done: waits for the record too,
/// which the check needs next. `work` failed: answers at once, dropping
/// the record's fetch (its lookup may take the database's whole timeout,
/// and a module not found or refused upstream needs none).
async fn beside_record<T>(
    work: impl Future<Output = Result<T>>,
    record: impl Future<Output = ()>,
) -> Result<T> {
    let mut work = std::pin::pin!(work);
    let mut record = std::pin::pin!(record);
    let mut record_done = false;
    loop {
        tokio::select! {
            done = &mut work => {
                if done.is_ok() && !record_done {
                    record.await;
                }
                return done;
            }
            () = &mut record, if !record_done => record_done = true,
        }
    }
}

impl Job {
    /// Validates a zip on disk (`files`: `.info`, `.mod`, the zip file),
    /// checks it with the checksum database and stores the module from it,
    /// never holding a file's contents whole in memory (see
    /// [`ModuleZip`]). `recorded`: the `h1:` the files must hash to (the
    /// fleet tier's record). `ticket`: an upload recorded before the put,
    /// started after it.
    async fn store_zip_file(
        &self,
        mv: &ModuleVersion,
        (info, go_mod, file): (Bytes, Bytes, std::fs::File),
        recorded: Option<String>,
        replace: bool,
        ticket: Ticket,
    ) -> Result<StoredModule> {
        let limits = self.limits.clone();
        let mv2 = mv.clone();
        let started = Instant::now();
        // A second handle on the zip for whoever keeps it as it is.
        let keeper = self
            .zips
            .wanting(mv)
            .and_then(|r| Some((r, file.try_clone().ok()?)));
        let zip = tokio::task::spawn_blocking(move || -> Result<ModuleZip> {
            let zip = ModuleZip::open(&mv2, file, &limits)?;
            match recorded {
                Some(want) if zip.ziphash() != want => Err(Error::InvalidZip {
                    module: mv2.path().to_owned(),
                    version: mv2.version().to_owned(),
                    reason: format!(
                        "the files hash to {}, not to the recorded {want}",
                        zip.ziphash()
                    ),
                }),
                _ => Ok(zip),
            }
        })
        .await
        .map_err(|e| Error::store(mv.to_string(), e))??;
        let validated = started.elapsed();
        // The checksum database has the last word before anything is stored.
        self.admit(mv, zip.ziphash(), &go_mod).await?;
        let admitted = started.elapsed();
        // Valid and admitted: whoever waits for the zip as it is gets it
        // now, not after the store's writes and syncs (on unix, where it
        // reads with positional reads while the store reads the file).
        #[cfg(unix)]
        let keeper: Option<(Arc<dyn crate::FetchedZips>, std::fs::File)> = {
            if let Some((receiver, file)) = keeper {
                hand_over(receiver.as_ref(), mv, zip.ziphash(), file);
            }
            None
        };
        let store = self.store.clone();
        let mv2 = mv.clone();
        tokio::task::spawn_blocking(move || -> Result<StoredModule> {
            let put_started = Instant::now();
            store.put_module_zip(&mv2, &zip, &info, &go_mod, replace)?;
            tracing::debug!(
                module = mv2.path(),
                version = mv2.version(),
                validate_ms = validated.as_millis() as u64,
                admit_ms = (admitted - validated).as_millis() as u64,
                queued_ms = (put_started - started - admitted).as_millis() as u64,
                put_ms = put_started.elapsed().as_millis() as u64,
                "stored from zip"
            );
            if let Some((receiver, file)) = keeper {
                hand_over(receiver.as_ref(), &mv2, zip.ziphash(), file);
            }
            drop(zip); // the temporary file goes now, before the upload
            ticket.start(); // the upload, after the put
            store
                .module(&mv2)?
                .ok_or_else(|| Error::store(mv2.to_string(), "module missing right after put"))
        })
        .await
        .map_err(|e| Error::store(mv.to_string(), e))?
    }

    /// Stores a module version found in the fleet tier: its zip goes to a
    /// temporary file and from there the way of an upstream zip
    /// ([`Job::store_zip_file`]: validated in one pass, the raw deflate
    /// streams reused by the store), and its files must hash to the `h1:`
    /// the uploader recorded. Nothing is uploaded back.
    async fn store_remote_zip(
        &self,
        mv: &ModuleVersion,
        found: Candidate,
        replace: bool,
    ) -> Result<StoredModule> {
        let Candidate {
            info,
            go_mod,
            zip: file,
            ziphash,
        } = found;
        self.store_zip_file(
            mv,
            (info, go_mod, file),
            Some(ziphash),
            replace,
            Ticket::none(),
        )
        .await
    }
}

/// Returns the heap's free memory to the system once a burst of downloads
/// is over: glibc keeps freed memory in its arenas (one per thread that
/// allocated), so without this the process stays at its peak.
fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim only walks and releases glibc's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Hands the validated zip of `mv` in `file` (a second handle on the
/// fetch's temporary file) to `receiver`, from its start.
fn hand_over(
    receiver: &dyn crate::FetchedZips,
    mv: &ModuleVersion,
    ziphash: &str,
    mut file: std::fs::File,
) {
    if file.seek(std::io::SeekFrom::Start(0)).is_ok() {
        receiver.keep(mv, ziphash, &mut file);
    }
}

/// An unnamed temporary file for `mv`'s zip in `store`'s scratch
/// directory: removed by the system when closed, also when the process is
/// killed.
fn temp_zip(store: &dyn Store, mv: &ModuleVersion) -> Result<std::fs::File> {
    let dir = store.scratch_dir();
    tempfile::tempfile_in(&dir).map_err(|e| {
        Error::io(
            format!(
                "{mv}: creating a temporary file for the zip in {}",
                dir.display()
            ),
            e,
        )
    })
}

/// `error`, from reading `file` of stored module `mv`, with module, version
/// and file in its context if it lacks them.
fn in_file(mv: &ModuleVersion, file: &str, error: Error) -> Error {
    let about = |context: &str| {
        if context.starts_with(&mv.to_string()) {
            context.to_owned()
        } else {
            format!("{mv}: reading {file} ({context})")
        }
    };
    match error {
        Error::Store { context, cause } => Error::Store {
            context: about(&context),
            cause,
        },
        Error::Damaged { context, cause } => Error::Damaged {
            context: about(&context),
            cause,
        },
        Error::Io { context, source } => Error::Io {
            context: about(&context),
            source,
        },
        other => other,
    }
}
