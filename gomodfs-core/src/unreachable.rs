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

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The last slow failure of each server (by name), while it is recent.
#[derive(Debug, Default)]
pub(crate) struct Unreachable {
    last: parking_lot::Mutex<HashMap<String, (Instant, String)>>,
}

impl Unreachable {
    /// How long a slow failure keeps requests to its server from being
    /// made.
    pub(crate) const FOR: Duration = Duration::from_secs(30);

    /// A failure that took at least this long pauses its server.
    pub(crate) const SLOW: Duration = Duration::from_secs(5);

    /// The cause to report instead of asking `server`, if it failed slowly
    /// less than [`Unreachable::FOR`] before `now`.
    pub(crate) fn recent(&self, server: &str, now: Instant) -> Option<String> {
        let last = self.last.lock();
        let (at, cause) = last.get(server)?;
        let age = now.saturating_duration_since(*at);
        let left = Self::FOR.checked_sub(age).filter(|l| !l.is_zero())?;
        Some(format!(
            "{server} could not be reached {} s ago ({cause}); it is asked again in {} s",
            age.as_secs(),
            left.as_secs().max(1)
        ))
    }

    /// Notes a request to `server` that failed at `now` for `cause` after
    /// `took`; only a slow failure ([`Unreachable::SLOW`]) is kept.
    pub(crate) fn failed(&self, server: &str, now: Instant, took: Duration, cause: String) {
        if took >= Self::SLOW {
            self.last.lock().insert(server.to_owned(), (now, cause));
        }
    }

    /// Notes an answer from `server`: it is reachable.
    pub(crate) fn reached(&self, server: &str) {
        let mut last = self.last.lock();
        if !last.is_empty() {
            last.remove(server);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_failure_answers_for_a_while_and_an_answer_forgets_it() {
        let u = Unreachable::default();
        let t0 = Instant::now();
        let slow = Unreachable::SLOW;
        assert_eq!(u.recent("db", t0), None, "nothing failed yet");
        u.failed("db", t0, slow, "timed out after 60 s".into());
        let said = u
            .recent("db", t0 + Duration::from_secs(12))
            .expect("recent");
        assert!(
            said.contains("db could not be reached 12 s ago (timed out after 60 s)")
                && said.contains("in 18 s"),
            "{said}"
        );
        assert_eq!(u.recent("other", t0), None, "servers are apart");
        assert_eq!(
            u.recent("db", t0 + Unreachable::FOR),
            None,
            "asked again once the time is up"
        );
        u.failed("db", t0, slow, "timed out".into());
        u.reached("db");
        assert_eq!(u.recent("db", t0), None, "an answer forgets the failure");
        u.failed("db", t0, Duration::from_millis(1400), "refused".into());
        assert_eq!(u.recent("db", t0), None, "a quick failure pauses nothing");
    }
}
