//! Test support for gomodfs, shared by the integration tests of every
//! crate. Independent of gomodfs-core unless the `seed` feature is on.
//!
//! - [`ModuleSpec`]: one module version (`.info`, `.mod`, a deterministic
//!   `.zip`), with an independent h1 oracle ([`ModuleSpec::h1`]).
//! - [`Hostile`]: hostile module zips (path traversal, duplicates, case
//!   collisions, symlinks, bombs, lying sizes, ...) as raw bytes, written by
//!   [`rawzip`], a tiny zip writer that writes whatever it is told.
//! - [`TestProxy`]: an in-process GOPROXY server on `127.0.0.1` with request
//!   counting and per-file [`Fault`] injection.
//! - [`standard_fixture`]: modules plus a main module that the real `go` can
//!   build, test and verify.
//! - [`GoCmd`]: runs the real `go` with a clean, explicit environment.
//! - [`process`]: the one launcher of background processes (`gomodfs
//!   mount`, `gomodfs serve`, `rclone mount`): arguments, environment, a
//!   log file, readiness (a mount, a logged address), SIGTERM, SIGKILL.
//! - `nfs` (feature `nfs`): a blocking NFSv3 client, raw RPC records and
//!   the libnfs command-line tools.
//! - `seed` (feature `seed`): modules put straight into a gomodfs-core
//!   store; `gated` (same feature): a memory store whose puts can be held
//!   shut or made to fail.
//! - `seaweed` (feature `s3`): a real S3-compatible object store
//!   (SeaweedFS) on 127.0.0.1, for the fleet-tier tests.
//!
//! A typical integration test:
//!
//! ```no_run
//! use gomodfs_testkit::{standard_fixture, GoCmd, TestProxy};
//! # fn main() -> Result<(), gomodfs_testkit::TestkitError> {
//! let fx = standard_fixture();
//! let proxy = TestProxy::start_with(fx.modules.clone())?;
//! let work = tempfile::tempdir().map_err(|e| gomodfs_testkit::TestkitError::io("tempdir", e))?;
//! // go.sum from the real go (hashes not computed by our own code):
//! fx.go_sum_via_go(&proxy.url(), work.path())?;
//! // ... mount gomodfs at `mnt` with GOPROXY=<proxy.url()> ...
//! # let mnt = std::path::PathBuf::from("/mnt");
//! GoCmd::new(work.path())?
//!     .gomodcache(&mnt)
//!     .goproxy("off")
//!     .run(&["build", "./..."])?;
//! proxy.stop(); // later reads must come from the store alone
//! # Ok(()) }
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod fixture;
#[cfg(feature = "seed")]
pub mod gated;
pub mod gocmd;
pub mod hostile;
pub mod module;
#[cfg(feature = "nfs")]
pub mod nfs;
pub mod process;
pub mod proxy;
pub mod rawzip;
#[cfg(feature = "s3")]
pub mod seaweed;
#[cfg(feature = "seed")]
pub mod seed;
#[cfg(feature = "sumdb")]
pub mod sumdb;

pub use fixture::{Fixture, standard_fixture};
pub use gocmd::{GoCmd, GoOutput, find_go};
pub use hostile::{Hostile, add_failing_modules};
pub use module::{ModuleSpec, escape, h1_hash, unescape, zip_h1};
pub use proxy::{Fault, RequestRecord, TestProxy};

use std::time::Duration;

/// Errors of the testkit.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The `go` command is not installed (tests that need it must fail).
    #[error("the `go` command was not found: {0}")]
    GoNotFound(String),
    /// `go` exited with an error.
    #[error(
        "{command} failed with exit code {code:?}\n--- stderr:\n{stderr}\n--- stdout:\n{stdout}"
    )]
    GoFailed {
        /// The command line, working directory and key environment.
        command: String,
        /// The exit code (`None`: killed by a signal).
        code: Option<i32>,
        /// Its standard output.
        stdout: String,
        /// Its standard error.
        stderr: String,
    },
    /// `go` ran longer than its time limit and was killed.
    #[error("{command} timed out after {timeout:?}\n--- stderr:\n{stderr}")]
    GoTimeout {
        /// The command line, working directory and key environment.
        command: String,
        /// The limit.
        timeout: Duration,
        /// Its standard error up to then.
        stderr: String,
    },
    /// A fixture or setup invariant does not hold.
    #[error("{0}")]
    Invalid(String),
}

impl TestkitError {
    /// An [`TestkitError::Io`] with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> TestkitError {
        TestkitError::Io {
            context: context.into(),
            source,
        }
    }
}

/// The testkit's result type.
pub type Result<T, E = TestkitError> = std::result::Result<T, E>;
