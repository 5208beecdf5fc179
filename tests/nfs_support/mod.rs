//! Support for the NFS integration tests: a `gomodfs serve --nfs` process,
//! the libnfs command-line client (`nfs-ls`, `nfs-cat`), and the blocking
//! `nfs3_client` wrapper shared with gomodfs-nfs's own tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../gomodfs-nfs/tests/support/mod.rs"]
pub mod client;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Fails (never skips) when the libnfs command-line tools are missing.
pub fn require_nfs_utils() {
    for tool in ["nfs-ls", "nfs-cat"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "the NFS tests need `{tool}` from libnfs: apt-get install libnfs-utils"
        );
    }
}

/// A `gomodfs serve --nfs 127.0.0.1:0` process; killed on drop unless
/// stopped.
pub struct ServeProcess {
    pub child: Option<Child>,
    pub port: u16,
    pub log: PathBuf,
}

impl ServeProcess {
    /// Starts `gomodfs serve --nfs 127.0.0.1:0 --store STORE [--proxy URL |
    /// --offline] EXTRA...` and waits until it says where it listens.
    pub fn start(store: &Path, proxy_url: Option<&str>, log: &Path, extra: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gomodfs"));
        cmd.args(["serve", "--nfs", "127.0.0.1:0", "--store"])
            .arg(store)
            .args(["--fetch-timeout", "2"])
            .args(extra);
        match proxy_url {
            Some(u) => cmd.arg("--proxy").arg(u),
            None => cmd.arg("--offline"),
        };
        let logfile = std::fs::File::create(log).expect("log file");
        cmd.stdout(Stdio::null())
            .stderr(logfile)
            .env("RUST_LOG", "info");
        let child = cmd.spawn().expect("spawn gomodfs serve");
        let mut sp = ServeProcess {
            child: Some(child),
            port: 0,
            log: log.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let Some(port) = text
                .split("serving NFSv3 on 127.0.0.1:")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|p| p.parse().ok())
            {
                sp.port = port;
                return sp;
            }
            if let Some(status) = sp.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("gomodfs serve exited with {status}; log:\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "gomodfs serve did not come up; log:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An `nfs://` URL for `path` (relative to the namespace root). libnfs
    /// mounts the URL's directory and opens the last element in it, so a
    /// file at the root needs an empty directory element (`//name`).
    pub fn url(&self, path: &str) -> String {
        let path = if path.contains('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        format!(
            "nfs://127.0.0.1/{path}?version=3&nfsport={p}&mountport={p}",
            p = self.port
        )
    }

    /// `nfs-cat` of one file.
    pub fn cat(&self, path: &str) -> Result<Vec<u8>, String> {
        let out = Command::new("nfs-cat")
            .arg(self.url(path))
            .output()
            .expect("nfs-cat");
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(format!(
                "nfs-cat {path}: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// `nfs-ls -R` of a directory: every file below it (relative paths,
    /// sorted) and every directory.
    pub fn ls_recursive(&self, dir: &str) -> Result<(Vec<String>, Vec<String>), String> {
        let out = Command::new("nfs-ls")
            .arg("-R")
            .arg(self.url(dir))
            .output()
            .expect("nfs-ls");
        if !out.status.success() {
            return Err(format!(
                "nfs-ls -R {dir}: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let text = String::from_utf8(out.stdout).expect("UTF-8 listing");
        let (mut files, mut dirs) = (vec![], vec![]);
        for line in text.lines().filter(|l| !l.is_empty()) {
            // "-r--r--r--  1     0     0         12 path/with spaces.go"
            // Five space-padded fields, one space, then the name as is.
            let mode = line.split(' ').next().unwrap_or_default();
            let mut rest = line;
            for _ in 0..5 {
                rest = rest.trim_start();
                let end = rest
                    .find(' ')
                    .unwrap_or_else(|| panic!("unexpected nfs-ls line {line:?}"));
                rest = &rest[end..];
            }
            let name = rest[1..].to_owned();
            if mode.starts_with('d') {
                dirs.push(name);
            } else {
                files.push(name);
            }
        }
        files.sort();
        dirs.sort();
        Ok((files, dirs))
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
            assert!(
                status.success(),
                "gomodfs serve exited with {status}; log:\n{}",
                self.log_text()
            );
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
