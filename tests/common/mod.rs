//! Shared support for the integration tests: mounting gomodfs over a test
//! proxy, and running the real `gomodfs` binary (through the testkit's
//! process launcher).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use gomodfs::core::proxy::{Upstream, UpstreamConfig};
use gomodfs::core::store::GitStore;
use gomodfs::core::{ModFs, ModFsOptions};
use gomodfs::fuse::{IoUring, Mount, MountOptions};
use gomodfs_testkit::nfs::LibNfs;
use gomodfs_testkit::process::{Daemon, Launch, on_path};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// Fails (never skips) when this machine cannot run FUSE tests.
pub fn require_fuse() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "FUSE tests need /dev/fuse (load the fuse module or run the container with --device /dev/fuse)"
    );
    let found = ["fusermount3", "fusermount"].into_iter().any(on_path);
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
    /// A mount of the store at `store` (fetching from `proxy_url`), over
    /// `/dev/fuse` whatever the kernel's switch says, or over io_uring when
    /// `GOMODFS_TEST_FUSE_IO_URING` is set (to run every FUSE suite over
    /// that transport).
    pub fn new(store: &Path, proxy_url: Option<&str>) -> Mounted {
        let options = MountOptions {
            io_uring: if std::env::var_os("GOMODFS_TEST_FUSE_IO_URING").is_some() {
                IoUring::On
            } else {
                IoUring::Off
            },
            ..MountOptions::default()
        };
        Mounted::with_options(store, proxy_url, &options)
    }

    /// Like [`Mounted::new`], with mount settings `options`.
    pub fn with_options(store: &Path, proxy_url: Option<&str>, options: &MountOptions) -> Mounted {
        require_fuse();
        let fs = modfs(store, proxy_url);
        let dir = tempfile::Builder::new()
            .prefix("gomodfs-mnt-")
            .tempdir()
            .expect("mount dir");
        let mount = gomodfs::fuse::mount(fs.clone(), dir.path(), options).expect("mount gomodfs");
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

/// What `gomodfs status DIR` prints (its error output too, for a failing
/// assertion to show).
pub fn status_summary(dir: &std::path::Path) -> String {
    let out = std::process::Command::new(gomodfs_bin())
        .arg("status")
        .arg(dir)
        .output()
        .expect("run gomodfs status");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A mount's status JSON (its `.gomodfs-status` file).
pub fn mount_status(mnt: &Path) -> serde_json::Value {
    let text = std::fs::read(mnt.join(".gomodfs-status")).expect("read the status file");
    serde_json::from_slice(&text).expect("status JSON")
}

/// How many `op` calls (`store_module`, `store_blob`, ...) ended so far,
/// from a status JSON.
pub fn ops_ended(status: &serde_json::Value, op: &str) -> u64 {
    status["ops"][op]["ended"].as_u64().unwrap_or(0)
}

/// Waits up to 30 s for the warm start of the mount at `mnt` to end; its
/// status (`warm_start` of the status JSON).
pub fn preloaded(mnt: &Path) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = mount_status(mnt);
        if s["warm_start"]["done"] == serde_json::Value::Bool(true) {
            return s["warm_start"].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the warm start did not end: {s:#}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts that the warm list of the store at `store` names `trees`
/// module trees and `mods` `.mod` files (what `gomodfs prefetch` or
/// `gomodfs import` put there), and that the first `gomodfs mount` of the
/// store preloads every one of them.
pub fn assert_first_mount_preloads(store: &Path, trees: usize, mods: usize) {
    let list_file = gomodfs::warm_list_path(store);
    let list = std::fs::read_to_string(&list_file)
        .unwrap_or_else(|e| panic!("{}: {e}", list_file.display()));
    let count = |kind: &str| list.lines().filter(|l| l.starts_with(kind)).count();
    assert_eq!((count("tree "), count("mod ")), (trees, mods), "{list}");
    let mnt = tempfile::tempdir().expect("mount dir");
    let logs = tempfile::tempdir().expect("log dir");
    let daemon = start_mount(store, mnt.path(), None, &logs.path().join("mount.log"), &[]);
    let warm = preloaded(mnt.path());
    assert_eq!(
        (warm["loaded"].as_u64(), warm["missing"].as_u64()),
        (Some((trees + mods) as u64), Some(0)),
        "{warm:#}"
    );
    daemon.stop().expect("stop the mount");
}

/// The errno of an I/O error, for assertions.
pub fn errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

/// The gomodfs binary built for these tests.
pub fn gomodfs_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gomodfs"))
}

/// `--proxy URL`, or `--offline` without one.
fn upstream_args(proxy_url: Option<&str>) -> Vec<&str> {
    match proxy_url {
        Some(u) => vec!["--proxy", u],
        None => vec!["--offline"],
    }
}

/// Starts `gomodfs mount DIR --store STORE EXTRA... [--proxy URL |
/// --offline]` and waits until the mount answers; killed (SIGKILL) and
/// lazily unmounted on drop unless stopped.
pub fn start_mount(
    store: &Path,
    dir: &Path,
    proxy_url: Option<&str>,
    log: &Path,
    extra: &[&str],
) -> Daemon {
    require_fuse();
    Launch::new(gomodfs_bin(), log)
        .arg("mount")
        .arg(dir)
        .arg("--store")
        .arg(store)
        .args(extra)
        .args(upstream_args(proxy_url))
        .mount_point(dir)
        .start()
        .expect("start gomodfs mount")
}

/// What `gomodfs serve --nfs` logs before its address.
pub const NFS_LISTENING: &str = "serving NFSv3 on ";

/// A `gomodfs serve --nfs 127.0.0.1:0` process and its port.
pub struct NfsServer {
    /// The process (killed on drop unless stopped).
    pub process: Daemon,
    /// The port of its portmapper, MOUNT and NFS.
    pub port: u16,
    /// Temporary directories it uses (store, logs), removed after it.
    dirs: Vec<tempfile::TempDir>,
}

impl NfsServer {
    /// Starts `gomodfs serve --nfs 127.0.0.1:0 --store STORE
    /// --fetch-timeout 2 EXTRA... [--proxy URL | --offline]` and waits
    /// until it says where it listens.
    pub fn start(store: &Path, proxy_url: Option<&str>, log: &Path, extra: &[&str]) -> NfsServer {
        let process = Launch::new(gomodfs_bin(), log)
            .args(["serve", "--nfs", "127.0.0.1:0", "--store"])
            .arg(store)
            .args(["--fetch-timeout", "2"])
            .args(extra)
            .args(upstream_args(proxy_url))
            .listening(NFS_LISTENING)
            .start()
            .expect("start gomodfs serve --nfs");
        let port = process
            .address(NFS_LISTENING)
            .expect("the NFS address")
            .port();
        NfsServer {
            process,
            port,
            dirs: Vec::new(),
        }
    }

    /// [`NfsServer::start`] over a fresh temporary store, fetching from
    /// `proxy_url`, its log `serve.log` in a fresh temporary directory
    /// (both removed after the server).
    pub fn on_fresh_store(proxy_url: &str, extra: &[&str]) -> NfsServer {
        let store = tempfile::tempdir().expect("store");
        let logs = tempfile::tempdir().expect("log directory");
        let mut server = NfsServer::start(
            store.path(),
            Some(proxy_url),
            &logs.path().join("serve.log"),
            extra,
        );
        server.dirs = vec![store, logs];
        server
    }

    /// The libnfs command-line tools pointed at this server.
    pub fn libnfs(&self) -> LibNfs {
        LibNfs::new(self.port)
    }
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

/// Asserts that `git fsck --strict` finds the store sound.
pub fn assert_fsck_strict(store: &Path) {
    let fsck = git(store, &["fsck", "--strict"]);
    assert!(
        fsck.status.success(),
        "git fsck: {}",
        String::from_utf8_lossy(&fsck.stderr)
    );
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

/// `gomodfs exec --store STORE --proxy PROXY EXTRA... -- CMD...` in `dir`,
/// with a hermetic go environment (no GOPROXY, GOMODCACHE or GOCACHEPROG
/// from the caller's shell).
pub fn exec_command(
    store: &Path,
    proxy: &str,
    dir: &Path,
    extra: &[&str],
    cmd: &[&str],
) -> Command {
    let mut c = Command::new(gomodfs_bin());
    c.arg("exec")
        .arg("--store")
        .arg(store)
        .arg("--proxy")
        .arg(proxy)
        .args(extra)
        .arg("--")
        .args(cmd)
        .current_dir(dir)
        .env_remove("GOPROXY")
        .env_remove("GOMODCACHE")
        .env_remove("GOCACHEPROG")
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .env("GOSUMDB", "off")
        .env("GOWORK", "off")
        .env("CGO_ENABLED", "0");
    c
}
