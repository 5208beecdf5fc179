//! What each open connection is doing, so that a listener at its cap on
//! connections can close the one idle the longest instead of refusing a
//! new client.
//!
//! Without it, connections whose clients went away without closing them
//! (a virtual machine killed, a network gone) held their slots for good:
//! once they filled the cap, every new mount was refused. A client whose
//! idle connection is closed reconnects on its next call, and a call it
//! sends again on the new connection is answered (duplicates are tracked
//! per connection).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tracing::debug;

/// One connection's activity: when it last received bytes or finished a
/// call, how many calls it has going on in tasks of their own, since when
/// its write of replies waits for its client to take them, and the signal
/// that asks it to close.
///
/// A connection whose write has waited a second (`STUCK_WRITE`: its
/// client stopped taking its replies, the socket's buffers full) may be
/// closed even with calls going on: they wait for the connection's byte
/// budget, which only its client's reading frees. Asked to close, it gives
/// up the write.
#[derive(Debug)]
pub struct Activity {
    clock: Instant,
    idle_since_us: AtomicU64,
    calls: AtomicUsize,
    /// When the write that waits began ([`NOT_WAITING`] when none does).
    write_waits_since_us: AtomicU64,
    evicting: AtomicBool,
    evict: Notify,
}

impl Activity {
    fn now_us(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Something happened on the connection now.
    pub fn touch(&self) {
        self.idle_since_us.store(self.now_us(), Ordering::SeqCst);
    }

    /// A call went on in a task of its own.
    pub fn call_started(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }

    /// A call in a task of its own ended (its reply, if any, is on its
    /// way to the connection, which may be stuck writing earlier ones).
    pub fn call_ended(&self) {
        self.calls.fetch_sub(1, Ordering::SeqCst);
        self.touch();
    }

    /// Whether no call is going on in a task of its own.
    pub fn idle(&self) -> bool {
        self.calls.load(Ordering::SeqCst) == 0
    }

    /// The connection's write of replies waits for its client to take
    /// them, from now (`true`), or is done (`false`).
    pub fn write_waits(&self, waiting: bool) {
        let since = if waiting { self.now_us() } else { NOT_WAITING };
        self.write_waits_since_us.store(since, Ordering::SeqCst);
    }

    /// Whether the connection may be closed to make room: idle, or its
    /// write waiting for `stuck_after` (a client that reads, only slower
    /// than the server writes, keeps its connection).
    fn closable(&self, stuck_after: Duration) -> bool {
        let since = self.write_waits_since_us.load(Ordering::SeqCst);
        self.idle()
            || (since != NOT_WAITING
                && self.now_us().saturating_sub(since)
                    >= u64::try_from(stuck_after.as_micros()).unwrap_or(u64::MAX))
    }

    /// Completes when the listener asks this connection to close.
    pub async fn evicted(&self) {
        self.evict.notified().await;
    }
}

/// The open connections of one listener.
#[derive(Debug)]
pub struct Live {
    clock: Instant,
    next_id: AtomicU64,
    connections: Mutex<HashMap<u64, Arc<Activity>>>,
    stuck_after: Duration,
}

/// How long a connection's write must have waited for its client before
/// the connection may be closed with calls going on.
const STUCK_WRITE: Duration = Duration::from_secs(1);

/// `write_waits_since_us` of a connection whose write does not wait.
const NOT_WAITING: u64 = u64::MAX;

/// A connection's entry in [`Live`], removed when dropped.
#[derive(Debug)]
pub struct Registered {
    live: Arc<Live>,
    id: u64,
    pub activity: Arc<Activity>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.live
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

impl Live {
    /// No connections yet.
    pub fn new() -> Arc<Self> {
        Self::with_stuck_after(STUCK_WRITE)
    }

    fn with_stuck_after(stuck_after: Duration) -> Arc<Self> {
        Arc::new(Self {
            clock: Instant::now(),
            next_id: AtomicU64::new(0),
            connections: Mutex::new(HashMap::new()),
            stuck_after,
        })
    }

    /// Registers a connection just accepted, idle since now.
    pub fn register(self: &Arc<Self>) -> Registered {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity {
            clock: self.clock,
            idle_since_us: AtomicU64::new(0),
            calls: AtomicUsize::new(0),
            write_waits_since_us: AtomicU64::new(NOT_WAITING),
            evicting: AtomicBool::new(false),
            evict: Notify::new(),
        });
        activity.touch();
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::clone(&activity));
        Registered {
            live: self.clone(),
            id,
            activity,
        }
    }

    /// Asks the connection idle the longest (no call going on in a task of
    /// its own, or its write waiting on its client) to close; false if
    /// none is.
    pub fn evict_longest_idle(&self) -> bool {
        let victim = self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|a| a.closable(self.stuck_after) && !a.evicting.load(Ordering::SeqCst))
            .min_by_key(|a| a.idle_since_us.load(Ordering::SeqCst))
            .cloned();
        let Some(victim) = victim else {
            return false;
        };
        debug!(
            idle_ms = victim
                .now_us()
                .saturating_sub(victim.idle_since_us.load(Ordering::SeqCst))
                / 1000,
            "at the cap on connections: closing the one idle the longest"
        );
        victim.evicting.store(true, Ordering::SeqCst);
        victim.evict.notify_one();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_idle_connection_without_calls_is_chosen() {
        let live = Live::with_stuck_after(Duration::from_millis(30));
        let older = live.register();
        std::thread::sleep(Duration::from_millis(2));
        let busy = live.register();
        std::thread::sleep(Duration::from_millis(2));
        let newer = live.register();
        // The oldest one has a call going on: not idle.
        older.activity.call_started();
        busy.activity.touch();
        assert!(live.evict_longest_idle());
        assert!(newer.activity.evicting.load(Ordering::SeqCst));
        assert!(!busy.activity.evicting.load(Ordering::SeqCst));
        // Already asked: the next choice is none (both others busy).
        busy.activity.call_started();
        assert!(!live.evict_longest_idle());
        // A connection with a call going on whose write waits on its
        // client may be closed, once it has waited `stuck_after`.
        busy.activity.write_waits(true);
        assert!(!live.evict_longest_idle());
        std::thread::sleep(Duration::from_millis(40));
        assert!(live.evict_longest_idle());
        assert!(busy.activity.evicting.load(Ordering::SeqCst));
        older.activity.call_ended();
        assert!(live.evict_longest_idle());
        assert!(older.activity.evicting.load(Ordering::SeqCst));
        drop((older, busy, newer));
        assert!(
            live.connections
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
        );
    }
}
