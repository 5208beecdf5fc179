//! `gomodfs fsck [--repair]`: check every stored module, report problems
//! with module and version, and with `--repair` drop the broken modules so
//! that they are fetched again on next use.

use super::progress::Progress;
use crate::Error;
use gomodfs_core::store::GitStore;
use gomodfs_core::store::git::{FsckModule, FsckProblem};
use parking_lot::Mutex;
use std::path::PathBuf;

/// Options of `gomodfs fsck`.
#[derive(Debug, Clone, clap::Args)]
pub struct FsckArgs {
    /// Store directory (default: $GOMODFS_STORE, else ~/.cache/gomodfs).
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Drop every broken module (its refs), so that it is fetched again,
    /// whole and fresh, the next time it is read.
    #[arg(long)]
    pub repair: bool,
    /// Modules checked at once (default: the number of cores, 2 to 8).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Log every operation (debug level); RUST_LOG overrides.
    #[arg(short, long)]
    pub verbose: bool,
}

/// What [`check`] found.
#[derive(Debug, Default)]
pub struct FsckReport {
    /// Complete modules checked.
    pub modules: usize,
    /// `.info`/`.mod` files stored alone, checked.
    pub metas: usize,
    /// Files read.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Every problem, sorted by ref name.
    pub problems: Vec<FsckProblem>,
    /// Modules dropped by `--repair`.
    pub dropped: usize,
}

/// Checks every ref and module of `store` with `jobs` threads, printing
/// each problem as it is found; with `repair`, drops each broken module.
pub fn check(store: &GitStore, repair: bool, jobs: usize) -> Result<FsckReport, Error> {
    let refs = store.fsck_refs()?;
    let total = (refs.modules.len() + refs.metas.len()) as u64;
    let progress = Progress::new("modules", total, false);
    for p in &refs.problems {
        progress.println(&format!("damaged: {p}"));
    }
    let report = Mutex::new(FsckReport {
        modules: refs.modules.len(),
        metas: refs.metas.len(),
        problems: refs.problems.clone(),
        ..Default::default()
    });
    let found = |problem: FsckProblem| {
        progress.println(&format!("damaged: {problem}"));
        report.lock().problems.push(problem);
    };
    super::for_each_parallel(
        &refs.modules,
        jobs,
        |m| store.fsck_module(m),
        |_, result| match result {
            Ok(FsckModule { files, bytes }) => {
                let mut r = report.lock();
                r.files += files;
                r.bytes += bytes;
                drop(r);
                progress.item_done(bytes);
            }
            Err(problem) => {
                found(problem);
                progress.item_done(0);
            }
        },
    );
    super::for_each_parallel(
        &refs.metas,
        jobs,
        |(file, m)| store.fsck_meta(*file, m),
        |_, result| {
            if let Err(problem) = result {
                found(problem);
            }
            progress.item_done(0);
        },
    );
    progress.finish();
    let mut report = report.into_inner();
    report.problems.sort_by(|a, b| a.ref_name.cmp(&b.ref_name));
    if repair {
        let mut broken: Vec<_> = report
            .problems
            .iter()
            .filter_map(|p| p.module.clone())
            .collect();
        broken.sort();
        broken.dedup();
        for module in broken {
            store.drop_module(&module)?;
            eprintln!("dropped {module}: it is fetched again when next read");
            report.dropped += 1;
        }
    }
    Ok(report)
}

/// Runs `gomodfs fsck`: returns true when the store is sound (or every
/// broken module was dropped with `--repair`).
pub fn run(args: &FsckArgs) -> Result<bool, Error> {
    let store = super::open_existing_store(args.store.as_deref())?;
    let report = check(
        &store,
        args.repair,
        args.jobs.unwrap_or_else(super::default_jobs),
    )?;
    let unrepairable = report
        .problems
        .iter()
        .filter(|p| p.module.is_none())
        .count();
    println!(
        "checked {} modules and {} proxy files ({} files, {}): {} problems{}",
        report.modules,
        report.metas,
        report.files,
        super::human_bytes(report.bytes),
        report.problems.len(),
        if args.repair {
            format!(", {} modules dropped", report.dropped)
        } else {
            String::new()
        }
    );
    if unrepairable > 0 {
        println!(
            "{unrepairable} refs name no module version: remove them by hand (git --git-dir={} update-ref -d REF)",
            store.dir().display()
        );
    }
    Ok(report.problems.is_empty() || (args.repair && unrepairable == 0))
}
