//! `gomodfs gc`: remove the least recently used modules (`--max-size`)
//! and/or those unused for a while (`--unused-for`), then reclaim their
//! space, safely while other gomodfs processes serve the same store.

use super::human_bytes;
use super::units::{parse_duration, parse_size};
use crate::Error;
use gomodfs_core::store::git::{GcOptions, GcReport};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Options of `gomodfs gc`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["max_size", "unused_for"])))]
pub struct GcArgs {
    /// Store directory (default: $GOMODFS_STORE, else ~/.cache/gomodfs).
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Remove the least recently used modules until the store takes at
    /// most SIZE (500M, 10G, ...).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// Remove modules not used for DURATION (30d, 12h, ...; last use is
    /// known to within a day).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub unused_for: Option<Duration>,
    /// Keep removed modules readable for DURATION, for processes that have
    /// them open; their space is reclaimed by the first gc after that.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1h")]
    pub grace: Duration,
    /// Print what would be removed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Log every operation (debug level); RUST_LOG overrides.
    #[arg(short, long)]
    pub verbose: bool,
}

/// Runs `gomodfs gc`; true when done.
pub fn run(args: &GcArgs) -> Result<bool, Error> {
    let store = super::open_existing_store(args.store.as_deref())?;
    let report = store.gc(&GcOptions {
        max_size: args.max_size,
        unused_for: args.unused_for,
        grace: args.grace,
        dry_run: args.dry_run,
    })?;
    if !args.dry_run && !report.removed.is_empty() {
        forget_warm_files(&super::store_dir(args.store.as_deref())?);
    }
    print_report(&report, args);
    Ok(true)
}

/// Removes the store's warm files (a cache of file contents, see
/// `gomodfs_core::fs::WarmFiles`), which may hold files of the modules gc
/// removed; the next mount writes them again.
fn forget_warm_files(dir: &std::path::Path) {
    let path = gomodfs_core::fs::warm_files_path(&crate::warm_list_path(dir));
    match std::fs::remove_file(&path) {
        Ok(()) => tracing::debug!(file = %path.display(), "gc: removed the warm files"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "gc: cannot remove the warm files")
        }
    }
}

/// Prints each removed module and the summary.
fn print_report(report: &GcReport, args: &GcArgs) {
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let now = SystemTime::now();
    for v in &report.removed {
        let age = v
            .last_used
            .and_then(|t| now.duration_since(t).ok())
            .map_or("unknown".to_owned(), |d| {
                format!("{} days ago", d.as_secs() / 86400)
            });
        println!("{verb} {} (last used {age})", v.module);
    }
    if report.in_use > 0 {
        println!(
            "{} modules not removed: used or stored within the grace period ({}s)",
            report.in_use,
            args.grace.as_secs()
        );
    }
    if args.dry_run {
        println!(
            "dry run: would remove {} of {} modules; {} now, about {} after (once the grace period is over); nothing changed",
            report.removed.len(),
            report.modules_before,
            human_bytes(report.bytes_before),
            human_bytes(report.bytes_after_grace),
        );
        return;
    }
    println!(
        "removed {} of {} modules; {} before, {} after ({} old packs deleted)",
        report.removed.len(),
        report.modules_before,
        human_bytes(report.bytes_before),
        human_bytes(report.bytes_after),
        report.packs_deleted,
    );
    if report.in_grace > 0 {
        println!(
            "{} removed modules stay readable for the grace period ({}s); the first gc after it reclaims about {} more",
            report.in_grace,
            args.grace.as_secs(),
            human_bytes(report.bytes_after.saturating_sub(report.bytes_after_grace)),
        );
    }
}
