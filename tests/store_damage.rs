//! A damaged store (issue 16, items 7-10 and 14): a pack index whose
//! offsets were swapped or whose checksum is broken, a truncated pack, a
//! FIFO or garbage where a ref file should be. Reads give EIO and never
//! wrong bytes, the log names module, version, file and cause in words, and
//! a damaged module is fetched again when the upstream has it.

mod common;

use common::{Mounted, errno, modfs};
use gomodfs::core::ErrorKind;
use gomodfs_testkit::{Fault, ModuleSpec, TestProxy};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const MODULE: &str = "example.com/damaged";
const VERSION: &str = "v1.0.0";

/// A module of 40 files of the same size, each with its own contents, so
/// that swapping two offsets in the pack index swaps contents of equal size.
fn spec() -> ModuleSpec {
    let mut spec = ModuleSpec::new(MODULE, VERSION);
    for i in 0..40 {
        spec = spec.file(format!("f{i:02}.txt"), file_contents(i));
    }
    spec
}

fn file_contents(i: usize) -> String {
    format!("file number {i:02} of the damaged module\n")
}

/// The files of [`spec`] as the mount shows them: name → contents.
fn expected_files() -> BTreeMap<String, Vec<u8>> {
    (0..40)
        .map(|i| (format!("f{i:02}.txt"), file_contents(i).into_bytes()))
        .collect()
}

/// The module's directory relative to the mount root.
fn tree_dir() -> String {
    format!("{MODULE}@{VERSION}")
}

/// Stores [`spec`] through the real code (ModFs over a git store, fetching
/// from a test proxy) and returns the proxy.
fn stored_module(store: &Path) -> TestProxy {
    let proxy = TestProxy::start_with([spec()]).expect("test proxy");
    let fs = modfs(store, Some(&proxy.url()));
    let attr = fs
        .resolve(&format!("{}/f00.txt", tree_dir()))
        .expect("module fetched and stored");
    let data = fs.read(attr.id, 0, 4096).expect("read f00.txt");
    assert_eq!(&data[..], file_contents(0).as_bytes());
    proxy
}

/// The one pack index in the store.
fn only_idx(store: &Path) -> PathBuf {
    let idx: Vec<PathBuf> = fs::read_dir(store.join("objects/pack"))
        .expect("pack dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .collect();
    assert_eq!(idx.len(), 1, "one pack after one put: {idx:?}");
    idx.into_iter().next().expect("one idx")
}

/// Runs a command, feeding `stdin`, and returns stdout; panics on failure.
fn run(cmd: &mut Command, stdin: &[u8]) -> Vec<u8> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The git blob id of `data`, in binary.
fn blob_id(data: &[u8]) -> Vec<u8> {
    let hex = run(Command::new("git").args(["hash-object", "--stdin"]), data);
    unhex(String::from_utf8_lossy(&hex).trim())
}

/// SHA-1 of `data`, in binary (with coreutils' sha1sum).
fn sha1(data: &[u8]) -> Vec<u8> {
    let out = run(&mut Command::new("sha1sum"), data);
    let text = String::from_utf8_lossy(&out);
    unhex(text.split_whitespace().next().expect("sha1sum output"))
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Swaps the pack offsets of two objects in a v2 pack index; with
/// `fix_trailer`, rewrites the index checksum so that only reading the
/// objects can tell.
fn swap_offsets(idx_path: &Path, a: &[u8], b: &[u8], fix_trailer: bool) {
    let mut idx = fs::read(idx_path).expect("read idx");
    assert_eq!(&idx[..8], b"\xfftOc\0\0\0\x02", "v2 index");
    let n = u32::from_be_bytes(idx[8 + 255 * 4..8 + 256 * 4].try_into().expect("4 bytes")) as usize;
    let ids_at = 8 + 1024;
    let position = |id: &[u8]| {
        (0..n)
            .find(|i| &idx[ids_at + i * 20..ids_at + i * 20 + 20] == id)
            .expect("object in the index")
    };
    let offs_at = ids_at + n * 24;
    let (pa, pb) = (offs_at + position(a) * 4, offs_at + position(b) * 4);
    for k in 0..4 {
        idx.swap(pa + k, pb + k);
    }
    if fix_trailer {
        let len = idx.len();
        let sum = sha1(&idx[..len - 20]);
        idx[len - 20..].copy_from_slice(&sum);
    }
    fs::write(idx_path, idx).expect("write idx");
}

/// Breaks only the checksum at the end of a pack index.
fn break_trailer(idx_path: &Path) {
    let mut idx = fs::read(idx_path).expect("read idx");
    let last = idx.len() - 1;
    idx[last] ^= 0x55;
    fs::write(idx_path, idx).expect("write idx");
}

/// Cuts the store's one pack in half.
fn truncate_pack(store: &Path) {
    let pack = only_idx(store).with_extension("pack");
    let len = fs::metadata(&pack).expect("pack").len();
    let f = fs::OpenOptions::new()
        .write(true)
        .open(&pack)
        .expect("open pack");
    f.set_len(len / 2).expect("truncate pack");
}

/// Reads every file of the module through the node API: `Ok(contents)` or
/// the error kind, per file.
fn read_all_via_node_api(
    fs: &gomodfs::core::ModFs,
) -> BTreeMap<String, Result<Vec<u8>, ErrorKind>> {
    expected_files()
        .into_keys()
        .map(|name| {
            let result = fs
                .resolve(&format!("{}/{name}", tree_dir()))
                .and_then(|attr| fs.read(attr.id, 0, 4096))
                .map(|b| b.to_vec())
                .map_err(|e| e.kind());
            (name, result)
        })
        .collect()
}

/// What [`read_all_via_node_api`] gives when every file is served intact.
fn all_served_intact() -> BTreeMap<String, Result<Vec<u8>, ErrorKind>> {
    expected_files()
        .into_iter()
        .map(|(k, v)| (k, Ok(v)))
        .collect()
}

/// Asserts that no file was served with contents other than its own.
fn assert_never_wrong(results: &BTreeMap<String, Result<Vec<u8>, ErrorKind>>) {
    let expected = expected_files();
    for (name, result) in results {
        if let Ok(data) = result {
            assert_eq!(
                data, &expected[name],
                "{name} was served with the wrong contents"
            );
        }
    }
}

/// The log of a mount process, once it has stopped writing it.
fn log_text(log: &Path) -> String {
    fs::read_to_string(log).unwrap_or_default()
}

/// Asserts that a log line names the module, the version and the file and
/// says what happened in words, not Rust debug output.
fn assert_logged_in_words(log: &str, file: &str) {
    let line = line_naming(log, &[MODULE, VERSION, file]);
    assert!(
        line.contains("damaged"),
        "the line says what happened: {line}"
    );
}

/// The first log line that contains every one of `words`; the log must
/// hold no Rust debug strings.
fn line_naming<'a>(log: &'a str, words: &[&str]) -> &'a str {
    assert!(
        !log.contains("{ message:") && !log.contains("Message {"),
        "debug strings in the log:\n{log}"
    );
    let line = log
        .lines()
        .find(|l| words.iter().all(|w| l.contains(w)))
        .unwrap_or_else(|| panic!("no log line names all of {words:?}:\n{log}"));
    eprintln!("log line: {line}");
    line
}

#[test]
fn swapped_index_offsets_give_eio_never_wrong_bytes() {
    let store = tempfile::tempdir().expect("store dir");
    let proxy = stored_module(store.path());
    proxy.stop();
    let idx = only_idx(store.path());
    let (a, b) = (file_contents(3), file_contents(7));
    swap_offsets(&idx, &blob_id(a.as_bytes()), &blob_id(b.as_bytes()), true);

    // Node API, offline.
    let fs = modfs(store.path(), None);
    let results = read_all_via_node_api(&fs);
    assert_never_wrong(&results);
    for name in ["f03.txt", "f07.txt"] {
        assert_eq!(results[name], Err(ErrorKind::Io), "{name}");
    }
    // The other files are intact and served.
    assert!(results["f00.txt"].is_ok(), "{:?}", results["f00.txt"]);
    drop(fs);

    // A FUSE mount of the real binary: EIO, and a log line in words.
    let mnt = tempfile::tempdir().expect("mount dir");
    let log = store.path().join("../swapped-mount.log");
    let mount = common::start_mount(store.path(), mnt.path(), None, &log, &[]);
    let dir = mnt.path().join(tree_dir());
    for (name, want) in expected_files() {
        match fs::read(dir.join(&name)) {
            Ok(data) => assert_eq!(data, want, "{name} served with wrong contents"),
            Err(e) => {
                assert_eq!(errno(&e), libc::EIO, "{name}: {e}");
                assert!(name == "f03.txt" || name == "f07.txt", "{name}: {e}");
            }
        }
    }
    mount.stop().expect("gomodfs exits cleanly");
    assert_logged_in_words(&log_text(&log), "f03.txt");
    let _ = fs::remove_file(&log);
}

#[test]
fn broken_index_checksum_gives_eio() {
    let store = tempfile::tempdir().expect("store dir");
    let proxy = stored_module(store.path());
    proxy.stop();
    break_trailer(&only_idx(store.path()));

    let fs = modfs(store.path(), None);
    let results = read_all_via_node_api(&fs);
    assert_never_wrong(&results);
    for (name, result) in &results {
        assert_eq!(result, &Err(ErrorKind::Io), "{name}");
    }

    // Also through a FUSE mount.
    let m = Mounted::new(store.path(), None);
    let e = fs::read(m.path().join(tree_dir()).join("f00.txt")).expect_err("EIO");
    assert_eq!(errno(&e), libc::EIO, "{e}");
}

#[test]
fn truncated_pack_is_fetched_again() {
    let store = tempfile::tempdir().expect("store dir");
    let proxy = stored_module(store.path());
    let zip = format!("/{MODULE}/@v/{VERSION}.zip");
    assert_eq!(proxy.requests(&zip), 1);
    truncate_pack(store.path());

    let fs = modfs(store.path(), Some(&proxy.url()));
    // The upstream fails: EIO, saying so, and a later read tries again.
    proxy.set_fault(MODULE, VERSION, "zip", Fault::Status(500));
    let e = fs
        .resolve(&format!("{}/f39.txt", tree_dir()))
        .and_then(|a| fs.read(a.id, 0, 4096))
        .expect_err("the refetch fails");
    assert_eq!(e.kind(), ErrorKind::Io);
    let text = e.to_string();
    for word in [
        MODULE,
        VERSION,
        "f39.txt",
        "damaged",
        "fetching it again failed",
    ] {
        assert!(text.contains(word), "{word:?} in {text}");
    }
    proxy.clear_faults();
    let before = proxy.requests(&zip);

    let results = read_all_via_node_api(&fs);
    assert_eq!(
        results,
        all_served_intact(),
        "every file served after a refetch"
    );
    assert_eq!(
        proxy.requests(&zip),
        before + 1,
        "one refetch of the damaged module"
    );
    drop(fs);

    // The repaired module is stored: a new process reads it without the
    // upstream.
    proxy.stop();
    let fs = modfs(store.path(), None);
    assert_eq!(
        read_all_via_node_api(&fs),
        all_served_intact(),
        "served offline"
    );
}

#[test]
fn truncated_pack_offline_is_eio_with_a_log_line_in_words() {
    let store = tempfile::tempdir().expect("store dir");
    let proxy = stored_module(store.path());
    proxy.stop();
    truncate_pack(store.path());

    let mnt = tempfile::tempdir().expect("mount dir");
    let log = store.path().join("../truncated-mount.log");
    let mount = common::start_mount(store.path(), mnt.path(), None, &log, &[]);
    let e = fs::read(mnt.path().join(tree_dir()).join("f39.txt")).expect_err("EIO");
    assert_eq!(errno(&e), libc::EIO, "{e}");
    mount.stop().expect("gomodfs exits cleanly");
    let log = {
        let text = log_text(&log);
        let _ = fs::remove_file(&log);
        text
    };
    // The file's blob sits in the cut-off half: the line names the module,
    // the version, the damage and why it is not fetched again.
    let line = line_naming(&log, &[MODULE, VERSION, "damaged"]);
    assert!(
        line.contains("offline"),
        "says why it is not refetched: {line}"
    );
}

/// The ref file of the module in the store.
fn ref_file(store: &Path, module: &str) -> PathBuf {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'_'
                    || b == b'-'
                    || b == b'/'
                {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02x}")
                }
            })
            .collect()
    };
    store
        .join("refs/gomodfs/zip")
        .join(enc(module))
        .join("@v")
        .join(enc(VERSION).replace('/', "%2f"))
}

/// Runs `f` on another thread and fails the test if it does not return
/// within a generous time (rather than hanging the test run).
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{what} hung (more than 30 s)"))
}

#[test]
fn fifo_in_place_of_a_ref_does_not_hang() {
    let store = tempfile::tempdir().expect("store dir");
    let proxy = stored_module(store.path());
    let ref_path = ref_file(store.path(), MODULE);
    assert!(ref_path.is_file(), "{}", ref_path.display());
    fs::remove_file(&ref_path).expect("remove ref");
    let status = Command::new("mkfifo")
        .arg(&ref_path)
        .status()
        .expect("mkfifo");
    assert!(status.success());

    // Offline: EIO, not a hang, and the listing still works.
    let store_path = store.path().to_owned();
    let (lookup, listing) = within("lookup through a FIFO ref", move || {
        let fs = modfs(&store_path, None);
        let lookup = fs
            .resolve(&format!("{}/f00.txt", tree_dir()))
            .map(|_| ())
            .map_err(|e| e.kind());
        let listing = fs
            .resolve("example.com")
            .and_then(|a| fs.readdir_plus(a.id))
            .map(|v| v.len())
            .map_err(|e| e.kind());
        (lookup, listing)
    });
    assert_eq!(lookup, Err(ErrorKind::Io));
    assert!(listing.is_ok(), "{listing:?}");

    // Through a FUSE mount of the real binary: stat and ls answer (the
    // root from its intact `.info`, a file below it EIO).
    let mnt = tempfile::tempdir().expect("mount dir");
    let log = store.path().join("../fifo-mount.log");
    let mount = common::start_mount(store.path(), mnt.path(), None, &log, &[]);
    let dir = mnt.path().join(tree_dir());
    let parent = mnt.path().join("example.com");
    let (root, stat, ls) = within("stat and ls through FUSE", move || {
        let root = fs::metadata(&dir)
            .map(|m| m.is_dir())
            .map_err(|e| errno(&e));
        let stat = fs::metadata(dir.join("f00.txt"))
            .map(|_| ())
            .map_err(|e| errno(&e));
        let ls = fs::read_dir(&parent).map(|d| d.count());
        (root, stat, ls)
    });
    mount.stop().expect("gomodfs exits cleanly");
    let _ = fs::remove_file(&log);
    assert_eq!(root, Ok(true));
    assert_eq!(stat, Err(libc::EIO));
    assert!(ls.is_ok(), "{ls:?}");

    // With the upstream: the FIFO is damage, the module is fetched again
    // and the ref replaced.
    let store_path = store.path().to_owned();
    let url = proxy.url();
    let results = within("refetch over a FIFO ref", move || {
        read_all_via_node_api(&modfs(&store_path, Some(&url)))
    });
    assert!(results.values().all(Result::is_ok), "{results:?}");
    assert_never_wrong(&results);
    assert!(ref_path.is_file(), "the ref is a regular file again");
    assert_eq!(proxy.requests(&format!("/{MODULE}/@v/{VERSION}.zip")), 2);
}

#[test]
fn one_bad_ref_does_not_hide_its_siblings() {
    let a = ModuleSpec::new("github.com/google/aaa", VERSION).file("a.go", "package aaa\n");
    let b = ModuleSpec::new("github.com/google/bbb", VERSION).file("b.go", "package bbb\n");
    let proxy = TestProxy::start_with([a, b]).expect("test proxy");
    let store = tempfile::tempdir().expect("store dir");
    {
        let fs = modfs(store.path(), Some(&proxy.url()));
        // A file, not the root: a root is answered from its `.info` while
        // the module downloads behind it.
        for (m, file) in [("aaa", "a.go"), ("bbb", "b.go")] {
            fs.resolve(&format!("github.com/google/{m}@{VERSION}/{file}"))
                .expect("stored");
        }
    }
    proxy.stop();
    // Garbage where a sibling's ref would be, and a ref naming an object
    // the store does not have.
    let bad = ref_file(store.path(), "github.com/google/bad");
    fs::create_dir_all(bad.parent().expect("parent")).expect("mkdir");
    fs::write(&bad, "this is not an object id\n").expect("write garbage ref");
    let dangling = ref_file(store.path(), "github.com/google/dangling");
    fs::create_dir_all(dangling.parent().expect("parent")).expect("mkdir");
    fs::write(&dangling, format!("{}\n", "ab".repeat(20))).expect("write dangling ref");

    let fs = modfs(store.path(), None);
    let dir = fs.resolve("github.com/google").expect("github.com/google");
    let names: Vec<String> = fs
        .readdir_plus(dir.id)
        .expect("listing with a bad sibling")
        .into_iter()
        .map(|(e, _)| e.name)
        .collect();
    assert_eq!(names, [format!("aaa@{VERSION}"), format!("bbb@{VERSION}")]);

    // Through a FUSE mount of the real binary (readdirplus), with a
    // warning naming the bad ref.
    let mnt = tempfile::tempdir().expect("mount dir");
    let log = store.path().join("../bad-ref-mount.log");
    let mount = common::start_mount(store.path(), mnt.path(), None, &log, &[]);
    let mut listed: Vec<String> = fs::read_dir(mnt.path().join("github.com/google"))
        .expect("ls github.com/google")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    listed.sort();
    assert_eq!(listed, [format!("aaa@{VERSION}"), format!("bbb@{VERSION}")]);
    mount.stop().expect("gomodfs exits cleanly");
    let text = log_text(&log);
    let _ = fs::remove_file(&log);
    assert!(
        text.lines().any(|l| l.contains("WARN")
            && l.contains("refs/gomodfs/zip/github%2ecom/google/bad/@v/v1%2e0%2e0")),
        "a warning names the bad ref:\n{text}"
    );
}

/// `gomodfs fsck --store STORE EXTRA...`: exit code and stdout + stderr.
fn fsck(store: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(common::gomodfs_bin())
        .arg("fsck")
        .arg("--store")
        .arg(store)
        .args(extra)
        .output()
        .expect("run gomodfs fsck");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// Flips one byte in the middle of the store's one pack.
fn flip_pack_byte(store: &Path) {
    let pack = only_idx(store).with_extension("pack");
    let mut data = fs::read(&pack).expect("read pack");
    let middle = data.len() / 2;
    data[middle] ^= 0x01;
    fs::write(&pack, data).expect("write pack");
}

/// A store holding [`spec`] and a second, healthy module; `damage` is
/// applied to the damaged module's pack. fsck must name the damaged module
/// (exit 1) and not the healthy one; `--repair` drops it (exit 0); one
/// fetch then restores it, and fsck passes.
fn fsck_finds_and_repair_restores(damage: impl FnOnce(&Path)) {
    let store = tempfile::tempdir().expect("store dir");
    let proxy = stored_module(store.path());
    damage(store.path());
    let healthy = ModuleSpec::new("example.com/healthy", "v1.2.0").file("h.go", "package h\n");
    proxy.add(healthy.clone());
    let fs = modfs(store.path(), Some(&proxy.url()));
    fs.resolve(&format!("{}/h.go", healthy.cache_dir_name()))
        .expect("healthy module stored");
    drop(fs);

    let (code, text) = fsck(store.path(), &[]);
    assert_eq!(code, Some(1), "{text}");
    let name = format!("{MODULE}@{VERSION}");
    let line = line_naming(&text, &[name.as_str(), "damaged"]);
    assert!(line.contains("damaged"), "{line}");
    assert!(!text.contains("example.com/healthy"), "{text}");
    assert!(text.contains("checked 2 modules"), "{text}");

    let (code, text) = fsck(store.path(), &["--repair"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("dropped {MODULE}@{VERSION}")),
        "{text}"
    );

    // One fetch restores it: every file served intact.
    let zip = format!("/{MODULE}/@v/{VERSION}.zip");
    let before = proxy.requests(&zip);
    let fs = modfs(store.path(), Some(&proxy.url()));
    assert_eq!(read_all_via_node_api(&fs), all_served_intact());
    assert_eq!(proxy.requests(&zip), before + 1, "one fetch");
    drop(fs);
    let (code, text) = fsck(store.path(), &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("0 problems"), "{text}");
}

#[test]
fn fsck_finds_a_flipped_pack_byte_and_repair_then_a_fetch_restores() {
    fsck_finds_and_repair_restores(flip_pack_byte);
}

#[test]
fn fsck_finds_swapped_index_offsets_and_repair_then_a_fetch_restores() {
    fsck_finds_and_repair_restores(|store| {
        let (a, b) = (file_contents(3), file_contents(7));
        swap_offsets(
            &only_idx(store),
            &blob_id(a.as_bytes()),
            &blob_id(b.as_bytes()),
            true,
        );
    });
}

/// New refs are not fsynced (docs/ARCHITECTURE.md, "Refs are written back
/// lazily"): a power cut before the kernel writes one back leaves it empty.
/// That is "not stored", not damage: offline the module is answered as one
/// never stored, fsck finds nothing wrong, and with the upstream the module
/// is fetched once and its ref written again.
#[test]
fn a_ref_a_power_cut_left_empty_reads_as_not_stored() {
    let store = tempfile::tempdir().expect("store dir");
    let proxy = stored_module(store.path());
    let ref_path = ref_file(store.path(), MODULE);
    fs::write(&ref_path, b"").expect("empty the ref");
    // The module's .info and .mod refs survive (they were written back);
    // its files are what the empty ref hid.
    let file = format!("{}/f00.txt", tree_dir());

    // Offline: the answer for a module version that was never stored (EIO
    // like damage, but saying the module is not in the store).
    let offline = modfs(store.path(), None);
    let answer = |path: &str| {
        let e = offline.resolve(path).map(|_| ()).expect_err(path);
        (e.kind(), e.to_string().contains("not in the store"))
    };
    let never = answer(&format!("example.com/never@{VERSION}/f00.txt"));
    assert_eq!(never, (ErrorKind::Io, true));
    assert_eq!(
        answer(&file),
        never,
        "offline, a module behind an empty ref is not stored"
    );
    drop(offline);

    let (code, text) = fsck(store.path(), &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("0 problems"), "{text}");

    let zip = format!("/{MODULE}/@v/{VERSION}.zip");
    assert_eq!(proxy.requests(&zip), 1);
    let fs = modfs(store.path(), Some(&proxy.url()));
    assert_eq!(read_all_via_node_api(&fs), all_served_intact());
    assert_eq!(proxy.requests(&zip), 2, "fetched once more");
    drop(fs);
    let text = fs::read_to_string(&ref_path).expect("ref written again");
    assert_eq!(text.len(), 41, "an object id and a newline: {text:?}");
}
