//! The directory structure of one stored module, built once per module and
//! cached: every directory's sorted children and every file's entry.

use crate::modpath::ModuleVersion;
use crate::store::{StoredFile, StoredModule};
use std::collections::{BTreeMap, HashMap};
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
    dirs: HashMap<String, BTreeMap<String, TreeEntry>>,
    /// True for `golang.org/toolchain`: executables (see
    /// [`ModuleTree::executable`]) and a `go.mod` beside every `_go.mod`.
    toolchain: bool,
}

impl ModuleTree {
    pub(crate) fn new(mv: &ModuleVersion, module: StoredModule, mtime: SystemTime) -> Self {
        let mut dirs: HashMap<String, BTreeMap<String, TreeEntry>> = HashMap::new();
        dirs.insert(String::new(), BTreeMap::new());
        for (i, file) in module.files.iter().enumerate() {
            let mut parent = String::new();
            let mut rest = file.path.as_str();
            while let Some((dir, tail)) = rest.split_once('/') {
                let child = join(&parent, dir);
                let siblings = dirs.entry(parent.clone()).or_default();
                if !siblings.contains_key(dir) {
                    siblings.insert(dir.to_owned(), TreeEntry::Dir { subdirs: 0 });
                }
                dirs.entry(child.clone()).or_default();
                parent = child;
                rest = tail;
            }
            dirs.entry(parent)
                .or_default()
                .insert(rest.to_owned(), TreeEntry::File(i));
        }
        let toolchain = mv.path() == TOOLCHAIN;
        if toolchain {
            add_go_mod_beside_underscore_go_mod(&module, &mut dirs);
        }
        let counts: Vec<(String, u32)> = dirs
            .iter()
            .map(|(path, children)| {
                let n = children
                    .values()
                    .filter(|e| matches!(e, TreeEntry::Dir { .. }))
                    .count();
                (path.clone(), u32::try_from(n).unwrap_or(u32::MAX))
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
fn add_go_mod_beside_underscore_go_mod(
    module: &StoredModule,
    dirs: &mut HashMap<String, BTreeMap<String, TreeEntry>>,
) {
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
