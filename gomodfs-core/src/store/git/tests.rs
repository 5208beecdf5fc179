//! Tests of the git store. Those that check the result with the git CLI
//! panic with a clear message if `git` is not installed.

#![allow(clippy::unwrap_used)]

use super::*;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

fn mv(path: &str, version: &str) -> ModuleVersion {
    ModuleVersion::new(path, version).unwrap()
}

/// Runs `git --git-dir=<dir> args...`, returning stdout; panics with stderr
/// on failure and with a clear message if git is missing.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg(format!("--git-dir={}", dir.display()))
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("these tests need the git CLI on PATH, running `git` failed: {e}")
        });
    assert!(
        out.status.success(),
        "git {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fsck(dir: &Path) {
    git(dir, &["fsck", "--strict", "--no-dangling"]);
    for idx in packs(dir) {
        git(dir, &["verify-pack", "-v", idx.to_str().unwrap()]);
    }
}

/// The `.idx` files in the store, sorted.
fn packs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .collect();
    v.sort();
    v
}

fn objects_in(idx: &Path) -> Vec<ObjectId> {
    pack::idx_object_ids(&std::fs::read(idx).unwrap()).unwrap()
}

fn contents(version: &str, files: &[(&str, Bytes)]) -> ModuleContents {
    ModuleContents {
        info: Bytes::from(format!(
            "{{\"Version\":\"{version}\",\"Time\":\"2024-01-02T03:04:05Z\"}}"
        )),
        go_mod: Bytes::from_static(b"module example.com/m\n\ngo 1.21\n"),
        ziphash: format!("h1:{version}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        files: files
            .iter()
            .map(|(p, d)| ((*p).to_owned(), d.clone()))
            .collect(),
    }
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// A few MB that compress somewhat, like a real big file.
fn big_file(len: usize) -> Bytes {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let word = [
            "func ",
            "return ",
            "if err != nil ",
            "{\n",
            "}\n",
            "x := ",
            "0x",
            "\t",
        ][(x % 8) as usize];
        v.extend_from_slice(word.as_bytes());
        v.push(b'a' + (x >> 59) as u8);
    }
    v.truncate(len);
    Bytes::from(v)
}

/// Checks that `store` holds exactly `c` for `m`, contents included.
fn assert_stored(store: &GitStore, m: &ModuleVersion, c: &ModuleContents) {
    let got = store
        .module(m)
        .unwrap()
        .unwrap_or_else(|| panic!("{m} not stored"));
    assert_eq!(got.info, c.info);
    assert_eq!(got.go_mod, c.go_mod);
    assert_eq!(got.ziphash, c.ziphash);
    let mut want: Vec<(&str, &Bytes)> = c.files.iter().map(|(p, d)| (p.as_str(), d)).collect();
    want.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let got_paths: Vec<&str> = got.files.iter().map(|f| f.path.as_str()).collect();
    let want_paths: Vec<&str> = want.iter().map(|w| w.0).collect();
    assert_eq!(got_paths, want_paths, "{m}");
    for (f, (_, data)) in got.files.iter().zip(&want) {
        assert_eq!(f.size, data.len() as u64, "{m} {}", f.path);
        let blob = store
            .blob(&f.blob)
            .unwrap()
            .unwrap_or_else(|| panic!("{m} {}: blob missing", f.path));
        assert!(blob == **data, "{m} {}: contents differ", f.path);
    }
    assert_eq!(store.meta(m, MetaFile::Info).unwrap(), Some(c.info.clone()));
    assert_eq!(
        store.meta(m, MetaFile::Mod).unwrap(),
        Some(c.go_mod.clone())
    );
}

#[test]
fn round_trip_and_git_can_read_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let m = mv("example.com/m", "v1.0.0");
    let big = big_file(5 << 20);
    let c = contents(
        "v1.0.0",
        &[
            ("go.mod", b("module example.com/m\n")),
            ("LICENSE", b("BSD")),
            ("a/b/c/deep.go", b("package c\n")),
            ("a/b.go", b("package a\n")),
            ("a.b/x.go", b("package ab\n")),
            ("a-b/x.go", b("package ab\n")),
            ("with space/Grüße ünïcödé.txt", b("hallo welt\n")),
            (".gitignore", b("*.o\n")),
            ("a/.hidden/.x", b("dot\n")),
            ("empty", Bytes::new()),
            ("big/data.bin", big.clone()),
        ],
    );
    assert_eq!(store.module(&m).unwrap(), None);
    assert_eq!(store.meta(&m, MetaFile::Mod).unwrap(), None);
    let stats = store.put_module_counted(&m, &c).unwrap();
    // 11 files, two of which share contents ("package ab\n"); trees: files,
    // a, a/b, a/b/c, a.b = a-b (same entries), with space, a/.hidden, big;
    // root; 4 meta blobs.
    assert_eq!(stats.objects, 10 + 8 + 1 + 4);
    assert_eq!(stats.written, stats.objects);
    assert_stored(&store, &m, &c);

    // A fresh instance reads the same.
    assert_stored(&GitStore::open(tmp.path()).unwrap(), &m, &c);

    fsck(tmp.path());
    let r = GitStore::ref_name(&m);
    assert_eq!(git(tmp.path(), &["check-ref-format", &r]), "");
    assert_eq!(git(tmp.path(), &["cat-file", "-t", &r]).trim(), "tree");
    let listing = git(
        tmp.path(),
        &["ls-tree", "-r", "-z", "--name-only", &format!("{r}:files")],
    );
    let mut listed: Vec<&str> = listing.split_terminator('\0').collect();
    listed.sort();
    let mut want: Vec<&str> = c.files.iter().map(|(p, _)| p.as_str()).collect();
    want.sort();
    assert_eq!(listed, want);
    assert_eq!(
        git(
            tmp.path(),
            &[
                "cat-file",
                "blob",
                &format!("{r}:files/with space/Grüße ünïcödé.txt")
            ]
        ),
        "hallo welt\n"
    );
    assert_eq!(
        git(tmp.path(), &["cat-file", "blob", &format!("{r}:ziphash")]),
        c.ziphash
    );
    let size = git(
        tmp.path(),
        &["cat-file", "-s", &format!("{r}:files/big/data.bin")],
    );
    assert_eq!(size.trim(), big.len().to_string());
    let index = git(tmp.path(), &["cat-file", "blob", &format!("{r}:index")]);
    assert!(index.starts_with("gomodfs-index 1\n"), "{index}");
    assert!(index.contains(" 0 empty\n"), "{index}");

    // Putting it again writes nothing.
    let again = store.put_module_counted(&m, &c).unwrap();
    assert_eq!(again.written, 0);
    assert_eq!(packs(tmp.path()).len(), 1);
}

#[test]
fn identical_files_are_stored_once() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let common: Vec<(String, Bytes)> = (0..50)
        .map(|i| {
            (
                format!("pkg{}/f{i}.go", i % 5),
                b(&format!("package p\n// {i}\n")),
            )
        })
        .collect();
    let files = |changed: &str| {
        let mut f: Vec<(&str, Bytes)> = common
            .iter()
            .map(|(p, d)| (p.as_str(), d.clone()))
            .collect();
        f.push(("go.mod", b("module example.com/m\n")));
        f.push(("dir/sub/c.go", b(changed)));
        f
    };
    let v1 = mv("example.com/m", "v1.0.0");
    let v2 = mv("example.com/m", "v1.0.1");
    let c1 = contents("v1.0.0", &files("package sub // v1\n"));
    let c2 = contents("v1.0.1", &files("package sub // v2\n"));
    let s1 = store.put_module_counted(&v1, &c1).unwrap();
    assert_eq!(s1.written, s1.objects);
    let before = packs(tmp.path());
    let s2 = store.put_module_counted(&v2, &c2).unwrap();
    // New: c.go, trees sub, dir, files, root, and the index, info and
    // ziphash blobs (go.mod is the same).
    assert_eq!(s2.written, 8, "{s2:?}");
    let after = packs(tmp.path());
    assert_eq!(after.len(), 2);
    let new_pack: Vec<&PathBuf> = after.iter().filter(|p| !before.contains(p)).collect();
    assert_eq!(new_pack.len(), 1);
    assert_eq!(objects_in(new_pack[0]).len(), 8);
    assert_stored(&store, &v1, &c1);
    assert_stored(&store, &v2, &c2);
    fsck(tmp.path());
}

#[test]
fn meta_alone_then_module() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let m = mv("github.com/BurntSushi/toml", "v1.3.2");
    let c = contents(
        "v1.3.2",
        &[("go.mod", b("module github.com/BurntSushi/toml\n"))],
    );
    store.put_meta(&m, MetaFile::Mod, &c.go_mod).unwrap();
    assert_eq!(
        store.meta(&m, MetaFile::Mod).unwrap(),
        Some(c.go_mod.clone())
    );
    assert_eq!(store.meta(&m, MetaFile::Info).unwrap(), None);
    assert_eq!(store.module(&m).unwrap(), None);
    assert_eq!(
        store.list().unwrap(),
        vec![StoreEntry {
            module: m.clone(),
            complete: false
        }]
    );
    // A loose object, no pack.
    assert!(packs(tmp.path()).is_empty());
    store.put_meta(&m, MetaFile::Info, &c.info).unwrap();
    assert_eq!(
        store.meta(&m, MetaFile::Info).unwrap(),
        Some(c.info.clone())
    );
    // Another instance sees the loose objects.
    let other = GitStore::open(tmp.path()).unwrap();
    assert_eq!(
        other.meta(&m, MetaFile::Info).unwrap(),
        Some(c.info.clone())
    );
    fsck(tmp.path());

    store.put_module(&m, &c).unwrap();
    assert_stored(&store, &m, &c);
    assert_eq!(
        store.list().unwrap(),
        vec![StoreEntry {
            module: m.clone(),
            complete: true
        }]
    );
    fsck(tmp.path());
}

#[test]
fn meta_answers_from_a_complete_module() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let m = mv("example.com/m", "v0.1.0");
    let c = contents("v0.1.0", &[("x.go", b("package x\n"))]);
    store.put_module(&m, &c).unwrap();
    assert_eq!(
        store.meta(&m, MetaFile::Info).unwrap(),
        Some(c.info.clone())
    );
    assert_eq!(
        store.meta(&m, MetaFile::Mod).unwrap(),
        Some(c.go_mod.clone())
    );
    assert_eq!(
        store
            .meta(&mv("example.com/m", "v0.1.1"), MetaFile::Mod)
            .unwrap(),
        None
    );
}

/// Module paths and versions with every character class that needs care.
fn nasty() -> Vec<ModuleVersion> {
    vec![
        mv("github.com/BurntSushi/toml", "v1.2.3"),
        mv(
            "example.com/a~b/c.d_e-f",
            "v0.0.0-20191109021931-daa7c04131f5",
        ),
        mv("gopkg.in/yaml.v3", "v3.0.1"),
        mv("github.com/docker/docker", "v20.10.24+incompatible"),
        mv("github.com/Azure/azure-sdk-for-go", "v68.0.0+incompatible"),
        mv("example.com/x", "v1.0.0-rc.1.0.20200101000000-abcdefabcdef"),
        mv("example.com/x/v2", "v2.0.0-RC1"),
        mv("example.com/lock.lock/a.lock", "v1.0.0"),
        mv("example.com/__/--/~~", "v1.0.0"),
        mv("example.com/x", "v1.0.0"),
    ]
}

#[test]
fn ref_names_are_valid_and_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path()).unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    for m in nasty() {
        for kind in [RefKind::Zip, RefKind::Info, RefKind::Mod] {
            let name = refs::ref_name(kind, &m);
            assert_eq!(git(tmp.path(), &["check-ref-format", &name]), "", "{name}");
            assert!(!name.bytes().any(|c| c.is_ascii_uppercase()), "{name}");
            let rel = name
                .strip_prefix(&format!("refs/gomodfs/{}/", kind.dir()))
                .unwrap();
            assert_eq!(refs::parse_rel_name(rel).as_ref(), Some(&m), "{name}");
        }
    }
    // Through the store: put them all, list them back, and git agrees.
    for (i, m) in nasty().iter().enumerate() {
        let c = contents(m.version(), &[("f.go", b(&format!("package f // {i}\n")))]);
        if i % 2 == 0 {
            store.put_module(m, &c).unwrap();
        } else {
            store.put_meta(m, MetaFile::Mod, &c.go_mod).unwrap();
        }
    }
    let mut listed = store.list().unwrap();
    listed.sort();
    let mut want: Vec<StoreEntry> = nasty()
        .into_iter()
        .enumerate()
        .map(|(i, module)| StoreEntry {
            module,
            complete: i % 2 == 0,
        })
        .collect();
    want.sort();
    assert_eq!(listed, want);
    let git_refs = git(tmp.path(), &["for-each-ref", "--format=%(refname)"]);
    assert_eq!(git_refs.lines().count(), nasty().len());
    fsck(tmp.path());
}

#[test]
fn list_skips_what_does_not_decode() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let m = mv("example.com/m", "v1.0.0");
    store
        .put_module(&m, &contents("v1.0.0", &[("a", b("a"))]))
        .unwrap();
    let zip = tmp.path().join("refs/gomodfs/zip");
    let id = git(tmp.path(), &["rev-parse", &GitStore::ref_name(&m)]);
    for junk in [
        "example%2ecom/UPPER/@v/v1%2e0%2e0",
        "example%2ecom/m/@v/not-a-version",
        "example%2ecom/m/no-version-dir",
        "example%2Ecom/m/@v/v1%2e0%2e0",
    ] {
        let p = zip.join(junk);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &id).unwrap();
    }
    assert_eq!(
        store.list().unwrap(),
        vec![StoreEntry {
            module: m,
            complete: true
        }]
    );
}

#[test]
fn two_instances_see_each_others_puts() {
    let tmp = tempfile::tempdir().unwrap();
    let a = GitStore::open(tmp.path()).unwrap();
    let b_store = GitStore::open(tmp.path()).unwrap();
    let m1 = mv("example.com/one", "v1.0.0");
    let m2 = mv("example.com/two", "v1.0.0");
    let c1 = contents(
        "v1.0.0",
        &[("one.go", b("package one\n")), ("shared.go", b("shared\n"))],
    );
    let c2 = contents(
        "v1.0.0",
        &[("two.go", b("package two\n")), ("shared.go", b("shared\n"))],
    );
    // Make both load their (empty) view of the packs first.
    assert_eq!(a.module(&m1).unwrap(), None);
    assert_eq!(
        b_store
            .blob(&BlobId::from_slice(&[7; 20]).unwrap())
            .unwrap(),
        None
    );

    a.put_module(&m1, &c1).unwrap();
    assert_stored(&b_store, &m1, &c1);
    // b knows a's objects now: its put only writes what is new.
    let s = b_store.put_module_counted(&m2, &c2).unwrap();
    // Only the root, index, files tree and two.go are new: shared.go and
    // the .info, .mod and ziphash blobs (same bytes) exist.
    assert_eq!(s.written, 4, "{s:?}");
    assert_stored(&a, &m2, &c2);
    let mut l = a.list().unwrap();
    l.sort();
    assert_eq!(l.len(), 2);
}

#[test]
fn concurrent_overlapping_puts() {
    let tmp = tempfile::tempdir().unwrap();
    let shared: Vec<(String, Bytes)> = (0..200)
        .map(|i| {
            (
                format!("p{}/s{i}.go", i % 7),
                b(&format!("package p // shared {i}\n")),
            )
        })
        .collect();
    let module = |t: usize, v: usize| {
        let m = mv(&format!("example.com/m{}", t % 3), &format!("v1.{v}.0"));
        let mut files: Vec<(&str, Bytes)> = shared
            .iter()
            .map(|(p, d)| (p.as_str(), d.clone()))
            .collect();
        let own = format!("package own // {} {v}\n", t % 3);
        files.push(("own.go", b(&own)));
        (m, contents(&format!("v1.{v}.0"), &files))
    };
    std::thread::scope(|s| {
        for t in 0..8 {
            let dir = tmp.path();
            let module = &module;
            s.spawn(move || {
                // One instance per thread, like separate processes.
                let store = GitStore::open(dir).unwrap();
                for v in 0..4 {
                    // Threads t and t+3 put the same module versions.
                    let (m, c) = module(t % 6, v);
                    store.put_module(&m, &c).unwrap();
                    assert_stored(&store, &m, &c);
                }
            });
        }
    });
    let store = GitStore::open(tmp.path()).unwrap();
    let mut count = 0;
    for t in 0..6 {
        for v in 0..4 {
            let (m, c) = module(t, v);
            assert_stored(&store, &m, &c);
            count += 1;
        }
    }
    assert_eq!(count, 24);
    assert_eq!(store.list().unwrap().len(), 12);
    fsck(tmp.path());
}

#[test]
fn concurrent_identical_puts_share_one_instance() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let files: Vec<(String, Bytes)> = (0..300)
        .map(|i| (format!("d{}/f{i}", i % 10), b(&format!("{i}"))))
        .collect();
    let fs: Vec<(&str, Bytes)> = files.iter().map(|(p, d)| (p.as_str(), d.clone())).collect();
    let c = contents("v1.0.0", &fs);
    let m = mv("example.com/same", "v1.0.0");
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                store.put_module(&m, &c).unwrap();
                assert_stored(&store, &m, &c);
            });
        }
    });
    assert_stored(&store, &m, &c);
    fsck(tmp.path());
}

#[test]
fn leftovers_of_killed_processes_are_harmless() {
    let tmp = tempfile::tempdir().unwrap();
    let m = mv("example.com/m", "v1.0.0");
    let c = contents("v1.0.0", &[("a.go", b("package a\n"))]);
    {
        let store = GitStore::open(tmp.path()).unwrap();
        store.put_module(&m, &c).unwrap();
    }
    let pack_dir = tmp.path().join("objects/pack");
    let ref_dir = tmp.path().join("refs/gomodfs/zip/example%2ecom/m/@v");
    let old = SystemTime::now() - Duration::from_secs(2 * 3600);
    let mk = |p: PathBuf, data: &[u8], stale: bool| {
        std::fs::write(&p, data).unwrap();
        if stale {
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        p
    };
    let stale_pack = mk(
        pack_dir.join(format!("{}1_1_0", layout::TMP_PACK_PREFIX)),
        b"PACK junk",
        true,
    );
    let stale_idx = mk(
        pack_dir.join(format!("{}1_2_0", layout::TMP_IDX_PREFIX)),
        b"junk",
        true,
    );
    let fresh_pack = mk(
        pack_dir.join(format!("{}1_3_0", layout::TMP_PACK_PREFIX)),
        b"PACK junk",
        false,
    );
    let stale_ref = mk(
        ref_dir.join(format!("{}1_4_0", layout::TMP_REF_PREFIX)),
        b"0000",
        true,
    );
    let fresh_ref = mk(
        ref_dir.join(format!("{}1_5_0", layout::TMP_REF_PREFIX)),
        b"",
        false,
    );
    let stale_obj = mk(
        tmp.path()
            .join(format!("objects/{}1_6_0", layout::TMP_OBJ_PREFIX)),
        b"x",
        true,
    );
    // A pack whose index was never renamed into place, with an object that
    // nothing else has.
    let orphan = Object::new(Kind::Blob, b("only in the orphan pack"));
    let written = pack::write_pack(&pack_dir, &[&orphan]).unwrap();
    std::fs::remove_file(&written.idx).unwrap();

    // The ref directories are swept at most once per STALE_AFTER (the open
    // above did): a stale temp ref stays until the stamp is old too.
    drop(GitStore::open(tmp.path()).unwrap());
    assert!(
        stale_ref.exists(),
        "ref directories swept again within the hour"
    );
    assert!(
        !stale_pack.exists(),
        "other directories are swept at every open"
    );
    let stamp = tmp.path().join(layout::SWEEP_STAMP);
    std::fs::File::options()
        .write(true)
        .open(&stamp)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    for p in [&stale_pack, &stale_idx, &stale_ref, &stale_obj] {
        assert!(!p.exists(), "{} not removed", p.display());
    }
    for p in [&fresh_pack, &fresh_ref, &written.pack] {
        assert!(p.exists(), "{} removed", p.display());
    }
    assert_stored(&store, &m, &c);
    assert_eq!(store.list().unwrap().len(), 1);
    let orphan_id = BlobId::from_slice(orphan.id.as_bytes()).unwrap();
    assert_eq!(store.blob(&orphan_id).unwrap(), None);

    // A put whose pack made it but whose ref did not (killed in between):
    // not visible; putting again completes it.
    let m2 = mv("example.com/m", "v1.1.0");
    let c2 = contents("v1.1.0", &[("a.go", b("package a // 2\n"))]);
    let built = build_module(&m2, &c2).unwrap();
    let all: Vec<&Object> = built.objects.iter().collect();
    pack::write_pack(&pack_dir, &all).unwrap();
    assert_eq!(store.module(&m2).unwrap(), None);
    let s = store.put_module_counted(&m2, &c2).unwrap();
    assert_eq!(s.written, 0, "objects were already there");
    assert_stored(&store, &m2, &c2);
}

#[test]
fn blob_lookups() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let m = mv("example.com/m", "v1.0.0");
    store
        .put_module(&m, &contents("v1.0.0", &[("a/b", b("b"))]))
        .unwrap();
    assert_eq!(
        store.blob(&BlobId::from_slice(&[1; 32]).unwrap()).unwrap(),
        None,
        "not sha1"
    );
    assert_eq!(
        store.blob(&BlobId::from_slice(&[1; 20]).unwrap()).unwrap(),
        None,
        "missing"
    );
    let root = store.read_ref(RefKind::Zip, &m).unwrap().unwrap();
    assert_eq!(
        store
            .blob(&BlobId::from_slice(root.as_bytes()).unwrap())
            .unwrap(),
        None,
        "a tree"
    );
    let empty = pack::object_id(Kind::Blob, b"");
    assert_eq!(
        store
            .blob(&BlobId::from_slice(empty.as_bytes()).unwrap())
            .unwrap(),
        None
    );
}

#[test]
fn bad_file_lists_are_rejected_with_the_module_named() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let m = mv("example.com/m", "v1.0.0");
    for files in [
        vec![("a", b("1")), ("a", b("2"))],
        vec![("a", b("1")), ("a/b", b("2"))],
        vec![("a//b", b("1"))],
        vec![("a\nb", b("1"))],
        vec![("../a", b("1"))],
    ] {
        let err = store
            .put_module(&m, &contents("v1.0.0", &files))
            .unwrap_err();
        assert!(err.to_string().contains("example.com/m@v1.0.0"), "{err}");
    }
    assert_eq!(store.module(&m).unwrap(), None);
    assert!(packs(tmp.path()).is_empty());
}

#[test]
fn git_gc_keeps_modules_and_loose_refs() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let mut all = Vec::new();
    for v in 0..5 {
        let m = mv("example.com/m", &format!("v1.{v}.0"));
        let c = contents(
            &format!("v1.{v}.0"),
            &[
                ("a.go", b(&format!("package a // {v}\n"))),
                ("b.go", b("b\n")),
            ],
        );
        store.put_module(&m, &c).unwrap();
        all.push((m, c));
    }
    let meta_only = mv("example.com/meta", "v1.0.0");
    store
        .put_meta(&meta_only, MetaFile::Mod, &b("module example.com/meta\n"))
        .unwrap();
    assert_eq!(packs(tmp.path()).len(), 5);
    git(tmp.path(), &["gc", "--prune=now", "--quiet"]);
    assert_eq!(packs(tmp.path()).len(), 1, "gc merges the packs");
    assert!(!tmp.path().join("packed-refs").exists(), "refs stay loose");
    // The same instance finds the objects in the new pack.
    for (m, c) in &all {
        assert_stored(&store, m, c);
    }
    assert_eq!(
        store.meta(&meta_only, MetaFile::Mod).unwrap(),
        Some(b("module example.com/meta\n"))
    );
    fsck(tmp.path());
}

#[test]
fn ten_thousand_files() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let files: Vec<(String, Bytes)> = (0..10_000)
        .map(|i| {
            let body = format!(
                "package p{}\n\n// file {i}\n{}",
                i % 100,
                "func f() {}\n".repeat(i % 300)
            );
            (
                format!("d{}/e{}/f{i}.go", i % 100, i % 7),
                Bytes::from(body),
            )
        })
        .collect();
    let total: usize = files.iter().map(|(_, d)| d.len()).sum();
    let fs: Vec<(&str, Bytes)> = files.iter().map(|(p, d)| (p.as_str(), d.clone())).collect();
    let m = mv("example.com/big", "v1.0.0");
    let c = contents("v1.0.0", &fs);

    let t = Instant::now();
    let stats = store.put_module_counted(&m, &c).unwrap();
    let put = t.elapsed();
    let t = Instant::now();
    let got = store.module(&m).unwrap().unwrap();
    let module = t.elapsed();
    let t = Instant::now();
    let fresh = GitStore::open(tmp.path()).unwrap();
    let got2 = fresh.module(&m).unwrap().unwrap();
    let cold = t.elapsed();
    let t = Instant::now();
    let mut read = 0;
    for f in &got.files {
        read += store.blob(&f.blob).unwrap().unwrap().len();
    }
    let blobs = t.elapsed();
    let t = Instant::now();
    let c2 = contents("v1.0.1", &fs);
    let again = store
        .put_module_counted(&mv("example.com/big", "v1.0.1"), &c2)
        .unwrap();
    let reput = t.elapsed();
    let pack_size: u64 = packs(tmp.path())
        .iter()
        .map(|p| std::fs::metadata(p.with_extension("pack")).unwrap().len())
        .sum();
    println!(
        "10,000 files, {total} bytes, {} objects -> pack {pack_size} bytes: put {put:?}, module() {module:?}, \
         open+module() {cold:?}, read all blobs {blobs:?}, put of a 2nd version with the same files {reput:?} \
         ({} new objects)",
        stats.objects, again.written
    );
    assert_eq!(got.files.len(), 10_000);
    assert_eq!(got, got2);
    assert_eq!(read, total);
    assert_eq!(again.written, 3, "root, info, ziphash");
}

#[test]
fn a_module_without_files() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let m = mv("example.com/empty", "v1.0.0");
    let c = contents("v1.0.0", &[]);
    store.put_module(&m, &c).unwrap();
    assert_stored(&store, &m, &c);
    fsck(tmp.path());
}

/// Env var that makes a multi-process test the body of a child process
/// (see [`run_as_child`]).
const CHILD_ENV: &str = "GOMODFS_GIT_STORE_TEST_CHILD";

/// Module number `i` of the multi-process tests: shared files, one own
/// file, and a large file unique to it (so that its pack takes a while).
fn process_module(i: usize) -> (ModuleVersion, ModuleContents) {
    let version = format!("v1.{i}.0");
    let mut files: Vec<(String, Bytes)> = (0..100)
        .map(|j| {
            (
                format!("shared/s{j}.go"),
                b(&format!("package shared // {j}\n")),
            )
        })
        .collect();
    files.push((format!("own/o{i}.go"), b(&format!("package own // {i}\n"))));
    let mut big = big_file(3 << 20).to_vec();
    big.extend_from_slice(version.as_bytes());
    files.push(("big.bin".into(), Bytes::from(big)));
    let fs: Vec<(&str, Bytes)> = files.iter().map(|(p, d)| (p.as_str(), d.clone())).collect();
    (mv("example.com/proc", &version), contents(&version, &fs))
}

/// Starts this test binary as a child running the test `name` (this
/// module's path included) with [`CHILD_ENV`] set to `spec`: that test
/// then does [`run_as_child`]'s work instead of its own.
fn spawn_child(name: &str, spec: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, spec)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// The body of the child processes that the multi-process tests start
/// through [`spawn_child`], run by those tests themselves when
/// [`CHILD_ENV`] is set (so no test exists that passes by doing nothing):
/// with `<first>:<last>:<dir>`, puts modules `first..=last` (both orders
/// allowed) into the store at `dir` and returns true. Without
/// [`CHILD_ENV`], returns false and the test runs as itself.
fn run_as_child() -> bool {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return false;
    };
    let mut parts = spec.splitn(3, ':');
    let first: usize = parts.next().unwrap().parse().unwrap();
    let last: usize = parts.next().unwrap().parse().unwrap();
    let store = GitStore::open(Path::new(parts.next().unwrap())).unwrap();
    let order: Vec<usize> = if first <= last {
        (first..=last).collect()
    } else {
        (last..=first).rev().collect()
    };
    for i in order {
        let (m, c) = process_module(i);
        store.put_module(&m, &c).unwrap();
    }
    true
}

#[test]
fn separate_processes_put_overlapping_modules() {
    const NAME: &str = "store::git::tests::separate_processes_put_overlapping_modules";
    if run_as_child() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    // Three processes put modules 0..=5, two of them in opposite orders.
    let children: Vec<_> = [
        format!("0:5:{dir}"),
        format!("5:0:{dir}"),
        format!("2:5:{dir}"),
    ]
    .iter()
    .map(|spec| spawn_child(NAME, spec))
    .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a child process failed");
    }
    let store = GitStore::open(tmp.path()).unwrap();
    for i in 0..=5 {
        let (m, c) = process_module(i);
        assert_stored(&store, &m, &c);
    }
    assert_eq!(store.list().unwrap().len(), 6);
    fsck(tmp.path());
}

#[test]
fn kill_dash_nine_leaves_complete_modules_or_nothing() {
    const NAME: &str = "store::git::tests::kill_dash_nine_leaves_complete_modules_or_nothing";
    if run_as_child() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let mut next = 0;
    for delay_ms in [30, 80, 150, 250, 400] {
        let mut child = spawn_child(NAME, &format!("{next}:{}:{dir}", next + 1000));
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let store = GitStore::open(tmp.path()).unwrap();
        let listed = store.list().unwrap();
        for e in &listed {
            assert!(e.complete);
            let i: usize = e
                .module
                .version()
                .split('.')
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            let (m, c) = process_module(i);
            assert_eq!(e.module, m);
            assert_stored(&store, &m, &c);
        }
        let tmp_files = std::fs::read_dir(tmp.path().join("objects/pack"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("tmp_")
            })
            .count();
        println!(
            "killed after {delay_ms} ms: {} modules stored, {tmp_files} temp files left",
            listed.len()
        );
        next = listed.len() + 1;
    }
    fsck(tmp.path());
    // The store stays usable.
    let store = GitStore::open(tmp.path()).unwrap();
    let (m, c) = process_module(next + 5000);
    store.put_module(&m, &c).unwrap();
    assert_stored(&store, &m, &c);
}

#[test]
fn readers_while_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let (m0, c0) = process_module(0);
    store.put_module(&m0, &c0).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                let mut rounds = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) || rounds == 0 {
                    for e in store.list().unwrap() {
                        let got = store.module(&e.module).unwrap().unwrap();
                        for f in got.files.iter().take(20) {
                            assert_eq!(store.blob(&f.blob).unwrap().unwrap().len() as u64, f.size);
                        }
                    }
                    rounds += 1;
                }
            });
        }
        for i in 1..4 {
            let (m, c) = process_module(i);
            store.put_module(&m, &c).unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(store.list().unwrap().len(), 4);
}

/// Puts and lookups with many modules (a pack per put, merged in the
/// background). Slow in debug builds; run with
/// `cargo test --release -- --ignored many_packs --nocapture`.
#[test]
#[ignore]
fn many_packs() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let n = 2000;
    let t = Instant::now();
    let mut modules = Vec::new();
    for i in 0..n {
        let m = mv("example.com/many", &format!("v1.{i}.0"));
        let files: Vec<(String, Bytes)> = (0..20)
            .map(|j| (format!("f{j}.go"), b(&format!("package f // {i} {j}\n"))))
            .collect();
        let fs: Vec<(&str, Bytes)> = files.iter().map(|(p, d)| (p.as_str(), d.clone())).collect();
        store
            .put_module(&m, &contents(&format!("v1.{i}.0"), &fs))
            .unwrap();
        modules.push(m);
    }
    let put = t.elapsed();
    let fresh = GitStore::open(tmp.path()).unwrap();
    let t = Instant::now();
    let mut blobs = 0;
    for m in modules.iter().rev() {
        for f in fresh.module(m).unwrap().unwrap().files {
            fresh.blob(&f.blob).unwrap().unwrap();
            blobs += 1;
        }
    }
    let read = t.elapsed();
    let t = Instant::now();
    let missing = BlobId::from_slice(&[3; 20]).unwrap();
    for _ in 0..100 {
        assert_eq!(fresh.blob(&missing).unwrap(), None);
    }
    let miss = t.elapsed() / 100;
    println!(
        "{n} puts, {} packs left: {:?} per put; cold module()+blob reads: {:?} per object ({blobs} objects); a miss: {miss:?}",
        packs(tmp.path()).len(),
        put / n,
        read / (blobs + 5 * n)
    );
}

/// Waits for a background compaction of `store` to end.
fn wait_for_compaction(store: &GitStore) {
    let t = Instant::now();
    while store.compacting.load(std::sync::atomic::Ordering::Acquire) {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "compaction does not end"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Module `i` of a series of versions that are similar enough for git to
/// store them as deltas.
fn similar_module(i: usize, big: bool) -> (ModuleVersion, ModuleContents) {
    let version = format!("v2.{i}.0");
    let text: String = (0..300)
        .map(|l| format!("// line {l} of a file that changes little\n"))
        .collect();
    let mut files = vec![
        ("doc.go".to_owned(), b(&format!("{text}// version {i}\n"))),
        ("other.go".to_owned(), b(&format!("package x // {i}\n"))),
    ];
    if big {
        let mut data = big_file(1 << 20).to_vec();
        data.extend_from_slice(version.as_bytes());
        files.push(("big.bin".to_owned(), Bytes::from(data)));
    }
    let fs: Vec<(&str, Bytes)> = files.iter().map(|(p, d)| (p.as_str(), d.clone())).collect();
    (mv("example.com/similar", &version), contents(&version, &fs))
}

/// Puts `similar_module(i, big)` for every `i` in `range`, one pack each,
/// and returns what was put.
fn put_similar(
    store: &GitStore,
    range: std::ops::Range<usize>,
    big: bool,
) -> Vec<(ModuleVersion, ModuleContents)> {
    range
        .map(|i| {
            let (m, c) = similar_module(i, big);
            store.put_module(&m, &c).unwrap();
            (m, c)
        })
        .collect()
}

/// A `.mod` and `.info` stored alone (loose objects) for each of `n`
/// modules: the modules with their contents, and the objects' ids.
#[allow(clippy::type_complexity)]
fn put_loose_metas(
    store: &GitStore,
    n: usize,
) -> (Vec<(ModuleVersion, Bytes, Bytes)>, Vec<ObjectId>) {
    let mut stored = Vec::new();
    for i in 0..n {
        let m = mv(&format!("example.com/loose{i}"), "v1.0.0");
        let go_mod = b(&format!("module example.com/loose{i}\n\ngo 1.21\n"));
        let info = b(&format!(
            "{{\"Version\":\"v1.0.0\",\"Time\":\"2024-01-{:02}T00:00:00Z\"}}",
            i + 1
        ));
        store.put_meta(&m, MetaFile::Mod, &go_mod).unwrap();
        store.put_meta(&m, MetaFile::Info, &info).unwrap();
        stored.push((m, go_mod, info));
    }
    let ids: Vec<ObjectId> = stored
        .iter()
        .flat_map(|(_, go_mod, info)| {
            [go_mod, info].map(|d| pack::Object::new(Kind::Blob, d.clone()).id)
        })
        .collect();
    assert!(ids.iter().all(|id| store.is_loose(id)), "stored loose");
    (stored, ids)
}

/// gc packs loose objects before its repack (a dry run leaves them): the
/// `.mod`s and `.info`s stored alone end up in its pack, readable by a
/// fresh process, their files gone, and the stored module still whole.
#[test]
fn gc_packs_loose_objects_and_keeps_what_refs_name() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let all = put_similar(&store, 0..2, false);
    let (stored, ids) = put_loose_metas(&store, 3);
    let keep_all = GcOptions {
        max_size: Some(u64::MAX),
        grace: Duration::ZERO,
        ..GcOptions::default()
    };
    let dry = GcOptions {
        dry_run: true,
        ..keep_all.clone()
    };
    store.gc(&dry).unwrap();
    assert!(
        ids.iter().all(|id| store.is_loose(id)),
        "a dry run changes nothing"
    );

    let report = store.gc(&keep_all).unwrap();
    assert!(report.removed.is_empty(), "{report:?}");
    assert!(ids.iter().all(|id| !store.is_loose(id)), "files deleted");
    let packed: Vec<ObjectId> = packs(tmp.path())
        .iter()
        .flat_map(|p| objects_in(p))
        .collect();
    assert!(
        ids.iter().all(|id| packed.contains(id)),
        "kept in gc's pack"
    );
    let fresh = GitStore::open(tmp.path()).unwrap();
    for (m, go_mod, info) in &stored {
        assert_eq!(fresh.meta(m, MetaFile::Mod).unwrap().as_ref(), Some(go_mod));
        assert_eq!(fresh.meta(m, MetaFile::Info).unwrap().as_ref(), Some(info));
    }
    for (m, c) in &all {
        assert_stored(&fresh, m, c);
    }
    fsck(tmp.path());
}

/// Compaction packs loose objects (the `.mod`s and `.info`s stored alone)
/// and deletes their files only once the pack is in place; every reader
/// (one that read them loose, a fresh one) still finds them, and a damaged
/// loose file is left alone without stopping it.
#[test]
fn compaction_packs_loose_objects_and_leaves_damaged_ones_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let (stored, ids) = put_loose_metas(&store, 5);
    assert!(packs(tmp.path()).is_empty());
    // Read loose once (this instance keeps a handle on the odb).
    let warm = GitStore::open(tmp.path()).unwrap();
    for (m, go_mod, _) in &stored {
        assert_eq!(warm.meta(m, MetaFile::Mod).unwrap().as_ref(), Some(go_mod));
    }
    // A file in a loose object's place that does not hash to its name.
    let fake = pack::Object::new(Kind::Blob, b("never stored"));
    let (dir, name) = pack::loose_place(&tmp.path().join("objects"), &fake.id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(&name), b"not an object").unwrap();

    let stats = store.compact().unwrap();
    assert_eq!(stats.loose_packed, ids.len(), "{stats:?}");
    assert!(ids.iter().all(|id| !store.is_loose(id)), "files deleted");
    assert!(dir.join(&name).exists(), "the damaged file is left alone");
    let packed: Vec<ObjectId> = packs(tmp.path())
        .iter()
        .flat_map(|p| objects_in(p))
        .collect();
    assert!(ids.iter().all(|id| packed.contains(id)), "all in a pack");
    for s in [&store, &warm, &GitStore::open(tmp.path()).unwrap()] {
        for (m, go_mod, info) in &stored {
            assert_eq!(s.meta(m, MetaFile::Mod).unwrap().as_ref(), Some(go_mod));
            assert_eq!(s.meta(m, MetaFile::Info).unwrap().as_ref(), Some(info));
        }
    }
    // Nothing loose is left to pack.
    assert_eq!(store.compact().unwrap().loose_packed, 0);
    std::fs::remove_file(dir.join(&name)).unwrap();
    fsck(tmp.path());
}

#[test]
fn compaction_merges_packs_and_everyone_still_finds_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let all = put_similar(&store, 0..10, false);
    assert_eq!(packs(tmp.path()).len(), 10);
    // One reader has read everything (indexes and packs loaded), one has
    // only loaded the indexes (a miss loads them all), one is fresh.
    let warm = GitStore::open(tmp.path()).unwrap();
    for (m, c) in &all {
        assert_stored(&warm, m, c);
    }
    let indexes_only = GitStore::open(tmp.path()).unwrap();
    assert_eq!(
        indexes_only
            .blob(&BlobId::from_slice(&[5; 20]).unwrap())
            .unwrap(),
        None
    );

    let stats = store.compact().unwrap();
    assert_eq!(stats.packs_merged, 10, "{stats:?}");
    assert_eq!(packs(tmp.path()).len(), 1);
    assert!(!tmp.path().join(compact::LOCK_NAME_FOR_TESTS).exists());
    for s in [
        &store,
        &warm,
        &indexes_only,
        &GitStore::open(tmp.path()).unwrap(),
    ] {
        for (m, c) in &all {
            assert_stored(s, m, c);
        }
    }
    // Nothing more to do.
    assert_eq!(store.compact().unwrap().packs_merged, 0);
    fsck(tmp.path());
}

#[test]
fn compaction_resolves_deltas_from_git_packs() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let mut all = put_similar(&store, 0..6, false);
    git(tmp.path(), &["gc", "--quiet"]);
    let gc_pack = packs(tmp.path());
    assert_eq!(gc_pack.len(), 1);
    let verify = git(
        tmp.path(),
        &["verify-pack", "-v", gc_pack[0].to_str().unwrap()],
    );
    assert!(
        verify.contains("chain length"),
        "git made no deltas:\n{verify}"
    );
    // Three bigger packs, so that the small gc pack is rolled up with them.
    all.extend(put_similar(&store, 6..9, true));
    let stats = store.compact().unwrap();
    assert_eq!(stats.packs_merged, 4, "{stats:?}");
    let merged = packs(tmp.path());
    assert_eq!(merged.len(), 1);
    let verify = git(
        tmp.path(),
        &["verify-pack", "-v", merged[0].to_str().unwrap()],
    );
    assert!(!verify.contains("chain length"), "deltas left:\n{verify}");
    for s in [&store, &GitStore::open(tmp.path()).unwrap()] {
        for (m, c) in &all {
            assert_stored(s, m, c);
        }
    }
    fsck(tmp.path());
}

#[test]
fn puts_compact_in_the_background() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let all = put_similar(&store, 0..60, false);
    wait_for_compaction(&store);
    let n = packs(tmp.path()).len();
    assert!(n < compact::AUTO_COMPACT_PACKS + 6, "{n} packs");
    for (m, c) in &all {
        assert_stored(&store, m, c);
    }
    fsck(tmp.path());
}

#[test]
fn a_held_compaction_lock_skips_compaction() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    put_similar(&store, 0..3, false);
    let lock = tmp.path().join(compact::LOCK_NAME_FOR_TESTS);
    std::fs::write(&lock, b"").unwrap();
    assert_eq!(store.compact().unwrap().packs_merged, 0);
    assert!(lock.exists(), "someone else's lock stays");
    // A lock left by a killed process is taken over after an hour.
    let old = SystemTime::now() - Duration::from_secs(2 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&lock)
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert_eq!(store.compact().unwrap().packs_merged, 3);
    assert!(!lock.exists());
}

#[test]
fn names_too_long_for_the_file_system() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    // Every '.' becomes "%2e": 100 of them make a 300-byte file name.
    let m = mv(&format!("example.com/{}", "a.".repeat(100) + "z"), "v1.0.0");
    assert_eq!(store.module(&m).unwrap(), None);
    assert_eq!(store.meta(&m, MetaFile::Mod).unwrap(), None);
    let err = store
        .put_module(&m, &contents("v1.0.0", &[("a", b("a"))]))
        .unwrap_err();
    assert!(err.to_string().contains(&m.to_string()), "{err}");
    let err = store
        .put_meta(&m, MetaFile::Mod, &b("module x\n"))
        .unwrap_err();
    assert!(err.to_string().contains(&m.to_string()), "{err}");
    assert!(packs(tmp.path()).is_empty(), "nothing written");
}

/// Flips one byte in the middle of the last object of the pack `idx`
/// belongs to (inside its deflated data, so its CRC no longer matches).
fn damage_last_object(idx: &Path) {
    let data = std::fs::read(idx).unwrap();
    let (entries, _) = pack::parse_idx(&data).unwrap();
    let last = entries.iter().map(|e| e.offset).max().unwrap();
    let pack = idx.with_extension("pack");
    let mut bytes = std::fs::read(&pack).unwrap();
    let end = bytes.len() - 20;
    let at = usize::try_from(last).unwrap() + (end - usize::try_from(last).unwrap()) / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&pack, bytes).unwrap();
}

#[test]
fn a_damaged_pack_does_not_block_compaction() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let all = put_similar(&store, 0..6, false);
    let damaged = packs(tmp.path())[0].clone();
    damage_last_object(&damaged);

    let store = GitStore::open(tmp.path()).unwrap();
    let stats = store.compact().unwrap();
    assert_eq!(stats.packs_merged, 5, "{stats:?}");
    assert_eq!(packs(tmp.path()).len(), 2);
    assert!(damaged.exists(), "the damaged pack is left alone");
    // Every module but the damaged one reads back intact.
    let fresh = GitStore::open(tmp.path()).unwrap();
    let damaged_ids = objects_in(&damaged);
    for (m, c) in &all {
        let root = build_module(m, c).unwrap().root;
        if damaged_ids.contains(&root) {
            continue;
        }
        assert_stored(&fresh, m, c);
    }
}

#[test]
fn reads_check_object_ids_and_find_an_intact_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let m = mv("example.com/intact", "v1.0.0");
    let c = contents("v1.0.0", &[("a.go", b("package a // padding padding\n"))]);
    store.put_module(&m, &c).unwrap();
    let idx = packs(tmp.path())[0].clone();
    damage_last_object(&idx);

    let fresh = GitStore::open(tmp.path()).unwrap();
    let stored = fresh.module(&m);
    let blob_err = stored
        .as_ref()
        .ok()
        .and_then(|s| s.as_ref())
        .map(|s| fresh.blob(&s.files[0].blob));
    let damaged = matches!(stored, Err(Error::Damaged { .. }))
        || matches!(blob_err, Some(Err(Error::Damaged { .. })));
    assert!(damaged, "{stored:?} / {blob_err:?}");

    // A replacement writes everything anew; reads find the intact copy.
    fresh.replace_module(&m, &c).unwrap();
    assert_stored(&fresh, &m, &c);
    assert_stored(&GitStore::open(tmp.path()).unwrap(), &m, &c);
}

/// Every prefix of the escaped paths of `modules`, "" and some that hold
/// nothing.
fn prefixes_of(modules: &[ModuleVersion]) -> Vec<String> {
    let mut out: std::collections::BTreeSet<String> = ["", "nothing.example", "example.com/zzz"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for m in modules {
        let path = m.escaped_path();
        let mut end = 0;
        while let Some(i) = path[end..].find('/') {
            out.insert(path[..end + i].to_owned());
            end += i + 1;
        }
        out.insert(path);
    }
    out.into_iter().collect()
}

/// `children` and `versions_of` read only the ref directories below the
/// prefix; they must answer exactly what filtering `list` answers (the
/// trait's defaults), also with nested module paths, partial modules,
/// empty directories that gc leaves, damaged refs and names that do not
/// decode.
#[test]
fn prefix_listings_match_filtering_the_full_list() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let mut modules = nasty();
    modules.extend([
        mv("example.com/a", "v1.0.0"),
        mv("example.com/a/b", "v1.0.0"),
        mv("example.com/a/b/c", "v0.1.0"),
        mv("example.com/only/mod", "v1.0.0"),
        mv("example.com/only/info", "v1.0.0"),
        mv("example.com/a", "v1.1.0"),
        mv("top.example", "v1.0.0"),
    ]);
    for (i, m) in modules.iter().enumerate() {
        let c = contents(m.version(), &[("f.go", b(&format!("package f // {i}\n")))]);
        match i % 4 {
            0 | 1 => store.put_module(m, &c).unwrap(),
            2 => store.put_meta(m, MetaFile::Mod, &c.go_mod).unwrap(),
            _ => store.put_meta(m, MetaFile::Info, &c.info).unwrap(),
        }
        if i % 5 == 0 {
            // Both a complete module and its meta stored alone.
            store.put_meta(m, MetaFile::Info, &c.info).unwrap();
        }
    }
    let refs = tmp.path().join("refs/gomodfs");
    // What gc leaves: empty directories where modules were.
    std::fs::create_dir_all(refs.join("zip/gone%2eexample/x/@v")).unwrap();
    std::fs::create_dir_all(refs.join("mod/example%2ecom/a/gone/@v")).unwrap();
    // A damaged ref, alone under its prefix, and names that do not decode.
    let damaged = refs.join("zip/damaged%2eexample/m/@v/v1%2e0%2e0");
    std::fs::create_dir_all(damaged.parent().unwrap()).unwrap();
    std::fs::write(&damaged, "not an object id\n").unwrap();
    let id = git(tmp.path(), &["rev-parse", &GitStore::ref_name(&modules[0])]);
    for junk in [
        "zip/example%2ecom/UPPER/@v/v1%2e0%2e0",
        "zip/example%2ecom/a/@v/not-a-version",
        "info/example%2Ecom/a/@v/v1%2e0%2e0",
    ] {
        let p = refs.join(junk);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &id).unwrap();
    }

    let all = store.list().unwrap();
    assert!(all.len() >= modules.len() - 1, "{all:?}");
    let mut checked_nested = false;
    for prefix in prefixes_of(&modules)
        .into_iter()
        .chain(["gone.example", "damaged.example"].map(str::to_owned))
    {
        for complete_only in [true, false] {
            let want = crate::store::children::children_in(all.clone(), &prefix, complete_only);
            let got = Store::children(&store, &prefix, complete_only).unwrap();
            assert_eq!(got, want, "children({prefix:?}, {complete_only})");
            checked_nested |= got.iter().any(|c| c.deeper && !c.versions.is_empty());
        }
        let want = crate::store::children::versions_in(all.clone(), &prefix);
        assert_eq!(
            Store::versions_of(&store, &prefix).unwrap(),
            want,
            "versions_of({prefix:?})"
        );
    }
    assert!(checked_nested, "a module path that is a prefix of another");
    let top = Store::children(&store, "", false).unwrap();
    let names: Vec<&str> = top.iter().map(|c| c.name.as_str()).collect();
    assert!(!names.contains(&"gone.example"), "{names:?}");
    assert!(!names.contains(&"damaged.example"), "{names:?}");
    assert!(
        names.contains(&"example.com") && names.contains(&"top.example"),
        "{names:?}"
    );
}

/// A zip of `entries` (full names; a name ending in `/` is a directory),
/// each deflated or stored, in a temporary file.
fn zip_file(entries: &[(&str, &[u8], bool)]) -> std::fs::File {
    use std::io::{Seek, Write};
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data, deflate) in entries {
        let method = if *deflate {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        if name.ends_with('/') {
            w.add_directory(*name, options).unwrap();
        } else {
            w.start_file(*name, options).unwrap();
            w.write_all(data).unwrap();
        }
    }
    let bytes = w.finish().unwrap().into_inner();
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(&bytes).unwrap();
    file.rewind().unwrap();
    file
}

/// The same module put from its zip file and from memory gives the same
/// root tree (so the same objects), reads back the same, and git accepts
/// the pack written from the zip (raw deflate streams reused, stored
/// entries compressed anew, duplicates written once).
#[test]
fn a_module_put_from_its_zip_equals_the_one_put_from_memory() {
    let m = mv("example.com/m", "v1.0.0");
    let go_mod = b"module example.com/m\n\ngo 1.21\n";
    let big = big_file(3 << 20);
    let entries: Vec<(&str, &[u8], bool)> = vec![
        ("example.com/m@v1.0.0/go.mod", go_mod, true),
        ("example.com/m@v1.0.0/a.go", b"package m\n", true),
        ("example.com/m@v1.0.0/same.go", b"package m\n", false),
        ("example.com/m@v1.0.0/sub/", b"", false),
        ("example.com/m@v1.0.0/sub/big.bin", &big, true),
        (
            "example.com/m@v1.0.0/sub/big-stored.bin",
            &big[..1 << 20],
            false,
        ),
        ("example.com/m@v1.0.0/empty.txt", b"", true),
        ("example.com/m@v1.0.0/also-go.mod.txt", go_mod, true),
    ];
    let limits = crate::modzip::Limits::default();
    let zip = crate::modzip::ModuleZip::open(&m, zip_file(&entries), &limits).unwrap();
    let info = b(r#"{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}"#);
    let go_mod = Bytes::from_static(go_mod);
    let reused = from_zip::plan(&zip)
        .iter()
        .filter(|b| b.reuse_raw().is_some())
        .count();
    assert_eq!(reused, 5, "every deflated file's stream is reused");

    let from_zip = tempfile::tempdir().unwrap();
    let store = GitStore::open(from_zip.path()).unwrap();
    store
        .put_module_zip(&m, &zip, &info, &go_mod, false)
        .unwrap();
    fsck(from_zip.path());

    let in_memory = tempfile::tempdir().unwrap();
    let reference = GitStore::open(in_memory.path()).unwrap();
    let contents = zip.to_contents(info.clone(), go_mod.clone()).unwrap();
    reference.put_module(&m, &contents).unwrap();
    let root = |dir: &Path| git(dir, &["rev-parse", &GitStore::ref_name(&m)]);
    assert_eq!(root(from_zip.path()), root(in_memory.path()));
    assert_stored(&store, &m, &contents);
    assert_eq!(store.module(&m).unwrap().unwrap().ziphash, zip.ziphash());

    // Again: nothing new to write; replacing writes every object anew.
    let packs_before = packs(from_zip.path()).len();
    store
        .put_module_zip(&m, &zip, &info, &go_mod, false)
        .unwrap();
    assert_eq!(packs(from_zip.path()).len(), packs_before);
    store
        .put_module_zip(&m, &zip, &info, &go_mod, true)
        .unwrap();
    assert_stored(&store, &m, &contents);
    fsck(from_zip.path());
}

/// A deflate stream followed by stray bytes inside the entry's compressed
/// size: inflating stops at the stream's end, so the contents are valid,
/// but the raw bytes are not a clean zlib body; the blob is compressed
/// anew and git still reads the store.
#[test]
fn a_deflate_stream_with_trailing_bytes_is_compressed_anew() {
    use std::io::{Seek, Write};
    let m = mv("example.com/m", "v1.0.0");
    let data = b"package m\n// some text that deflates\n".repeat(50);
    let mut zip = zip_file(&[("example.com/m@v1.0.0/a.go", &data, true)]);
    // Rewrite the zip with 3 junk bytes after the deflate stream.
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut zip, &mut bytes).unwrap();
    let raw = {
        let mut a = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
        let mut f = a.by_index_raw(0).unwrap();
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut raw).unwrap();
        raw
    };
    let mut junk = raw.clone();
    junk.extend_from_slice(b"\0\0\0");
    let entry = gomodfs_testkit::rawzip::RawEntry {
        name: b"example.com/m@v1.0.0/a.go".to_vec(),
        method: gomodfs_testkit::rawzip::METHOD_DEFLATE,
        data: junk,
        crc32: crc32fast::hash(&data),
        uncompressed_size: data.len() as u32,
        unix_mode: None,
    };
    let bytes = gomodfs_testkit::rawzip::write_zip(&[entry]);
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(&bytes).unwrap();
    file.rewind().unwrap();
    let limits = crate::modzip::Limits::default();
    let zip = crate::modzip::ModuleZip::open(&m, file, &limits).unwrap();
    let blobs = from_zip::plan(&zip);
    assert!(blobs[0].reuse_raw().is_none(), "trailing bytes: not reused");

    let dir = tempfile::tempdir().unwrap();
    let store = GitStore::open(dir.path()).unwrap();
    let info = b(r#"{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}"#);
    let go_mod = b("module example.com/m\n");
    store
        .put_module_zip(&m, &zip, &info, &go_mod, false)
        .unwrap();
    fsck(dir.path());
    let stored = store.module(&m).unwrap().unwrap();
    assert_eq!(store.blob(&stored.files[0].blob).unwrap().unwrap(), data);
}

/// The file index: what the writer makes parses back (sorted, sizes,
/// ids of either case); anything else is damage with the line named,
/// never a panic.
#[test]
fn file_index_parses_back_and_refuses_damage() {
    let m = mv("example.com/ix", "v1.0.0");
    let id = "0123456789abcdef0123456789ABCDEF01234567";
    let index = format!("{INDEX_HEADER}{id} 12 b/c.go\n{id} 0 a b.go\n");
    let files = parse_index(&m, index.as_bytes()).unwrap();
    let got: Vec<(&str, u64)> = files.iter().map(|f| (f.path.as_str(), f.size)).collect();
    assert_eq!(
        got,
        [("a b.go", 0), ("b/c.go", 12)],
        "sorted, spaces kept in paths"
    );
    let expected = ObjectId::from_hex(id.to_lowercase().as_bytes()).unwrap();
    assert_eq!(
        files[0].blob,
        BlobId::from_slice(expected.as_bytes()).unwrap()
    );
    assert!(parse_index(&m, INDEX_HEADER.as_bytes()).unwrap().is_empty());

    for (damage, named) in [
        (format!("{id} 12 a.go\n\n"), "\"\""),
        (format!("{id} 1x a.go\n"), "1x"),
        (format!("{id} a.go\n"), "a.go"),
        (format!("{id}12 a.go\n"), "a.go"),
        (format!("{} 1 a.go\n", &id[..39]), "a.go"),
        (format!("{}g 1 a.go\n", &id[..39]), "a.go"),
        (format!("{id} 99999999999999999999999 a.go\n"), "9999"),
    ] {
        let data = format!("{INDEX_HEADER}{damage}");
        let err = parse_index(&m, data.as_bytes()).unwrap_err().to_string();
        assert!(
            err.contains("malformed line") && err.contains(named),
            "{damage:?}: {err}"
        );
    }
    let mut not_utf8 = format!("{INDEX_HEADER}{id} 1 ").into_bytes();
    not_utf8.extend_from_slice(b"\xff.go\n");
    let err = parse_index(&m, &not_utf8).unwrap_err().to_string();
    assert!(
        err.contains("reading file index") && err.contains("utf-8"),
        "{err}"
    );
    let err = parse_index(&m, b"gomodfs-index 2\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown index format"), "{err}");
}

/// The `.mod` go reads before the zip is stored alone, as a loose object;
/// the module's pack holds it too (a fresh process then reads it from the
/// pack, not with an open and an inflate of its own file), and only it
/// of the objects that already existed, through both ways of putting.
#[test]
fn a_loose_mod_goes_into_the_modules_pack_too() {
    for from_zip in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let store = GitStore::open(tmp.path()).unwrap();
        let m = mv("example.com/loose", "v1.0.0");
        let c = contents(
            "v1.0.0",
            &[
                ("go.mod", b("module example.com/m\n\ngo 1.21\n")),
                ("a.go", b("package a\n")),
            ],
        );
        let mod_id = pack::Object::new(Kind::Blob, c.go_mod.clone()).id;
        store.put_meta(&m, MetaFile::Mod, &c.go_mod).unwrap();
        assert!(store.is_loose(&mod_id));
        assert!(packs(tmp.path()).is_empty());
        if from_zip {
            let entries: Vec<(String, &[u8], bool)> = c
                .files
                .iter()
                .map(|(p, d)| (format!("example.com/loose@v1.0.0/{p}"), &d[..], true))
                .collect();
            let entries: Vec<(&str, &[u8], bool)> = entries
                .iter()
                .map(|(p, d, z)| (p.as_str(), *d, *z))
                .collect();
            let limits = crate::modzip::Limits::default();
            let zip = crate::modzip::ModuleZip::open(&m, zip_file(&entries), &limits).unwrap();
            store
                .put_module_zip(&m, &zip, &c.info, &c.go_mod, false)
                .unwrap();
        } else {
            store.put_module(&m, &c).unwrap();
        }
        let packed: Vec<ObjectId> = packs(tmp.path())
            .iter()
            .flat_map(|p| objects_in(p))
            .collect();
        assert!(
            packed.contains(&mod_id),
            "from_zip {from_zip}: the .mod blob is packed"
        );
        assert_eq!(
            packed.iter().filter(|id| **id == mod_id).count(),
            1,
            "once, though the zip's go.mod is the same blob"
        );
        assert_eq!(store.module(&m).unwrap().unwrap().go_mod, c.go_mod);
        fsck(tmp.path());
    }
}

/// A pack and index written together with a wrong object under a right id
/// (consistent CRC-32s, valid checksums) get past the read path's CRC check
/// (only whoever can write the store can make one), not past fsck, which
/// hashes every object it reads.
#[test]
fn fsck_hashes_what_the_read_path_only_crc_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let store = GitStore::open(tmp.path()).unwrap();
    let m = mv("example.com/forged", "v1.0.0");
    let mut c = contents("v1.0.0", &[("a.go", b("package a // the real contents\n"))]);
    let digests = [(format!("{m}/a.go"), crate::dirhash::sha256(&c.files[0].1))];
    c.ziphash = crate::dirhash::h1_from_digests(digests.iter().cloned()).unwrap();
    store.put_module(&m, &c).unwrap();
    let before = store.fsck_module(&m);
    assert!(before.is_ok(), "{before:?}");
    let target = store.module(&m).unwrap().unwrap().files[0].blob;
    let target = ObjectId::try_from(target.as_bytes()).unwrap();

    // Rewrite every pack with the same objects, the target's contents
    // swapped for others of the same size.
    for idx in packs(tmp.path()) {
        let mut objects = Vec::new();
        for id in objects_in(&idx) {
            let (kind, data) = store.read_object(&id).unwrap().unwrap();
            let kind = match kind {
                gix_object::Kind::Tree => Kind::Tree,
                _ => Kind::Blob,
            };
            let data = if id == target {
                Bytes::from(b"package a // forged  contents\n".to_vec())
            } else {
                data
            };
            objects.push(pack::Object { kind, data, id });
        }
        let refs: Vec<&pack::Object> = objects.iter().collect();
        pack::write_pack(&tmp.path().join("objects/pack"), &refs).unwrap();
        std::fs::remove_file(&idx).unwrap();
        std::fs::remove_file(idx.with_extension("pack")).unwrap();
    }

    let fresh = GitStore::open(tmp.path()).unwrap();
    let problem = fresh.fsck_module(&m).unwrap_err();
    assert!(
        problem
            .cause
            .contains(&format!("object {target} read back")),
        "{problem:?}"
    );
}
