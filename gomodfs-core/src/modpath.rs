//! Module paths and versions: escaping, unescaping and validation, as in
//! `golang.org/x/mod/module` (v0.42.0).
//!
//! The module cache stores paths and versions *escaped*: every upper-case
//! ASCII letter becomes `!` followed by its lower-case form, so that the cache
//! works on case-insensitive filesystems.
//!
//! Beyond Go's rules, every module path element and file name element must
//! fit in a file name (`NAME_MAX`, 255 bytes) in the form it takes on disk,
//! and versions must be canonical semantic versions (the only kind the module
//! cache holds).

use crate::error::{Error, Result};
use std::fmt;
use std::sync::Arc;

/// The longest file name (one path element) in bytes, as on Linux and macOS.
pub const NAME_MAX: usize = 255;

/// The longest suffix the module cache appends to an escaped version in a
/// file name (`.ziphash`, `.partial`).
const VERSION_FILE_SUFFIX_MAX: usize = ".ziphash".len();

/// A validated module path and canonical version, in their unescaped form.
/// Cloning shares the strings (nodes carry one and are cloned per call).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleVersion {
    path: Arc<str>,
    version: Arc<str>,
}

impl ModuleVersion {
    /// Validates an unescaped module path ([`check_path`]) and version
    /// ([`check_version`]), and that the module directory name
    /// `<last element>@<version>` fits in [`NAME_MAX`] bytes escaped.
    pub fn new(path: &str, version: &str) -> Result<Self> {
        check_path(path)?;
        check_version(version)?;
        let last = path.rsplit('/').next().unwrap_or(path);
        let dir_len = escaped_len(last) + 1 + escaped_len(version);
        if dir_len > NAME_MAX {
            return Err(Error::InvalidVersion {
                version: version.to_owned(),
                reason: format!(
                    "module directory name {last}@{version} is {dir_len} bytes escaped, \
                     longer than NAME_MAX ({NAME_MAX})"
                ),
            });
        }
        Ok(ModuleVersion {
            path: path.into(),
            version: version.into(),
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

    /// The escaped version, e.g. `v1.0.0-!r!c1` for `v1.0.0-RC1`.
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

/// Escapes a string known to be ASCII without `!` (checked paths and versions).
pub(crate) fn escape_string(s: &str) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(escaped_len(s));
    // Writing to a String cannot fail.
    let _ = write!(out, "{}", Escaped(s));
    out
}

/// A checked module path or version (ASCII, no `!`) written escaped
/// ([`escape_string`]) in runs, without allocating: `!` and the lower-case
/// letter for each upper-case one.
pub(crate) struct Escaped<'a>(pub(crate) &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write as _;
        let mut rest = self.0;
        while let Some(i) = rest.find(|c: char| c.is_ascii_uppercase()) {
            let (before, upper) = rest.split_at(i);
            f.write_str(before)?;
            f.write_char('!')?;
            f.write_char(char::from(upper.as_bytes()[0].to_ascii_lowercase()))?;
            rest = &upper[1..];
        }
        f.write_str(rest)
    }
}

/// The length of `escape_string(s)`.
fn escaped_len(s: &str) -> usize {
    s.len() + s.bytes().filter(u8::is_ascii_uppercase).count()
}

/// Reverses [`escape_string`]; `None` if `s` holds a non-ASCII character, an
/// upper-case ASCII letter or a `!` not followed by a lower-case ASCII letter
/// (`module.unescapeString`).
fn unescape_string(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut bang = false;
    for c in s.chars() {
        if !c.is_ascii() || (!bang && c.is_ascii_uppercase()) {
            return None;
        }
        if bang {
            if !c.is_ascii_lowercase() {
                return None;
            }
            out.push(c.to_ascii_uppercase());
            bang = false;
        } else if c == '!' {
            bang = true;
        } else {
            out.push(c);
        }
    }
    (!bang).then_some(out)
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

/// Escapes a version after checking it with [`check_version`]
/// (`module.EscapeVersion`, restricted to canonical versions).
pub fn escape_version(version: &str) -> Result<String> {
    check_version(version)?;
    Ok(escape_string(version))
}

/// Unescapes and checks a version (`module.UnescapeVersion`, restricted to
/// canonical versions by [`check_version`]).
pub fn unescape_version(escaped: &str) -> Result<String> {
    let version = unescape_string(escaped).ok_or_else(|| Error::InvalidVersion {
        version: escaped.to_owned(),
        reason: "invalid escaped version".into(),
    })?;
    check_version(&version)?;
    Ok(version)
}

/// Checks a module path as `module.CheckPath` does: an import path whose
/// elements use only ASCII letters, digits and `-._~`, do not start with a
/// dot, and whose first element is a lower-case domain-like name with a dot;
/// a `/vN` (or gopkg.in `.vN`) suffix must be well formed
/// ([`split_path_version`]). Each element must fit in [`NAME_MAX`] bytes
/// escaped.
pub fn check_path(path: &str) -> Result<()> {
    let bad = |reason: String| Error::InvalidPath {
        path: path.to_owned(),
        reason,
    };
    check_elems(path, Kind::Module).map_err(bad)?;
    let first = path.split('/').next().unwrap_or(path);
    check_first_elem(first).map_err(bad)?;
    if split_path_version(path).is_none() {
        return Err(bad("invalid version".into()));
    }
    Ok(())
}

/// Checks a leading part of a module path (whole elements, e.g.
/// `github.com/!burnt!sushi` unescaped) with every rule of [`check_path`]
/// that a prefix can already fail; the `/vN` suffix rule is not applied.
/// For the directories above module trees.
pub fn check_path_prefix(prefix: &str) -> Result<()> {
    let bad = |reason: String| Error::InvalidPath {
        path: prefix.to_owned(),
        reason,
    };
    check_elems(prefix, Kind::Module).map_err(bad)?;
    check_first_elem(prefix.split('/').next().unwrap_or(prefix)).map_err(bad)
}

/// Unescapes an escaped path prefix (whole elements) and checks it with
/// [`check_path_prefix`].
pub fn unescape_path_prefix(escaped: &str) -> Result<String> {
    let prefix = unescape_string(escaped).ok_or_else(|| Error::InvalidPath {
        path: escaped.to_owned(),
        reason: "invalid escaped module path".into(),
    })?;
    check_path_prefix(&prefix)?;
    Ok(prefix)
}

/// Checks an import path as `module.CheckImportPath` does: like a module
/// path's elements, but `+` is allowed, elements may start with a dot and the
/// first element has no special rules. Elements must fit in [`NAME_MAX`].
pub fn check_import_path(path: &str) -> Result<()> {
    check_elems(path, Kind::Import).map_err(|reason| Error::InvalidPath {
        path: path.to_owned(),
        reason,
    })
}

/// Checks one element of a module path, as [`check_path`] checks each
/// element (not the first-element or version-suffix rules).
pub fn check_path_element(elem: &str) -> Result<()> {
    check_elem(elem, Kind::Module).map_err(|reason| Error::InvalidPath {
        path: elem.to_owned(),
        reason,
    })
}

/// Checks a file path inside a module zip (without the `<path>@<version>/`
/// prefix), as `module.CheckFilePath` does: elements of ASCII letters,
/// digits, `!#$%&()+,-.=@[]^_{}~`, space and Unicode letters; no empty, `.`
/// or `..` element, no trailing dot, no Windows reserved name. Each element
/// must fit in [`NAME_MAX`] bytes.
pub fn check_file_path(path: &str) -> Result<()> {
    check_elems(path, Kind::File).map_err(|reason| Error::InvalidFilePath {
        path: path.to_owned(),
        reason,
    })
}

/// The three kinds of path of `golang.org/x/mod/module`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Module,
    Import,
    File,
}

/// `module.checkPath`: the whole-path rules, then each element.
fn check_elems(path: &str, kind: Kind) -> std::result::Result<(), String> {
    if path.is_empty() {
        return Err("empty string".into());
    }
    if path.starts_with('-') && kind != Kind::File {
        return Err("leading dash".into());
    }
    if path.contains("//") {
        return Err("double slash".into());
    }
    if path.ends_with('/') {
        return Err("trailing slash".into());
    }
    path.split('/').try_for_each(|elem| check_elem(elem, kind))
}

/// The rules `module.CheckPath` adds for the first element, which must look
/// like a domain name.
fn check_first_elem(first: &str) -> std::result::Result<(), String> {
    if !first.contains('.') {
        return Err("missing dot in first path element".into());
    }
    if first.starts_with('-') {
        return Err("leading dash in first path element".into());
    }
    match first
        .chars()
        .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'))
    {
        Some(c) => Err(format!("invalid char {c:?} in first path element")),
        None => Ok(()),
    }
}

const BAD_WINDOWS_NAMES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// `module.checkElem`, plus the [`NAME_MAX`] limit.
fn check_elem(elem: &str, kind: Kind) -> std::result::Result<(), String> {
    if elem.is_empty() {
        return Err("empty path element".into());
    }
    if elem.bytes().all(|b| b == b'.') {
        return Err(format!("invalid path element {elem:?}"));
    }
    if kind == Kind::Module && elem.starts_with('.') {
        return Err("leading dot in path element".into());
    }
    if elem.ends_with('.') {
        return Err("trailing dot in path element".into());
    }
    let char_ok = match kind {
        Kind::Module => mod_path_ok,
        Kind::Import => |c| mod_path_ok(c) || c == '+',
        Kind::File => file_name_ok,
    };
    if let Some(c) = elem.chars().find(|&c| !char_ok(c)) {
        return Err(format!("invalid char {c:?}"));
    }
    let short = elem.split('.').next().unwrap_or(elem);
    if BAD_WINDOWS_NAMES
        .iter()
        .any(|b| b.eq_ignore_ascii_case(short))
    {
        return Err(format!(
            "{short:?} disallowed as path element component on Windows"
        ));
    }
    if kind != Kind::File
        && let Some(tilde) = short.rfind('~')
        && tilde + 1 < short.len()
        && short[tilde + 1..].bytes().all(|b| b.is_ascii_digit())
    {
        return Err("trailing tilde and digits in path element".into());
    }
    // Module paths are stored escaped; the other kinds as they are.
    let len = match kind {
        Kind::Module => escaped_len(elem),
        Kind::Import | Kind::File => elem.len(),
    };
    if len > NAME_MAX {
        return Err(format!(
            "path element is {len} bytes{}, longer than NAME_MAX ({NAME_MAX})",
            if kind == Kind::Module { " escaped" } else { "" }
        ));
    }
    Ok(())
}

/// `module.modPathOK`.
fn mod_path_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

/// `module.fileNameOK`: a few more ASCII punctuation characters than
/// [`mod_path_ok`], and Unicode letters (`unicode.IsLetter`).
fn file_name_ok(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || "!#$%&()+,-.=@[]^_{}~ ".contains(c);
    }
    is_go_letter(c)
}

/// Go's `unicode.IsLetter` for non-ASCII characters (general categories Lu,
/// Ll, Lt, Lm, Lo of Unicode 15.0.0, as in Go 1.21 through 1.26).
fn is_go_letter(c: char) -> bool {
    let c = u32::from(c);
    GO_LETTERS
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Splits a module path into prefix and major-version suffix
/// (`module.SplitPathVersion`): `("example.com/m", "/v2")` for
/// `example.com/m/v2`, `("gopkg.in/yaml", ".v3")` for `gopkg.in/yaml.v3`,
/// `(path, "")` without a suffix. `None` if the suffix is malformed
/// (`/v1`, `/v0`, `/v02`, `/v2.0`, a gopkg.in path without `.vN`).
pub fn split_path_version(path: &str) -> Option<(&str, &str)> {
    if path.starts_with("gopkg.in/") {
        return split_gopkg_in(path);
    }
    let b = path.as_bytes();
    let mut i = b.len();
    let mut dot = false;
    while i > 0 && (b[i - 1].is_ascii_digit() || b[i - 1] == b'.') {
        dot |= b[i - 1] == b'.';
        i -= 1;
    }
    if i <= 1 || i == b.len() || b[i - 1] != b'v' || b[i - 2] != b'/' {
        return Some((path, ""));
    }
    let (prefix, major) = path.split_at(i - 2);
    if dot || major.len() <= 2 || major.as_bytes()[2] == b'0' || major == "/v1" {
        return None;
    }
    Some((prefix, major))
}

/// `module.splitGopkgIn`: `.vN` or `.vN-unstable`, any N without a leading
/// zero (`.v0` allowed).
fn split_gopkg_in(path: &str) -> Option<(&str, &str)> {
    let b = path.as_bytes();
    let mut i = path.strip_suffix("-unstable").unwrap_or(path).len();
    while i > 0 && b[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i <= 1 || b[i - 1] != b'v' || b[i - 2] != b'.' {
        return None;
    }
    let (prefix, major) = path.split_at(i - 2);
    if major.len() <= 2 || (major.as_bytes()[2] == b'0' && major != ".v0") {
        return None;
    }
    Some((prefix, major))
}

/// Checks that a canonical `version` fits the major-version suffix
/// `path_major` from [`split_path_version`], as `module.CheckPathMajor`
/// does: no suffix takes v0, v1 or any `+incompatible` version; `/vN` and
/// gopkg.in `.vN` (`-unstable` ignored) take vN; gopkg.in `.v1` also takes
/// `v0.0.0-` pseudo-versions.
pub fn check_path_major(version: &str, path_major: &str) -> Result<()> {
    let path_major = match path_major.strip_suffix("-unstable") {
        Some(m) if path_major.starts_with(".v") => m,
        _ => path_major,
    };
    if version.starts_with("v0.0.0-") && path_major == ".v1" {
        return Ok(());
    }
    let major = version.split(['.', '-', '+']).next().unwrap_or(version);
    let want = match path_major.get(1..) {
        None | Some("") => {
            if major == "v0" || major == "v1" || version.ends_with("+incompatible") {
                return Ok(());
            }
            "v0 or v1"
        }
        Some(want) if want == major => return Ok(()),
        Some(want) => want,
    };
    Err(Error::InvalidVersion {
        version: version.to_owned(),
        reason: format!("should be {want}, not {major}"),
    })
}

/// Checks that `version` is a canonical semantic version, as the module cache
/// holds them (`module.CanonicalVersion(v) == v`): `vMAJOR.MINOR.PATCH`
/// without leading zeros, an optional pre-release, and no build metadata
/// except `+incompatible`. Pseudo-versions and `golang.org/toolchain`
/// versions (`v0.0.1-go1.21.0.linux-amd64`) are canonical. Whether
/// `+incompatible` fits the module path is not checked here. The escaped
/// version plus `.ziphash` must fit in [`NAME_MAX`] bytes.
pub fn check_version(version: &str) -> Result<()> {
    let bad = |reason: &str| Error::InvalidVersion {
        version: version.to_owned(),
        reason: reason.to_owned(),
    };
    let core = version.strip_suffix("+incompatible").unwrap_or(version);
    let rest = core
        .strip_prefix('v')
        .ok_or_else(|| bad("does not start with \"v\""))?;
    let (nums, pre) = match rest.split_once('-') {
        Some((nums, pre)) => (nums, Some(pre)),
        None => (rest, None),
    };
    let parts: Vec<&str> = nums.split('.').collect();
    if parts.len() != 3 || !parts.iter().all(|p| is_semver_num(p)) {
        return Err(bad("not a canonical semantic version (vMAJOR.MINOR.PATCH)"));
    }
    if let Some(pre) = pre {
        let ident_ok = |id: &str| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !(id.len() > 1 && id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit()))
        };
        if !pre.split('.').all(ident_ok) {
            return Err(bad("invalid pre-release"));
        }
    }
    if escaped_len(version) + VERSION_FILE_SUFFIX_MAX > NAME_MAX {
        return Err(bad(&format!(
            "too long: escaped plus \".ziphash\" exceeds NAME_MAX ({NAME_MAX})"
        )));
    }
    Ok(())
}

/// A semver numeric field: digits, no leading zero.
fn is_semver_num(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

/// Ranges of `unicode.IsLetter` at or above U+0080 in Go 1.26 (Unicode
/// 15.0.0), generated with
/// `for r := rune(0x80); r <= unicode.MaxRune; r++ { unicode.IsLetter(r) }`.
#[rustfmt::skip]
const GO_LETTERS: &[(u32, u32)] = &[
    (0xAA, 0xAA), (0xB5, 0xB5), (0xBA, 0xBA), (0xC0, 0xD6), (0xD8, 0xF6),
    (0xF8, 0x2C1), (0x2C6, 0x2D1), (0x2E0, 0x2E4), (0x2EC, 0x2EC), (0x2EE, 0x2EE),
    (0x370, 0x374), (0x376, 0x377), (0x37A, 0x37D), (0x37F, 0x37F), (0x386, 0x386),
    (0x388, 0x38A), (0x38C, 0x38C), (0x38E, 0x3A1), (0x3A3, 0x3F5), (0x3F7, 0x481),
    (0x48A, 0x52F), (0x531, 0x556), (0x559, 0x559), (0x560, 0x588), (0x5D0, 0x5EA),
    (0x5EF, 0x5F2), (0x620, 0x64A), (0x66E, 0x66F), (0x671, 0x6D3), (0x6D5, 0x6D5),
    (0x6E5, 0x6E6), (0x6EE, 0x6EF), (0x6FA, 0x6FC), (0x6FF, 0x6FF), (0x710, 0x710),
    (0x712, 0x72F), (0x74D, 0x7A5), (0x7B1, 0x7B1), (0x7CA, 0x7EA), (0x7F4, 0x7F5),
    (0x7FA, 0x7FA), (0x800, 0x815), (0x81A, 0x81A), (0x824, 0x824), (0x828, 0x828),
    (0x840, 0x858), (0x860, 0x86A), (0x870, 0x887), (0x889, 0x88E), (0x8A0, 0x8C9),
    (0x904, 0x939), (0x93D, 0x93D), (0x950, 0x950), (0x958, 0x961), (0x971, 0x980),
    (0x985, 0x98C), (0x98F, 0x990), (0x993, 0x9A8), (0x9AA, 0x9B0), (0x9B2, 0x9B2),
    (0x9B6, 0x9B9), (0x9BD, 0x9BD), (0x9CE, 0x9CE), (0x9DC, 0x9DD), (0x9DF, 0x9E1),
    (0x9F0, 0x9F1), (0x9FC, 0x9FC), (0xA05, 0xA0A), (0xA0F, 0xA10), (0xA13, 0xA28),
    (0xA2A, 0xA30), (0xA32, 0xA33), (0xA35, 0xA36), (0xA38, 0xA39), (0xA59, 0xA5C),
    (0xA5E, 0xA5E), (0xA72, 0xA74), (0xA85, 0xA8D), (0xA8F, 0xA91), (0xA93, 0xAA8),
    (0xAAA, 0xAB0), (0xAB2, 0xAB3), (0xAB5, 0xAB9), (0xABD, 0xABD), (0xAD0, 0xAD0),
    (0xAE0, 0xAE1), (0xAF9, 0xAF9), (0xB05, 0xB0C), (0xB0F, 0xB10), (0xB13, 0xB28),
    (0xB2A, 0xB30), (0xB32, 0xB33), (0xB35, 0xB39), (0xB3D, 0xB3D), (0xB5C, 0xB5D),
    (0xB5F, 0xB61), (0xB71, 0xB71), (0xB83, 0xB83), (0xB85, 0xB8A), (0xB8E, 0xB90),
    (0xB92, 0xB95), (0xB99, 0xB9A), (0xB9C, 0xB9C), (0xB9E, 0xB9F), (0xBA3, 0xBA4),
    (0xBA8, 0xBAA), (0xBAE, 0xBB9), (0xBD0, 0xBD0), (0xC05, 0xC0C), (0xC0E, 0xC10),
    (0xC12, 0xC28), (0xC2A, 0xC39), (0xC3D, 0xC3D), (0xC58, 0xC5A), (0xC5D, 0xC5D),
    (0xC60, 0xC61), (0xC80, 0xC80), (0xC85, 0xC8C), (0xC8E, 0xC90), (0xC92, 0xCA8),
    (0xCAA, 0xCB3), (0xCB5, 0xCB9), (0xCBD, 0xCBD), (0xCDD, 0xCDE), (0xCE0, 0xCE1),
    (0xCF1, 0xCF2), (0xD04, 0xD0C), (0xD0E, 0xD10), (0xD12, 0xD3A), (0xD3D, 0xD3D),
    (0xD4E, 0xD4E), (0xD54, 0xD56), (0xD5F, 0xD61), (0xD7A, 0xD7F), (0xD85, 0xD96),
    (0xD9A, 0xDB1), (0xDB3, 0xDBB), (0xDBD, 0xDBD), (0xDC0, 0xDC6), (0xE01, 0xE30),
    (0xE32, 0xE33), (0xE40, 0xE46), (0xE81, 0xE82), (0xE84, 0xE84), (0xE86, 0xE8A),
    (0xE8C, 0xEA3), (0xEA5, 0xEA5), (0xEA7, 0xEB0), (0xEB2, 0xEB3), (0xEBD, 0xEBD),
    (0xEC0, 0xEC4), (0xEC6, 0xEC6), (0xEDC, 0xEDF), (0xF00, 0xF00), (0xF40, 0xF47),
    (0xF49, 0xF6C), (0xF88, 0xF8C), (0x1000, 0x102A), (0x103F, 0x103F), (0x1050, 0x1055),
    (0x105A, 0x105D), (0x1061, 0x1061), (0x1065, 0x1066), (0x106E, 0x1070), (0x1075, 0x1081),
    (0x108E, 0x108E), (0x10A0, 0x10C5), (0x10C7, 0x10C7), (0x10CD, 0x10CD), (0x10D0, 0x10FA),
    (0x10FC, 0x1248), (0x124A, 0x124D), (0x1250, 0x1256), (0x1258, 0x1258), (0x125A, 0x125D),
    (0x1260, 0x1288), (0x128A, 0x128D), (0x1290, 0x12B0), (0x12B2, 0x12B5), (0x12B8, 0x12BE),
    (0x12C0, 0x12C0), (0x12C2, 0x12C5), (0x12C8, 0x12D6), (0x12D8, 0x1310), (0x1312, 0x1315),
    (0x1318, 0x135A), (0x1380, 0x138F), (0x13A0, 0x13F5), (0x13F8, 0x13FD), (0x1401, 0x166C),
    (0x166F, 0x167F), (0x1681, 0x169A), (0x16A0, 0x16EA), (0x16F1, 0x16F8), (0x1700, 0x1711),
    (0x171F, 0x1731), (0x1740, 0x1751), (0x1760, 0x176C), (0x176E, 0x1770), (0x1780, 0x17B3),
    (0x17D7, 0x17D7), (0x17DC, 0x17DC), (0x1820, 0x1878), (0x1880, 0x1884), (0x1887, 0x18A8),
    (0x18AA, 0x18AA), (0x18B0, 0x18F5), (0x1900, 0x191E), (0x1950, 0x196D), (0x1970, 0x1974),
    (0x1980, 0x19AB), (0x19B0, 0x19C9), (0x1A00, 0x1A16), (0x1A20, 0x1A54), (0x1AA7, 0x1AA7),
    (0x1B05, 0x1B33), (0x1B45, 0x1B4C), (0x1B83, 0x1BA0), (0x1BAE, 0x1BAF), (0x1BBA, 0x1BE5),
    (0x1C00, 0x1C23), (0x1C4D, 0x1C4F), (0x1C5A, 0x1C7D), (0x1C80, 0x1C88), (0x1C90, 0x1CBA),
    (0x1CBD, 0x1CBF), (0x1CE9, 0x1CEC), (0x1CEE, 0x1CF3), (0x1CF5, 0x1CF6), (0x1CFA, 0x1CFA),
    (0x1D00, 0x1DBF), (0x1E00, 0x1F15), (0x1F18, 0x1F1D), (0x1F20, 0x1F45), (0x1F48, 0x1F4D),
    (0x1F50, 0x1F57), (0x1F59, 0x1F59), (0x1F5B, 0x1F5B), (0x1F5D, 0x1F5D), (0x1F5F, 0x1F7D),
    (0x1F80, 0x1FB4), (0x1FB6, 0x1FBC), (0x1FBE, 0x1FBE), (0x1FC2, 0x1FC4), (0x1FC6, 0x1FCC),
    (0x1FD0, 0x1FD3), (0x1FD6, 0x1FDB), (0x1FE0, 0x1FEC), (0x1FF2, 0x1FF4), (0x1FF6, 0x1FFC),
    (0x2071, 0x2071), (0x207F, 0x207F), (0x2090, 0x209C), (0x2102, 0x2102), (0x2107, 0x2107),
    (0x210A, 0x2113), (0x2115, 0x2115), (0x2119, 0x211D), (0x2124, 0x2124), (0x2126, 0x2126),
    (0x2128, 0x2128), (0x212A, 0x212D), (0x212F, 0x2139), (0x213C, 0x213F), (0x2145, 0x2149),
    (0x214E, 0x214E), (0x2183, 0x2184), (0x2C00, 0x2CE4), (0x2CEB, 0x2CEE), (0x2CF2, 0x2CF3),
    (0x2D00, 0x2D25), (0x2D27, 0x2D27), (0x2D2D, 0x2D2D), (0x2D30, 0x2D67), (0x2D6F, 0x2D6F),
    (0x2D80, 0x2D96), (0x2DA0, 0x2DA6), (0x2DA8, 0x2DAE), (0x2DB0, 0x2DB6), (0x2DB8, 0x2DBE),
    (0x2DC0, 0x2DC6), (0x2DC8, 0x2DCE), (0x2DD0, 0x2DD6), (0x2DD8, 0x2DDE), (0x2E2F, 0x2E2F),
    (0x3005, 0x3006), (0x3031, 0x3035), (0x303B, 0x303C), (0x3041, 0x3096), (0x309D, 0x309F),
    (0x30A1, 0x30FA), (0x30FC, 0x30FF), (0x3105, 0x312F), (0x3131, 0x318E), (0x31A0, 0x31BF),
    (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0xA48C), (0xA4D0, 0xA4FD), (0xA500, 0xA60C),
    (0xA610, 0xA61F), (0xA62A, 0xA62B), (0xA640, 0xA66E), (0xA67F, 0xA69D), (0xA6A0, 0xA6E5),
    (0xA717, 0xA71F), (0xA722, 0xA788), (0xA78B, 0xA7CA), (0xA7D0, 0xA7D1), (0xA7D3, 0xA7D3),
    (0xA7D5, 0xA7D9), (0xA7F2, 0xA801), (0xA803, 0xA805), (0xA807, 0xA80A), (0xA80C, 0xA822),
    (0xA840, 0xA873), (0xA882, 0xA8B3), (0xA8F2, 0xA8F7), (0xA8FB, 0xA8FB), (0xA8FD, 0xA8FE),
    (0xA90A, 0xA925), (0xA930, 0xA946), (0xA960, 0xA97C), (0xA984, 0xA9B2), (0xA9CF, 0xA9CF),
    (0xA9E0, 0xA9E4), (0xA9E6, 0xA9EF), (0xA9FA, 0xA9FE), (0xAA00, 0xAA28), (0xAA40, 0xAA42),
    (0xAA44, 0xAA4B), (0xAA60, 0xAA76), (0xAA7A, 0xAA7A), (0xAA7E, 0xAAAF), (0xAAB1, 0xAAB1),
    (0xAAB5, 0xAAB6), (0xAAB9, 0xAABD), (0xAAC0, 0xAAC0), (0xAAC2, 0xAAC2), (0xAADB, 0xAADD),
    (0xAAE0, 0xAAEA), (0xAAF2, 0xAAF4), (0xAB01, 0xAB06), (0xAB09, 0xAB0E), (0xAB11, 0xAB16),
    (0xAB20, 0xAB26), (0xAB28, 0xAB2E), (0xAB30, 0xAB5A), (0xAB5C, 0xAB69), (0xAB70, 0xABE2),
    (0xAC00, 0xD7A3), (0xD7B0, 0xD7C6), (0xD7CB, 0xD7FB), (0xF900, 0xFA6D), (0xFA70, 0xFAD9),
    (0xFB00, 0xFB06), (0xFB13, 0xFB17), (0xFB1D, 0xFB1D), (0xFB1F, 0xFB28), (0xFB2A, 0xFB36),
    (0xFB38, 0xFB3C), (0xFB3E, 0xFB3E), (0xFB40, 0xFB41), (0xFB43, 0xFB44), (0xFB46, 0xFBB1),
    (0xFBD3, 0xFD3D), (0xFD50, 0xFD8F), (0xFD92, 0xFDC7), (0xFDF0, 0xFDFB), (0xFE70, 0xFE74),
    (0xFE76, 0xFEFC), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A), (0xFF66, 0xFFBE), (0xFFC2, 0xFFC7),
    (0xFFCA, 0xFFCF), (0xFFD2, 0xFFD7), (0xFFDA, 0xFFDC), (0x10000, 0x1000B), (0x1000D, 0x10026),
    (0x10028, 0x1003A), (0x1003C, 0x1003D), (0x1003F, 0x1004D), (0x10050, 0x1005D), (0x10080, 0x100FA),
    (0x10280, 0x1029C), (0x102A0, 0x102D0), (0x10300, 0x1031F), (0x1032D, 0x10340), (0x10342, 0x10349),
    (0x10350, 0x10375), (0x10380, 0x1039D), (0x103A0, 0x103C3), (0x103C8, 0x103CF), (0x10400, 0x1049D),
    (0x104B0, 0x104D3), (0x104D8, 0x104FB), (0x10500, 0x10527), (0x10530, 0x10563), (0x10570, 0x1057A),
    (0x1057C, 0x1058A), (0x1058C, 0x10592), (0x10594, 0x10595), (0x10597, 0x105A1), (0x105A3, 0x105B1),
    (0x105B3, 0x105B9), (0x105BB, 0x105BC), (0x10600, 0x10736), (0x10740, 0x10755), (0x10760, 0x10767),
    (0x10780, 0x10785), (0x10787, 0x107B0), (0x107B2, 0x107BA), (0x10800, 0x10805), (0x10808, 0x10808),
    (0x1080A, 0x10835), (0x10837, 0x10838), (0x1083C, 0x1083C), (0x1083F, 0x10855), (0x10860, 0x10876),
    (0x10880, 0x1089E), (0x108E0, 0x108F2), (0x108F4, 0x108F5), (0x10900, 0x10915), (0x10920, 0x10939),
    (0x10980, 0x109B7), (0x109BE, 0x109BF), (0x10A00, 0x10A00), (0x10A10, 0x10A13), (0x10A15, 0x10A17),
    (0x10A19, 0x10A35), (0x10A60, 0x10A7C), (0x10A80, 0x10A9C), (0x10AC0, 0x10AC7), (0x10AC9, 0x10AE4),
    (0x10B00, 0x10B35), (0x10B40, 0x10B55), (0x10B60, 0x10B72), (0x10B80, 0x10B91), (0x10C00, 0x10C48),
    (0x10C80, 0x10CB2), (0x10CC0, 0x10CF2), (0x10D00, 0x10D23), (0x10E80, 0x10EA9), (0x10EB0, 0x10EB1),
    (0x10F00, 0x10F1C), (0x10F27, 0x10F27), (0x10F30, 0x10F45), (0x10F70, 0x10F81), (0x10FB0, 0x10FC4),
    (0x10FE0, 0x10FF6), (0x11003, 0x11037), (0x11071, 0x11072), (0x11075, 0x11075), (0x11083, 0x110AF),
    (0x110D0, 0x110E8), (0x11103, 0x11126), (0x11144, 0x11144), (0x11147, 0x11147), (0x11150, 0x11172),
    (0x11176, 0x11176), (0x11183, 0x111B2), (0x111C1, 0x111C4), (0x111DA, 0x111DA), (0x111DC, 0x111DC),
    (0x11200, 0x11211), (0x11213, 0x1122B), (0x1123F, 0x11240), (0x11280, 0x11286), (0x11288, 0x11288),
    (0x1128A, 0x1128D), (0x1128F, 0x1129D), (0x1129F, 0x112A8), (0x112B0, 0x112DE), (0x11305, 0x1130C),
    (0x1130F, 0x11310), (0x11313, 0x11328), (0x1132A, 0x11330), (0x11332, 0x11333), (0x11335, 0x11339),
    (0x1133D, 0x1133D), (0x11350, 0x11350), (0x1135D, 0x11361), (0x11400, 0x11434), (0x11447, 0x1144A),
    (0x1145F, 0x11461), (0x11480, 0x114AF), (0x114C4, 0x114C5), (0x114C7, 0x114C7), (0x11580, 0x115AE),
    (0x115D8, 0x115DB), (0x11600, 0x1162F), (0x11644, 0x11644), (0x11680, 0x116AA), (0x116B8, 0x116B8),
    (0x11700, 0x1171A), (0x11740, 0x11746), (0x11800, 0x1182B), (0x118A0, 0x118DF), (0x118FF, 0x11906),
    (0x11909, 0x11909), (0x1190C, 0x11913), (0x11915, 0x11916), (0x11918, 0x1192F), (0x1193F, 0x1193F),
    (0x11941, 0x11941), (0x119A0, 0x119A7), (0x119AA, 0x119D0), (0x119E1, 0x119E1), (0x119E3, 0x119E3),
    (0x11A00, 0x11A00), (0x11A0B, 0x11A32), (0x11A3A, 0x11A3A), (0x11A50, 0x11A50), (0x11A5C, 0x11A89),
    (0x11A9D, 0x11A9D), (0x11AB0, 0x11AF8), (0x11C00, 0x11C08), (0x11C0A, 0x11C2E), (0x11C40, 0x11C40),
    (0x11C72, 0x11C8F), (0x11D00, 0x11D06), (0x11D08, 0x11D09), (0x11D0B, 0x11D30), (0x11D46, 0x11D46),
    (0x11D60, 0x11D65), (0x11D67, 0x11D68), (0x11D6A, 0x11D89), (0x11D98, 0x11D98), (0x11EE0, 0x11EF2),
    (0x11F02, 0x11F02), (0x11F04, 0x11F10), (0x11F12, 0x11F33), (0x11FB0, 0x11FB0), (0x12000, 0x12399),
    (0x12480, 0x12543), (0x12F90, 0x12FF0), (0x13000, 0x1342F), (0x13441, 0x13446), (0x14400, 0x14646),
    (0x16800, 0x16A38), (0x16A40, 0x16A5E), (0x16A70, 0x16ABE), (0x16AD0, 0x16AED), (0x16B00, 0x16B2F),
    (0x16B40, 0x16B43), (0x16B63, 0x16B77), (0x16B7D, 0x16B8F), (0x16E40, 0x16E7F), (0x16F00, 0x16F4A),
    (0x16F50, 0x16F50), (0x16F93, 0x16F9F), (0x16FE0, 0x16FE1), (0x16FE3, 0x16FE3), (0x17000, 0x187F7),
    (0x18800, 0x18CD5), (0x18D00, 0x18D08), (0x1AFF0, 0x1AFF3), (0x1AFF5, 0x1AFFB), (0x1AFFD, 0x1AFFE),
    (0x1B000, 0x1B122), (0x1B132, 0x1B132), (0x1B150, 0x1B152), (0x1B155, 0x1B155), (0x1B164, 0x1B167),
    (0x1B170, 0x1B2FB), (0x1BC00, 0x1BC6A), (0x1BC70, 0x1BC7C), (0x1BC80, 0x1BC88), (0x1BC90, 0x1BC99),
    (0x1D400, 0x1D454), (0x1D456, 0x1D49C), (0x1D49E, 0x1D49F), (0x1D4A2, 0x1D4A2), (0x1D4A5, 0x1D4A6),
    (0x1D4A9, 0x1D4AC), (0x1D4AE, 0x1D4B9), (0x1D4BB, 0x1D4BB), (0x1D4BD, 0x1D4C3), (0x1D4C5, 0x1D505),
    (0x1D507, 0x1D50A), (0x1D50D, 0x1D514), (0x1D516, 0x1D51C), (0x1D51E, 0x1D539), (0x1D53B, 0x1D53E),
    (0x1D540, 0x1D544), (0x1D546, 0x1D546), (0x1D54A, 0x1D550), (0x1D552, 0x1D6A5), (0x1D6A8, 0x1D6C0),
    (0x1D6C2, 0x1D6DA), (0x1D6DC, 0x1D6FA), (0x1D6FC, 0x1D714), (0x1D716, 0x1D734), (0x1D736, 0x1D74E),
    (0x1D750, 0x1D76E), (0x1D770, 0x1D788), (0x1D78A, 0x1D7A8), (0x1D7AA, 0x1D7C2), (0x1D7C4, 0x1D7CB),
    (0x1DF00, 0x1DF1E), (0x1DF25, 0x1DF2A), (0x1E030, 0x1E06D), (0x1E100, 0x1E12C), (0x1E137, 0x1E13D),
    (0x1E14E, 0x1E14E), (0x1E290, 0x1E2AD), (0x1E2C0, 0x1E2EB), (0x1E4D0, 0x1E4EB), (0x1E7E0, 0x1E7E6),
    (0x1E7E8, 0x1E7EB), (0x1E7ED, 0x1E7EE), (0x1E7F0, 0x1E7FE), (0x1E800, 0x1E8C4), (0x1E900, 0x1E943),
    (0x1E94B, 0x1E94B), (0x1EE00, 0x1EE03), (0x1EE05, 0x1EE1F), (0x1EE21, 0x1EE22), (0x1EE24, 0x1EE24),
    (0x1EE27, 0x1EE27), (0x1EE29, 0x1EE32), (0x1EE34, 0x1EE37), (0x1EE39, 0x1EE39), (0x1EE3B, 0x1EE3B),
    (0x1EE42, 0x1EE42), (0x1EE47, 0x1EE47), (0x1EE49, 0x1EE49), (0x1EE4B, 0x1EE4B), (0x1EE4D, 0x1EE4F),
    (0x1EE51, 0x1EE52), (0x1EE54, 0x1EE54), (0x1EE57, 0x1EE57), (0x1EE59, 0x1EE59), (0x1EE5B, 0x1EE5B),
    (0x1EE5D, 0x1EE5D), (0x1EE5F, 0x1EE5F), (0x1EE61, 0x1EE62), (0x1EE64, 0x1EE64), (0x1EE67, 0x1EE6A),
    (0x1EE6C, 0x1EE72), (0x1EE74, 0x1EE77), (0x1EE79, 0x1EE7C), (0x1EE7E, 0x1EE7E), (0x1EE80, 0x1EE89),
    (0x1EE8B, 0x1EE9B), (0x1EEA1, 0x1EEA3), (0x1EEA5, 0x1EEA9), (0x1EEAB, 0x1EEBB), (0x20000, 0x2A6DF),
    (0x2A700, 0x2B739), (0x2B740, 0x2B81D), (0x2B820, 0x2CEA1), (0x2CEB0, 0x2EBE0), (0x2F800, 0x2FA1D),
    (0x30000, 0x3134A), (0x31350, 0x323AF),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum R {
        Pass,
        Fail,
    }
    use R::{Fail, Pass};

    fn r<T>(res: &Result<T>) -> R {
        if res.is_ok() { Pass } else { Fail }
    }

    type PathCase = (
        &'static str,
        R,
        R,
        Option<&'static str>,
        Option<(&'static str, &'static str)>,
    );

    /// (path, CheckPath, CheckImportPath, EscapePath, SplitPathVersion), as
    /// printed by golang.org/x/mod v0.42.0.
    #[rustfmt::skip]
    const GO_PATHS: &[PathCase] = &[
        ("github.com/BurntSushi/toml", Pass, Pass, Some("github.com/!burnt!sushi/toml"), Some(("github.com/BurntSushi/toml", ""))),
        ("github.com/!burnt!sushi/toml", Fail, Fail, None, Some(("github.com/!burnt!sushi/toml", ""))),
        ("golang.org/x/text", Pass, Pass, Some("golang.org/x/text"), Some(("golang.org/x/text", ""))),
        ("gopkg.in/yaml.v3", Pass, Pass, Some("gopkg.in/yaml.v3"), Some(("gopkg.in/yaml", ".v3"))),
        ("gopkg.in/yaml.v0", Pass, Pass, Some("gopkg.in/yaml.v0"), Some(("gopkg.in/yaml", ".v0"))),
        ("gopkg.in/yaml.v01", Fail, Pass, None, None),
        ("gopkg.in/yaml", Fail, Pass, None, None),
        ("gopkg.in/yaml.v3-unstable", Pass, Pass, Some("gopkg.in/yaml.v3-unstable"), Some(("gopkg.in/yaml", ".v3-unstable"))),
        ("gopkg.in/check.v1", Pass, Pass, Some("gopkg.in/check.v1"), Some(("gopkg.in/check", ".v1"))),
        ("gopkg.in/v1", Fail, Pass, None, None),
        ("gopkg.in/yaml.v", Fail, Pass, None, None),
        ("gopkg.in/foo/bar.v2", Pass, Pass, Some("gopkg.in/foo/bar.v2"), Some(("gopkg.in/foo/bar", ".v2"))),
        ("example.com/m/v2", Pass, Pass, Some("example.com/m/v2"), Some(("example.com/m", "/v2"))),
        ("example.com/m/v1", Fail, Pass, None, None),
        ("example.com/m/v0", Fail, Pass, None, None),
        ("example.com/m/v02", Fail, Pass, None, None),
        ("example.com/m/v2.0", Fail, Pass, None, None),
        ("example.com/m/v", Pass, Pass, Some("example.com/m/v"), Some(("example.com/m/v", ""))),
        ("example.com/m/v2/sub", Pass, Pass, Some("example.com/m/v2/sub"), Some(("example.com/m/v2/sub", ""))),
        ("example.com/v2", Pass, Pass, Some("example.com/v2"), Some(("example.com", "/v2"))),
        ("example.com", Pass, Pass, Some("example.com"), Some(("example.com", ""))),
        ("example", Fail, Pass, None, Some(("example", ""))),
        ("Example.com/m", Fail, Pass, None, Some(("Example.com/m", ""))),
        ("exa_mple.com/m", Fail, Pass, None, Some(("exa_mple.com/m", ""))),
        ("-example.com/m", Fail, Fail, None, Some(("-example.com/m", ""))),
        ("example.com/-m", Pass, Pass, Some("example.com/-m"), Some(("example.com/-m", ""))),
        ("example.com/.m", Fail, Pass, None, Some(("example.com/.m", ""))),
        ("example.com/m.", Fail, Fail, None, Some(("example.com/m.", ""))),
        ("example.com/m~", Pass, Pass, Some("example.com/m~"), Some(("example.com/m~", ""))),
        ("example.com/m~1", Fail, Fail, None, Some(("example.com/m~1", ""))),
        ("example.com/m~1.go", Fail, Fail, None, Some(("example.com/m~1.go", ""))),
        ("example.com/m~x1", Pass, Pass, Some("example.com/m~x1"), Some(("example.com/m~x1", ""))),
        ("example.com/a~1b", Pass, Pass, Some("example.com/a~1b"), Some(("example.com/a~1b", ""))),
        ("example.com/CON", Fail, Fail, None, Some(("example.com/CON", ""))),
        ("example.com/con.txt", Fail, Fail, None, Some(("example.com/con.txt", ""))),
        ("example.com/com1x", Pass, Pass, Some("example.com/com1x"), Some(("example.com/com1x", ""))),
        ("example.com/com0", Pass, Pass, Some("example.com/com0"), Some(("example.com/com0", ""))),
        ("example.com/lpt9.x", Fail, Fail, None, Some(("example.com/lpt9.x", ""))),
        ("example.com/a..b", Pass, Pass, Some("example.com/a..b"), Some(("example.com/a..b", ""))),
        ("example.com/m+", Fail, Pass, None, Some(("example.com/m+", ""))),
        ("example.com/m@v", Fail, Fail, None, Some(("example.com/m@v", ""))),
        ("example.com/é", Fail, Fail, None, Some(("example.com/é", ""))),
        ("exämple.com/m", Fail, Fail, None, Some(("exämple.com/m", ""))),
        ("example.com//m", Fail, Fail, None, Some(("example.com//m", ""))),
        ("example.com/m/", Fail, Fail, None, Some(("example.com/m/", ""))),
        ("/example.com/m", Fail, Fail, None, Some(("/example.com/m", ""))),
        ("", Fail, Fail, None, Some(("", ""))),
        ("example.com/./m", Fail, Fail, None, Some(("example.com/./m", ""))),
        ("example.com/../m", Fail, Fail, None, Some(("example.com/../m", ""))),
        ("example.com/ m", Fail, Fail, None, Some(("example.com/ m", ""))),
        ("example.com/m!", Fail, Fail, None, Some(("example.com/m!", ""))),
        ("ex-ample.com/m", Pass, Pass, Some("ex-ample.com/m"), Some(("ex-ample.com/m", ""))),
        ("1.2/m", Pass, Pass, Some("1.2/m"), Some(("1.2/m", ""))),
        ("example.com/m/v2/v3", Pass, Pass, Some("example.com/m/v2/v3"), Some(("example.com/m/v2", "/v3"))),
        ("example.com/m/v10", Pass, Pass, Some("example.com/m/v10"), Some(("example.com/m", "/v10"))),
        ("example.com/m/v1000000000000000000000", Pass, Pass, Some("example.com/m/v1000000000000000000000"), Some(("example.com/m", "/v1000000000000000000000"))),
    ];

    #[test]
    fn module_paths_match_go() {
        for &(path, check, import, escaped, split) in GO_PATHS {
            assert_eq!(r(&check_path(path)), check, "check_path({path:?})");
            assert_eq!(
                r(&check_import_path(path)),
                import,
                "check_import_path({path:?})"
            );
            assert_eq!(
                escape_path(path).ok().as_deref(),
                escaped,
                "escape_path({path:?})"
            );
            assert_eq!(
                split_path_version(path),
                split,
                "split_path_version({path:?})"
            );
        }
    }

    /// (escaped, UnescapePath) from Go.
    #[rustfmt::skip]
    const GO_UNESCAPE_PATHS: &[(&str, Option<&str>)] = &[
        ("github.com/!burnt!sushi/toml", Some("github.com/BurntSushi/toml")),
        ("github.com/BurntSushi/toml", None),
        ("github.com/!Burnt/toml", None),
        ("github.com/!1x/y", None),
        ("github.com/x!", None),
        ("github.com/x!!y", None),
        ("github.com/éx", None),
        ("example.com/m!", None),
    ];

    #[test]
    fn unescape_paths_match_go() {
        for &(escaped, want) in GO_UNESCAPE_PATHS {
            assert_eq!(unescape_path(escaped).ok().as_deref(), want, "{escaped:?}");
        }
    }

    /// (file path, CheckFilePath) from Go.
    #[rustfmt::skip]
    const GO_FILE_PATHS: &[(&str, R)] = &[
        ("go.mod", Pass),
        ("a/b/c.go", Pass),
        ("../x", Fail),
        ("a/../b", Fail),
        ("./a", Fail),
        ("a/./b", Fail),
        ("/abs", Fail),
        ("a//b", Fail),
        ("a/", Fail),
        ("a\\b", Fail),
        ("a\x00b", Fail),
        ("", Fail),
        (".", Fail),
        ("..", Fail),
        ("...", Fail),
        (".gitignore", Pass),
        (".github/workflows/ci.yml", Pass),
        ("-leading-dash", Pass),
        ("a/-dash", Pass),
        ("trailing.", Fail),
        ("a./b", Fail),
        ("CON", Fail),
        ("con.go", Fail),
        ("aux.c", Fail),
        ("a/NUL", Fail),
        ("COM1.txt", Fail),
        ("com10", Pass),
        ("Com1x", Pass),
        ("LPT9", Fail),
        ("conx", Pass),
        ("x~1", Pass),
        ("x~1.go", Pass),
        ("PROGRA~1", Pass),
        ("with space.txt", Pass),
        ("a!#$%&()+,-.=@[]^_{}~b", Pass),
        ("a:b", Fail),
        ("a*b", Fail),
        ("a?b", Fail),
        ("a\"b", Fail),
        ("a<b", Fail),
        ("a|b", Fail),
        ("a'b", Fail),
        ("a`b", Fail),
        ("a;b", Fail),
        ("a\tb", Fail),
        ("a\nb", Fail),
        ("héllo.go", Pass),
        ("日本語.txt", Pass),
        ("ß", Pass),
        ("\u{301}", Fail),
        ("x\u{301}", Fail),
        ("١٢", Fail),
        ("x١", Fail),
        ("Ⅻ", Fail),
        ("½", Fail),
        ("€", Fail),
        ("😀", Fail),
        ("\u{00a0}", Fail),
        ("x\u{200b}", Fail),
        ("ǅ", Pass),
        ("ʰ", Pass),
        ("ª", Pass),
        ("\u{2028}", Fail),
        ("Ω", Pass),
        ("\u{212A}", Pass),
        ("ſ", Pass),
        ("ı", Pass),
    ];

    #[test]
    fn file_paths_match_go() {
        for &(path, want) in GO_FILE_PATHS {
            assert_eq!(r(&check_file_path(path)), want, "check_file_path({path:?})");
        }
    }

    /// (version, canonical per Go, EscapeVersion per Go). Go's EscapeVersion
    /// accepts any file-name-like string; ours only canonical versions.
    #[rustfmt::skip]
    const GO_VERSIONS: &[(&str, bool, Option<&str>)] = &[
        ("v1.2.3", true, Some("v1.2.3")),
        ("v0.0.0-20191109021931-daa7c04131f5", true, Some("v0.0.0-20191109021931-daa7c04131f5")),
        ("v1.2.4-0.20191109021931-daa7c04131f5", true, Some("v1.2.4-0.20191109021931-daa7c04131f5")),
        ("v2.0.0+incompatible", true, Some("v2.0.0+incompatible")),
        ("v2.0.0-rc.1+incompatible", true, Some("v2.0.0-rc.1+incompatible")),
        ("v0.0.1-go1.21.0.linux-amd64", true, Some("v0.0.1-go1.21.0.linux-amd64")),
        ("v1.0.0-RC1", true, Some("v1.0.0-!r!c1")),
        ("v1.2", false, Some("v1.2")),
        ("v1", false, Some("v1")),
        ("1.2.3", false, Some("1.2.3")),
        ("v01.2.3", false, Some("v01.2.3")),
        ("v1.02.3", false, Some("v1.02.3")),
        ("v1.2.03", false, Some("v1.2.03")),
        ("v1.2.3-", false, Some("v1.2.3-")),
        ("v1.2.3-01", false, Some("v1.2.3-01")),
        ("v1.2.3-0a", true, Some("v1.2.3-0a")),
        ("v1.2.3-a..b", false, Some("v1.2.3-a..b")),
        ("v1.2.3+meta", false, Some("v1.2.3+meta")),
        ("v1.2.3+incompatible+incompatible", false, Some("v1.2.3+incompatible+incompatible")),
        ("v1.2.3-beta_1", false, Some("v1.2.3-beta_1")),
        ("v1.2.3-béta", false, None),
        ("v0.0.0", true, Some("v0.0.0")),
        ("v1.2.3.4", false, Some("v1.2.3.4")),
        ("V1.2.3", false, Some("!v1.2.3")),
        ("latest", false, Some("latest")),
        ("v1.2.3-x.0", true, Some("v1.2.3-x.0")),
        ("v1.2.3-x.00", false, Some("v1.2.3-x.00")),
        ("v1.2.3-a+incompatible", true, Some("v1.2.3-a+incompatible")),
        ("v1.2.3-!", false, None),
        ("v10.20.30", true, Some("v10.20.30")),
    ];

    #[test]
    fn versions_match_go() {
        for &(v, canonical, go_escaped) in GO_VERSIONS {
            assert_eq!(check_version(v).is_ok(), canonical, "check_version({v:?})");
            let want = if canonical { go_escaped } else { None };
            assert_eq!(
                escape_version(v).ok().as_deref(),
                want,
                "escape_version({v:?})"
            );
        }
    }

    /// (escaped, UnescapeVersion) from Go.
    #[rustfmt::skip]
    const GO_UNESCAPE_VERSIONS: &[(&str, Option<&str>)] = &[
        ("v1.0.0-!r!c1", Some("v1.0.0-RC1")),
        ("v1.0.0-RC1", None),
        ("v1.0.0-!", None),
        ("v1.0.0-!1", None),
    ];

    #[test]
    fn unescape_versions_match_go() {
        for &(escaped, want) in GO_UNESCAPE_VERSIONS {
            assert_eq!(
                unescape_version(escaped).ok().as_deref(),
                want,
                "{escaped:?}"
            );
        }
    }

    /// (path, version, module.Check) from Go, for [`check_path_major`].
    #[rustfmt::skip]
    const GO_PATH_MAJOR: &[(&str, &str, bool)] = &[
        ("example.com/m", "v1.2.3", true),
        ("example.com/m", "v0.1.0", true),
        ("example.com/m", "v2.0.0", false),
        ("example.com/m", "v2.0.0+incompatible", true),
        ("example.com/m", "v1.0.0+incompatible", true),
        ("example.com/m/v2", "v2.0.0", true),
        ("example.com/m/v2", "v3.0.0", false),
        ("example.com/m/v2", "v1.0.0", false),
        ("example.com/m/v2", "v2.0.0+incompatible", true),
        ("gopkg.in/yaml.v3", "v3.0.1", true),
        ("gopkg.in/yaml.v3", "v2.0.0", false),
        ("gopkg.in/check.v1", "v0.0.0-20161208181325-20d25e280405", true),
        ("gopkg.in/check.v1", "v1.0.0-20201130134442-10cb98267c6c", true),
        ("gopkg.in/yaml.v0", "v0.1.0", true),
        ("gopkg.in/yaml.v3-unstable", "v3.0.0", true),
        ("gopkg.in/yaml.v2", "v0.0.0-20200000000000-000000000000", false),
        ("example.com/m/v10", "v10.1.0", true),
    ];

    #[test]
    fn path_major_matches_go() {
        for &(path, version, want) in GO_PATH_MAJOR {
            let (_, major) = split_path_version(path).unwrap_or((path, "?"));
            let got = check_path_major(version, major);
            assert_eq!(got.is_ok(), want, "{path}@{version}: {got:?}");
        }
    }

    #[test]
    fn module_version_escapes_upper_case() -> Result<()> {
        let mv = ModuleVersion::new("github.com/BurntSushi/toml", "v1.0.0-RC1")?;
        assert_eq!(mv.escaped_path(), "github.com/!burnt!sushi/toml");
        assert_eq!(mv.escaped_version(), "v1.0.0-!r!c1");
        assert_eq!(mv.zip_prefix(), "github.com/BurntSushi/toml@v1.0.0-RC1/");
        assert_eq!(mv.to_string(), "github.com/BurntSushi/toml@v1.0.0-RC1");
        let back = ModuleVersion::from_escaped("github.com/!burnt!sushi/toml", "v1.0.0-!r!c1")?;
        assert_eq!(back, mv);
        assert!(ModuleVersion::from_escaped("github.com/BurntSushi/toml", "v1.0.0").is_err());
        assert!(ModuleVersion::from_escaped("github.com/!burnt!sushi/toml", "v1.0.0-RC1").is_err());
        assert!(ModuleVersion::new("gopkg.in/yaml.v3", "v3.0.1").is_ok());
        assert!(ModuleVersion::new("github.com/m/m", "v2.0.0+incompatible").is_ok());
        assert!(ModuleVersion::new("golang.org/toolchain", "v0.0.1-go1.21.0.linux-amd64").is_ok());
        Ok(())
    }

    #[test]
    fn errors_are_the_right_variant() {
        assert!(matches!(
            check_path("example.com/!x"),
            Err(Error::InvalidPath { .. })
        ));
        assert!(matches!(
            unescape_path("!!"),
            Err(Error::InvalidPath { .. })
        ));
        assert!(matches!(
            check_version("v1"),
            Err(Error::InvalidVersion { .. })
        ));
        assert!(matches!(
            unescape_version("v1!"),
            Err(Error::InvalidVersion { .. })
        ));
        assert!(matches!(
            check_file_path("a/../b"),
            Err(Error::InvalidFilePath { .. })
        ));
    }

    #[test]
    fn path_prefix_and_element() {
        assert!(check_path_prefix("github.com").is_ok());
        assert!(check_path_prefix("github.com/BurntSushi").is_ok());
        assert!(check_path_prefix("example.com/m/v1").is_ok()); // example.com/m/v1/x is valid
        assert!(check_path_prefix("gopkg.in/yaml").is_ok());
        assert!(check_path_prefix("github").is_err());
        assert!(check_path_prefix("github.com/.DS_Store").is_err());
        assert!(check_path_prefix("._github.com").is_err());
        assert!(check_path_prefix("github.com/a+b").is_err());
        assert!(check_path_element("BurntSushi").is_ok());
        assert!(check_path_element("-x").is_ok());
        assert!(check_path_element(".x").is_err());
        assert!(check_path_element("x~12").is_err());
        assert!(check_path_element("nul").is_err());
        assert!(check_path_element("").is_err());
    }

    #[test]
    fn over_long_elements() {
        let long = |n| "a".repeat(n);
        assert!(check_path(&format!("example.com/{}", long(255))).is_ok());
        let err = check_path(&format!("example.com/{}", long(256)));
        assert!(format!("{:?}", err).contains("NAME_MAX"), "{err:?}");
        // Escaping doubles upper-case letters: 128 upper-case letters are 256 bytes on disk.
        assert!(check_path(&format!("example.com/{}", "A".repeat(127))).is_ok());
        assert!(check_path(&format!("example.com/{}", "A".repeat(128))).is_err());
        assert!(check_path_element(&long(256)).is_err());
        assert!(check_import_path(&format!("example.com/{}", long(256))).is_err());
        assert!(check_file_path(&format!("a/{}", long(255))).is_ok());
        assert!(check_file_path(&format!("a/{}/b", long(256))).is_err());
        // 'é' is two bytes: 128 of them are 256 bytes.
        assert!(check_file_path(&"é".repeat(127)).is_ok());
        assert!(check_file_path(&"é".repeat(128)).is_err());
        // Versions: escaped plus ".ziphash" must fit.
        let v = |pre: &str| format!("v1.0.0-{pre}");
        assert!(check_version(&v(&long(255 - 7 - 8))).is_ok());
        assert!(check_version(&v(&long(255 - 7 - 8 + 1))).is_err());
        assert!(check_version(&v(&"A".repeat(120))).is_ok());
        assert!(check_version(&v(&"A".repeat(121))).is_err());
        // The module directory "<last>@<version>" must fit too.
        assert!(ModuleVersion::new(&format!("example.com/{}", long(200)), "v1.0.0").is_ok());
        assert!(ModuleVersion::new(&format!("example.com/{}", long(200)), &v(&long(50))).is_err());
    }

    #[test]
    fn go_letters() {
        for c in [
            'é',
            'ß',
            'Ω',
            'ǅ',
            'ʰ',
            'ª',
            '日',
            '\u{212A}',
            'ſ',
            'ı',
            '\u{323AF}',
        ] {
            assert!(is_go_letter(c), "{c:?}");
        }
        for c in [
            '\u{301}',
            '١',
            'Ⅻ',
            '½',
            '€',
            '😀',
            '\u{a0}',
            '\u{200b}',
            '\u{2028}',
            '\u{323B0}',
        ] {
            assert!(!is_go_letter(c), "{c:?}");
        }
    }
}
