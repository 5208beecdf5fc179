//! Transparency-log math, as `golang.org/x/mod/sumdb/tlog`: record and
//! node hashes, stored-hash indexes, tiles and their paths, tree hashes, and
//! the check that downloaded tiles agree with a signed tree head
//! ([`TilePlan`], the `TileHashReader` of x/mod).
//!
//! Everything here is pure: no I/O. The client fetches the tiles a
//! [`TilePlan`] names and hands them back for checking.

use sha2::{Digest, Sha256};

/// A SHA-256 hash in the log.
pub type Hash = [u8; 32];

/// Bytes per hash.
pub const HASH_SIZE: usize = 32;

/// The hash of the empty tree: SHA-256 of nothing.
pub const EMPTY_TREE: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// A tree head: `n` records with root hash `hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tree {
    /// Number of records.
    pub n: i64,
    /// Root hash.
    pub hash: Hash,
}

impl Tree {
    /// The empty tree.
    pub const EMPTY: Tree = Tree {
        n: 0,
        hash: EMPTY_TREE,
    };

    /// The signed text of a tree head: `go.sum database tree\nN\nHASH\n`.
    pub fn format(&self) -> String {
        format!("go.sum database tree\n{}\n{}\n", self.n, b64(&self.hash))
    }

    /// Parses the text of a tree note (extra lines after the hash are
    /// allowed, as x/mod allows them).
    pub fn parse(text: &str) -> Result<Tree, String> {
        let bad = || "malformed tree note".to_owned();
        let rest = text
            .strip_prefix("go.sum database tree\n")
            .ok_or_else(bad)?;
        if text.matches('\n').count() < 3 || text.len() > 1_000_000 {
            return Err(bad());
        }
        let mut lines = rest.splitn(3, '\n');
        let n_text = lines.next().ok_or_else(bad)?;
        let hash_text = lines.next().ok_or_else(bad)?;
        let n: i64 = n_text.parse().map_err(|_| bad())?;
        if n < 0 || n.to_string() != n_text {
            return Err(bad());
        }
        let hash = parse_hash(hash_text).ok_or_else(bad)?;
        Ok(Tree { n, hash })
    }
}

/// Standard base64 with padding, as Go's `base64.StdEncoding`.
pub(crate) fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// A hash from standard base64.
pub fn parse_hash(text: &str) -> Option<Hash> {
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    data.try_into().ok()
}

/// The hash of a record's data (leaf): SHA-256 of 0x00 and the data.
pub fn record_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node: SHA-256 of 0x01, left and right.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The index, in the sequence of stored hashes, of the hash of level
/// `level` number `n`.
pub fn stored_hash_index(level: u32, n: i64) -> i64 {
    let mut n = n;
    for _ in 0..level {
        n = 2 * n + 1;
    }
    let mut i = 0i64;
    while n > 0 {
        i += n;
        n >>= 1;
    }
    i + i64::from(level)
}

/// The inverse of [`stored_hash_index`]: `(level, n)`.
pub fn split_stored_hash_index(index: i64) -> (u32, i64) {
    let mut n = index / 2;
    let mut index_n = stored_hash_index(0, n);
    loop {
        let x = index_n + 1 + i64::from((n + 1).trailing_zeros());
        if x > index {
            break;
        }
        n += 1;
        index_n = x;
    }
    let level = (index - index_n) as u32;
    (level, n >> level)
}

/// The number of stored hashes of a tree of `n` records.
pub fn stored_hash_count(n: i64) -> i64 {
    if n == 0 {
        return 0;
    }
    let mut count = stored_hash_index(0, n - 1) + 1;
    let mut i = (n - 1) as u64;
    while i & 1 != 0 {
        count += 1;
        i >>= 1;
    }
    count
}

/// The hashes to append to the stored hashes when record `n` (with record
/// hash `h`) is added; `read` gives an already stored hash by index.
pub fn stored_hashes_for_record_hash(n: i64, h: Hash, read: impl Fn(i64) -> Hash) -> Vec<Hash> {
    let mut hashes = vec![h];
    let m = (n + 1).trailing_zeros();
    let mut h = h;
    for i in 0..m {
        let old = read(stored_hash_index(i, (n >> i) - 1));
        h = node_hash(&old, &h);
        hashes.push(h);
    }
    hashes
}

/// The largest power of two `k` with `k < n` (n ≥ 2), and its log.
fn maxpow2(n: i64) -> (i64, u32) {
    let mut l = 0u32;
    while 1i64 << (l + 1) < n {
        l += 1;
    }
    (1 << l, l)
}

/// The stored-hash indexes whose hashes make up the tree of records
/// `lo..hi`, largest subtree first.
pub fn sub_tree_index(mut lo: i64, hi: i64) -> Vec<i64> {
    let mut need = Vec::new();
    while lo < hi {
        let (k, level) = maxpow2(hi - lo + 1);
        need.push(stored_hash_index(level, lo >> level));
        lo += k;
    }
    need
}

/// The root hash of a tree from the hashes named by [`sub_tree_index`]
/// (`0`, `n`), in that order.
pub fn tree_hash_from(n: i64, hashes: &[Hash]) -> Hash {
    if n == 0 || hashes.is_empty() {
        return EMPTY_TREE;
    }
    let mut h = hashes[hashes.len() - 1];
    for left in hashes[..hashes.len() - 1].iter().rev() {
        h = node_hash(left, &h);
    }
    h
}

/// A tile of the log: height `h`, level `l` (in tiles), number `n`, width
/// `w` hashes (`w == 1 << h` for a full tile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    /// Height: each tile holds up to `2^h` hashes.
    pub h: u32,
    /// Level in the tiling.
    pub l: u32,
    /// Number within the level.
    pub n: i64,
    /// Width: how many hashes.
    pub w: u32,
}

impl Tile {
    /// The tile holding stored hash `index`, as wide as needed to hold it.
    pub fn for_index(h: u32, index: i64) -> Tile {
        tile_for_index(h, index).0
    }

    /// The tile's path: `tile/H/L/[xNNN/...]NNN[.p/W]`.
    pub fn path(&self) -> String {
        let mut n = self.n;
        let mut text = format!("{:03}", n % 1000);
        while n >= 1000 {
            n /= 1000;
            text = format!("x{:03}/{text}", n % 1000);
        }
        let partial = if self.w != 1 << self.h {
            format!(".p/{}", self.w)
        } else {
            String::new()
        };
        format!("tile/{}/{}/{text}{partial}", self.h, self.l)
    }

    /// Parses a path made by [`Tile::path`]; only that exact spelling is
    /// accepted. Data tiles (`tile/H/data/…`) are not served and not
    /// accepted.
    pub fn parse(path: &str) -> Option<Tile> {
        let f: Vec<&str> = path.split('/').collect();
        if f.len() < 4 || f[0] != "tile" {
            return None;
        }
        let h: u32 = f[1].parse().ok()?;
        let l: u32 = f[2].parse().ok()?;
        if !(1..=30).contains(&h) || l >= 64 {
            return None;
        }
        let mut w = 1u32 << h;
        let mut elems = f[3..].to_vec();
        let last_two = elems.len() >= 2 && elems[elems.len() - 2].ends_with(".p");
        if last_two {
            let ww: u32 = elems.last()?.parse().ok()?;
            if ww == 0 || ww >= w {
                return None;
            }
            w = ww;
            elems.pop();
            let p = elems.pop()?;
            elems.push(p.strip_suffix(".p")?);
        }
        let mut n: i64 = 0;
        for s in elems {
            let nn: i64 = s.strip_prefix('x').unwrap_or(s).parse().ok()?;
            if !(0..1000).contains(&nn) {
                return None;
            }
            n = n.checked_mul(1000)?.checked_add(nn)?;
        }
        let tile = Tile { h, l, n, w };
        (tile.path() == path).then_some(tile)
    }

    /// The full tile at the same place.
    pub fn full(&self) -> Tile {
        Tile {
            w: 1 << self.h,
            ..*self
        }
    }

    /// The stored-hash indexes this tile holds, in order.
    pub fn indexes(&self) -> Vec<i64> {
        let start = self.n << self.h;
        (0..i64::from(self.w))
            .map(|i| stored_hash_index(self.h * self.l, start + i))
            .collect()
    }

    /// The same tile with parent `k` levels up, cut to the tree of `n`
    /// records; `None` if the tree has nothing there.
    fn parent(&self, k: u32, n: i64) -> Option<Tile> {
        let mut t = *self;
        t.l += k;
        t.n >>= k * t.h;
        t.w = 1 << t.h;
        let max = n >> (t.l * t.h);
        if (t.n << t.h) + i64::from(t.w) >= max {
            if t.n << t.h >= max {
                return None;
            }
            t.w = (max - (t.n << t.h)) as u32;
        }
        Some(t)
    }
}

/// The tile holding `index`, and the byte range of its hash in the tile.
fn tile_for_index(h: u32, index: i64) -> (Tile, usize, usize) {
    let (level, n) = split_stored_hash_index(index);
    let tl = level / h;
    let level = level - tl * h;
    let tn = (n << level) >> h;
    let n = n - ((tn << h) >> level);
    let w = ((n + 1) << level) as u32;
    let start = (n << level) as usize * HASH_SIZE;
    let end = ((n + 1) << level) as usize * HASH_SIZE;
    (Tile { h, l: tl, n: tn, w }, start, end)
}

/// The hash at stored index `index` computed from the data of `tile`.
fn hash_from_tile(tile: &Tile, data: &[u8], index: i64) -> Result<Hash, String> {
    if data.len() < tile.w as usize * HASH_SIZE {
        return Err(format!("tile {} is too short", tile.path()));
    }
    let (t1, start, end) = tile_for_index(tile.h, index);
    if tile.l != t1.l || tile.n != t1.n || tile.w < t1.w {
        return Err(format!(
            "index {index} is in {} not {}",
            t1.path(),
            tile.path()
        ));
    }
    Ok(tile_hash(&data[start..end]))
}

/// The hash of a run of hashes in a tile (a power of two of them).
fn tile_hash(data: &[u8]) -> Hash {
    if data.len() <= HASH_SIZE {
        let mut h = [0u8; HASH_SIZE];
        h[..data.len()].copy_from_slice(data);
        return h;
    }
    let half = data.len() / 2;
    node_hash(&tile_hash(&data[..half]), &tile_hash(&data[half..]))
}

/// Which tiles to fetch to read some stored hashes of a tree, and the
/// check that the fetched tiles agree with the tree's hash (x/mod's
/// `TileHashReader.ReadHashes`, split so the fetching can be async).
#[derive(Debug, Clone)]
pub struct TilePlan {
    tree: Tree,
    tiles: Vec<Tile>,
    /// The indexes of the tree's subtree hashes and the tile of each.
    stx: Vec<(i64, usize)>,
    /// The indexes asked for and the tile of each.
    wanted: Vec<(i64, usize)>,
}

impl TilePlan {
    /// Plans reading the stored hashes `indexes` of `tree` with tiles of
    /// height `h`.
    pub fn new(tree: Tree, h: u32, indexes: &[i64]) -> Result<TilePlan, String> {
        let mut tiles: Vec<Tile> = Vec::new();
        let position = |tiles: &mut Vec<Tile>, t: Tile| match tiles.iter().position(|x| *x == t) {
            Some(i) => i,
            None => {
                tiles.push(t);
                tiles.len() - 1
            }
        };
        let mut stx = Vec::new();
        for x in sub_tree_index(0, tree.n) {
            let tile = Tile::for_index(h, x)
                .parent(0, tree.n)
                .ok_or("bad math in tile plan: subtree tile outside the tree")?;
            stx.push((x, position(&mut tiles, tile)));
        }
        let mut wanted = Vec::new();
        for &x in indexes {
            if x >= stored_hash_index(0, tree.n) {
                return Err("indexes not in tree".into());
            }
            let tile = Tile::for_index(h, x);
            // Walk up until a tile already planned, then add the chain down.
            let mut k = 0;
            loop {
                let p = tile.parent(k, tree.n).ok_or("bad math in tile plan")?;
                if tiles.contains(&p) {
                    break;
                }
                k += 1;
            }
            let mut index_tile = tiles
                .iter()
                .position(|t| Some(*t) == tile.parent(0, tree.n));
            for k in (0..k).rev() {
                let p = tile.parent(k, tree.n).ok_or("bad math in tile plan")?;
                if p.w != 1 << p.h {
                    return Err(format!("bad math in tile plan: {} is partial", p.path()));
                }
                tiles.push(p);
                if k == 0 {
                    index_tile = Some(tiles.len() - 1);
                }
            }
            let j = index_tile.ok_or("bad math in tile plan: lost the index's tile")?;
            wanted.push((x, j));
        }
        Ok(TilePlan {
            tree,
            tiles,
            stx,
            wanted,
        })
    }

    /// The tiles to fetch, in order.
    pub fn tiles(&self) -> &[Tile] {
        &self.tiles
    }

    /// Checks the fetched tiles (`data[i]` for `tiles()[i]`) against the
    /// tree and returns the hashes asked for. An error means a tile does not
    /// agree with the signed tree head.
    pub fn check(&self, data: &[impl AsRef<[u8]>]) -> Result<Vec<Hash>, String> {
        if data.len() != self.tiles.len() {
            return Err("wrong number of tiles".into());
        }
        for (tile, d) in self.tiles.iter().zip(data) {
            if d.as_ref().len() != tile.w as usize * HASH_SIZE {
                return Err(format!(
                    "tile {} has {} bytes, want {}",
                    tile.path(),
                    d.as_ref().len(),
                    tile.w as usize * HASH_SIZE
                ));
            }
        }
        // The subtree tiles must give the tree's hash.
        let mut th: Option<Hash> = None;
        for &(x, j) in self.stx.iter().rev() {
            let h = hash_from_tile(&self.tiles[j], data[j].as_ref(), x)?;
            th = Some(match th {
                None => h,
                Some(right) => node_hash(&h, &right),
            });
        }
        let th = th.unwrap_or(EMPTY_TREE);
        if th != self.tree.hash {
            return Err("downloaded inconsistent tile".into());
        }
        // Every other tile must hash to its entry in its parent.
        let first_other = self.stx.last().map_or(0, |&(_, j)| j + 1);
        for i in first_other..self.tiles.len() {
            let tile = self.tiles[i];
            let parent = tile
                .parent(1, self.tree.n)
                .ok_or("bad math in tile check: no parent")?;
            let j = self
                .tiles
                .iter()
                .position(|t| *t == parent)
                .ok_or("bad math in tile check: lost parent")?;
            let h = hash_from_tile(
                &parent,
                data[j].as_ref(),
                stored_hash_index(parent.l * parent.h, tile.n),
            )?;
            if h != tile_hash(data[i].as_ref()) {
                return Err("downloaded inconsistent tile".into());
            }
        }
        self.wanted
            .iter()
            .map(|&(x, j)| hash_from_tile(&self.tiles[j], data[j].as_ref(), x))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A log of `n` records kept as stored hashes, as a server keeps it.
    fn log(n: i64) -> Vec<Hash> {
        let mut stored: Vec<Hash> = Vec::new();
        for i in 0..n {
            let h = record_hash(format!("record {i}\n").as_bytes());
            let add = stored_hashes_for_record_hash(i, h, |x| stored[x as usize]);
            stored.extend(add);
        }
        assert_eq!(stored.len() as i64, stored_hash_count(n));
        stored
    }

    fn tree(stored: &[Hash], n: i64) -> Tree {
        let hashes: Vec<Hash> = sub_tree_index(0, n)
            .into_iter()
            .map(|x| stored[x as usize])
            .collect();
        Tree {
            n,
            hash: tree_hash_from(n, &hashes),
        }
    }

    fn tile_data(stored: &[Hash], t: &Tile) -> Vec<u8> {
        t.indexes()
            .into_iter()
            .flat_map(|x| stored[x as usize])
            .collect()
    }

    #[test]
    fn stored_hash_indexes_round_trip() {
        for index in 0..5000 {
            let (level, n) = split_stored_hash_index(index);
            assert_eq!(stored_hash_index(level, n), index);
        }
    }

    #[test]
    fn tile_paths_round_trip_and_match_go() {
        let t = Tile {
            h: 8,
            l: 0,
            n: 1_234_067,
            w: 7,
        };
        assert_eq!(t.path(), "tile/8/0/x001/x234/067.p/7");
        assert_eq!(Tile::parse(&t.path()), Some(t));
        assert_eq!(Tile::parse("tile/8/3/000.p/4").map(|t| t.w), Some(4));
        for bad in [
            "tile/8/0/1",
            "tile/8/0/000.p/256",
            "tile/8/0/000.p/0",
            "tile/8/data/000",
            "tile/31/0/000",
            "tile/8/0/x000/001",
        ] {
            assert_eq!(Tile::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn tiles_prove_records_and_trees_and_catch_lies() {
        // Height 2 makes several levels of tiles with a small log.
        let stored = log(100);
        for n in [1, 2, 5, 16, 17, 64, 99, 100] {
            let t = tree(&stored, n);
            let wanted: Vec<i64> = (0..n).step_by(7).map(|i| stored_hash_index(0, i)).collect();
            let plan = TilePlan::new(t, 2, &wanted).unwrap();
            let data: Vec<Vec<u8>> = plan.tiles().iter().map(|x| tile_data(&stored, x)).collect();
            let got = plan.check(&data).unwrap();
            let want: Vec<Hash> = wanted.iter().map(|&x| stored[x as usize]).collect();
            assert_eq!(got, want, "n={n}");
            // Consistency: the hash of every older tree from the newer one.
            for old in 1..=n {
                let plan = TilePlan::new(t, 2, &sub_tree_index(0, old)).unwrap();
                let data: Vec<Vec<u8>> =
                    plan.tiles().iter().map(|x| tile_data(&stored, x)).collect();
                let hashes = plan.check(&data).unwrap();
                assert_eq!(tree_hash_from(old, &hashes), tree(&stored, old).hash);
            }
            // One flipped bit in any tile is caught.
            for i in 0..data.len() {
                let mut bad = data.clone();
                bad[i][0] ^= 1;
                assert!(plan.check(&bad).is_err(), "n={n} tile {i}");
            }
        }
    }

    #[test]
    fn tree_notes_parse_like_go() {
        let t = Tree {
            n: 42,
            hash: record_hash(b"x"),
        };
        assert_eq!(Tree::parse(&t.format()), Ok(t));
        assert!(Tree::parse("go.sum database tree\n-1\nAAAA\n").is_err());
        assert!(Tree::parse("go.sum database tree\n042\n").is_err());
    }
}
