//! Ref names for module versions, and loose ref files.
//!
//! A module version's ref is
//! `refs/gomodfs/<kind>/<enc(escaped path)>/@v/<enc(escaped version)>` where
//! `<kind>` is `zip` (a whole module; the ref names its root tree), `info` or
//! `mod` (a proxy file stored on its own; the ref names its blob).
//!
//! `enc` keeps `a-z`, `0-9`, `_`, `-` (and `/` in the path) and writes every
//! other byte as `%xx` with lower-case hex. Its input is the *escaped* module
//! path and version (upper-case letters already turned into `!` + lower
//! case), so a ref name holds no upper-case letter and two modules never
//! share a ref file on a case-insensitive file system. The output never
//! contains `.`, `~`, `^`, `:`, `?`, `*`, `[`, `\`, `@{`, a space or a
//! control character, so every ref name is valid for `git check-ref-format`.
//! `@v` is never the encoding of a path element (an element never holds `@`,
//! and `enc` would write it as `%40`), so the split is unambiguous.

use super::{integrity, layout};
use crate::modpath::ModuleVersion;
use gix_hash::ObjectId;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What a module version's ref stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefKind {
    /// The whole module: the ref names the root tree.
    Zip,
    /// `.info` on its own: the ref names the blob.
    Info,
    /// `.mod` on its own: the ref names the blob.
    Mod,
}

impl RefKind {
    /// The directory under `refs/gomodfs/`.
    pub(crate) fn dir(self) -> &'static str {
        match self {
            RefKind::Zip => "zip",
            RefKind::Info => "info",
            RefKind::Mod => "mod",
        }
    }
}

/// The directory between the module path and the version.
const VERSION_DIR: &str = "@v";

fn is_kept(b: u8, keep_slash: bool) -> bool {
    b.is_ascii_lowercase()
        || b.is_ascii_digit()
        || b == b'_'
        || b == b'-'
        || (keep_slash && b == b'/')
}

/// Encodes `s` for a ref name (see the module docs). `/` is kept only if
/// `keep_slash`.
pub(crate) fn encode(s: &str, keep_slash: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(s.len() + 8);
    for &b in s.as_bytes() {
        if is_kept(b, keep_slash) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

/// Reverses [`encode`]. Only the canonical encoding decodes: upper-case hex,
/// an encoded byte that would have been kept, or a raw byte that would have
/// been encoded give `None`, so a name decodes to at most one string and
/// re-encodes to itself.
pub(crate) fn decode(s: &str, keep_slash: bool) -> Option<String> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hi = hex(*bytes.get(i + 1)?)?;
            let lo = hex(*bytes.get(i + 2)?)?;
            let c = (hi << 4) | lo;
            if is_kept(c, keep_slash) {
                return None;
            }
            out.push(c);
            i += 3;
        } else if is_kept(b, keep_slash) {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

/// The ref name (relative to the repository) of `module` for `kind`, e.g.
/// `refs/gomodfs/zip/github%2ecom/%21burnt%21sushi/toml/@v/v1%2e2%2e3`.
pub(crate) fn ref_name(kind: RefKind, module: &ModuleVersion) -> String {
    format!("refs/gomodfs/{}/{}", kind.dir(), rel_name(module))
}

/// The part of the ref name after `refs/gomodfs/<kind>/`.
pub(crate) fn rel_name(module: &ModuleVersion) -> String {
    format!(
        "{}/{VERSION_DIR}/{}",
        encode(&module.escaped_path(), true),
        encode(&module.escaped_version(), false)
    )
}

/// Parses the part of a ref name after `refs/gomodfs/<kind>/` back into a
/// module version; `None` if it is not one this store writes.
pub(crate) fn parse_rel_name(rel: &str) -> Option<ModuleVersion> {
    let (path, version) = rel.rsplit_once(&format!("/{VERSION_DIR}/"))?;
    let path = decode(path, true)?;
    let version = decode(version, false)?;
    let module = ModuleVersion::from_escaped(&path, &version).ok()?;
    // Only the canonical spelling: a ref that does not re-encode to itself
    // is not one of ours.
    (rel_name(&module) == rel).then_some(module)
}

/// The ref file of `module` under `refs_root` (`<repo>/refs/gomodfs`): its
/// directory and file name.
pub(crate) fn ref_file(
    refs_root: &Path,
    kind: RefKind,
    module: &ModuleVersion,
) -> (PathBuf, String) {
    let mut dir = refs_root.join(kind.dir());
    for component in encode(&module.escaped_path(), true).split('/') {
        dir.push(component);
    }
    dir.push(VERSION_DIR);
    (dir, encode(&module.escaped_version(), false))
}

/// The longest file name most file systems accept.
const MAX_NAME: usize = 255;

/// Why `module` cannot have a ref file, if it cannot: an element of its
/// encoded path or version longer than file systems allow.
pub(crate) fn unstorable(module: &ModuleVersion) -> Option<String> {
    let path = encode(&module.escaped_path(), true);
    let version = encode(&module.escaped_version(), false);
    path.split('/')
        .chain(std::iter::once(version.as_str()))
        .find(|c| c.len() > MAX_NAME)
        .map(|c| {
            format!(
                "ref name element of {} bytes, more than {MAX_NAME}",
                c.len()
            )
        })
}

/// Reads a loose ref file: the object it names, or `None` if the file does
/// not exist. The file is never opened unless it is a regular file (a FIFO
/// would block the open); anything else where a ref file should be, and a
/// file that does not hold an object id, is an error of kind
/// [`io::ErrorKind::InvalidData`]: a damaged ref.
pub(crate) fn read_ref(path: &Path) -> io::Result<Option<ObjectId>> {
    let text = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => fs::read(path),
        // A directory where a ref file would be: not a ref.
        Ok(meta) if meta.is_dir() => return Ok(None),
        Ok(_) => {
            return Err(integrity::regular_file_len(path)
                .err()
                .unwrap_or_else(|| damaged(path, "is not a regular file")));
        }
        Err(e) => Err(e),
    };
    let text = match text {
        Ok(t) => t,
        // Not there, or a name no module of ours can have (too long for the
        // file system, a file where a directory would be).
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound
                    | io::ErrorKind::InvalidFilename
                    | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    if text.is_empty() {
        // What a power cut leaves of a ref written with `RefWrite::New`
        // that had not reached the disk yet: not stored.
        tracing::debug!(path = %path.display(), "an empty ref (not written back before a crash): not stored");
        return Ok(None);
    }
    let hex = text.strip_suffix(b"\n").unwrap_or(&text);
    if hex.len() != 40 {
        return Err(damaged(
            path,
            &format!(
                "holds {} bytes, not an object id (40 hex digits and a newline)",
                text.len()
            ),
        ));
    }
    ObjectId::from_hex(hex)
        .map(Some)
        .map_err(|_| damaged(path, "does not hold an object id (40 hex digits)"))
}

/// The error for a damaged ref file.
fn damaged(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("ref file {} {why}", path.display()),
    )
}

/// How a ref file is written (see "Atomicity and crash safety" in the
/// store's docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefWrite {
    /// A ref where there was none: written atomically (temp file, rename)
    /// but not fsynced; the kernel writes it back. A power cut before that
    /// leaves no ref or an empty one, which reads as "not stored" (the
    /// module is fetched again), never as a ref to missing objects: the
    /// objects were made durable before the ref was written.
    New,
    /// A ref that replaces another one: fsynced with its directory before
    /// the put returns, since the objects of the ref it replaces may be
    /// collected once it is gone (see [`layout::write_atomic`]).
    Replacing,
}

impl RefWrite {
    /// How to write a ref whose file now names `current` (`None`: no ref,
    /// or an empty or damaged one, which names nothing).
    pub(crate) fn over(current: Option<ObjectId>) -> Self {
        if current.is_some() {
            RefWrite::Replacing
        } else {
            RefWrite::New
        }
    }
}

/// Writes a loose ref file atomically, creating its directories; durably
/// for [`RefWrite::Replacing`].
pub(crate) fn write_ref(dir: &Path, name: &str, id: &ObjectId, how: RefWrite) -> io::Result<()> {
    let text = format!("{}\n", id.to_hex());
    match how {
        RefWrite::Replacing => {
            layout::create_dir_durable(dir)?;
            layout::write_atomic(dir, name, text.as_bytes())
        }
        RefWrite::New => {
            fs::create_dir_all(dir)?;
            layout::write_atomic_lazy(dir, name, text.as_bytes())
        }
    }
}

/// Every ref file of `kind`: its name relative to `refs/gomodfs/<kind>/`
/// and its path. Temp files (dot files) are skipped silently, non-UTF-8
/// names with a debug log.
pub(crate) fn walk(refs_root: &Path, kind: RefKind) -> io::Result<Vec<(String, PathBuf)>> {
    let root = refs_root.join(kind.dir());
    let mut out = Vec::new();
    let mut stack = vec![(root, String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                tracing::debug!(dir = %dir.display(), "skipping non-UTF-8 name under refs/gomodfs");
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let child = if rel.is_empty() {
                name.to_owned()
            } else {
                format!("{rel}/{name}")
            };
            if entry.file_type()?.is_dir() {
                stack.push((entry.path(), child));
            } else {
                out.push((child, entry.path()));
            }
        }
    }
    Ok(out)
}

/// All module versions with a ref of `kind`. Names that do not decode are
/// skipped with a debug log; temp files (dot files) are skipped silently;
/// a ref that cannot be read (not a regular file, not an object id) is
/// skipped with a warning naming it, so it does not hide its siblings.
pub(crate) fn list(refs_root: &Path, kind: RefKind) -> io::Result<Vec<ModuleVersion>> {
    let mut out = Vec::new();
    for (child, path) in walk(refs_root, kind)? {
        if let Some(module) = parse_rel_name(&child) {
            match read_ref(&path) {
                Ok(Some(_)) => out.push(module),
                Ok(None) => {}
                Err(e) => tracing::warn!(
                    r#ref = format!("refs/gomodfs/{}/{child}", kind.dir()),
                    %module,
                    error = %e,
                    "skipping a damaged ref"
                ),
            }
        } else {
            tracing::debug!(
                r#ref = format!("refs/gomodfs/{}/{child}", kind.dir()),
                "skipping ref that does not name a module version"
            );
        }
    }
    Ok(out)
}

/// How many refs of `kind` name a module version, without reading them
/// (for the status: a damaged ref is counted until something reads it).
pub(crate) fn count(refs_root: &Path, kind: RefKind) -> io::Result<usize> {
    Ok(walk(refs_root, kind)?
        .into_iter()
        .filter(|(child, _)| parse_rel_name(child).is_some())
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips() {
        for s in [
            "github.com/!burnt!sushi/toml",
            "example.com/a~b/c.d_e-f",
            "v1.2.3+incompatible",
            "%2e",
            "",
            "ü ß/..",
        ] {
            let e = encode(s, true);
            assert!(
                !e.contains('.') && !e.contains('~') && !e.contains('+'),
                "{e}"
            );
            assert_eq!(decode(&e, true).as_deref(), Some(s));
        }
        assert_eq!(encode("a.b/c", false), "a%2eb%2fc");
        assert_eq!(decode("a%2Eb", true), None, "upper-case hex");
        assert_eq!(decode("a%61", true), None, "kept byte encoded");
        assert_eq!(decode("a.b", true), None, "raw byte that must be encoded");
        assert_eq!(decode("a%2", true), None, "truncated escape");
        assert_eq!(decode("a/b", false), None, "slash in a version");
    }

    #[test]
    fn ref_names_parse_back() -> crate::Result<()> {
        let m = ModuleVersion::new("github.com/BurntSushi/toml", "v1.2.3")?;
        let name = ref_name(RefKind::Zip, &m);
        assert_eq!(
            name,
            "refs/gomodfs/zip/github%2ecom/%21burnt%21sushi/toml/@v/v1%2e2%2e3"
        );
        let rel = name.strip_prefix("refs/gomodfs/zip/").unwrap_or_default();
        assert_eq!(parse_rel_name(rel), Some(m));
        assert_eq!(
            parse_rel_name("github%2ecom/x/@v/v1%2e2"),
            None,
            "bad version"
        );
        assert_eq!(parse_rel_name("github%2ecom/x/v1%2e2%2e3"), None, "no @v");
        Ok(())
    }
}
