//! [`RateWindow`]: the idle timeout and minimum transfer rate of a response
//! body. There is deliberately no total deadline: a 500 MiB zip on a slow
//! but live link must work, while a drip of a byte now and then must not
//! hold a reader for hours.

use std::time::{Duration, Instant};

/// Watches one body as it arrives. A body fails when no byte came for a
/// whole window (idle), or when a window ended with fewer than
/// `min_rate × window` bytes received in it (too slow). Windows follow each
/// other from the first read of the body on; a body that ends within a
/// window is never judged on that window.
#[derive(Debug, Clone)]
pub(crate) struct RateWindow {
    window: Duration,
    min_rate: u64,
    min_bytes: u64,
    start: Instant,
    bytes: u64,
    last_data: Instant,
}

impl RateWindow {
    /// Starts watching now, with windows of `window` and `min_rate` bytes
    /// per second (0: only the idle timeout).
    pub(crate) fn new(window: Duration, min_rate: u64) -> Self {
        Self::starting_at(Instant::now(), window, min_rate)
    }

    fn starting_at(now: Instant, window: Duration, min_rate: u64) -> Self {
        let min_bytes = (min_rate as f64 * window.as_secs_f64()).ceil() as u64;
        RateWindow {
            window,
            min_rate,
            min_bytes,
            start: now,
            bytes: 0,
            last_data: now,
        }
    }

    /// When the next check is due if no data arrives before.
    pub(crate) fn deadline(&self) -> Instant {
        (self.last_data + self.window).min(self.start + self.window)
    }

    /// Records `n` bytes received now.
    pub(crate) fn received(&mut self, n: usize) {
        self.received_at(Instant::now(), n);
    }

    fn received_at(&mut self, now: Instant, n: usize) {
        self.bytes = self.bytes.saturating_add(n as u64);
        self.last_data = now;
    }

    /// Judges the body now, `total` bytes into it: `Some(cause)` if it
    /// must fail; else it may start a new window.
    pub(crate) fn check(&mut self, total: usize) -> Option<String> {
        self.check_at(Instant::now(), total)
    }

    fn check_at(&mut self, now: Instant, total: usize) -> Option<String> {
        if now >= self.last_data + self.window {
            return Some(format!("no data for {:?} after {total} bytes", self.window));
        }
        if now < self.start + self.window {
            return None;
        }
        if self.bytes < self.min_bytes {
            return Some(format!(
                "too slow: {} bytes in {:?} (after {total} bytes), below the minimum of {} bytes/s",
                self.bytes,
                now.duration_since(self.start),
                self.min_rate
            ));
        }
        self.start = now;
        self.bytes = 0;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(5);

    #[test]
    fn a_drip_fails_at_the_end_of_the_first_window() {
        let t0 = Instant::now();
        let mut r = RateWindow::starting_at(t0, W, 1024);
        for s in 1..5 {
            let now = t0 + Duration::from_secs(s);
            r.received_at(now, 1);
            assert_eq!(r.check_at(now, s as usize), None);
        }
        assert_eq!(r.deadline(), t0 + W);
        let cause = r.check_at(t0 + W, 4).expect("a drip fails");
        assert!(cause.contains("too slow: 4 bytes"), "{cause}");
    }

    #[test]
    fn a_steady_slow_link_above_the_minimum_goes_on() {
        let t0 = Instant::now();
        let mut r = RateWindow::starting_at(t0, W, 1024);
        // 2 KiB/s for an hour, in chunks every 100 ms.
        for i in 1..=36_000u64 {
            let now = t0 + Duration::from_millis(100 * i);
            r.received_at(now, 205);
            assert_eq!(r.check_at(now, 0), None, "at {i}");
        }
    }

    #[test]
    fn silence_after_a_fast_start_is_idle() {
        let t0 = Instant::now();
        let mut r = RateWindow::starting_at(t0, W, 1024);
        r.received_at(t0 + Duration::from_secs(1), 1 << 20);
        assert_eq!(r.deadline(), t0 + W);
        // The window was fine: a new one starts; the idle deadline is 1 s + W.
        assert_eq!(r.check_at(t0 + W, 1 << 20), None);
        assert_eq!(r.deadline(), t0 + Duration::from_secs(1) + W);
        let cause = r
            .check_at(t0 + Duration::from_secs(6), 1 << 20)
            .expect("silence fails");
        assert!(cause.contains("no data for 5s"), "{cause}");
    }

    #[test]
    fn zero_rate_is_only_the_idle_timeout() {
        let t0 = Instant::now();
        let mut r = RateWindow::starting_at(t0, W, 0);
        for s in 1..100 {
            let now = t0 + Duration::from_secs(s * 4);
            r.received_at(now, 1);
            assert_eq!(r.check_at(now, 1), None);
        }
    }
}
