//! The build cache's remote tier on a real S3 server (SeaweedFS): "hosts"
//! (each its own cacheprog directory and an empty GOCACHE) sharing one
//! bucket, with the real `go`; a large object through the protocol with
//! bounded memory; `gomodfs exec --remote` giving the helper the bucket.

mod cacheprog_support;
mod common;
mod fleet_support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cacheprog_support::*;
use sha2::{Digest, Sha256};
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

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

/// The bucket keys of the actions a cacheprog directory holds (one object
/// per action: `gocache/ao/<ActionID hex>`), its objects checked.
fn keys_of(dir: &Path) -> Vec<String> {
    check_dir(dir)
        .into_keys()
        .filter_map(|rel| {
            let top = rel.components().next()?.as_os_str().to_str()?.to_owned();
            let name = rel.file_name()?.to_str()?.to_owned();
            (top == "a").then(|| format!("gocache/ao/{name}"))
        })
        .collect()
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

    // Poison, under their valid keys, objects both builds need: the same
    // header and size, wrong body bytes (20 of them: go does not get every
    // entry it put).
    let shared_actions: Vec<&String> = local_keys
        .iter()
        .filter(|k| trusted_keys.contains(*k))
        .take(20)
        .collect();
    assert!(!shared_actions.is_empty(), "the builds share no action");
    for victim in shared_actions {
        let good = rt.block_on(remote.get(victim))?.ok_or("victim missing")?;
        let header = good.iter().position(|&b| b == b'\n').ok_or("no header")? + 1;
        let mut poison = good[..header].to_vec();
        poison.resize(good.len(), b'!');
        let poison = bytes::Bytes::from(poison);
        let mut poisoned = false;
        for _ in 0..50 {
            rt.block_on(remote.delete(victim))?;
            rt.block_on(remote.put_if_absent(victim, poison.clone()))?;
            if rt.block_on(remote.get(victim))?.as_ref() == Some(&poison) {
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

/// A helper process spoken to directly, the way go speaks to it.
struct Helper {
    child: Child,
    stdin: ChildStdin,
    stdout: std::io::BufReader<ChildStdout>,
}

impl Helper {
    fn start(
        s3: &gomodfs_testkit::seaweed::SeaweedFs,
        dir: &Path,
        url: &str,
    ) -> Result<Helper, Box<dyn std::error::Error>> {
        let mut child = Command::new(common::gomodfs_bin())
            .args(["cacheprog", "--dir"])
            .arg(dir)
            .args(["--remote", url, "--flush-timeout", "300"])
            .envs(s3.env())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut helper = Helper {
            child,
            stdin,
            stdout,
        };
        let hello = helper.reply()?;
        assert!(hello["KnownCommands"].is_array(), "{hello}");
        Ok(helper)
    }

    fn reply(&mut self) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        Ok(serde_json::from_str(&line)?)
    }

    /// The helper's peak resident memory so far (VmHWM), in bytes.
    fn peak_rss(&self) -> Result<u64, Box<dyn std::error::Error>> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or("no VmHWM")?;
        Ok(kib << 10)
    }

    fn close(mut self) -> TestResult {
        self.stdin
            .write_all(b"{\"ID\":99,\"Command\":\"close\"}\n\n")?;
        self.stdin.flush()?;
        let r = self.reply()?;
        assert_eq!(r["ID"], 99, "{r}");
        assert!(self.child.wait()?.success());
        Ok(())
    }
}

#[test]
fn a_large_object_round_trips_through_the_bucket_in_bounded_memory() -> TestResult {
    const SIZE: usize = 64 << 20;
    let s3 = fleet_support::s3();
    let url = fleet_support::fresh_url("gocache-big");
    let remote = fleet_support::client(&s3, &url);
    let rt = fleet_support::runtime();
    // 64 MiB that do not compress (xorshift).
    let mut body = vec![0u8; SIZE];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for word in body.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        word.copy_from_slice(&x.to_le_bytes());
    }
    let output: [u8; 32] = Sha256::digest(&body).into();
    let action: [u8; 32] = Sha256::digest(url.as_bytes()).into();
    let encoded = STANDARD.encode(&body);
    drop(body);

    // Host A: the put goes to its directory, then to the bucket.
    let a = tempfile::tempdir()?;
    let mut helper = Helper::start(&s3, a.path(), &url)?;
    let baseline = helper.peak_rss()?;
    write!(
        helper.stdin,
        "{{\"ID\":1,\"Command\":\"put\",\"ActionID\":\"{}\",\"OutputID\":\"{}\",\"BodySize\":{SIZE}}}\n\n\"",
        STANDARD.encode(action),
        STANDARD.encode(output)
    )?;
    helper.stdin.write_all(encoded.as_bytes())?;
    helper.stdin.write_all(b"\"\n")?;
    helper.stdin.flush()?;
    drop(encoded);
    let r = helper.reply()?;
    assert!(r["ID"] == 1 && r["Err"].is_null(), "{r}");
    let key = format!("gocache/ao/{}", hex(&action));
    let deadline = Instant::now() + Duration::from_secs(300);
    while rt.block_on(remote.head(&key))?.is_none() {
        assert!(Instant::now() < deadline, "{key} never reached the bucket");
        std::thread::sleep(Duration::from_millis(200));
    }
    let put_peak = helper.peak_rss()?;
    helper.close()?;

    // Host B: a get that misses locally streams it from the bucket.
    let b = tempfile::tempdir()?;
    let mut helper = Helper::start(&s3, b.path(), &url)?;
    write!(
        helper.stdin,
        "{{\"ID\":2,\"Command\":\"get\",\"ActionID\":\"{}\"}}\n\n",
        STANDARD.encode(action)
    )?;
    helper.stdin.flush()?;
    let r = helper.reply()?;
    assert!(r["ID"] == 2 && r["Miss"].is_null(), "not a hit: {r}");
    assert_eq!(r["Size"], SIZE as u64, "{r}");
    assert_eq!(r["OutputID"], STANDARD.encode(output), "{r}");
    let path = r["DiskPath"].as_str().ok_or("no DiskPath")?;
    assert!(path.starts_with(&*b.path().to_string_lossy()), "{path}");
    let got: [u8; 32] = Sha256::digest(std::fs::read(path)?).into();
    assert_eq!(got, output, "the object came back different");
    let get_peak = helper.peak_rss()?;
    helper.close()?;
    eprintln!(
        "peak RSS: {} MiB at start, {} MiB after the put, {} MiB after the get",
        baseline >> 20,
        put_peak >> 20,
        get_peak >> 20
    );
    // Neither held the body whole (nor its base64): what they grew by is a
    // few upload parts (5 MiB each), not the body.
    for (what, peak) in [("put", put_peak), ("get", get_peak)] {
        assert!(
            peak.saturating_sub(baseline) < (SIZE / 3) as u64,
            "the {what} helper grew from {} MiB to {} MiB for a {} MiB body",
            baseline >> 20,
            peak >> 20,
            SIZE >> 20
        );
    }
    check_dir(b.path());
    Ok(())
}

#[test]
fn exec_with_remote_gives_the_build_cache_helper_the_bucket() -> TestResult {
    common::require_fuse();
    let s3 = fleet_support::s3();
    let url = fleet_support::fresh_url("exec-gocache");
    let remote = fleet_support::client(&s3, &url);
    let rt = fleet_support::runtime();
    let fx = gomodfs_testkit::standard_fixture();
    let proxy = gomodfs_testkit::TestProxy::start_with(fx.modules.clone())?;
    let work = tempfile::tempdir()?;
    fx.go_sum_via_go(&proxy.url(), work.path())?;
    let store = tempfile::tempdir()?;
    let gocache = tempfile::tempdir()?;
    let mut exec = common::exec_command(
        store.path(),
        &proxy.url(),
        work.path(),
        &["--remote", &url, "--flush-timeout", "300"],
        &["go", "build", "-o", "app", "."],
    );
    exec.env("GOCACHE", gocache.path());
    for (k, v) in s3.env() {
        exec.env(k, v);
    }
    let out = exec.output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The helper waited for its uploads at close (exec passed it the
    // flush timeout too): every action of the build is in the bucket.
    let keys = keys_of(&store.path().join("gocache"));
    assert!(keys.len() > 10, "the build stored {} actions", keys.len());
    for key in &keys {
        assert!(
            rt.block_on(remote.head(key))?.is_some(),
            "{key} not in the bucket"
        );
    }
    Ok(())
}
