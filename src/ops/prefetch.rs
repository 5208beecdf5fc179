//! `gomodfs prefetch [PATH…]`: fetch every module version the projects at
//! PATH need into the store, in parallel, with progress and a summary.
//! Also the step before a WebDAV mount by clients that find names only by
//! listing (rclone, davfs2): a listing shows only what is stored.

use super::modlist::{self, Wanted};
use super::progress::Progress;
use crate::{Error, Settings};
use gomodfs_core::ModFs;
use gomodfs_core::fs::WarmEntry;
use gomodfs_core::store::{GitStore, MetaFile, Store};
use parking_lot::Mutex;

/// Options of `gomodfs prefetch` (besides the store and upstream ones).
#[derive(Debug, Clone, clap::Args)]
pub struct PrefetchArgs {
    /// Projects: a directory with go.sum, a go.mod, a go.sum, or `-` for
    /// `go list -m -json all` output on stdin (default: the current
    /// directory).
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,
    /// Modules fetched at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub jobs: usize,
    // `--remote URL` (the fleet tier) belongs here: after the fetches, make
    // sure the remote holds every module too (see `run`).
}

/// How one module version ended.
#[derive(Debug)]
enum Outcome {
    /// Fetched from upstream: its bytes.
    Fetched(u64),
    /// The store already held it.
    Stored,
}

/// The summary of a prefetch.
#[derive(Debug, Default)]
pub struct PrefetchReport {
    /// Module versions fetched from upstream.
    pub fetched: usize,
    /// Their bytes (files, or the go.mod of a go.mod-only version).
    pub bytes: u64,
    /// Already stored.
    pub stored: usize,
    /// Failures: module version and reason.
    pub failed: Vec<(String, String)>,
}

/// Fetches `wanted` into `fs`'s store (`store` tells what it holds) with
/// `jobs` at once, reporting progress.
pub fn prefetch(fs: &ModFs, store: &GitStore, wanted: &[Wanted], jobs: usize) -> PrefetchReport {
    let progress = Progress::new("modules", wanted.len() as u64, false);
    let report = Mutex::new(PrefetchReport::default());
    super::for_each_parallel(
        wanted,
        jobs,
        |w| fetch_one(fs, store, w),
        |w, result| {
            let mut r = report.lock();
            match result {
                Ok(Outcome::Fetched(bytes)) => {
                    r.fetched += 1;
                    r.bytes += bytes;
                    drop(r);
                    progress.item_done(bytes);
                }
                Ok(Outcome::Stored) => {
                    r.stored += 1;
                    drop(r);
                    progress.item_done(0);
                }
                Err(e) => {
                    let name = w.module.to_string();
                    let cause = super::cause_after(&name, &e).to_owned();
                    let line = format!("failed: {name}: {cause}");
                    r.failed.push((name, cause));
                    drop(r);
                    progress.println(&line);
                    progress.item_done(0);
                }
            }
        },
    );
    progress.finish();
    let mut report = report.into_inner();
    report.failed.sort();
    report
}

/// Fetches one module version (or only its go.mod) unless it is stored.
/// A whole module is checked against its go.sum hash, if given: `go`
/// would refuse it (`SECURITY ERROR`), so it counts as failed.
fn fetch_one(fs: &ModFs, store: &GitStore, w: &Wanted) -> Result<Outcome, String> {
    let err = |e: gomodfs_core::Error| e.to_string();
    if w.zip {
        let (module, outcome) = match store.module(&w.module).map_err(err)? {
            Some(m) => (m, Outcome::Stored),
            None => {
                let m = fs.module(&w.module).map_err(err)?;
                let bytes = m.files.iter().map(|f| f.size).sum();
                (m, Outcome::Fetched(bytes))
            }
        };
        match &w.h1 {
            Some(h1) if *h1 != module.ziphash => Err(format!(
                "its files hash to {}, but go.sum says {h1} (go would refuse it)",
                module.ziphash
            )),
            _ => Ok(outcome),
        }
    } else {
        if store.meta(&w.module, MetaFile::Mod).map_err(err)?.is_some() {
            return Ok(Outcome::Stored);
        }
        let data = fs.meta(&w.module, MetaFile::Mod).map_err(err)?;
        Ok(Outcome::Fetched(data.len() as u64))
    }
}

/// Runs `gomodfs prefetch`: true when every module version is stored.
pub fn run(settings: &Settings, args: &PrefetchArgs) -> Result<bool, Error> {
    let paths = if args.paths.is_empty() {
        vec![".".to_owned()]
    } else {
        args.paths.clone()
    };
    let wanted = modlist::collect(&paths)?;
    let fs = crate::open(settings)?;
    let dir = super::store_dir(settings.store.as_deref())?;
    let store = GitStore::open(&dir)?;
    let modules = wanted.iter().filter(|w| w.zip).count();
    eprintln!(
        "prefetch: {} module versions ({modules} whole, {} go.mod only)",
        wanted.len(),
        wanted.len() - modules
    );
    let report = prefetch(&fs, &store, &wanted, args.jobs.max(1));
    // New refs are not fsynced one by one: what the summary reports stored
    // is on disk when the command exits.
    store.sync_to_disk()?;
    crate::flush_uploads(&fs, settings.flush_timeout);
    // With `--remote`: push what the remote lacks here, and count its
    // failures like fetch failures.
    println!(
        "prefetch: {} fetched ({}), {} already stored, {} failed",
        report.fetched,
        super::human_bytes(report.bytes),
        report.stored,
        report.failed.len()
    );
    for (module, why) in &report.failed {
        println!("failed: {module}: {why}");
    }
    if settings.warm_start {
        write_warm_list(&dir, &wanted, &report);
    }
    Ok(report.failed.is_empty())
}

/// Puts the module versions prefetched (or found stored) in front of the
/// store's warm list, so the next mount preloads them (the warm start;
/// where jobs start from a store prefetched into an image, no mount ever
/// leaves a list of its own).
fn write_warm_list(dir: &std::path::Path, wanted: &[Wanted], report: &PrefetchReport) {
    let failed: std::collections::HashSet<&str> =
        report.failed.iter().map(|(m, _)| m.as_str()).collect();
    let entries: Vec<WarmEntry> = wanted
        .iter()
        .filter(|w| !failed.contains(w.module.to_string().as_str()))
        .map(|w| super::warm_entry(w.module.clone(), w.zip))
        .collect();
    super::put_in_warm_list(dir, &entries);
}
