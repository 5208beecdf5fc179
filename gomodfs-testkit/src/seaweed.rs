//! A real S3-compatible object store for tests: SeaweedFS (`weed server`
//! with its filer and S3 gateway) on 127.0.0.1, free ports, a temporary
//! data directory, telemetry off, killed on drop. Feature `s3`.
//!
//! Not `weed mini`: it keeps SeaweedFS's default of refusing every write
//! once the disk has less than 1% free (2.5 GB of a 252 GB disk, less than
//! a CI machine may have left after the build), and its writes then fail
//! after 30 s with a 500. Here the floor is [`MIN_FREE_SPACE`] and the
//! volume count is fixed, and [`SeaweedFs::start`] returns only once a
//! write went through, or fails saying how much disk was free.
//!
//! The `weed` binary is built once per machine by `.ci/seaweedfs.sh`; tests
//! find it through `$GOMODFS_WEED`, else in that script's cache directory,
//! else run the script themselves; they fail (never skip) with a hint when
//! the build fails.
//!
//! ```no_run
//! # fn main() -> Result<(), gomodfs_testkit::TestkitError> {
//! let s3 = gomodfs_testkit::seaweed::SeaweedFs::start(&["fleet"])?;
//! // gomodfs ... --remote s3://fleet/test1 with s3.env() set
//! # Ok(()) }
//! ```

use crate::process::{Daemon, Launch};
use crate::{Result, TestkitError};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The SeaweedFS version `.ci/seaweedfs.sh` builds.
pub const SEAWEEDFS_VERSION: &str = "v0.0.0-20261109003541-7506e5f91cd6";

/// The access key the test server accepts.
pub const ACCESS_KEY: &str = "gomodfs-test";
/// Its secret.
pub const SECRET_KEY: &str = "gomodfs-test-secret";

/// What `weed server` prints, followed by an address, as its S3 gateway
/// starts (the gateway listens a moment later: [`SeaweedFs::restart`]
/// waits for its port).
const READY_MARKER: &str = "S3 read master addresses for discovery: [";

/// The free disk space below which the test server refuses writes.
pub const MIN_FREE_SPACE: &str = "64MiB";

/// How long a started server may take to accept its first write (the
/// volume server registers with the master after the gateway listens).
const WRITABLE_WITHIN: Duration = Duration::from_secs(90);

/// The `weed` binary: `$GOMODFS_WEED`, else where `.ci/seaweedfs.sh`
/// builds it. An error says how to get it.
pub fn find_weed() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("GOMODFS_WEED").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(TestkitError::Invalid(format!(
                "GOMODFS_WEED={} is not a file",
                p.display()
            )))
        };
    }
    let cache = std::env::var_os("GOMODFS_CI_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("gomodfs-ci")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/gomodfs-ci")))
        .unwrap_or_default();
    let bin = cache.join(format!("seaweedfs-{SEAWEEDFS_VERSION}/weed"));
    if bin.is_file() {
        return Ok(bin);
    }
    build_weed(&bin)
}

/// Builds `weed` with the workspace's `.ci/seaweedfs.sh` (about 4 minutes
/// on 2 cores, once per machine), so that `cargo test` works on a fresh
/// machine as the README says. The script lets one build run at a time.
fn build_weed(bin: &std::path::Path) -> Result<PathBuf> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/seaweedfs.sh");
    let hint = || {
        format!(
            "the fleet-tier tests need the SeaweedFS server: run .ci/seaweedfs.sh once \
             (builds {}), or set GOMODFS_WEED to a weed binary",
            bin.display()
        )
    };
    eprintln!(
        "testkit: building SeaweedFS with {} (once per machine)",
        script.display()
    );
    let out = std::process::Command::new("bash")
        .arg(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| {
            TestkitError::Invalid(format!("{}: running {}: {e}", hint(), script.display()))
        })?;
    let built = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if out.status.success() && built.is_file() {
        Ok(built)
    } else {
        Err(TestkitError::Invalid(format!(
            "{}: {} failed ({})",
            hint(),
            script.display(),
            out.status
        )))
    }
}

/// A running SeaweedFS with an S3 endpoint. Killed on drop.
#[derive(Debug)]
pub struct SeaweedFs {
    weed: PathBuf,
    process: Option<Daemon>,
    dir: tempfile::TempDir,
    ports: [u16; 4],
    buckets: Vec<String>,
    starts: u32,
    /// How long a (re)started server may take to accept a write.
    writable_within: Duration,
}

impl SeaweedFs {
    /// Starts SeaweedFS with `buckets` created, and waits until it serves.
    pub fn start(buckets: &[&str]) -> Result<SeaweedFs> {
        Self::start_in(&std::env::temp_dir(), buckets, WRITABLE_WITHIN)
    }

    /// [`SeaweedFs::start`] with its data in a new directory under `parent`,
    /// and `writable_within` for its first write to go through (a write
    /// that fails takes SeaweedFS 30 s, so the wait is at least that).
    pub fn start_in(
        parent: &Path,
        buckets: &[&str],
        writable_within: Duration,
    ) -> Result<SeaweedFs> {
        let weed = find_weed()?;
        let dir = tempfile::Builder::new()
            .prefix("gomodfs-seaweed-")
            .tempdir_in(parent)
            .map_err(|e| TestkitError::io("creating the SeaweedFS directory", e))?;
        let mut s3 = SeaweedFs {
            weed,
            process: None,
            dir,
            ports: free_ports()?,
            buckets: buckets.iter().map(|b| (*b).to_owned()).collect(),
            starts: 0,
            writable_within,
        };
        // A port found free may be taken before weed binds it (other
        // tests run at the same time): try again on other ports. A server
        // that listens and then refuses writes is not a port problem.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match s3.launch() {
                Ok(()) => break,
                Err(e) if attempts >= 3 => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "SeaweedFS did not start; trying other ports");
                    s3.kill();
                    s3.ports = free_ports()?;
                }
            }
        }
        s3.prepare()?;
        Ok(s3)
    }

    /// The S3 endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports[3])
    }

    /// The S3 address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[3]))
    }

    /// The variables a client needs: credentials, region, endpoint.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
        ]
    }

    /// The server's log (its standard output and error).
    pub fn log_text(&self) -> String {
        self.process
            .as_ref()
            .map(Daemon::log_text)
            .unwrap_or_default()
    }

    /// Kills the server (SIGKILL); its data stays for [`SeaweedFs::restart`].
    pub fn kill(&mut self) {
        if let Some(p) = self.process.take() {
            p.kill9();
        }
        self.remove_sockets();
    }

    /// Removes the Unix sockets weed makes beside its ports in /tmp (fixed
    /// there, whatever TMPDIR says; named by service and port, the gRPC
    /// ones by port + 10000). A killed weed leaves them behind, and a
    /// machine running the tests every day collects thousands.
    fn remove_sockets(&self) {
        const KINDS: [&str; 6] = [
            "master-grpc",
            "volume-grpc",
            "filer",
            "filer-grpc",
            "s3",
            "s3-grpc",
        ];
        for port in self.ports {
            for p in [port, port.saturating_add(10_000)] {
                for kind in KINDS {
                    let _ = std::fs::remove_file(format!("/tmp/seaweedfs-{kind}-{p}.sock"));
                }
            }
        }
    }

    /// Freezes the server (SIGSTOP): connections are accepted by the
    /// kernel and never answered, a remote that is "slow" without limit.
    pub fn pause(&self) -> Result<()> {
        self.signal("STOP")
    }

    /// Thaws a [`SeaweedFs::pause`]d server (SIGCONT).
    pub fn resume(&self) -> Result<()> {
        self.signal("CONT")
    }

    fn signal(&self, name: &str) -> Result<()> {
        let pid = self
            .process
            .as_ref()
            .map(Daemon::pid)
            .ok_or_else(|| TestkitError::Invalid("SeaweedFS is not running".into()))?;
        crate::process::signal(name, pid)
    }

    /// Starts the server (again) on the same ports and data, and waits
    /// until it serves.
    pub fn restart(&mut self) -> Result<()> {
        self.launch()?;
        self.prepare()
    }

    /// Starts the process on the ports and data, and waits until its S3
    /// port takes connections.
    fn launch(&mut self) -> Result<()> {
        self.kill();
        self.starts += 1;
        let [master, volume, filer, s3] = self.ports;
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data)
            .map_err(|e| TestkitError::io("creating the SeaweedFS data directory", e))?;
        let log = self.dir.path().join(format!("weed-{}.log", self.starts));
        let process = Launch::new(&self.weed, log)
            // Its standard output into the log too.
            .wrapped_in(["sh", "-c", "exec \"$0\" \"$@\" 1>&2"])
            .args(["server", "-filer", "-s3"])
            .arg(format!("-dir={}", data.display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-webdav=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-master.telemetry=false",
                "-master.volumeSizeLimitMB=64",
                // Not derived from the free space (volumes are sparse
                // files; the tests write a few hundred MiB at most).
                "-volume.max=100",
                "-volume.preStopSeconds=0",
            ])
            .arg(format!("-volume.minFreeSpace={MIN_FREE_SPACE}"))
            .arg(format!("-master.port={master}"))
            .arg(format!("-volume.port={volume}"))
            .arg(format!("-filer.port={filer}"))
            .arg(format!("-s3.port={s3}"))
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            // Its log files (weed.INFO, ...) go to the temporary directory
            // too, not /tmp (its gRPC sockets stay in /tmp, fixed there).
            .env("TMPDIR", self.dir.path())
            .listening(READY_MARKER)
            .ready_within(Duration::from_secs(120))
            .start()?;
        self.process = Some(process);
        self.wait_listening()
    }

    /// Creates the buckets and waits until a write goes through.
    fn prepare(&self) -> Result<()> {
        self.create_buckets()?;
        self.wait_writable()
    }

    /// Waits until the S3 port takes connections.
    fn wait_listening(&self) -> Result<()> {
        self.retry("connecting to its S3 port", || {
            TcpStream::connect_timeout(&self.addr(), Duration::from_secs(5))
                .map(drop)
                .map_err(|e| e.to_string())
        })
    }

    /// Creates the buckets (directories under the filer's `/buckets`; one
    /// already there, after a restart, is fine). The filer answers 500
    /// until it has found the master.
    fn create_buckets(&self) -> Result<()> {
        for bucket in &self.buckets {
            self.until_answered("POST", &format!("/buckets/{bucket}/"), &[409])?;
        }
        Ok(())
    }

    /// Writes and deletes a probe file outside the buckets until a write
    /// goes through: a write before the volume server has registered (or
    /// with the disk below [`MIN_FREE_SPACE`]) waits 30 s and fails.
    fn wait_writable(&self) -> Result<()> {
        let path = "/gomodfs-testkit-probe";
        self.until_answered("PUT", path, &[])?;
        self.until_answered("DELETE", path, &[404])
    }

    /// Sends `method path` to the filer until it answers 2xx or one of
    /// `also_fine`.
    fn until_answered(&self, method: &str, path: &str, also_fine: &[u16]) -> Result<()> {
        let body: &[u8] = if method == "PUT" { b"probe" } else { b"" };
        self.retry(&format!("{method} {path} on its filer"), || {
            match self.filer(method, path, body) {
                Ok(status) if (200..300).contains(&status) || also_fine.contains(&status) => Ok(()),
                Ok(status) => Err(format!("HTTP {status}")),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    /// Runs `attempt` until it succeeds, for `writable_within`; then
    /// fails with `what`, the last cause and [`SeaweedFs::failure`]'s
    /// context.
    fn retry(
        &self,
        what: &str,
        mut attempt: impl FnMut() -> std::result::Result<(), String>,
    ) -> Result<()> {
        let deadline = std::time::Instant::now() + self.writable_within;
        loop {
            match attempt() {
                Ok(()) => return Ok(()),
                Err(last) if std::time::Instant::now() >= deadline => {
                    return Err(self.failure(&format!("{what}: {last}")));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// One HTTP/1.1 request to the filer; its status code.
    fn filer(&self, method: &str, path: &str, body: &[u8]) -> Result<u16> {
        use std::io::{Read, Write};
        let addr = SocketAddr::from(([127, 0, 0, 1], self.ports[2]));
        let io = |e| TestkitError::io("talking to the SeaweedFS filer", e);
        let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(io)?;
        // A write with no volume to go to fails after 30 s.
        conn.set_read_timeout(Some(Duration::from_secs(40)))
            .map_err(io)?;
        // No Content-Type on an empty body: the filer takes a POST with
        // one for a multipart upload, not a directory.
        let kind = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/octet-stream\r\n"
        };
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\
             {kind}Connection: close\r\n\r\n",
            body.len()
        );
        conn.write_all(head.as_bytes()).map_err(io)?;
        conn.write_all(body).map_err(io)?;
        let mut answer = Vec::new();
        conn.read_to_end(&mut answer).map_err(io)?;
        let text = String::from_utf8_lossy(&answer);
        text.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| {
                TestkitError::Invalid(format!("the SeaweedFS filer answered {text:.200}"))
            })
    }

    /// An error that says what failed, how much disk was free and how the
    /// server's log ends.
    fn failure(&self, what: &str) -> TestkitError {
        let log = self.log_text();
        let lines: Vec<&str> = log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(15)..];
        TestkitError::Invalid(format!(
            "SeaweedFS in {} is not usable: {what}; {}; its log ends:\n{}",
            self.dir.path().display(),
            free_space(self.dir.path()),
            tail.join("\n")
        ))
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        self.kill();
    }
}

/// "N MiB free on the disk of DIR", from `df`, or why it is unknown.
fn free_space(dir: &Path) -> String {
    let out = std::process::Command::new("df")
        .args(["-Pk", "--"])
        .arg(dir)
        .output();
    let free_kib = out.ok().and_then(|o| {
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let line = text.lines().nth(1)?.to_owned();
        line.split_whitespace().nth(3)?.parse::<u64>().ok()
    });
    match free_kib {
        Some(kib) => format!(
            "{} MiB free on its disk (SeaweedFS refuses writes below {MIN_FREE_SPACE})",
            kib / 1024
        ),
        None => "free disk space unknown (df failed)".to_owned(),
    }
}

/// One SeaweedFS shared by the tests of a test binary that run at the same
/// time, with `buckets` created: started by the first caller, killed when
/// the last holder drops it (statics are never dropped, so a plain static
/// server would outlive the test binary).
pub fn shared(buckets: &[&str]) -> Result<std::sync::Arc<SeaweedFs>> {
    use std::sync::{Arc, Mutex, Weak};
    static SHARED: Mutex<Weak<SeaweedFs>> = Mutex::new(Weak::new());
    let mut slot = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s3) = slot.upgrade() {
        return Ok(s3);
    }
    let s3 = Arc::new(SeaweedFs::start(buckets)?);
    *slot = Arc::downgrade(&s3);
    Ok(s3)
}

/// Four free ports (master, volume, filer, S3) whose gRPC companions
/// (port + 10000) are free too.
fn free_ports() -> Result<[u16; 4]> {
    let mut ports = Vec::new();
    let mut held = Vec::new();
    for _ in 0..200 {
        if ports.len() == 4 {
            break;
        }
        let l = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| TestkitError::io("finding a free port", e))?;
        let port = l
            .local_addr()
            .map_err(|e| TestkitError::io("finding a free port", e))?
            .port();
        held.push(l);
        if !(1024..=55_000).contains(&port) {
            continue;
        }
        if let Ok(g) = TcpListener::bind(("127.0.0.1", port + 10_000)) {
            held.push(g);
            ports.push(port);
        }
    }
    match ports[..] {
        [a, b, c, d] => Ok([a, b, c, d]),
        _ => Err(TestkitError::Invalid(
            "no four free ports with free gRPC companions".into(),
        )),
    }
}
