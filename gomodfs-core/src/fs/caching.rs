//! Caching policy: how long a frontend may keep what the core told it about
//! a node. This is the one place the policy lives; frontends translate a
//! [`Caching`] into their protocol's hints (FUSE TTLs, negative entries,
//! KEEP_CACHE and DIRECT_IO; HTTP ETag and Cache-Control) and decide
//! nothing themselves.
//!
//! | node | attributes | contents | absent names | snapshot |
//! | --- | --- | --- | --- | --- |
//! | module trees, `cache/download/…/@v/*.{info,mod,ziphash}`, sumdb lookups and tiles | forever | forever | forever | no |
//! | directories outside module trees | forever | never (listings grow) | [`ABSENT_TTL`] | no |
//! | `.gomodfs-status` | never | never | — | per open |

use super::node::Node;
use crate::sumdb::SumDbName;
use std::time::Duration;

/// How long a name absent from a directory outside module trees stays
/// absent: a module version may appear upstream (whose own negative cache
/// is about as long).
pub const ABSENT_TTL: Duration = Duration::from_secs(10);

/// How long an answer of the core holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lifetime {
    /// It never changes: keep it as long as the protocol allows.
    Forever,
    /// It may change: keep it at most this long, then ask again.
    For(Duration),
    /// It may change between two calls: ask again every time.
    Never,
}

impl Lifetime {
    /// As a duration, with `forever` standing for [`Lifetime::Forever`]
    /// (the frontend's longest cache time).
    pub fn or_forever(self, forever: Duration) -> Duration {
        match self {
            Lifetime::Forever => forever,
            Lifetime::For(d) => d,
            Lifetime::Never => Duration::ZERO,
        }
    }
}

/// How frontends may cache what they learn about one node: part of every
/// [`Attr`](super::Attr), and of what opening a file returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Caching {
    /// The node's attributes (kind, size, permissions, mtime): entry and
    /// attribute TTLs.
    pub attr: Lifetime,
    /// The node's contents: a file's bytes (page cache, HTTP validators and
    /// Cache-Control) or a directory's listing.
    pub contents: Lifetime,
    /// That a name is absent from this directory (negative entries). Files
    /// have no names in them: [`Lifetime::Never`].
    pub absent: Lifetime,
    /// Each open needs its own snapshot of the bytes, served to that open
    /// only (no page cache, direct I/O), so that reads are never torn.
    pub snapshot: bool,
}

impl Caching {
    /// Module trees and the download files: nothing ever changes.
    pub const IMMUTABLE: Caching = Caching {
        attr: Lifetime::Forever,
        contents: Lifetime::Forever,
        absent: Lifetime::Forever,
        snapshot: false,
    };

    /// Directories outside module trees: fixed attributes, but listings
    /// grow as the store does and an absent name may appear upstream.
    pub const GROWING: Caching = Caching {
        attr: Lifetime::Forever,
        contents: Lifetime::Never,
        absent: Lifetime::For(ABSENT_TTL),
        snapshot: false,
    };

    /// The status file: new bytes, and a new size, on every open.
    pub const LIVE: Caching = Caching {
        attr: Lifetime::Never,
        contents: Lifetime::Never,
        absent: Lifetime::Never,
        snapshot: true,
    };

    /// The policy of a node, from its meaning alone (no I/O).
    pub(crate) fn of(node: &Node) -> Caching {
        match node {
            Node::Module(..) | Node::DownloadFile(..) => Caching::IMMUTABLE,
            // Lookups and tiles never change (a partial tile has its width
            // in its name).
            Node::SumDb(name) if name.db().is_some() && !matches!(name, SumDbName::Dir(_)) => {
                Caching::IMMUTABLE
            }
            Node::Status => Caching::LIVE,
            Node::Root
            | Node::Cache
            | Node::Download
            | Node::DownloadPrefix(_)
            | Node::Versions(_)
            | Node::SumDb(_)
            | Node::TreePrefix(_) => Caching::GROWING,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modpath::ModuleVersion;
    use crate::store::MetaFile;

    /// The policy, per kind of node: this table is what every frontend's
    /// caching hints come from.
    #[test]
    fn policy_per_node_kind() {
        let Ok(mv) = ModuleVersion::new("example.com/m", "v1.0.0") else {
            panic!("a valid module version");
        };
        let module_dir = Node::Module(mv.clone(), String::new());
        let module_file = Node::Module(mv.clone(), "a.go".into());
        let download_file = Node::DownloadFile(
            mv.clone(),
            super::super::node::DownloadFile::Meta(MetaFile::Mod),
        );
        let lookup = Node::SumDb(SumDbName::Lookup("sum.golang.org".into(), mv));
        let tile = Node::SumDb(SumDbName::Tile(
            "sum.golang.org".into(),
            "tile/8/0/000.p/3".into(),
        ));
        for node in [&module_dir, &module_file, &download_file, &lookup, &tile] {
            let c = Caching::of(node);
            assert_eq!(c.attr, Lifetime::Forever, "{node:?}");
            assert_eq!(c.contents, Lifetime::Forever, "{node:?}");
            assert_eq!(c.absent, Lifetime::Forever, "{node:?}");
            assert!(!c.snapshot, "{node:?}");
        }
        let growing = [
            Node::Root,
            Node::Cache,
            Node::Download,
            Node::DownloadPrefix("example.com".into()),
            Node::Versions("example.com/m".into()),
            Node::TreePrefix("example.com".into()),
            Node::SumDb(SumDbName::Dir(String::new())),
            Node::SumDb(SumDbName::Dir("sum.golang.org/lookup".into())),
        ];
        for node in &growing {
            let c = Caching::of(node);
            // Attributes of these directories are fixed...
            assert_eq!(c.attr, Lifetime::Forever, "{node:?}");
            // ...their listings grow with the store...
            assert_eq!(c.contents, Lifetime::Never, "{node:?}");
            // ...and a missing module version may appear upstream.
            assert_eq!(c.absent, Lifetime::For(Duration::from_secs(10)), "{node:?}");
            assert!(!c.snapshot, "{node:?}");
        }
        let status = Caching::of(&Node::Status);
        assert_eq!(status.attr, Lifetime::Never);
        assert_eq!(status.contents, Lifetime::Never);
        assert!(status.snapshot, "one snapshot per open");
    }

    #[test]
    fn lifetimes_as_durations() {
        let year = Duration::from_secs(365 * 24 * 3600);
        assert_eq!(Lifetime::Forever.or_forever(year), year);
        assert_eq!(Lifetime::For(ABSENT_TTL).or_forever(year), ABSENT_TTL);
        assert_eq!(Lifetime::Never.or_forever(year), Duration::ZERO);
    }
}
