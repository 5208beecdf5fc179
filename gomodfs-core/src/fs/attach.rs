//! The one loop that turns a directory's names into entries with their
//! attributes, shared by every listing call ([`super::With::readdir_plus`]
//! and [`ModFs::readdir_page`]).

use super::node::Node;
use super::{Attr, Call, DirEntry, ModFs, NodeKind, id_of};
use crate::error::{Error, Result};

impl ModFs {
    /// The entries `names` of directory `node` with their attributes, as a
    /// lookup would give them, in the order given. A name that vanished from
    /// the store since it was listed is left out, and so is a damaged module
    /// (logged), so that it does not hide its siblings. Entries are
    /// registered (and pinned if `call.pin`) only once every attribute is
    /// known, so a failed call leaves no pins behind.
    pub(super) fn with_attrs(
        &self,
        node: &Node,
        names: impl IntoIterator<Item = (String, NodeKind)>,
        call: Call,
    ) -> Result<Vec<(DirEntry, Attr)>> {
        let mut found = Vec::new();
        for (name, kind) in names {
            let Some(child) = node.child(&name) else {
                continue;
            };
            match self.attr(&child, id_of(&child), call) {
                Ok(attr) => found.push((name, kind, child, attr)),
                // Listed from the store a moment ago; gone now only if the
                // store changed under us.
                Err(e) if e.kind() == crate::ErrorKind::NotFound => continue,
                Err(e @ Error::Damaged { .. }) => {
                    tracing::warn!(error = %e, "listing without a damaged module");
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(found
            .into_iter()
            .map(|(name, kind, child, attr)| {
                let id = self.nodes.register(&child, call.pin);
                (DirEntry { name, id, kind }, Attr { id, ..attr })
            })
            .collect())
    }
}
