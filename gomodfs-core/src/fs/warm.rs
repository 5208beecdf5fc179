//! Warm start: a new process loads, in the background, the module trees
//! and `.info`/`.mod` files that the last processes on the same store
//! served first, so that a build's first touch of each module finds it in
//! memory instead of reading and parsing it from the store while the
//! build waits.
//!
//! Each [`ModFs`] records what it serves, in the order it first serves it
//! ([`ModFs::served`]); [`WarmStart`] keeps that record in a small text
//! file (the *warm list*) beside the store, merged with what the file
//! already lists, and at start preloads what the file lists
//! ([`ModFs::preload`]). The list is a hint: a module it names that is no
//! longer stored is skipped, nothing is ever downloaded for it, and
//! preloading neither counts as a use of a module (`gomodfs gc`'s last-use
//! times) nor goes into the next list.
//!
//! The file, one entry per line after a comment line:
//!
//! ```text
//! # gomodfs warm list v1
//! tree golang.org/x/text v0.21.0
//! mod golang.org/x/net v0.33.0
//! ```

use super::ModFs;
use super::warm_files::{self, WARM_FILES_MAX_BYTES, WarmFiles, warm_files_path};
use crate::modpath::ModuleVersion;
use crate::stats::WarmStartStatus;
use crate::store::MetaFile;
use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, HashSet};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The most entries a warm list (and a process's record) holds: more than
/// the modules of a large project's graph, few enough that preloading all
/// of them stays a fraction of a second of one thread.
pub const WARM_LIST_MAX: usize = 1024;

/// How often [`WarmStart`] writes the record when it grew, so a process
/// that is killed (a CI machine thrown away) has left its list.
pub const SAVE_EVERY: Duration = Duration::from_secs(10);

/// The first line of a warm list file.
const HEADER: &str = "# gomodfs warm list v1";

/// The most bytes of a warm list file read (longer files are cut there).
const FILE_MAX: u64 = 256 << 10;

/// What of a module was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WarmKind {
    /// Its file tree (the module is stored whole).
    Tree,
    /// One of its proxy files, on its own.
    Meta(MetaFile),
}

impl WarmKind {
    fn word(self) -> &'static str {
        match self {
            WarmKind::Tree => "tree",
            WarmKind::Meta(f) => f.extension(),
        }
    }

    fn from_word(word: &str) -> Option<WarmKind> {
        match word {
            "tree" => Some(WarmKind::Tree),
            "info" => Some(WarmKind::Meta(MetaFile::Info)),
            "mod" => Some(WarmKind::Meta(MetaFile::Mod)),
            _ => None,
        }
    }
}

/// One entry of a warm list: what of which module version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WarmEntry {
    /// What was served.
    pub kind: WarmKind,
    /// Of which module version.
    pub module: ModuleVersion,
}

/// What a process served, in the order it first served it, up to
/// [`WARM_LIST_MAX`] entries.
#[derive(Default)]
pub(super) struct ServedRecord {
    inner: Mutex<Record>,
}

#[derive(Default)]
struct Record {
    order: Vec<WarmEntry>,
    /// The kinds noted per module (a bit each, see [`WarmKind::bit`]).
    seen: HashMap<ModuleVersion, u8, quick_cache::DefaultHashBuilder>,
}

impl WarmKind {
    fn bit(self) -> u8 {
        match self {
            WarmKind::Tree => 1,
            WarmKind::Meta(MetaFile::Info) => 2,
            WarmKind::Meta(MetaFile::Mod) => 4,
        }
    }
}

impl ServedRecord {
    /// Notes that `kind` of `module` was served: a look-up (no allocation)
    /// when it was before.
    pub(super) fn note(&self, kind: WarmKind, module: &ModuleVersion) {
        let mut guard = self.inner.lock();
        let r = &mut *guard;
        let bit = kind.bit();
        let full = r.order.len() >= WARM_LIST_MAX;
        match r.seen.get_mut(module) {
            Some(bits) if *bits & bit != 0 => return,
            _ if full => return,
            Some(bits) => *bits |= bit,
            None => {
                r.seen.insert(module.clone(), bit);
            }
        }
        r.order.push(WarmEntry {
            kind,
            module: module.clone(),
        });
    }

    /// The entries so far.
    pub(super) fn entries(&self) -> Vec<WarmEntry> {
        self.inner.lock().order.clone()
    }

    /// How many entries so far.
    pub(super) fn len(&self) -> usize {
        self.inner.lock().order.len()
    }
}

/// Parses a warm list; malformed lines are skipped (the list is a hint).
pub fn parse_list(text: &str) -> Vec<WarmEntry> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut words = line.split(' ');
        let (Some(kind), Some(path), Some(version), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            continue;
        };
        let (Some(kind), Ok(module)) =
            (WarmKind::from_word(kind), ModuleVersion::new(path, version))
        else {
            continue;
        };
        let entry = WarmEntry { kind, module };
        if seen.insert(entry.clone()) {
            out.push(entry);
        }
        if out.len() >= WARM_LIST_MAX {
            break;
        }
    }
    out
}

/// The text of a warm list: `first`'s entries, then `then`'s that are not
/// among them, [`WARM_LIST_MAX`] at most.
pub fn format_list(first: &[WarmEntry], then: &[WarmEntry]) -> String {
    let mut seen = HashSet::new();
    let mut text = format!("{HEADER}\n");
    for e in first.iter().chain(then) {
        if seen.len() >= WARM_LIST_MAX {
            break;
        }
        if seen.insert(e) {
            text.push_str(&format!(
                "{} {} {}\n",
                e.kind.word(),
                e.module.path(),
                e.module.version()
            ));
        }
    }
    text
}

/// Reads the warm list at `path`; a missing file is an empty list, a
/// FIFO or other non-regular file an error (never opened: it could block
/// the warm start's thread, and the stop that waits for it).
pub fn read_list(path: &Path) -> io::Result<Vec<WarmEntry>> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.is_file() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a regular file",
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    }
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(FILE_MAX).read_to_end(&mut bytes)?;
    Ok(parse_list(&String::from_utf8_lossy(&bytes)))
}

/// Writes `entries` followed by what the file at `path` already lists
/// (another process's record), replacing the file in one rename.
pub fn write_list(path: &Path, entries: &[WarmEntry]) -> io::Result<()> {
    let existing = read_list(path).unwrap_or_default();
    let text = format_list(entries, &existing);
    let dir = path.parent().unwrap_or(Path::new("."));
    // Named like the store's other temp files, so a killed process's
    // left-over is cleaned up with theirs.
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-gomodfs-warm-")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

impl ModFs {
    /// What this filesystem served, in the order it first served it (up to
    /// [`WARM_LIST_MAX`] entries): the module trees it read files or
    /// directories of, and the `.info`/`.mod` files it served on their
    /// own. What [`ModFs::preload`] loaded is not in it until served.
    pub fn served(&self) -> Vec<WarmEntry> {
        self.served.entries()
    }

    /// Loads what `list` names into the caches, in its order, from the
    /// store alone (nothing is downloaded; what is not stored is skipped),
    /// until the list ends, `stop` is set, or the trees it loaded would
    /// weigh more than half of [`ModFsOptions::module_cache_bytes`].
    /// Preloading does not count as serving: it neither marks modules used
    /// for gc nor goes into [`ModFs::served`].
    ///
    /// [`ModFsOptions::module_cache_bytes`]: super::ModFsOptions::module_cache_bytes
    pub fn preload(&self, list: &[WarmEntry], stop: &AtomicBool) -> WarmStartStatus {
        let start = Instant::now();
        let mut status = WarmStartStatus {
            listed: list.len() as u64,
            ..WarmStartStatus::default()
        };
        // Half the tree cache, so what is served keeps room.
        let mut room = self.tree_budget / 2;
        // A module whose tree is listed is loaded whole at its first entry
        // (go reads a module's `.mod` before its files): the tree brings
        // its `.info` and `.mod`, which need no reads of their own.
        let whole: HashSet<&ModuleVersion> = list
            .iter()
            .filter(|e| e.kind == WarmKind::Tree)
            .map(|e| &e.module)
            .collect();
        for entry in list {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let loaded = match entry.kind {
                WarmKind::Meta(file) if !whole.contains(&entry.module) => {
                    self.preload_meta(&entry.module, file)
                }
                WarmKind::Tree | WarmKind::Meta(_) => self.preload_tree(&entry.module, &mut room),
            };
            match loaded {
                Preloaded::Loaded => status.loaded += 1,
                Preloaded::Cached => {}
                Preloaded::Missing => status.missing += 1,
                Preloaded::NoRoom => break,
            }
        }
        status.seconds = start.elapsed().as_secs_f64();
        status.done = true;
        status
    }

    /// Loads `module`'s tree if not cached and it fits in `room` (bytes,
    /// less what it weighs when it does). A module not stored, or
    /// unreadable (a real request repairs it), is missing.
    fn preload_tree(&self, module: &ModuleVersion, room: &mut u64) -> Preloaded {
        if self.trees.get(module).is_some() {
            return Preloaded::Cached;
        }
        let stored = match self.store.module(module) {
            Ok(Some(stored)) => stored,
            Ok(None) => return Preloaded::Missing,
            Err(e) => {
                tracing::debug!(%module, error = %e, "warm start: not loaded");
                return Preloaded::Missing;
            }
        };
        let tree = self.build_tree(module, stored);
        let Some(left) = room.checked_sub(tree.weight()) else {
            return Preloaded::NoRoom;
        };
        *room = left;
        let stored = &tree.module;
        for (file, data) in [
            (MetaFile::Info, &stored.info),
            (MetaFile::Mod, &stored.go_mod),
        ] {
            self.metas.insert((module.clone(), file), data.clone());
        }
        self.trees.insert(module.clone(), Arc::new(tree));
        Preloaded::Loaded
    }

    /// Loads `module`'s `file` if not cached.
    fn preload_meta(&self, module: &ModuleVersion, file: MetaFile) -> Preloaded {
        let key = (module.clone(), file);
        if self.metas.get(&key).is_some() {
            return Preloaded::Cached;
        }
        match self.store.meta(module, file) {
            Ok(Some(data)) => {
                self.metas.insert(key, data);
                Preloaded::Loaded
            }
            Ok(None) | Err(_) => Preloaded::Missing,
        }
    }
}

/// What preloading one entry did.
enum Preloaded {
    /// Loaded into a cache.
    Loaded,
    /// Already in memory.
    Cached,
    /// Not in the store (or unreadable).
    Missing,
    /// The tree caches' share for preloading is used up.
    NoRoom,
}

/// Shared between a [`WarmStart`] and its thread.
struct Shared {
    stop: AtomicBool,
    wake: Condvar,
    stopped: Mutex<bool>,
}

/// A filesystem's warm start: preloads the warm list at `file` in a
/// thread of its own, then writes the record of what the filesystem
/// serves back to the file every [`SAVE_EVERY`] while it grows, and once
/// more when dropped (or [`WarmStart::finish`]ed).
pub struct WarmStart {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl WarmStart {
    /// Starts the warm start of `fs` with the list at `file`.
    pub fn start(fs: &Arc<ModFs>, file: PathBuf) -> WarmStart {
        WarmStart::start_every(fs, file, SAVE_EVERY)
    }

    /// [`WarmStart::start`], writing every `every`.
    pub fn start_every(fs: &Arc<ModFs>, file: PathBuf, every: Duration) -> WarmStart {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            wake: Condvar::new(),
            stopped: Mutex::new(false),
        });
        let weak = Arc::downgrade(fs);
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("gomodfs-warm".into())
            .spawn(move || run(weak, &file, &thread_shared, every))
            .map_err(|e| tracing::warn!(error = %e, "warm start: no thread"))
            .ok();
        WarmStart { shared, thread }
    }

    /// Stops preloading, writes the record a last time and waits for that.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        *self.shared.stopped.lock() = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for WarmStart {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The warm start's thread: preload, then save while the record grows.
fn run(fs: Weak<ModFs>, file: &Path, shared: &Shared, every: Duration) {
    let files = warm_files_path(file);
    if let Some(fs) = fs.upgrade() {
        open_warm_files(&fs, &files);
    }
    match read_list(file) {
        Ok(list) if !list.is_empty() => {
            if let Some(fs) = fs.upgrade() {
                let status = fs.preload(&list, &shared.stop);
                tracing::info!(
                    listed = status.listed,
                    loaded = status.loaded,
                    missing = status.missing,
                    ms = (status.seconds * 1000.0).round(),
                    "warm start: preloaded"
                );
                fs.stats().set_warm_start(status);
            }
        }
        Ok(_) => tracing::debug!(file = %file.display(), "warm start: no list yet"),
        Err(e) => {
            tracing::warn!(file = %file.display(), error = %e, "warm start: cannot read the list")
        }
    }
    let mut saver = ListSaver::new(file);
    let mut files_saver = FilesSaver::new(&files);
    loop {
        let last = {
            let mut stopped = shared.stopped.lock();
            if !*stopped {
                shared.wake.wait_for(&mut stopped, every);
            }
            *stopped
        };
        let Some(fs) = fs.upgrade() else { return };
        if fs.served.len() > saver.saved {
            saver.save(&fs.served());
        }
        files_saver.tick(&fs, last);
        if last {
            return;
        }
    }
}

/// Opens the warm files at `path` for `fs` to serve from; damaged ones
/// are not used (and are replaced at the next save).
fn open_warm_files(fs: &ModFs, path: &Path) {
    match WarmFiles::open(path) {
        Ok(Some(w)) => {
            tracing::debug!(file = %path.display(), entries = w.entries().len(), "warm files: opened");
            let _ = fs.warm_files.set(w);
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "warm files: not used; the next save replaces them")
        }
    }
}

/// Writes a process's record of files read to the warm files, when no
/// file was read for a save period (writing reads from the store, which
/// should not compete with a build) or at the end.
struct FilesSaver<'a> {
    path: &'a Path,
    /// The files read by the previous tick.
    last_reads: u64,
    /// The record's length when last written (or found already held).
    saved: usize,
    /// Whether a failed write was said at info level already.
    told: bool,
}

impl<'a> FilesSaver<'a> {
    fn new(path: &'a Path) -> FilesSaver<'a> {
        FilesSaver {
            path,
            last_reads: 0,
            saved: 0,
            told: false,
        }
    }

    fn tick(&mut self, fs: &ModFs, last: bool) {
        let len = fs.files_read.len();
        let reads = fs.files_read.reads();
        let quiet = reads == self.last_reads;
        self.last_reads = reads;
        if len > self.saved && (quiet || last) {
            self.save(fs);
            self.saved = len;
        }
    }

    /// Writes this process's record followed by the open warm files'
    /// entries (see [`warm_files::plan`]), unless they hold nearly all of
    /// that already (see [`warm_files::mostly_held`]).
    fn save(&mut self, fs: &ModFs) {
        let old = fs.warm_files.get();
        let old_entries = old.map(WarmFiles::entries).unwrap_or_default();
        let plan = warm_files::plan(&fs.files_read.entries(), old_entries, WARM_FILES_MAX_BYTES);
        let damaged = old.is_some_and(|w| w.status().refused > 0);
        if warm_files::mostly_held(&plan, old_entries) && !damaged {
            return;
        }
        let start = Instant::now();
        let load = |id: &crate::store::BlobId| {
            old.and_then(|w| w.read(id))
                .flatten()
                .or_else(|| fs.store.blob(id).ok().flatten())
        };
        let file = self.path.display();
        match warm_files::write(self.path, &plan, load) {
            Ok(n) => {
                tracing::debug!(%file, entries = n, ms = start.elapsed().as_millis(), "warm files: written")
            }
            Err(e) if !self.told => {
                self.told = true;
                tracing::info!(%file, error = %e, "warm files: cannot write them; the next start reads the store");
            }
            Err(e) => tracing::debug!(%file, error = %e, "warm files: cannot write them"),
        }
    }
}

/// Writes a process's record to its warm list file.
struct ListSaver<'a> {
    file: &'a Path,
    /// Entries in the file as last written.
    saved: usize,
    /// Whether a failed write was said at info level already.
    told: bool,
}

impl<'a> ListSaver<'a> {
    fn new(file: &'a Path) -> ListSaver<'a> {
        ListSaver {
            file,
            saved: 0,
            told: false,
        }
    }

    /// Writes `entries` to the file (see [`write_list`]). A write that
    /// fails is said once at info level, later ones at debug: a read-only
    /// store (an image, a read-only bind mount) fails at every save.
    fn save(&mut self, entries: &[WarmEntry]) {
        let file = self.file.display();
        match write_list(self.file, entries) {
            Ok(()) => self.saved = entries.len(),
            Err(e) if !self.told => {
                self.told = true;
                tracing::info!(%file, error = %e, "warm start: cannot write the list; the next start preloads it as it was")
            }
            Err(e) => tracing::debug!(%file, error = %e, "warm start: cannot write the list"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every save of a store where the list cannot be written fails: the
    /// first failure is said at info level, the others at debug, and
    /// nothing counts as saved.
    #[test]
    fn a_list_that_cannot_be_written_is_said_once() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let not_a_dir = dir.path().join("store");
        std::fs::write(&not_a_dir, b"a file where the store would be")
            .unwrap_or_else(|e| panic!("{e}"));
        let file = not_a_dir.join("gomodfs-warm");
        let mut saver = ListSaver::new(&file);
        let events = crate::test_log::Events::default();
        tracing::subscriber::with_default(events.clone(), || {
            for n in 1..=3 {
                let entries: Vec<WarmEntry> = (0..n)
                    .map(|i| WarmEntry {
                        kind: WarmKind::Tree,
                        module: mv(&format!("example.com/m{i}")),
                    })
                    .collect();
                saver.save(&entries);
            }
        });
        assert_eq!(
            (
                events.at(tracing::Level::INFO),
                events.at(tracing::Level::DEBUG)
            ),
            (1, 2),
            "{:?}",
            events.seen()
        );
        assert_eq!(saver.saved, 0);

        // A list that can be written counts as saved and says nothing.
        let good = dir.path().join("gomodfs-warm");
        let mut saver = ListSaver::new(&good);
        let events = crate::test_log::Events::default();
        tracing::subscriber::with_default(events.clone(), || {
            saver.save(&[WarmEntry {
                kind: WarmKind::Tree,
                module: mv("example.com/a"),
            }])
        });
        assert_eq!(saver.saved, 1);
        assert!(events.seen().is_empty(), "{:?}", events.seen());
    }

    fn mv(p: &str) -> ModuleVersion {
        ModuleVersion::new(p, "v1.0.0").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_list_reads_back_what_was_written_and_skips_what_is_malformed() {
        let list = vec![
            WarmEntry {
                kind: WarmKind::Tree,
                module: mv("example.com/a"),
            },
            WarmEntry {
                kind: WarmKind::Meta(MetaFile::Mod),
                module: mv("example.com/b"),
            },
            WarmEntry {
                kind: WarmKind::Meta(MetaFile::Info),
                module: mv("example.com/b"),
            },
        ];
        let text = format_list(&list, &[]);
        assert!(text.starts_with(HEADER));
        assert_eq!(parse_list(&text), list);
        let hostile = format!(
            "{text}tree ../x v1.0.0\nzip example.com/c v1.0.0\ntree example.com/c\n\
             tree example.com/c v1.0.0 extra\ntree example.com/c notaversion\n\u{0}\u{ff}\n"
        );
        assert_eq!(parse_list(&hostile), list, "malformed lines are skipped");
    }

    #[test]
    fn a_merged_list_puts_this_process_first_without_repeats_and_is_bounded() {
        let e = |p: &str| WarmEntry {
            kind: WarmKind::Tree,
            module: mv(p),
        };
        let mine = [e("example.com/a"), e("example.com/b")];
        let theirs = [e("example.com/c"), e("example.com/a")];
        let merged = parse_list(&format_list(&mine, &theirs));
        assert_eq!(
            merged,
            vec![e("example.com/a"), e("example.com/b"), e("example.com/c")]
        );
        let many: Vec<_> = (0..WARM_LIST_MAX + 10)
            .map(|i| e(&format!("example.com/m{i}")))
            .collect();
        let text = format_list(&mine, &many);
        assert_eq!(parse_list(&text).len(), WARM_LIST_MAX);
        assert_eq!(text.lines().count(), WARM_LIST_MAX + 1);
    }

    #[test]
    fn a_record_keeps_first_serving_order_and_its_bound() {
        let r = ServedRecord::default();
        r.note(WarmKind::Tree, &mv("example.com/b"));
        r.note(WarmKind::Tree, &mv("example.com/a"));
        r.note(WarmKind::Tree, &mv("example.com/b"));
        r.note(WarmKind::Meta(MetaFile::Mod), &mv("example.com/b"));
        let kinds: Vec<_> = r
            .entries()
            .iter()
            .map(|e| (e.kind, e.module.path().to_owned()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (WarmKind::Tree, "example.com/b".to_owned()),
                (WarmKind::Tree, "example.com/a".to_owned()),
                (WarmKind::Meta(MetaFile::Mod), "example.com/b".to_owned()),
            ]
        );
        for i in 0..WARM_LIST_MAX + 5 {
            r.note(WarmKind::Tree, &mv(&format!("example.com/m{i}")));
        }
        assert_eq!(r.len(), WARM_LIST_MAX);
    }

    #[test]
    fn reading_a_missing_or_oversized_file_is_bounded_and_no_error() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("warm");
        assert!(read_list(&path)?.is_empty());
        let line =
            "tree example.com/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa v1.0.0\n";
        std::fs::write(&path, line.repeat(10_000))?;
        assert_eq!(read_list(&path)?.len(), 1, "one entry, repeated");
        write_list(&path, &[])?;
        assert_eq!(
            read_list(&path)?.len(),
            1,
            "an empty record keeps the file's list"
        );
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_in_the_list_s_place_is_an_error_not_a_hang() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("warm");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&path)
                .status()?
                .success()
        );
        match read_list(&path) {
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}"),
            Ok(list) => panic!("a FIFO read as a list: {list:?}"),
        }
        Ok(())
    }
}
