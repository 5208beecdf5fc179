//! What reading a file's contents from the store costs: every blob of
//! every complete module, read once per round through `Store::blob` (find,
//! inflate, check), which is what a mount does on the first read of a file
//! before its blob cache has it.
//!
//! Opens an existing git store, collects the distinct blob ids of its
//! modules' files (optionally only those up to MAX_BYTES), then per round
//! reads them all in store order on one thread and prints the time per
//! blob and the throughput. Run two builds on the same store to compare
//! read paths (docs/BENCHMARKS.md, "Objects read straight from the
//! packs").
//!
//! ```text
//! cargo run --release -p gomodfs-core --example blob_reads -- STORE [ROUNDS] [MAX_BYTES]
//! ```
//!
//! A store filled by `bench/run.py` or `bench/fuse_ops.py` is at
//! `/tmp/gomodfs-bench/NAME/store`.

use gomodfs_core::Store;
use gomodfs_core::store::GitStore;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: blob_reads STORE [ROUNDS] [MAX_BYTES] (a gomodfs git store)";
    let store = PathBuf::from(args.next().ok_or(usage)?);
    let mut number = |name: &str, default: u64| -> Result<u64, String> {
        match args.next() {
            Some(n) => n.parse().map_err(|e| format!("{name} {n:?}: {e}")),
            None => Ok(default),
        }
    };
    let rounds = number("ROUNDS", 3)?;
    let max_bytes = number("MAX_BYTES", u64::MAX)?;
    let store = GitStore::open(&store)?;
    let mut blobs = BTreeSet::new();
    for entry in store.list()?.into_iter().filter(|e| e.complete) {
        if let Some(module) = store.module(&entry.module)? {
            for file in module.files.iter().filter(|f| f.size <= max_bytes) {
                blobs.insert((file.blob, file.size));
            }
        }
    }
    if blobs.is_empty() {
        return Err("the store holds no file of that size".into());
    }
    let bytes: u64 = blobs.iter().map(|(_, size)| size).sum();
    println!(
        "{} distinct blobs, {bytes} bytes, {} bytes on average",
        blobs.len(),
        bytes / blobs.len() as u64
    );
    for round in 1..=rounds {
        let start = Instant::now();
        let mut read = 0u64;
        for (id, size) in &blobs {
            let data = store
                .blob(id)?
                .ok_or_else(|| format!("blob {id:?} of {size} bytes is missing"))?;
            read += data.len() as u64;
        }
        let took = start.elapsed().as_secs_f64();
        if read != bytes {
            return Err(format!("read {read} bytes, the index says {bytes}").into());
        }
        println!(
            "round {round}: {:.1} us per blob, {:.0} MB/s",
            took * 1e6 / blobs.len() as f64,
            bytes as f64 / took / 1e6
        );
    }
    Ok(())
}
