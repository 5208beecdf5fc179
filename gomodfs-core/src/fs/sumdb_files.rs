//! `cache/download/sumdb/<name>/lookup|tile/…`: go's checksum-database
//! cache, served read-only from the files the checksum database check
//! verified and kept, fetched (and verified) on first read when missing.
//! Go reads these before asking the database, so a toolchain or module
//! that gomodfs verified is verified by go offline too.

use super::{ModFs, NodeKind};
use crate::error::{Error, Result};
use crate::fs::Call;
use crate::sumdb::{Checker, SumDbName};
use bytes::Bytes;
use std::future::Future;
use std::sync::Arc;

impl ModFs {
    /// The checker whose database is `db`; NotFound for any other name,
    /// or when no database is checked.
    fn checker_of(&self, what: &str, db: Option<&str>) -> Result<&Arc<Checker>> {
        match &self.checker {
            Some(c) if db.is_none_or(|d| d == c.name()) => Ok(c),
            _ => Err(Error::NotFound(format!("cache/download/sumdb/{what}"))),
        }
    }

    /// Checks that directory `rel` below `sumdb/` exists: `sumdb` itself
    /// and everything below the checked database's name.
    pub(super) fn sumdb_dir(&self, rel: &str) -> Result<()> {
        let db = rel.split('/').next().filter(|d| !d.is_empty());
        self.checker_of(rel, db).map(|_| ())
    }

    /// A lookup or tile: kept, else (unless store-only) fetched and
    /// verified. A name the database does not have is NotFound.
    pub(super) fn sumdb_contents(&self, name: &SumDbName, call: Call) -> Result<Bytes> {
        let rel = name.rel();
        let checker = self.checker_of(&rel, name.db())?.clone();
        if let Some(data) = checker.kept(&rel) {
            return Ok(data);
        }
        if call.store_only {
            return Err(Error::WouldFetch(format!("cache/download/sumdb/{rel}")));
        }
        let found = match name {
            SumDbName::Lookup(_, mv) => {
                let mv = mv.clone();
                self.block_on(async move { checker.lookup_file(&mv).await })?
            }
            SumDbName::Tile(_, tile) => {
                let tile = tile.clone();
                self.block_on(async move { checker.tile_file(&tile).await })?
            }
            SumDbName::Dir(_) => return Err(Error::IsADirectory(rel)),
        };
        found.ok_or_else(|| Error::NotFound(format!("cache/download/sumdb/{rel}")))
    }

    /// A GOPROXY `sumdb/<rest>` request answered from the store: the
    /// lookup or tile `rest` names for the checked database (kept, else
    /// fetched and verified), or `Ok(None)` when `rest` is something else
    /// (`supported`, `latest`, another database), for the upstream to
    /// answer. A lookup or tile the database does not have is NotFound.
    pub fn sumdb_file(&self, rest: &str) -> Result<Option<Bytes>> {
        let Some(name) = SumDbName::classify(rest) else {
            return Ok(None);
        };
        let ours = matches!(&self.checker, Some(c) if name.db() == Some(c.name()));
        if !ours || matches!(name, SumDbName::Dir(_)) {
            return Ok(None);
        }
        self.sumdb_contents(&name, Call::default()).map(Some)
    }

    /// The names kept in a directory below `sumdb/`.
    pub(super) fn sumdb_list(&self, name: &SumDbName) -> Result<Vec<(String, NodeKind)>> {
        let SumDbName::Dir(rel) = name else {
            return Err(Error::NotADirectory(name.rel()));
        };
        let db = rel.split('/').next().filter(|d| !d.is_empty());
        let checker = self.checker_of(rel, db)?;
        if rel.is_empty() {
            return Ok(vec![(checker.name().to_owned(), NodeKind::Directory)]);
        }
        Ok(checker
            .kept_names(rel)
            .into_iter()
            .filter(|(n, _)| SumDbName::classify(&super::tree::join(rel, n)).is_some())
            .map(|(n, dir)| {
                let kind = if dir {
                    NodeKind::Directory
                } else {
                    NodeKind::File
                };
                (n, kind)
            })
            .collect())
    }

    /// Runs `future` on the download runtime and waits for it, from any
    /// thread (the node API is called from FUSE workers and from
    /// `spawn_blocking`).
    fn block_on<T: Send + 'static>(
        &self,
        future: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.fetcher.runtime().spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv().map_err(|_| {
            Error::io(
                "checksum database",
                std::io::Error::other("the task ended without an answer"),
            )
        })?
    }
}
