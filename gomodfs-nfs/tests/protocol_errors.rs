//! Error statuses a misbehaving or outdated client gets, over TCP with
//! `nfs3_client`: a stale handle is NFS3ERR_STALE in every procedure that
//! takes one, READDIR and READDIRPLUS check the cookie verifier and refuse
//! bogus cookies with NFS3ERR_BAD_COOKIE, and handles naming non-canonical
//! paths are refused with NFS3ERR_STALE. Arguments that do not unpack, or
//! leave bytes over, are GARBAGE_ARGS (READ, which writes its data after
//! the packed reply, as every other procedure), and the connection goes on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gomodfs_core::store::MemoryStore;
use gomodfs_core::{ModFs, ModFsOptions};
use gomodfs_nfs::HANDLE_GENERATION;
use gomodfs_testkit::nfs::{Client, handle_from};
use gomodfs_testkit::seed::put;
use nfs3_client::nfs3_types::nfs3::{
    self, Nfs3Result, cookieverf3, diropargs3, filename3, nfs_fh3, nfsstat3,
};
use nfs3_client::nfs3_types::rpc::{accept_stat_data, msg_body, reply_body, rpc_msg};
use nfs3_client::nfs3_types::xdr_codec::{Opaque, Unpack};
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

/// `record` (a call with its marker) with its last `cut` bytes dropped and
/// `extra` appended, the marker set to the new length.
fn reshaped(record: &[u8], cut: usize, extra: &[u8]) -> Vec<u8> {
    let mut body = record[4..record.len() - cut].to_vec();
    body.extend_from_slice(extra);
    let mut out =
        gomodfs_testkit::nfs::rpc::marker(u32::try_from(body.len()).unwrap(), true).to_vec();
    out.extend_from_slice(&body);
    out
}

/// The accept status of the reply to call `xid`.
fn accept_status(stream: &mut std::net::TcpStream, xid: u32) -> accept_stat_data {
    use std::io::Read;
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).unwrap();
    let mut body = vec![0u8; (u32::from_be_bytes(head) & 0x7fff_ffff) as usize];
    stream.read_exact(&mut body).unwrap();
    let (msg, _) = rpc_msg::unpack(&mut std::io::Cursor::new(&body[..])).unwrap();
    assert_eq!(msg.xid, xid);
    match msg.body {
        msg_body::REPLY(reply_body::MSG_ACCEPTED(accepted)) => accepted.reply_data,
        other => panic!("reply {xid} not accepted: {other:?}"),
    }
}

#[test]
fn arguments_that_do_not_unpack_are_garbage_args() {
    use gomodfs_testkit::nfs::rpc::{answers_null, call_record, read_call};
    use std::io::Write;
    let (server, mut c) = served();
    let (fh, _) = c.walk("example.com/foo@v1.0.0/f00.go").unwrap();
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", server.local_addr().port())).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let getattr = call_record(
        2,
        nfs3::PROGRAM,
        nfs3::VERSION,
        1,
        &nfs3::GETATTR3args { object: fh.clone() },
    );
    let calls = [
        // READ without its count; READ and GETATTR with four bytes over.
        (1, reshaped(&read_call(1, &fh, 0, 4096), 4, &[])),
        (2, reshaped(&getattr, 0, &[0; 4])),
        (3, reshaped(&read_call(3, &fh, 0, 4096), 0, &[0; 4])),
    ];
    for (xid, call) in calls {
        stream.write_all(&call).unwrap();
        assert!(
            matches!(
                accept_status(&mut stream, xid),
                accept_stat_data::GARBAGE_ARGS
            ),
            "call {xid}"
        );
    }
    assert!(answers_null(&mut stream, 9), "the connection goes on");
    // A well-formed READ on the same connection reads.
    stream.write_all(&read_call(10, &fh, 0, 4096)).unwrap();
    assert!(matches!(
        accept_status(&mut stream, 10),
        accept_stat_data::SUCCESS
    ));
    server.stop();
}
