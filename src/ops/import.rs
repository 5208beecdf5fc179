//! `gomodfs import DIR`: ingest an existing GOMODCACHE into the store.
//!
//! Every module version in `DIR/cache/download` is validated exactly like
//! an upstream download: `.info` and `.mod` as `go` checks a proxy's
//! answers, the zip (or, where the zip is gone, the extracted tree
//! `DIR/<module>@<version>`, zipped into an unnamed temporary file) by the
//! same streaming validation that checks every upstream zip, the `h1:` hash
//! it yields must equal the cache's `.ziphash`, and the module must pass
//! the checksum database (`--gosumdb`, default `$GOSUMDB`) like every
//! download. A module that fails is reported and skipped. Zips are read
//! entry by entry, never whole into memory.

// Doc comments of the argument structs here are `--help` text (clap):
// plain text, not rustdoc markup.
#![allow(
    rustdoc::bare_urls,
    rustdoc::invalid_html_tags,
    rustdoc::broken_intra_doc_links
)]

use super::progress::Progress;
use crate::Error;
use gomodfs_core::fs::WarmEntry;
use gomodfs_core::modpath::ModuleVersion;
use gomodfs_core::modzip::{Limits, ModuleZip};
use gomodfs_core::proxy::{ProxyFile, Upstream, UpstreamConfig, check_answer};
use gomodfs_core::store::{GitStore, MetaFile, Store};
use gomodfs_core::sumdb::{Gate, SumDbConfig};
use parking_lot::Mutex;
use std::io::Seek;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Options of `gomodfs import`.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// The GOMODCACHE to import (read only; nothing in it is changed).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Store directory (default: $GOMODFS_STORE, else ~/.cache/gomodfs).
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Upstream GOPROXY list, through which the checksum database is
    /// reached when the proxy proxies it (default: $GOPROXY, else
    /// https://proxy.golang.org).
    #[arg(long, value_name = "URL[,URL|URL]")]
    pub proxy: Option<String>,
    /// The checksum database every imported module is checked against, as
    /// go's GOSUMDB: "off", a name, or "KEY [URL]" (default: $GOSUMDB,
    /// else sum.golang.org).
    #[arg(long, value_name = "DB")]
    pub gosumdb: Option<String>,
    /// Modules imported at once (default: the number of cores, 2 to 8).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Do not put what was imported in the store's warm list
    /// (<store>/gomodfs-warm), which the next mount preloads.
    #[arg(long, env = "GOMODFS_NO_WARM_START")]
    pub no_warm_start: bool,
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
    /// The store already held it: whole, or its `.mod` alone.
    Stored { whole: bool },
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

/// The checksum-database gate and the runtime its checks run on.
pub struct Checks {
    gate: Gate,
    runtime: tokio::runtime::Runtime,
}

impl Checks {
    /// The gate `GOSUMDB` (or `gosumdb`) asks for, reaching the database
    /// through `proxy` (or `$GOPROXY`), keeping what it verified in
    /// `store_dir/sumdb` as mounts do; `None` for `off`.
    pub fn new(
        store_dir: &Path,
        gosumdb: Option<&str>,
        proxy: Option<&str>,
    ) -> Result<Option<Checks>, Error> {
        let mut sumdb = SumDbConfig::from_env(Some(store_dir.join("sumdb")));
        if let Some(db) = gosumdb {
            sumdb.gosumdb = db.to_owned();
        }
        if sumdb.is_off() {
            tracing::warn!(
                "GOSUMDB=off: modules are imported without checking the checksum database"
            );
            return Ok(None);
        }
        let mut config = UpstreamConfig::from_env();
        if let Some(proxy) = proxy {
            config.goproxy = proxy.to_owned();
        }
        let Some(gate) = Gate::new(&sumdb, Some(Upstream::new(config)?))? else {
            return Ok(None);
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|source| Error::Io {
                context: "starting the runtime for checksum database lookups".into(),
                source,
            })?;
        Ok(Some(Checks { gate, runtime }))
    }

    fn module(&self, mv: &ModuleVersion, ziphash: &str, go_mod: &[u8]) -> Result<(), String> {
        self.runtime
            .block_on(self.gate.check_module(mv, ziphash, go_mod))
            .map_err(|e| e.to_string())
    }

    fn go_mod(&self, mv: &ModuleVersion, go_mod: &[u8]) -> Result<(), String> {
        self.runtime
            .block_on(self.gate.check_go_mod(mv, go_mod))
            .map_err(|e| e.to_string())
    }
}

/// The zip of `found`, opened; `None` if the cache has none.
fn open_zip(found: &Found) -> Result<Option<std::fs::File>, String> {
    let path = found.file("zip");
    match std::fs::File::open(&path) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

/// Validates and stores one module version.
fn import_one(
    store: &GitStore,
    found: &Found,
    limits: &Limits,
    checks: Option<&Checks>,
) -> Result<Imported, String> {
    let mv = &found.module;
    let err = |e: gomodfs_core::Error| e.to_string();
    if store.module(mv).map_err(err)?.is_some() {
        return Ok(Imported::Stored { whole: true });
    }
    let info = checked(found, ProxyFile::Info)?;
    let go_mod = checked(found, ProxyFile::Mod)?;
    let from_zip = open_zip(found)?;
    let had_zip = from_zip.is_some();
    let zip = match from_zip {
        Some(zip) => Some(zip),
        None => match &found.tree {
            Some(tree) => Some(zip_tree(mv, tree, store.dir())?),
            None => None,
        },
    };
    let Some(zip) = zip else {
        // Only in the module graph: its .mod (and .info) alone.
        if store.meta(mv, MetaFile::Mod).map_err(err)?.is_some() {
            return Ok(Imported::Stored { whole: false });
        }
        if let (Some(checks), Some(go_mod)) = (checks, &go_mod) {
            checks.go_mod(mv, go_mod)?;
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
    let zip = ModuleZip::open(mv, zip, limits).map_err(err)?;
    let recorded = found.read("ziphash")?;
    let recorded = recorded
        .as_deref()
        .map(|r| String::from_utf8_lossy(r).trim().to_owned());
    match recorded {
        Some(r) if r == zip.ziphash() => {}
        Some(r) => {
            return Err(format!(
                "its files hash to {}, but the cache's .ziphash says {r} (changed after go \
                 verified it): skipped",
                zip.ziphash()
            ));
        }
        None if !had_zip => {
            return Err("an extracted tree without a .ziphash cannot be checked: skipped".into());
        }
        None => {}
    }
    // Like every download: the checksum database has the last word.
    if let Some(checks) = checks {
        checks.module(mv, zip.ziphash(), &go_mod)?;
    }
    let bytes = zip.files().iter().map(|f| f.size).sum();
    store
        .put_module_zip(mv, &zip, &info, &go_mod, false)
        .map_err(err)?;
    Ok(Imported::Module(bytes))
}

/// The files of an extracted module tree as a module zip (stored, not
/// compressed) in an unnamed temporary file in `scratch`, so that it is
/// checked exactly like a downloaded one.
fn zip_tree(mv: &ModuleVersion, tree: &Path, scratch: &Path) -> Result<std::fs::File, String> {
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
    let file = tempfile::tempfile_in(scratch)
        .map_err(|e| format!("creating a temporary file in {}: {e}", scratch.display()))?;
    let mut w = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    for (rel, path) in files {
        let mut data =
            std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        w.start_file(format!("{mv}/{rel}"), options)
            .map_err(|e| format!("{rel}: {e}"))?;
        std::io::copy(&mut data, &mut w).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let mut file = w.finish().map_err(|e| e.to_string())?;
    file.rewind().map_err(|e| e.to_string())?;
    Ok(file)
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
    /// What the store holds of the versions not skipped, as entries of
    /// the warm list (a tree for a whole module, else its `.mod`), the
    /// most recently downloaded first (by the time of its `.mod` in the
    /// cache).
    pub warm: Vec<WarmEntry>,
}

/// Imports the GOMODCACHE at `dir` into `store`, `jobs` modules at once,
/// each module checked with `checks` (the checksum database) if given.
pub fn import(
    store: &GitStore,
    dir: &Path,
    jobs: usize,
    checks: Option<&Checks>,
) -> Result<ImportReport, Error> {
    let found = scan(dir)?;
    eprintln!(
        "import: {} module versions in {}",
        found.len(),
        dir.display()
    );
    let progress = Progress::new("modules", found.len() as u64, false);
    let limits = Limits::default();
    let report = Mutex::new(ImportReport::default());
    let held = Mutex::new(Vec::new());
    super::for_each_parallel(
        &found,
        jobs,
        |f| import_one(store, f, &limits, checks),
        |f, result| {
            let whole = match &result {
                Ok(Imported::Module(_) | Imported::Stored { whole: true }) => Some(true),
                Ok(Imported::Meta(_) | Imported::Stored { whole: false }) => Some(false),
                Err(_) => None,
            };
            if let Some(whole) = whole {
                let at = downloaded_at(f);
                held.lock().push((at, f.module.clone(), whole));
            }
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
                Ok(Imported::Stored { .. }) => {
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
    report.warm = warm_entries(held.into_inner());
    Ok(report)
}

/// When go downloaded `found`: the time of its `.mod` in the cache (the
/// epoch if it cannot be read).
fn downloaded_at(found: &Found) -> SystemTime {
    std::fs::metadata(found.file("mod"))
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Warm list entries for the versions the store holds, newest first.
fn warm_entries(mut held: Vec<(SystemTime, ModuleVersion, bool)>) -> Vec<WarmEntry> {
    held.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    held.into_iter()
        .map(|(_, module, whole)| super::warm_entry(module, whole))
        .collect()
}

/// Runs `gomodfs import`: true when nothing was skipped.
pub fn run(args: &ImportArgs) -> Result<bool, Error> {
    let dir = super::store_dir(args.store.as_deref())?;
    let store = GitStore::open(&dir)?;
    let checks = Checks::new(&dir, args.gosumdb.as_deref(), args.proxy.as_deref())?;
    let report = import(
        &store,
        &args.dir,
        args.jobs.unwrap_or_else(super::default_jobs),
        checks.as_ref(),
    )?;
    // New refs are not fsynced one by one: what the summary reports stored
    // is on disk when the command exits.
    store.sync_to_disk()?;
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
    if !args.no_warm_start {
        super::put_in_warm_list(&dir, &report.warm);
    }
    Ok(report.skipped.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gomodfs_core::fs::WarmKind;
    use std::time::Duration;

    #[test]
    fn warm_entries_put_the_newest_download_first() {
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let mv = |p: &str| ModuleVersion::new(p, "v1.0.0").unwrap_or_else(|e| panic!("{e}"));
        let entries = warm_entries(vec![
            (at(10), mv("example.com/old"), true),
            (at(30), mv("example.com/new"), false),
            (at(20), mv("example.com/mid"), true),
        ]);
        let got: Vec<_> = entries
            .iter()
            .map(|e| (e.kind, e.module.path().to_owned()))
            .collect();
        assert_eq!(
            got,
            [
                (WarmKind::Meta(MetaFile::Mod), "example.com/new".to_owned()),
                (WarmKind::Tree, "example.com/mid".to_owned()),
                (WarmKind::Tree, "example.com/old".to_owned()),
            ]
        );
    }
}
