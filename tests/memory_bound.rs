//! Memory stays bounded while fetching: a generated module of about
//! 400 MiB (incompressible stored files and deflated compressible ones) is
//! fetched through a real FUSE mount, the gomodfs process's peak RSS
//! (VmHWM) stays under 200 MiB, and every file reads back correct. Through
//! the fleet tier (a real S3 server), uploading it and fetching it from the
//! bucket allocate under 200 MiB too.

mod common;
mod fleet_support;

use gomodfs_testkit::rawzip::{self, RawEntry};
use gomodfs_testkit::{Fault, ModuleSpec, TestProxy};
use sha2::{Digest, Sha256};
use std::fs;

const MODULE: &str = "example.com/huge";
const VERSION: &str = "v1.0.0";
/// Large files and their size: 8 x 50 MiB = 400 MiB.
const LARGE_FILES: usize = 8;
const LARGE_SIZE: usize = 50 << 20;
/// Peak RSS the fetch must stay under.
const PEAK_LIMIT_KIB: u64 = 200 << 10;

/// Deterministic content for large file `i`: even files incompressible
/// (random bytes), odd ones compressible (random letters of a 16-letter
/// alphabet, which deflate halves).
fn content(i: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ (i as u64).wrapping_mul(0x2545_f491_4f6c_dd1d);
    let mut data = Vec::with_capacity(LARGE_SIZE);
    while data.len() < LARGE_SIZE {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if i.is_multiple_of(2) {
            data.extend_from_slice(&x.to_le_bytes());
        } else {
            data.extend(x.to_le_bytes().iter().map(|b| b'a' + (b & 15)));
        }
    }
    data.truncate(LARGE_SIZE);
    data
}

/// A file's SHA-256.
type Digest256 = sha2::digest::Output<Sha256>;

/// The module: its spec, its zip (about 400 MiB, half the files stored,
/// half deflated) and each large file's name and SHA-256.
fn huge_module() -> (ModuleSpec, Vec<u8>, Vec<(String, Digest256)>) {
    let go_mod = format!("module {MODULE}\n\ngo 1.21\n");
    let spec = ModuleSpec::new(MODULE, VERSION).go_mod(go_mod.clone());
    let prefix = spec.prefix();
    let mut entries = vec![RawEntry::deflated(
        format!("{prefix}go.mod"),
        go_mod.as_bytes(),
    )];
    let mut expected = Vec::new();
    for i in 0..LARGE_FILES {
        let data = content(i);
        let name = format!("data/part{i}.bin");
        expected.push((name.clone(), Sha256::digest(&data)));
        let full = format!("{prefix}{name}");
        entries.push(if i.is_multiple_of(2) {
            RawEntry::stored(full, &data)
        } else {
            RawEntry::deflated(full, &data)
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let zip = rawzip::write_zip(&entries);
    eprintln!("module zip: {} MiB", zip.len() >> 20);
    (spec, zip, expected)
}

#[test]
fn a_400_mib_module_fetches_under_200_mib_peak_rss() -> Result<(), Box<dyn std::error::Error>> {
    common::require_fuse();
    let (spec, zip, expected) = huge_module();
    let go_mod = String::from_utf8(spec.mod_bytes())?;
    let proxy = TestProxy::start_with([spec])?;
    proxy.set_fault(MODULE, VERSION, "zip", Fault::Body(zip));

    let store = tempfile::tempdir()?;
    let mnt = tempfile::tempdir()?;
    let logs = tempfile::tempdir()?;
    let mp = common::start_mount(
        store.path(),
        mnt.path(),
        Some(&proxy.url()),
        &logs.path().join("mount.log"),
        &["--gosumdb", "off", "--blob-cache", "32MiB"],
    );
    let before = mp.status_kib("VmHWM").ok_or("no VmHWM")?;

    // Reading go.mod fetches and stores the whole module.
    let dir = mnt.path().join(format!("{MODULE}@{VERSION}"));
    assert_eq!(fs::read_to_string(dir.join("go.mod"))?, go_mod);
    let fetched = mp.status_kib("VmHWM").ok_or("no VmHWM")?;
    eprintln!(
        "peak RSS: {} MiB before, {} MiB after the fetch",
        before >> 10,
        fetched >> 10
    );
    assert!(
        fetched < PEAK_LIMIT_KIB,
        "peak RSS {} MiB while fetching a 400 MiB module (limit {} MiB)",
        fetched >> 10,
        PEAK_LIMIT_KIB >> 10
    );

    // Every file reads back correct, and so does the h1 go would compute.
    for (name, digest) in &expected {
        let data = fs::read(dir.join(name))?;
        assert_eq!(data.len(), LARGE_SIZE, "{name}");
        assert!(Sha256::digest(&data) == *digest, "{name}: wrong contents");
    }
    // Each large file is inflated from the store once, not once per piece
    // the kernel asks for (8 x 50 MiB in 128 KiB pieces: 3,200 loads when
    // every piece loaded the whole file; --blob-cache 32MiB keeps none of
    // them, the large-file cache does).
    let status: serde_json::Value =
        serde_json::from_slice(&fs::read(mnt.path().join(".gomodfs-status"))?)?;
    let loads = status["ops"]["store_blob"]["ended"]
        .as_u64()
        .ok_or("no ops.store_blob.ended in the status file")?;
    eprintln!("blob loads from the store: {loads}");
    assert!(
        loads <= 2 * LARGE_FILES as u64 + 2,
        "{loads} blob loads from the store to read {LARGE_FILES} large files back"
    );
    // Reading maps the packs: their pages count in RSS as file pages
    // (page cache, given back under pressure). What the process allocates
    // itself (RssAnon) stays under the limit with --blob-cache 32MiB.
    let kib = |field: &str| mp.status_kib(field).ok_or(format!("no {field}"));
    let (peak, anon, file) = (kib("VmHWM")?, kib("RssAnon")?, kib("RssFile")?);
    eprintln!(
        "after reading every file back: peak RSS {} MiB, now RssAnon {} MiB, RssFile {} MiB",
        peak >> 10,
        anon >> 10,
        file >> 10
    );
    assert!(
        anon < PEAK_LIMIT_KIB,
        "RssAnon {} MiB after reading the files with --blob-cache 32MiB",
        anon >> 10
    );
    common::assert_fsck_strict(store.path());
    mp.stop()?;
    Ok(())
}

/// The largest RssAnon (memory the process allocated, not mapped files)
/// of process `pid`, sampled every 5 ms until dropped.
struct AnonPeak {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: Option<std::thread::JoinHandle<u64>>,
}

impl AnonPeak {
    fn watch(pid: u32) -> AnonPeak {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let sampler = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let anon = gomodfs_testkit::process::status_kib(pid, "RssAnon");
                peak = peak.max(anon.unwrap_or(0));
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            peak
        });
        AnonPeak {
            stop,
            sampler: Some(sampler),
        }
    }

    /// The largest RssAnon seen, in KiB.
    fn finish(mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.sampler.take().and_then(|s| s.join().ok()).unwrap_or(0)
    }
}

/// The same module through the fleet tier: host A fetches it from upstream
/// and uploads it (the zip regenerated into a temporary file, not into
/// memory), host B fetches it from the bucket (the zip streamed to a
/// temporary file). What each allocates (RssAnon, sampled; reading the
/// store maps its packs, whose pages count in the peak RSS as file pages)
/// stays under the limit, and B reads every file back correct.
#[test]
fn a_400_mib_module_goes_through_the_bucket_in_bounded_memory()
-> Result<(), Box<dyn std::error::Error>> {
    common::require_fuse();
    let (spec, zip, expected) = huge_module();
    let go_mod = String::from_utf8(spec.mod_bytes())?;
    let proxy = TestProxy::start_with([spec])?;
    proxy.set_fault(MODULE, VERSION, "zip", Fault::Body(zip));
    let s3 = fleet_support::s3();
    let url = fleet_support::fresh_url("huge");
    let args = ["--gosumdb", "off", "--blob-cache", "32MiB"];
    let pid = |host: &fleet_support::Host| host.process.as_ref().map_or(0, |p| p.pid());
    let dir = |host: &fleet_support::Host| host.modcache().join(format!("{MODULE}@{VERSION}"));
    let within = |what: &str, peak: u64| {
        eprintln!("{what}: RssAnon at most {} MiB", peak >> 10);
        assert!(
            peak < PEAK_LIMIT_KIB,
            "{what}: RssAnon reached {} MiB with a 400 MiB module (limit {} MiB)",
            peak >> 10,
            PEAK_LIMIT_KIB >> 10
        );
    };

    let mut a = fleet_support::Host::new();
    a.start(&s3, &url, Some(&proxy.url()), &args);
    let watch = AnonPeak::watch(pid(&a));
    assert_eq!(fs::read_to_string(dir(&a).join("go.mod"))?, go_mod);
    let mv = gomodfs::core::ModuleVersion::new(MODULE, VERSION)?;
    fleet_support::wait_for_modules(
        &fleet_support::client(&s3, &url),
        std::slice::from_ref(&mv),
        std::time::Duration::from_secs(120),
    );
    within("host A, fetch and upload", watch.finish());
    a.stop();

    let mut b = fleet_support::Host::new();
    b.start(&s3, &url, Some(&proxy.url()), &args);
    proxy.reset_log();
    let watch = AnonPeak::watch(pid(&b));
    assert_eq!(fs::read_to_string(dir(&b).join("go.mod"))?, go_mod);
    within("host B, fetch from the bucket", watch.finish());
    assert!(
        !proxy.request_log().iter().any(|p| p.ends_with(".zip")),
        "host B fetched the zip from upstream: {:?}",
        proxy.request_log()
    );
    assert!(b.remote_counter("hits") >= 1, "{}", b.status());
    for (name, digest) in &expected {
        let data = fs::read(dir(&b).join(name))?;
        assert!(Sha256::digest(&data) == *digest, "{name}: wrong contents");
    }
    b.stop();
    Ok(())
}
