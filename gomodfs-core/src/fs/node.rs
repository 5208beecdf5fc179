//! What each name in the namespace means (docs/SEMANTICS.md sections 1 and 2): the one
//! place where path meaning lives (GOPROXY URLs, which share the grammar of
//! `@v/`, are `proxy_path.rs`). Classification here is pure: it never
//! touches the store or the network.

use crate::error::{Error, Result};
use crate::modpath::{self, Escaped, ModuleVersion};
use crate::store::MetaFile;
use crate::sumdb::SumDbName;
use std::fmt;

/// The name of the live status file at the root.
pub const STATUS_FILE: &str = ".gomodfs-status";

/// A file in `cache/download/<module>/@v/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DownloadFile {
    Meta(MetaFile),
    Ziphash,
}

impl DownloadFile {
    fn extension(self) -> &'static str {
        match self {
            DownloadFile::Meta(m) => m.extension(),
            DownloadFile::Ziphash => "ziphash",
        }
    }
}

/// A node of the namespace, identified by its meaning.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Node {
    Root,
    Status,
    /// `cache`
    Cache,
    /// `cache/download`
    Download,
    /// `cache/download/<escaped path prefix>`
    DownloadPrefix(String),
    /// `cache/download/sumdb/…`: go's checksum-database cache (lookups,
    /// tiles and the directories on the way).
    SumDb(SumDbName),
    /// `cache/download/<escaped module path>/@v`
    Versions(String),
    /// `cache/download/<escaped module path>/@v/<escaped version>.<ext>`
    DownloadFile(ModuleVersion, DownloadFile),
    /// `<escaped path prefix>` outside `cache/`
    TreePrefix(String),
    /// `<escaped module path>@<escaped version>/<rel>`; `rel` is "" at the
    /// module root. Whether it exists, and is a file or a directory, is up to
    /// the module's tree.
    Module(ModuleVersion, String),
}

impl Node {
    /// The canonical path of the node relative to the root, as the
    /// filesystem spells it (escaped). Node ids are derived from it.
    pub(crate) fn path(&self) -> String {
        let mut path = String::with_capacity(64);
        // Writing to a String cannot fail.
        let _ = self.write_path(&mut path);
        path
    }

    /// Whether [`Node::path`] is `path`, compared piece by piece without
    /// building it (a known handle's check on every NFS call).
    pub(crate) fn has_path(&self, path: &str) -> bool {
        let mut rest = PathMatcher(path);
        self.write_path(&mut rest).is_ok() && rest.0.is_empty()
    }

    /// Writes [`Node::path`] to `out` in pieces: the one spelling of the
    /// canonical path, shared by building, comparing and hashing it.
    pub(crate) fn write_path(&self, out: &mut impl fmt::Write) -> fmt::Result {
        match self {
            Node::Root => Ok(()),
            Node::Status => out.write_str(STATUS_FILE),
            Node::Cache => out.write_str("cache"),
            Node::Download => out.write_str("cache/download"),
            Node::DownloadPrefix(p) => write!(out, "cache/download/{p}"),
            Node::SumDb(name) => match name.rel() {
                rel if rel.is_empty() => out.write_str("cache/download/sumdb"),
                rel => write!(out, "cache/download/sumdb/{rel}"),
            },
            Node::Versions(m) => write!(out, "cache/download/{m}/@v"),
            Node::DownloadFile(mv, f) => write!(
                out,
                "cache/download/{}/@v/{}.{}",
                Escaped(mv.path()),
                Escaped(mv.version()),
                f.extension()
            ),
            Node::TreePrefix(p) => out.write_str(p),
            Node::Module(mv, rel) => {
                write!(out, "{}@{}", Escaped(mv.path()), Escaped(mv.version()))?;
                if rel.is_empty() {
                    Ok(())
                } else {
                    write!(out, "/{rel}")
                }
            }
        }
    }

    /// Whether the node is a directory; `None` for module nodes, which only
    /// the module's tree can tell.
    pub(crate) fn is_dir(&self) -> Option<bool> {
        match self {
            Node::Status | Node::DownloadFile(..) => Some(false),
            Node::SumDb(name) => Some(matches!(name, SumDbName::Dir(_))),
            Node::Module(..) => None,
            _ => Some(true),
        }
    }

    /// The child `name` of this node, if the namespace allows it. `None`
    /// means ENOENT without any I/O. Module trees are the exception: their
    /// children are returned unchecked and the tree decides.
    pub(crate) fn child(&self, name: &str) -> Option<Node> {
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return None;
        }
        match self {
            Node::Root => match name {
                STATUS_FILE => Some(Node::Status),
                "cache" => Some(Node::Cache),
                _ => tree_child("", name),
            },
            Node::Cache => (name == "download").then_some(Node::Download),
            Node::Download if name == "sumdb" => Some(Node::SumDb(SumDbName::Dir(String::new()))),
            Node::Download => valid_prefix(name).then(|| Node::DownloadPrefix(name.to_owned())),
            Node::SumDb(SumDbName::Dir(rel)) => {
                SumDbName::classify(&super::tree::join(rel, name)).map(Node::SumDb)
            }
            Node::SumDb(_) => None,
            Node::DownloadPrefix(prefix) => {
                if name == "@v" {
                    modpath::unescape_path(prefix)
                        .ok()
                        .map(|_| Node::Versions(prefix.clone()))
                } else {
                    let full = format!("{prefix}/{name}");
                    valid_prefix(&full).then_some(Node::DownloadPrefix(full))
                }
            }
            Node::Versions(module) => download_file(module, name),
            Node::TreePrefix(prefix) => tree_child(prefix, name),
            Node::Module(mv, rel) => Some(Node::Module(mv.clone(), super::tree::join(rel, name))),
            Node::Status | Node::DownloadFile(..) => None,
        }
    }
}

/// A child of the root or of a path prefix outside `cache/`: either
/// `<elem>@<version>` (a module root) or another prefix element.
fn tree_child(prefix: &str, name: &str) -> Option<Node> {
    let full = |elem: &str| {
        if prefix.is_empty() {
            elem.to_owned()
        } else {
            format!("{prefix}/{elem}")
        }
    };
    if let Some((elem, version)) = name.split_once('@') {
        let mv = ModuleVersion::from_escaped(&full(elem), version).ok()?;
        return Some(Node::Module(mv, String::new()));
    }
    let full = full(name);
    valid_prefix(&full).then_some(Node::TreePrefix(full))
}

/// Whether `escaped` can be the leading elements of an escaped module path.
fn valid_prefix(escaped: &str) -> bool {
    modpath::unescape_path_prefix(escaped).is_ok()
}

/// `<escaped version>.info|.mod|.ziphash` in `@v/`; everything else there
/// (`.zip`, `.partial`, `.lock`, temp files, `list`) does not exist.
fn download_file(module: &str, name: &str) -> Option<Node> {
    const FILES: [(&str, DownloadFile); 3] = [
        ("info", DownloadFile::Meta(MetaFile::Info)),
        ("mod", DownloadFile::Meta(MetaFile::Mod)),
        ("ziphash", DownloadFile::Ziphash),
    ];
    let (mv, file) = version_file(module, name, &FILES).ok()?;
    Some(Node::DownloadFile(mv, file))
}

/// Splits `name` into `<escaped version>.<extension>` for one of the
/// extensions (no dot) of `files`, and checks the version with the escaped
/// module path `module`: the grammar of an `@v/` directory, shared by the
/// download cache and the GOPROXY protocol. An unknown extension is
/// [`Error::NotFound`]; a bad path or version is the error of
/// [`ModuleVersion::from_escaped`].
pub(super) fn version_file<T: Copy>(
    module: &str,
    name: &str,
    files: &[(&str, T)],
) -> Result<(ModuleVersion, T)> {
    let (version, file) = name
        .rsplit_once('.')
        .and_then(|(version, ext)| {
            let (_, file) = files.iter().find(|(e, _)| *e == ext)?;
            Some((version, *file))
        })
        .ok_or_else(|| Error::NotFound(format!("not a module version file: {name:?}")))?;
    Ok((ModuleVersion::from_escaped(module, version)?, file))
}

/// A [`fmt::Write`] that consumes a path while what is written matches
/// its start, and fails at the first difference.
struct PathMatcher<'a>(&'a str);

impl fmt::Write for PathMatcher<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        match self.0.strip_prefix(s) {
            Some(rest) => {
                self.0 = rest;
                Ok(())
            }
            None => Err(fmt::Error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(path: &str) -> Option<Node> {
        let mut node = Node::Root;
        for name in path.split('/').filter(|s| !s.is_empty()) {
            node = node.child(name)?;
        }
        Some(node)
    }

    #[test]
    fn classifies_the_namespace() {
        assert_eq!(walk(".gomodfs-status"), Some(Node::Status));
        assert!(
            matches!(walk("github.com/foo"), Some(Node::TreePrefix(p)) if p == "github.com/foo")
        );
        assert!(matches!(
            walk("github.com/!burnt!sushi/toml@v1.3.2/lex.go"),
            Some(Node::Module(mv, rel)) if mv.path() == "github.com/BurntSushi/toml" && rel == "lex.go"
        ));
        assert!(matches!(
            walk("cache/download/golang.org/x/text/@v/v0.14.0.ziphash"),
            Some(Node::DownloadFile(_, DownloadFile::Ziphash))
        ));
        assert!(matches!(
            walk("cache/download/golang.org/x/text/@v"),
            Some(Node::Versions(_))
        ));
        let absent = [
            ".DS_Store",
            "._x",
            ".Spotlight-V100",
            "cache/vcs",
            "cache/download/sumdb/sum.golang.org/latest",
            "cache/download/sumdb/sum.golang.org/lookup/x@v1.0.0.lock",
            "cache/download/golang.org/x/text/@v/v0.14.0.zip",
            "cache/download/golang.org/x/text/@v/v0.14.0.partial",
            "cache/download/golang.org/x/text/@v/v0.14.0.lock",
            "cache/download/golang.org/x/text/@v/v0.14.0.info123.tmp",
            "cache/download/golang.org/x/text/@v/list",
            "cache/download/github.com/foo/v1/@v",
            "github.com/BurntSushi",
            "github.com/x@latest",
            "github.com/x@v1.2",
            "noDot",
            "github.com/.hidden",
        ];
        for p in absent {
            assert_eq!(walk(p), None, "{p} should not exist");
        }
    }

    #[test]
    fn paths_round_trip() {
        for p in [
            "",
            ".gomodfs-status",
            "cache/download/github.com/!burnt!sushi/toml/@v/v1.3.2.mod",
            "github.com/!burnt!sushi/toml@v1.3.2/a/b c.go",
            "example.com/x@v2.0.0+incompatible",
            "cache/download/sumdb",
            "cache/download/sumdb/sum.golang.org/lookup/golang.org/toolchain@v0.0.1-go1.27.3.linux-amd64",
            "cache/download/sumdb/sum.golang.org/tile/8/0/x001/234.p/5",
        ] {
            let node = walk(p);
            assert_eq!(node.map(|n| n.path()), Some(p.to_owned()), "{p}");
        }
    }

    #[test]
    fn a_path_is_compared_and_hashed_as_built() {
        for p in [
            "",
            ".gomodfs-status",
            "cache",
            "cache/download/github.com/!burnt!sushi",
            "cache/download/github.com/!burnt!sushi/toml/@v",
            "cache/download/github.com/!burnt!sushi/toml/@v/v1.3.2.mod",
            "github.com/!burnt!sushi",
            "github.com/!burnt!sushi/toml@v1.3.2-!r!c1",
            "github.com/!burnt!sushi/toml@v1.3.2-!r!c1/A/b c.go",
            "cache/download/sumdb/sum.golang.org/tile/8/0/x001/234.p/5",
        ] {
            let Some(node) = walk(p) else {
                panic!("{p} names no node");
            };
            assert!(node.has_path(p), "{p}");
            assert_eq!(crate::fs::hash_node(&node), crate::fs::hash_path(p), "{p}");
            for other in [format!("{p}/"), format!("{p}x"), format!("x{p}")] {
                assert!(!node.has_path(&other), "{p} is not {other}");
            }
            if let Some(shorter) = p.get(..p.len().saturating_sub(1)).filter(|_| !p.is_empty()) {
                assert!(!node.has_path(shorter), "{p} is not {shorter}");
            }
        }
    }
}
