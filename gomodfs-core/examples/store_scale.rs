//! How opening a git store and listing directories outside module trees
//! grow with the number of stored module versions.
//!
//! Generates a store of small synthetic modules straight through the store
//! API (no network, no FUSE), then times, each a few times:
//! `GitStore::open`, `Store::list`, `Store::usage`, building a [`ModFs`]
//! over it, and listing the mount root, `cache/download/github.com`, one owner's directory and one
//! module's `@v` directory through the node API (what a FUSE or NFS
//! READDIR asks).
//!
//! ```text
//! cargo run --release -p gomodfs-core --example store_scale -- \
//!     [--modules 2000] [--partial 2000] [--dir DIR] [--runs 5]
//! ```
//!
//! `--partial` adds that many versions stored as `.info`/`.mod` only, as
//! a real graph has (go.mod-only versions). With `--dir`, an existing store
//! of the same size is reused (generating 2,000 modules takes a while).

use bytes::Bytes;
use gomodfs_core::store::{GitStore, MetaFile, ModuleContents};
use gomodfs_core::{ModFs, ModFsOptions, ModuleVersion, Store};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Command-line settings.
struct Args {
    modules: usize,
    partial: usize,
    dir: Option<PathBuf>,
    runs: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        modules: 2000,
        partial: 2000,
        dir: None,
        runs: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--modules" => args.modules = number()?,
            "--partial" => args.partial = number()?,
            "--runs" => args.runs = number()?.max(1),
            "--dir" => args.dir = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

/// The `i`th synthetic module path: spread over owners under github.com,
/// as in a real graph, plus a few other hosts.
fn module_path(i: usize) -> String {
    match i % 10 {
        0 => format!("golang.org/x/m{}", i / 10),
        1 => format!("go.example.org/p{}/v2", i / 10),
        _ => format!("github.com/owner{}/repo{}", i % 97, i),
    }
}

fn contents(path: &str, version: &str, i: usize) -> ModuleContents {
    let files = (0..4)
        .map(|f| {
            (
                format!("pkg{f}/file{f}.go"),
                Bytes::from(format!(
                    "package pkg{f}\n\n// {path}@{version} file {f} ({i})\n"
                )),
            )
        })
        .chain(std::iter::once((
            "go.mod".to_owned(),
            Bytes::from(format!("module {path}\n\ngo 1.21\n")),
        )))
        .collect();
    ModuleContents {
        info: Bytes::from(format!(
            "{{\"Version\":\"{version}\",\"Time\":\"2024-01-02T03:04:05Z\"}}"
        )),
        go_mod: Bytes::from(format!("module {path}\n\ngo 1.21\n")),
        ziphash: format!("h1:{i:043}="),
        files,
    }
}

fn generate(store: &GitStore, modules: usize, partial: usize) -> gomodfs_core::Result<()> {
    let start = Instant::now();
    for i in 0..modules {
        let path = module_path(i);
        let version = format!("v1.{}.0", i % 7);
        let mv = ModuleVersion::new(&path, &version)?;
        store.put_module(&mv, &contents(&path, &version, i))?;
        if (i + 1) % 500 == 0 {
            eprintln!("  {} modules in {:.1?}", i + 1, start.elapsed());
        }
    }
    for i in 0..partial {
        // Older versions of the same paths, go.mod only.
        let path = module_path(i % modules.max(1));
        let version = format!("v0.{i}.0");
        let mv = ModuleVersion::new(&path, &version)?;
        let go_mod = Bytes::from(format!("module {path}\n\ngo 1.18\n"));
        store.put_meta(&mv, MetaFile::Mod, &go_mod)?;
        store.put_meta(&mv, MetaFile::Info, &Bytes::from_static(b"{}"))?;
    }
    store.compact()?;
    eprintln!(
        "generated {modules} modules and {partial} go.mod-only versions in {:.1?}",
        start.elapsed()
    );
    Ok(())
}

/// Median, min and max of `runs` timings of `f`, in milliseconds.
fn time<T>(
    runs: usize,
    f: impl FnMut() -> gomodfs_core::Result<T>,
) -> gomodfs_core::Result<(f64, f64, f64)> {
    time_apart(runs, Duration::ZERO, f)
}

/// Like [`time`], pausing `pause` after each run (for work a run leaves
/// running in the background, which the next run should not compete with).
fn time_apart<T>(
    runs: usize,
    pause: Duration,
    mut f: impl FnMut() -> gomodfs_core::Result<T>,
) -> gomodfs_core::Result<(f64, f64, f64)> {
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    f()?; // warm-up
    for _ in 0..runs {
        std::thread::sleep(pause);
        let start = Instant::now();
        f()?;
        times.push(start.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok((
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().join("store")
        }
    };
    let store = GitStore::open(&dir)?;
    let stored = store.list()?.len();
    if stored != args.modules + args.partial {
        if stored != 0 {
            return Err(format!(
                "{} holds {stored} module versions, not {}: use an empty or matching --dir",
                dir.display(),
                args.modules + args.partial
            )
            .into());
        }
        generate(&store, args.modules, args.partial)?;
    }
    drop(store);

    let report = |what: &str, (med, min, max): (f64, f64, f64)| {
        println!("| {what} | {med:.1} ms ({min:.1}-{max:.1}) |");
    };
    println!(
        "store: {} complete module versions, {} go.mod-only; median of {} runs (min-max)",
        args.modules, args.partial, args.runs
    );
    println!("| operation | time |\n| --- | --- |");
    report(
        "`GitStore::open`",
        time(args.runs, || GitStore::open(&dir))?,
    );
    // What every listing outside module trees cost before `Store::children`.
    let store = GitStore::open(&dir)?;
    report(
        "`Store::list` (every ref)",
        time(args.runs, || store.list())?,
    );
    report(
        "`Store::usage` (the status file)",
        time(args.runs, || store.usage())?,
    );
    drop(store);
    let fs_over = || -> gomodfs_core::Result<ModFs> {
        let store: Arc<dyn Store> = Arc::new(GitStore::open(&dir)?);
        ModFs::new(store, None, ModFsOptions::default())
    };
    report("open + `ModFs::new`", time(args.runs, fs_over)?);
    let owner = "github.com/owner5";
    let one = module_path(5);
    for (what, path) in [
        ("list the mount root", String::new()),
        (
            "list `cache/download/github.com`",
            "cache/download/github.com".to_owned(),
        ),
        (
            "list `cache/download/github.com/owner5`",
            format!("cache/download/{owner}"),
        ),
        ("list one module's `@v`", format!("cache/download/{one}/@v")),
        ("list `github.com/owner5` (module trees)", owner.to_owned()),
    ] {
        // A fresh ModFs each run: nothing cached from the run before. A
        // fresh ModFs measures the store's usage in the background at the
        // first status (a root listing): runs of the root are spaced so
        // that one run's measurement does not slow the next.
        let pause = if path.is_empty() {
            Duration::from_millis(500)
        } else {
            Duration::ZERO
        };
        let t = time_apart(args.runs, pause, || {
            let fs = fs_over()?;
            let dir = fs.resolve(&path)?;
            fs.readdir_plus(dir.id)
        });
        report(&format!("open + {what}"), t?);
        let fs = fs_over()?;
        let dir = fs.resolve(&path)?;
        let entries = fs.readdir_plus(dir.id)?.len();
        report(
            &format!("{what} ({entries} entries), mounted"),
            time(args.runs, || fs.readdir_plus(dir.id))?,
        );
        if path.is_empty() {
            // Listing the root snapshots the status (the size of
            // `.gomodfs-status`).
            report(
                "status snapshot (`ModFs::status_json`), mounted",
                time(args.runs, || Ok(fs.status_json()))?,
            );
            // Let the last background measurement end before the next rows.
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    Ok(())
}
