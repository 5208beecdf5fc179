//! The libnfs command-line client (`nfs-cat`, `nfs-ls`) against a server
//! on `127.0.0.1`.

use crate::process::on_path;
use std::process::Command;

/// Fails (never skips) when the libnfs command-line tools are missing.
pub fn require_libnfs_tools() {
    for tool in ["nfs-ls", "nfs-cat"] {
        assert!(
            on_path(tool),
            "the NFS tests need `{tool}` from libnfs: apt-get install libnfs-utils"
        );
    }
}

/// The libnfs tools pointed at the NFSv3 server (portmapper, MOUNT and
/// NFS on one port) at `127.0.0.1:port`.
#[derive(Debug, Clone, Copy)]
pub struct LibNfs {
    /// The server's port.
    pub port: u16,
}

impl LibNfs {
    /// The tools for the server on `127.0.0.1:port`.
    pub fn new(port: u16) -> LibNfs {
        LibNfs { port }
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
            .map_err(|e| format!("run nfs-cat: {e}"))?;
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
            .map_err(|e| format!("run nfs-ls: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "nfs-ls -R {dir}: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let text = String::from_utf8(out.stdout).map_err(|e| format!("nfs-ls output: {e}"))?;
        let (mut files, mut dirs) = (vec![], vec![]);
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (mode, name) = parse_ls_line(line)?;
            if mode.starts_with('d') {
                dirs.push(name.to_owned());
            } else {
                files.push(name.to_owned());
            }
        }
        files.sort();
        dirs.sort();
        Ok((files, dirs))
    }
}

/// The mode and the name of one `nfs-ls` line:
/// `-r--r--r--  1     0     0         12 path/with spaces.go` is five
/// space-padded fields, one space, then the name as is.
fn parse_ls_line(line: &str) -> Result<(&str, &str), String> {
    let mode = line.split(' ').next().unwrap_or_default();
    let mut rest = line;
    for _ in 0..5 {
        rest = rest.trim_start();
        let end = rest
            .find(' ')
            .ok_or_else(|| format!("unexpected nfs-ls line {line:?}"))?;
        rest = &rest[end..];
    }
    Ok((mode, &rest[1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_lines_keep_spaces_in_names() {
        assert_eq!(
            parse_ls_line("-r--r--r--  1     0     0         12 path/with spaces.go"),
            Ok(("-r--r--r--", "path/with spaces.go"))
        );
        assert!(parse_ls_line("garbage").is_err());
    }

    #[test]
    fn root_files_get_an_empty_directory_element() {
        let l = LibNfs::new(7);
        assert_eq!(
            l.url(".gomodfs-status"),
            "nfs://127.0.0.1//.gomodfs-status?version=3&nfsport=7&mountport=7"
        );
        assert!(l.url("a/b").starts_with("nfs://127.0.0.1/a/b?"));
    }
}
