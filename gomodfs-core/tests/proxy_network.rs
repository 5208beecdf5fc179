//! Fetches from the real Go module proxy over TLS (ignored by default: it
//! needs the network). Run with `cargo test --test proxy_network -- --ignored`.
#![allow(clippy::unwrap_used)]

use gomodfs_core::proxy::{ProxyFile, Upstream, UpstreamConfig};
use gomodfs_core::{Error, ModuleVersion};

#[tokio::test]
#[ignore = "needs the Go module proxy (network)"]
async fn fetches_uuid_from_proxy_golang_org() {
    let up = Upstream::new(UpstreamConfig::with_proxy("https://proxy.golang.org/")).unwrap();
    let mv = ModuleVersion::new("github.com/google/uuid", "v1.6.0").unwrap();

    let info = up.fetch(&mv, ProxyFile::Info).await.unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info).unwrap();
    assert_eq!(info["Version"], "v1.6.0");

    let gomod = up.fetch(&mv, ProxyFile::Mod).await.unwrap();
    assert!(
        gomod.starts_with(b"module github.com/google/uuid"),
        "{gomod:?}"
    );

    let zip = up.fetch(&mv, ProxyFile::Zip).await.unwrap();
    assert!(zip.starts_with(b"PK\x03\x04"));
    assert!(zip.len() > 10_000, "zip is {} bytes", zip.len());

    // An upper-case path is escaped in the URL.
    let toml = ModuleVersion::new("github.com/BurntSushi/toml", "v1.3.2").unwrap();
    let gomod = up.fetch(&toml, ProxyFile::Mod).await.unwrap();
    assert!(gomod.starts_with(b"module github.com/BurntSushi/toml"));

    // A version that does not exist: the real proxy answers 404/410, which
    // is a not-found, also through the default list ending in "direct".
    // (A filtering egress proxy in front of it may answer 403 instead, which
    // go, too, treats as an error and not as not-found.)
    let missing = ModuleVersion::new("github.com/google/uuid", "v0.0.99").unwrap();
    let default = Upstream::new(UpstreamConfig::default()).unwrap();
    match default.fetch(&missing, ProxyFile::Mod).await {
        Err(err @ Error::ModuleNotFound { .. }) => eprintln!("not found as expected: {err}"),
        Err(err @ Error::Upstream { .. }) if err.to_string().contains("403") => {
            eprintln!("the network in between answers 403: {err}")
        }
        other => panic!("unexpected: {other:?}"),
    }

    let stats = up.stats();
    assert_eq!(stats.errors, 0, "{stats:?}");
    assert_eq!(stats.requests, 4, "{stats:?}");
    assert_eq!(stats.retries, 0, "{stats:?}");
}
