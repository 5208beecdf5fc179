//! The node table: which [`NodeId`] names which [`Node`], with bounded memory.
//!
//! A frontend whose clients hold node ids (FUSE: the kernel keeps an inode
//! until it sends FORGET) pins them: a pinned node stays until its pins are
//! forgotten. Every other node lives in a bounded cache of recently used
//! nodes; frontends that name nodes persistently (NFS keys, WebDAV paths)
//! resolve them again when they have been evicted. So the table holds the
//! pinned nodes plus at most [`RECENT_NODES`] others, however many names
//! were ever looked up.

use super::node::Node;
use super::{NodeId, id_of};
use parking_lot::Mutex;
use std::collections::HashMap;

/// How many unpinned nodes are kept at most.
pub const RECENT_NODES: usize = 32 * 1024;

type RecentNodes = quick_cache::sync::Cache<NodeId, Node>;

/// Pinned nodes with their pin counts, plus a bounded cache of the others.
pub(crate) struct NodeTable {
    pinned: Mutex<HashMap<NodeId, (Node, u64), quick_cache::DefaultHashBuilder>>,
    recent: RecentNodes,
}

impl Default for NodeTable {
    fn default() -> Self {
        NodeTable {
            pinned: Mutex::new(HashMap::default()),
            recent: RecentNodes::new(RECENT_NODES),
        }
    }
}

impl NodeTable {
    /// The node with id `id`, if known (the root always is).
    pub(crate) fn get(&self, id: NodeId) -> Option<Node> {
        if id == NodeId::ROOT {
            return Some(Node::Root);
        }
        if let Some((node, _)) = self.pinned.lock().get(&id) {
            return Some(node.clone());
        }
        self.recent.get(&id)
    }

    /// Registers `node` and returns its id, pinning it once when `pin`.
    ///
    /// The id is [`id_of`] the node unless another node already holds that
    /// id (a 64-bit collision: astronomically unlikely), in which case the
    /// next free id is used.
    pub(crate) fn register(&self, node: &Node, pin: bool) -> NodeId {
        if *node == Node::Root {
            return NodeId::ROOT;
        }
        let mut pinned = self.pinned.lock();
        let mut id = id_of(node);
        loop {
            let existing = match pinned.get_mut(&id) {
                Some((n, pins)) if n == node => {
                    if pin {
                        *pins += 1;
                    }
                    return id;
                }
                Some((n, _)) => Some(n.clone()),
                None => self.recent.get(&id),
            };
            match existing {
                Some(other) if other != *node => {
                    tracing::error!(
                        path = node.path(),
                        other = other.path(),
                        "node id collision"
                    );
                    id = NodeId(id.0.wrapping_add(1).max(2));
                }
                _ => break,
            }
        }
        // A pinned node may also stay in the cache of recent nodes: removing
        // it there would open a window in which `get` finds it in neither.
        if pin {
            pinned.insert(id, (node.clone(), 1));
        } else {
            self.recent.insert(id, node.clone());
        }
        id
    }

    /// Adds one pin to a known node; false if `id` is unknown.
    pub(crate) fn pin(&self, id: NodeId) -> bool {
        if id == NodeId::ROOT {
            return true;
        }
        let mut pinned = self.pinned.lock();
        if let Some((_, pins)) = pinned.get_mut(&id) {
            *pins += 1;
            return true;
        }
        match self.recent.get(&id) {
            Some(node) => {
                pinned.insert(id, (node, 1));
                true
            }
            None => false,
        }
    }

    /// Removes `n` pins; a node left without pins is dropped.
    pub(crate) fn forget(&self, id: NodeId, n: u64) {
        let mut pinned = self.pinned.lock();
        let Some((_, pins)) = pinned.get_mut(&id) else {
            return;
        };
        *pins = pins.saturating_sub(n);
        // Dropped rather than moved to the cache of recent nodes: a wave of
        // FORGETs (the kernel shrinking its caches) would otherwise leave
        // thousands of survivors scattered over the memory the wave frees.
        // Frontends that name nodes persistently resolve them again.
        if *pins == 0 && pinned.remove(&id).is_some() {
            // Give the memory back once the kernel has forgotten most nodes
            // (a map never shrinks by itself).
            if pinned.capacity() > 1024 && pinned.len() * 4 < pinned.capacity() {
                let len = pinned.len();
                pinned.shrink_to(len * 2);
            }
        }
    }

    /// How many nodes are pinned, and how many others are cached.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.pinned.lock().len(), self.recent.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(i: usize) -> Node {
        Node::TreePrefix(format!("example.com/p{i}"))
    }

    #[test]
    fn unpinned_nodes_are_bounded_and_pinned_ones_stay() {
        let table = NodeTable::default();
        let kept = table.register(&prefix(0), true);
        for i in 1..=RECENT_NODES * 3 {
            table.register(&prefix(i), false);
        }
        let (pinned, recent) = table.counts();
        assert_eq!(pinned, 1);
        assert!(recent <= RECENT_NODES + RECENT_NODES / 8, "{recent}");
        assert_eq!(table.get(kept), Some(prefix(0)));
        // Two pins: the first forget keeps it pinned.
        assert!(table.pin(kept));
        table.forget(kept, 1);
        assert_eq!(table.counts().0, 1);
        table.forget(kept, 1);
        assert_eq!(table.counts().0, 0);
        assert_eq!(table.get(kept), None);
        assert_eq!(table.get(NodeId::ROOT), Some(Node::Root));
    }
}
