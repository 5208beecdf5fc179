//! The download-wait pool: threads for FUSE requests that need a download.
//!
//! FUSE workers answer what the store and caches hold; a request that needs
//! the network is handed here with its reply object, so a burst of downloads
//! never holds up requests for stored modules. Threads are started on demand
//! up to a maximum and then stay; past the maximum, requests queue (each is
//! one blocked client call, so the queue is bounded by the clients).

use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

type Job = Box<dyn FnOnce() + Send + 'static>;

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    ready: Condvar,
}

/// A bounded pool of threads that wait for downloads.
pub(crate) struct Waiters {
    shared: Arc<Shared>,
    max: usize,
}

impl Waiters {
    /// A pool of at most `max` threads (at least one).
    pub(crate) fn new(max: usize) -> Self {
        Waiters {
            shared: Arc::default(),
            max: max.max(1),
        }
    }

    /// Runs `job` on a pool thread, starting one if all are busy and the
    /// maximum is not reached.
    pub(crate) fn run(&self, job: impl FnOnce() + Send + 'static) {
        let mut state = self.shared.state.lock();
        state.queue.push_back(Box::new(job));
        // Idle threads that have not woken yet take queued jobs one each.
        if state.queue.len() <= state.idle || state.threads >= self.max {
            self.shared.ready.notify_one();
            return;
        }
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            // The default stack: after the download the thread reads the
            // store and builds the module's tree. Untouched pages cost no
            // memory.
            .name("gomodfs-wait".into())
            .spawn(move || work(&shared));
        match spawned {
            Ok(_) => state.threads += 1,
            Err(e) if state.threads > 0 => {
                tracing::warn!(error = %e, "starting a download-wait thread; queueing")
            }
            Err(e) => {
                // No thread at all: answer here rather than never.
                tracing::warn!(error = %e, "starting a download-wait thread; waiting inline");
                let job = state.queue.pop_back();
                drop(state);
                if let Some(job) = job {
                    job();
                }
            }
        }
    }
}

impl Drop for Waiters {
    fn drop(&mut self) {
        self.shared.state.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

fn work(shared: &Shared) {
    loop {
        let job = {
            let mut state = shared.state.lock();
            loop {
                if let Some(job) = state.queue.pop_front() {
                    break job;
                }
                if state.closed {
                    state.threads -= 1;
                    return;
                }
                state.idle += 1;
                shared.ready.wait(&mut state);
                state.idle -= 1;
            }
        };
        // A panic drops the job's reply, which answers EIO; the thread
        // lives on.
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a FUSE request panicked while waiting for a download");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn runs_jobs_on_at_most_max_threads() {
        let pool = Waiters::new(4);
        let (tx, rx) = mpsc::channel();
        for i in 0..20 {
            let tx = tx.clone();
            pool.run(move || {
                std::thread::sleep(Duration::from_millis(20));
                let _ = tx.send(i);
            });
        }
        let mut got: Vec<i32> = (0..20)
            .filter_map(|_| rx.recv_timeout(Duration::from_secs(10)).ok())
            .collect();
        got.sort_unstable();
        assert_eq!(got, (0..20).collect::<Vec<_>>());
        assert!(pool.shared.state.lock().threads <= 4);
    }
}
