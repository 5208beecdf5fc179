//! Warnings about clients that send garbage or too much: logged at WARN
//! with the peer's address, at most [`PER_WINDOW`] per [`WINDOW`], so a
//! client can make the server log but not flood the log.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::warn;

const WINDOW: Duration = Duration::from_secs(10);
const PER_WINDOW: u32 = 20;

struct Window {
    start: Instant,
    logged: u32,
    suppressed: u64,
}

static STATE: Mutex<Option<Window>> = Mutex::new(None);

/// Logs what a client did wrong, unless too many such warnings were logged
/// recently (those are counted and reported with the next one logged).
pub fn warn_client(peer: &str, what: fmt::Arguments<'_>) {
    let now = Instant::now();
    let (log, suppressed) = {
        let mut state = STATE.lock().unwrap_or_else(PoisonError::into_inner);
        let window = state.get_or_insert(Window {
            start: now,
            logged: 0,
            suppressed: 0,
        });
        let mut suppressed = 0;
        if now.duration_since(window.start) >= WINDOW {
            suppressed = window.suppressed;
            *window = Window {
                start: now,
                logged: 0,
                suppressed: 0,
            };
        }
        if window.logged < PER_WINDOW {
            window.logged += 1;
            (true, suppressed)
        } else {
            window.suppressed += 1;
            (false, suppressed)
        }
    };
    if suppressed > 0 {
        warn!("{suppressed} more warnings about clients were not logged (rate limit)");
    }
    if log {
        warn!("client {peer}: {what}");
    }
}
