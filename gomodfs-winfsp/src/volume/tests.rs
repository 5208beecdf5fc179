//! The volume's operations against a real [`ModFs`] over an in-memory
//! store, with a model of WinFsp's directory buffer.

use super::*;
use crate::enumerate::PAGE;
use crate::facts::{FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_READONLY};
use gomodfs_core::ModFsOptions;
use gomodfs_core::store::MemoryStore;
use gomodfs_testkit::seed::put;

/// `example.com/m@v1.0.0` with `big/` holding this many files.
const BIG: usize = 700;

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

/// The names of `big/`, in the order the core lists them.
fn big_names() -> Vec<String> {
    (0..BIG).map(|i| format!("f{i:04}.go")).collect()
}

/// A volume over a store with `example.com/m@v1.0.0` (a `big/` directory,
/// a nested file), and two modules whose paths differ only in case.
fn volume() -> Volume {
    let store = MemoryStore::new();
    let mut files: Vec<(String, String)> = big_names()
        .into_iter()
        .map(|n| (format!("big/{n}"), format!("package big // {n}\n")))
        .collect();
    files.push(("go.mod".into(), "module example.com/m\n".into()));
    files.push(("sub/x.go".into(), "package sub\n".into()));
    let deep = vec!["d".repeat(60); 5].join("/");
    files.push((format!("{deep}/deep.go"), "package d\n".into()));
    put(&store, "example.com/m", "v1.0.0", &files).expect("seed m");
    put(
        &store,
        "example.com/Foo",
        "v1.0.0",
        &[("upper.go", "package foo\n")],
    )
    .expect("seed Foo");
    put(
        &store,
        "example.com/foo",
        "v1.0.0",
        &[("lower.go", "package foo\n")],
    )
    .expect("seed foo");
    let fs = ModFs::new(Arc::new(store), None, ModFsOptions::default()).expect("modfs");
    Volume::new(Arc::new(fs))
}

/// A model of WinFsp's directory buffer as `FspFileSystemAddDirInfo` fills
/// it: an entry takes its `FSP_FSCTL_DIR_INFO` header (104 bytes) and its
/// UTF-16 name, aligned up to 8 bytes; the end marker needs 2 bytes.
struct Buffer {
    capacity: usize,
    used: usize,
    entries: Vec<(String, FileFacts)>,
    ended: bool,
}

impl Buffer {
    fn new(capacity: usize) -> Buffer {
        Buffer {
            capacity,
            used: 0,
            entries: vec![],
            ended: false,
        }
    }
}

impl DirSink for Buffer {
    fn add(&mut self, name: &[u16], facts: &FileFacts) -> bool {
        let size = (104 + 2 * name.len()).next_multiple_of(8);
        if self.used + size > self.capacity {
            return false;
        }
        self.used += size;
        let name = String::from_utf16(name).expect("names are UTF-16");
        self.entries.push((name, *facts));
        true
    }

    fn end(&mut self) -> bool {
        if self.used + 2 > self.capacity {
            return false;
        }
        self.ended = true;
        true
    }
}

/// Lists the directory at `path` as WinFsp does, in buffers of `capacity`
/// bytes, each call resuming after the last name of the one before.
/// Returns every entry and how many calls it took.
fn list(vol: &Volume, path: &str, capacity: usize) -> (Vec<(String, FileFacts)>, usize) {
    let handle = vol.open(&wide(path)).expect("open the directory");
    let mut all: Vec<(String, FileFacts)> = vec![];
    let mut calls = 0;
    loop {
        calls += 1;
        assert!(calls < 10_000, "the listing never ends");
        let marker = all.last().map(|(n, _)| wide(n));
        let mut buffer = Buffer::new(capacity);
        vol.read_directory(&handle, marker.as_deref(), &mut buffer)
            .expect("read_directory");
        assert!(buffer.used <= capacity);
        let progressed = !buffer.entries.is_empty();
        all.extend(buffer.entries);
        if buffer.ended {
            break;
        }
        assert!(progressed, "a call that neither adds nor ends");
    }
    vol.close(handle);
    (all, calls)
}

fn names(entries: &[(String, FileFacts)]) -> Vec<&str> {
    entries.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn a_directory_larger_than_one_buffer_lists_every_entry_once_in_order() {
    let vol = volume();
    let mut expected = vec![".".to_owned(), "..".to_owned()];
    expected.extend(big_names());
    // 4 KiB buffers hold about 30 entries: many calls, each resuming at
    // its marker; 64 KiB ones hold more than a core page (PAGE) each.
    for capacity in [4096, 65536] {
        let (entries, calls) = list(&vol, "\\example.com\\m@v1.0.0\\big", capacity);
        assert_eq!(names(&entries), expected, "capacity {capacity}");
        let min_calls = BIG * 120 / capacity;
        assert!(
            calls > min_calls.max(1),
            "{calls} calls for {capacity}-byte buffers"
        );
        if capacity == 65536 {
            assert!(
                entries.len() / calls > PAGE,
                "a buffer spans several core pages"
            );
        }
    }
    let (entries, _) = list(&vol, "\\example.com\\m@v1.0.0\\big", 4096);
    // Every file is read-only, with its size and its node id as file index.
    let file = vol
        .open(&wide("\\example.com\\m@v1.0.0\\big\\f0123.go"))
        .expect("open");
    let (_, facts) = &entries[2 + 123];
    assert_eq!(facts, file.facts());
    assert_eq!(facts.attributes, FILE_ATTRIBUTE_READONLY);
    assert_eq!(facts.file_size, "package big // f0123.go\n".len() as u64);
    vol.close(file);
    // `.` is the directory, `..` its parent.
    let dir = vol
        .open(&wide("\\example.com\\m@v1.0.0\\big"))
        .expect("open");
    let parent = vol.open(&wide("\\example.com\\m@v1.0.0")).expect("open");
    assert_eq!(&entries[0].1, dir.facts());
    assert_eq!(&entries[1].1, parent.facts());
    assert_ne!(dir.facts().index_number, parent.facts().index_number);
    vol.close(dir);
    vol.close(parent);
}

#[test]
fn markers_resume_after_the_named_entry() {
    let vol = volume();
    let dir = vol
        .open(&wide("\\example.com\\m@v1.0.0\\big"))
        .expect("open");
    let first = |marker: &str| {
        let mut buffer = Buffer::new(300);
        vol.read_directory(&dir, Some(&wide(marker)), &mut buffer)
            .expect("read_directory");
        names(&buffer.entries)
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(first("."), ["..", "f0000.go"]);
    assert_eq!(first(".."), ["f0000.go", "f0001.go"]);
    assert_eq!(first("f0499.go"), ["f0500.go", "f0501.go"]);
    // A marker that names no entry (any more) resumes after that name.
    assert_eq!(first("f0499.gz"), ["f0500.go", "f0501.go"]);
    assert_eq!(first("e"), ["f0000.go", "f0001.go"]);
    assert!(first("z").is_empty());
    // The last entry as marker: nothing more, and the listing ends.
    let mut buffer = Buffer::new(300);
    vol.read_directory(&dir, Some(&wide("f0699.go")), &mut buffer)
        .expect("read_directory");
    assert!(buffer.entries.is_empty() && buffer.ended);
    // A marker that is not UTF-16 is an invalid parameter.
    let mut buffer = Buffer::new(300);
    let bad = [0xD800u16];
    assert_eq!(
        vol.read_directory(&dir, Some(&bad), &mut buffer),
        Err(NtStatus::INVALID_PARAMETER)
    );
    vol.close(dir);
}

#[test]
fn the_root_lists_without_dots() {
    let vol = volume();
    let (entries, _) = list(&vol, "\\", 4096);
    assert_eq!(names(&entries), [".gomodfs-status", "cache", "example.com"]);
    let (_, cache) = &entries[1];
    assert_eq!(
        cache.attributes,
        FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_DIRECTORY
    );
    let (entries, _) = list(&vol, "\\example.com", 4096);
    assert_eq!(
        names(&entries),
        [".", "..", "!foo@v1.0.0", "foo@v1.0.0", "m@v1.0.0"]
    );
}

#[test]
fn names_are_case_sensitive() {
    let vol = volume();
    // `example.com/Foo` and `example.com/foo` are two modules: upper case is
    // escaped in the cache's paths, and names are never case-folded.
    let upper = vol
        .open(&wide("\\example.com\\!foo@v1.0.0\\upper.go"))
        .expect("Foo");
    let lower = vol
        .open(&wide("\\example.com\\foo@v1.0.0\\lower.go"))
        .expect("foo");
    vol.close(upper);
    vol.close(lower);
    for wrong in [
        "\\example.com\\!FOO@v1.0.0\\upper.go",
        "\\example.com\\foo@v1.0.0\\LOWER.go",
        "\\Example.com",
    ] {
        assert_eq!(
            vol.open(&wide(wrong)).map(|h| vol.close(h)),
            Err(NtStatus::OBJECT_NAME_NOT_FOUND),
            "{wrong}"
        );
    }
}

#[test]
fn reads_serve_the_file_and_end_with_end_of_file() {
    let vol = volume();
    let h = vol
        .open(&wide("\\example.com\\m@v1.0.0\\sub\\x.go"))
        .expect("open");
    let mut buf = [0u8; 5];
    assert_eq!(vol.read(&h, &mut buf, 0), Ok(5));
    assert_eq!(&buf, b"packa");
    let mut buf = [0u8; 64];
    assert_eq!(vol.read(&h, &mut buf, 8), Ok(4));
    assert_eq!(&buf[..4], b"sub\n");
    assert_eq!(vol.read(&h, &mut buf, 12), Err(NtStatus::END_OF_FILE));
    assert_eq!(vol.read(&h, &mut buf, u64::MAX), Err(NtStatus::END_OF_FILE));
    assert_eq!(vol.file_info(&h).map(|f| f.file_size), Ok(12));
    vol.close(h);
}

#[test]
fn long_paths_beyond_max_path_open() {
    let vol = volume();
    let deep = vec!["d".repeat(60); 5].join("\\");
    let path = format!("\\example.com\\m@v1.0.0\\{deep}\\deep.go");
    assert!(path.len() > 260, "{}", path.len());
    let h = vol.open(&wide(&path)).expect("a long path opens");
    let mut buf = [0u8; 64];
    assert_eq!(vol.read(&h, &mut buf, 0), Ok(10));
    vol.close(h);
}

#[test]
fn open_pins_the_node_until_close() {
    let vol = volume();
    let (pinned, _) = vol.fs().node_counts();
    let a = vol
        .open(&wide("\\example.com\\m@v1.0.0\\go.mod"))
        .expect("open");
    let b = vol
        .open(&wide("\\example.com\\m@v1.0.0\\go.mod"))
        .expect("open");
    assert_eq!(vol.fs().node_counts().0, pinned + 1, "one node, two pins");
    vol.close(a);
    assert_eq!(vol.fs().node_counts().0, pinned + 1);
    // Still served through the remaining handle.
    let mut buf = [0u8; 6];
    assert_eq!(vol.read(&b, &mut buf, 0), Ok(6));
    vol.close(b);
    assert_eq!(vol.fs().node_counts().0, pinned);
}

#[test]
fn the_status_file_is_one_snapshot_per_open() {
    let vol = volume();
    let h = vol.open(&wide("\\.gomodfs-status")).expect("open");
    let size = h.facts().file_size;
    assert!(size > 0);
    // Other requests change the counters, not this open's bytes or size.
    let _ = list(&vol, "\\example.com", 4096);
    assert_eq!(vol.file_info(&h).map(|f| f.file_size), Ok(size));
    let mut buf = vec![0u8; size as usize + 100];
    assert_eq!(vol.read(&h, &mut buf, 0), Ok(size as u32));
    let json = String::from_utf8_lossy(&buf[..size as usize]);
    assert!(json.starts_with('{') && json.ends_with("}\n"), "{json}");
    vol.close(h);
}

#[test]
fn failures_answer_their_ntstatus() {
    let vol = volume();
    let open = |p: &str| vol.open(&wide(p)).map(|h| vol.close(h));
    assert_eq!(
        open("\\example.com\\m@v1.0.0\\missing.go"),
        Err(NtStatus::OBJECT_NAME_NOT_FOUND)
    );
    assert_eq!(open("\\cache\\vcs"), Err(NtStatus::OBJECT_NAME_NOT_FOUND));
    // A name under a file does not exist (as on NTFS, never a directory error).
    assert_eq!(
        open("\\example.com\\m@v1.0.0\\go.mod\\x"),
        Err(NtStatus::OBJECT_NAME_NOT_FOUND)
    );
    assert_eq!(open("\\a\\..\\b"), Err(NtStatus::OBJECT_NAME_INVALID));
    // Not stored, and offline: the download fails (an I/O error).
    assert_eq!(
        open("\\example.com\\m@v9.9.9"),
        Err(NtStatus::IO_DEVICE_ERROR)
    );
    let file = vol
        .open(&wide("\\example.com\\m@v1.0.0\\go.mod"))
        .expect("open");
    let mut buffer = Buffer::new(4096);
    assert_eq!(
        vol.read_directory(&file, None, &mut buffer),
        Err(NtStatus::NOT_A_DIRECTORY)
    );
    vol.close(file);
    let dir = vol.open(&wide("\\example.com\\m@v1.0.0")).expect("open");
    assert_eq!(
        vol.read(&dir, &mut [0u8; 8], 0),
        Err(NtStatus::FILE_IS_A_DIRECTORY)
    );
    vol.close(dir);
    assert_eq!(
        vol.attributes(&wide("\\example.com\\m@v1.0.0")),
        Ok(FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_DIRECTORY)
    );
    assert_eq!(
        vol.attributes(&wide("\\missing")),
        Err(NtStatus::OBJECT_NAME_NOT_FOUND)
    );
}
