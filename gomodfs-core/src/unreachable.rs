//! [`Unreachable`]: a checksum database whose requests fail slowly is not
//! asked again for a while.
//!
//! A request that fails has already been retried (see `proxy::client`).
//! When that took long ([`Unreachable::SLOW`]: its attempts waited for the
//! fetch timeout), the database is out of reach in the expensive way: down
//! or behind a firewall that drops its packets. Every module needs a
//! lookup, all served alike from one log, so without a pause every module
//! go asks for would wait as long again (a build of six modules took 75 s
//! to fail with a 2 s fetch timeout, and would take half an hour with the
//! default 60 s). During the pause ([`Unreachable::FOR`]) lookups fail at
//! once with the first failure's cause; any answer ends the pause. A
//! failure that comes quickly (connection refused, a 500) costs little and
//! pauses nothing.
//!
//! Module proxies are not paused this way: one module can be slow where
//! others are not (a proxy fetching a large module from its origin before
//! it answers), so a slow failure there says nothing of the next module.

use std::time::{Duration, Instant};

/// The last slow failure of one server, while it is recent.
#[derive(Debug)]
pub(crate) struct Unreachable {
    /// How the server is named in messages.
    server: String,
    last: parking_lot::Mutex<Option<(Instant, String)>>,
}

impl Unreachable {
    /// How long a slow failure keeps requests to its server from being
    /// made.
    pub(crate) const FOR: Duration = Duration::from_secs(30);

    /// A failure that took at least this long pauses its server.
    pub(crate) const SLOW: Duration = Duration::from_secs(5);

    /// No failure yet of `server` (its name in messages).
    pub(crate) fn new(server: String) -> Unreachable {
        Unreachable {
            server,
            last: parking_lot::Mutex::new(None),
        }
    }

    /// The cause to report instead of asking the server, if it failed
    /// slowly less than [`Unreachable::FOR`] before `now`.
    pub(crate) fn recent(&self, now: Instant) -> Option<String> {
        let last = self.last.lock();
        let (at, cause) = last.as_ref()?;
        let age = now.saturating_duration_since(*at);
        let left = Self::FOR.checked_sub(age).filter(|l| !l.is_zero())?;
        Some(format!(
            "{} could not be reached {} s ago ({cause}); it is asked again in {} s",
            self.server,
            age.as_secs(),
            left.as_secs().max(1)
        ))
    }

    /// Notes a request that failed at `now` for `cause` after `took`; only
    /// a slow failure ([`Unreachable::SLOW`]) is kept.
    pub(crate) fn failed(&self, now: Instant, took: Duration, cause: String) {
        if took >= Self::SLOW {
            *self.last.lock() = Some((now, cause));
        }
    }

    /// Notes an answer from the server: it is reachable.
    pub(crate) fn reached(&self) {
        *self.last.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_failure_answers_for_a_while_and_an_answer_forgets_it() {
        let u = Unreachable::new("db".into());
        let t0 = Instant::now();
        let slow = Unreachable::SLOW;
        assert_eq!(u.recent(t0), None, "nothing failed yet");
        u.failed(t0, slow, "timed out after 60 s".into());
        let said = u.recent(t0 + Duration::from_secs(12)).expect("recent");
        assert!(
            said.contains("db could not be reached 12 s ago (timed out after 60 s)")
                && said.contains("in 18 s"),
            "{said}"
        );
        assert_eq!(
            u.recent(t0 + Unreachable::FOR),
            None,
            "asked again once the time is up"
        );
        u.failed(t0, slow, "timed out".into());
        u.reached();
        assert_eq!(u.recent(t0), None, "an answer forgets the failure");
        u.failed(t0, Duration::from_millis(1400), "refused".into());
        assert_eq!(u.recent(t0), None, "a quick failure pauses nothing");
    }
}
