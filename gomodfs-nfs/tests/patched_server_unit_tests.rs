//! The unit tests of the patched `nfs3_server` (third_party/nfs3_server:
//! its duplicate-request tracker, the connection's record parsing, the
//! room-at-the-cap choice and `admit`), which `cargo test --workspace`
//! does not run: the fork is outside the workspace (it keeps upstream's
//! lints and layout), and cargo tests a package outside the workspace
//! only from its own directory. This runs them there, in a target
//! directory of its own under this workspace's, with the dependency
//! versions of the workspace's Cargo.lock.

use std::path::Path;
use std::process::Command;

#[test]
fn the_patched_nfs3_server_passes_its_own_unit_tests() {
    let fork = Path::new(env!("CARGO_MANIFEST_DIR")).join("../third_party/nfs3_server");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nfs3_server");
    // The versions the workspace pins (cargo adds the fork's dev-only
    // dependencies and drops the rest), not whatever crates.io has today.
    let workspace_lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    std::fs::copy(&workspace_lock, fork.join("Cargo.lock"))
        .unwrap_or_else(|e| panic!("copying {}: {e}", workspace_lock.display()));
    let out = Command::new(env!("CARGO"))
        .args(["test", "--all-features", "--target-dir"])
        .arg(&target)
        .current_dir(&fork)
        .output()
        .unwrap_or_else(|e| panic!("running cargo test in {}: {e}", fork.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo test in {} failed ({}):\n{stdout}\n{stderr}",
        fork.display(),
        out.status
    );
    // The run must have run tests, not found none.
    let passed: usize = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|rest| rest.split(' ').next()?.parse::<usize>().ok())
        .sum();
    eprintln!("nfs3_server: {passed} unit tests passed");
    assert!(passed >= 25, "only {passed} unit tests ran:\n{stdout}");
}
