//! Progress of a long store operation on stderr: an indicatif bar on a
//! terminal (modules done/total, bytes, rate, ETA), plain periodic lines
//! otherwise (CI logs), and lines about single items printed above the bar.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use parking_lot::Mutex;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// How often a plain progress line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

/// The progress of `total` items.
pub(crate) struct Progress {
    what: &'static str,
    total: u64,
    done: AtomicU64,
    bytes: AtomicU64,
    started: Instant,
    bar: Option<ProgressBar>,
    /// When the last plain line was printed (plain mode only).
    last_line: Mutex<Instant>,
}

impl Progress {
    /// Starts reporting `total` items, called `what` ("modules") in lines.
    /// A bar when stderr is a terminal (unless `plain`), lines otherwise.
    pub(crate) fn new(what: &'static str, total: u64, plain: bool) -> Progress {
        let bar = (!plain && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style =
                ProgressStyle::with_template("{bar:30} {pos}/{len} {prefix} · {msg} · ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(what);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            what,
            total,
            done: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            started: Instant::now(),
            bar,
            last_line: Mutex::new(Instant::now()),
        }
    }

    /// Counts one item done, of `bytes` bytes.
    pub(crate) fn item_done(&self, bytes: u64) {
        let done = self.done.fetch_add(1, Relaxed) + 1;
        self.bytes.fetch_add(bytes, Relaxed);
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
                bar.set_message(self.bytes_and_rate());
            }
            None => {
                let mut last = self.last_line.lock();
                if last.elapsed() >= PLAIN_EVERY {
                    *last = Instant::now();
                    eprintln!("{}", self.line());
                }
            }
        }
    }

    /// Prints a line about one item, above the bar if there is one.
    pub(crate) fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{line}");
            }
        }
    }

    /// Ends the bar (or prints the last plain line).
    pub(crate) fn finish(&self) {
        match &self.bar {
            Some(bar) => bar.finish_and_clear(),
            None => eprintln!("{}", self.line()),
        }
    }

    /// `12/40 modules, 3.1 MiB at 1.2 MiB/s, 8 s`.
    fn line(&self) -> String {
        format!(
            "{}/{} {}, {}, {:.0} s",
            self.done.load(Relaxed),
            self.total,
            self.what,
            self.bytes_and_rate(),
            self.started.elapsed().as_secs_f64()
        )
    }

    /// `3.1 MiB at 1.2 MiB/s`.
    fn bytes_and_rate(&self) -> String {
        let bytes = self.bytes.load(Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        format!(
            "{} at {}/s",
            human_bytes(bytes),
            human_bytes((bytes as f64 / secs) as u64)
        )
    }
}

/// A byte count for people: `512 B`, `3.1 MiB`.
pub fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}
