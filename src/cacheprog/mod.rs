//! `gomodfs cacheprog`: a GOCACHEPROG helper that serves go's build cache
//! from a local directory shared by every build on the host.
//!
//! go starts the helper (`GOCACHEPROG="gomodfs cacheprog ..."`) and talks
//! to it over stdin/stdout ([`protocol`]). Objects live in a [`LocalDir`];
//! with `--read-only` the helper still reads the shared directory but keeps
//! its own puts in a private scratch directory that disappears with it, so
//! an untrusted build can never change what trusted builds get. Trimming
//! ([`trim`]) keeps the directory under a size cap.
//!
//! Memory stays bounded whatever the object size: a put's body is decoded
//! in 64 KiB chunks straight into a temporary file while it is hashed.

pub mod counters;
pub mod local;
pub mod protocol;
#[cfg(feature = "remote")]
pub mod remote;
pub mod trim;

pub use counters::Counters;
pub use local::LocalDir;

use counters::add;
use parking_lot::Mutex;
use protocol::{Command, Key, Request, Response};
use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How the helper runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The shared local directory.
    pub dir: PathBuf,
    /// Never change the shared directory: puts go to a private scratch
    /// directory removed at exit.
    pub read_only: bool,
    /// Write this process's counters to `<stats_dir>/<pid>.json`.
    pub stats_dir: Option<PathBuf>,
    /// What trimming keeps.
    pub trim: trim::Policy,
    /// Trim when the last trim of the directory is older than this.
    pub trim_interval: Duration,
    /// The remote tier, if any.
    #[cfg(feature = "remote")]
    pub remote: Option<gomodfs_core::remote::RemoteConfig>,
    /// At close, wait this long for uploads still in flight.
    pub flush_timeout: Duration,
}

impl Options {
    /// Defaults for `dir`: a 20 GiB cap, objects unused for 5 days removed
    /// (go's own limit), trimmed at most hourly.
    pub fn new(dir: PathBuf) -> Options {
        Options {
            dir,
            read_only: false,
            stats_dir: None,
            trim: trim::Policy {
                max_bytes: 20 << 30,
                max_unused: Duration::from_secs(5 * 86400),
                grace: trim::GRACE,
            },
            trim_interval: Duration::from_secs(3600),
            #[cfg(feature = "remote")]
            remote: None,
            flush_timeout: Duration::from_secs(30),
        }
    }
}

/// The default directory: `gocache` in the default store directory.
pub fn default_dir() -> Result<PathBuf, crate::Error> {
    Ok(crate::default_store_dir()?.join("gocache"))
}

/// The helper's state, shared by the threads that answer requests.
struct Cache {
    shared: LocalDir,
    /// `--read-only`: where puts (and remote hits) go, removed at exit.
    scratch: Option<(tempfile::TempDir, LocalDir)>,
    #[cfg(feature = "remote")]
    remote: Option<remote::RemoteTier>,
    counters: Arc<Counters>,
}

/// A sink that keeps draining after a write error, so that the protocol
/// stream stays in step; the first error is reported afterwards.
struct Sink {
    object: Option<local::NewObject>,
    error: Option<io::Error>,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(object) = &mut self.object
            && let Err(e) = object.write_all(buf)
        {
            self.object = None;
            self.error = Some(e);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Cache {
    fn open(options: &Options) -> Result<Cache, crate::Error> {
        let io = |context: String| move |source| crate::Error::Io { context, source };
        let dir = &options.dir;
        let shared = LocalDir::open(dir, !options.read_only, !options.read_only).map_err(io(
            format!("opening the build cache directory {}", dir.display()),
        ))?;
        let scratch = if options.read_only {
            let tmp = tempfile::Builder::new()
                .prefix("gomodfs-cacheprog-")
                .tempdir()
                .map_err(io("creating the read-only scratch directory".into()))?;
            let local = LocalDir::open(tmp.path(), true, false)
                .map_err(io("creating the read-only scratch directory".into()))?;
            Some((tmp, local))
        } else {
            None
        };
        #[cfg(feature = "remote")]
        let remote = match &options.remote {
            Some(config) => Some(remote::RemoteTier::open(
                config.open()?,
                &shared,
                options.read_only,
            )?),
            None => None,
        };
        Ok(Cache {
            shared,
            scratch,
            #[cfg(feature = "remote")]
            remote,
            counters: Arc::new(Counters::default()),
        })
    }

    /// Where puts go.
    fn writable(&self) -> &LocalDir {
        self.scratch.as_ref().map_or(&self.shared, |(_, l)| l)
    }

    fn get(&self, id: i64, action: &Key) -> Response {
        let c = &self.counters;
        add(&c.gets, 1);
        let mut found = Ok(None);
        for tier in self.scratch.iter().map(|(_, l)| l).chain([&self.shared]) {
            found = tier.get(action);
            if !matches!(found, Ok(None)) {
                break;
            }
        }
        #[cfg(feature = "remote")]
        if let (Ok(None), Some(remote)) = (&found, &self.remote) {
            found = Ok(remote.get(action, self.writable(), c));
        }
        match found {
            Ok(Some(hit)) => {
                add(&c.hits, 1);
                add(&c.hit_bytes, hit.size);
                Response::hit(id, &hit.output, hit.size, &hit.path)
            }
            Ok(None) => {
                add(&c.misses, 1);
                Response::miss(id)
            }
            Err(e) => {
                // Unreadable is a miss for go (it rebuilds), and logged.
                tracing::warn!(action = %local::hex(action), error = %e, "build cache get failed: a miss");
                add(&c.errors, 1);
                add(&c.misses, 1);
                Response::miss(id)
            }
        }
    }

    /// Reads a put's body from `input` and stores it. An `Err` is a broken
    /// protocol stream; a failure to store is an error reply.
    fn put(
        &self,
        input: &mut impl BufRead,
        id: i64,
        action: &Key,
        output: &Key,
        size: u64,
    ) -> io::Result<Response> {
        let c = &self.counters;
        add(&c.puts, 1);
        let dir = self.writable();
        let mut sink = match dir.create() {
            Ok(object) => Sink {
                object: Some(object),
                error: None,
            },
            Err(e) => Sink {
                object: None,
                error: Some(e),
            },
        };
        let body = protocol::read_body(input, size, &mut sink)?;
        add(&c.put_bytes, body.size);
        let stored = match (sink.object, sink.error) {
            _ if body.size != size => Err(format!(
                "put body has {} bytes, BodySize says {size}",
                body.size
            )),
            _ if &body.sha256 != output => Err("put body does not hash to its OutputID".to_owned()),
            (Some(object), None) => dir
                .commit(object, action, output, size)
                .map_err(|e| format!("storing in {}: {e}", dir.root().display())),
            (_, Some(e)) => Err(format!("writing to {}: {e}", dir.root().display())),
            (None, None) => Err("no temporary file".to_owned()),
        };
        Ok(match stored {
            Ok(path) => {
                #[cfg(feature = "remote")]
                if let Some(remote) = &self.remote {
                    remote.upload(action);
                }
                Response::stored(id, &path)
            }
            Err(e) => {
                tracing::warn!(action = %local::hex(action), error = %e, "build cache put failed");
                add(&c.errors, 1);
                Response::error(id, e)
            }
        })
    }
}

/// Writes replies from any thread, one whole line at a time, through a
/// buffer: the request loop sends the replies to the requests it finds
/// waiting together in one write ([`reply_later`], [`send_replies`]).
type Replies<W> = Arc<Mutex<io::BufWriter<W>>>;

fn answer_error(source: io::Error) -> crate::Error {
    crate::Error::Io {
        context: "answering go (GOCACHEPROG stdout)".into(),
        source,
    }
}

/// Writes `response` and sends it (with any reply waiting in the buffer).
fn reply<W: Write>(out: &Replies<W>, response: &Response) -> Result<(), crate::Error> {
    let mut out = out.lock();
    response.write_to(&mut *out).map_err(answer_error)?;
    out.flush().map_err(answer_error)
}

/// Writes `response` into the buffer; [`send_replies`] sends it.
fn reply_later<W: Write>(out: &Replies<W>, response: &Response) -> Result<(), crate::Error> {
    response.write_to(&mut *out.lock()).map_err(answer_error)
}

/// Sends the replies waiting in the buffer.
fn send_replies<W: Write>(out: &Replies<W>) -> Result<(), crate::Error> {
    out.lock().flush().map_err(answer_error)
}

/// Serves go on `input`/`output` until `close` or the end of the input;
/// returns the counters.
pub fn serve<R: io::Read, W: Write + Send + 'static>(
    options: &Options,
    input: R,
    output: W,
) -> Result<gomodfs_core::stats::BuildCacheCounters, crate::Error> {
    let cache = Arc::new(Cache::open(options)?);
    let out: Replies<W> = Arc::new(Mutex::new(io::BufWriter::with_capacity(64 * 1024, output)));
    reply(&out, &Response::hello())?;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reporter = options.stats_dir.as_ref().map(|dir| {
        let path = counters::report_path(dir);
        let (counters, done) = (cache.counters.clone(), done.clone());
        std::thread::spawn(move || report_until(&path, &counters, &done))
    });
    let trimmer = (!options.read_only).then(|| {
        let (root, policy, interval) = (
            cache.shared.root().to_owned(),
            options.trim,
            options.trim_interval,
        );
        let (counters, done) = (cache.counters.clone(), done.clone());
        std::thread::spawn(
            move || match trim::trim_if_due(&root, &policy, interval, &done) {
                Ok(Some(r)) => {
                    add(&counters.trimmed, r.removed);
                    tracing::info!(
                        removed = r.removed,
                        bytes_before = r.bytes_before,
                        bytes_after = r.bytes_after,
                        "trimmed the build cache"
                    );
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(dir = %root.display(), error = %e, "trimming the build cache")
                }
            },
        )
    });
    let result = request_loop(
        &cache,
        io::BufReader::with_capacity(256 * 1024, input),
        &out,
        options.flush_timeout,
    );
    // A trim still running stops at the next file: go waits for us to exit.
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(t) = trimmer {
        let _ = t.join();
    }
    if let Some(r) = reporter {
        let _ = r.join();
    }
    result?;
    Ok(cache.counters.snapshot())
}

/// Threads answering gets when they may wait on the network (a remote
/// tier): go keeps many in flight and takes the replies in any order.
const GET_THREADS: usize = 16;

/// A pool of threads answering gets; dropping it waits until every get
/// sent to it is answered.
struct GetPool {
    tx: Option<std::sync::mpsc::Sender<(i64, Key)>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl GetPool {
    fn start<W: Write + Send + 'static>(cache: &Arc<Cache>, out: &Replies<W>) -> GetPool {
        let (tx, rx) = std::sync::mpsc::channel::<(i64, Key)>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = (0..GET_THREADS)
            .map(|_| {
                let (cache, out, rx) = (cache.clone(), out.clone(), rx.clone());
                std::thread::spawn(move || {
                    loop {
                        let next = rx.lock().recv();
                        let Ok((id, action)) = next else { return };
                        if let Err(e) = reply(&out, &cache.get(id, &action)) {
                            tracing::warn!(error = %e, "answering a get");
                        }
                    }
                })
            })
            .collect();
        GetPool {
            tx: Some(tx),
            threads,
        }
    }
}

impl Drop for GetPool {
    fn drop(&mut self) {
        self.tx = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Cache {
    /// Whether gets may wait on the network.
    fn has_remote(&self) -> bool {
        #[cfg(feature = "remote")]
        {
            self.remote.is_some()
        }
        #[cfg(not(feature = "remote"))]
        {
            false
        }
    }

    /// Waits up to `timeout` for uploads in flight.
    fn flush(&self, timeout: Duration) {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            let left = remote.flush(timeout);
            if left > 0 {
                tracing::warn!(
                    left,
                    remote = remote.url(),
                    "uploads not finished at exit: the next helper resumes them"
                );
            }
        }
        #[cfg(not(feature = "remote"))]
        let _ = timeout;
    }
}

/// Whether the input holds no further request yet (reading one would wait
/// for go); skips the empty line that ends the last one.
fn nothing_waiting<R: io::Read>(input: &mut io::BufReader<R>) -> bool {
    let blank = input
        .buffer()
        .iter()
        .take_while(|b| b.is_ascii_whitespace())
        .count();
    input.consume(blank);
    input.buffer().is_empty()
}

fn request_loop<R: io::Read, W: Write + Send + 'static>(
    cache: &Arc<Cache>,
    mut input: io::BufReader<R>,
    out: &Replies<W>,
    flush_timeout: Duration,
) -> Result<(), crate::Error> {
    let broken = |source| crate::Error::Io {
        context: "reading go's requests (GOCACHEPROG stdin)".into(),
        source,
    };
    let mut pool = cache.has_remote().then(|| GetPool::start(cache, out));
    loop {
        // Before waiting for go, send what go waits for: the replies to
        // the requests that came together go out in one write.
        if nothing_waiting(&mut input) {
            send_replies(out)?;
        }
        let Some(Request { id, command }) = protocol::read_request(&mut input).map_err(broken)?
        else {
            tracing::debug!("go closed the requests without close");
            drop(pool.take());
            cache.flush(flush_timeout);
            return Ok(());
        };
        let response = match command {
            Command::Get { action } => match &pool {
                Some(GetPool { tx: Some(tx), .. }) => {
                    if tx.send((id, action)).is_err() {
                        reply(out, &Response::miss(id))?;
                    }
                    continue;
                }
                _ => cache.get(id, &action),
            },
            Command::Put {
                action,
                output,
                size,
            } => {
                // Its body may take a while to arrive.
                send_replies(out)?;
                cache
                    .put(&mut input, id, &action, &output, size)
                    .map_err(broken)?
            }
            Command::Close => {
                // Every get answered and the uploads done (or given up on)
                // before go is told it may go.
                drop(pool.take());
                cache.flush(flush_timeout);
                reply(out, &Response::ok(id))?;
                return Ok(());
            }
            Command::Unknown(name) => {
                add(&cache.counters.errors, 1);
                Response::error(id, format!("unknown command {name:?}"))
            }
        };
        reply_later(out, &response)?;
    }
}

/// Writes the counters to `path` every second until `done`, then once more.
fn report_until(path: &std::path::Path, counters: &Counters, done: &std::sync::atomic::AtomicBool) {
    let mut last = None;
    loop {
        let finished = done.load(std::sync::atomic::Ordering::Relaxed);
        let now = counters.snapshot();
        if last != Some(now) {
            if let Err(e) = counters::write_report(path, &now) {
                tracing::warn!(file = %path.display(), error = %e, "writing the build cache counters");
            }
            last = Some(now);
        }
        if finished {
            return;
        }
        for _ in 0..20 {
            if done.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
