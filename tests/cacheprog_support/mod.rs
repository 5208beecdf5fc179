//! Support for the build cache tests: a hermetic standard-library app,
//! "hosts" running go with `GOCACHEPROG=gomodfs cacheprog`, and checks of
//! a cacheprog directory. Needs `mod common;` beside it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use crate::common::gomodfs_bin;
use gomodfs::cacheprog::counters::sum_dir;
use gomodfs::core::stats::BuildCacheCounters;
use gomodfs_testkit::GoCmd;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A main module of the standard library only (hermetic, no module proxy)
/// that compiles ~150 packages: net/http and friends.
pub fn write_std_app(dir: &Path, greeting: &str) -> std::io::Result<()> {
    std::fs::write(dir.join("go.mod"), "module example.com/stdapp\n\ngo 1.22\n")?;
    std::fs::write(
        dir.join("main.go"),
        format!(
            "package main\n\nimport (\n\t\"encoding/json\"\n\t\"fmt\"\n\t\"net/http\"\n\t\"net/http/httptest\"\n\t\"text/template\"\n\t\"os\"\n)\n\n\
             func greeting() string {{ return {greeting:?} }}\n\n\
             func main() {{\n\tsrv := httptest.NewServer(http.NotFoundHandler())\n\tsrv.Close()\n\
             \tb, _ := json.Marshal(map[string]string{{\"g\": greeting()}})\n\
             \ttemplate.Must(template.New(\"t\").Parse(\"{{{{.}}}}\\n\")).Execute(os.Stdout, string(b))\n\tfmt.Println(\"ok\")\n}}\n"
        ),
    )?;
    std::fs::write(
        dir.join("main_test.go"),
        format!(
            "package main\n\nimport \"testing\"\n\nfunc TestGreeting(t *testing.T) {{\n\tif greeting() != {greeting:?} {{\n\t\tt.Fatal(greeting())\n\t}}\n}}\n"
        ),
    )
}

/// A GOCACHEPROG value running our helper on `dir`, reporting to `stats`.
pub fn gocacheprog(dir: &Path, stats: &Path, extra: &[&str]) -> String {
    let mut words = vec![
        gomodfs_bin().to_string_lossy().into_owned(),
        "cacheprog".into(),
        "--dir".into(),
        dir.to_string_lossy().into_owned(),
        "--stats-dir".into(),
        stats.to_string_lossy().into_owned(),
    ];
    words.extend(extra.iter().map(|s| s.to_string()));
    words.join(" ")
}

/// One "host": a fresh, empty GOCACHE (go still needs one) and the helper.
pub struct Run {
    pub go: GoCmd,
    pub stats: tempfile::TempDir,
    _gocache: tempfile::TempDir,
}

impl Run {
    pub fn new(work: &Path, dir: &Path, extra: &[&str]) -> Result<Run, Box<dyn std::error::Error>> {
        let gocache = tempfile::tempdir()?;
        let stats = tempfile::tempdir()?;
        let go = GoCmd::new(work)?
            .gocache(gocache.path())
            .env("GOCACHEPROG", gocacheprog(dir, stats.path(), extra))
            .timeout(std::time::Duration::from_secs(900));
        Ok(Run {
            go,
            stats,
            _gocache: gocache,
        })
    }

    pub fn counters(&self) -> BuildCacheCounters {
        sum_dir(self.stats.path()).unwrap_or_default()
    }
}

/// Runs `go ARGS` in `work` with the helper on `dir` (EXTRA flags) and a
/// fresh GOCACHE; returns the host (for its counters).
pub fn go_in(
    work: &Path,
    dir: &Path,
    extra: &[&str],
    args: &[&str],
) -> Result<Run, Box<dyn std::error::Error>> {
    let run = Run::new(work, dir, extra)?;
    run.go.run(args)?;
    Ok(run)
}

/// A work directory holding the app (saying `greeting`) and an empty
/// cacheprog directory.
pub fn setup(
    greeting: &str,
) -> Result<(tempfile::TempDir, tempfile::TempDir), Box<dyn std::error::Error>> {
    let work = tempfile::tempdir()?;
    write_std_app(work.path(), greeting)?;
    Ok((work, tempfile::tempdir()?))
}

/// Asserts that two built binaries are the same bytes.
pub fn assert_same_binary(a: &Path, b: &Path) {
    let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(
        read(a) == read(b),
        "{} and {} differ",
        a.display(),
        b.display()
    );
}

/// Compiler runs in `go build -x` output.
pub fn compiles(stderr: &str) -> usize {
    stderr.lines().filter(|l| l.contains("/compile ")).count()
}

pub fn hit_rate(c: &BuildCacheCounters) -> f64 {
    c.hits as f64 / c.gets.max(1) as f64
}

/// Every object in a cacheprog directory, checked: its SHA-256 is its
/// name. Returns (relative path → content hash) of everything under `o/`
/// and `a/`, for comparing directories.
pub fn check_dir(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut files = BTreeMap::new();
    for top in ["o", "a"] {
        let Ok(shards) = std::fs::read_dir(dir.join(top)) else {
            continue;
        };
        for shard in shards.flatten() {
            for f in std::fs::read_dir(shard.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let body = std::fs::read(f.path()).expect("read object");
                let sum = format!("{:x}", Sha256::digest(&body));
                if top == "o" {
                    assert_eq!(
                        f.file_name().to_string_lossy(),
                        sum,
                        "torn or wrong object {}",
                        f.path().display()
                    );
                } else {
                    let entry = String::from_utf8_lossy(&body);
                    let (output, _) = entry.trim_end().split_once(' ').expect("entry");
                    assert_eq!(output.len(), 64, "torn entry {}", f.path().display());
                }
                let rel = f.path().strip_prefix(dir).expect("prefix").to_owned();
                files.insert(rel, sum);
            }
        }
    }
    files
}
