//! [`GoCmd`]: run the real `go` with a controlled environment.

use crate::{Result, TestkitError};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default time limit of one `go` run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Finds the `go` binary: `$GOMODFS_TEST_GO` if set, else `go` on `PATH`,
/// else `/usr/local/go/bin/go`. An error (never a silent skip) if none
/// exists: tests that need `go` must fail without it.
pub fn find_go() -> Result<PathBuf> {
    find_go_in(
        std::env::var_os("GOMODFS_TEST_GO"),
        std::env::var_os("PATH"),
        Path::new("/usr/local/go/bin/go"),
    )
}

fn find_go_in(
    override_path: Option<std::ffi::OsString>,
    path: Option<std::ffi::OsString>,
    fallback: &Path,
) -> Result<PathBuf> {
    if let Some(p) = override_path {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        return Err(TestkitError::GoNotFound(format!(
            "GOMODFS_TEST_GO={} is not a file",
            p.display()
        )));
    }
    let path = path.unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let cand = dir.join("go");
        if cand.is_file() {
            return Ok(cand);
        }
    }
    if fallback.is_file() {
        return Ok(fallback.to_path_buf());
    }
    Err(TestkitError::GoNotFound(format!(
        "no `go` on PATH ({}) nor at {}; install Go or set GOMODFS_TEST_GO",
        path.to_string_lossy(),
        fallback.display()
    )))
}

/// The shared default `GOCACHE`: `$GOMODFS_TEST_GOCACHE`, else
/// `<temp dir>/gomodfs-testkit-gocache`. Shared between runs and tests (the
/// build cache is safe for concurrent use and content-addressed; it holds no
/// modules), so the standard library is compiled once, not once per test.
pub fn shared_gocache() -> PathBuf {
    match std::env::var_os("GOMODFS_TEST_GOCACHE") {
        Some(p) => PathBuf::from(p),
        None => std::env::temp_dir().join("gomodfs-testkit-gocache"),
    }
}

fn drain(
    mut src: impl Read + Send + 'static,
    buf: Arc<Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match src.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.lock().extend_from_slice(&chunk[..n]),
            }
        }
    })
}

fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    {
        // No libc (unsafe) here: the kill(1) command signals the group.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The output of a finished `go` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoOutput {
    /// The exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl GoOutput {
    /// Whether `go` exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// A `go` invocation template: the working directory and a clean, explicit
/// environment.
///
/// The environment is *cleared* and rebuilt, so nothing leaks in from the
/// developer's shell (GOFLAGS, GOPROXY, GOPRIVATE, GONOSUMDB, a go.env file):
///
/// | variable | default |
/// | --- | --- |
/// | `PATH` | inherited |
/// | `HOME`, `GOPATH` | in a temp dir owned by this `GoCmd` |
/// | `GOCACHE` | [`shared_gocache`] |
/// | `GOMODCACHE` | `<temp>/gomodcache` (set it with [`GoCmd::gomodcache`]) |
/// | `GOPROXY` | `off` |
/// | `GOFLAGS` | `-mod=mod -modcacherw` (so temp module caches can be deleted) |
/// | `GOSUMDB` | `off` |
/// | `GOTOOLCHAIN` | `local` |
/// | `GOENV`, `GOWORK`, `GOTELEMETRY` | `off` |
/// | `CGO_ENABLED` | `0` |
///
/// ```no_run
/// use gomodfs_testkit::GoCmd;
/// # fn main() -> Result<(), gomodfs_testkit::TestkitError> {
/// let out = GoCmd::new("/tmp/main")?
///     .gomodcache("/mnt/gomodfs")
///     .run(&["build", "./..."])?;
/// println!("{}", out.stderr);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct GoCmd {
    go: PathBuf,
    dir: PathBuf,
    env: BTreeMap<String, String>,
    timeout: Duration,
    _tmp: tempfile::TempDir,
}

impl GoCmd {
    /// A `go` runner working in `dir`, with the default environment above.
    /// Fails if `go` cannot be found.
    pub fn new(dir: impl AsRef<Path>) -> Result<GoCmd> {
        let go = find_go()?;
        let tmp = tempfile::Builder::new()
            .prefix("gomodfs-testkit-go-")
            .tempdir()
            .map_err(|e| TestkitError::io("create a temp dir for go", e))?;
        let t = tmp.path();
        let mut env = BTreeMap::new();
        if let Some(p) = std::env::var_os("PATH") {
            env.insert("PATH".to_owned(), p.to_string_lossy().into_owned());
        }
        let s = |p: PathBuf| p.to_string_lossy().into_owned();
        env.insert("HOME".into(), s(t.join("home")));
        env.insert("GOPATH".into(), s(t.join("gopath")));
        env.insert("GOCACHE".into(), s(shared_gocache()));
        env.insert("GOMODCACHE".into(), s(t.join("gomodcache")));
        env.insert("GOPROXY".into(), "off".into());
        env.insert("GOFLAGS".into(), "-mod=mod -modcacherw".into());
        env.insert("GOSUMDB".into(), "off".into());
        env.insert("GOTOOLCHAIN".into(), "local".into());
        env.insert("GOENV".into(), "off".into());
        env.insert("GOWORK".into(), "off".into());
        env.insert("GOTELEMETRY".into(), "off".into());
        env.insert("CGO_ENABLED".into(), "0".into());
        if let Some(tmpdir) = std::env::var_os("TMPDIR") {
            env.insert("TMPDIR".into(), tmpdir.to_string_lossy().into_owned());
        }
        for sub in ["home", "gopath"] {
            std::fs::create_dir_all(t.join(sub))
                .map_err(|e| TestkitError::io(format!("create {}", t.join(sub).display()), e))?;
        }
        Ok(GoCmd {
            go,
            dir: dir.as_ref().to_path_buf(),
            env,
            timeout: DEFAULT_TIMEOUT,
            _tmp: tmp,
        })
    }

    /// Sets an environment variable (overrides a default).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> GoCmd {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(mut self, key: &str) -> GoCmd {
        self.env.remove(key);
        self
    }

    /// Sets `GOMODCACHE` (e.g. the gomodfs mount point).
    pub fn gomodcache(self, dir: impl AsRef<Path>) -> GoCmd {
        let v = dir.as_ref().to_string_lossy().into_owned();
        self.env("GOMODCACHE", v)
    }

    /// Sets `GOPROXY` (e.g. [`crate::TestProxy::url`], or `off`).
    pub fn goproxy(self, value: impl Into<String>) -> GoCmd {
        self.env("GOPROXY", value)
    }

    /// Sets `GOFLAGS`.
    pub fn goflags(self, value: impl Into<String>) -> GoCmd {
        self.env("GOFLAGS", value)
    }

    /// Sets `GOCACHE` (share one build cache between runs to save time).
    pub fn gocache(self, dir: impl AsRef<Path>) -> GoCmd {
        let v = dir.as_ref().to_string_lossy().into_owned();
        self.env("GOCACHE", v)
    }

    /// Sets the time limit of each run (default [`DEFAULT_TIMEOUT`]); `go`
    /// is killed when it passes.
    pub fn timeout(mut self, t: Duration) -> GoCmd {
        self.timeout = t;
        self
    }

    /// The working directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The value of an environment variable as it will be passed.
    pub fn get_env(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }

    /// Runs `go <args>`; an error (naming the command, directory, key
    /// environment, exit code and stderr) unless it exits 0.
    pub fn run(&self, args: &[&str]) -> Result<GoOutput> {
        let out = self.output(args)?;
        if out.success() {
            Ok(out)
        } else {
            Err(TestkitError::GoFailed {
                command: self.describe(args),
                code: out.code,
                stdout: out.stdout,
                stderr: out.stderr,
            })
        }
    }

    /// Runs `go <args>` and returns its output whatever the exit code (for
    /// tests that expect failure). Errors only if `go` cannot be started or
    /// times out.
    pub fn output(&self, args: &[&str]) -> Result<GoOutput> {
        let mut cmd = Command::new(&self.go);
        cmd.args(args)
            .current_dir(&self.dir)
            .env_clear()
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Own process group, so a timeout kills `go` and whatever it started
        // (`go run`, `go test` binaries), which would otherwise hold the pipes.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd
            .spawn()
            .map_err(|e| TestkitError::io(format!("start {}", self.describe(args)), e))?;
        let out_buf = Arc::new(Mutex::new(Vec::new()));
        let err_buf = Arc::new(Mutex::new(Vec::new()));
        let t_out = child.stdout.take().map(|s| drain(s, Arc::clone(&out_buf)));
        let t_err = child.stderr.take().map(|s| drain(s, Arc::clone(&err_buf)));
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break Some(st),
                Ok(None) if Instant::now() >= deadline => {
                    kill_group(&mut child);
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => {
                    kill_group(&mut child);
                    return Err(TestkitError::io(
                        format!("wait for {}", self.describe(args)),
                        e,
                    ));
                }
            }
        };
        if status.is_some() {
            // go has exited; its pipes close unless it left a child behind.
            for t in [t_out, t_err].into_iter().flatten() {
                let _ = t.join();
            }
        }
        let stdout = String::from_utf8_lossy(&out_buf.lock()).into_owned();
        let stderr = String::from_utf8_lossy(&err_buf.lock()).into_owned();
        match status {
            Some(st) => Ok(GoOutput {
                code: st.code(),
                stdout,
                stderr,
            }),
            None => Err(TestkitError::GoTimeout {
                command: self.describe(args),
                timeout: self.timeout,
                stderr,
            }),
        }
    }

    fn describe(&self, args: &[&str]) -> String {
        let mut s = String::new();
        for k in [
            "GOMODCACHE",
            "GOPROXY",
            "GOFLAGS",
            "GOSUMDB",
            "HTTP_PROXY",
            "http_proxy",
        ] {
            if let Some(v) = self.env.get(k) {
                s.push_str(&format!("{k}={v} "));
            }
        }
        s.push_str(&self.go.to_string_lossy());
        for a in args {
            s.push(' ');
            s.push_str(a);
        }
        format!("`{s}` in {}", self.dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_go_is_a_clear_error() {
        let e = find_go_in(
            None,
            Some("/nonexistent-a:/nonexistent-b".into()),
            Path::new("/nonexistent/go"),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("`go` command was not found"), "{msg}");
        assert!(msg.contains("/nonexistent-a"), "{msg}");
        let e = find_go_in(Some("/nonexistent/go".into()), None, Path::new("/x")).unwrap_err();
        assert!(e.to_string().contains("GOMODFS_TEST_GO"), "{e}");
    }

    #[test]
    fn failure_message_names_command_code_and_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let go = GoCmd::new(dir.path()).unwrap().goproxy("off");
        let e = go
            .run(&["mod", "download", "example.com/nope@v1.0.0"])
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("mod download example.com/nope@v1.0.0"),
            "{msg}"
        );
        assert!(msg.contains("GOPROXY=off"), "{msg}");
        assert!(msg.contains("exit code Some(1)"), "{msg}");
        assert!(msg.contains("--- stderr:"), "{msg}");
    }

    #[test]
    fn timeout_kills_go_and_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let main = "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n\t\"time\"\n)\n\nfunc main() {\n\tfmt.Fprintln(os.Stderr, \"sleeping\")\n\ttime.Sleep(time.Hour)\n}\n";
        std::fs::write(dir.path().join("go.mod"), "module m\n\ngo 1.21\n").unwrap();
        std::fs::write(dir.path().join("main.go"), main).unwrap();
        let go = GoCmd::new(dir.path()).unwrap();
        go.run(&["build", "-o", "/dev/null", "."]).unwrap();
        let t0 = Instant::now();
        let e = go
            .timeout(Duration::from_secs(5))
            .run(&["run", "."])
            .unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(60), "{:?}", t0.elapsed());
        let msg = e.to_string();
        assert!(matches!(e, TestkitError::GoTimeout { .. }), "{msg}");
        assert!(msg.contains("timed out after 5s"), "{msg}");
        assert!(msg.contains("sleeping"), "{msg}");
    }
}
