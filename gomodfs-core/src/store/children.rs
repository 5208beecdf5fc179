//! Directory listings outside module trees, answered from a store: the
//! versions of one module path ([`Store::versions_of`]) and the next path
//! elements below a prefix ([`Store::children`]). The default answers here
//! filter [`Store::list`]; a large store answers them without listing
//! everything (see the git store).
//!
//! [`Store`]: super::Store
//! [`Store::versions_of`]: super::Store::versions_of
//! [`Store::children`]: super::Store::children
//! [`Store::list`]: super::Store::list

use super::StoreEntry;
use std::collections::BTreeMap;

/// One entry of [`Store::children`](super::Store::children): a path
/// element directly below a module path prefix that leads to stored
/// module versions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoreChild {
    /// The path element, escaped as in the module cache (`!burnt!sushi`).
    pub name: String,
    /// The stored versions of the module whose escaped path is
    /// `<prefix>/<name>`, sorted.
    pub versions: Vec<StoreEntry>,
    /// Whether module versions with longer paths lie below
    /// `<prefix>/<name>`.
    pub deeper: bool,
}

/// The entries of `entries` whose escaped module path is `escaped_path`,
/// sorted: the default [`Store::versions_of`](super::Store::versions_of).
pub fn versions_in(entries: Vec<StoreEntry>, escaped_path: &str) -> Vec<StoreEntry> {
    let mut out: Vec<StoreEntry> = entries
        .into_iter()
        .filter(|e| e.module.escaped_path() == escaped_path)
        .collect();
    out.sort();
    out
}

/// The children of escaped path prefix `prefix` ("" for the top) among
/// `entries`, sorted by name; with `complete_only`, entries that are not
/// complete are left out. The default
/// [`Store::children`](super::Store::children).
pub fn children_in(entries: Vec<StoreEntry>, prefix: &str, complete_only: bool) -> Vec<StoreChild> {
    let mut children: BTreeMap<String, StoreChild> = BTreeMap::new();
    for entry in entries {
        if complete_only && !entry.complete {
            continue;
        }
        let path = entry.module.escaped_path();
        let rest = if prefix.is_empty() {
            path.as_str()
        } else {
            match path.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) {
                Some(rest) => rest,
                None => continue,
            }
        };
        let (name, deeper) = match rest.split_once('/') {
            Some((first, _)) => (first, true),
            None => (rest, false),
        };
        let child = children
            .entry(name.to_owned())
            .or_insert_with(|| StoreChild {
                name: name.to_owned(),
                versions: Vec::new(),
                deeper: false,
            });
        if deeper {
            child.deeper = true;
        } else {
            child.versions.push(entry);
        }
    }
    children
        .into_values()
        .map(|mut c| {
            c.versions.sort();
            c
        })
        .collect()
}
