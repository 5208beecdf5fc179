//! What a path below `cache/download/sumdb/` names: a directory, a lookup
//! (`<name>/lookup/<E(path)>@<E(version)>`) or a tile
//! (`<name>/tile/8/<L>/[xNNN/…]NNN[.p/W]`). Pure: no I/O. The database
//! name is one path element (`sum.golang.org`); names with a `/` are not
//! served.

use super::tlog::Tile;
use crate::modpath::{self, ModuleVersion};

/// A path below `cache/download/sumdb/`, by meaning.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum SumDbName {
    /// A directory on the way to lookups or tiles ("" is `sumdb` itself).
    Dir(String),
    /// `<db>/lookup/<E(path)>@<E(version)>`.
    Lookup(String, ModuleVersion),
    /// `<db>/tile/…`: the database and the tile path (`tile/…`).
    Tile(String, String),
}

impl SumDbName {
    /// Classifies `rel` (the path after `cache/download/sumdb/`, "" for
    /// that directory); `None` when nothing can exist there.
    pub(crate) fn classify(rel: &str) -> Option<SumDbName> {
        if rel.is_empty() {
            return Some(SumDbName::Dir(String::new()));
        }
        let mut parts = rel.splitn(3, '/');
        let db = parts.next()?;
        if !valid_db(db) {
            return None;
        }
        let Some(kind) = parts.next() else {
            return Some(SumDbName::Dir(rel.to_owned()));
        };
        let rest = parts.next();
        match (kind, rest) {
            ("lookup" | "tile", None) => Some(SumDbName::Dir(rel.to_owned())),
            ("lookup", Some(rest)) => {
                let (prefix, last) = rest.rsplit_once('/').unwrap_or(("", rest));
                if let Some((elem, version)) = last.split_once('@') {
                    let path = if prefix.is_empty() {
                        elem.to_owned()
                    } else {
                        format!("{prefix}/{elem}")
                    };
                    let mv = ModuleVersion::from_escaped(&path, version).ok()?;
                    return Some(SumDbName::Lookup(db.to_owned(), mv));
                }
                modpath::unescape_path_prefix(rest).ok()?;
                Some(SumDbName::Dir(rel.to_owned()))
            }
            ("tile", Some(rest)) => tile_name(db, rest, rel),
            _ => None,
        }
    }

    /// The path after `cache/download/sumdb/` ("" for that directory).
    pub(crate) fn rel(&self) -> String {
        match self {
            SumDbName::Dir(rel) => rel.clone(),
            SumDbName::Lookup(db, mv) => {
                format!("{db}/lookup/{}@{}", mv.escaped_path(), mv.escaped_version())
            }
            SumDbName::Tile(db, tile) => format!("{db}/{tile}"),
        }
    }

    /// The database the path is under (`None` for `sumdb` itself).
    pub(crate) fn db(&self) -> Option<&str> {
        match self {
            SumDbName::Dir(rel) => rel.split('/').next().filter(|d| !d.is_empty()),
            SumDbName::Lookup(db, _) | SumDbName::Tile(db, _) => Some(db),
        }
    }
}

/// A path below `<db>/tile/`: `H`, `H/L`, `H/L/xNNN…` and `H/L/NNN.p`
/// are directories; `H/L/…NNN` and `H/L/…NNN.p/W` are tiles.
fn tile_name(db: &str, rest: &str, rel: &str) -> Option<SumDbName> {
    let elems: Vec<&str> = rest.split('/').collect();
    let number = |s: &str| s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit());
    let small = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !small(elems[0]) || elems.get(1).is_some_and(|l| !small(l)) {
        return None;
    }
    if elems.len() <= 2 {
        return Some(SumDbName::Dir(rel.to_owned()));
    }
    let tile_path = format!("tile/{rest}");
    if Tile::parse(&tile_path).is_some() {
        return Some(SumDbName::Tile(db.to_owned(), tile_path));
    }
    // A directory on the way: xNNN elements, then optionally NNN.p.
    let (last, middle) = elems[2..].split_last()?;
    let dir_ok = middle
        .iter()
        .all(|e| e.strip_prefix('x').is_some_and(number))
        && (last.strip_prefix('x').is_some_and(number)
            || last.strip_suffix(".p").is_some_and(number));
    dir_ok.then(|| SumDbName::Dir(rel.to_owned()))
}

/// A database name as one path element: a host name, maybe with a port.
fn valid_db(db: &str) -> bool {
    !db.is_empty()
        && db != "."
        && db != ".."
        && db
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_lookups_tiles_and_their_directories() {
        let dir = |s: &str| Some(SumDbName::Dir(s.to_owned()));
        assert_eq!(SumDbName::classify(""), dir(""));
        assert_eq!(SumDbName::classify("sum.golang.org"), dir("sum.golang.org"));
        assert_eq!(
            SumDbName::classify("sum.golang.org/lookup/github.com/!burnt!sushi"),
            dir("sum.golang.org/lookup/github.com/!burnt!sushi")
        );
        assert!(matches!(
            SumDbName::classify("sum.golang.org/lookup/github.com/!burnt!sushi/toml@v1.3.2"),
            Some(SumDbName::Lookup(_, mv)) if mv.path() == "github.com/BurntSushi/toml"
        ));
        assert!(matches!(
            SumDbName::classify("sum.golang.org/tile/8/0/x123/456.p/7"),
            Some(SumDbName::Tile(_, t)) if t == "tile/8/0/x123/456.p/7"
        ));
        assert!(matches!(
            SumDbName::classify("sum.golang.org/tile/8/3/000"),
            Some(SumDbName::Tile(..))
        ));
        for d in [
            "sum.golang.org/tile/8",
            "sum.golang.org/tile/8/0",
            "sum.golang.org/tile/8/0/x123",
            "sum.golang.org/tile/8/0/x123/456.p",
        ] {
            assert_eq!(SumDbName::classify(d), dir(d), "{d}");
        }
        for bad in [
            "..",
            "sum.golang.org/latest",
            "sum.golang.org/tile/8/0/1",
            "sum.golang.org/tile/8/data/000",
            "sum.golang.org/tile/8/0/000.p/999",
            "sum.golang.org/lookup/github.com/x@v1",
            "sum.golang.org/lookup/Upper/x@v1.0.0",
        ] {
            assert_eq!(SumDbName::classify(bad), None, "{bad}");
        }
    }
}
