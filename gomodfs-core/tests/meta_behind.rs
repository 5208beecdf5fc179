//! A `.info` or `.mod` fetched on its own is answered once checked, before
//! the store's (synced) put, read from memory until the put is done, and
//! stored by the time the `ModFs` is gone: the next process finds it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use gomodfs_core::proxy::{Upstream, UpstreamConfig};
use gomodfs_core::store::{BlobId, MemoryStore, MetaFile, ModuleContents, StoreEntry};
use gomodfs_core::{ModFs, ModFsOptions, ModuleVersion, Result, Store, StoredModule};
use gomodfs_testkit::{ModuleSpec, TestProxy};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// A memory store whose metadata puts wait until [`HeldMetaPuts::open`].
#[derive(Default)]
struct HeldMetaPuts {
    inner: MemoryStore,
    open: Mutex<bool>,
    opened: Condvar,
}

impl HeldMetaPuts {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

impl Store for HeldMetaPuts {
    fn module(&self, m: &ModuleVersion) -> Result<Option<StoredModule>> {
        self.inner.module(m)
    }
    fn put_module(&self, m: &ModuleVersion, c: &ModuleContents) -> Result<()> {
        self.inner.put_module(m, c)
    }
    fn meta(&self, m: &ModuleVersion, f: MetaFile) -> Result<Option<Bytes>> {
        self.inner.meta(m, f)
    }
    fn put_meta(&self, m: &ModuleVersion, f: MetaFile, d: &Bytes) -> Result<()> {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
        self.inner.put_meta(m, f, d)
    }
    fn blob(&self, id: &BlobId) -> Result<Option<Bytes>> {
        self.inner.blob(id)
    }
    fn list(&self) -> Result<Vec<StoreEntry>> {
        self.inner.list()
    }
}

#[test]
fn a_mod_is_answered_before_its_put_and_stored_before_the_fs_is_gone() {
    let m = ModuleSpec::new("example.com/behind", "v1.0.0").file("b.go", "package behind\n");
    let proxy = TestProxy::start_with([m.clone()]).unwrap();
    let mut config = UpstreamConfig::with_proxy(&proxy.url());
    config.retries = 0;
    config.idle_timeout = Duration::from_secs(5);
    let store = Arc::new(HeldMetaPuts::default());
    let fs = ModFs::new(
        store.clone(),
        Some(Upstream::new(config).unwrap()),
        ModFsOptions::default(),
    )
    .unwrap();
    let mv = ModuleVersion::new(m.path(), m.version()).unwrap();

    // Answered while the store's put is held shut.
    let data = fs.meta(&mv, MetaFile::Mod).unwrap();
    assert_eq!(&data[..], &m.mod_bytes()[..]);
    assert!(
        store.inner.meta(&mv, MetaFile::Mod).unwrap().is_none(),
        "the put was held, yet the .mod was stored"
    );
    // Read again before the put: from memory, not fetched a second time.
    assert_eq!(fs.meta(&mv, MetaFile::Mod).unwrap(), data);
    let fetched = |ext: &str| {
        proxy
            .request_log()
            .iter()
            .filter(|p| p.ends_with(ext))
            .count()
    };
    assert_eq!(fetched(".mod"), 1, "{:?}", proxy.request_log());

    // Going away waits for the put (opened a moment later).
    let opener = {
        let store = store.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            store.open();
        })
    };
    drop(fs);
    assert_eq!(
        store.inner.meta(&mv, MetaFile::Mod).unwrap().as_deref(),
        Some(&m.mod_bytes()[..]),
        "the .mod answered before the put was not stored when the fs went away"
    );
    opener.join().unwrap();
}
