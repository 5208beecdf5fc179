//! A library user serving the cache from its own process: open the git store,
//! mount through FUSE, run `go env GOMODCACHE` against it, unmount.
//!
//! Run: `cargo run --example embed_fuse -- /tmp/my-store`

use gomodfs::core::proxy::{Upstream, UpstreamConfig};
use gomodfs::core::store::GitStore;
use gomodfs::core::{ModFs, ModFsOptions};
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store_dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/gomodfs-example-store".into());
    let store = GitStore::open(store_dir.as_ref())?;
    let upstream = Upstream::new(UpstreamConfig::from_env())?;
    let fs = Arc::new(ModFs::new(
        Arc::new(store),
        Some(upstream),
        ModFsOptions::default(),
    )?);

    let dir = tempfile::tempdir()?;
    let mount = gomodfs::fuse::mount(fs.clone(), dir.path(), &Default::default())?;
    let out = std::process::Command::new("go")
        .args(["env", "GOMODCACHE"])
        .env("GOMODCACHE", dir.path())
        .output()?;
    print!(
        "go sees GOMODCACHE={}",
        String::from_utf8_lossy(&out.stdout)
    );
    println!(
        "status: {}",
        String::from_utf8_lossy(&fs.status_json()).lines().count()
    );
    mount.unmount()?;
    Ok(())
}
