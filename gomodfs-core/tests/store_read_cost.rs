//! What checking object ids costs (issue 16, item 7): cold reads hash every
//! object read from the git store; hot reads come from the node API's cache
//! of verified bytes. A measurement, not a check: run with
//! `cargo test -p gomodfs-core --release --test store_read_cost -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use gomodfs_core::modpath::ModuleVersion;
use gomodfs_core::store::{GitStore, ModuleContents, Store};
use gomodfs_core::{ModFs, ModFsOptions};
use sha1::{Digest, Sha1};
use std::sync::Arc;
use std::time::Instant;

const FILES: usize = 256;
const FILE_BYTES: usize = 64 << 10;

/// Incompressible-ish contents, different per file.
fn contents(i: usize) -> Bytes {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (i as u64);
    let mut v = Vec::with_capacity(FILE_BYTES);
    while v.len() < FILE_BYTES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes()[..4]);
    }
    Bytes::from(v)
}

#[test]
#[ignore = "a measurement; run it on demand"]
fn read_cost_of_object_id_checks() {
    let dir = tempfile::tempdir().unwrap();
    let mv = ModuleVersion::new("example.com/cost", "v1.0.0").unwrap();
    let files: Vec<(String, Bytes)> = (0..FILES)
        .map(|i| (format!("f{i:03}.bin"), contents(i)))
        .collect();
    let module = ModuleContents {
        info: Bytes::from_static(br#"{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}"#),
        go_mod: Bytes::from_static(b"module example.com/cost\n"),
        ziphash: "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
        files: files.clone(),
    };
    let store = Arc::new(GitStore::open(dir.path()).unwrap());
    store.put_module(&mv, &module).unwrap();
    let stored = store.module(&mv).unwrap().unwrap();
    let mib = (FILES * FILE_BYTES) as f64 / f64::from(1 << 20);

    // Cold: every read inflates and hashes. Best of 5, the machine may be busy.
    let best = |f: &dyn Fn()| {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .min()
            .unwrap()
    };
    let cold = best(&|| {
        for f in &stored.files {
            assert!(store.blob(&f.blob).unwrap().is_some());
        }
    });
    // The hashing alone, as the store does it.
    let hashing = best(&|| {
        for (_, data) in &files {
            let mut h = Sha1::new();
            h.update(format!("blob {}\0", data.len()).as_bytes());
            h.update(data);
            std::hint::black_box(h.finalize());
        }
    });

    // Hot: through the node API, after one warming read of each file.
    let fs = ModFs::new(store, None, ModFsOptions::default()).unwrap();
    let ids: Vec<_> = stored
        .files
        .iter()
        .map(|f| {
            fs.resolve(&format!("example.com/cost@v1.0.0/{}", f.path))
                .unwrap()
                .id
        })
        .collect();
    for id in &ids {
        fs.read(*id, 0, 4096).unwrap();
    }
    let rounds = 20;
    let hot = best(&|| {
        for _ in 0..rounds {
            for id in &ids {
                std::hint::black_box(fs.read(*id, 0, 4096).unwrap());
            }
        }
    });
    let reads = (rounds * ids.len()) as f64;
    println!(
        "cold: {:.1} ms for {mib:.0} MiB ({:.1} ms/MiB), of which hashing {:.1} ms ({:.0}%); \
         hot 4 KiB reads: {:.2} µs each (no hashing: served from the verified cache)",
        cold.as_secs_f64() * 1e3,
        cold.as_secs_f64() * 1e3 / mib,
        hashing.as_secs_f64() * 1e3,
        100.0 * hashing.as_secs_f64() / cold.as_secs_f64(),
        hot.as_secs_f64() * 1e6 / reads,
    );
}
