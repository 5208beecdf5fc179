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
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tracing::debug;

/// One connection's activity: when it last received bytes, sent replies
/// or finished a call, how many calls it has going on in tasks of their
/// own, whether it waits to write replies its client does not take, and
/// the signal that asks it to close.
///
/// A connection whose client stopped taking its replies (the socket's
/// buffers full, its write waiting) is idle since its last write
/// completed, and once it has waited that way for a second
/// (`STUCK_WRITE`) may be closed even with calls going on: they wait for
/// the connection's byte budget, which only its client's reading frees.
/// Asked to close, it gives up the write.
#[derive(Debug)]
pub struct Activity {
    clock: Instant,
    idle_since_us: AtomicU64,
    calls: AtomicUsize,
    write_waiting: AtomicBool,
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
    /// them (`true`), or is done (`false`).
    pub fn write_waits(&self, waiting: bool) {
        self.write_waiting.store(waiting, Ordering::SeqCst);
    }

    /// Whether the connection may be closed to make room: idle, or
    /// waiting on a client that has taken none of its replies for
    /// `stuck_after` (a client that reads, only slower than the server
    /// writes, keeps its connection).
    fn closable(&self, stuck_after: Duration) -> bool {
        self.idle()
            || (self.write_waiting.load(Ordering::SeqCst)
                && self
                    .now_us()
                    .saturating_sub(self.idle_since_us.load(Ordering::SeqCst))
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
    connections: Mutex<HashMap<u64, Weak<Activity>>>,
    stuck_after: Duration,
}

/// How long a connection's client must have taken none of its replies
/// (its write waiting all along) before the connection may be closed
/// with calls going on.
const STUCK_WRITE: Duration = Duration::from_secs(1);

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
            write_waiting: AtomicBool::new(false),
            evicting: AtomicBool::new(false),
            evict: Notify::new(),
        });
        activity.touch();
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::downgrade(&activity));
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
            .filter_map(Weak::upgrade)
            .filter(|a| a.closable(self.stuck_after) && !a.evicting.load(Ordering::SeqCst))
            .min_by_key(|a| a.idle_since_us.load(Ordering::SeqCst));
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
        // client may be closed, once the client has taken nothing for
        // `stuck_after`.
        busy.activity.touch();
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
