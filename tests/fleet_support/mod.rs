//! Support for the fleet-tier tests: "hosts" (a `gomodfs mount` process
//! with its own local store) sharing one bucket on a real SeaweedFS.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use gomodfs::core::ModuleVersion;
use gomodfs::core::remote::layout::{self, Object};
use gomodfs::core::remote::{Remote, RemoteConfig};
use gomodfs_testkit::process::{Daemon, Launch};
use gomodfs_testkit::seaweed::SeaweedFs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The main module of the standard fixture in a fresh directory, go.sum
/// from the testkit's own hashes (no request to the proxy).
pub fn work_dir() -> tempfile::TempDir {
    let fx = gomodfs_testkit::standard_fixture();
    let work = tempfile::tempdir().expect("work");
    fx.write_main(work.path()).expect("main module");
    std::fs::write(work.path().join("go.sum"), fx.go_sum_expected()).expect("go.sum");
    work
}

/// `go build ./...` in `work` with GOMODCACHE `modcache` and GOPROXY=off;
/// how long it took.
pub fn go_build(work: &Path, modcache: &Path) -> Duration {
    let started = Instant::now();
    gomodfs_testkit::GoCmd::new(work)
        .expect("go")
        .gomodcache(modcache)
        .goproxy("off")
        .run(&["build", "./..."])
        .expect("go build");
    started.elapsed()
}

/// The bucket every fleet test uses (each under its own prefix).
pub const BUCKET: &str = "fleet";

/// The SeaweedFS of this test binary.
pub fn s3() -> Arc<SeaweedFs> {
    gomodfs_testkit::seaweed::shared(&[BUCKET]).expect("start SeaweedFS")
}

/// A fresh `s3://fleet/<name>-<pid>-<n>` URL: an empty "bucket" per use.
pub fn fresh_url(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "s3://{BUCKET}/{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A client of `url` on `s3`, for checking and tampering with the bucket.
pub fn client(s3: &SeaweedFs, url: &str) -> Remote {
    let env = s3.env();
    RemoteConfig::from_vars(url, |name| {
        env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    })
    .expect("remote config")
    .open()
    .expect("remote client")
}

/// A runtime for the test's own remote calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Whether the bucket holds `mv` whole (its metadata object).
pub fn has_module(rt: &tokio::runtime::Runtime, remote: &Remote, mv: &ModuleVersion) -> bool {
    rt.block_on(remote.head(&layout::key(mv, Object::Meta)))
        .expect("head")
        .is_some()
}

/// Waits until the bucket holds every module of `mvs`; panics after `limit`.
pub fn wait_for_modules(remote: &Remote, mvs: &[ModuleVersion], limit: Duration) {
    let rt = runtime();
    let deadline = Instant::now() + limit;
    loop {
        let missing: Vec<String> = mvs
            .iter()
            .filter(|mv| !has_module(&rt, remote, mv))
            .map(ToString::to_string)
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not in the bucket after {limit:?}: {missing:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The module versions whose zip the test proxy served.
pub fn zips_served(proxy: &gomodfs_testkit::TestProxy) -> Vec<ModuleVersion> {
    let mut mvs: Vec<ModuleVersion> = proxy
        .request_log()
        .iter()
        .filter_map(|p| {
            let p = p.strip_prefix('/')?.strip_suffix(".zip")?;
            let (path, version) = p.split_once("/@v/")?;
            ModuleVersion::from_escaped(path, version).ok()
        })
        .collect();
    mvs.sort_by_key(ToString::to_string);
    mvs.dedup();
    mvs
}

/// What gomodfs prints before its debug server's address.
pub const DEBUG_LISTENING: &str = "gomodfs: status page at ";

/// One "host": a `gomodfs mount` with its own local store, on the bucket.
pub struct Host {
    pub store: tempfile::TempDir,
    pub mnt: tempfile::TempDir,
    pub logs: tempfile::TempDir,
    pub process: Option<Daemon>,
    starts: u32,
}

impl Host {
    /// A host with a fresh, empty local store (not started).
    pub fn new() -> Host {
        Host {
            store: tempfile::tempdir().expect("store"),
            mnt: tempfile::tempdir().expect("mount point"),
            logs: tempfile::tempdir().expect("logs"),
            process: None,
            starts: 0,
        }
    }

    /// Starts `gomodfs mount` on `remote` (URL) with `proxy` (URL, or
    /// offline when `None`) and `extra` arguments.
    pub fn start(&mut self, s3: &SeaweedFs, remote: &str, proxy: Option<&str>, extra: &[&str]) {
        self.starts += 1;
        let log = self.logs.path().join(format!("mount-{}.log", self.starts));
        let mut launch = Launch::new(env!("CARGO_BIN_EXE_gomodfs"), log)
            .arg("mount")
            .arg(self.mnt.path())
            .arg("--store")
            .arg(self.store.path())
            .args(["--remote", remote, "--fetch-timeout", "5"])
            .args(["--debug-addr", "127.0.0.1:0"])
            .args(extra)
            .listening(DEBUG_LISTENING)
            .mount_point(self.mnt.path());
        launch = match proxy {
            Some(p) => launch.args(["--proxy", p]),
            None => launch.arg("--offline"),
        };
        for (k, v) in s3.env() {
            launch = launch.env(k, v);
        }
        self.process = Some(launch.start().expect("start gomodfs mount"));
    }

    /// The address of the running mount's debug server (`/metrics`,
    /// `/status.json`).
    pub fn debug_addr(&self) -> std::net::SocketAddr {
        self.process
            .as_ref()
            .and_then(|p| p.address(DEBUG_LISTENING))
            .expect("debug address")
    }

    /// The mount point (a GOMODCACHE).
    pub fn modcache(&self) -> &Path {
        self.mnt.path()
    }

    /// `mv`'s `.info`, `.mod` or `.ziphash` (`ext`) in the mount's
    /// download cache.
    pub fn download_file(&self, mv: &ModuleVersion, ext: &str) -> PathBuf {
        self.mnt.path().join(format!(
            "cache/download/{}/@v/{}.{ext}",
            mv.escaped_path(),
            mv.escaped_version()
        ))
    }

    /// The status JSON of the running mount.
    pub fn status(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.mnt.path().join(".gomodfs-status"))
            .expect("read .gomodfs-status");
        serde_json::from_str(&text).expect("status JSON")
    }

    /// A counter of the status JSON's `remote` section.
    pub fn remote_counter(&self, name: &str) -> u64 {
        let status = self.status();
        status["remote"][name]
            .as_u64()
            .or_else(|| status["remote"]["uploads"][name].as_u64())
            .unwrap_or_else(|| panic!("no remote.{name} in {status}"))
    }

    /// Every log of this host so far.
    pub fn log_text(&self) -> String {
        let mut text = String::new();
        for i in 1..=self.starts {
            text += &std::fs::read_to_string(self.logs.path().join(format!("mount-{i}.log")))
                .unwrap_or_default();
        }
        text
    }

    /// SIGTERM and a clean exit (uploads flushed).
    pub fn stop(&mut self) {
        if let Some(p) = self.process.take() {
            p.stop().expect("gomodfs exits cleanly");
        }
    }

    /// SIGKILL, as a crash.
    pub fn kill9(&mut self) {
        if let Some(p) = self.process.take() {
            p.kill9();
        }
    }

    /// The upload markers left in the store.
    pub fn pending_markers(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.store.path().join("gomodfs-uploads")) {
            Ok(dir) => dir
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "upload"))
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill9();
    }
}
