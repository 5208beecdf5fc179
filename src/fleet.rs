//! Opening the fleet tier for the command (`--remote`): the client, the
//! start-up probe, the upload queue in the store directory; and the flush
//! at a clean stop.

use crate::Error;
use gomodfs_core::ModFs;
use gomodfs_core::remote::{FleetTier, RemoteConfig, TierOptions};
use gomodfs_core::store::Store;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The upload queue's directory inside the store directory: uploads left
/// by one process are resumed by the next one on the same store.
pub const QUEUE_DIR: &str = "gomodfs-uploads";

/// Builds the client, probes the remote once (a wrong key, a missing bucket
/// or an unreachable endpoint fails here, in one line naming the URL and the
/// cause), and starts the tier over `store` (at `store_dir`).
pub fn open(
    config: &RemoteConfig,
    store: Arc<dyn Store>,
    store_dir: &Path,
) -> Result<Arc<FleetTier>, Error> {
    let remote = config.open()?;
    let tier = FleetTier::start(
        remote,
        store,
        &store_dir.join(QUEUE_DIR),
        TierOptions::default(),
    )?;
    tier.probe()?;
    tracing::info!(remote = %config.url, "remote store");
    Ok(tier)
}

/// Waits up to `timeout` for pending uploads and says what is left.
pub fn flush(fs: &ModFs, timeout: Duration) {
    let Some(tier) = fs.remote() else {
        return;
    };
    let pending = tier.queue().stats().pending;
    if pending == 0 {
        return;
    }
    tracing::info!(pending, "flushing uploads to the remote");
    let left = tier.flush(timeout);
    if left > 0 {
        tracing::warn!(
            left,
            "uploads not finished within --flush-timeout; the next gomodfs on this store uploads them"
        );
    }
}
