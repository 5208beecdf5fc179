//! Cross-checks [`gomodfs_core::modzip::extract`] against the real `go`:
//! the ziphash of real module zips must equal the `Sum` `go mod download`
//! computes.

use gomodfs_core::ModuleVersion;
use gomodfs_core::modzip::{Limits, extract};
use std::process::Command;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const MODULES: &[(&str, &str)] = &[
    ("golang.org/x/text", "v0.14.0"),
    ("github.com/google/uuid", "v1.6.0"),
    ("gopkg.in/yaml.v3", "v3.0.1"),
    ("github.com/BurntSushi/toml", "v1.3.2"),
    ("github.com/davecgh/go-spew", "v1.1.1"),
];

#[test]
#[ignore = "needs the Go module proxy (network)"]
fn ziphash_matches_go_mod_download() -> TestResult {
    let go = Command::new("go").arg("version").output();
    assert!(
        go.as_ref().is_ok_and(|o| o.status.success()),
        "this test needs the `go` command on PATH: {go:?}"
    );
    let dir = tempfile::tempdir()?;
    let modcache = dir.path().join("modcache");
    let args = MODULES.iter().map(|(p, v)| format!("{p}@{v}"));
    let out = Command::new("go")
        .args(["mod", "download", "-json"])
        .args(args)
        .current_dir(dir.path())
        .env("GOMODCACHE", &modcache)
        .env("GOFLAGS", "-modcacherw")
        .env("GOPROXY", "https://proxy.golang.org")
        .env("GOSUMDB", "off")
        .env("GOTOOLCHAIN", "local")
        .output()?;
    assert!(
        out.status.success(),
        "go mod download failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // `go mod download -json` prints one JSON object per module.
    let stream = serde_json::Deserializer::from_slice(&out.stdout).into_iter::<serde_json::Value>();
    let mut seen = 0;
    for info in stream {
        let info = info?;
        let field = |k: &str| {
            info[k]
                .as_str()
                .map(str::to_owned)
                .ok_or(format!("no {k}: {info}"))
        };
        let (path, version) = (field("Path")?, field("Version")?);
        let module = ModuleVersion::new(&path, &version)?;
        let zip = std::fs::read(field("Zip")?)?;
        let got = extract(&module, &zip, &Limits::default())?;
        assert_eq!(got.ziphash, field("Sum")?, "{module}");
        assert!(!got.files.is_empty(), "{module}");
        seen += 1;
    }
    assert_eq!(seen, MODULES.len());
    Ok(())
}
