//! [`Unreachable`]: a checksum database that could not be reached is not
//! asked again for a while.
//!
//! A request to the database that fails has already been retried (see
//! `proxy::client`), so it means the database is out of reach: down, or
//! behind a firewall that drops its packets, where each request waits the
//! whole fetch timeout. Without this, every module go asks for would wait
//! that long again (a build of six modules took 75 s to fail with a 2 s
//! timeout, and would take half an hour with the default 60 s); with it,
//! the requests made meanwhile fail at once with the first one's cause,
//! and the database is asked again once [`Unreachable::FOR`] has passed.

use std::time::{Duration, Instant};

/// The last failure to reach a database, while it is recent.
#[derive(Debug, Default)]
pub(crate) struct Unreachable {
    last: parking_lot::Mutex<Option<(Instant, String)>>,
}

impl Unreachable {
    /// How long a failure keeps requests from being made.
    pub(crate) const FOR: Duration = Duration::from_secs(30);

    /// The cause to report instead of asking, if the database failed
    /// less than [`Unreachable::FOR`] ago (at `now`).
    pub(crate) fn recent(&self, now: Instant) -> Option<String> {
        let last = self.last.lock();
        let (at, cause) = last.as_ref()?;
        let age = now.saturating_duration_since(*at);
        let left = Self::FOR.checked_sub(age).filter(|l| !l.is_zero())?;
        Some(format!(
            "the checksum database could not be reached {} s ago ({cause}); \
             it is asked again in {} s",
            age.as_secs(),
            left.as_secs().max(1)
        ))
    }

    /// Notes a request that failed at `now` for `cause`.
    pub(crate) fn failed(&self, now: Instant, cause: String) {
        *self.last.lock() = Some((now, cause));
    }

    /// Notes a request that got an answer: the database is reachable.
    pub(crate) fn reached(&self) {
        *self.last.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_answers_for_a_while_and_an_answer_forgets_it() {
        let u = Unreachable::default();
        let t0 = Instant::now();
        assert_eq!(u.recent(t0), None, "nothing failed yet");
        u.failed(t0, "timed out after 60 s".into());
        let said = u.recent(t0 + Duration::from_secs(12)).expect("recent");
        assert!(
            said.contains("12 s ago (timed out after 60 s)") && said.contains("in 18 s"),
            "{said}"
        );
        assert_eq!(
            u.recent(t0 + Unreachable::FOR),
            None,
            "asked again once the time is up"
        );
        u.failed(t0, "refused".into());
        u.reached();
        assert_eq!(u.recent(t0), None, "an answer forgets the failure");
    }
}
