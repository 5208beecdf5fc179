//! A `.info` or `.mod` fetched on its own is answered once checked, before
//! the store's (synced) put, read from memory until the put is done, and
//! stored by the time the `ModFs` is gone: the next process finds it. A put
//! that fails costs a second download later, never the answer; one that
//! never ends holds the `ModFs`'s end for 10 s at most.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gomodfs_core::proxy::{Upstream, UpstreamConfig};
use gomodfs_core::store::MetaFile;
use gomodfs_core::{ModFs, ModFsOptions, ModuleVersion, Store};
use gomodfs_testkit::gated::GatedStore;
use gomodfs_testkit::{Fault, ModuleSpec, TestProxy};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A module, a proxy serving it, and its version.
fn served(name: &str) -> (ModuleSpec, TestProxy, ModuleVersion) {
    let m = ModuleSpec::new(format!("example.com/{name}"), "v1.0.0")
        .file("b.go", format!("package {name}\n"));
    let proxy = TestProxy::start_with([m.clone()]).unwrap();
    let mv = ModuleVersion::new(m.path(), m.version()).unwrap();
    (m, proxy, mv)
}

/// A `ModFs` over `store` fetching from `proxy`.
fn modfs(store: &Arc<GatedStore>, proxy: &TestProxy) -> ModFs {
    let mut config = UpstreamConfig::with_proxy(&proxy.url());
    config.retries = 0;
    config.idle_timeout = Duration::from_secs(5);
    ModFs::new(
        store.clone(),
        Some(Upstream::new(config).unwrap()),
        ModFsOptions::default(),
    )
    .unwrap()
}

/// How many requests `proxy` has had for files ending in `ext`.
fn fetched(proxy: &TestProxy, ext: &str) -> usize {
    proxy
        .request_log()
        .iter()
        .filter(|p| p.ends_with(ext))
        .count()
}

#[test]
fn a_mod_is_answered_before_its_put_and_stored_before_the_fs_is_gone() {
    let (m, proxy, mv) = served("behind");
    let store = Arc::new(GatedStore::new());
    store.metas().shut();
    let fs = modfs(&store, &proxy);

    // Answered while the store's put is held shut.
    let data = fs.meta(&mv, MetaFile::Mod).unwrap();
    assert_eq!(&data[..], &m.mod_bytes()[..]);
    assert!(
        store.inner().meta(&mv, MetaFile::Mod).unwrap().is_none(),
        "the put was held, yet the .mod was stored"
    );
    // Read again before the put: from memory, not fetched a second time.
    assert_eq!(fs.meta(&mv, MetaFile::Mod).unwrap(), data);
    assert_eq!(fetched(&proxy, ".mod"), 1, "{:?}", proxy.request_log());
    // The .info, whose download began beside the .mod's: that flight's
    // answer (or its staged copy), not a second request.
    assert_eq!(
        &fs.meta(&mv, MetaFile::Info).unwrap()[..],
        &m.info_bytes()[..]
    );
    assert_eq!(fetched(&proxy, ".info"), 1, "{:?}", proxy.request_log());

    // Going away waits for the put (opened a moment later).
    let opener = {
        let store = store.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            store.metas().open();
        })
    };
    drop(fs);
    assert_eq!(
        store.inner().meta(&mv, MetaFile::Mod).unwrap().as_deref(),
        Some(&m.mod_bytes()[..]),
        "the .mod answered before the put was not stored when the fs went away"
    );
    opener.join().unwrap();
}

#[test]
fn a_mod_whose_put_fails_is_still_answered_and_fetched_again_later() {
    let (m, proxy, mv) = served("refused");
    let store = Arc::new(GatedStore::new());
    store.metas().fail();
    let fs = modfs(&store, &proxy);
    assert_eq!(
        &fs.meta(&mv, MetaFile::Mod).unwrap()[..],
        &m.mod_bytes()[..],
        "a put that fails behind the answer must not fail the answer"
    );
    // The .info's download began beside the .mod's; its put is tried too.
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.metas().reached() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(fs); // waits for the puts to have been tried
    assert_eq!(store.metas().reached(), 2, "the .mod's and .info's puts");
    assert!(
        store.inner().meta(&mv, MetaFile::Mod).unwrap().is_none(),
        "a refused put stored something"
    );

    // The next process finds nothing stored, fetches the file again and
    // stores it this time.
    store.metas().open();
    let fs = modfs(&store, &proxy);
    assert_eq!(
        &fs.meta(&mv, MetaFile::Mod).unwrap()[..],
        &m.mod_bytes()[..]
    );
    drop(fs);
    assert_eq!(fetched(&proxy, ".mod"), 2, "{:?}", proxy.request_log());
    assert_eq!(
        store.inner().meta(&mv, MetaFile::Mod).unwrap().as_deref(),
        Some(&m.mod_bytes()[..])
    );
}

#[test]
fn going_away_waits_for_a_put_that_never_ends_for_ten_seconds_at_most() {
    let (m, proxy, mv) = served("stuck");
    let store = Arc::new(GatedStore::new());
    store.metas().shut();
    let fs = modfs(&store, &proxy);
    assert_eq!(
        &fs.meta(&mv, MetaFile::Mod).unwrap()[..],
        &m.mod_bytes()[..]
    );

    let start = Instant::now();
    drop(fs);
    let waited = start.elapsed();
    // Let the put that was left behind finish, so its thread ends.
    store.metas().open();
    assert!(
        waited >= Duration::from_secs(9),
        "went away after {waited:?} with a put still running"
    );
    assert!(
        waited < Duration::from_secs(15),
        "a stuck put held the end for {waited:?}"
    );
}

/// The `.info` fetched beside a go.mod is a guess: when it fails, the
/// go.mod is answered all the same, the failure is not kept, and the
/// `.info` asked for later is fetched again.
#[test]
fn a_failed_info_beside_a_mod_neither_fails_the_mod_nor_sticks() {
    let (m, proxy, mv) = served("guess");
    proxy.set_fault(m.path(), m.version(), "info", Fault::FailTimes(1, 500));
    let store = Arc::new(GatedStore::new());
    let fs = modfs(&store, &proxy);
    assert_eq!(
        &fs.meta(&mv, MetaFile::Mod).unwrap()[..],
        &m.mod_bytes()[..]
    );
    assert!(proxy.wait_for_requests(".info", 1, Duration::from_secs(10)));
    // A read that joins the failing flight gets its error; the next one
    // starts a flight of its own.
    let deadline = Instant::now() + Duration::from_secs(10);
    let info = loop {
        match fs.meta(&mv, MetaFile::Info) {
            Ok(info) => break info,
            Err(e) if Instant::now() < deadline => {
                eprintln!("joined the failed flight: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("the .info is still failing: {e}"),
        }
    };
    assert_eq!(&info[..], &m.info_bytes()[..]);
    assert_eq!(fetched(&proxy, ".info"), 2, "{:?}", proxy.request_log());
    assert_eq!(fetched(&proxy, ".mod"), 1, "{:?}", proxy.request_log());
}
