//! Names between WinFsp and the core: WinFsp passes UTF-16 paths inside
//! the volume (`\github.com\!azure\...`), the core takes `/`-separated
//! UTF-8 paths relative to its root (`github.com/!azure/...`), and
//! directory entries go back as UTF-16 names.
//!
//! The volume is case-sensitive: a name is passed to the core exactly as
//! spelled, never folded, so `github.com\Azure` and `github.com\azure`
//! are two names (as they are in a module cache, where upper case is
//! escaped as `!a`).

use crate::status::NtStatus;

/// The longest name of one path component Windows accepts, in UTF-16
/// units (the volume's `MaxComponentLength`).
pub const MAX_COMPONENT: usize = 255;

/// The longest path inside the volume WinFsp passes to a file system, in
/// UTF-16 units (`FSP_FSCTL_TRANSACT_PATH_SIZEMAX` is 1024 WCHARs). Longer
/// than Win32's classic `MAX_PATH` (260): long-path-aware programs (`go`
/// is) use paths up to this length on the volume.
pub const MAX_PATH: usize = 1024;

/// Characters no Windows file name may contain (besides controls).
const FORBIDDEN: &[char] = &['\\', '/', ':', '*', '?', '"', '<', '>', '|'];

/// The core path for a path WinFsp passes (`\a\b`, `\` for the root):
/// `a/b`, `""` for the root. A path that is not valid UTF-16, has a
/// component no Windows name can be (`.`, `..`, a forbidden character, a
/// stream name after `:`) or is longer than [`MAX_PATH`] is
/// `STATUS_OBJECT_NAME_INVALID`: gomodfs never holds such a name.
pub fn core_path(wide: &[u16]) -> Result<String, NtStatus> {
    if wide.len() > MAX_PATH {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    let path = String::from_utf16(wide).map_err(|_| NtStatus::OBJECT_NAME_INVALID)?;
    let mut out = String::with_capacity(path.len());
    for component in path.split('\\').filter(|c| !c.is_empty()) {
        if component == "." || component == ".." || !windows_name(component) {
            return Err(NtStatus::OBJECT_NAME_INVALID);
        }
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(component);
    }
    Ok(out)
}

/// The parent of a core path (`a/b` → `a`, `a` → the root `""`); `None`
/// for the root itself.
pub fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    Some(path.rsplit_once('/').map_or("", |(parent, _)| parent))
}

/// A directory entry's name as WinFsp takes it, or `None` when Windows
/// cannot show it (longer than [`MAX_COMPONENT`] UTF-16 units, or with a
/// character Windows forbids). Module file names never are (`go` refuses
/// them in module zips); such an entry would be left out of listings.
pub fn wide_name(name: &str) -> Option<Vec<u16>> {
    if !windows_name(name) {
        return None;
    }
    let wide: Vec<u16> = name.encode_utf16().collect();
    (wide.len() <= MAX_COMPONENT).then_some(wide)
}

/// Whether `name` can be one component of a Windows path.
fn windows_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_control() || FORBIDDEN.contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn winfsp_paths_become_core_paths() {
        assert_eq!(core_path(&wide("\\")), Ok(String::new()));
        assert_eq!(core_path(&wide("")), Ok(String::new()));
        assert_eq!(
            core_path(&wide("\\github.com\\!azure\\go-autorest@v1.0.0\\go.mod")),
            Ok("github.com/!azure/go-autorest@v1.0.0/go.mod".to_owned())
        );
        assert_eq!(
            core_path(&wide("\\cache\\download\\")),
            Ok("cache/download".to_owned())
        );
        // Non-ASCII names survive the round trip, surrogate pairs too.
        assert_eq!(
            core_path(&wide("\\日本\\😀.go")),
            Ok("日本/😀.go".to_owned())
        );
    }

    #[test]
    fn case_is_kept_exactly() {
        assert_eq!(
            core_path(&wide("\\github.com\\Azure")),
            Ok("github.com/Azure".to_owned())
        );
        assert_ne!(core_path(&wide("\\A")), core_path(&wide("\\a")));
    }

    #[test]
    fn names_gomodfs_never_holds_are_invalid() {
        for bad in [
            "\\a\\..\\b",
            "\\.",
            "\\a:stream",
            "\\a\\b*",
            "\\a/b",
            "\\a\u{1}",
        ] {
            assert_eq!(
                core_path(&wide(bad)),
                Err(NtStatus::OBJECT_NAME_INVALID),
                "{bad:?}"
            );
        }
        // An unpaired surrogate is not Unicode.
        assert_eq!(
            core_path(&[u16::from(b'\\'), 0xD800]),
            Err(NtStatus::OBJECT_NAME_INVALID)
        );
    }

    #[test]
    fn long_paths_work_up_to_winfsps_limit() {
        // Deeper than Win32's MAX_PATH (260) but within WinFsp's 1024.
        let component = "d".repeat(100);
        let deep = format!("\\{}", [component.as_str(); 8].join("\\"));
        assert!(deep.len() > 260);
        let path = core_path(&wide(&deep)).expect("a long path");
        assert_eq!(path.len(), deep.len() - 1);
        assert_eq!(path.split('/').count(), 8);
        let too_long = format!("\\{}", "d".repeat(MAX_PATH));
        assert_eq!(
            core_path(&wide(&too_long)),
            Err(NtStatus::OBJECT_NAME_INVALID)
        );
    }

    #[test]
    fn entry_names_fit_a_component() {
        assert_eq!(wide_name("go.mod"), Some(wide("go.mod")));
        assert_eq!(wide_name(&"x".repeat(255)).map(|w| w.len()), Some(255));
        assert_eq!(wide_name(&"x".repeat(256)), None);
        // 128 characters outside the BMP are 256 UTF-16 units.
        assert_eq!(wide_name(&"😀".repeat(128)), None);
        assert_eq!(wide_name("a:b"), None);
        assert_eq!(wide_name(""), None);
    }

    #[test]
    fn parents() {
        assert_eq!(parent(""), None);
        assert_eq!(parent("cache"), Some(""));
        assert_eq!(parent("cache/download"), Some("cache"));
    }
}
