//! Error statuses a misbehaving or outdated client gets, over TCP with
//! `nfs3_client`: a stale handle is NFS3ERR_STALE in every procedure that
//! takes one, READDIR and READDIRPLUS check the cookie verifier and refuse
//! bogus cookies with NFS3ERR_BAD_COOKIE, and handles naming non-canonical
//! paths are refused with NFS3ERR_STALE.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gomodfs_core::store::MemoryStore;
use gomodfs_core::{ModFs, ModFsOptions};
use gomodfs_nfs::HANDLE_GENERATION;
use gomodfs_testkit::nfs::{Client, handle_from};
use gomodfs_testkit::seed::put;
use nfs3_client::nfs3_types::nfs3::{
    self, Nfs3Result, cookieverf3, diropargs3, filename3, nfs_fh3, nfsstat3,
};
use nfs3_client::nfs3_types::xdr_codec::Opaque;
use std::sync::Arc;

fn served() -> (gomodfs_nfs::NfsServer, Client) {
    let store = Arc::new(MemoryStore::new());
    let files: Vec<_> = (0..50)
        .map(|i| (format!("f{i:02}.go"), "package foo\n"))
        .collect();
    put(store.as_ref(), "example.com/foo", "v1.0.0", &files).unwrap();
    let fs = Arc::new(ModFs::new(store, None, ModFsOptions::default()).unwrap());
    let server = gomodfs_nfs::serve(fs, "0").unwrap();
    let c = Client::connect(server.local_addr().port(), "/");
    (server, c)
}

/// A handle of this server's generation with `key` as the node key.
fn handle(key: &[u8]) -> nfs_fh3 {
    let mut bytes = HANDLE_GENERATION.to_le_bytes().to_vec();
    bytes.extend_from_slice(key);
    handle_from(&bytes)
}

/// A path key (form 1) for `path`.
fn path_handle(path: &str) -> nfs_fh3 {
    let mut key = vec![1u8];
    key.extend_from_slice(path.as_bytes());
    handle(&key)
}

/// The status of every procedure that takes `fh` as its object (or
/// directory), by procedure name.
fn statuses(c: &mut Client, fh: &nfs_fh3) -> Vec<(&'static str, Option<nfsstat3>)> {
    let name = || filename3(Opaque::owned(b"x.go".to_vec()));
    let (rt, nfs) = c.nfs();
    macro_rules! status {
        ($e:expr) => {
            match rt.block_on($e).unwrap() {
                Nfs3Result::Ok(_) => None,
                Nfs3Result::Err((stat, _)) => Some(stat),
            }
        };
    }
    vec![
        (
            "GETATTR",
            status!(nfs.getattr(&nfs3::GETATTR3args { object: fh.clone() })),
        ),
        (
            "LOOKUP",
            status!(nfs.lookup(&nfs3::LOOKUP3args {
                what: diropargs3 {
                    dir: fh.clone(),
                    name: name()
                },
            })),
        ),
        (
            "ACCESS",
            status!(nfs.access(&nfs3::ACCESS3args {
                object: fh.clone(),
                access: 0x3f
            })),
        ),
        (
            "READ",
            status!(nfs.read(&nfs3::READ3args {
                file: fh.clone(),
                offset: 0,
                count: 4096
            })),
        ),
        (
            "READDIR",
            status!(nfs.readdir(&nfs3::READDIR3args {
                dir: fh.clone(),
                cookie: 0,
                cookieverf: cookieverf3::default(),
                count: 8192,
            })),
        ),
        (
            "READDIRPLUS",
            status!(nfs.readdirplus(&nfs3::READDIRPLUS3args {
                dir: fh.clone(),
                cookie: 0,
                cookieverf: cookieverf3::default(),
                dircount: 8192,
                maxcount: 8192,
            })),
        ),
        (
            "FSSTAT",
            status!(nfs.fsstat(&nfs3::FSSTAT3args { fsroot: fh.clone() })),
        ),
        (
            "FSINFO",
            status!(nfs.fsinfo(&nfs3::FSINFO3args { fsroot: fh.clone() })),
        ),
        (
            "PATHCONF",
            status!(nfs.pathconf(&nfs3::PATHCONF3args { object: fh.clone() })),
        ),
        (
            "READLINK",
            status!(nfs.readlink(&nfs3::READLINK3args {
                symlink: fh.clone()
            })),
        ),
    ]
}

#[test]
fn a_stale_handle_is_stale_in_every_procedure() {
    let (server, mut c) = served();
    // A module version the store does not hold (hashed form), and a path
    // that names nothing.
    let mut gone = vec![2u8];
    gone.extend_from_slice(&[7; 16]);
    let mut wrong = vec![];
    for (what, fh) in [
        ("hashed key of nothing", handle(&gone)),
        (
            "file that does not exist",
            path_handle("example.com/foo@v1.0.0/nope.go"),
        ),
        (
            "directory that does not exist",
            path_handle("example.com/foo@v1.0.0/no/x.go"),
        ),
    ] {
        for (proc, status) in statuses(&mut c, &fh) {
            if status != Some(nfsstat3::NFS3ERR_STALE) {
                wrong.push(format!("{proc} on a {what}: {status:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "not NFS3ERR_STALE:\n{}", wrong.join("\n"));
    server.stop();
}

/// READDIRPLUS (`plus`) or READDIR of `dir` from `cookie` with `verf`:
/// the cookies of the entries and the verifier, or the status.
fn list(
    c: &mut Client,
    plus: bool,
    dir: &nfs_fh3,
    cookie: u64,
    verf: cookieverf3,
) -> Result<(Vec<u64>, cookieverf3), nfsstat3> {
    if plus {
        return c
            .readdirplus(dir, cookie, verf, 4096)
            .map(|(entries, _, verf)| (entries.iter().map(|e| e.cookie).collect(), verf));
    }
    let (rt, nfs) = c.nfs();
    let args = nfs3::READDIR3args {
        dir: dir.clone(),
        cookie,
        cookieverf: verf,
        count: 4096,
    };
    match rt.block_on(nfs.readdir(&args)).unwrap() {
        Nfs3Result::Ok(ok) => Ok((
            ok.reply.entries.0.iter().map(|e| e.cookie).collect(),
            ok.cookieverf,
        )),
        Nfs3Result::Err((stat, _)) => Err(stat),
    }
}

#[test]
fn readdir_and_readdirplus_check_verifiers_and_cookies() {
    let (server, mut c) = served();
    let (dir, _) = c.walk("example.com/foo@v1.0.0").unwrap();
    for plus in [false, true] {
        let proc = if plus { "READDIRPLUS" } else { "READDIR" };
        let (cookies, verf) = list(&mut c, plus, &dir, 0, cookieverf3::default()).unwrap();
        assert!(cookies.len() > 5, "{proc}: a first page");
        assert_ne!(verf, cookieverf3::default(), "{proc}: a verifier");
        // Resuming with the verifier works.
        let (rest, _) = list(&mut c, plus, &dir, cookies[4], verf).unwrap();
        assert!(
            !rest.is_empty() && !rest.contains(&cookies[4]),
            "{proc}: resumed"
        );
        let mut other = verf;
        other.0[7] ^= 1;
        for (what, cookie, verf) in [
            ("another verifier", cookies[4], other),
            ("no verifier", cookies[4], cookieverf3::default()),
            ("a cookie naming no entry", 0x1234_5678, verf),
        ] {
            assert_eq!(
                list(&mut c, plus, &dir, cookie, verf).unwrap_err(),
                nfsstat3::NFS3ERR_BAD_COOKIE,
                "{proc} with {what}"
            );
        }
    }
    server.stop();
}

#[test]
fn handles_of_non_canonical_paths_are_stale() {
    let (server, mut c) = served();
    for good in ["", "cache/download", "example.com/foo@v1.0.0/f00.go"] {
        assert!(c.getattr(&path_handle(good)).is_ok(), "{good:?}");
    }
    for bad in [
        "cache//download",
        "cache/download/",
        "/cache",
        "cache/./download",
        "cache/download/..",
        "..",
        "example.com/foo@v1.0.0//f00.go",
        "example.com/foo@v1.0.0/f00.go/",
        "example.com/foo@v1.0.0/./f00.go",
    ] {
        let fh = path_handle(bad);
        for (proc, status) in statuses(&mut c, &fh) {
            assert_eq!(status, Some(nfsstat3::NFS3ERR_STALE), "{proc} of {bad:?}");
        }
    }
    server.stop();
}
