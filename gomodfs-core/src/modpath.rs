//! Module paths and versions: escaping, unescaping and validation, as in
//! `golang.org/x/mod/module`.
//!
//! The module cache stores paths and versions *escaped*: every upper-case
//! ASCII letter becomes `!` followed by its lower-case form, so that the cache
//! works on case-insensitive filesystems.

use crate::error::{Error, Result};
use std::fmt;

/// A validated module path and canonical version, in their unescaped form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleVersion {
    path: String,
    version: String,
}

impl ModuleVersion {
    /// Validates an unescaped module path and version.
    pub fn new(path: &str, version: &str) -> Result<Self> {
        check_path(path)?;
        check_version(version)?;
        Ok(ModuleVersion {
            path: path.to_owned(),
            version: version.to_owned(),
        })
    }

    /// Builds from the escaped forms found in the module cache's file names.
    pub fn from_escaped(escaped_path: &str, escaped_version: &str) -> Result<Self> {
        let path = unescape_path(escaped_path)?;
        let version = unescape_version(escaped_version)?;
        Self::new(&path, &version)
    }

    /// The unescaped module path, e.g. `github.com/BurntSushi/toml`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The unescaped version, e.g. `v1.2.3`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The escaped module path, e.g. `github.com/!burnt!sushi/toml`.
    pub fn escaped_path(&self) -> String {
        escape_string(&self.path)
    }

    /// The escaped version.
    pub fn escaped_version(&self) -> String {
        escape_string(&self.version)
    }

    /// The zip-entry prefix of this module: `<path>@<version>/`.
    pub fn zip_prefix(&self) -> String {
        format!("{}@{}/", self.path, self.version)
    }
}

impl fmt::Display for ModuleVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.path, self.version)
    }
}

fn escape_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Reverses [`escape_string`]; `None` if `s` holds an upper-case ASCII letter
/// or a `!` not followed by a lower-case ASCII letter.
fn unescape_string(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut bang = false;
    for c in s.chars() {
        if bang {
            if !c.is_ascii_lowercase() {
                return None;
            }
            out.push(c.to_ascii_uppercase());
            bang = false;
        } else if c == '!' {
            bang = true;
        } else if c.is_ascii_uppercase() {
            return None;
        } else {
            out.push(c);
        }
    }
    if bang { None } else { Some(out) }
}

/// Escapes a module path after checking it (`module.EscapePath`).
pub fn escape_path(path: &str) -> Result<String> {
    check_path(path)?;
    Ok(escape_string(path))
}

/// Unescapes and checks a module path (`module.UnescapePath`).
pub fn unescape_path(escaped: &str) -> Result<String> {
    let path = unescape_string(escaped).ok_or_else(|| Error::InvalidPath {
        path: escaped.to_owned(),
        reason: "invalid escaped module path".into(),
    })?;
    check_path(&path)?;
    Ok(path)
}

/// Escapes a version after checking its characters (`module.EscapeVersion`).
pub fn escape_version(version: &str) -> Result<String> {
    check_version(version)?;
    Ok(escape_string(version))
}

/// Unescapes and checks a version (`module.UnescapeVersion` plus a check that
/// it is canonical semver, the only kind of version the cache holds).
pub fn unescape_version(escaped: &str) -> Result<String> {
    let version = unescape_string(escaped).ok_or_else(|| Error::InvalidVersion {
        version: escaped.to_owned(),
        reason: "invalid escaped version".into(),
    })?;
    check_version(&version)?;
    Ok(version)
}

/// Checks a module path as `module.CheckPath` does.
pub fn check_path(path: &str) -> Result<()> {
    let bad = |reason: &str| Error::InvalidPath {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    check_import_path(path)?;
    let first = path.split('/').next().unwrap_or("");
    if !first.contains('.') {
        return Err(bad("missing dot in first path element"));
    }
    if first.starts_with('-') {
        return Err(bad("leading dash in first path element"));
    }
    if let Some(c) = first
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
    {
        return Err(bad(&format!("invalid char {c:?} in first path element")));
    }
    split_path_version(path).ok_or_else(|| bad("invalid version suffix"))?;
    Ok(())
}

/// Checks a path prefix the way [`check_path`] checks each element of a
/// module path, without requiring it to be a whole module path.
pub fn check_import_path(path: &str) -> Result<()> {
    if path.is_empty() {
        return Err(Error::InvalidPath {
            path: path.to_owned(),
            reason: "empty string".into(),
        });
    }
    if path.starts_with('/') || path.ends_with('/') || path.contains("//") {
        return Err(Error::InvalidPath {
            path: path.to_owned(),
            reason: "empty path element".into(),
        });
    }
    for elem in path.split('/') {
        check_elem(elem, ElemKind::ModulePath).map_err(|reason| Error::InvalidPath {
            path: path.to_owned(),
            reason,
        })?;
    }
    Ok(())
}

/// Checks one path element of a module path, as `module.CheckPath` checks
/// each element. Exposed for the filesystem, which checks prefixes one
/// element at a time.
pub fn check_path_element(elem: &str) -> Result<()> {
    check_elem(elem, ElemKind::ModulePath).map_err(|reason| Error::InvalidPath {
        path: elem.to_owned(),
        reason,
    })
}

/// Checks a file path inside a module zip, as `module.CheckFilePath` does.
pub fn check_file_path(path: &str) -> Result<()> {
    let bad = |reason: String| Error::InvalidFilePath {
        path: path.to_owned(),
        reason,
    };
    if path.is_empty() {
        return Err(bad("empty string".into()));
    }
    if path.starts_with('/') {
        return Err(bad("leading slash".into()));
    }
    if path.contains("//") {
        return Err(bad("double slash".into()));
    }
    if path.ends_with('/') {
        return Err(bad("trailing slash".into()));
    }
    for elem in path.split('/') {
        check_elem(elem, ElemKind::FilePath).map_err(bad)?;
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ElemKind {
    ModulePath,
    FilePath,
}

const BAD_WINDOWS_NAMES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

fn check_elem(elem: &str, kind: ElemKind) -> std::result::Result<(), String> {
    if elem.is_empty() {
        return Err("empty path element".into());
    }
    if elem.bytes().all(|b| b == b'.') {
        return Err(format!("invalid path element {elem:?}"));
    }
    if kind == ElemKind::ModulePath && elem.starts_with('.') {
        return Err("leading dot in path element".into());
    }
    if elem.ends_with('.') {
        return Err("trailing dot in path element".into());
    }
    for c in elem.chars() {
        let ok = match kind {
            ElemKind::ModulePath => mod_path_ok(c),
            ElemKind::FilePath => file_path_ok(c),
        };
        if !ok {
            return Err(format!("invalid char {c:?}"));
        }
    }
    let short = elem.split('.').next().unwrap_or(elem);
    if BAD_WINDOWS_NAMES.iter().any(|b| b.eq_ignore_ascii_case(short)) {
        return Err(format!("{short:?} disallowed as path element component on Windows"));
    }
    if kind == ElemKind::FilePath {
        return Ok(());
    }
    if let Some(tilde) = short.rfind('~')
        && tilde < short.len() - 1
        && short[tilde + 1..].bytes().all(|b| b.is_ascii_digit())
    {
        return Err("trailing tilde and digits in path element".into());
    }
    Ok(())
}

fn mod_path_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

fn file_path_ok(c: char) -> bool {
    if (c as u32) < 0x80 {
        return c.is_ascii_alphanumeric() || "!#$%&()+,-.=@[]^_{}~ ".contains(c);
    }
    // Like Go's unicode.IsLetter || IsNumber || IsMark || IsPunct etc.: the
    // module rules allow any graphic non-space Unicode character.
    !c.is_control() && !c.is_whitespace()
}

/// Splits a module path into prefix and major-version suffix
/// (`module.SplitPathVersion`); `None` if the suffix is malformed.
pub fn split_path_version(path: &str) -> Option<(&str, &str)> {
    if let Some(rest) = path.strip_prefix("gopkg.in/") {
        let _ = rest;
        return split_gopkg_in(path);
    }
    let bytes = path.as_bytes();
    let mut i = bytes.len();
    let mut dot = false;
    while i > 0 && (bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b'.') {
        if bytes[i - 1] == b'.' {
            dot = true;
        }
        i -= 1;
    }
    if i <= 1 || i == bytes.len() || bytes[i - 1] != b'v' || bytes[i - 2] != b'/' {
        return Some((path, ""));
    }
    let (prefix, major) = (&path[..i - 2], &path[i - 2..]);
    if dot || major.len() < 3 || major.as_bytes()[2] == b'0' || major == "/v1" {
        return None;
    }
    Some((prefix, major))
}

fn split_gopkg_in(path: &str) -> Option<(&str, &str)> {
    if !path.starts_with("gopkg.in/") {
        return None;
    }
    let bytes = path.as_bytes();
    let mut i = bytes.len();
    if path.ends_with("-unstable") {
        i -= "-unstable".len();
    }
    while i > 0 && bytes[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i <= 1 || bytes[i - 1] != b'v' || bytes[i - 2] != b'.' {
        return None;
    }
    let (prefix, major) = (&path[..i - 2], &path[i - 2..]);
    if major.len() <= 2 || (major.as_bytes()[2] == b'0' && &major[..3] != ".v0") {
        return None;
    }
    if major == ".v0" || major.starts_with(".v0") && major.len() > 3 && major.as_bytes()[3].is_ascii_digit() {
        return None;
    }
    Some((prefix, major))
}

/// Checks that `version` is a canonical semantic version as the module cache
/// holds them: `vMAJOR.MINOR.PATCH`, an optional pre-release, and no build
/// metadata except `+incompatible`.
pub fn check_version(version: &str) -> Result<()> {
    let bad = |reason: &str| Error::InvalidVersion {
        version: version.to_owned(),
        reason: reason.to_owned(),
    };
    let core = version.strip_suffix("+incompatible").unwrap_or(version);
    let rest = core.strip_prefix('v').ok_or_else(|| bad("must start with v"))?;
    let (nums, pre) = match rest.find('-') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let parts: Vec<&str> = nums.split('.').collect();
    if parts.len() != 3 {
        return Err(bad("not a canonical semantic version"));
    }
    for p in parts {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || (p.len() > 1 && p.starts_with('0')) {
            return Err(bad("not a canonical semantic version"));
        }
    }
    if let Some(pre) = pre {
        for ident in pre.split('.') {
            if ident.is_empty() || !ident.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(bad("invalid pre-release"));
            }
            if ident.bytes().all(|b| b.is_ascii_digit()) && ident.len() > 1 && ident.starts_with('0') {
                return Err(bad("invalid pre-release"));
            }
        }
    }
    if core.contains('+') {
        return Err(bad("build metadata other than +incompatible"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_upper_case() -> Result<()> {
        let mv = ModuleVersion::new("github.com/BurntSushi/toml", "v1.2.3")?;
        assert_eq!(mv.escaped_path(), "github.com/!burnt!sushi/toml");
        assert_eq!(unescape_path("github.com/!burnt!sushi/toml")?, "github.com/BurntSushi/toml");
        assert!(unescape_path("github.com/BurntSushi/toml").is_err());
        assert!(unescape_path("github.com/!Burnt/toml").is_err());
        Ok(())
    }
}
