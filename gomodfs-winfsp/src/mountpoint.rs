//! The mount point argument of `gomodfs mount` on Windows: a drive letter
//! (`X:`), `*` for the next free drive letter, or a directory that does
//! not exist yet (WinFsp creates it, and removes it at unmount).

use crate::WinfspError;
use std::path::{Path, PathBuf};

/// Where the volume is mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountPoint {
    /// A drive letter, upper case: `X` for `X:`.
    Drive(char),
    /// The next free drive letter, counting down from `Z:` (`*`).
    NextFreeDrive,
    /// A directory, which must not exist yet; its parent must.
    Directory(PathBuf),
}

impl MountPoint {
    /// Parses the argument: `X:` (also `x:`, `X:\` or `X:/`), `*`, or
    /// anything else as a directory path.
    pub fn parse(arg: &str) -> Result<MountPoint, WinfspError> {
        let bad = |reason: &str| WinfspError::MountPoint {
            arg: arg.to_owned(),
            reason: reason.to_owned(),
        };
        if arg.is_empty() {
            return Err(bad(
                "empty: give a drive letter such as X:, * or a new directory",
            ));
        }
        if arg == "*" {
            return Ok(MountPoint::NextFreeDrive);
        }
        let mut chars = arg.chars();
        if let (Some(letter), Some(':')) = (chars.next(), chars.next()) {
            let rest = chars.as_str();
            if rest.is_empty() || rest == "\\" || rest == "/" {
                if !letter.is_ascii_alphabetic() {
                    return Err(bad("a drive letter is one of A: to Z:"));
                }
                return Ok(MountPoint::Drive(letter.to_ascii_uppercase()));
            }
        }
        Ok(MountPoint::Directory(PathBuf::from(arg)))
    }

    /// The string WinFsp's `FspFileSystemSetMountPoint` takes (`X:` or
    /// the directory), `None` for the next free drive letter.
    pub fn winfsp_arg(&self) -> Option<String> {
        match self {
            MountPoint::Drive(letter) => Some(format!("{letter}:")),
            MountPoint::NextFreeDrive => None,
            MountPoint::Directory(dir) => Some(dir.to_string_lossy().into_owned()),
        }
    }

    /// Checks what can be checked before mounting, with an error that says
    /// what to do: a directory mount point must not exist yet (WinFsp
    /// creates it as a reparse point) and its parent must exist.
    pub fn check(&self) -> Result<(), WinfspError> {
        let MountPoint::Directory(dir) = self else {
            return Ok(());
        };
        let bad = |reason: String| WinfspError::MountPoint {
            arg: dir.display().to_string(),
            reason,
        };
        if dir.exists() {
            return Err(bad(
                "it exists; WinFsp mounts on a directory it creates: name one that does not exist yet"
                    .to_owned(),
            ));
        }
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(bad(format!(
                "its parent directory {} does not exist",
                parent.display()
            )));
        }
        Ok(())
    }
}

impl std::fmt::Display for MountPoint {
    /// As the user would type it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.winfsp_arg() {
            Some(arg) => f.write_str(&arg),
            None => f.write_str("*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_letters() {
        for arg in ["X:", "x:", "X:\\", "x:/"] {
            assert_eq!(
                MountPoint::parse(arg).ok(),
                Some(MountPoint::Drive('X')),
                "{arg}"
            );
        }
        assert_eq!(MountPoint::Drive('G').winfsp_arg().as_deref(), Some("G:"));
        assert!(MountPoint::parse("1:").is_err());
        assert!(MountPoint::parse("é:").is_err());
    }

    #[test]
    fn next_free_drive() {
        let mp = MountPoint::parse("*").ok();
        assert_eq!(mp, Some(MountPoint::NextFreeDrive));
        assert_eq!(MountPoint::NextFreeDrive.winfsp_arg(), None);
        assert_eq!(MountPoint::NextFreeDrive.to_string(), "*");
    }

    #[test]
    fn directories() {
        for arg in [
            "C:\\gomodcache",
            "X:\\a\\b",
            "gomodcache",
            "..\\m",
            "\\\\?\\C:\\m",
        ] {
            assert_eq!(
                MountPoint::parse(arg).ok(),
                Some(MountPoint::Directory(PathBuf::from(arg))),
                "{arg}"
            );
        }
        let err = MountPoint::parse("").expect_err("refused").to_string();
        assert!(err.contains("drive letter"), "{err}");
    }

    #[test]
    fn a_directory_mount_point_must_be_new_in_an_existing_parent() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let new = MountPoint::Directory(tmp.path().join("mnt"));
        assert!(new.check().is_ok());
        let existing = MountPoint::Directory(tmp.path().to_owned());
        let err = existing.check().expect_err("refused").to_string();
        assert!(err.contains("does not exist yet"), "{err}");
        let orphan = MountPoint::Directory(tmp.path().join("no/such/mnt"));
        let err = orphan.check().expect_err("refused").to_string();
        assert!(err.contains("parent directory"), "{err}");
        assert!(MountPoint::Drive('X').check().is_ok());
    }
}
