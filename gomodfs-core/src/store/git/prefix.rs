//! Listings below a module path prefix straight from the ref directories,
//! without walking every ref: [`Store::versions_of`] reads one `@v`
//! directory per ref kind, and [`Store::children`] reads the prefix's
//! directory and, per child, looks only as deep as its first valid ref.
//! So a listing outside module trees costs what that directory holds, not
//! what the store holds (see examples/store_scale.rs).
//!
//! What counts is what [`refs::list`] counts: a ref whose name decodes to a
//! module version (canonically) and whose file holds an object id. Empty
//! directories (left by gc) and damaged refs lead nowhere.
//!
//! [`Store::versions_of`]: crate::Store::versions_of
//! [`Store::children`]: crate::Store::children

use super::refs::{self, RefKind};
use crate::modpath::ModuleVersion;
use crate::store::{StoreChild, StoreEntry};
use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The directory between a module path and its versions.
const VERSION_DIR: &str = "@v";

/// The ref kinds that count: complete modules only, or all.
fn kinds(complete_only: bool) -> &'static [RefKind] {
    if complete_only {
        &[RefKind::Zip]
    } else {
        &[RefKind::Zip, RefKind::Info, RefKind::Mod]
    }
}

/// The directory of escaped path prefix `prefix` under `refs/gomodfs/<kind>`.
fn prefix_dir(refs_root: &Path, kind: RefKind, prefix: &str) -> PathBuf {
    let mut dir = refs_root.join(kind.dir());
    if !prefix.is_empty() {
        for component in refs::encode(prefix, true).split('/') {
            dir.push(component);
        }
    }
    dir
}

/// The names in `dir` (not dot files, UTF-8 only) with whether each is a
/// directory; none if `dir` does not exist or is not a directory.
fn entries(dir: &Path) -> io::Result<Vec<(String, bool)>> {
    let read = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in read {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            tracing::debug!(dir = %dir.display(), "skipping non-UTF-8 name under refs/gomodfs");
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        out.push((name, entry.file_type()?.is_dir()));
    }
    Ok(out)
}

/// The module versions with a valid ref of `kind` for escaped module path
/// `escaped_path`; at most one if `first_only`.
fn versions(
    refs_root: &Path,
    kind: RefKind,
    escaped_path: &str,
    first_only: bool,
) -> io::Result<Vec<ModuleVersion>> {
    let dir = prefix_dir(refs_root, kind, escaped_path).join(VERSION_DIR);
    let mut out = Vec::new();
    for (name, is_dir) in entries(&dir)? {
        if is_dir {
            continue;
        }
        let rel = format!("{}/{VERSION_DIR}/{name}", refs::encode(escaped_path, true));
        if let Some(module) = valid_ref(&dir.join(&name), kind, &rel) {
            out.push(module);
            if first_only {
                break;
            }
        }
    }
    Ok(out)
}

/// The module version of the ref file at `path` (named `rel` below
/// `refs/gomodfs/<kind>/`), if it is a valid ref; logged as
/// [`refs::list`] does if not.
fn valid_ref(path: &Path, kind: RefKind, rel: &str) -> Option<ModuleVersion> {
    let Some(module) = refs::parse_rel_name(rel) else {
        tracing::debug!(
            r#ref = format!("refs/gomodfs/{}/{rel}", kind.dir()),
            "skipping ref that does not name a module version"
        );
        return None;
    };
    match refs::read_ref(path) {
        Ok(Some(_)) => Some(module),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(
                r#ref = format!("refs/gomodfs/{}/{rel}", kind.dir()),
                %module,
                error = %e,
                "skipping a damaged ref"
            );
            None
        }
    }
}

/// See [`Store::versions_of`](crate::Store::versions_of).
pub(crate) fn versions_of(refs_root: &Path, escaped_path: &str) -> io::Result<Vec<StoreEntry>> {
    let complete: BTreeSet<ModuleVersion> = versions(refs_root, RefKind::Zip, escaped_path, false)?
        .into_iter()
        .collect();
    let mut partial: BTreeSet<ModuleVersion> = BTreeSet::new();
    for kind in [RefKind::Info, RefKind::Mod] {
        partial.extend(
            versions(refs_root, kind, escaped_path, false)?
                .into_iter()
                .filter(|m| !complete.contains(m)),
        );
    }
    let mut out = store_entries(complete, partial);
    out.sort();
    Ok(out)
}

/// Entries for complete module versions, then for partial ones.
pub(crate) fn store_entries(
    complete: impl IntoIterator<Item = ModuleVersion>,
    partial: impl IntoIterator<Item = ModuleVersion>,
) -> Vec<StoreEntry> {
    let entry = |complete| move |module| StoreEntry { module, complete };
    complete
        .into_iter()
        .map(entry(true))
        .chain(partial.into_iter().map(entry(false)))
        .collect()
}

/// Whether a valid ref of `kind` lies below escaped path `path` other than
/// in its own `@v` (a module with a longer path). Stops at the first.
fn has_deeper(refs_root: &Path, kind: RefKind, path: &str) -> io::Result<bool> {
    let mut stack = vec![path.to_owned()];
    while let Some(p) = stack.pop() {
        for (name, is_dir) in entries(&prefix_dir(refs_root, kind, &p))? {
            if !is_dir || name == VERSION_DIR {
                continue;
            }
            let Some(elem) = refs::decode(&name, true) else {
                continue;
            };
            let child = format!("{p}/{elem}");
            if !versions(refs_root, kind, &child, true)?.is_empty() {
                return Ok(true);
            }
            stack.push(child);
        }
    }
    Ok(false)
}

/// See [`Store::children`](crate::Store::children).
pub(crate) fn children(
    refs_root: &Path,
    prefix: &str,
    complete_only: bool,
) -> io::Result<Vec<StoreChild>> {
    // The path elements that have a directory in any kind that counts.
    let mut names: BTreeSet<String> = BTreeSet::new();
    for &kind in kinds(complete_only) {
        for (name, is_dir) in entries(&prefix_dir(refs_root, kind, prefix))? {
            if !is_dir || name == VERSION_DIR {
                continue;
            }
            match refs::decode(&name, true) {
                Some(elem) => {
                    names.insert(elem);
                }
                None => tracing::debug!(
                    name,
                    "skipping a directory under refs/gomodfs that names no path element"
                ),
            }
        }
    }
    let mut out = Vec::new();
    for name in names {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let mut versions = versions_of(refs_root, &path)?;
        if complete_only {
            versions.retain(|e| e.complete);
        }
        let mut deeper = false;
        for &kind in kinds(complete_only) {
            if has_deeper(refs_root, kind, &path)? {
                deeper = true;
                break;
            }
        }
        if deeper || !versions.is_empty() {
            out.push(StoreChild {
                name,
                versions,
                deeper,
            });
        }
    }
    Ok(out)
}
