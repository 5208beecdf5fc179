//! A live but hopelessly slow upstream (a drip of one byte now and then)
//! must not hold a reader: the download fails with EIO within the
//! documented bound, (retries + 1) × 2 × --fetch-timeout + the backoffs.

mod common;

use common::errno;
use gomodfs_testkit::{Fault, ModuleSpec, TestProxy};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn a_drip_is_eio_within_the_documented_bound() -> Result<(), Box<dyn std::error::Error>> {
    let path = "example.com/slow/drip";
    // A zip of some KiB: at one byte per 300 ms it would take hours.
    let big: String = (0..4000).map(|i| format!("// line {i}\n")).collect();
    let proxy = TestProxy::start_with([
        ModuleSpec::new(path, "v1.0.0").file("drip.go", format!("package drip\n{big}"))
    ])?;
    proxy.set_fault(
        path,
        "v1.0.0",
        "zip",
        Fault::Drip(Duration::from_millis(300)),
    );
    let store = tempfile::tempdir()?;
    let mnt = tempfile::tempdir()?;
    let logs = tempfile::tempdir()?;
    let log = logs.path().join("gomodfs.log");
    let fetch_timeout = 2;
    let mp = common::start_mount(
        store.path(),
        mnt.path(),
        Some(&proxy.url()),
        &log,
        &["--fetch-timeout", &fetch_timeout.to_string()],
    );
    // The README's bound with the default 3 retries and 0.2+0.4+0.8 s of
    // backoff.
    let bound = Duration::from_secs(4 * 2 * fetch_timeout) + Duration::from_millis(1400);
    let file = mnt.path().join(format!("{path}@v1.0.0/drip.go"));
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        let _ = tx.send(std::fs::read(&file).map(|_| ()));
    });
    // Generous margin for a loaded machine; without the minimum rate the
    // read takes hours.
    let result = rx
        .recv_timeout(bound + Duration::from_secs(15))
        .map_err(|_| format!("the reader was still blocked after {:?}", started.elapsed()))?;
    let elapsed = started.elapsed();
    let err = result.expect_err("a drip must not produce a module");
    assert_eq!(errno(&err), libc::EIO, "want EIO, got {err}");
    assert!(
        elapsed >= Duration::from_secs(fetch_timeout),
        "failed after {elapsed:?}, before a whole window"
    );
    eprintln!("drip failed after {elapsed:?} (bound {bound:?})");
    let text = std::fs::read_to_string(&log)?;
    assert!(
        text.lines()
            .any(|l| l.contains(path) && l.contains("v1.0.0") && l.contains("too slow")),
        "no log line names {path} v1.0.0 and the slowness:\n{text}"
    );
    mp.stop().expect("gomodfs exits cleanly");
    Ok(())
}
