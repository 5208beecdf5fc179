//! What the first touch of every stored module costs a fresh process:
//! loading its file index from the store and arranging it for lookups and
//! listings (the module tree), which a fresh mount pays on the first
//! LOOKUP inside each module (`go list` on a fresh mount of bigapp: 92 of
//! them).
//!
//! Opens an existing git store, then per round builds a new [`ModFs`] over
//! it (offline: nothing is fetched) and looks up the root directory of
//! every complete module through the node API, as a FUSE LOOKUP would.
//! Prints each round's time and the tree cache's weight.
//!
//! ```text
//! cargo run --release -p gomodfs-core --example first_touch -- STORE [ROUNDS]
//! ```
//!
//! A store filled by `bench/run.py` or `bench/fuse_ops.py` is at
//! `/tmp/gomodfs-bench/NAME/store`.

use gomodfs_core::store::GitStore;
use gomodfs_core::{ModFs, ModFsOptions, NodeId, Store};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let store = PathBuf::from(
        args.next()
            .ok_or("usage: first_touch STORE [ROUNDS] (a gomodfs git store)")?,
    );
    let rounds: usize = match args.next() {
        Some(n) => n.parse().map_err(|e| format!("ROUNDS {n:?}: {e}"))?,
        None => 5,
    };
    let store: Arc<dyn Store> = Arc::new(GitStore::open(&store)?);
    let modules: Vec<_> = store
        .list()?
        .into_iter()
        .filter(|e| e.complete)
        .map(|e| e.module)
        .collect();
    if modules.is_empty() {
        return Err("the store holds no complete module".into());
    }
    let files: usize = modules
        .iter()
        .filter_map(|m| store.module(m).ok().flatten())
        .map(|m| m.files.len())
        .sum();
    println!("{} modules, {files} files", modules.len());
    for round in 1..=rounds {
        let fs = ModFs::new(store.clone(), None, ModFsOptions::default())?;
        let start = Instant::now();
        for m in &modules {
            let (path, version) = (m.escaped_path(), m.escaped_version());
            // Walk down to the module root as a kernel would, one LOOKUP
            // per element; only the last one loads the module.
            let mut at = NodeId::ROOT;
            let elements: Vec<&str> = path.split('/').collect();
            let (last, parents) = elements.split_last().ok_or("empty module path")?;
            for name in parents {
                at = fs.lookup(at, name)?.id;
            }
            fs.lookup(at, &format!("{last}@{version}"))?;
        }
        let took = start.elapsed();
        let status = fs.status();
        println!(
            "round {round}: {:.1} ms for {} first touches ({:.0} us each); {} module loads, {:.1} ms of them reading the store",
            took.as_secs_f64() * 1e3,
            modules.len(),
            took.as_secs_f64() * 1e6 / modules.len() as f64,
            status.module_cache.misses,
            status.ops["store_module"].total_seconds * 1e3,
        );
    }
    Ok(())
}
