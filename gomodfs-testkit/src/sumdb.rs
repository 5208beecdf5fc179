//! [`TestSumDb`]: a checksum database with its own key, served by the
//! [`TestProxy`](crate::TestProxy) under `/sumdb/<name>/` (feature
//! `sumdb`).
//!
//! It speaks the protocol of sum.golang.org: `supported`, `latest`,
//! `lookup/<E(path)>@<E(version)>` and `tile/8/<L>/<N>[.p/<W>]`, with tree
//! heads signed by an Ed25519 key (`GOSUMDB="<vkey> <url>"`). A module
//! version gets its record (the `h1:` of its zip and of its go.mod, from
//! its [`ModuleSpec`]) on its first lookup, as the real database does.
//! The log math is gomodfs-core's `sumdb::tlog`; the real `go` command is
//! the independent check that this server is right.
//!
//! [`TestSumDb::fork`] rewrites history (a different first record), so
//! every later tree head is inconsistent with the earlier ones: what a
//! misbehaving database looks like.

use crate::module::{ModuleSpec, escape, unescape};
use base64::Engine as _;
use gomodfs_core::sumdb::note::key_hash;
use gomodfs_core::sumdb::tlog::{self, Hash, Tile, Tree};
use parking_lot::Mutex;
use ring::signature::{Ed25519KeyPair, KeyPair};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// The tile height of the test database (the one every Go database uses).
const HEIGHT: u32 = 8;

/// The transparency log: records and their stored hashes.
#[derive(Default)]
struct Log {
    /// `path@version` → record id.
    ids: HashMap<String, i64>,
    /// Stored hashes, as `tlog.StoredHashes` appends them.
    stored: Vec<Hash>,
    /// Number of records.
    n: i64,
    /// Record texts by id.
    texts: Vec<String>,
}

impl Log {
    fn append(&mut self, key: String, text: String) -> i64 {
        let id = self.n;
        let h = tlog::record_hash(text.as_bytes());
        let add = tlog::stored_hashes_for_record_hash(id, h, |x| self.stored[x as usize]);
        self.stored.extend(add);
        self.ids.insert(key, id);
        self.texts.push(text);
        self.n += 1;
        id
    }

    fn tree(&self) -> Tree {
        let hashes: Vec<Hash> = tlog::sub_tree_index(0, self.n)
            .into_iter()
            .map(|x| self.stored[x as usize])
            .collect();
        Tree {
            n: self.n,
            hash: tlog::tree_hash_from(self.n, &hashes),
        }
    }
}

/// A checksum database for tests.
pub struct TestSumDb {
    name: String,
    key: Ed25519KeyPair,
    vkey: String,
    log: Mutex<Log>,
}

impl std::fmt::Debug for TestSumDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSumDb")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TestSumDb {
    /// A database named `name` (a host name, e.g. `sumdb.test`) with a key
    /// derived from the name.
    pub fn new(name: &str) -> crate::Result<TestSumDb> {
        let seed = Sha256::digest(format!("gomodfs test sumdb {name}").as_bytes());
        let key = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|e| {
            crate::TestkitError::io(
                "making a test sumdb key",
                std::io::Error::other(e.to_string()),
            )
        })?;
        let mut public = vec![1u8];
        public.extend_from_slice(key.public_key().as_ref());
        let vkey = format!(
            "{name}+{:08x}+{}",
            key_hash(name, &public),
            base64::engine::general_purpose::STANDARD.encode(&public)
        );
        Ok(TestSumDb {
            name: name.to_owned(),
            key,
            vkey,
            log: Mutex::default(),
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key, `name+hash+key`: the first field of `GOSUMDB`.
    pub fn vkey(&self) -> &str {
        &self.vkey
    }

    /// How many records the log holds.
    pub fn size(&self) -> i64 {
        self.log.lock().n
    }

    /// Rewrites history: a log whose first record is a bogus one, followed
    /// by the records known so far. Every tree head from now on is
    /// inconsistent with the ones served before.
    pub fn fork(&self) {
        let mut log = self.log.lock();
        let old = std::mem::take(&mut *log);
        log.append(
            "fork.test/forged@v1.0.0".into(),
            "fork.test/forged v1.0.0 h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n".into(),
        );
        let mut by_id: Vec<(&String, &i64)> = old.ids.iter().collect();
        by_id.sort_by_key(|(_, id)| **id);
        for (key, id) in by_id {
            log.append(key.clone(), old.texts[*id as usize].clone());
        }
    }

    /// The signed note of the current tree head.
    fn signed_tree(&self, tree: &Tree) -> String {
        let text = tree.format();
        let mut sig = key_hash(&self.name, &self.public()).to_be_bytes().to_vec();
        sig.extend_from_slice(self.key.sign(text.as_bytes()).as_ref());
        format!(
            "{text}\n— {} {}\n",
            self.name,
            base64::engine::general_purpose::STANDARD.encode(&sig)
        )
    }

    fn public(&self) -> Vec<u8> {
        let mut public = vec![1u8];
        public.extend_from_slice(self.key.public_key().as_ref());
        public
    }

    /// Answers `rest` (the path after `/sumdb/<name>/`) with a status and
    /// body; `modules` are the module versions the proxy serves.
    pub(crate) fn answer(
        &self,
        rest: &str,
        modules: &BTreeMap<(String, String), ModuleSpec>,
    ) -> (u16, Vec<u8>) {
        let not_found = |what: &str| (404, format!("not found: {what}\n").into_bytes());
        if rest == "supported" {
            return (200, Vec::new());
        }
        if rest == "latest" {
            let tree = self.log.lock().tree();
            return (200, self.signed_tree(&tree).into_bytes());
        }
        if let Some(target) = rest.strip_prefix("lookup/") {
            let Some((path, version)) = target.rsplit_once('@') else {
                return not_found(rest);
            };
            let (Some(path), Some(version)) = (unescape(path), unescape(version)) else {
                return not_found(rest);
            };
            let Some(spec) = modules.get(&(path.clone(), version.clone())) else {
                return not_found(rest);
            };
            let key = format!("{path}@{version}");
            let mut log = self.log.lock();
            let id = match log.ids.get(&key) {
                Some(id) => *id,
                None => {
                    let text = format!(
                        "{path} {version} {}\n{path} {version}/go.mod {}\n",
                        spec.h1(),
                        spec.go_mod_h1()
                    );
                    log.append(key, text)
                }
            };
            let tree = log.tree();
            let text = log.texts[id as usize].clone();
            drop(log);
            let body = format!("{id}\n{text}\n{}", self.signed_tree(&tree));
            return (200, body.into_bytes());
        }
        if rest.starts_with("tile/") {
            let Some(tile) = Tile::parse(rest).filter(|t| t.h == HEIGHT) else {
                return not_found(rest);
            };
            let log = self.log.lock();
            let end = ((tile.n << tile.h) + i64::from(tile.w)) << (tile.h * tile.l);
            if end > log.n {
                return not_found(rest);
            }
            let data: Vec<u8> = tile
                .indexes()
                .into_iter()
                .flat_map(|x| log.stored[x as usize])
                .collect();
            return (200, data);
        }
        not_found(rest)
    }

    /// `GOSUMDB` for go and gomodfs: `<vkey> <proxy_url>/sumdb/<name>`.
    pub fn gosumdb(&self, proxy_url: &str) -> String {
        format!("{} {proxy_url}/sumdb/{}", self.vkey, self.name)
    }

    /// The lookup path of a module version below the database.
    pub fn lookup_path(path: &str, version: &str) -> String {
        format!("lookup/{}@{}", escape(path), escape(version))
    }
}
