//! `gomodfs prefetch`: fills a store from a project's go.sum (or `go list
//! -m -json all`) so that an `--offline` mount builds the project; plain
//! progress lines when not on a terminal; a module that fails is named and
//! makes the exit status 1.

mod common;

use common::Mounted;
use gomodfs_testkit::{Fault, GoCmd, TestProxy, standard_fixture};
use std::path::Path;
use std::process::{Command, Stdio};

/// `gomodfs prefetch --store STORE --proxy URL EXTRA...` with stderr not a
/// terminal: (exit code, stdout, stderr).
fn prefetch(
    store: &Path,
    upstream: &[&str],
    extra: &[&str],
    stdin: Option<&[u8]>,
) -> (Option<i32>, String, String) {
    let mut child = Command::new(common::gomodfs_bin())
        .arg("prefetch")
        .arg("--store")
        .arg(store)
        .args(["--fetch-timeout", "2"])
        .args(upstream)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gomodfs prefetch");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("wait for gomodfs prefetch");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Builds the project in `work` through an offline mount of `store`.
fn build_offline(store: &Path, work: &Path) {
    let offline = Mounted::new(store, None);
    let gocache = tempfile::tempdir().expect("gocache");
    let built = GoCmd::new(work)
        .expect("go")
        .gomodcache(offline.path())
        .gocache(gocache.path())
        .goproxy("off")
        .goflags("-mod=mod")
        .run(&["build", "./..."]);
    offline.unmount();
    built.expect("the project builds from the prefetched store alone");
}

#[test]
fn prefetch_then_an_offline_mount_builds_the_project() -> Result<(), Box<dyn std::error::Error>> {
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone())?;
    let work = tempfile::tempdir()?;
    let go_sum = fx.go_sum_via_go(&proxy.url(), work.path())?;
    let whole = go_sum.lines().filter(|l| !l.contains("/go.mod ")).count();
    let versions = go_sum
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .map(|l| l.trim_end_matches("/go.mod").to_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    proxy.reset_log();
    let store = tempfile::tempdir()?;
    let url = proxy.url();
    let (code, stdout, stderr) = prefetch(
        store.path(),
        // The hermetic proxy has no checksum database (tests/sumdb.rs
        // covers verification).
        &["--proxy", &url, "--gosumdb", "off"],
        &[&work.path().to_string_lossy()],
        None,
    );
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    // Not a terminal: plain lines, no bar drawing.
    assert!(
        stderr.contains(&format!(
            "prefetch: {versions} module versions ({whole} whole"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{versions}/{versions} modules, ")),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}'),
        "{stderr:?}"
    );
    assert!(
        stdout.contains(&format!("prefetch: {versions} fetched ("))
            && stdout.contains(", 0 already stored, 0 failed"),
        "{stdout}"
    );
    assert_eq!(proxy.requests(".zip"), whole, "one download per module");
    proxy.stop();

    // The store's warm list names what was prefetched (so the first mount
    // of a store prefetched into an image preloads it), and a mount
    // preloads all of it.
    common::assert_first_mount_preloads(store.path(), whole, versions - whole);

    build_offline(store.path(), work.path());

    // Again, offline: everything is stored already.
    let (code, stdout, stderr) = prefetch(
        store.path(),
        &["--offline"],
        &[&work.path().join("go.mod").to_string_lossy()],
        None,
    );
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "0 fetched (0 B), {versions} already stored, 0 failed"
        )),
        "{stdout}"
    );
    Ok(())
}

#[test]
fn prefetch_reads_go_list_json_on_stdin() -> Result<(), Box<dyn std::error::Error>> {
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone())?;
    let work = tempfile::tempdir()?;
    fx.go_sum_via_go(&proxy.url(), work.path())?;
    let modcache = tempfile::tempdir()?;
    let listed = GoCmd::new(work.path())?
        .goproxy(proxy.url())
        .gomodcache(modcache.path())
        .goflags("-mod=mod -modcacherw")
        .run(&["list", "-m", "-json", "all"])?;
    let store = tempfile::tempdir()?;
    let url = proxy.url();
    let (code, stdout, stderr) = prefetch(
        store.path(),
        // The hermetic proxy has no checksum database (tests/sumdb.rs
        // covers verification).
        &["--proxy", &url, "--gosumdb", "off"],
        &["-"],
        Some(listed.stdout.as_bytes()),
    );
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(", 0 failed"), "{stdout}");
    proxy.stop();
    build_offline(store.path(), work.path());
    Ok(())
}

#[test]
fn a_failing_module_is_named_and_the_exit_status_is_1() -> Result<(), Box<dyn std::error::Error>> {
    let fx = standard_fixture();
    let proxy = TestProxy::start_with(fx.modules.clone())?;
    let work = tempfile::tempdir()?;
    let go_sum = fx.go_sum_via_go(&proxy.url(), work.path())?;
    // One module the proxy does not have, one whose zip fails, one whose
    // go.sum hash is not what the proxy serves.
    let fake = "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let tampered: String = go_sum
        .lines()
        .map(|l| match l.strip_prefix("example.com/alpha v1.0.0 h1:") {
            Some(_) => format!("example.com/alpha v1.0.0 {fake}\n"),
            None => format!("{l}\n"),
        })
        .collect();
    assert_ne!(tampered, go_sum, "alpha's line in go.sum");
    std::fs::write(
        work.path().join("go.sum"),
        format!("{tampered}example.com/missing v1.0.0 {fake}\n"),
    )?;
    proxy.set_fault("example.com/deep", "v1.0.0", "zip", Fault::Status(500));
    let store = tempfile::tempdir()?;
    let url = proxy.url();
    let (code, stdout, stderr) = prefetch(
        store.path(),
        // The hermetic proxy has no checksum database (tests/sumdb.rs
        // covers verification).
        &["--proxy", &url, "--gosumdb", "off"],
        &[&work.path().join("go.sum").to_string_lossy()],
        None,
    );
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains(", 3 failed"), "{stdout}");
    assert!(
        stdout.contains("failed: example.com/alpha@v1.0.0: its files hash to h1:"),
        "{stdout}"
    );
    for name in [
        "example.com/missing@v1.0.0",
        "example.com/deep@v1.0.0",
        "example.com/alpha@v1.0.0",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("failed: {name}: ")))
            .unwrap_or_else(|| panic!("no failure line for {name}:\n{stdout}"));
        assert!(line.len() > name.len() + 12, "a reason: {line}");
        assert_eq!(
            line.matches(name).count(),
            1,
            "the module named once: {line}"
        );
    }
    assert!(
        stderr.contains("failed: example.com/missing@v1.0.0"),
        "{stderr}"
    );
    // The warm list names what was prefetched, not what failed.
    let list = std::fs::read_to_string(store.path().join("gomodfs-warm"))?;
    for failed in [
        "example.com/missing ",
        "example.com/deep ",
        "example.com/alpha ",
    ] {
        assert!(!list.contains(failed), "{failed}in:\n{list}");
    }
    assert!(list.contains("tree example.com/beta "), "{list}");
    Ok(())
}

#[test]
#[ignore = "needs the Go module proxy (network); run with --include-ignored"]
fn prefetch_of_realapp_then_an_offline_mount_builds_it() -> Result<(), Box<dyn std::error::Error>> {
    let work = tempfile::tempdir()?;
    for file in ["go.mod", "go.sum", "main.go"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("testdata/realapp")
                .join(file),
            work.path().join(file),
        )?;
    }
    let store = tempfile::tempdir()?;
    let proxy =
        std::env::var("GOMODFS_REAL_PROXY").unwrap_or_else(|_| "https://proxy.golang.org".into());
    let (code, stdout, stderr) = prefetch(
        store.path(),
        &["--proxy", &proxy],
        &[&work.path().to_string_lossy()],
        None,
    );
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(", 0 failed"), "{stdout}");
    build_offline(store.path(), work.path());
    Ok(())
}
