//! The checksum database (`sum.golang.org` or the one `GOSUMDB` names):
//! every module version is checked against it before it enters the store,
//! as `go` checks every download (golang.org/x/mod/sumdb semantics), and
//! the lookups and tiles verified on the way are served as go's sumdb cache
//! (`cache/download/sumdb/<name>/lookup|tile/…`).
//!
//! - [`config`]: `GOSUMDB`, `GONOSUMDB`/`GOPRIVATE`.
//! - [`note`]: signed notes and verifier keys (Ed25519).
//! - [`tlog`]: hashes, tiles and proofs of the transparency log.
//! - `client`: lookups, inclusion and consistency checks, fail closed.
//! - `treehead`: the last tree head seen, kept in the store directory.
//! - `files`: the verified lookups and tiles, kept for serving.
//! - [`Gate`]: the same check for callers outside the fetcher (import).
//! - `names`: the grammar of the sumdb cache paths.

mod client;
pub mod config;
mod files;
mod gate;
mod names;
pub mod note;
pub mod tlog;
mod treehead;

pub(crate) use client::{Checker, Hashed};
pub use config::SumDbConfig;
pub use gate::Gate;
pub(crate) use names::SumDbName;

use crate::error::Result;
use crate::proxy::Upstream;

/// Builds the checker `config` asks for: `None` when `GOSUMDB=off`.
/// Errors: [`crate::Error::Config`] for an unusable `GOSUMDB`.
pub(crate) fn checker(config: &SumDbConfig, upstream: Option<Upstream>) -> Result<Option<Checker>> {
    let Some(db) = config::Database::parse(&config.gosumdb)? else {
        return Ok(None);
    };
    Ok(Some(Checker::new(
        db,
        config.nosumdb.clone(),
        files::Files::new(config.dir.clone()),
        upstream,
    )))
}
