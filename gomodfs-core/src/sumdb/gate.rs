//! [`Gate`]: the checksum-database check that every download passes before
//! it is stored, for callers outside the fetcher (`gomodfs import`).

use super::{Checker, Hashed, SumDbConfig};
use crate::error::Result;
use crate::modpath::ModuleVersion;
use crate::proxy::Upstream;

/// Checks module hashes against the checksum database `GOSUMDB` names,
/// exactly as the fetcher checks every download (fail closed: a database
/// that cannot be asked is an error; GONOSUMDB exempts modules).
pub struct Gate {
    checker: Checker,
}

impl Gate {
    /// The gate `config` asks for, reaching the database through
    /// `upstream` (as go does: through the GOPROXY list when the proxy
    /// proxies it, else directly); `None` when `GOSUMDB=off`. Errors:
    /// [`crate::Error::Config`] for an unusable `GOSUMDB`.
    pub fn new(config: &SumDbConfig, upstream: Option<Upstream>) -> Result<Option<Gate>> {
        Ok(super::checker(config, upstream)?.map(|checker| Gate { checker }))
    }

    /// Checks a module's zip hash (`h1:`, as in go.sum) and its go.mod's
    /// contents. Errors: [`crate::Error::Checksum`] naming the module and
    /// version (a mismatch says SECURITY ERROR, as go does).
    pub async fn check_module(
        &self,
        module: &ModuleVersion,
        ziphash: &str,
        go_mod: &[u8],
    ) -> Result<()> {
        self.checker.check(module, Hashed::Zip(ziphash)).await?;
        self.check_go_mod(module, go_mod).await
    }

    /// Checks a go.mod's contents (stored without its module).
    pub async fn check_go_mod(&self, module: &ModuleVersion, go_mod: &[u8]) -> Result<()> {
        let h1 = crate::dirhash::h1([("go.mod", go_mod)])?;
        self.checker.check(module, Hashed::GoMod(&h1)).await
    }
}
