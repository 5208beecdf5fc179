//! [`ModuleSpec`]: one module version as a proxy serves it (`.info`, `.mod`,
//! `.zip`), built in memory.

use crate::rawzip::{self, MODE_DIR, RawEntry};
use crate::{Result, TestkitError};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Escapes a module path or version the way the module cache and the GOPROXY
/// protocol do: every upper-case ASCII letter becomes `!` + its lower case.
pub fn escape(s: &str) -> String {
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

/// Reverses [`escape`]. Returns `None` for a raw upper-case letter or a `!`
/// not followed by a lower-case ASCII letter.
pub fn unescape(s: &str) -> Option<String> {
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

/// The dirhash "h1" of a list of `(name, content)` pairs, as
/// `golang.org/x/mod/sumdb/dirhash.Hash1` computes it: names sorted bytewise,
/// `hex(sha256(content)) + "  " + name + "\n"` each, all into one sha256,
/// `"h1:" + base64`. An independent oracle for tests of the core's hash.
pub fn h1_hash<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut files: Vec<(&str, &[u8])> = files.into_iter().collect();
    files.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut summary = Sha256::new();
    for (name, content) in files {
        let digest = Sha256::digest(content);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        summary.update(format!("{hex}  {name}\n").as_bytes());
    }
    format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(summary.finalize())
    )
}

/// The h1 hash of a zip as `go` computes it when it downloads one
/// (`dirhash.HashZip`): every entry, directory entries included (as empty
/// content), by full name. Errors if the bytes are not a readable zip.
pub fn zip_h1(zip_bytes: &[u8]) -> Result<String> {
    let bad = |e: zip::result::ZipError| TestkitError::Invalid(format!("not a readable zip: {e}"));
    let mut ar = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).map_err(bad)?;
    let mut files: Vec<(String, Vec<u8>)> = Vec::with_capacity(ar.len());
    for i in 0..ar.len() {
        let mut f = ar.by_index(i).map_err(bad)?;
        let name = f.name().map_err(bad)?.into_owned();
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut content)
            .map_err(|e| TestkitError::io(format!("inflate zip entry {name}"), e))?;
        files.push((name, content));
    }
    Ok(h1_hash(
        files.iter().map(|(n, c)| (n.as_str(), c.as_slice())),
    ))
}

/// One module version: its path, version, `go.mod`, files and `.info`.
///
/// Built with [`ModuleSpec::new`] and the chaining methods:
///
/// ```
/// use gomodfs_testkit::ModuleSpec;
/// let m = ModuleSpec::new("example.com/hello", "v1.0.0")
///     .file("hello.go", "package hello\n")
///     .file("README.md", "hi\n");
/// assert_eq!(m.mod_bytes(), b"module example.com/hello\n\ngo 1.21\n");
/// assert!(m.zip_bytes().len() > 0);
/// ```
///
/// A version ending in `+incompatible` has, by default, no `go.mod` in its
/// zip and a synthesized `.mod` of `module <path>\n`, like the real proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSpec {
    path: String,
    version: String,
    go_mod: Option<String>,
    go_mod_in_zip: bool,
    files: BTreeMap<String, Vec<u8>>,
    info: Option<Vec<u8>>,
}

impl ModuleSpec {
    /// A module with the default `go.mod` (`module <path>\n\ngo 1.21\n`), no
    /// other files and the default `.info`. For a `+incompatible` version the
    /// zip holds no `go.mod` and `.mod` is `module <path>\n`.
    pub fn new(path: impl Into<String>, version: impl Into<String>) -> ModuleSpec {
        let path = path.into();
        let version = version.into();
        let incompatible = version.ends_with("+incompatible");
        ModuleSpec {
            path,
            version,
            go_mod: None,
            go_mod_in_zip: !incompatible,
            files: BTreeMap::new(),
            info: None,
        }
    }

    /// Sets the `go.mod` text (served as `.mod` and put in the zip as
    /// `<prefix>go.mod` unless a file named `go.mod` was added explicitly).
    pub fn go_mod(mut self, text: impl Into<String>) -> ModuleSpec {
        self.go_mod = Some(text.into());
        self
    }

    /// Whether the zip holds a `go.mod` (default: yes, except for
    /// `+incompatible` versions). `.mod` is served either way.
    pub fn go_mod_in_zip(mut self, yes: bool) -> ModuleSpec {
        self.go_mod_in_zip = yes;
        self
    }

    /// Adds (or replaces) a file, by its path relative to the module root.
    pub fn file(mut self, rel_path: impl Into<String>, content: impl Into<Vec<u8>>) -> ModuleSpec {
        self.files.insert(rel_path.into(), content.into());
        self
    }

    /// Sets the `.info` bytes verbatim.
    pub fn info(mut self, bytes: impl Into<Vec<u8>>) -> ModuleSpec {
        self.info = Some(bytes.into());
        self
    }

    /// The module path, unescaped.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The version, unescaped.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The escaped module path (as in URLs and cache directory names).
    pub fn escaped_path(&self) -> String {
        escape(&self.path)
    }

    /// The escaped version.
    pub fn escaped_version(&self) -> String {
        escape(&self.version)
    }

    /// The zip-entry prefix, `<path>@<version>/`.
    pub fn prefix(&self) -> String {
        format!("{}@{}/", self.path, self.version)
    }

    /// The module directory name in a module cache: `<E(path)>@<E(version)>`.
    pub fn cache_dir_name(&self) -> String {
        format!("{}@{}", self.escaped_path(), self.escaped_version())
    }

    /// The URL path (below the proxy base) of `.info`, `.mod` or `.zip`:
    /// `/<E(path)>/@v/<E(version)>.<ext>`.
    pub fn url_path(&self, ext: &str) -> String {
        format!(
            "/{}/@v/{}.{}",
            self.escaped_path(),
            self.escaped_version(),
            ext
        )
    }

    /// The files added with [`ModuleSpec::file`], by relative path.
    pub fn files(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.files
    }

    /// The `.mod` bytes the proxy serves: the `go.mod` text, or the default
    /// one, or `module <path>\n` for a module without `go.mod` in its zip.
    pub fn mod_bytes(&self) -> Vec<u8> {
        if let Some(text) = &self.go_mod {
            return text.clone().into_bytes();
        }
        if let Some(content) = self.files.get("go.mod") {
            return content.clone();
        }
        if self.go_mod_in_zip {
            format!("module {}\n\ngo 1.21\n", self.path).into_bytes()
        } else {
            format!("module {}\n", self.path).into_bytes()
        }
    }

    /// The `.info` bytes: as set, or
    /// `{"Version":"<v>","Time":"2024-01-02T03:04:05Z"}`.
    pub fn info_bytes(&self) -> Vec<u8> {
        match &self.info {
            Some(b) => b.clone(),
            None => format!(
                "{{\"Version\":\"{}\",\"Time\":\"2024-01-02T03:04:05Z\"}}",
                self.version
            )
            .into_bytes(),
        }
    }

    /// Every file of the zip as `(relative path, content)`, sorted by path,
    /// `go.mod` included when the zip holds one.
    pub fn zip_files(&self) -> Vec<(String, Vec<u8>)> {
        let mut all = self.files.clone();
        if self.go_mod_in_zip && !all.contains_key("go.mod") {
            all.insert("go.mod".to_owned(), self.mod_bytes());
        }
        all.into_iter().collect()
    }

    fn entries(&self) -> Vec<RawEntry> {
        let prefix = self.prefix();
        self.zip_files()
            .into_iter()
            .map(|(rel, content)| RawEntry::deflated(format!("{prefix}{rel}"), &content))
            .collect()
    }

    /// A valid module zip: one deflated entry `<path>@<version>/<file>` per
    /// file, sorted by name. Deterministic.
    pub fn zip_bytes(&self) -> Vec<u8> {
        rawzip::write_zip(&self.entries())
    }

    /// Like [`ModuleSpec::zip_bytes`] but with an explicit directory entry
    /// (`<prefix>dir/`, size 0) before the files of each directory, as some
    /// zip tools write (Go's own `modzip.Create` never does).
    ///
    /// The real `go` accepts such a zip, but its `.ziphash` (dirhash
    /// `HashZip`) then *includes* the directory entries (as empty files), so
    /// it differs from [`ModuleSpec::h1`] and from the hash of the extracted
    /// tree: `go mod verify` on go's own cache then reports "dir has been
    /// modified". [`zip_h1`] computes the hash `go` records.
    pub fn zip_bytes_with_dir_entries(&self) -> Vec<u8> {
        let prefix = self.prefix();
        let mut dirs = std::collections::BTreeSet::new();
        for (rel, _) in self.zip_files() {
            let mut acc = String::new();
            let parts: Vec<&str> = rel.split('/').collect();
            for part in &parts[..parts.len().saturating_sub(1)] {
                acc.push_str(part);
                acc.push('/');
                dirs.insert(acc.clone());
            }
        }
        let mut entries: Vec<RawEntry> = dirs
            .into_iter()
            .map(|d| RawEntry::stored(format!("{prefix}{d}"), b"").with_mode(Some(MODE_DIR)))
            .collect();
        entries.extend(self.entries());
        rawzip::write_zip(&entries)
    }

    /// The h1 hash of the zip (what `go.sum` records for `<path> <version>`),
    /// computed independently of gomodfs-core.
    pub fn h1(&self) -> String {
        let prefix = self.prefix();
        let files = self.zip_files();
        let named: Vec<(String, &[u8])> = files
            .iter()
            .map(|(rel, c)| (format!("{prefix}{rel}"), c.as_slice()))
            .collect();
        h1_hash(named.iter().map(|(n, c)| (n.as_str(), *c)))
    }

    /// The h1 hash of `.mod` (what `go.sum` records for
    /// `<path> <version>/go.mod`).
    pub fn go_mod_h1(&self) -> String {
        let m = self.mod_bytes();
        h1_hash([("go.mod", m.as_slice())])
    }

    /// The two `go.sum` lines of this module version.
    pub fn go_sum_lines(&self) -> String {
        format!(
            "{p} {v} {h}\n{p} {v}/go.mod {g}\n",
            p = self.path,
            v = self.version,
            h = self.h1(),
            g = self.go_mod_h1()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Read};

    #[test]
    fn escaping() {
        assert_eq!(
            escape("github.com/BurntSushi/toml"),
            "github.com/!burnt!sushi/toml"
        );
        assert_eq!(
            unescape("github.com/!burnt!sushi/toml").as_deref(),
            Some("github.com/BurntSushi/toml")
        );
        assert_eq!(unescape("A"), None);
        assert_eq!(unescape("!"), None);
        assert_eq!(unescape("!1"), None);
    }

    #[test]
    fn zip_has_prefixed_entries_and_go_mod() {
        let m = ModuleSpec::new("example.com/Foo", "v1.0.0").file("a/b.go", "package b\n");
        let mut ar = zip::ZipArchive::new(Cursor::new(m.zip_bytes())).unwrap();
        let names: Vec<String> = ar.file_names().map(|n| n.unwrap().into_owned()).collect();
        assert_eq!(
            names,
            vec![
                "example.com/Foo@v1.0.0/a/b.go",
                "example.com/Foo@v1.0.0/go.mod"
            ]
        );
        let mut s = String::new();
        ar.by_name("example.com/Foo@v1.0.0/go.mod")
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "module example.com/Foo\n\ngo 1.21\n");
        assert_eq!(m.zip_bytes(), m.zip_bytes());
        assert_eq!(m.url_path("zip"), "/example.com/!foo/@v/v1.0.0.zip");
    }

    #[test]
    fn incompatible_has_no_go_mod() {
        let m = ModuleSpec::new("example.com/legacy", "v2.1.0+incompatible")
            .file("l.go", "package legacy\n");
        assert_eq!(m.mod_bytes(), b"module example.com/legacy\n");
        let ar = zip::ZipArchive::new(Cursor::new(m.zip_bytes())).unwrap();
        assert_eq!(ar.len(), 1);
    }

    #[test]
    fn dir_entries_variant_reads() {
        let m = ModuleSpec::new("m.com/x", "v1.0.0").file("a/b/c.go", "package c\n");
        let ar = zip::ZipArchive::new(Cursor::new(m.zip_bytes_with_dir_entries())).unwrap();
        let names: Vec<String> = ar.file_names().map(|n| n.unwrap().into_owned()).collect();
        assert!(names.iter().any(|n| n == "m.com/x@v1.0.0/a/"));
        assert!(names.iter().any(|n| n == "m.com/x@v1.0.0/a/b/"));
    }

    #[test]
    fn zip_h1_matches_h1_without_dir_entries() {
        let m = ModuleSpec::new("m.com/x", "v1.0.0").file("a/b/c.go", "package c\n");
        assert_eq!(zip_h1(&m.zip_bytes()).unwrap(), m.h1());
        assert_ne!(zip_h1(&m.zip_bytes_with_dir_entries()).unwrap(), m.h1());
        assert!(zip_h1(b"nope").is_err());
    }

    #[test]
    fn h1_known_value() {
        // Empty input: sha256 of the empty string.
        assert_eq!(
            h1_hash(std::iter::empty()),
            "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }
}
