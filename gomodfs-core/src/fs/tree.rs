//! The directory structure of one stored module, built once per module and
//! cached: every directory's sorted children and every file's entry.

use crate::modpath::ModuleVersion;
use crate::store::{StoredFile, StoredModule};
use std::collections::{BTreeMap, HashMap};

/// Directory path → children, with a fast hasher (paths come from the
/// store, which validated them; nothing here is keyed by a client).
type Dirs = HashMap<String, BTreeMap<String, TreeEntry>, quick_cache::DefaultHashBuilder>;
use std::time::SystemTime;

/// What a path inside a module tree is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TreeEntry {
    /// A directory, with this many subdirectories.
    Dir { subdirs: u32 },
    /// A file: index into [`ModuleTree::files`].
    File(usize),
}

/// A stored module, arranged for lookups and listings.
#[derive(Debug)]
pub(crate) struct ModuleTree {
    pub(crate) module: StoredModule,
    /// Modification time of everything in the tree (the `.info` Time).
    pub(crate) mtime: SystemTime,
    /// Directory path ("" is the root) → children (name → entry).
    dirs: Dirs,
    /// True for `golang.org/toolchain`: executables (see
    /// [`ModuleTree::executable`]) and a `go.mod` beside every `_go.mod`.
    toolchain: bool,
}

impl ModuleTree {
    pub(crate) fn new(mv: &ModuleVersion, module: StoredModule, mtime: SystemTime) -> Self {
        let mut dirs = Dirs::default();
        dirs.insert(String::new(), BTreeMap::new());
        // Files come sorted by path from the store, so a file's directory
        // is mostly the previous one's: made (with its ancestors) once.
        let mut last_dir = None;
        for (i, file) in module.files.iter().enumerate() {
            let (dir, name) = split_parent(&file.path).unwrap_or(("", &file.path));
            if last_dir != Some(dir) {
                add_dir(&mut dirs, dir);
                last_dir = Some(dir);
            }
            if let Some(children) = dirs.get_mut(dir) {
                children.insert(name.to_owned(), TreeEntry::File(i));
            }
        }
        let toolchain = mv.path() == TOOLCHAIN;
        if toolchain {
            add_go_mod_beside_underscore_go_mod(&module, &mut dirs);
        }
        // Only directories with subdirectories change their entry.
        let counts: Vec<(String, u32)> = dirs
            .iter()
            .filter_map(|(path, children)| {
                let n = children
                    .values()
                    .filter(|e| matches!(e, TreeEntry::Dir { .. }))
                    .count();
                (n > 0 && !path.is_empty())
                    .then(|| (path.clone(), u32::try_from(n).unwrap_or(u32::MAX)))
            })
            .collect();
        for (path, n) in counts {
            if let Some((parent, name)) = split_parent(&path)
                && let Some(TreeEntry::Dir { subdirs }) =
                    dirs.get_mut(parent).and_then(|c| c.get_mut(name))
            {
                *subdirs = n;
            }
        }
        ModuleTree {
            module,
            mtime,
            dirs,
            toolchain,
        }
    }

    /// The entry at `rel` ("" is the module root).
    pub(crate) fn entry(&self, rel: &str) -> Option<TreeEntry> {
        if rel.is_empty() {
            let subdirs = self.subdirs("");
            return Some(TreeEntry::Dir { subdirs });
        }
        let (parent, name) = split_parent(rel).unwrap_or(("", rel));
        self.dirs.get(parent)?.get(name).copied()
    }

    fn subdirs(&self, dir: &str) -> u32 {
        self.dirs.get(dir).map_or(0, |c| {
            let n = c
                .values()
                .filter(|e| matches!(e, TreeEntry::Dir { .. }))
                .count();
            u32::try_from(n).unwrap_or(u32::MAX)
        })
    }

    /// The children of directory `rel`, sorted by name.
    pub(crate) fn children(&self, rel: &str) -> Option<&BTreeMap<String, TreeEntry>> {
        self.dirs.get(rel)
    }

    /// The file at index `i`.
    pub(crate) fn file(&self, i: usize) -> Option<&StoredFile> {
        self.module.files.get(i)
    }

    /// Whether the file at `rel` is executable: only in the toolchain
    /// module, the files go makes executable after a download
    /// (cmd/go/internal/toolchain/select.go): everything under `bin/` and
    /// `pkg/tool/`, and files under `lib/` named `go_?*_?*_exec`.
    pub(crate) fn executable(&self, rel: &str) -> bool {
        if !self.toolchain {
            return false;
        }
        if rel.starts_with("bin/") || rel.starts_with("pkg/tool/") {
            return true;
        }
        let name = rel.rsplit('/').next().unwrap_or(rel);
        rel.starts_with("lib/") && is_exec_wrapper(name)
    }

    /// Approximate bytes of memory this tree holds, for cache weights.
    pub(crate) fn weight(&self) -> u64 {
        let files: usize = self
            .module
            .files
            .iter()
            .map(|f| f.path.len() * 3 + 96)
            .sum();
        (files + self.module.info.len() + self.module.go_mod.len() + self.dirs.len() * 64) as u64
    }
}

/// The module path of Go toolchains.
const TOOLCHAIN: &str = "golang.org/toolchain";

/// Whether `name` matches `go_?*_?*_exec` (`path.Match`: each `?*` is one
/// or more characters, none of them `/`), like `go_js_wasm_exec`.
fn is_exec_wrapper(name: &str) -> bool {
    let Some(middle) = name
        .strip_prefix("go_")
        .and_then(|n| n.strip_suffix("_exec"))
    else {
        return false;
    };
    // `?*_?*`: some `_` with at least one character on each side.
    middle
        .char_indices()
        .any(|(i, c)| c == '_' && i > 0 && i + 1 < middle.len())
}

/// Go copies every `_go.mod` of a downloaded toolchain to `go.mod` beside
/// it (`raceSafeCopy` in cmd/go/internal/toolchain/select.go) and skips
/// that only when `src/go.mod` has the size of `src/_go.mod`; a read-only
/// tree must therefore already have them: each `go.mod` is the same file
/// (same bytes, same blob) as its `_go.mod`. They are not in the zip, so
/// the `.ziphash` is unchanged.
fn add_go_mod_beside_underscore_go_mod(module: &StoredModule, dirs: &mut Dirs) {
    for (i, file) in module.files.iter().enumerate() {
        let (parent, name) = split_parent(&file.path).unwrap_or(("", &file.path));
        if name != "_go.mod" {
            continue;
        }
        if let Some(children) = dirs.get_mut(parent) {
            children
                .entry("go.mod".to_owned())
                .or_insert(TreeEntry::File(i));
        }
    }
}

/// Adds directory `dir` and its missing ancestors, each listed in its
/// parent as a directory (unless a file there has its name: the store
/// refuses such clashes, the first entry wins).
fn add_dir(dirs: &mut Dirs, dir: &str) {
    let mut missing = Vec::new();
    let mut at = dir;
    while !dirs.contains_key(at) {
        missing.push(at);
        at = split_parent(at).map_or("", |(parent, _)| parent);
    }
    for path in missing.into_iter().rev() {
        let (parent, name) = split_parent(path).unwrap_or(("", path));
        if let Some(siblings) = dirs.get_mut(parent)
            && !siblings.contains_key(name)
        {
            siblings.insert(name.to_owned(), TreeEntry::Dir { subdirs: 0 });
        }
        dirs.insert(path.to_owned(), BTreeMap::new());
    }
}

/// `parent/name`, or `name` at the root.
pub(crate) fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

fn split_parent(path: &str) -> Option<(&str, &str)> {
    if path.is_empty() {
        return None;
    }
    Some(path.rsplit_once('/').unwrap_or(("", path)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::BlobId;
    use bytes::Bytes;
    use std::collections::BTreeSet;

    fn module(paths: &[&str]) -> StoredModule {
        StoredModule {
            info: Bytes::new(),
            go_mod: Bytes::new(),
            ziphash: String::new(),
            files: paths
                .iter()
                .map(|p| StoredFile {
                    path: (*p).to_owned(),
                    size: p.len() as u64,
                    blob: BlobId::from_slice(&[1; 20]).unwrap(),
                })
                .collect(),
        }
    }

    /// Every directory with its children and subdirectory counts, in any
    /// file order (the store sorts them; another store may not): the
    /// same as a plain walk over every path's ancestors would give.
    #[test]
    fn directories_children_and_subdirectory_counts_in_any_file_order() {
        let sorted = [
            "LICENSE",
            "a/b/c/deep.go",
            "a/b/x.go",
            "a/y.go",
            "a/z/w.go",
            "go.mod",
            "q/r.go",
        ];
        let mut shuffled = sorted.to_vec();
        shuffled.reverse();
        shuffled.swap(1, 4);
        let mv = ModuleVersion::new("example.com/m", "v1.0.0").unwrap();
        for order in [&sorted[..], &shuffled[..]] {
            let tree = ModuleTree::new(&mv, module(order), SystemTime::UNIX_EPOCH);
            // The reference: each path's ancestors are directories.
            let mut dirs: BTreeSet<&str> = BTreeSet::new();
            for p in order {
                let mut at = *p;
                while let Some((parent, _)) = at.rsplit_once('/') {
                    dirs.insert(parent);
                    at = parent;
                }
            }
            for dir in &dirs {
                let children: Vec<&str> = tree
                    .children(dir)
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect();
                let prefix = format!("{dir}/");
                let mut expected: Vec<&str> = order
                    .iter()
                    .filter_map(|p| p.strip_prefix(&prefix))
                    .map(|rest| rest.split('/').next().unwrap())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                expected.sort_unstable();
                assert_eq!(children, expected, "children of {dir}");
                let subdirs = dirs
                    .iter()
                    .filter(|d| d.strip_prefix(&prefix).is_some_and(|r| !r.contains('/')))
                    .count() as u32;
                assert_eq!(tree.entry(dir), Some(TreeEntry::Dir { subdirs }), "{dir}");
            }
            assert_eq!(tree.entry(""), Some(TreeEntry::Dir { subdirs: 2 }));
            let root: Vec<&str> = tree
                .children("")
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(root, ["LICENSE", "a", "go.mod", "q"]);
            for (i, p) in order.iter().enumerate() {
                assert_eq!(tree.entry(p), Some(TreeEntry::File(i)), "{p}");
            }
            assert_eq!(tree.entry("a/b/c/nope"), None);
        }
    }
}
