//! kill -9 in the middle of storing a module: the store stays consistent and
//! the module is fetched again cleanly after a restart.

mod common;

use common::git;
use gomodfs_testkit::{ModuleSpec, TestProxy};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// A module big enough that storing it takes a while: 3000 files of 4 KiB
/// of incompressible-ish bytes.
fn big_module() -> ModuleSpec {
    let mut spec = ModuleSpec::new("example.com/big", "v1.0.0");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..3000 {
        let mut data = Vec::with_capacity(4096);
        for _ in 0..512 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.extend_from_slice(&x.to_le_bytes());
        }
        spec = spec.file(format!("d{}/f{i}.bin", i % 37), data);
    }
    spec
}

/// True if `store`'s pack directory holds a temporary file of a put.
fn temp_pack_exists(store: &Path) -> bool {
    fs::read_dir(store.join("objects/pack")).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("tmp_"))
    })
}

#[test]
fn kill_9_during_put_leaves_a_consistent_store() -> Result<(), Box<dyn std::error::Error>> {
    let spec = big_module();
    let proxy = TestProxy::start_with([spec.clone()])?;
    let store = tempfile::tempdir()?;
    let logs = tempfile::tempdir()?;
    let mnt = tempfile::tempdir()?;
    let sample = format!("{}/d5/f5.bin", spec.cache_dir_name());
    let expected = spec.files().get("d5/f5.bin").cloned().ok_or("fixture")?;

    // Rounds that caught a put in flight: a temp pack on disk, or a pack
    // without its ref.
    let mut caught_mid_put = 0;
    // Kill later and later until a round lets the put finish.
    let mut rounds = 0;
    // Small steps: the pack is written from the zip without compressing
    // it again, so the window in which a temp pack exists is short.
    for (round, delay_ms) in (1..=800u64).map(|i| i * 10).enumerate() {
        rounds += 1;
        let mp = common::start_mount(
            store.path(),
            mnt.path(),
            Some(&proxy.url()),
            &logs.path().join(format!("round{round}.log")),
            &[],
        );
        let target = mnt.path().join(&sample);
        let reader = std::thread::spawn(move || fs::read(target));
        // The first round kills the moment a temporary pack appears (a put
        // in flight, however short its window); later rounds after a fixed
        // delay, later and later.
        let wait = if round == 0 { 30_000 } else { delay_ms };
        let deadline = Instant::now() + Duration::from_millis(wait);
        while Instant::now() < deadline && !(round == 0 && temp_pack_exists(store.path())) {
            std::thread::sleep(Duration::from_micros(200));
        }
        mp.kill9();
        let _ = reader.join();

        // The store is a valid git repository whatever moment we hit.
        let fsck = git(store.path(), &["fsck", "--strict", "--no-dangling"]);
        assert!(
            fsck.status.success(),
            "round {round}: git fsck after kill -9: {}",
            String::from_utf8_lossy(&fsck.stderr)
        );
        let refs = git(store.path(), &["for-each-ref", "--format=%(refname)"]);
        let refs = String::from_utf8_lossy(&refs.stdout).into_owned();
        let packs: Vec<String> = fs::read_dir(store.path().join("objects/pack"))?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        let temp = packs.iter().any(|p| p.starts_with("tmp_"));
        let orphan_pack = !refs.contains("zip/") && packs.iter().any(|p| p.ends_with(".pack"));
        if temp || orphan_pack {
            caught_mid_put += 1;
        }
        eprintln!(
            "round {round} ({delay_ms} ms): refs after kill: [{}], pack dir: {packs:?}",
            refs.trim()
        );

        // Restart offline: the module is either there completely or absent.
        let mp = common::start_mount(
            store.path(),
            mnt.path(),
            None,
            &logs.path().join("offline.log"),
            &[],
        );
        match fs::read(mnt.path().join(&sample)) {
            Ok(data) => {
                assert_eq!(data, expected, "round {round}: torn module");
                let hash = fs::read_to_string(
                    mnt.path()
                        .join("cache/download/example.com/big/@v/v1.0.0.ziphash"),
                )?;
                assert_eq!(hash, spec.h1(), "round {round}");
            }
            Err(e) => assert!(
                !refs.contains("zip/"),
                "round {round}: a module ref exists but the module is unreadable: {e}"
            ),
        }
        mp.stop().expect("gomodfs exits cleanly");
        if refs.contains("zip/") {
            break;
        }
    }

    eprintln!("{caught_mid_put} of {rounds} rounds caught a put in flight");
    assert!(caught_mid_put > 0, "no kill landed in the middle of a put");
    // The completed module survives a restart; start over for a clean fetch
    // after a kill that leaves debris behind.
    fs::remove_dir_all(store.path())?;
    fs::create_dir_all(store.path())?;
    let mp = common::start_mount(
        store.path(),
        mnt.path(),
        Some(&proxy.url()),
        &logs.path().join("last.log"),
        &[],
    );
    let reader = std::thread::spawn({
        let target = mnt.path().join(&sample);
        move || fs::read(target)
    });
    std::thread::sleep(Duration::from_millis(50));
    mp.kill9();
    let _ = reader.join();

    // Finally a clean fetch after whatever the last kill left behind.
    let mp = common::start_mount(
        store.path(),
        mnt.path(),
        Some(&proxy.url()),
        &logs.path().join("final.log"),
        &[],
    );
    assert_eq!(fs::read(mnt.path().join(&sample))?, expected);
    let hash = fs::read_to_string(
        mnt.path()
            .join("cache/download/example.com/big/@v/v1.0.0.ziphash"),
    )?;
    assert_eq!(hash, spec.h1());
    mp.stop().expect("gomodfs exits cleanly");
    Ok(())
}
