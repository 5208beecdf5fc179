//! [`Checker`]: checks module hashes against a checksum database, as
//! `golang.org/x/mod/sumdb.Client` does: the record from `lookup/`, its
//! signed tree head, the record's inclusion in that tree (from tiles), and
//! the tree's consistency with the last tree head this store has seen.
//! Every lookup and tile it verified is kept ([`super::files`]), so the
//! filesystem can serve them as go's sumdb cache.

use super::config::Database;
use super::files::Files;
use super::tlog::{self, Hash, Tile, TilePlan, Tree};
use super::treehead::TreeHead;
use crate::error::{Error, Result};
use crate::modpath::ModuleVersion;
use crate::proxy::{RawResponse, Upstream, match_prefix_patterns};
use crate::unreachable::Unreachable;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// The tile height every Go checksum database uses.
const TILE_HEIGHT: u32 = 8;

/// How the database is reached.
#[derive(Debug, Clone)]
enum Base {
    /// Through the GOPROXY list: `<proxy>/sumdb/<name>/…`.
    Proxy,
    /// Directly: `<url>/…`.
    Direct(String),
}

/// Which hash of a module version is checked.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Hashed<'a> {
    /// The zip's `h1:` (the `.ziphash`).
    Zip(&'a str),
    /// The go.mod's `h1:`.
    GoMod(&'a str),
}

/// Checks module versions against one checksum database.
pub(crate) struct Checker {
    db: Database,
    nosumdb: String,
    files: Files,
    upstream: Option<Upstream>,
    base: tokio::sync::Mutex<Option<Base>>,
    /// The latest tree head this process has verified; `None` until read
    /// from the files.
    latest: parking_lot::Mutex<Option<TreeHead>>,
    /// Serializes saves of the latest tree head.
    merging: tokio::sync::Mutex<()>,
    /// Lookups this process has verified (x/mod's per-client record
    /// cache), so the zip and the go.mod of a module are checked with one
    /// verification; at most [`VERIFIED_MAX`] entries.
    verified: parking_lot::Mutex<HashMap<ModuleVersion, Bytes>>,
    /// The database's last failure to answer, while recent.
    unreachable: Arc<Unreachable>,
}

/// How many verified lookups a checker remembers before it starts over.
const VERIFIED_MAX: usize = 16_384;

impl Checker {
    /// A checker of `db`, skipping modules matching `nosumdb`, keeping
    /// files in `files`, reaching the database through `upstream` (`None`:
    /// only what is kept is served, and nothing new can be checked).
    pub(crate) fn new(
        db: Database,
        nosumdb: String,
        files: Files,
        upstream: Option<Upstream>,
    ) -> Checker {
        let unreachable = Arc::new(Unreachable::new(format!(
            "the checksum database {}",
            db.name()
        )));
        Checker {
            db,
            nosumdb,
            files,
            upstream,
            base: tokio::sync::Mutex::new(None),
            latest: parking_lot::Mutex::new(None),
            merging: tokio::sync::Mutex::new(()),
            verified: parking_lot::Mutex::default(),
            unreachable,
        }
    }

    /// The database's name.
    pub(crate) fn name(&self) -> &str {
        self.db.name()
    }

    /// Whether GONOSUMDB (or GOPRIVATE) exempts `module`.
    pub(crate) fn skips(&self, module: &str) -> bool {
        !self.nosumdb.is_empty() && match_prefix_patterns(&self.nosumdb, module)
    }

    /// Checks one hash of `mv` against the database, as go's `checkSumDB`
    /// does: a record line for the same module and version with another
    /// hash is a SECURITY ERROR; a database that cannot be asked, or whose
    /// answer cannot be verified, is an error too (fail closed).
    pub(crate) async fn check(&self, mv: &ModuleVersion, hashed: Hashed<'_>) -> Result<()> {
        let (version, h1) = match hashed {
            Hashed::Zip(h) => (mv.version().to_owned(), h),
            Hashed::GoMod(h) => (format!("{}/go.mod", mv.version()), h),
        };
        let context = format!("{}@{version}", mv.path());
        if self.skips(mv.path()) {
            return Ok(());
        }
        let fail = |cause: String| Error::Checksum {
            context: context.clone(),
            cause,
        };
        let text = match self.lookup(mv).await {
            Ok(Some(text)) => text,
            Ok(None) => {
                return Err(fail(format!(
                    "{}: not found in the checksum database",
                    self.name()
                )));
            }
            Err(Error::Checksum { cause, .. }) => return Err(fail(cause)),
            Err(e) => return Err(fail(e.to_string())),
        };
        let prefix = format!("{} {version} ", mv.path());
        let have = format!("{prefix}{h1}");
        for line in text.lines() {
            if line == have {
                return Ok(());
            }
            if let Some(theirs) = line.strip_prefix(&prefix) {
                let cause = format!(
                    "checksum mismatch: downloaded {h1}, {} says {theirs}. SECURITY ERROR: \
                     this download does NOT match the one reported by the checksum server; \
                     the bits may have been replaced on the origin server, or an attacker may \
                     have intercepted the download attempt",
                    self.name()
                );
                tracing::error!(
                    module = mv.path(),
                    version = %version,
                    downloaded = h1,
                    sumdb = theirs,
                    "SECURITY ERROR: checksum mismatch with the checksum database"
                );
                return Err(fail(cause));
            }
        }
        // go accepts a record without a line for this hash.
        Ok(())
    }

    /// A kept file (`<name>/lookup/…` or `<name>/tile/…`), if any.
    pub(crate) fn kept(&self, rel: &str) -> Option<Bytes> {
        self.files.get(rel)
    }

    /// The names kept in directory `rel` (`<name>/…`), with whether each
    /// is a directory.
    pub(crate) fn kept_names(&self, rel: &str) -> Vec<(String, bool)> {
        self.files.list(rel)
    }

    /// The path of `mv`'s lookup below the database: `lookup/<E(path)>@<E(ver)>`.
    fn lookup_path(mv: &ModuleVersion) -> String {
        format!("lookup/{}@{}", mv.escaped_path(), mv.escaped_version())
    }

    /// The record text of `mv`, verified (`None`: the database does not
    /// know the module version).
    async fn lookup(&self, mv: &ModuleVersion) -> Result<Option<String>> {
        let Some(data) = self.lookup_file(mv).await? else {
            return Ok(None);
        };
        let (_, text, _) = parse_record(&data).map_err(|e| self.misbehaved(e))?;
        Ok(Some(text.to_owned()))
    }

    /// The lookup file of `mv` as the database sent it (record, then its
    /// signed tree head), once verified; kept. `None`: not in the database.
    pub(crate) async fn lookup_file(&self, mv: &ModuleVersion) -> Result<Option<Bytes>> {
        if let Some(data) = self.verified.lock().get(mv) {
            return Ok(Some(data.clone()));
        }
        let path = Self::lookup_path(mv);
        let file = format!("{}/{path}", self.name());
        let kept = self.files.get(&file);
        let data = match kept {
            Some(data) => match self.verify_record(&data).await {
                Ok(()) => data,
                // A kept file that no longer verifies (a crash mid-write,
                // an edit): asked again, and replaced if that verifies.
                Err(e) if self.upstream.is_some() => {
                    tracing::warn!(file = %file, error = %e, "a kept checksum database file does not verify: fetching it again");
                    match self.fetch_record(&path, &file).await? {
                        Some(data) => data,
                        None => return Ok(None),
                    }
                }
                Err(e) => return Err(e),
            },
            None => match self.fetch_record(&path, &file).await? {
                Some(data) => data,
                None => return Ok(None),
            },
        };
        let mut verified = self.verified.lock();
        if verified.len() >= VERIFIED_MAX {
            verified.clear();
        }
        verified.insert(mv.clone(), data.clone());
        Ok(Some(data))
    }

    /// Fetches the lookup at `path`, verifies it and keeps it as `file`;
    /// `None`: not in the database.
    async fn fetch_record(&self, path: &str, file: &str) -> Result<Option<Bytes>> {
        let Some(data) = self.remote(path).await? else {
            return Ok(None);
        };
        self.verify_record(&data).await?;
        self.files.put(file, &data);
        Ok(Some(data))
    }

    /// Verifies a lookup answer: its tree head (merged into the latest)
    /// and the record's inclusion in the latest tree.
    async fn verify_record(&self, data: &[u8]) -> Result<()> {
        let (id, text, note) = parse_record(data).map_err(|e| self.misbehaved(e))?;
        self.merge_latest(note.as_bytes()).await?;
        self.check_record(id, text).await
    }

    /// The tile at `path` (`tile/8/L/…`), verified against the latest tree
    /// head (fetched again when the tile lies beyond it); kept. `None`: not
    /// a tile this database has (or not of height 8).
    pub(crate) async fn tile_file(&self, path: &str) -> Result<Option<Bytes>> {
        let Some(tile) = Tile::parse(path).filter(|t| t.h == TILE_HEIGHT) else {
            return Ok(None);
        };
        let file = format!("{}/{path}", self.name());
        if let Some(data) = self.files.get(&file) {
            return Ok(Some(data));
        }
        // Records the tile covers.
        let end = ((tile.n << tile.h) + i64::from(tile.w)) << (tile.h * tile.l);
        let mut latest = self.latest_tree().await?.tree;
        if latest.n < end {
            if let Some(note) = self.remote("latest").await? {
                self.merge_latest(&note).await?;
            }
            latest = self.latest_tree().await?.tree;
            if latest.n < end {
                return Ok(None);
            }
        }
        let hashes = self.read_hashes(latest, &tile.indexes()).await?;
        let data = Bytes::from(hashes.concat());
        self.files.put(&file, &data);
        Ok(Some(data))
    }

    /// The latest tree head: loaded from the files the first time.
    async fn latest_tree(&self) -> Result<TreeHead> {
        if let Some(head) = self.latest.lock().clone() {
            return Ok(head);
        }
        let stored = TreeHead::load(&self.files, &self.db.verifier)
            .map_err(|e| self.misbehaved(format!("the kept tree head is unusable: {e}")))?;
        let mut latest = self.latest.lock();
        Ok(latest.get_or_insert(stored).clone())
    }

    /// Merges a signed tree head into the latest one (x/mod's
    /// `mergeLatest`): an older or equal tree must be a prefix of the
    /// latest, a newer one must contain it; a newer one becomes the latest
    /// and is kept (unless the store already keeps a newer one, which must
    /// be consistent too). A fork is a SECURITY ERROR.
    async fn merge_latest(&self, note: &[u8]) -> Result<()> {
        let text = self
            .db
            .verifier
            .open(note)
            .map_err(|e| self.misbehaved(format!("reading tree note: {e}")))?;
        let tree = Tree::parse(text).map_err(|e| self.misbehaved(format!("reading tree: {e}")))?;
        let head = TreeHead {
            tree,
            note: Bytes::copy_from_slice(note),
        };
        if !self.merge_head(&head).await? {
            return Ok(());
        }
        // A newer head: another process may have kept a newer one still.
        let kept = TreeHead::load(&self.files, &self.db.verifier).unwrap_or(TreeHead::EMPTY);
        if kept.tree.n > head.tree.n {
            self.merge_head(&kept).await?;
            return Ok(());
        }
        // Saves are serialized, and only the latest is saved.
        let _saving = self.merging.lock().await;
        let current = self.latest.lock().as_ref().map(|h| h.tree);
        if current == Some(head.tree) {
            head.save(&self.files, self.name());
        }
        Ok(())
    }

    /// Merges `head` into the latest tree head in memory, without holding
    /// a lock while tiles are read (x/mod's `mergeLatestMem`): true when
    /// `head` became the latest.
    async fn merge_head(&self, head: &TreeHead) -> Result<bool> {
        loop {
            let latest = self.latest_tree().await?;
            if head.tree == latest.tree {
                return Ok(false);
            }
            if head.tree.n <= latest.tree.n {
                self.check_trees(head, &latest).await?;
                return Ok(false);
            }
            self.check_trees(&latest, head).await?;
            let mut current = self.latest.lock();
            if current.as_ref().map(|h| h.tree) == Some(latest.tree) {
                *current = Some(head.clone());
                return Ok(true);
            }
            // Another merge moved the latest meanwhile: check against it.
        }
    }

    /// Checks that `older` is a prefix of `newer` (x/mod's `checkTrees`).
    async fn check_trees(&self, older: &TreeHead, newer: &TreeHead) -> Result<()> {
        if older.tree.n == 0 {
            return Ok(());
        }
        let indexes = tlog::sub_tree_index(0, older.tree.n);
        let hashes = self.read_hashes(newer.tree, &indexes).await.map_err(|e| {
            let Error::Checksum { cause, .. } = e else {
                return e;
            };
            self.misbehaved(format!(
                "checking tree#{} against tree#{}: {cause}",
                older.tree.n, newer.tree.n
            ))
        })?;
        let h = tlog::tree_hash_from(older.tree.n, &hashes);
        if h == older.tree.hash {
            return Ok(());
        }
        let indent = |note: &Bytes| String::from_utf8_lossy(note).replace('\n', "\n\t");
        tracing::error!(
            database = self.name(),
            old = %indent(&older.note),
            new = %indent(&newer.note),
            "SECURITY ERROR: go.sum database server misbehavior detected (the log forked)"
        );
        Err(self.misbehaved(format!(
            "SECURITY ERROR: go.sum database server misbehavior detected! tree#{} ({}) is \
             not a prefix of tree#{} ({}): the log forked",
            older.tree.n,
            tlog::b64(&older.tree.hash),
            newer.tree.n,
            tlog::b64(&newer.tree.hash)
        )))
    }

    /// Checks that record `id` with text `text` is in the latest tree.
    async fn check_record(&self, id: i64, text: &str) -> Result<()> {
        let latest = self.latest_tree().await?.tree;
        if id >= latest.n {
            return Err(self.misbehaved(format!(
                "cannot validate record {id} in tree of size {}",
                latest.n
            )));
        }
        let hashes = self
            .read_hashes(latest, &[tlog::stored_hash_index(0, id)])
            .await?;
        if hashes.first() == Some(&tlog::record_hash(text.as_bytes())) {
            Ok(())
        } else {
            Err(self.misbehaved("cannot authenticate record data in server response".to_owned()))
        }
    }

    /// Reads stored hashes of `tree` from tiles (kept, else fetched), and
    /// checks the tiles against the tree; keeps the tiles it fetched.
    async fn read_hashes(&self, tree: Tree, indexes: &[i64]) -> Result<Vec<Hash>> {
        match self.read_hashes_from(tree, indexes, true).await {
            // Kept tiles that no longer verify (a crash mid-write, an
            // edit): all of them asked again.
            Err(Error::Checksum { cause, .. }) if self.upstream.is_some() => {
                tracing::debug!(cause = %cause, "tiles do not verify: fetching them all again");
                self.read_hashes_from(tree, indexes, false).await
            }
            other => other,
        }
    }

    /// [`Checker::read_hashes`], with the kept tiles (`kept`) or without.
    async fn read_hashes_from(&self, tree: Tree, indexes: &[i64], kept: bool) -> Result<Vec<Hash>> {
        let plan = TilePlan::new(tree, TILE_HEIGHT, indexes).map_err(|e| self.misbehaved(e))?;
        let mut data: Vec<Option<Bytes>> = plan
            .tiles()
            .iter()
            .map(|t| if kept { self.kept_tile(t) } else { None })
            .collect();
        // The missing tiles are fetched at once: a new tree head needs a
        // handful, one per level.
        let missing: Vec<Tile> = plan
            .tiles()
            .iter()
            .zip(&data)
            .filter(|(_, d)| d.is_none())
            .map(|(t, _)| *t)
            .collect();
        let mut fetched = Vec::new();
        if !missing.is_empty() {
            let mut tasks = tokio::task::JoinSet::new();
            for tile in missing {
                let fetch = self.tile_fetch(tile).await?;
                tasks.spawn(async move { (tile, fetch.run().await) });
            }
            while let Some(joined) = tasks.join_next().await {
                let (tile, result) = joined.map_err(|e| {
                    self.misbehaved(format!("fetching tiles: the task failed: {e}"))
                })?;
                let bytes = result?;
                let Some(i) = plan.tiles().iter().position(|t| *t == tile) else {
                    continue;
                };
                data[i] = Some(bytes);
                fetched.push(i);
            }
        }
        let data: Vec<Bytes> = data.into_iter().map(Option::unwrap_or_default).collect();
        let hashes = plan.check(&data).map_err(|e| self.misbehaved(e))?;
        for i in fetched {
            let file = format!("{}/{}", self.name(), plan.tiles()[i].path());
            self.files.put(&file, &data[i]);
        }
        Ok(hashes)
    }

    /// A kept tile, or one cut from the kept full tile.
    fn kept_tile(&self, tile: &Tile) -> Option<Bytes> {
        let name = |t: &Tile| format!("{}/{}", self.name(), t.path());
        if let Some(data) = self.files.get(&name(tile)) {
            return Some(data);
        }
        let full = tile.full();
        if full == *tile {
            return None;
        }
        self.files.get(&name(&full)).and_then(|d| cut(tile, d))
    }

    /// What fetching one tile needs, detached from `self` (for a task).
    async fn tile_fetch(&self, tile: Tile) -> Result<TileFetch> {
        Ok(TileFetch {
            tile,
            remote: self.remote_access().await?,
        })
    }

    /// GETs `path` (below the database) through the proxy or directly;
    /// `None` for 404/410.
    async fn remote(&self, path: &str) -> Result<Option<Bytes>> {
        self.remote_access().await?.get(path).await
    }

    /// The way to the database, decided once.
    async fn remote_access(&self) -> Result<Remote> {
        let upstream = self.upstream.as_ref().ok_or_else(|| Error::Checksum {
            context: format!("checksum database {}", self.name()),
            cause: "not kept, and gomodfs runs offline".to_owned(),
        })?;
        Ok(Remote {
            base: self.base(upstream).await?,
            upstream: upstream.clone(),
            name: self.name().to_owned(),
            unreachable: self.unreachable.clone(),
        })
    }

    /// How the database is reached, decided once (like go, per process).
    async fn base(&self, upstream: &Upstream) -> Result<Base> {
        let mut base = self.base.lock().await;
        if let Some(b) = base.as_ref() {
            return Ok(b.clone());
        }
        let decided = match &self.db.url {
            Some(url) => Base::Direct(url.clone()),
            None => {
                if upstream.sumdb_through_proxy(self.name()).await? {
                    Base::Proxy
                } else {
                    Base::Direct(self.db.direct_url())
                }
            }
        };
        tracing::info!(database = self.name(), via = ?decided, "checksum database");
        *base = Some(decided.clone());
        Ok(decided)
    }

    /// A misbehaving or unusable answer of the database.
    fn misbehaved(&self, cause: String) -> Error {
        Error::Checksum {
            context: format!("checksum database {}", self.name()),
            cause,
        }
    }
}

/// The database as reached from this process.
struct Remote {
    base: Base,
    upstream: Upstream,
    name: String,
    /// The database's last failure to answer (shared by every request).
    unreachable: Arc<Unreachable>,
}

impl Remote {
    /// GETs `path` below the database; `None` for 404/410. While a failure
    /// to reach the database is recent, fails at once with its cause
    /// (see [`Unreachable`]).
    async fn get(&self, path: &str) -> Result<Option<Bytes>> {
        if let Some(cause) = self.unreachable.recent(Instant::now()) {
            return Err(Error::Checksum {
                context: format!("checksum database {}", self.name),
                cause,
            });
        }
        let started = Instant::now();
        let answer = match &self.base {
            Base::Proxy => {
                let url_path = format!("sumdb/{}/{path}", self.name);
                self.upstream.fetch_raw(&url_path, None).await
            }
            Base::Direct(url) => self.upstream.fetch_url(url, path).await,
        };
        let RawResponse { status, body } = match answer {
            Ok(answer) => answer,
            Err(e) => {
                let now = Instant::now();
                let took = now.saturating_duration_since(started);
                self.unreachable.failed(now, took, e.to_string());
                return Err(e);
            }
        };
        self.unreachable.reached();
        Ok((status == 200).then_some(body))
    }
}

/// Fetching one tile in a task: the tile, else its full tile cut down
/// (x/mod's `readTile`).
struct TileFetch {
    tile: Tile,
    remote: Remote,
}

impl TileFetch {
    async fn run(self) -> Result<Bytes> {
        if let Some(data) = self.remote.get(&self.tile.path()).await? {
            return Ok(data);
        }
        let full = self.tile.full();
        if full != self.tile
            && let Some(data) = self
                .remote
                .get(&full.path())
                .await?
                .and_then(|d| cut(&self.tile, d))
        {
            return Ok(data);
        }
        Err(Error::Checksum {
            context: format!("checksum database {}", self.remote.name),
            cause: format!("{}: not found", self.tile.path()),
        })
    }
}

/// The first `tile.w` hashes of `data` (a wider tile of the same place).
fn cut(tile: &Tile, data: Bytes) -> Option<Bytes> {
    let want = tile.w as usize * tlog::HASH_SIZE;
    (data.len() >= want).then(|| data.slice(..want))
}

/// Splits a lookup answer into record id, record text and the signed tree
/// note after it (x/mod's `tlog.ParseRecord`).
fn parse_record(data: &[u8]) -> std::result::Result<(i64, &str, &str), String> {
    let malformed = || "malformed record data".to_owned();
    let text = std::str::from_utf8(data).map_err(|_| malformed())?;
    let (id, rest) = text.split_once('\n').ok_or_else(malformed)?;
    let id: i64 = id.parse().map_err(|_| malformed())?;
    let end = rest.find("\n\n").ok_or_else(malformed)?;
    let (record, note) = (&rest[..=end], &rest[end + 2..]);
    let valid = !record.contains("\n\n")
        && record.ends_with('\n')
        && !record.chars().any(|c| c < ' ' && c != '\n');
    if !valid || id < 0 {
        return Err(malformed());
    }
    Ok((id, record, note))
}
