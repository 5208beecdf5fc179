//! `gomodfs serve --nfs` against real NFS clients: libnfs's `nfs-ls` and
//! `nfs-cat` list and read module trees, and the h1 hash of what they read
//! equals the go.sum that the real `go` wrote; `.mod`, `.info` and
//! `.ziphash` are the proxy's bytes and the computed hash.
#![cfg(feature = "nfs")]
#![allow(clippy::unwrap_used)]

mod common;

use common::NfsServer;
use gomodfs_testkit::nfs::require_libnfs_tools;
use gomodfs_testkit::{ModuleSpec, TestProxy, h1_hash, standard_fixture};

#[test]
fn module_trees_read_over_nfs_hash_to_go_sum() -> Result<(), Box<dyn std::error::Error>> {
    require_libnfs_tools();
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone())?;
    let work = tempfile::tempdir()?;
    let go_sum = fx.go_sum_via_go(&proxy.url(), work.path())?;
    let server = NfsServer::on_fresh_store(&proxy.url(), &[]);

    let mut trees = 0;
    for line in go_sum.lines() {
        let [path, version, hash] = line.split(' ').collect::<Vec<_>>()[..] else {
            panic!("odd go.sum line {line:?}");
        };
        if let Some(version) = version.strip_suffix("/go.mod") {
            let m = fx.module(path, version).expect("fixture module");
            let dl = format!(
                "cache/download/{}/@v/{}",
                m.escaped_path(),
                m.escaped_version()
            );
            let mod_bytes = server.libnfs().cat(&format!("{dl}.mod"))?;
            assert_eq!(mod_bytes, m.mod_bytes(), "{line}: .mod bytes");
            assert_eq!(
                h1_hash([("go.mod", mod_bytes.as_slice())]),
                hash,
                "{line}: go.sum /go.mod hash of the .mod read over NFS"
            );
            assert_eq!(
                server.libnfs().cat(&format!("{dl}.info"))?,
                m.info_bytes(),
                "{line}"
            );
            continue;
        }
        let m = fx.module(path, version).expect("fixture module");
        let tree = m.cache_dir_name();
        let (files, _dirs) = server.libnfs().ls_recursive(&tree)?;
        let expect: Vec<String> = m.zip_files().into_iter().map(|(rel, _)| rel).collect();
        assert_eq!(files, expect, "{tree}: the listing is the zip, exactly");
        let mut read = vec![];
        for rel in &files {
            let data = server.libnfs().cat(&format!("{tree}/{rel}"))?;
            read.push((format!("{}{rel}", m.prefix()), data));
        }
        let h1 = h1_hash(read.iter().map(|(n, d)| (n.as_str(), d.as_slice())));
        assert_eq!(h1, hash, "{tree}: h1 of the bytes read over NFS vs go.sum");
        let ziphash = server.libnfs().cat(&format!(
            "cache/download/{}/@v/{}.ziphash",
            m.escaped_path(),
            m.escaped_version()
        ))?;
        assert_eq!(String::from_utf8(ziphash)?, hash, "{tree}: .ziphash");
        trees += 1;
    }
    assert!(trees >= 5, "only {trees} module trees in go.sum");

    // The status file is readable at the root, and listing the root shows
    // what the store holds.
    let status = server.libnfs().cat(".gomodfs-status")?;
    let json: serde_json::Value = serde_json::from_slice(&status)?;
    assert_eq!(json["filesystem"], "gomodfs");
    let (_, dirs) = server.libnfs().ls_recursive("cache/download/example.com")?;
    assert!(dirs.iter().any(|d| d == "alpha/@v"), "{dirs:?}");
    server.process.stop().expect("gomodfs exits cleanly");
    Ok(())
}

#[test]
fn a_directory_of_ten_thousand_entries_lists_completely() -> Result<(), Box<dyn std::error::Error>>
{
    require_libnfs_tools();
    const N: usize = 10_000;
    let mut spec = ModuleSpec::new("example.com/wide", "v1.0.0");
    for i in 0..N {
        spec = spec.file(format!("many/f{i:05}.go"), "package many\n");
    }
    let proxy = TestProxy::start_with([spec])?;
    let server = NfsServer::on_fresh_store(&proxy.url(), &[]);
    // libnfs lists with READDIRPLUS pages.
    let (files, _) = server
        .libnfs()
        .ls_recursive("example.com/wide@v1.0.0/many")?;
    let expect: Vec<String> = (0..N).map(|i| format!("f{i:05}.go")).collect();
    assert_eq!(files, expect, "every name once");

    // And page by page with nfs3_client: each page resumes where the last
    // one ended, every name once, in order.
    let mut c = gomodfs_testkit::nfs::Client::connect(server.port, "/");
    let (dir, _) = c.walk("example.com/wide@v1.0.0/many").unwrap();
    let (entries, pages) = c.list(&dir, 16 * 1024).unwrap();
    let names: Vec<String> = entries.into_iter().map(|e| e.name).collect();
    assert_eq!(names, expect);
    assert!(pages >= 20, "{pages} pages of at most 16 KiB");
    server.process.stop().expect("gomodfs exits cleanly");
    Ok(())
}
