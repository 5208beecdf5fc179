//! Limits on what a client can make the server hold.
//!
//! They cap the size of one RPC record, the bytes one connection may have in
//! flight, and the number of connections. Without them a 4-byte record
//! marker claiming 2 GiB made the server allocate 2 GiB before any data
//! arrived.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::units::{KIBIBYTE, MEBIBYTE};

/// Limits that keep clients from exhausting the server's memory or
/// connections. Set them with
/// [`NFSTcpListener::with_limits`](crate::tcp::NFSTcpListener::with_limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest RPC record (one call, all its fragments) accepted, in
    /// bytes. A connection that announces a larger one is closed before the
    /// record is read. The default, 1 MiB + 4 KiB, fits a WRITE of 1 MiB
    /// with its RPC and NFS headers.
    pub max_record_size: usize,
    /// The most bytes one connection may hold at once: calls read and being
    /// handled, and replies being produced (READ, READDIR and READDIRPLUS
    /// reserve the size the client asked for) or waiting to be sent. When
    /// it is reached, the server stops reading from that connection until
    /// replies have been sent. Default 8 MiB; at least `max_record_size`.
    pub max_connection_bytes: usize,
    /// The most connections served at once; further ones are closed as soon
    /// as they are accepted. Default 64.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_record_size: (MEBIBYTE + 4 * KIBIBYTE) as usize,
            max_connection_bytes: 8 * MEBIBYTE as usize,
            max_connections: 64,
        }
    }
}

/// A record larger than [`Limits::max_record_size`] was announced.
#[derive(Debug)]
pub struct RecordTooLarge {
    /// The size of the record so far, with the fragment just announced.
    pub size: usize,
    /// The limit.
    pub limit: usize,
}

impl std::fmt::Display for RecordTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RPC record of {} bytes exceeds the limit of {} bytes",
            self.size, self.limit
        )
    }
}

impl std::error::Error for RecordTooLarge {}

/// The bytes one connection may hold, shared by its calls and replies.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionBudget {
    bytes: Arc<Semaphore>,
    total: u32,
}

impl ConnectionBudget {
    pub(crate) fn new(limits: &Limits) -> Self {
        let total = limits
            .max_connection_bytes
            .max(limits.max_record_size)
            .min(Semaphore::MAX_PERMITS);
        let total = u32::try_from(total).unwrap_or(u32::MAX);
        Self {
            bytes: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// Takes `bytes` (at most the whole budget) if they are free now.
    pub(crate) fn try_take(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let bytes = u32::try_from(bytes)
            .unwrap_or(u32::MAX)
            .clamp(1, self.total);
        self.bytes.clone().try_acquire_many_owned(bytes).ok()
    }

    /// Waits until `bytes` (at most the whole budget) are free and takes
    /// them, until the permit is dropped.
    pub(crate) async fn take(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let bytes = u32::try_from(bytes)
            .unwrap_or(u32::MAX)
            .clamp(1, self.total);
        // The semaphore is never closed.
        self.bytes.clone().acquire_many_owned(bytes).await.ok()
    }
}

/// What one call holds of its connection's budget, from when it is read
/// until its reply has been sent.
#[derive(Debug, Clone)]
pub(crate) struct CallBudget {
    connection: ConnectionBudget,
    held: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
}

impl CallBudget {
    pub(crate) fn new(connection: ConnectionBudget, held: Option<OwnedSemaphorePermit>) -> Self {
        Self {
            connection,
            held: Arc::new(Mutex::new(held)),
        }
    }

    /// Trades what the call holds for `bytes` for its reply. What it held
    /// is given back first, so no call waits while holding any of the
    /// budget: the bytes are freed by calls finishing and replies being
    /// sent, never by another waiting call.
    pub(crate) async fn reserve_reply(&self, bytes: usize) {
        drop(self.take_held());
        let permit = self.connection.take(bytes).await;
        *self.held.lock().unwrap_or_else(PoisonError::into_inner) = permit;
    }

    /// What the call holds, to be released once its reply is sent.
    pub(crate) fn take_held(&self) -> Option<OwnedSemaphorePermit> {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}
