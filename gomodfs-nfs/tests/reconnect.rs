//! A client that reconnects from the same address and port (as the Linux
//! NFS client does, on purpose, after a disconnect) and sends an xid that
//! its earlier connection used is answered on the new connection.
//!
//! nfs3_server's duplicate-request tracker kept completed xids for 60
//! seconds keyed by the client's address and port, and dropped a call
//! whose xid matched one of them without a reply: the reply of the
//! original went to a connection that is gone, so the client waited
//! forever (a kernel client until its next retransmission, 60 s later).
//! Found when a benchmark's reader hung on its first READ: its ephemeral
//! port had served a reader of an earlier run with the same xids.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gomodfs_core::store::MemoryStore;
use gomodfs_core::{ModFs, ModFsOptions};
use gomodfs_testkit::nfs::Client;
use gomodfs_testkit::nfs::rpc::{ReplyReader, read_call, read_result};
use gomodfs_testkit::seed::put;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// A connection to `port` from 127.0.0.1:`local` (0: any free port),
/// closed with a reset (no TIME_WAIT, so its port can connect again).
fn connect_from(port: u16, local: u16) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], local)))
            .unwrap();
        socket
            .connect(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .unwrap()
    });
    // A linger of zero only makes the close a reset; it never blocks.
    #[allow(deprecated)]
    stream.set_linger(Some(Duration::ZERO)).unwrap();
    let stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// Sends a READ of the whole of `fh` with `xid` and returns the data of
/// its reply, or the error (a timeout: no reply came).
fn read_once(
    stream: &mut TcpStream,
    xid: u32,
    fh: &nfs3_client::nfs3_types::nfs3::nfs_fh3,
) -> std::io::Result<Vec<u8>> {
    stream.write_all(&read_call(xid, fh, 0, 4096))?;
    let mut reader = ReplyReader::new();
    let (got, result) = reader.accepted(stream)?;
    assert_eq!(got, xid, "the reply carries the call's xid");
    Ok(read_result(result)?.1.to_vec())
}

#[test]
fn a_reconnected_client_reusing_an_xid_is_answered() {
    let store = Arc::new(MemoryStore::new());
    put(
        store.as_ref(),
        "example.com/again",
        "v1.0.0",
        &[("a.go", b"package again\n".to_vec())],
    )
    .unwrap();
    let fs = Arc::new(ModFs::new(store, None, ModFsOptions::default()).unwrap());
    let server = gomodfs_nfs::serve(fs, "127.0.0.1:0").unwrap();
    let port = server.local_addr().port();
    let (fh, _) = Client::connect(port, "/")
        .walk("example.com/again@v1.0.0/a.go")
        .unwrap();

    // The first connection: READs with xids 1 to 3, answered.
    let mut first = connect_from(port, 0);
    let local = first.local_addr().unwrap().port();
    for xid in 1..=3 {
        assert_eq!(read_once(&mut first, xid, &fh).unwrap(), b"package again\n");
    }
    drop(first);

    // The same address and port again, the same xids: each is answered.
    let mut second = connect_from(port, local);
    for xid in 1..=3 {
        let data = read_once(&mut second, xid, &fh).unwrap_or_else(|e| {
            panic!(
                "READ with xid {xid} from the reconnected 127.0.0.1:{local} got no \
                 reply ({e}): taken for a retransmission of the earlier connection's"
            )
        });
        assert_eq!(data, b"package again\n");
    }
}
