//! Directory listings in pages, for protocols whose clients list a large
//! directory in many requests (NFS READDIR/READDIRPLUS).
//!
//! A page resumes after an entry named by its id (an NFS cookie is the id
//! of the last entry the client saw), so a position survives restarts and
//! entries added to a growing directory. Inside module trees a page costs
//! O(log n + page size), never a pass over the whole directory.

use super::node::Node;
use super::tree::{TreeEntry, join};
use super::{Attr, Call, DirEntry, ModFs, NodeId, NodeKind, hash_path};
use crate::error::{Error, Result};

/// One page of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirPage {
    /// The entries with their attributes, as [`ModFs::lookup`] would give
    /// them, in name order.
    pub entries: Vec<(DirEntry, Attr)>,
    /// True when the listing ends with this page.
    pub eof: bool,
}

impl ModFs {
    /// Up to `max` entries of directory `id` with their attributes, in name
    /// order, starting after the entry whose id is `after` (`None`: from the
    /// start). Every entry becomes a known node. An `after` that names no
    /// entry of the directory is [`Error::InvalidArgument`].
    pub fn readdir_page(&self, id: NodeId, after: Option<NodeId>, max: usize) -> Result<DirPage> {
        self.with(Call::default()).readdir_page(id, after, max)
    }

    pub(super) fn page(
        &self,
        node: &Node,
        after: Option<NodeId>,
        max: usize,
        call: Call,
    ) -> Result<DirPage> {
        let parent_path = node.path();
        // The name of the `after` entry: from the node map when it is known
        // (always, unless the server restarted mid-listing), else by hashing
        // the directory's names.
        let known_after = after.map(|a| {
            self.nodes.get(a).and_then(|n| {
                let path = n.path();
                let name = if parent_path.is_empty() {
                    Some(path.as_str())
                } else {
                    path.strip_prefix(parent_path.as_str())
                        .and_then(|r| r.strip_prefix('/'))
                };
                name.filter(|n| !n.contains('/')).map(str::to_owned)
            })
        });
        let cookie_error = |a: NodeId| {
            Error::InvalidArgument(format!(
                "directory cookie {} names no entry of {parent_path:?}",
                a.0
            ))
        };
        let mut names: Vec<(String, NodeKind)> = Vec::new();
        let mut eof = true;
        if let Node::Module(mv, rel) = node {
            let tree = self.tree(mv, call)?;
            if !matches!(tree.entry(rel), Some(TreeEntry::Dir { .. })) {
                return Err(Error::NotADirectory(parent_path));
            }
            let children = tree
                .children(rel)
                .ok_or_else(|| Error::NotADirectory(parent_path.clone()))?;
            let start = match (after, known_after) {
                (None, _) => None,
                (Some(_), Some(Some(name))) => Some(name),
                (Some(a), _) => Some(
                    children
                        .iter()
                        .map(|(n, _)| n)
                        .find(|n| hash_path(&join(&parent_path, n)) == a.0)
                        .map(str::to_owned)
                        .ok_or_else(|| cookie_error(a))?,
                ),
            };
            let iter: Box<dyn Iterator<Item = (&str, TreeEntry)>> = match &start {
                None => Box::new(children.iter()),
                Some(s) => Box::new(children.after(s)),
            };
            for (name, entry) in iter {
                if names.len() == max {
                    eof = false;
                    break;
                }
                let kind = match entry {
                    TreeEntry::Dir { .. } => NodeKind::Directory,
                    TreeEntry::File(_) => NodeKind::File,
                };
                names.push((name.to_owned(), kind));
            }
        } else {
            // Outside module trees a listing comes from the store's list of
            // modules anyway; these directories are small.
            let all = self.list(node, call)?;
            let start = match (after, known_after) {
                (None, _) => 0,
                (Some(_), Some(Some(name))) => {
                    all.partition_point(|e| e.name.as_str() <= name.as_str())
                }
                (Some(a), _) => {
                    all.iter()
                        .position(|e| e.id == a)
                        .ok_or_else(|| cookie_error(a))?
                        + 1
                }
            };
            let rest = all.get(start..).unwrap_or_default();
            eof = rest.len() <= max;
            names = rest
                .iter()
                .take(max)
                .map(|e| (e.name.clone(), e.kind))
                .collect();
        }
        let entries = self.with_attrs(node, names, call)?;
        Ok(DirPage { entries, eof })
    }
}
