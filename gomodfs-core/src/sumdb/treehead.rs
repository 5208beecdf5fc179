//! The last tree head of a checksum database this store has seen and
//! verified, kept as the signed note in `<name>/latest` beside the
//! verified files: every later tree head must be consistent with it, so a
//! database that forks its log is caught across restarts.

use super::files::Files;
use super::note::Verifier;
use super::tlog::Tree;
use bytes::Bytes;

/// A verified tree head and its signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeHead {
    /// The tree.
    pub(crate) tree: Tree,
    /// The signed note, as the database sent it (empty for the empty tree).
    pub(crate) note: Bytes,
}

impl TreeHead {
    /// The empty tree: what a store that has seen nothing starts from.
    pub(crate) const EMPTY: TreeHead = TreeHead {
        tree: Tree::EMPTY,
        note: Bytes::new(),
    };

    /// The kept tree head of `verifier`'s database, verified again; the
    /// empty tree if none is kept. A kept note that does not verify is an
    /// error (someone edited the store, or the key changed).
    pub(crate) fn load(files: &Files, verifier: &Verifier) -> Result<TreeHead, String> {
        let Some(note) = files.get(&format!("{}/latest", verifier.name())) else {
            return Ok(TreeHead::EMPTY);
        };
        let text = verifier.open(&note)?;
        let tree = Tree::parse(text)?;
        Ok(TreeHead { tree, note })
    }

    /// Keeps this head as the latest of database `name`.
    pub(crate) fn save(&self, files: &Files, name: &str) {
        files.put(&format!("{name}/latest"), &self.note);
    }
}
