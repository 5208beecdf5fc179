//! Background processes of a test (`gomodfs mount`, `gomodfs serve`,
//! `rclone mount`): started with arguments and environment, their standard
//! error in a log file, ready when a mount answers or a listening address
//! is logged, stopped with SIGTERM or SIGKILL, killed on drop.
//!
//! ```no_run
//! use gomodfs_testkit::process::Launch;
//! # fn main() -> Result<(), gomodfs_testkit::TestkitError> {
//! # let (bin, store, mnt, log) = ("gomodfs", "/store", "/mnt", "/tmp/log");
//! let mount = Launch::new(bin, log)
//!     .args(["mount", mnt, "--store", store, "--offline"])
//!     .mount_point(mnt)
//!     .start()?;
//! // ... read below `mnt` ...
//! mount.stop()?; // SIGTERM; an error unless the exit is clean
//! # Ok(()) }
//! ```

use crate::{Result, TestkitError};
use std::ffi::{OsStr, OsString};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The file a gomodfs mount (or a mount of its WebDAV namespace) shows at
/// its root: its presence means the mount answers.
pub const STATUS_FILE: &str = ".gomodfs-status";

/// How long [`Launch::start`] waits for readiness unless told otherwise.
const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`Daemon::stop`] waits for the exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// How often readiness and exits are polled.
const POLL: Duration = Duration::from_millis(50);

/// How to start a [`Daemon`]: program, arguments, environment, log file
/// and what "ready" means.
#[derive(Debug, Clone)]
pub struct Launch {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    log: PathBuf,
    mount: Option<PathBuf>,
    markers: Vec<String>,
    timeout: Duration,
}

impl Launch {
    /// `program` (for gomodfs: `env!("CARGO_BIN_EXE_gomodfs")`), with its
    /// standard error written to `log` (created or truncated), standard
    /// output discarded, `RUST_LOG=info` and `GOSUMDB=off` (the test
    /// proxy's modules are in no public checksum database, and the default
    /// run never reaches the internet: tests of the checksum database set
    /// `GOSUMDB` to the test proxy's database).
    pub fn new(program: impl AsRef<OsStr>, log: impl AsRef<Path>) -> Launch {
        Launch {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: vec![
                ("RUST_LOG".into(), "info".into()),
                ("GOSUMDB".into(), "off".into()),
            ],
            log: log.as_ref().to_owned(),
            mount: None,
            markers: Vec::new(),
            timeout: DEFAULT_READY_TIMEOUT,
        }
    }

    /// Runs the program through a wrapper that executes it in place, for
    /// example `["prlimit", "--nofile=1024:1024", "--"]`: the wrapper comes
    /// first on the command line, the program becomes its argument.
    pub fn wrapped_in<I, S>(mut self, wrapper: I) -> Launch
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut wrapper: Vec<OsString> =
            wrapper.into_iter().map(|s| s.as_ref().to_owned()).collect();
        if wrapper.is_empty() {
            return self;
        }
        let program = std::mem::replace(&mut self.program, wrapper.remove(0));
        wrapper.push(program);
        wrapper.append(&mut self.args);
        self.args = wrapper;
        self
    }

    /// One more argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Launch {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// More arguments.
    pub fn args<I, S>(mut self, args: I) -> Launch
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// An environment variable (replaces an earlier value, `RUST_LOG`
    /// included).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Launch {
        let key = key.as_ref().to_owned();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.as_ref().to_owned()));
        self
    }

    /// The process mounts `dir`: it is ready once `dir` shows
    /// [`STATUS_FILE`], and the mount is detached lazily when the process
    /// is killed (a dead FUSE mount would block later tests).
    pub fn mount_point(mut self, dir: impl AsRef<Path>) -> Launch {
        self.mount = Some(dir.as_ref().to_owned());
        self
    }

    /// The process is ready once its log contains `marker` followed by a
    /// socket address (`127.0.0.1:PORT`, optionally as `http://…/`); the
    /// address is then [`Daemon::address`]`(marker)`. May be given more
    /// than once: ready when every marker is logged.
    pub fn listening(mut self, marker: impl Into<String>) -> Launch {
        self.markers.push(marker.into());
        self
    }

    /// How long to wait for readiness (default 60 s).
    pub fn ready_within(mut self, timeout: Duration) -> Launch {
        self.timeout = timeout;
        self
    }

    /// Starts the process and waits until it is ready. Fails, with the log,
    /// when it exits first or is not ready in time (it is killed then).
    pub fn start(self) -> Result<Daemon> {
        let logfile = std::fs::File::create(&self.log)
            .map_err(|e| TestkitError::io(format!("create {}", self.log.display()), e))?;
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logfile);
        let child = cmd.spawn().map_err(|e| {
            TestkitError::io(format!("spawn {}", self.program.to_string_lossy()), e)
        })?;
        let mut daemon = Daemon {
            pid: child.id(),
            child: Some(child),
            name: self.program.to_string_lossy().into_owned(),
            log: self.log,
            mount: self.mount,
            addresses: Vec::new(),
        };
        daemon.wait_ready(&self.markers, self.timeout)?;
        Ok(daemon)
    }
}

/// A running background process: killed (SIGKILL) on drop unless stopped,
/// and its mount, if any, detached.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    pid: u32,
    name: String,
    log: PathBuf,
    mount: Option<PathBuf>,
    addresses: Vec<(String, SocketAddr)>,
}

impl Daemon {
    fn wait_ready(&mut self, markers: &[String], timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.log_text();
            self.addresses = markers
                .iter()
                .filter_map(|m| address_after(&text, m).map(|a| (m.clone(), a)))
                .collect();
            let mounted = self
                .mount
                .as_ref()
                .is_none_or(|dir| dir.join(STATUS_FILE).exists());
            if mounted && self.addresses.len() == markers.len() {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(TestkitError::Invalid(format!(
                    "{} exited with {status} before it was ready; log:\n{text}",
                    self.name
                )));
            }
            if Instant::now() >= deadline {
                return Err(TestkitError::Invalid(format!(
                    "{} was not ready within {timeout:?}; log:\n{text}",
                    self.name
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    /// The process id (of the wrapper, which runs the program in place).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the process has not been seen to exit.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The address logged after `marker` (see [`Launch::listening`]).
    pub fn address(&self, marker: &str) -> Option<SocketAddr> {
        self.addresses
            .iter()
            .find(|(m, _)| m == marker)
            .map(|(_, a)| *a)
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The log so far (empty when it cannot be read).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A line of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`, `RssAnon`,
    /// ...), when the process runs and has it.
    pub fn status_kib(&self, field: &str) -> Option<u64> {
        status_kib(self.pid, field)
    }

    /// Sends SIGTERM and waits up to `limit` for the exit: its status and
    /// how long it took. On a timeout the process is left running (drop
    /// kills it).
    pub fn terminate_within(&mut self, limit: Duration) -> Result<(ExitStatus, Duration)> {
        let child = self
            .child
            .as_mut()
            .ok_or_else(|| TestkitError::Invalid(format!("{} has already exited", self.name)))?;
        let sent = Instant::now();
        signal("TERM", self.pid)?;
        loop {
            if let Some(status) = child
                .try_wait()
                .map_err(|e| TestkitError::io("wait for the process", e))?
            {
                self.child = None;
                return Ok((status, sent.elapsed()));
            }
            if sent.elapsed() > limit {
                return Err(TestkitError::Invalid(format!(
                    "{} did not exit within {limit:?} of SIGTERM",
                    self.name
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    /// SIGTERM, and a clean exit (status 0): anything else is an error
    /// with the log.
    pub fn stop(mut self) -> Result<ExitStatus> {
        let (status, _) = self.terminate_within(STOP_TIMEOUT)?;
        if status.success() {
            Ok(status)
        } else {
            Err(TestkitError::Invalid(format!(
                "{} exited with {status}; log:\n{}",
                self.name,
                self.log_text()
            )))
        }
    }

    /// Waits up to `limit` for an exit of its own (after an unmount, say):
    /// the status, or `None` when it still runs.
    pub fn wait_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            let status = self.child.as_mut()?.try_wait().ok().flatten();
            if status.is_some() {
                self.child = None;
                return status;
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Forgets the mount: drop will not detach it (it was unmounted).
    pub fn forget_mount(&mut self) {
        self.mount = None;
    }

    /// SIGKILL, as a crash, and the dead mount detached.
    pub fn kill9(mut self) {
        self.kill_and_detach();
    }

    fn kill_and_detach(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = self.mount.take() {
            lazy_unmount(&dir);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.kill_and_detach();
        }
    }
}

/// The socket address right after the first `marker` in `text`.
fn address_after(text: &str, marker: &str) -> Option<SocketAddr> {
    let rest = text.split(marker).nth(1)?;
    let word = rest.split_whitespace().next()?;
    let word = word.strip_prefix("http://").unwrap_or(word);
    word.trim_end_matches(['/', ']', ',']).parse().ok()
}

/// Sends `SIG<name>` to `pid` with kill(1).
pub fn signal(name: &str, pid: u32) -> Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .map_err(|e| TestkitError::io("run kill", e))?;
    if status.success() {
        Ok(())
    } else {
        Err(TestkitError::Invalid(format!(
            "kill -{name} {pid}: {status}"
        )))
    }
}

/// Whether `program` is found on `PATH` (`command -v`), for tests that
/// must fail with an installation hint when a tool is missing.
pub fn on_path(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", "command -v \"$1\"", "sh", program])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Detaches a (possibly dead) FUSE mount: `fusermount3 -u -z`, else
/// `fusermount -u -z`, else `umount -l`.
pub fn lazy_unmount(dir: &Path) {
    for bin in ["fusermount3", "fusermount"] {
        if Command::new(bin)
            .args(["-u", "-z", "-q"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            return;
        }
    }
    let _ = Command::new("umount").arg("-l").arg(dir).status();
}

/// A line of `/proc/PID/status` of process `pid` in KiB (`VmRSS`, `VmHWM`,
/// `RssAnon`, ...), when the process runs and has it.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_after_their_marker() {
        let log = "x\ngomodfs: serving HTTP on http://127.0.0.1:4242/\n\
                   INFO serving NFSv3 on 127.0.0.1:2049 (read-only)\n";
        assert_eq!(
            address_after(log, "serving HTTP on "),
            Some("127.0.0.1:4242".parse().unwrap())
        );
        assert_eq!(
            address_after(log, "serving NFSv3 on "),
            Some("127.0.0.1:2049".parse().unwrap())
        );
        assert_eq!(address_after(log, "status page at "), None);
    }

    #[test]
    fn programs_are_looked_up_on_the_path() {
        assert!(on_path("sh"));
        assert!(!on_path("no-such-program-for-gomodfs-tests"));
    }

    #[test]
    fn a_wrapper_runs_the_program_as_its_argument() {
        let l = Launch::new("gomodfs", "/dev/null")
            .args(["serve"])
            .wrapped_in(["prlimit", "--nofile=8:8", "--"]);
        assert_eq!(l.program, "prlimit");
        assert_eq!(l.args, ["--nofile=8:8", "--", "gomodfs", "serve"]);
    }

    #[test]
    fn a_process_is_ready_when_its_marker_is_logged_and_stops_on_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let d = Launch::new("sh", dir.path().join("log"))
            .args([
                "-c",
                "trap 'exit 0' TERM; echo listening on 127.0.0.1:99 >&2; while :; do sleep 0.05; done",
            ])
            .listening("listening on ")
            .start()
            .unwrap();
        assert_eq!(
            d.address("listening on "),
            Some("127.0.0.1:99".parse().unwrap())
        );
        assert!(d.log_text().contains("listening on"));
        assert!(d.status_kib("VmRSS").is_some());
        assert!(d.stop().unwrap().success());
    }

    #[test]
    fn an_early_exit_is_an_error_with_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let e = Launch::new("sh", dir.path().join("log"))
            .args(["-c", "echo bad flag >&2; exit 2"])
            .listening("never ")
            .start()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("before it was ready") && e.contains("bad flag"),
            "{e}"
        );
    }
}
