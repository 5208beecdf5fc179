//! Shared support for the integration tests: mounting gomodfs over a test
//! proxy, and running the real `gomodfs` binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use gomodfs::core::proxy::{Upstream, UpstreamConfig};
use gomodfs::core::store::GitStore;
use gomodfs::core::{ModFs, ModFsOptions};
use gomodfs::fuse::{Mount, MountOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Fails (never skips) when this machine cannot run FUSE tests.
pub fn require_fuse() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "FUSE tests need /dev/fuse (load the fuse module or run the container with --device /dev/fuse)"
    );
    let found = ["fusermount3", "fusermount"].iter().any(|b| {
        Command::new(b)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    });
    assert!(found, "FUSE tests need fusermount3: apt-get install fuse3");
}

/// Upstream settings for tests: fast retries, short timeouts.
pub fn test_upstream_config(proxy_url: &str) -> UpstreamConfig {
    let mut cfg = UpstreamConfig::with_proxy(proxy_url);
    cfg.retries = 2;
    cfg.retry_backoff = Duration::from_millis(20);
    cfg.idle_timeout = Duration::from_secs(2);
    cfg.connect_timeout = Duration::from_secs(2);
    cfg
}

/// A ModFs over the git store at `store`, fetching from `proxy_url` (or
/// offline when `None`).
pub fn modfs(store: &Path, proxy_url: Option<&str>) -> Arc<ModFs> {
    let store = GitStore::open(store).expect("open git store");
    let upstream =
        proxy_url.map(|u| Upstream::new(test_upstream_config(u)).expect("upstream client"));
    Arc::new(ModFs::new(Arc::new(store), upstream, ModFsOptions::default()).expect("ModFs"))
}

/// A FUSE mount of a ModFs on a fresh temporary directory.
pub struct Mounted {
    pub fs: Arc<ModFs>,
    pub mount: Option<Mount>,
    pub dir: tempfile::TempDir,
}

impl Mounted {
    pub fn new(store: &Path, proxy_url: Option<&str>) -> Mounted {
        require_fuse();
        let fs = modfs(store, proxy_url);
        let dir = tempfile::Builder::new()
            .prefix("gomodfs-mnt-")
            .tempdir()
            .expect("mount dir");
        let mount = gomodfs::fuse::mount(fs.clone(), dir.path(), &MountOptions::default())
            .expect("mount gomodfs");
        Mounted {
            fs,
            mount: Some(mount),
            dir,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn unmount(mut self) {
        if let Some(m) = self.mount.take() {
            m.unmount().expect("unmount");
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(m) = self.mount.take() {
            let _ = m.unmount();
        }
    }
}

/// The errno of an I/O error, for assertions.
pub fn errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

/// The gomodfs binary built for these tests.
pub fn gomodfs_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gomodfs"))
}

/// A `gomodfs mount` process; killed (SIGKILL) and lazily unmounted on drop
/// unless stopped.
pub struct MountProcess {
    pub child: Option<Child>,
    pub dir: PathBuf,
    pub log: PathBuf,
}

impl MountProcess {
    /// Starts `gomodfs mount DIR --store STORE [--proxy URL | --offline]`
    /// and waits until the mount answers.
    pub fn start(store: &Path, dir: &Path, proxy_url: Option<&str>, log: &Path) -> MountProcess {
        Self::start_with(store, dir, proxy_url, log, &[])
    }

    /// Like [`MountProcess::start`], with extra command-line arguments.
    pub fn start_with(
        store: &Path,
        dir: &Path,
        proxy_url: Option<&str>,
        log: &Path,
        extra: &[&str],
    ) -> MountProcess {
        require_fuse();
        let mut cmd = Command::new(gomodfs_bin());
        cmd.arg("mount")
            .arg(dir)
            .arg("--store")
            .arg(store)
            .args(extra);
        match proxy_url {
            Some(u) => cmd.arg("--proxy").arg(u),
            None => cmd.arg("--offline"),
        };
        let logfile = std::fs::File::create(log).expect("log file");
        cmd.stdout(Stdio::null())
            .stderr(logfile)
            .env("RUST_LOG", "info");
        let child = cmd.spawn().expect("spawn gomodfs mount");
        let mp = MountProcess {
            child: Some(child),
            dir: dir.to_owned(),
            log: log.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !dir.join(".gomodfs-status").exists() {
            assert!(
                Instant::now() < deadline,
                "gomodfs mount did not come up; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        mp
    }

    /// SIGTERM, and wait for a clean exit.
    pub fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .expect("kill");
            let status = child.wait().expect("wait");
            assert!(status.success(), "gomodfs mount exited with {status}");
        }
    }

    /// SIGKILL, as a crash, and clean up the dead mount.
    pub fn kill9(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        lazy_unmount(&self.dir);
    }
}

impl Drop for MountProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            lazy_unmount(&self.dir);
        }
    }
}

/// Detaches a (possibly dead) FUSE mount.
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

/// Runs `git` on a store, for verification only.
pub fn git(store: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .arg("--git-dir")
        .arg(store)
        .args(args)
        .output()
        .expect("git is needed to verify the store: apt-get install git")
}

/// A plain HTTP/1.0 GET: (status, headers, body).
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("http response");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, buf[split + 4..].to_vec())
}
