//! A proxy that answers 200 with a body `go` would refuse (an HTML error
//! page as `.info` or `.mod`, the `.info` of another version, a go.mod of
//! another module): the reader gets EIO, the log names module, version and
//! cause in go's words, nothing bad is stored, `go` fails naming the
//! module's `.lock` file (a bad `.info`) or its `.ziphash` (a bad `.mod`)
//! and `gomodfs status` the cause, and once the proxy recovers the good
//! answer is fetched, served, and `go` builds with it.

mod common;

use common::{assert_fsck_strict, errno, git};
use gomodfs_testkit::{Fault, GoCmd, ModuleSpec, TestProxy};
use std::fs;

const HTML: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n\
                    <body><h1>Bad Gateway</h1><p>The upstream is down.</p></body></html>\n";

/// (module, file, bad body, what the log must say)
fn cases() -> Vec<(&'static str, &'static str, Vec<u8>, &'static str)> {
    vec![
        (
            "example.com/bad/htmlinfo",
            "info",
            HTML.into(),
            "invalid response from proxy",
        ),
        (
            "example.com/bad/otherversion",
            "info",
            br#"{"Version":"v9.9.9","Time":"2024-01-02T03:04:05Z"}"#.to_vec(),
            "proxy returned info for version v9.9.9 instead of requested version",
        ),
        (
            "example.com/bad/badtime",
            "info",
            br#"{"Version":"v1.0.0","Time":"last tuesday"}"#.to_vec(),
            "parsing time",
        ),
        (
            "example.com/bad/htmlmod",
            "mod",
            HTML.into(),
            "parsing go.mod: missing module line",
        ),
        (
            "example.com/bad/otherpath",
            "mod",
            b"module example.com/somebody/else\n".to_vec(),
            "module declares its path as: example.com/somebody/else but was required as: example.com/bad/otherpath",
        ),
    ]
}

fn spec(path: &str) -> ModuleSpec {
    let pkg = path.rsplit('/').next().unwrap_or("p");
    ModuleSpec::new(path, "v1.0.0")
        .go_mod(format!(
            "// Deprecated: a comment before the module line.\nmodule {path} // trailing\n\ngo 1.21\n"
        ))
        .file(
            format!("{pkg}.go"),
            format!("package {pkg}\n\nconst Name = \"{pkg}\"\n"),
        )
}

#[test]
fn bad_answers_are_eio_never_stored_and_healed_after_recovery()
-> Result<(), Box<dyn std::error::Error>> {
    let cases = cases();
    let proxy = TestProxy::start_with(cases.iter().map(|(p, ..)| spec(p)))?;
    for (path, ext, body, _) in &cases {
        proxy.set_fault(path, "v1.0.0", ext, Fault::Body(body.clone()));
    }
    let store = tempfile::tempdir()?;
    let mnt = tempfile::tempdir()?;
    let logs = tempfile::tempdir()?;
    let log = logs.path().join("gomodfs.log");
    let mp = common::start_mount(
        store.path(),
        mnt.path(),
        Some(&proxy.url()),
        &log,
        &["--fetch-timeout", "5"],
    );
    let download = |path: &str, ext: &str| {
        mnt.path()
            .join(format!("cache/download/{path}/@v/v1.0.0.{ext}"))
    };

    // While the proxy misbehaves: EIO for the file itself and for the
    // module tree (which needs .info and .mod), twice (nothing is kept).
    for _ in 0..2 {
        for (path, ext, ..) in &cases {
            let err = fs::read(download(path, ext)).expect_err(path);
            assert_eq!(errno(&err), libc::EIO, "{path} .{ext}: want EIO, got {err}");
            let pkg = path.rsplit('/').next().unwrap_or("p");
            let err = fs::read(mnt.path().join(format!("{path}@v1.0.0/{pkg}.go"))).expect_err(path);
            assert_eq!(errno(&err), libc::EIO, "{path} tree: want EIO, got {err}");
        }
    }
    let text = fs::read_to_string(&log)?;
    for (path, ext, _, words) in &cases {
        assert!(
            text.lines()
                .any(|l| l.contains(path) && l.contains("v1.0.0") && l.contains(words)),
            "no log line names {path} v1.0.0 .{ext} and says {words:?}:\n{text}"
        );
    }
    // What a user sees meanwhile (docs/OPERATIONS.md, "When go fails
    // through the mount"): a module whose `.info` fails looks missing, so go
    // tries to download it itself and the read-only mount refuses its lock
    // file; a module whose `.info` is served but whose `.mod` (or zip)
    // fails is there, and go fails reading its `.ziphash`. Either way
    // `gomodfs status` names module, version and cause.
    for (case, says) in [
        (
            0,
            "cache/download/{path}/@v/v1.0.0.lock: read-only file system",
        ),
        (
            3,
            "verifying {path}@v1.0.0: read {mnt}/cache/download/{path}/@v/v1.0.0.ziphash: input/output error",
        ),
    ] {
        let (path, _, _, words) = &cases[case];
        let broken = tempfile::tempdir()?;
        fs::write(
            broken.path().join("go.mod"),
            format!("module example.com/main\n\ngo 1.21\n\nrequire {path} v1.0.0\n"),
        )?;
        fs::write(broken.path().join("go.sum"), spec(path).go_sum_lines())?;
        fs::write(
            broken.path().join("main.go"),
            format!("package main\n\nimport _ \"{path}\"\n\nfunc main() {{}}\n"),
        )?;
        let out = GoCmd::new(broken.path())?
            .gomodcache(mnt.path())
            .goproxy("off")
            .goflags("-mod=mod")
            .output(&["build", "./..."])?;
        let says = says
            .replace("{path}", path)
            .replace("{mnt}", &mnt.path().display().to_string());
        assert!(
            !out.success() && out.stderr.contains(&says),
            "go should fail with {says:?}:\n{}",
            out.stderr
        );
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_gomodfs"))
            .arg("status")
            .arg(mnt.path())
            .output()?;
        let status = String::from_utf8_lossy(&status.stdout);
        assert!(
            status
                .lines()
                .any(|l| l.starts_with(&format!("  {path}@v1.0.0: ")) && l.contains(words)),
            "gomodfs status should name {path}@v1.0.0 and {words:?}:\n{status}"
        );
    }

    let refs = git(store.path(), &["for-each-ref", "--format=%(refname)"]);
    let refs = String::from_utf8_lossy(&refs.stdout).into_owned();
    // Nothing bad is stored, nor any module tree (which needs both the
    // `.info` and the `.mod`); the good one of the two may be.
    for (path, ext, ..) in &cases {
        let leaf = format!("/{}/", path.rsplit('/').next().unwrap_or(path));
        for r in refs.lines().filter(|r| r.contains(&leaf)) {
            let good = if *ext == "info" { "mod" } else { "info" };
            assert!(
                r.starts_with(&format!("refs/gomodfs/{good}/")),
                "{path}: a bad answer (or a tree needing it) was stored: {r}\n{refs}"
            );
        }
    }

    // The proxy recovers: the good answers are fetched and served.
    let before = proxy.total_requests();
    proxy.clear_faults();
    for (path, ext, ..) in &cases {
        let good = spec(path);
        let want = if *ext == "info" {
            good.info_bytes()
        } else {
            good.mod_bytes()
        };
        assert_eq!(fs::read(download(path, ext))?, want, "{path} .{ext}");
    }
    assert!(
        proxy.total_requests() > before,
        "the proxy was not asked again after it recovered"
    );

    // And go builds against them.
    let work = tempfile::tempdir()?;
    let mut go_mod = String::from("module example.com/main\n\ngo 1.21\n\nrequire (\n");
    let mut go_sum = String::new();
    let mut main_go = String::from("package main\n\nimport (\n\t\"fmt\"\n");
    let mut names = Vec::new();
    for (path, ..) in &cases {
        let pkg = path.rsplit('/').next().unwrap_or("p");
        go_mod.push_str(&format!("\t{path} v1.0.0\n"));
        go_sum.push_str(&spec(path).go_sum_lines());
        main_go.push_str(&format!("\t\"{path}\"\n"));
        names.push(format!("{pkg}.Name"));
    }
    go_mod.push_str(")\n");
    main_go.push_str(&format!(
        ")\n\nfunc main() {{ fmt.Println({}) }}\n",
        names.join(", ")
    ));
    fs::write(work.path().join("go.mod"), &go_mod)?;
    fs::write(work.path().join("go.sum"), &go_sum)?;
    fs::write(work.path().join("main.go"), &main_go)?;
    let out = GoCmd::new(work.path())?
        .gomodcache(mnt.path())
        .goproxy("off")
        .goflags("-mod=mod")
        .run(&["run", "."])?;
    assert_eq!(
        out.stdout.trim(),
        "htmlinfo otherversion badtime htmlmod otherpath"
    );

    mp.stop().expect("gomodfs exits cleanly");
    assert_fsck_strict(store.path());
    Ok(())
}
