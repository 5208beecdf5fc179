//! `gomodfs import DIR`: ingest an existing GOMODCACHE into the store.
//!
//! Every module version in `DIR/cache/download` is validated exactly like
//! an upstream download: `.info` and `.mod` as `go` checks a proxy's
//! answers, the zip (or, where the zip is gone, the extracted tree
//! `DIR/<module>@<version>`, zipped in memory) by the same extraction that
//! checks every upstream zip, and the `h1:` hash it yields must equal the
//! cache's `.ziphash`. A module that fails is reported and skipped.

use super::progress::Progress;
use crate::Error;
use gomodfs_core::modpath::ModuleVersion;
use gomodfs_core::modzip::{self, Limits};
use gomodfs_core::proxy::{ProxyFile, check_answer};
use gomodfs_core::store::{GitStore, MetaFile, ModuleContents, Store};
use parking_lot::Mutex;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Options of `gomodfs import`.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// The GOMODCACHE to import (read only; nothing in it is changed).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Store directory (default: $GOMODFS_STORE, else ~/.cache/gomodfs).
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Modules imported at once (default: the number of cores, 2 to 8).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Log every operation (debug level); RUST_LOG overrides.
    #[arg(short, long)]
    pub verbose: bool,
}

/// One module version found in a GOMODCACHE.
#[derive(Debug, Clone)]
struct Found {
    module: ModuleVersion,
    /// Its `cache/download/<module>/@v` directory.
    download: PathBuf,
    /// The extracted tree `DIR/<module>@<version>`, if it is there.
    tree: Option<PathBuf>,
}

impl Found {
    /// `cache/download/<module>/@v/<version>.<ext>`.
    fn file(&self, ext: &str) -> PathBuf {
        self.download
            .join(format!("{}.{ext}", self.module.escaped_version()))
    }

    /// The contents of `<version>.<ext>`, `None` if there is none.
    fn read(&self, ext: &str) -> Result<Option<Vec<u8>>, String> {
        match std::fs::read(self.file(ext)) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("reading {}: {e}", self.file(ext).display())),
        }
    }
}

/// How one module version ended.
enum Imported {
    /// Stored: its bytes.
    Module(u64),
    /// Only its `.mod` (and `.info`) were in the cache: stored alone.
    Meta(u64),
    /// The store already held it.
    Stored,
}

/// The module versions of the GOMODCACHE at `dir`, sorted.
fn scan(dir: &Path) -> Result<Vec<Found>, Error> {
    let download = dir.join("cache").join("download");
    if !download.is_dir() {
        return Err(Error::Usage(format!(
            "{} is not a GOMODCACHE (no cache/download directory)",
            dir.display()
        )));
    }
    let mut found = Vec::new();
    let mut stack = vec![(download.clone(), String::new())];
    while let Some((d, rel)) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| Error::Io {
            context: format!("listing {}", d.display()),
            source,
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            // Not following symbolic links: a loop would never end.
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if !is_dir || (rel.is_empty() && name == "sumdb") {
                continue;
            }
            if name == "@v" {
                found.extend(versions_in(dir, &path, &rel));
            } else {
                let child = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                stack.push((path, child));
            }
        }
    }
    found.sort_by(|a, b| a.module.cmp(&b.module));
    Ok(found)
}

/// The versions in one `@v` directory of module `escaped_path`.
fn versions_in(cache: &Path, at_v: &Path, escaped_path: &str) -> Vec<Found> {
    let mut versions: Vec<String> = std::fs::read_dir(at_v)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            [".zip", ".mod", ".info"]
                .iter()
                .find_map(|ext| name.strip_suffix(ext).map(str::to_owned))
        })
        .collect();
    versions.sort();
    versions.dedup();
    versions
        .into_iter()
        .filter_map(|v| {
            let module = ModuleVersion::from_escaped(escaped_path, &v)
                .map_err(
                    |e| tracing::warn!(dir = %at_v.display(), version = %v, error = %e, "skipping"),
                )
                .ok()?;
            let tree = cache.join(format!("{escaped_path}@{v}"));
            Some(Found {
                module,
                download: at_v.to_owned(),
                tree: tree.is_dir().then_some(tree),
            })
        })
        .collect()
}

/// A proxy file of `found`, checked as `go` checks a proxy's answer.
fn checked(found: &Found, file: ProxyFile) -> Result<Option<bytes::Bytes>, String> {
    let Some(data) = found.read(file.extension())? else {
        return Ok(None);
    };
    check_answer(&found.module, file, &data).map_err(|why| format!("{file}: {why}"))?;
    Ok(Some(bytes::Bytes::from(data)))
}

/// Validates and stores one module version.
fn import_one(store: &GitStore, found: &Found, limits: &Limits) -> Result<Imported, String> {
    let mv = &found.module;
    let err = |e: gomodfs_core::Error| e.to_string();
    if store.module(mv).map_err(err)?.is_some() {
        return Ok(Imported::Stored);
    }
    let info = checked(found, ProxyFile::Info)?;
    let go_mod = checked(found, ProxyFile::Mod)?;
    let from_zip = found.read("zip")?;
    let had_zip = from_zip.is_some();
    let zip = match from_zip {
        Some(zip) => Some(zip),
        None => match &found.tree {
            Some(tree) => Some(zip_tree(mv, tree)?),
            None => None,
        },
    };
    let Some(zip) = zip else {
        // Only in the module graph: its .mod (and .info) alone.
        if store.meta(mv, MetaFile::Mod).map_err(err)?.is_some() {
            return Ok(Imported::Stored);
        }
        let mut bytes = 0;
        for (file, data) in [(MetaFile::Mod, go_mod), (MetaFile::Info, info)] {
            if let Some(data) = data {
                bytes += data.len() as u64;
                store.put_meta(mv, file, &data).map_err(err)?;
            }
        }
        return Ok(Imported::Meta(bytes));
    };
    let (Some(info), Some(go_mod)) = (info, go_mod) else {
        return Err("the cache has no .info or .mod for it".into());
    };
    let extracted = modzip::extract(mv, &zip, limits).map_err(err)?;
    let recorded = found.read("ziphash")?;
    let recorded = recorded
        .as_deref()
        .map(|r| String::from_utf8_lossy(r).trim().to_owned());
    match recorded {
        Some(r) if r == extracted.ziphash => {}
        Some(r) => {
            return Err(format!(
                "its files hash to {}, but the cache's .ziphash says {r} (changed after go \
                 verified it): skipped",
                extracted.ziphash
            ));
        }
        None if !had_zip => {
            return Err("an extracted tree without a .ziphash cannot be checked: skipped".into());
        }
        None => {}
    }
    let bytes = extracted.files.iter().map(|(_, d)| d.len() as u64).sum();
    let contents = ModuleContents {
        info,
        go_mod,
        ziphash: extracted.ziphash,
        files: extracted.files,
    };
    store.put_module(mv, &contents).map_err(err)?;
    Ok(Imported::Module(bytes))
}

/// The files of an extracted module tree as a module zip (stored, not
/// compressed), so that it is checked exactly like a downloaded one.
fn zip_tree(mv: &ModuleVersion, tree: &Path) -> Result<Vec<u8>, String> {
    let mut files = Vec::new();
    let mut stack = vec![(tree.to_owned(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
            let name = entry
                .file_name()
                .into_string()
                .map_err(|n| format!("{}: a file name that is not UTF-8: {n:?}", dir.display()))?;
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let kind = entry.file_type().map_err(|e| format!("{child}: {e}"))?;
            if kind.is_dir() {
                stack.push((entry.path(), child));
            } else if kind.is_file() {
                files.push((child, entry.path()));
            } else {
                return Err(format!("{child}: not a regular file"));
            }
        }
    }
    files.sort();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    for (rel, path) in files {
        let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        w.start_file(format!("{mv}/{rel}"), options)
            .and_then(|()| w.write_all(&data).map_err(zip::result::ZipError::from))
            .map_err(|e| format!("{rel}: {e}"))?;
    }
    w.finish()
        .map(std::io::Cursor::into_inner)
        .map_err(|e| e.to_string())
}

/// The summary of an import.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Module versions stored whole.
    pub modules: usize,
    /// Versions of which only `.mod`/`.info` were in the cache, stored alone.
    pub metas: usize,
    /// Bytes of files stored.
    pub bytes: u64,
    /// Already in the store.
    pub stored: usize,
    /// Skipped: module version and why.
    pub skipped: Vec<(String, String)>,
}

/// Imports the GOMODCACHE at `dir` into `store`, `jobs` modules at once.
pub fn import(store: &GitStore, dir: &Path, jobs: usize) -> Result<ImportReport, Error> {
    let found = scan(dir)?;
    eprintln!(
        "import: {} module versions in {}",
        found.len(),
        dir.display()
    );
    let progress = Progress::new("modules", found.len() as u64, false);
    let limits = Limits::default();
    let report = Mutex::new(ImportReport::default());
    super::for_each_parallel(
        &found,
        jobs,
        |f| import_one(store, f, &limits),
        |f, result| {
            let mut r = report.lock();
            let bytes = match result {
                Ok(Imported::Module(bytes)) => {
                    r.modules += 1;
                    bytes
                }
                Ok(Imported::Meta(bytes)) => {
                    r.metas += 1;
                    bytes
                }
                Ok(Imported::Stored) => {
                    r.stored += 1;
                    0
                }
                Err(why) => {
                    let name = f.module.to_string();
                    progress.println(&format!("skipped: {name}: {why}"));
                    r.skipped.push((name, why));
                    0
                }
            };
            r.bytes += bytes;
            drop(r);
            progress.item_done(bytes);
        },
    );
    progress.finish();
    let mut report = report.into_inner();
    report.skipped.sort();
    Ok(report)
}

/// Runs `gomodfs import`: true when nothing was skipped.
pub fn run(args: &ImportArgs) -> Result<bool, Error> {
    let store = GitStore::open(&super::store_dir(args.store.as_deref())?)?;
    let report = import(
        &store,
        &args.dir,
        args.jobs.unwrap_or_else(super::default_jobs),
    )?;
    println!(
        "import: {} modules ({}) and {} go.mod-only versions stored, {} already stored, {} skipped",
        report.modules,
        super::human_bytes(report.bytes),
        report.metas,
        report.stored,
        report.skipped.len()
    );
    for (module, why) in &report.skipped {
        println!("skipped: {module}: {why}");
    }
    Ok(report.skipped.is_empty())
}
