//! The fleet tier's counters (`--remote`), as the status JSON shows them.
//! Plain data, present in every build; filled only when a remote is set.

/// The fleet tier's counters, in the status JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RemoteSnapshot {
    /// The remote's URL.
    pub url: String,
    /// Modules read from the remote (validated and stored).
    pub hits: u64,
    /// Local misses that the remote did not have either.
    pub misses: u64,
    /// `.info`/`.mod` files read from the remote.
    pub meta_hits: u64,
    /// Remote objects refused by validation (the module came from upstream).
    pub validation_failures: u64,
    /// Remote reads that failed (down, slow, 5xx) or were skipped while down.
    pub errors: u64,
    /// Times this host waited for another host's download (lease held elsewhere).
    pub lease_waits: u64,
    /// Leases this host took (it downloaded from upstream for the fleet).
    pub leases_taken: u64,
    /// The remote failed recently and reads skip it for now.
    pub down: bool,
    /// The upload queue.
    pub uploads: QueueStats,
}

/// The queue's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueStats {
    /// Entries whose objects are all in the remote.
    pub done: u64,
    /// Entries queued and not done yet.
    pub pending: u64,
    /// Failed attempts (each is retried).
    pub failed: u64,
    /// Bytes uploaded (objects created by this process).
    pub bytes: u64,
    /// Objects found in the remote already (not overwritten).
    pub existing: u64,
}
