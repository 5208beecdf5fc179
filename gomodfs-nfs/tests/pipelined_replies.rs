//! Replies that leave together (nfs3_server writes every reply already
//! waiting in one vectored write, each record marker with its record):
//! many calls pipelined on one connection, READs of small files and of
//! 1 MiB slices mixed with NULLs and GETATTRs, sent before any reply is
//! read so the server's writes fill the socket and end part-way. Every
//! reply must arrive once, whole, with its own bytes (and a READ with its
//! file's attributes, which gomodfs answers in the same node API call).
//! A READ's data is written after its packed reply, from the node API's
//! buffer, with its XDR padding: the files' lengths cover every remainder
//! modulo four, and an empty file. Calls cut into fragments and across
//! the server's receives are answered whole.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gomodfs_core::store::MemoryStore;
use gomodfs_core::{ModFs, ModFsOptions};
use gomodfs_nfs::MAX_TRANSFER;
use gomodfs_testkit::nfs::Client;
use gomodfs_testkit::nfs::rpc::{accepted_reply, answers_null, call_record, null_call, read_call};
use gomodfs_testkit::seed::put;
use nfs3_client::nfs3_types::nfs3::{self, Nfs3Result, READ3res, nfs_fh3, post_op_attr};
use nfs3_client::nfs3_types::xdr_codec::{Opaque, Unpack};
use std::collections::HashMap;
use std::io::{Cursor, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// `len` bytes that differ from file to file (`seed`) and along the file.
fn contents(seed: u32, len: u32) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 7 + seed * 13) % 251) as u8)
        .collect()
}

/// What a call expects back.
enum Want {
    Null,
    Getattr,
    /// The slice's bytes and the file's size.
    Read(Vec<u8>, u64),
}

/// Reads one reply record: its xid and the body after the RPC header.
/// Every reply is one last fragment, accepted with SUCCESS.
fn reply(stream: &mut TcpStream) -> (u32, Vec<u8>) {
    accepted_reply(stream).expect("one whole, accepted reply record")
}

#[test]
fn pipelined_replies_arrive_whole_and_in_their_own_records() {
    let store = Arc::new(MemoryStore::new());
    let mut files = vec![];
    for i in 0..8u32 {
        files.push((format!("f{i}.txt"), contents(i, 100 + i * 37)));
    }
    files.push(("big.bin".to_owned(), contents(99, 3 * MAX_TRANSFER + 12345)));
    files.push(("empty.txt".to_owned(), vec![]));
    let named: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    put(store.as_ref(), "example.com/pipe", "v1.0.0", &named).unwrap();
    let fs = Arc::new(ModFs::new(store, None, ModFsOptions::default()).unwrap());
    let server = gomodfs_nfs::serve(fs, "127.0.0.1:0").unwrap();
    let port = server.local_addr().port();

    let mut c = Client::connect(port, "/");
    let handles: Vec<nfs_fh3> = files
        .iter()
        .map(|(name, _)| {
            c.walk(&format!("example.com/pipe@v1.0.0/{name}"))
                .unwrap()
                .0
        })
        .collect();

    // Calls: every small file, every 1 MiB slice of the big one, NULLs and
    // GETATTRs in between, three times over.
    let (mut calls, mut wants) = (Vec::new(), HashMap::new());
    let mut xid = 1000u32;
    for _ in 0..3 {
        for (fh, (_, data)) in handles.iter().zip(&files) {
            let mut offset = 0usize;
            loop {
                xid += 1;
                calls.extend(read_call(xid, fh, offset as u64, MAX_TRANSFER));
                let end = (offset + MAX_TRANSFER as usize).min(data.len());
                wants.insert(
                    xid,
                    Want::Read(data[offset..end].to_vec(), data.len() as u64),
                );
                offset = end;
                xid += 1;
                calls.extend(null_call(xid));
                wants.insert(xid, Want::Null);
                xid += 1;
                let args = nfs3::GETATTR3args { object: fh.clone() };
                calls.extend(call_record(xid, nfs3::PROGRAM, nfs3::VERSION, 1, &args));
                wants.insert(xid, Want::Getattr);
                if offset == data.len() {
                    break;
                }
            }
        }
    }

    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    // All calls first: the replies pile up in the server until read.
    stream.write_all(&calls).unwrap();
    let total = wants.len();
    for _ in 0..total {
        let (xid, body) = reply(&mut stream);
        let want = wants
            .remove(&xid)
            .unwrap_or_else(|| panic!("reply {xid} twice or unasked"));
        match want {
            Want::Null => assert!(body.is_empty(), "NULL {xid} carries {} bytes", body.len()),
            Want::Getattr => assert_eq!(body.len(), 4 + 84, "GETATTR {xid}: status and fattr3"),
            Want::Read(data, size) => {
                let mut cursor = Cursor::new(&body[..]);
                let (res, _) = READ3res::unpack(&mut cursor).expect("a READ reply");
                match res {
                    Nfs3Result::Ok(ok) => {
                        assert_eq!(ok.data.len(), data.len(), "READ {xid}: length");
                        assert!(ok.data.as_ref() == &data[..], "READ {xid}: other bytes");
                        // The attributes come with the data (one node API
                        // call answers both).
                        match ok.file_attributes {
                            post_op_attr::Some(attr) => {
                                assert_eq!(attr.size, size, "READ {xid}: the file's size")
                            }
                            post_op_attr::None => panic!("READ {xid} without attributes"),
                        }
                    }
                    Nfs3Result::Err((status, _)) => panic!("READ {xid}: {status:?}"),
                }
                assert_eq!(
                    cursor.position() as usize,
                    body.len(),
                    "READ {xid}: trailing bytes"
                );
            }
        }
    }
    assert!(wants.is_empty());
    server.stop();
}

/// LOOKUP answers the directory's and the object's attributes with the
/// handle (gomodfs in one node API call): both present and right, and a
/// missing name still carries the directory's.
#[test]
fn lookup_replies_carry_directory_and_object_attributes() {
    let store = Arc::new(MemoryStore::new());
    put(
        store.as_ref(),
        "example.com/look",
        "v1.0.0",
        &[("a.go", b"package a\n".to_vec())],
    )
    .unwrap();
    let fs = Arc::new(ModFs::new(store, None, ModFsOptions::default()).unwrap());
    let server = gomodfs_nfs::serve(fs.clone(), "127.0.0.1:0").unwrap();
    let mut c = Client::connect(server.local_addr().port(), "/");
    let (dir, dir_attr) = c.walk("example.com/look@v1.0.0").unwrap();
    let lookup = |c: &mut Client, name: &str| {
        let args = nfs3::LOOKUP3args {
            what: nfs3::diropargs3 {
                dir: dir.clone(),
                name: nfs3::filename3(Opaque::owned(name.as_bytes().to_vec())),
            },
        };
        let (rt, nfs) = c.nfs();
        rt.block_on(nfs.lookup(&args)).expect("rpc")
    };
    match lookup(&mut c, "a.go") {
        Nfs3Result::Ok(ok) => {
            let want = fs.resolve("example.com/look@v1.0.0/a.go").unwrap();
            match (ok.obj_attributes, ok.dir_attributes) {
                (post_op_attr::Some(obj), post_op_attr::Some(d)) => {
                    assert_eq!(obj.size, want.size);
                    assert_eq!(obj.fileid, want.id.0);
                    assert_eq!(d.fileid, dir_attr.fileid);
                }
                other => panic!("LOOKUP without attributes: {other:?}"),
            }
            assert_eq!(c.getattr(&ok.object).unwrap().fileid, want.id.0);
        }
        Nfs3Result::Err((status, _)) => panic!("LOOKUP a.go: {status:?}"),
    }
    match lookup(&mut c, "missing.go") {
        Nfs3Result::Err((status, fail)) => {
            assert_eq!(status, nfs3::nfsstat3::NFS3ERR_NOENT);
            match fail.dir_attributes {
                post_op_attr::Some(d) => assert_eq!(d.fileid, dir_attr.fileid),
                post_op_attr::None => panic!("a failed LOOKUP without the directory's attributes"),
            }
        }
        Nfs3Result::Ok(_) => panic!("LOOKUP of a missing name succeeded"),
    }
    server.stop();
}

/// `record` (one call, marker included) re-cut into fragments of at most
/// `max` bytes, each with its own marker, the last one marked last.
fn in_fragments(record: &[u8], max: usize) -> Vec<u8> {
    let body = &record[4..];
    let pieces: Vec<&[u8]> = body.chunks(max).collect();
    let mut out = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let len = u32::try_from(piece.len()).unwrap();
        out.extend(gomodfs_testkit::nfs::rpc::marker(
            len,
            i + 1 == pieces.len(),
        ));
        out.extend_from_slice(piece);
    }
    out
}

/// Calls do not come as one record per receive: a call in several
/// fragments, a record marker split between two writes, a call cut
/// mid-body, and several calls in one write with the next one begun are
/// all answered whole, once each (the server parses records from what it
/// has received, whatever the receives' boundaries).
#[test]
fn calls_split_across_fragments_and_receives_are_answered_whole() {
    use gomodfs_testkit::nfs::rpc::{ReplyReader, read_result};
    let store = Arc::new(MemoryStore::new());
    let data = contents(5, 10_000);
    put(
        store.as_ref(),
        "example.com/cut",
        "v1.0.0",
        &[("f.bin", data.clone())],
    )
    .unwrap();
    let fs = Arc::new(ModFs::new(store, None, ModFsOptions::default()).unwrap());
    let server = gomodfs_nfs::serve(fs, "127.0.0.1:0").unwrap();
    let port = server.local_addr().port();
    let mut c = Client::connect(port, "/");
    let fh = c.walk("example.com/cut@v1.0.0/f.bin").unwrap().0;

    // (xid, offset) of each READ; then the bytes sent, write by write.
    let reads: Vec<(u32, u64)> = (1..=6)
        .map(|xid| (xid, u64::from(xid - 1) * 1000))
        .collect();
    let record = |xid: u32, offset: u64| read_call(xid, &fh, offset, 1500);
    let mut sends: Vec<Vec<u8>> = Vec::new();
    // 1: in fragments of 16 bytes, all in one write.
    sends.push(in_fragments(&record(1, 0), 16));
    // 2: in fragments of 40 bytes, its first marker split between writes.
    let two = in_fragments(&record(2, 1000), 40);
    sends.push(two[..2].to_vec());
    sends.push(two[2..].to_vec());
    // 3 whole, 4 whole, and the first half of 5 in one write; then the
    // rest of 5 with 6.
    let (five, mut six) = (record(5, 4000), record(6, 5000));
    let mut batch = record(3, 2000);
    batch.extend(record(4, 3000));
    batch.extend_from_slice(&five[..five.len() / 2]);
    sends.push(batch);
    let mut rest = five[five.len() / 2..].to_vec();
    rest.append(&mut six);
    sends.push(rest);

    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    for bytes in &sends {
        stream.write_all(bytes).unwrap();
        // Separate receives on the server's side.
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut replies = ReplyReader::new();
    let mut got: HashMap<u32, Vec<u8>> = HashMap::new();
    for _ in &reads {
        let (xid, result) = replies.accepted(&mut stream).expect("a READ reply");
        let (_, bytes) = read_result(result).expect("a successful READ");
        assert!(
            got.insert(xid, bytes.to_vec()).is_none(),
            "reply {xid} twice"
        );
    }
    for (xid, offset) in reads {
        let at = offset as usize;
        let want = &data[at..(at + 1500).min(data.len())];
        assert!(got[&xid] == want, "READ {xid} at {offset}: other bytes");
    }
    assert!(answers_null(&mut stream, 99), "the connection goes on");
    server.stop();
}
