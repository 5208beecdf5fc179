//! Stopping [`ModFs`]'s downloads, for the command's stop signal.

use super::ModFs;

impl ModFs {
    /// Cancels every download in flight and refuses new ones
    /// ([`Upstream::shutdown`](crate::proxy::Upstream::shutdown)): their
    /// readers get an error at once instead of waiting for a slow upstream.
    /// Returns how many downloads were in flight (0 when offline, where
    /// there is nothing to cancel). It cannot be undone; what is stored is
    /// still served.
    pub fn cancel_downloads(&self) -> u64 {
        let Some(upstream) = self.upstream() else {
            return 0;
        };
        let in_flight = self.stats.downloads_in_flight();
        upstream.shutdown();
        in_flight
    }
}
