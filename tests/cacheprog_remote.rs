//! The build cache's remote tier on a real S3 server (SeaweedFS): "hosts"
//! (each its own cacheprog directory and an empty GOCACHE) sharing one
//! bucket, with the real `go`.

mod cacheprog_support;
mod common;
mod fleet_support;

use cacheprog_support::*;
use std::path::Path;

/// A host: go with `gomodfs cacheprog --dir DIR --remote URL EXTRA...` and
/// the S3 server's credentials.
fn host(
    s3: &gomodfs_testkit::seaweed::SeaweedFs,
    work: &Path,
    dir: &Path,
    url: &str,
    extra: &[&str],
) -> Result<Run, Box<dyn std::error::Error>> {
    // Uploads finish before go is told it may go (the default waits 5 s).
    let mut args = vec!["--remote", url, "--flush-timeout", "300"];
    args.extend_from_slice(extra);
    let mut run = Run::new(work, dir, &args)?;
    for (k, v) in s3.env() {
        run.go = run.go.env(k, v);
    }
    Ok(run)
}

/// Every `a/` and `o/` file of a cacheprog directory, as bucket keys.
fn keys_of(dir: &Path) -> Vec<String> {
    check_dir(dir)
        .into_keys()
        .filter_map(|rel| {
            let top = rel.components().next()?.as_os_str().to_str()?.to_owned();
            let name = rel.file_name()?.to_str()?.to_owned();
            Some(format!("gocache/{top}/{name}"))
        })
        .collect()
}

#[test]
fn a_second_host_builds_from_the_bucket() -> TestResult {
    let s3 = fleet_support::s3();
    let url = fleet_support::fresh_url("gocache");
    let work = tempfile::tempdir()?;
    write_std_app(work.path(), "fleet")?;

    let a = tempfile::tempdir()?;
    let first = host(&s3, work.path(), a.path(), &url, &[])?;
    first.go.run(&["build", "-o", "app1", "."])?;
    let c = first.counters();
    assert!(c.puts > 50 && c.errors == 0, "{c:?}");
    // The helper waits for its uploads at close: everything is there.
    let remote = fleet_support::client(&s3, &url);
    let rt = fleet_support::runtime();
    let keys = keys_of(a.path());
    for key in &keys {
        assert!(
            rt.block_on(remote.head(key))?.is_some(),
            "{key} not uploaded"
        );
    }

    let b = tempfile::tempdir()?;
    let second = host(&s3, work.path(), b.path(), &url, &[])?;
    let out = second.go.run(&["build", "-x", "-o", "app2", "."])?;
    let c = second.counters();
    let remote_rate = c.remote_hits as f64 / c.gets.max(1) as f64;
    assert!(
        remote_rate >= 0.95,
        "only {:.1}% remote hits: {c:?}",
        100.0 * remote_rate
    );
    assert_eq!(compiles(&out.stderr), 0, "{}", out.stderr);
    assert_eq!(c.verify_failures, 0, "{c:?}");
    assert_same_binary(&work.path().join("app1"), &work.path().join("app2"));
    // Host B now has them locally, verified.
    check_dir(b.path());
    Ok(())
}

#[test]
fn read_only_never_writes_the_bucket_and_refuses_a_poisoned_object() -> TestResult {
    let s3 = fleet_support::s3();
    let url = fleet_support::fresh_url("gocache-ro");
    let remote = fleet_support::client(&s3, &url);
    let rt = fleet_support::runtime();
    let work = tempfile::tempdir()?;
    write_std_app(work.path(), "trusted")?;

    // A trusted host fills the bucket.
    let trusted = tempfile::tempdir()?;
    host(&s3, work.path(), trusted.path(), &url, &[])?
        .go
        .run(&["build", "-o", "trusted", "."])?;

    // The untrusted change built on a local-only host first: what it
    // stores, and the binary a clean build gives.
    write_std_app(work.path(), "untrusted")?;
    let local = tempfile::tempdir()?;
    go_in(
        work.path(),
        local.path(),
        &[],
        &["build", "-o", "untrusted-local", "."],
    )?;
    let trusted_keys: std::collections::BTreeSet<String> =
        keys_of(trusted.path()).into_iter().collect();
    let local_keys: std::collections::BTreeSet<String> =
        keys_of(local.path()).into_iter().collect();

    // Poison, under their valid keys, objects both builds need: same
    // size, wrong bytes (20 of them: go does not get every entry it put).
    let shared_actions: Vec<&String> = local_keys
        .iter()
        .filter(|k| k.starts_with("gocache/a/") && trusted_keys.contains(*k))
        .take(20)
        .collect();
    assert!(!shared_actions.is_empty(), "the builds share no action");
    for action in shared_actions {
        let entry = rt.block_on(remote.get(action))?.ok_or("entry missing")?;
        let output = String::from_utf8_lossy(&entry)
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        let victim = format!("gocache/o/{output}");
        let good = rt.block_on(remote.get(&victim))?.ok_or("victim missing")?;
        let poison = bytes::Bytes::from(vec![b'!'; good.len()]);
        let mut poisoned = false;
        for _ in 0..50 {
            rt.block_on(remote.delete(&victim))?;
            rt.block_on(remote.put_if_absent(&victim, poison.clone()))?;
            if rt.block_on(remote.get(&victim))?.as_ref() == Some(&poison) {
                poisoned = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(poisoned, "could not replace {victim} in the bucket");
    }
    let mut before = Vec::new();
    for key in &trusted_keys {
        before.push((key.clone(), rt.block_on(remote.get(key))?));
    }

    // The untrusted change built read-only on a fresh host: everything
    // comes from the bucket except the poisoned object, which is refused.
    let fresh = tempfile::tempdir()?;
    let ro = host(&s3, work.path(), fresh.path(), &url, &["--read-only"])?;
    ro.go.run(&["build", "-o", "untrusted", "."])?;
    let c = ro.counters();
    assert!(
        c.verify_failures >= 1,
        "the poisoned object was not refused: {c:?}"
    );
    assert!(c.remote_hits > 50, "{c:?}");
    let ran = std::process::Command::new(work.path().join("untrusted")).output()?;
    assert!(String::from_utf8_lossy(&ran.stdout).contains("untrusted"));
    assert_same_binary(
        &work.path().join("untrusted"),
        &work.path().join("untrusted-local"),
    );
    assert_eq!(
        std::fs::read_dir(fresh.path())?.count(),
        0,
        "the read-only host wrote into its directory"
    );
    // Nothing the untrusted build stored reached the bucket...
    let mut new_keys = 0;
    for key in local_keys.difference(&trusted_keys) {
        new_keys += 1;
        assert!(
            rt.block_on(remote.head(key))?.is_none(),
            "{key} reached the bucket"
        );
    }
    assert!(new_keys > 0, "the untrusted change stored nothing new");
    // And what was there is byte for byte what was there.
    for (key, bytes) in before {
        assert_eq!(rt.block_on(remote.get(&key))?, bytes, "{key} changed");
    }
    Ok(())
}
