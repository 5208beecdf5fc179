//! What a GOPROXY endpoint needs of [`ModFs`] beyond the node API and the
//! module-level calls ([`ModFs::module`], [`ModFs::meta`],
//! [`ModFs::file_contents`]): the versions the store holds and the
//! requests only the upstream can answer ([`PassRequest`]). With these no
//! frontend reaches into the store or the upstream client. Caching the
//! pass-through answers is the endpoint's business (docs/ARCHITECTURE.md).

use super::ModFs;
use super::proxy_path::PassRequest;
use crate::error::Result;
use crate::proxy::RawResponse;

impl ModFs {
    /// The versions of `module` (an unescaped module path) the store holds,
    /// complete or `.info`/`.mod` only, each once, sorted as strings: the
    /// answer to `@v/list` when the upstream has none. Reads the store
    /// only.
    pub fn versions(&self, module: &str) -> Result<Vec<String>> {
        let mut versions: Vec<String> = self
            .store
            .list()?
            .into_iter()
            .filter(|e| e.module.path() == module)
            .map(|e| e.module.version().to_owned())
            .collect();
        versions.sort();
        versions.dedup();
        Ok(versions)
    }

    /// Asks the upstream for `request`, uncached (see
    /// [`Upstream::fetch_raw`](crate::proxy::Upstream::fetch_raw)): the
    /// answer for 200, 404 and 410, `Ok(None)` when gomodfs runs offline (no
    /// upstream). Errors are of kind [`Io`](crate::ErrorKind::Io): network
    /// errors, other statuses, timeouts, `off`, `direct`, a module matching
    /// GONOPROXY/GOPRIVATE (whose name is not sent), shutdown.
    ///
    /// Runs on the caller's async runtime.
    pub async fn pass_through(&self, request: &PassRequest) -> Result<Option<RawResponse>> {
        let Some(upstream) = self.upstream() else {
            return Ok(None);
        };
        upstream
            .fetch_raw(&request.url_path(), request.module())
            .await
            .map(Some)
    }
}
