//! `gomodfs cacheprog`, the GOCACHEPROG helper, driven by the real `go`:
//! hits are counted in the helper's own counters and checked against what
//! go did (`go build -x` runs no compiler on a real hit), the directory is
//! checked object by object (every object hashes to its name).

mod cacheprog_support;
mod common;

use cacheprog_support::*;
use gomodfs::cacheprog::counters::sum_dir;
use gomodfs::core::stats::BuildCacheCounters;
use gomodfs_testkit::GoCmd;
use std::path::{Path, PathBuf};

#[test]
fn second_build_with_an_empty_gocache_is_all_hits_and_the_same_binary() -> TestResult {
    let (work, dir) = setup("hello")?;

    let first = Run::new(work.path(), dir.path(), &[])?;
    first.go.run(&["build", "-o", "app1", "."])?;
    let cold = first.counters();
    assert!(cold.puts > 50, "the cold build stored little: {cold:?}");
    assert_eq!(cold.errors, 0, "{cold:?}");

    let second = Run::new(work.path(), dir.path(), &[])?;
    let out = second.go.run(&["build", "-x", "-o", "app2", "."])?;
    let warm = second.counters();
    assert!(
        hit_rate(&warm) >= 0.95,
        "second build: only {:.1}% hits: {warm:?}",
        100.0 * hit_rate(&warm)
    );
    // Real hits: go used what it got (a bad DiskPath makes it rebuild
    // silently, which would show here as compiles and puts).
    assert_eq!(
        compiles(&out.stderr),
        0,
        "go compiled again:\n{}",
        out.stderr
    );
    assert!(
        warm.puts * 20 <= cold.puts,
        "second build stored again: {warm:?}"
    );
    assert_same_binary(&work.path().join("app1"), &work.path().join("app2"));
    check_dir(dir.path());

    // go test: the second run with an empty GOCACHE reports (cached).
    go_in(work.path(), dir.path(), &[], &["test", "./..."])?;
    let again = Run::new(work.path(), dir.path(), &[])?;
    let out = again.go.run(&["test", "./..."])?;
    assert!(out.stdout.contains("(cached)"), "{}", out.stdout);
    Ok(())
}

#[test]
fn read_only_reads_the_shared_directory_and_never_changes_it() -> TestResult {
    let (work, dir) = setup("trusted")?;
    go_in(
        work.path(),
        dir.path(),
        &[],
        &["build", "-o", "trusted", "."],
    )?;
    let before = check_dir(dir.path());
    let listing = |d: &Path| -> Vec<PathBuf> {
        let mut all = Vec::new();
        let mut stack = vec![d.to_owned()];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
                all.push(e.path());
                if e.path().is_dir() {
                    stack.push(e.path());
                }
            }
        }
        all.sort();
        all
    };
    let names_before = listing(dir.path());

    // An "untrusted" change: what it compiles must not reach the directory.
    write_std_app(work.path(), "untrusted")?;
    let ro = Run::new(work.path(), dir.path(), &["--read-only"])?;
    ro.go.run(&["build", "-o", "untrusted", "."])?;
    let c = ro.counters();
    assert!(c.puts > 0, "the changed package was not stored: {c:?}");
    assert!(
        c.hits > 50,
        "the read-only build did not use the cache: {c:?}"
    );
    let run = std::process::Command::new(work.path().join("untrusted")).output()?;
    assert!(String::from_utf8_lossy(&run.stdout).contains("untrusted"));
    // go test through a read-only helper: its own puts are readable
    // within the process (the test binary is built, put and run).
    let ro = Run::new(work.path(), dir.path(), &["--read-only"])?;
    ro.go.run(&["test", "./..."])?;

    assert_eq!(check_dir(dir.path()), before, "objects or entries changed");
    assert_eq!(listing(dir.path()), names_before, "files were added");

    // And what the trusted build gets is still the trusted program.
    write_std_app(work.path(), "trusted")?;
    go_in(
        work.path(),
        dir.path(),
        &[],
        &["build", "-o", "trusted2", "."],
    )?;
    assert_same_binary(&work.path().join("trusted"), &work.path().join("trusted2"));
    Ok(())
}

#[test]
fn killed_helper_fails_the_build_clearly_and_leaves_no_torn_object() -> TestResult {
    let (work, dir) = setup("kill")?;
    let run = Run::new(work.path(), dir.path(), &[])?;
    let stats = run.stats.path().to_owned();
    let out = std::thread::scope(|s| -> Result<_, Box<dyn std::error::Error>> {
        let build = s.spawn(|| run.go.output(&["build", "-o", "app", "."]));
        // The helper reports to <stats>/<pid>.json: kill it (SIGKILL) once
        // it has stored a few objects, in the middle of the build.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        let mut killed = None;
        while killed.is_none() && std::time::Instant::now() < deadline && !build.is_finished() {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let Some(c) = sum_dir(&stats) else { continue };
            if c.puts < 20 {
                continue;
            }
            for e in std::fs::read_dir(&stats)?.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_suffix(".json") {
                    std::process::Command::new("kill")
                        .args(["-KILL", pid])
                        .status()?;
                    killed = Some(pid.to_owned());
                }
            }
        }
        let out = build.join().map_err(|_| "build thread panicked")??;
        assert!(
            killed.is_some(),
            "the build ended before the helper was killed"
        );
        Ok(out)
    })?;
    assert!(!out.success(), "go succeeded without its cache helper");
    assert!(
        out.stderr.contains("GOCACHEPROG"),
        "go's message does not name GOCACHEPROG:\n{}",
        out.stderr
    );
    // No torn object under a final name, and the next build works.
    check_dir(dir.path());
    let next = Run::new(work.path(), dir.path(), &[])?;
    next.go.run(&["build", "-o", "app", "."])?;
    let ran = std::process::Command::new(work.path().join("app")).output()?;
    assert!(String::from_utf8_lossy(&ran.stdout).contains("kill"));
    assert!(next.counters().hits > 0, "{:?}", next.counters());
    check_dir(dir.path());
    Ok(())
}

#[test]
fn parallel_builds_and_two_go_commands_share_one_directory() -> TestResult {
    let dir = tempfile::tempdir()?;
    let works = [tempfile::tempdir()?, tempfile::tempdir()?];
    for w in &works {
        write_std_app(w.path(), "twice")?;
    }
    let runs = [
        Run::new(works[0].path(), dir.path(), &[])?,
        Run::new(works[1].path(), dir.path(), &[])?,
    ];
    let outs = std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .iter()
            .map(|r| s.spawn(|| r.go.run(&["build", "-p", "8", "-o", "app", "."])))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| "build thread panicked"))
            .collect::<Result<Vec<_>, _>>()
    })?;
    for out in outs {
        out?;
    }
    for r in &runs {
        assert_eq!(r.counters().errors, 0, "{:?}", r.counters());
    }
    check_dir(dir.path());
    let third = Run::new(works[0].path(), dir.path(), &[])?;
    let out = third
        .go
        .run(&["build", "-x", "-p", "8", "-o", "app3", "."])?;
    assert!(
        hit_rate(&third.counters()) >= 0.95,
        "{:?}",
        third.counters()
    );
    assert_eq!(compiles(&out.stderr), 0, "{}", out.stderr);
    assert_same_binary(&works[0].path().join("app"), &works[0].path().join("app3"));
    Ok(())
}

/// `gomodfs exec` with the standard fixture's modules: GOMODCACHE and
/// GOCACHEPROG from one line.
fn exec(
    store: &Path,
    proxy: &str,
    work: &Path,
    gocache: &Path,
    extra: &[&str],
    cmd: &[&str],
) -> std::process::Command {
    let mut c = common::exec_command(store, proxy, work, extra, cmd);
    c.env("GOCACHE", gocache);
    c
}

#[test]
fn exec_sets_gocacheprog_and_reports_the_counters() -> TestResult {
    common::require_fuse();
    let fx = gomodfs_testkit::standard_fixture();
    let proxy = gomodfs_testkit::TestProxy::start_with(fx.modules.clone())?;
    let work = tempfile::tempdir()?;
    fx.go_sum_via_go(&proxy.url(), work.path())?;
    let store = tempfile::tempdir()?;

    // First job: a cold build; the build cache lands in <store>/gocache,
    // and the status file shows the helper's counters while the mount runs.
    let gocache = tempfile::tempdir()?;
    let script = "go build -o app . && cat \"$GOMODCACHE/.gomodfs-status\" && echo \"GOCACHEPROG=$GOCACHEPROG\"";
    let out = exec(
        store.path(),
        &proxy.url(),
        work.path(),
        gocache.path(),
        &[],
        &["sh", "-c", script],
    )
    .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("\"build_cache\""),
        "no build_cache in the status:\n{stdout}"
    );
    assert!(
        stdout.contains("GOCACHEPROG=") && stdout.contains(" cacheprog --dir "),
        "{stdout}"
    );
    assert!(stderr.contains("gomodfs: build cache: "), "{stderr}");
    assert!(store.path().join("gocache").join("o").is_dir());

    // Second job on a fresh GOCACHE: everything from the build cache.
    let gocache = tempfile::tempdir()?;
    let out = exec(
        store.path(),
        &proxy.url(),
        work.path(),
        gocache.path(),
        &[],
        &["go", "build", "-x", "-o", "app2", "."],
    )
    .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(compiles(&stderr), 0, "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("gomodfs: build cache: "))
        .ok_or("no build cache summary")?;
    assert!(
        line.contains(" misses") && !line.contains(" 0 hits"),
        "{line}"
    );
    assert_same_binary(&work.path().join("app"), &work.path().join("app2"));

    // --no-build-cache leaves GOCACHEPROG unset.
    let out = exec(
        store.path(),
        &proxy.url(),
        work.path(),
        gocache.path(),
        &["--no-build-cache"],
        &["sh", "-c", "test -z \"$GOCACHEPROG\""],
    )
    .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[test]
#[ignore = "needs the Go module proxy (network) for testdata/realapp's modules; run with --include-ignored"]
fn realapp_second_build_is_all_hits_and_the_same_binary() -> TestResult {
    let work = tempfile::tempdir()?;
    for f in ["go.mod", "go.sum", "main.go"] {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/realapp")
            .join(f);
        std::fs::copy(src, work.path().join(f))?;
    }
    let modcache = tempfile::tempdir()?;
    let proxy =
        std::env::var("GOMODFS_REAL_PROXY").unwrap_or_else(|_| "https://proxy.golang.org".into());
    GoCmd::new(work.path())?
        .gomodcache(modcache.path())
        .goproxy(proxy)
        .timeout(std::time::Duration::from_secs(900))
        .run(&["mod", "download"])?;
    let dir = tempfile::tempdir()?;
    let build = |out: &str| -> Result<(BuildCacheCounters, String), Box<dyn std::error::Error>> {
        let mut run = Run::new(work.path(), dir.path(), &[])?;
        run.go = run.go.gomodcache(modcache.path());
        let o = run.go.run(&["build", "-x", "-o", out, "."])?;
        Ok((run.counters(), o.stderr))
    };
    let (cold, _) = build("app1")?;
    assert!(cold.puts > 100, "{cold:?}");
    let (warm, stderr) = build("app2")?;
    assert!(hit_rate(&warm) >= 0.95, "{warm:?}");
    assert_eq!(compiles(&stderr), 0, "{stderr}");
    assert_same_binary(&work.path().join("app1"), &work.path().join("app2"));
    check_dir(dir.path());
    Ok(())
}
