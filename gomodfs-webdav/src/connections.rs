//! The connections of one HTTP listener: a cap, timeouts, and eviction of
//! idle connections when the cap is reached.
//!
//! - At most `max_connections` connections are open at once (each one is a
//!   file descriptor; the cap keeps a flood of clients from using the
//!   descriptors the store and the other frontends need).
//! - A connection waiting for a request's headers — new, kept alive after
//!   a response, or sending its headers slowly — is closed after
//!   `header_timeout` (hyper's header read timeout, which restarts each
//!   time a kept-alive connection waits for its next request).
//! - When the cap is reached, a new connection closes the connection that
//!   has been idle (no request in progress) the longest, so idle or slow
//!   clients cannot lock out new ones. If every connection is busy with a
//!   request, the new one waits until a request ends (its connection is
//!   then the one closed).

use bytes::Buf;
use http_body::{Body as HttpBody, Frame, SizeHint};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// How often a new connection, waiting because every connection was busy,
/// looks for one that has become idle.
const BUSY_RECHECK: Duration = Duration::from_millis(100);

/// One open connection, as the registry sees it.
#[derive(Debug)]
pub struct Connection {
    id: u64,
    /// Requests in progress (0 or 1 with HTTP/1.1).
    busy: AtomicUsize,
    /// When the last request ended (or the connection opened), in
    /// microseconds since the registry started.
    idle_since_us: AtomicU64,
    /// Notified when this connection is to close.
    evict: Notify,
    /// Set once it was asked to close (it is not chosen twice).
    evicting: std::sync::atomic::AtomicBool,
    registry: Arc<Connections>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Connection {
    /// Marks a request in progress until the returned guard is dropped
    /// (move the guard into the response body with [`Tracked`], so the
    /// request counts as busy until its body is sent).
    pub fn request(self: &Arc<Self>) -> RequestGuard {
        self.busy.fetch_add(1, Ordering::SeqCst);
        RequestGuard(self.clone())
    }

    /// Resolves when the registry wants this connection closed (then call
    /// hyper's `graceful_shutdown`: an idle connection closes at once, a
    /// request in progress finishes first).
    pub async fn evicted(&self) {
        self.evict.notified().await;
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.registry.live.lock().remove(&self.id);
    }
}

/// A request in progress on a [`Connection`].
#[derive(Debug)]
pub struct RequestGuard(Arc<Connection>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let c = &self.0;
        c.idle_since_us.store(c.registry.now_us(), Ordering::SeqCst);
        c.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The registry of one listener's connections.
#[derive(Debug)]
pub struct Connections {
    slots: Arc<Semaphore>,
    live: Mutex<HashMap<u64, std::sync::Weak<Connection>>>,
    next_id: AtomicU64,
    started: Instant,
    max: usize,
}

impl Connections {
    /// A registry allowing `max` connections at once (at least 1).
    pub fn new(max: usize) -> Arc<Connections> {
        let max = max.max(1);
        Arc::new(Connections {
            slots: Arc::new(Semaphore::new(max)),
            live: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            started: Instant::now(),
            max,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.max - self.slots.available_permits()
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Admits a connection just accepted: at once if below the cap, else
    /// after closing the longest-idle connection, else (every connection
    /// busy) when one closes.
    pub async fn admit(self: &Arc<Self>) -> Arc<Connection> {
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                let mut evicted = self.evict_longest_idle();
                if !evicted {
                    tracing::debug!(
                        max = self.max,
                        "HTTP connection cap reached with every connection busy; waiting"
                    );
                }
                loop {
                    tokio::select! {
                        // The semaphore is never closed (`None` cannot happen).
                        p = self.slots.clone().acquire_owned() => break p.ok(),
                        // A request that ends leaves its connection open
                        // and idle: look again until one can be closed.
                        _ = tokio::time::sleep(BUSY_RECHECK), if !evicted => {
                            evicted = self.evict_longest_idle();
                        }
                    }
                }
            }
        };
        self.register(permit)
    }

    fn register(self: &Arc<Self>, permit: Option<OwnedSemaphorePermit>) -> Arc<Connection> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Connection {
            id,
            busy: AtomicUsize::new(0),
            idle_since_us: AtomicU64::new(self.now_us()),
            evict: Notify::new(),
            evicting: std::sync::atomic::AtomicBool::new(false),
            registry: self.clone(),
            _permit: permit,
        });
        self.live.lock().insert(id, Arc::downgrade(&conn));
        conn
    }

    /// Asks the connection idle the longest to close; false if none is idle.
    fn evict_longest_idle(&self) -> bool {
        let victim = {
            let live = self.live.lock();
            live.values()
                .filter_map(std::sync::Weak::upgrade)
                .filter(|c| {
                    c.busy.load(Ordering::SeqCst) == 0 && !c.evicting.load(Ordering::SeqCst)
                })
                .min_by_key(|c| c.idle_since_us.load(Ordering::SeqCst))
        };
        match victim {
            Some(c) => {
                tracing::debug!(
                    max = self.max,
                    idle_us = self
                        .now_us()
                        .saturating_sub(c.idle_since_us.load(Ordering::SeqCst)),
                    "HTTP connection cap reached: closing the longest-idle connection"
                );
                c.evicting.store(true, Ordering::SeqCst);
                c.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// A response body that keeps its request counted as in progress until it
/// is sent (or dropped).
#[derive(Debug)]
pub struct Tracked<B> {
    inner: B,
    _guard: RequestGuard,
}

impl<B> Tracked<B> {
    /// Wraps `inner`, holding `guard` until the body is dropped.
    pub fn new(inner: B, guard: RequestGuard) -> Tracked<B> {
        Tracked {
            inner,
            _guard: guard,
        }
    }
}

impl<B> HttpBody for Tracked<B>
where
    B: HttpBody + Unpin,
    B::Data: Buf,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The hyper HTTP/1.1 connection settings every listener of gomodfs uses:
/// the header read timeout (which also ends idle keep-alive connections)
/// on tokio's timer.
pub fn http1_builder(header_timeout: Duration) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder
}
