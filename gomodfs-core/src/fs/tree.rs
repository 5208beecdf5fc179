//! The directory structure of one stored module, built once per module and
//! cached: every directory's sorted children and every file's entry.
//!
//! Built on every first touch of a module in a process (a fresh mount's
//! `go list` loads about a hundred), so it allocates per directory, not
//! per file: a name is a range of a file's path (a directory's name is
//! part of the path of some file below it), and directories are found by
//! binary search over their paths, which are prefixes of file paths too.

use crate::modpath::ModuleVersion;
use crate::store::{StoredFile, StoredModule};
use std::collections::HashMap;
use std::time::SystemTime;

/// What a path inside a module tree is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TreeEntry {
    /// A directory, with this many subdirectories.
    Dir { subdirs: u32 },
    /// A file: index into [`ModuleTree::file`].
    File(usize),
}

/// A name in a directory: `files[file].path[start..end]`.
#[derive(Debug, Clone, Copy)]
struct Child {
    file: u32,
    start: u32,
    end: u32,
    kind: ChildKind,
}

#[derive(Debug, Clone, Copy)]
enum ChildKind {
    File,
    /// A toolchain's `go.mod` beside its `_go.mod`: the same file under a
    /// second name, which a real file of that name overrides.
    Copy,
    /// A directory: index into `ModuleTree::dirs`.
    Dir(u32),
}

/// A directory: its path is `files[file].path[..len]` ("" for the root).
#[derive(Debug)]
struct Dir {
    file: u32,
    len: u32,
    /// Sorted by name, each name once.
    children: Vec<Child>,
    subdirs: u32,
}

/// A stored module, arranged for lookups and listings.
#[derive(Debug)]
pub(crate) struct ModuleTree {
    pub(crate) module: StoredModule,
    /// Modification time of everything in the tree (the `.info` Time).
    pub(crate) mtime: SystemTime,
    /// Every directory; `dirs[0]` is the root.
    dirs: Vec<Dir>,
    /// Indices into `dirs`, sorted by path (for lookups).
    by_path: Vec<u32>,
    /// True for `golang.org/toolchain`: executables (see
    /// [`ModuleTree::executable`]) and a `go.mod` beside every `_go.mod`.
    toolchain: bool,
}

/// The children of one directory, sorted by name.
#[derive(Clone, Copy)]
pub(crate) struct Children<'t> {
    tree: &'t ModuleTree,
    dir: &'t Dir,
}

impl<'t> Children<'t> {
    /// Every child, by name.
    pub(crate) fn iter(self) -> impl Iterator<Item = (&'t str, TreeEntry)> + 't {
        self.from(0)
    }

    /// The children whose names sort after `name`.
    pub(crate) fn after(self, name: &str) -> impl Iterator<Item = (&'t str, TreeEntry)> + 't {
        let at = self
            .dir
            .children
            .partition_point(|c| self.tree.name(c).as_bytes() <= name.as_bytes());
        self.from(at)
    }

    fn from(self, at: usize) -> impl Iterator<Item = (&'t str, TreeEntry)> + 't {
        let tree = self.tree;
        self.dir.children[at.min(self.dir.children.len())..]
            .iter()
            .map(move |c| (tree.name(c), tree.entry_of(c)))
    }
}

impl ModuleTree {
    pub(crate) fn new(mv: &ModuleVersion, module: StoredModule, mtime: SystemTime) -> Self {
        let toolchain = mv.path() == TOOLCHAIN;
        let dirs = build_dirs(&module.files, toolchain);
        let mut tree = ModuleTree {
            module,
            mtime,
            dirs,
            by_path: Vec::new(),
            toolchain,
        };
        let mut by_path: Vec<u32> = (0..tree.dirs.len() as u32).collect();
        by_path.sort_unstable_by(|&a, &b| {
            tree.dir_path(a).as_bytes().cmp(tree.dir_path(b).as_bytes())
        });
        tree.by_path = by_path;
        tree
    }

    fn path_of(&self, file: u32) -> &str {
        self.module
            .files
            .get(file as usize)
            .map_or("", |f| f.path.as_str())
    }

    fn dir_path(&self, dir: u32) -> &str {
        self.dirs
            .get(dir as usize)
            .and_then(|d| self.path_of(d.file).get(..d.len as usize))
            .unwrap_or("")
    }

    fn name(&self, c: &Child) -> &str {
        self.path_of(c.file)
            .get(c.start as usize..c.end as usize)
            .unwrap_or("")
    }

    fn entry_of(&self, c: &Child) -> TreeEntry {
        match c.kind {
            ChildKind::File | ChildKind::Copy => TreeEntry::File(c.file as usize),
            ChildKind::Dir(d) => TreeEntry::Dir {
                subdirs: self.dirs.get(d as usize).map_or(0, |d| d.subdirs),
            },
        }
    }

    fn dir(&self, rel: &str) -> Option<&Dir> {
        let at = self
            .by_path
            .binary_search_by(|&d| self.dir_path(d).as_bytes().cmp(rel.as_bytes()))
            .ok()?;
        self.dirs.get(*self.by_path.get(at)? as usize)
    }

    /// The entry at `rel` ("" is the module root).
    pub(crate) fn entry(&self, rel: &str) -> Option<TreeEntry> {
        if rel.is_empty() {
            let subdirs = self.dirs.first().map_or(0, |d| d.subdirs);
            return Some(TreeEntry::Dir { subdirs });
        }
        let (parent, name) = split_parent(rel).unwrap_or(("", rel));
        let dir = self.dir(parent)?;
        let at = dir
            .children
            .binary_search_by(|c| self.name(c).as_bytes().cmp(name.as_bytes()))
            .ok()?;
        dir.children.get(at).map(|c| self.entry_of(c))
    }

    /// The children of directory `rel`, sorted by name.
    pub(crate) fn children(&self, rel: &str) -> Option<Children<'_>> {
        Some(Children {
            tree: self,
            dir: self.dir(rel)?,
        })
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
            .map(|f| f.path.len() + size_of::<StoredFile>() + size_of::<Child>())
            .sum();
        let dirs = self.dirs.len() * (size_of::<Dir>() + size_of::<u32>());
        (files + dirs + self.module.info.len() + self.module.go_mod.len()) as u64
    }
}

/// Every directory of `files` with its children: `[0]` is the root. Files
/// may come in any order (the git store sorts them; another store may
/// not); a name that two entries share (which the git store refuses) is
/// kept once, the first by file order.
fn build_dirs(files: &[StoredFile], toolchain: bool) -> Vec<Dir> {
    let mut dirs = vec![Dir {
        file: 0,
        len: 0,
        children: Vec::new(),
        subdirs: 0,
    }];
    // Directory path -> index, borrowing the paths; the previous file's
    // directory is reused without a lookup (the git store sorts files).
    let mut index: HashMap<&str, u32, quick_cache::DefaultHashBuilder> = HashMap::default();
    index.insert("", 0);
    let mut last: Option<(&str, u32)> = None;
    for (i, file) in files.iter().enumerate() {
        let Ok(i) = u32::try_from(i) else { break };
        let path = file.path.as_str();
        let (dir_path, name_start) = match path.rfind('/') {
            Some(at) => (&path[..at], at + 1),
            None => ("", 0),
        };
        let dir = match last {
            Some((p, d)) if p == dir_path => d,
            _ => {
                let d = add_dir(&mut dirs, &mut index, path, dir_path.len(), i);
                last = Some((dir_path, d));
                d
            }
        };
        let end = path.len() as u32;
        let mut push = |start: usize, kind| {
            if let Some(d) = dirs.get_mut(dir as usize) {
                d.children.push(Child {
                    file: i,
                    start: start as u32,
                    end,
                    kind,
                });
            }
        };
        push(name_start, ChildKind::File);
        // Go copies every `_go.mod` of a downloaded toolchain to `go.mod`
        // beside it (`raceSafeCopy` in cmd/go/internal/toolchain/select.go)
        // and skips that only when `src/go.mod` has the size of
        // `src/_go.mod`; a read-only tree must therefore already have
        // them: each `go.mod` is the same file (same bytes, same blob) as
        // its `_go.mod`, named by the tail of the same path. They are not
        // in the zip, so the `.ziphash` is unchanged.
        if toolchain && &path[name_start..] == "_go.mod" {
            push(name_start + 1, ChildKind::Copy);
        }
    }
    for dir in &mut dirs {
        let mut children = sort_children(files, std::mem::take(&mut dir.children));
        children.shrink_to_fit();
        dir.subdirs = children
            .iter()
            .filter(|c| matches!(c.kind, ChildKind::Dir(_)))
            .count() as u32;
        dir.children = children;
    }
    dirs
}

/// Adds directory `path[..len]` and its missing ancestors (each listed in
/// its parent), answering its index.
fn add_dir<'p>(
    dirs: &mut Vec<Dir>,
    index: &mut HashMap<&'p str, u32, quick_cache::DefaultHashBuilder>,
    path: &'p str,
    len: usize,
    file: u32,
) -> u32 {
    if let Some(&d) = index.get(&path[..len]) {
        return d;
    }
    let parent_len = path[..len].rfind('/').unwrap_or(0);
    let parent = add_dir(dirs, index, path, parent_len, file);
    let d = dirs.len() as u32;
    dirs.push(Dir {
        file,
        len: len as u32,
        children: Vec::new(),
        subdirs: 0,
    });
    index.insert(&path[..len], d);
    let start = if parent_len == 0 { 0 } else { parent_len + 1 };
    if let Some(p) = dirs.get_mut(parent as usize) {
        p.children.push(Child {
            file,
            start: start as u32,
            end: len as u32,
            kind: ChildKind::Dir(d),
        });
    }
    d
}

/// `children` sorted by name, each name once: the first added wins, except
/// that a file or directory wins over a toolchain's `go.mod` copy.
fn sort_children(files: &[StoredFile], mut children: Vec<Child>) -> Vec<Child> {
    let name = |c: &Child| -> &[u8] {
        files
            .get(c.file as usize)
            .and_then(|f| f.path.as_bytes().get(c.start as usize..c.end as usize))
            .unwrap_or(b"")
    };
    // Mostly sorted already; a stable sort keeps the first of equal names.
    let copy = |c: &Child| matches!(c.kind, ChildKind::Copy);
    children.sort_by(|a, b| name(a).cmp(name(b)).then(copy(a).cmp(&copy(b))));
    children.dedup_by(|later, earlier| name(later) == name(earlier));
    children
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

    /// The tree of module `path@v1.0.0` with files `paths`, in that order.
    fn tree_of(path: &str, paths: &[&str]) -> ModuleTree {
        let mv = ModuleVersion::new(path, "v1.0.0").unwrap();
        ModuleTree::new(&mv, module(paths), SystemTime::UNIX_EPOCH)
    }

    /// The names in directory `dir`, as listed.
    fn names<'t>(tree: &'t ModuleTree, dir: &str) -> Vec<&'t str> {
        tree.children(dir).unwrap().iter().map(|(n, _)| n).collect()
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
        for order in [&sorted[..], &shuffled[..]] {
            let tree = tree_of("example.com/m", order);
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
                let children = names(&tree, dir);
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
            assert_eq!(names(&tree, ""), ["LICENSE", "a", "go.mod", "q"]);
            for (i, p) in order.iter().enumerate() {
                assert_eq!(tree.entry(p), Some(TreeEntry::File(i)), "{p}");
            }
            assert_eq!(tree.entry("a/b/c/nope"), None);
        }
    }

    /// The toolchain's `go.mod` copies: beside every `_go.mod`, the same
    /// file; a real `go.mod` in the same directory keeps its own entry.
    #[test]
    fn toolchain_go_mod_copies_and_a_real_go_mod_wins() {
        let paths = [
            "go.mod",
            "src/_go.mod",
            "src/cmd/_go.mod",
            "src/cmd/go.mod",
            "src/x.go",
        ];
        let tree = tree_of(TOOLCHAIN, &paths);
        assert_eq!(tree.entry("src/go.mod"), Some(TreeEntry::File(1)), "a copy");
        assert_eq!(tree.entry("src/_go.mod"), Some(TreeEntry::File(1)));
        assert_eq!(
            tree.entry("src/cmd/go.mod"),
            Some(TreeEntry::File(3)),
            "the real one"
        );
        assert_eq!(names(&tree, "src"), ["_go.mod", "cmd", "go.mod", "x.go"]);
        assert_eq!(names(&tree, "src/cmd"), ["_go.mod", "go.mod"], "one go.mod");
        // Any other module has no copies.
        let other = tree_of("example.com/m", &paths);
        assert_eq!(other.entry("src/go.mod"), None);
    }

    /// Listings resume after a name (paged READDIR), also after a name
    /// that is gone, and names sort bytewise where paths do not (a
    /// directory `b` sorts before the file `b-x.go`, whose path sorts
    /// before `b/`'s).
    #[test]
    fn listings_sort_by_name_and_resume_after_any_name() {
        let tree = tree_of("example.com/m", &["a.go", "b-x.go", "b/c.go", "d.go"]);
        let root = tree.children("").unwrap();
        let names = |it: &mut dyn Iterator<Item = (&str, TreeEntry)>| -> Vec<String> {
            it.map(|(n, _)| n.to_owned()).collect()
        };
        assert_eq!(names(&mut root.iter()), ["a.go", "b", "b-x.go", "d.go"]);
        assert_eq!(names(&mut root.after("b")), ["b-x.go", "d.go"]);
        assert_eq!(
            names(&mut root.after("c")),
            ["d.go"],
            "after a name not there"
        );
        assert_eq!(names(&mut root.after("")), ["a.go", "b", "b-x.go", "d.go"]);
        assert_eq!(names(&mut root.after("z")), Vec::<String>::new());
        assert_eq!(tree.entry("b"), Some(TreeEntry::Dir { subdirs: 0 }));
        assert!(tree.children("b-x.go").is_none(), "a file has no children");
        assert!(tree.children("nope").is_none());
    }

    /// A name two entries share (the git store refuses that) is listed
    /// once: the first one wins.
    #[test]
    fn a_name_two_entries_share_is_listed_once() {
        let tree = tree_of("example.com/m", &["a", "a/b.go", "x.go", "x.go"]);
        let root: Vec<(&str, TreeEntry)> = tree.children("").unwrap().iter().collect();
        assert_eq!(
            root,
            [("a", TreeEntry::File(0)), ("x.go", TreeEntry::File(2))]
        );
    }
}
