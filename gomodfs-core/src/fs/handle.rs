//! Persistent node keys: short byte strings that name a node and resolve to
//! the same node in any process over the same store, with no state kept.
//!
//! A frontend whose clients hold on to node references across server
//! restarts (NFS file handles) stores a key instead of a [`NodeId`]. Keys are
//! at most [`NODE_KEY_MAX`] bytes, start with a format byte, and come in three
//! forms:
//!
//! - `1` + the node's canonical path (UTF-8), when it fits. Resolving walks
//!   the namespace from the root, exactly like [`ModFs::resolve`].
//! - `2` + the 8-byte id of a module version's tree root + the 8-byte id of
//!   the node, for nodes of one module version (its tree, its `.info`,
//!   `.mod` and `.ziphash`) whose path is too long. The module version is
//!   found among those the store holds; the node among that version's files.
//! - `3` + the 8-byte id of the node, for long path prefixes outside module
//!   trees. They resolve when some stored module lies below them.
//!
//! Ids are [`hash_path`] of canonical paths, so every form resolves without
//! the process that issued it. A key that names nothing the store can
//! account for is [`Error::Stale`].

use super::node::{DownloadFile, Node};
use super::tree::{TreeEntry, join};
use super::{Attr, Call, ModFs, NodeId, hash_node, hash_path, id_of};
use crate::error::{Error, Result};
use crate::modpath::ModuleVersion;
use crate::store::MetaFile;

/// The longest key [`ModFs::node_key`] returns, in bytes (what an NFSv3
/// handle leaves to the filesystem).
pub const NODE_KEY_MAX: usize = 56;

const FORM_PATH: u8 = 1;
const FORM_MODULE: u8 = 2;
const FORM_PREFIX: u8 = 3;

impl ModFs {
    /// A persistent key for a known node: at most [`NODE_KEY_MAX`] bytes
    /// that [`ModFs::resolve_key`] turns back into the same node, also in
    /// another process or after a restart over the same store.
    pub fn node_key(&self, id: NodeId) -> Result<Vec<u8>> {
        let node = self.node(id)?;
        let path = node.path();
        let mut key = Vec::with_capacity(NODE_KEY_MAX);
        if path.len() < NODE_KEY_MAX {
            key.push(FORM_PATH);
            key.extend_from_slice(path.as_bytes());
            return Ok(key);
        }
        match &node {
            Node::Module(mv, _) | Node::DownloadFile(mv, _) => {
                key.push(FORM_MODULE);
                key.extend_from_slice(&module_root_hash(mv).to_le_bytes());
            }
            _ => key.push(FORM_PREFIX),
        }
        key.extend_from_slice(&hash_path(&path).to_le_bytes());
        Ok(key)
    }

    /// The node a key from [`ModFs::node_key`] names. Known nodes resolve
    /// with one map lookup; others (after a restart) from the namespace and
    /// the store, without any network access for stored modules. A key that
    /// names nothing (malformed, or a module version no longer stored) is
    /// [`Error::Stale`].
    pub fn resolve_key(&self, key: &[u8]) -> Result<NodeId> {
        self.resolve_key_in(key, Call::default())
    }

    /// [`ModFs::resolve_key`] in mode `call` (see [`super::With::resolve_key`]).
    pub(super) fn resolve_key_in(&self, key: &[u8], call: Call) -> Result<NodeId> {
        Ok(self.resolve_key_checked(key, call)?.0)
    }

    /// [`ModFs::resolve_key_in`], with the node's attributes where finding
    /// it took them (a known module node's existence check, a walk's last
    /// lookup): a caller that needs them too does not take them again.
    pub(super) fn resolve_key_checked(
        &self,
        key: &[u8],
        call: Call,
    ) -> Result<(NodeId, Option<Attr>)> {
        let stale = || Error::Stale(format!("node key {}", hex(key)));
        let (&form, rest) = key.split_first().ok_or_else(stale)?;
        match form {
            FORM_PATH => {
                let path = std::str::from_utf8(rest).map_err(|_| stale())?;
                // Only canonical paths are keys: no empty, `.` or `..`
                // element (`cache//download`, a trailing `/`).
                if !path.is_empty() && path.split('/').any(|n| matches!(n, "" | "." | "..")) {
                    return Err(stale());
                }
                let h = hash_path(path);
                let known = self.nodes.get(NodeId(h));
                let result = match known {
                    Some(node) if node.has_path(path) => match &node {
                        // A module file may have been registered by a lookup
                        // that then failed: check that it exists.
                        Node::Module(..) => self
                            .attr(&node, NodeId(h), call)
                            .map(|attr| (NodeId(h), Some(attr))),
                        _ => Ok((NodeId(h), None)),
                    },
                    _ => self.resolve_path(path, call),
                };
                match result {
                    Err(e) if e.kind() == crate::ErrorKind::NotFound => {
                        Err(Error::Stale(format!("{path}: {e}")))
                    }
                    other => other,
                }
            }
            FORM_MODULE => {
                let (module, node) = split_u64s(rest).ok_or_else(stale)?;
                if self.known(node, |n| hash_node(n) == node) {
                    return Ok((NodeId(node), None));
                }
                let id = self.resolve_module_key(module, node, call)?;
                id.map(|id| (id, None)).ok_or_else(stale)
            }
            FORM_PREFIX => {
                let node = rest
                    .try_into()
                    .map(u64::from_le_bytes)
                    .map_err(|_| stale())?;
                if self.known(node, |n| hash_node(n) == node) {
                    return Ok((NodeId(node), None));
                }
                let id = self.resolve_prefix_key(node)?;
                id.map(|id| (id, None)).ok_or_else(stale)
            }
            _ => Err(stale()),
        }
    }

    /// The node at a canonical path, walked from the root by lookups (which
    /// register only nodes that exist), with the last lookup's attributes.
    fn resolve_path(&self, path: &str, call: Call) -> Result<(NodeId, Option<Attr>)> {
        let mut found = (NodeId::ROOT, None);
        for name in path.split('/').filter(|n| !n.is_empty()) {
            let attr = self.lookup_node(&self.node(found.0)?, name, call)?;
            found = (attr.id, Some(attr));
        }
        Ok(found)
    }

    /// Whether id `h` is registered for a node that satisfies `check`.
    fn known(&self, h: u64, check: impl Fn(&Node) -> bool) -> bool {
        self.nodes.get(NodeId(h)).is_some_and(|n| check(&n))
    }

    /// Finds the stored module version whose root hashes to `module`, then
    /// its node hashing to `node`. The download files are tried first, so a
    /// version stored with only `.info`/`.mod` is never fetched whole.
    fn resolve_module_key(&self, module: u64, node: u64, call: Call) -> Result<Option<NodeId>> {
        let Some(entry) = self
            .store
            .list()?
            .into_iter()
            .find(|e| module_root_hash(&e.module) == module)
        else {
            return Ok(None);
        };
        let mv = entry.module;
        for file in [
            DownloadFile::Meta(MetaFile::Info),
            DownloadFile::Meta(MetaFile::Mod),
            DownloadFile::Ziphash,
        ] {
            let n = Node::DownloadFile(mv.clone(), file);
            if hash_node(&n) == node {
                return Ok(Some(self.register(&n)));
            }
        }
        if !entry.complete {
            return Ok(None);
        }
        // Register every node of the module at once: a client that held
        // handles before the restart usually holds many of the same module.
        let tree = self.tree(&mv, call)?;
        let mut found = None;
        let mut dirs = vec![String::new()];
        while let Some(dir) = dirs.pop() {
            let Some(children) = tree.children(&dir) else {
                continue;
            };
            for (name, child) in children.iter() {
                let rel = join(&dir, name);
                if matches!(child, TreeEntry::Dir { .. }) {
                    dirs.push(rel.clone());
                }
                let n = Node::Module(mv.clone(), rel);
                let id = self.register(&n);
                if hash_node(&n) == node {
                    found = Some(id);
                }
            }
        }
        let root = Node::Module(mv, String::new());
        let id = self.register(&root);
        if id_of(&root).0 == node {
            found = Some(id);
        }
        Ok(found)
    }

    /// Finds the path prefix (outside module trees, or in `cache/download`)
    /// hashing to `node` among the prefixes of the stored module paths.
    fn resolve_prefix_key(&self, node: u64) -> Result<Option<NodeId>> {
        for entry in self.store.list()? {
            let path = entry.module.escaped_path();
            let mut candidates = vec![Node::Versions(path.clone())];
            let mut end = 0;
            while end < path.len() {
                end = path[end + 1..]
                    .find('/')
                    .map_or(path.len(), |i| end + 1 + i);
                let prefix = &path[..end];
                candidates.push(Node::DownloadPrefix(prefix.to_owned()));
                if end < path.len() {
                    candidates.push(Node::TreePrefix(prefix.to_owned()));
                }
            }
            if let Some(n) = candidates.into_iter().find(|n| hash_node(n) == node) {
                return Ok(Some(self.register(&n)));
            }
        }
        Ok(None)
    }
}

/// The id of a module version's tree root, which names the version in keys.
fn module_root_hash(mv: &ModuleVersion) -> u64 {
    hash_node(&Node::Module(mv.clone(), String::new()))
}

fn split_u64s(bytes: &[u8]) -> Option<(u64, u64)> {
    let a: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    let b: [u8; 8] = bytes.get(8..)?.try_into().ok()?;
    Some((u64::from_le_bytes(a), u64::from_le_bytes(b)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
